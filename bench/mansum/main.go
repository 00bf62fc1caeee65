// Command mansum sums a panoptes record stream for bench/loss.sh: flow records, the
// packets in them, and the counters of the last management record (packets seen, drops,
// parse errors, records written), read with the record package so that the loss
// benchmark does not depend on which columns `panoptes read` offers.
//
//	go run ./bench/mansum FILE
//
// prints one line: flows=N pkts=N man_records=N man_pktsseen=N man_drops=N
// man_parseerrors=N man_recordswritten=N man_evictions=N
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"panoptes/record"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mansum FILE")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mansum:", err)
		os.Exit(1)
	}
}

func run(name string, w io.Writer) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := record.NewReader(f, name)
	if err != nil {
		return err
	}
	var r record.Record
	var flows, pkts, mans uint64
	var last record.Management
	for {
		err := rd.Read(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch r.Kind {
		case record.KindFlow:
			flows++
			pkts += r.Pkts()
		case record.KindMan:
			mans++
			if r.Man != nil {
				last = *r.Man
			}
		}
	}
	_, err = fmt.Fprintf(w, "flows=%d pkts=%d man_records=%d man_pktsseen=%d man_drops=%d man_parseerrors=%d man_recordswritten=%d man_evictions=%d\n",
		flows, pkts, mans, last.PktsSeen, last.Drops, last.ParseErrors, last.RecordsWritten, last.Evictions)
	return err
}
