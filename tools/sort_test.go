package tools

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"panoptes/internal/cli"
	"panoptes/internal/goldentest"
	"panoptes/record"
	"panoptes/tools/cluster"
)

func runSort(args []string, stdin []byte) (string, string, error) {
	var out, errb bytes.Buffer
	err := SortMain(args, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func TestSortGolden(t *testing.T) {
	path := writeStream(t, clusterFixture())
	tests := []struct {
		name string
		args []string
	}{
		{"sort_default", []string{"-s", "stime,saddr,bytes"}},
		{"sort_bytes", []string{"-m", "bytes", "-s", "saddr,daddr,bytes"}},
		{"sort_proto_dport", []string{"-m", "proto dport", "-s", "proto,saddr,dport,pkts"}},
		{"sort_saddr_pkts", []string{"-m", "saddr,pkts", "-s", "saddr,pkts"}},
		{"sort_daddr24_bytes", []string{"-m", "daddr/24", "-m", "bytes", "-s", "daddr,bytes", "--", "ipv4"}},
		{"sort_dur_count", []string{"-m", "dur", "-N", "3", "-s", "dur,saddr"}},
		{"sort_csv_filter", []string{"-m", "pkts", "-c", ",", "-s", "saddr,pkts", "--", "tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runSort(append([]string{"-r", path}, tt.args...), nil)
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, stderr)
			}
			goldentest.Check(t, "testdata/"+tt.name+".golden", out)
		})
	}
}

// TestSortOrderAndStability checks the order property on many records: each adjacent
// pair is in order by the keys, and records with equal keys keep their input order.
func TestSortOrderAndStability(t *testing.T) {
	recs := benchRecords(2000, 40)
	for i := range recs {
		recs[i].Seq = uint32(i) // input order, printed to check stability
		recs[i].Src.Pkts = uint64(i % 7)
	}
	path := writeStream(t, recs)
	out, _, err := runSort([]string{"-r", path, "-m", "spkts,saddr", "-c", ",", "-L", "-1", "-s", "spkts,saddr,seq"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("%d lines for %d records", len(lines), len(recs))
	}
	var pp, ps, pq uint64
	var pa string
	for i, l := range lines {
		var p, q uint64
		var a string
		f := strings.Split(l, ",")
		if _, err := fmtSscanf(f[0]+" "+f[2], "%d %d", &p, &q); err != nil {
			t.Fatal(err)
		}
		a = f[1]
		if i > 0 {
			switch {
			case p > pp: // spkts sorts descending
				t.Fatalf("line %d: spkts %d after %d", i, p, pp)
			case p == pp && addrLess(a, pa):
				t.Fatalf("line %d: saddr %s after %s", i, a, pa)
			case p == pp && a == pa && q < pq:
				t.Fatalf("line %d: not stable (seq %d after %d)", i, q, pq)
			}
		}
		pp, pa, pq = p, a, q
		_ = ps
	}
}

func addrLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range pa {
		var x, y int
		fmtSscanf(pa[i]+" "+pb[i], "%d %d", &x, &y)
		if x != y {
			return x < y
		}
	}
	return false
}

func TestSortErrors(t *testing.T) {
	path := writeStream(t, fixture())
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-m", "nosuch"}, `unknown field "nosuch" in -m`},
		{[]string{"-m", "bytes/8"}, "only addresses take a /length"},
		{[]string{"--max-records", "0"}, "--max-records 0"},
		{[]string{"--", "tcp and"}, "unexpected end of expression"},
	} {
		_, _, err := runSort(append([]string{"-r", path}, tt.args...), nil)
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%v: %v, want a usage error containing %q", tt.args, err, tt.msg)
		}
	}
	_, _, err := runSort([]string{"-r", path, "--max-records", "2"}, nil)
	if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "raise --max-records") {
		t.Errorf("--max-records 2: %v", err)
	}
	if _, _, err := runSort([]string{"-r", path, "--", "host", "192.0.2.9"}, nil); !errors.Is(err, cli.ErrNoMatch) {
		t.Errorf("no match: %v", err)
	}
	// Management records are dropped, as rasort drops them.
	if _, _, err := runSort([]string{"-r", path, "--", "man"}, nil); !errors.Is(err, cli.ErrNoMatch) {
		t.Errorf("man: %v", err)
	}
}

func TestSortStdinAndWrite(t *testing.T) {
	path := writeStream(t, fixture())
	var data bytes.Buffer
	if _, _, err := runSort([]string{"-r", path, "-m", "bytes", "-w", "-"}, nil); err != nil {
		t.Fatal(err)
	}
	out, _, err := runSort([]string{"-r", path, "-m", "bytes", "-w", "-"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data.WriteString(out)
	got, _, err := runRead([]string{"-r", "-", "-s", "bytes", "-L", "-1", "-c", ","}, data.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, r := range fixture() {
		if r.Kind == record.KindFlow {
			want++
		}
	}
	lines := strings.Fields(got)
	if len(lines) != want {
		t.Fatalf("%d records through -w - and read -r -, want %d", len(lines), want)
	}
}

// BenchmarkSort measures sorting records in memory by one and two keys.
func BenchmarkSort(b *testing.B) {
	recs := benchRecords(100_000, 50_000)
	for _, keys := range [][]string{{"bytes"}, {"saddr", "dport"}} {
		ks, err := parseSortKeys(keys, "-m")
		if err != nil {
			b.Fatal(err)
		}
		s := &sorter{keys: ks}
		b.Run(strings.Join(keys, "_"), func(b *testing.B) {
			b.ReportAllocs()
			order := make([]int32, len(recs))
			for b.Loop() {
				for i := range order {
					order[i] = int32(i)
				}
				slices.SortStableFunc(order, func(i, j int32) int { return s.compare(&recs[i], &recs[j]) })
			}
		})
	}
}

// FuzzKeySpecs: the -m / --sort key parsers (sort and cluster) never panic, accept
// only registry names with a sane prefix length, and what they accept works on a record.
func FuzzKeySpecs(f *testing.F) {
	for _, s := range []string{"bytes", "saddr/24", "daddr/64,dport", "proto dport", "saddr/", "sport/8", "x", "saddr/129", ",,", "stime ltime dur"} {
		f.Add(s)
	}
	recs := clusterFixture()
	f.Fuzz(func(t *testing.T, spec string) {
		keys, err := parseSortKeys([]string{spec}, "-m")
		if err == nil {
			s := &sorter{keys: keys}
			for i := range recs {
				s.compare(&recs[i], &recs[(i+1)%len(recs)])
			}
			for _, k := range keys {
				if k.bits > 128 || k.bits < -1 {
					t.Fatalf("%q: prefix length %d", spec, k.bits)
				}
			}
		}
		cl, err := cluster.New(strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' }), true)
		if err == nil {
			for i := range recs {
				cl.Add(&recs[i])
			}
		}
	})
}
