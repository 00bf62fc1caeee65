// Command bigarchive builds the large archive of bench/bigarchive.sh (issue #14): COPIES
// copies of a record stream (one import of the shared trace), each shifted in time so that
// the copies spread over DAYS days, with its IPv4 and IPv6 addresses rewritten by a
// per-copy mask so that the copies share no address, and with source id 1+copy%SRCIDS.
//
//	go run ./bench/bigarchive -in base.pnp -copies 182 -days 90 -w ARCHIVE/ [-stream big.pnp]
//
// -stream also writes the same records to a stream file (for the IPFIX export that feeds
// nfcapd, so that nfdump queries the same flows). -rare ADDR prints, per copy, the address
// ADDR of the base becomes in that copy, so that a query for one copy's rewritten address
// selects that one copy's records of ADDR. Progress goes to stderr every 10 copies.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"panoptes/index"
	"panoptes/record"
)

func main() {
	in := flag.String("in", "", "the base record stream")
	copies := flag.Int("copies", 182, "copies of the base")
	days := flag.Int("days", 90, "days the copies spread over")
	srcids := flag.Int("srcids", 3, "source ids, used in turn")
	out := flag.String("w", "", "the archive directory (ending in /)")
	stream := flag.String("stream", "", "also write the records to this stream file")
	rare := flag.String("rare", "", "print what this base address becomes in each copy")
	flag.Parse()
	if *in == "" || *out == "" || *copies < 1 || *copies > 65535 || *srcids < 1 {
		fmt.Fprintln(os.Stderr, "usage: bigarchive -in base.pnp -w ARCHIVE/ [-copies N] [-days D] [-srcids S] [-stream F] [-rare ADDR]")
		os.Exit(2)
	}
	if err := run(*in, *out, *stream, *rare, *copies, *days, *srcids); err != nil {
		fmt.Fprintln(os.Stderr, "bigarchive:", err)
		os.Exit(1)
	}
}

// rewrite makes a base address copy c's: the second and third bytes of an IPv4 address,
// the fifth and sixth of an IPv6 one, XORed with c, so that copies share no address and
// the prefix structure (nets) of a copy stays that of the base.
func rewrite(a *[16]byte, family uint8, c int) {
	switch family {
	case 4:
		a[1] ^= byte(c)
		a[2] ^= byte(c >> 8)
	case 6:
		a[4] ^= byte(c)
		a[5] ^= byte(c >> 8)
	}
}

func run(in, out, stream, rare string, copies, days, srcids int) error {
	base, err := load(in)
	if err != nil {
		return err
	}
	if rare != "" {
		a, err := netip.ParseAddr(rare)
		if err != nil {
			return err
		}
		fam, b := uint8(6), a.As16()
		if a.Is4() {
			fam = 4
			var v4 [16]byte
			copy(v4[:], a.AsSlice())
			b = v4
		}
		for c := 0; c < copies; c++ {
			x := b
			rewrite(&x, fam, c)
			r := record.Record{Family: fam, SrcAddr: x}
			fmt.Printf("copy %d: %s\n", c, r.Addr(true))
		}
	}
	sink, err := index.OpenOutput(out, os.Stdout, index.OutputOptions{}, func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, f+"\n", a...)
	})
	if err != nil {
		return err
	}
	var sw *record.Writer
	if stream != "" {
		f, err := os.OpenFile(stream, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if sw, err = record.NewWriter(f); err != nil {
			return err
		}
	}
	step := int64(days) * 86400e9 / int64(copies)
	t0 := time.Now()
	var n uint64
	for c := 0; c < copies; c++ {
		shift := int64(c) * step
		for i := range base {
			r := base[i]
			r.StartTime += shift
			r.LastTime += shift
			r.SrcID = uint32(1 + c%srcids)
			rewrite(&r.SrcAddr, r.Family, c)
			rewrite(&r.DstAddr, r.Family, c)
			if err := sink.Write(&r); err != nil {
				return err
			}
			if sw != nil {
				if err := sw.Write(&r); err != nil {
					return err
				}
			}
			n++
		}
		if (c+1)%10 == 0 || c+1 == copies {
			el := time.Since(t0).Seconds()
			fmt.Fprintf(os.Stderr, "bigarchive: %d/%d copies, %d records, %.0f records/s\n", c+1, copies, n, float64(n)/el)
		}
	}
	if sw != nil {
		if err := sw.Close(); err != nil {
			return err
		}
	}
	return sink.Close()
}

// load reads every record of the base stream; management records are kept, shifted with
// the rest, so that each copy looks like one more import.
func load(name string) ([]record.Record, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := record.NewReader(f, name)
	if err != nil {
		return nil, err
	}
	var out []record.Record
	for {
		var r record.Record
		err := rd.Read(&r)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
}
