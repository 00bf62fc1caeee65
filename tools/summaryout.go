package tools

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"panoptes/internal/cli"
)

// The summaries count, ports and hosts print are not records, so -s, -L and the record
// printer do not apply; what a user scripting them expects of --json (nfdump's -o json,
// read --json) is one JSON object per line, and of -c (ra's) the same columns separated
// by SEP. count's rows are columns and take both. ports and hosts print a list per line
// (ports of a host, peers of a host): they take --json, and refuse -c with one line
// rather than inventing a column layout for a list.

// countColumns are racount's column names; -c and --json name the values by them.
var countColumns = []string{"records", "total_pkts", "src_pkts", "dst_pkts", "total_bytes", "src_bytes", "dst_bytes"}

func (c *counts) values() []uint64 {
	return []uint64{c.recs, c.spkts + c.dpkts, c.spkts, c.dpkts, c.sbytes + c.dbytes, c.sbytes, c.dbytes}
}

// writeCountRows prints count's summary with -c or --json: the total, then with -M
// proto a row per protocol, with -M addr a row per address type (tally and addrs nil
// without them). A row says which summary it belongs to: "total", "proto" or "addr".
//
//	-c ,   summary,proto,records,total_pkts,...      --json  {"summary":"total","records":20,...}
//	       total,,20,73,...                                  {"summary":"proto","proto":"tcp",...}
//	       proto,tcp,6,44,...                                {"summary":"addr","type":"IPv4 Unicast","src":0,"dst":1}
//	       summary,type,src,dst
//	       addr,IPv4 Unicast,0,1
func writeCountRows(stdout io.Writer, o Output, total *counts, tally *protoTally, addrs *addrTally) error {
	w := bufio.NewWriter(stdout)
	row := func(kind, proto string, c *counts) {
		if o.JSON {
			b := append([]byte(`{"summary":`), jsonString(kind)...)
			if kind == "proto" {
				b = append(append(b, `,"proto":`...), jsonString(proto)...)
			}
			for i, v := range c.values() {
				b = strconv.AppendUint(append(append(append(b, ',', '"'), countColumns[i]...), '"', ':'), v, 10)
			}
			w.Write(append(b, "}\n"...))
			return
		}
		cols := []string{kind, proto}
		for _, v := range c.values() {
			cols = append(cols, strconv.FormatUint(v, 10))
		}
		w.WriteString(strings.Join(cols, o.Delim) + "\n")
	}
	if !o.JSON {
		w.WriteString(strings.Join(append([]string{"summary", "proto"}, countColumns...), o.Delim) + "\n")
	}
	row("total", "", total)
	if tally != nil {
		tally.each(func(name string, c *counts) { row("proto", name, c) })
	}
	if addrs != nil {
		if !o.JSON {
			w.WriteString(strings.Join([]string{"summary", "type", "src", "dst"}, o.Delim) + "\n")
		}
		addrs.each(func(label string, src, dst uint64) {
			if o.JSON {
				b := append([]byte(`{"summary":"addr","type":`), jsonString(label)...)
				b = strconv.AppendUint(append(b, `,"src":`...), src, 10)
				b = strconv.AppendUint(append(b, `,"dst":`...), dst, 10)
				w.Write(append(b, "}\n"...))
				return
			}
			w.WriteString(strings.Join([]string{"addr", label, strconv.FormatUint(src, 10), strconv.FormatUint(dst, 10)}, o.Delim) + "\n")
		})
	}
	return w.Flush()
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// refuseDelim is the one line ports and hosts give for -c.
func refuseDelim(tool, what string) error {
	return cli.Usagef("-c: %s prints a list of %s per line, not columns; use --json (one JSON object per line)", tool, what)
}
