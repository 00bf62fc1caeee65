package tools

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"panoptes/filter"
	"panoptes/record"
	"panoptes/sqlrepo"
)

// checkPushdown checks, for each filter, that the records a read of url with the
// filter's key terms pushed into the WHERE selects are those the filter selects from
// all the table's records, that `read -r url -- FILTER` prints as many, and that the
// pushdown cut the rows read for some filter.
func checkPushdown(t *testing.T, url string, exprs []string) {
	t.Helper()
	tg, err := sqlrepo.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	key := func(r *record.Record) string {
		return fmt.Sprintf("%d %d %v %d %v %d", r.StartTime, r.Proto, r.Addr(true), r.SrcPort, r.Addr(false), r.DstPort)
	}
	var all []record.Record
	if _, err := sqlrepo.ScanQuery(context.Background(), tg, sqlrepo.Query{}, func(r *record.Record) bool {
		all = append(all, *r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	cut := false
	for _, e := range exprs {
		flt := filter.MustCompile(e)
		var want, got []string
		for i := range all {
			if flt.Match(&all[i]) {
				want = append(want, key(&all[i]))
			}
		}
		rows := 0
		if _, err := sqlrepo.ScanQuery(context.Background(), tg, sqlrepo.Query{Filter: flt}, func(r *record.Record) bool {
			rows++
			if flt.Match(r) {
				got = append(got, key(r))
			}
			return true
		}); err != nil {
			t.Fatalf("%q: %v", e, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s -- %s: %d records with the WHERE pushed, %d without", url, e, len(got), len(want))
		}
		if rows < len(all) {
			cut = true
		}
		var out, errb strings.Builder
		err := ReadMain([]string{"-r", url, "-n", "-L", "-1", "-c", ",", "--", e}, nil, &out, &errb)
		if n := strings.Count(out.String(), "\n"); (err != nil && len(want) > 0) || n != len(want) {
			t.Errorf("read -r %s -- %s: %d lines (%v), want %d", url, e, n, err, len(want))
		}
	}
	if !cut {
		t.Errorf("%s: no filter cut the rows read: nothing was pushed", url)
	}
}

var pushdownExprs = []string{"host 192.168.2.4", "src host 192.168.2.4", "dst host 31.13.84.48",
	"net 31.13.0.0/16", "dst net 17.0.0.0/8 and tcp", "udp", "tcp and dst port 443", "src port 443",
	"port 5223 or port 3478", "not port 443", "dst port 1-1024", "icmp or host 8.8.8.8",
	"src net 192.168.0.0/16 and pkts gt 10", "(udp or dst port 5223) and not host 192.168.2.4"}

// checkSQLClause: -M sql='clause' is ANDed to the WHERE as rasql does (with a -t range
// and a filter, an OR in the clause does not widen them), on MySQL's text columns and
// PostgreSQL's typed ones; -M time 1d is taken as rasql takes it; -M sql= without a
// database input, and unknown -M words, are refused.
func checkSQLClause(t *testing.T, far, in, my, pg string) {
	t.Helper()
	const rng = "2015/05/25.19:30:30-2015/05/25.19:31:30"
	base := []string{"-n", "-L", "-1", "-c", ",", "-s", "stime,ltime,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes"}
	cases := []struct {
		src, clause, ref, refFilter string
	}{
		{my, "proto='udp' or proto='icmp'", far, "udp or icmp"},
		{my, "saddr LIKE '31.13.%' or daddr LIKE '31.13.%'", far, "net 31.13.0.0/16"},
		{pg, "dport = 443 or sport = 443", in, "(ip or ipv6) and port 443"},
		{pg, "proto = 17", in, "(ip or ipv6) and udp"},
	}
	for _, c := range cases {
		for _, flt := range []string{"", "pkts gt 2"} {
			ref := "not man and (" + c.refFilter + ")"
			a := append(append([]string{"-r", c.src}, base...), "-t", rng, "-M", "time", "1d", "-M", "sql="+c.clause)
			if flt != "" {
				ref += " and " + flt
				a = append(a, "--", flt)
			}
			want := readLines(t, append(append(append([]string{"-r", c.ref}, base...), "-t", rng, "--"), ref)...)
			if len(want) == 0 || want[0] == "" {
				t.Fatalf("%s: no records: the test tests nothing", ref)
			}
			got := readLines(t, a...)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("-r %s -M sql=%q -- %s: %d lines, want %d; first difference: %s", c.src, c.clause, flt, len(got), len(want), firstDiff(got, want))
			}
		}
	}
	var out strings.Builder
	for _, a := range [][]string{{"-r", far, "-M", "sql=proto='udp'"}, {"-r", my, "-t", rng, "-M", "bogus"}} {
		err := ReadMain(a, nil, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "-M") {
			t.Errorf("read %q: %v, want a refusal", a, err)
		}
	}
}

// checkToolsPushdown: the tools that aggregate push their filter's key terms into the
// WHERE too (keyFilter); their output over the table is their output over the file.
func checkToolsPushdown(t *testing.T, far, url string) {
	t.Helper()
	const flt = "host 192.168.2.4 and (udp or dst port 443)"
	tools := []struct {
		name string
		main func([]string, io.Reader, io.Writer, io.Writer) error
		args []string
	}{
		{"cluster", ClusterMain, []string{"-m", "saddr", "daddr", "-s", "saddr,daddr,pkts,bytes", "-c", ","}},
		{"count", CountMain, []string{"-M", "proto"}},
		{"sort", SortMain, []string{"-m", "stime", "-u", "-c", ",", "-s", "stime,saddr,sport,daddr,dport,pkts"}},
	}
	for _, tl := range tools {
		var want, got, e strings.Builder
		if err := tl.main(append(append([]string{"-r", far}, tl.args...), "--", flt), nil, &want, &e); err != nil {
			t.Fatalf("%s -r %s: %v %s", tl.name, far, err, e.String())
		}
		if err := tl.main(append(append([]string{"-r", url}, tl.args...), "--", flt), nil, &got, &e); err != nil {
			t.Fatalf("%s -r %s: %v %s", tl.name, url, err, e.String())
		}
		// Sorted: cluster prints its flows in the order it met them, and a table gives
		// them in start-time order, the file in its own.
		sorted := func(s string) string {
			l := strings.Split(s, "\n")
			slices.Sort(l)
			return strings.Join(l, "\n")
		}
		if sorted(got.String()) != sorted(want.String()) || strings.Count(want.String(), "\n") < 2 {
			t.Errorf("%s -r %s -- %s:\n%s\nwant (from the file):\n%s", tl.name, url, flt, got.String(), want.String())
		}
	}
}
