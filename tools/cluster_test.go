package tools

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"panoptes/internal/cli"
	"panoptes/internal/goldentest"
	"panoptes/record"
	"panoptes/tools/cluster"
)

// clusterFixture adds to the fixture records that exercise address masks and RMON:
// several hosts of two /24s and an IPv6 /64.
func clusterFixture() []record.Record {
	recs := fixture()
	for i, h := range []string{"10.0.1.5", "10.0.1.6", "10.0.2.7"} {
		r := mkflow(h, uint16(50000+i), "10.0.0.53", 53, 17, at(int64(300+i)), at(int64(301+i)))
		r.Src = record.Side{Pkts: uint64(1 + i), Bytes: uint64(100 * (1 + i)), TTL: 64}
		r.Dst = record.Side{Pkts: 1, Bytes: 150, TTL: 64}
		recs = append(recs, r)
	}
	v6 := mkflow("2001:db8::99", 51001, "2001:db8:1::2", 443, 6, at(400), at(450))
	v6.TCPState = record.TCPSawSyn
	v6.Src = record.Side{Pkts: 1, Bytes: 86, TTL: 64}
	return append(recs, v6)
}

func TestClusterGolden(t *testing.T) {
	path := writeStream(t, clusterFixture())
	tests := []struct {
		name string
		args []string
	}{
		{"cluster_saddr24", []string{"-m", "saddr/24", "-s", "saddr,trans,pkts,bytes"}},
		{"cluster_saddr16_daddr", []string{"-m", "saddr/16,daddr", "-s", "saddr,daddr,proto,trans,pkts"}},
		{"cluster_saddr64", []string{"-m", "saddr/64", "-s", "saddr:30,trans,pkts", "--", "ipv6"}},
		{"cluster_rmon", []string{"-M", "rmon", "-m", "saddr", "-s", "saddr,trans,pkts,spkts,dpkts,bytes,sbytes,dbytes"}},
		{"cluster_rmon_json", []string{"-M", "rmon", "-m", "saddr", "--json", "-s", "saddr,spkts,dpkts"}},
		{"cluster_top", []string{"-m", "saddr", "--top", "3", "-s", "saddr,trans,pkts,bytes"}},
		{"cluster_top_pkts", []string{"-m", "saddr", "--top", "2", "--sort", "pkts", "-s", "saddr,pkts,bytes"}},
		{"cluster_sort_saddr", []string{"-m", "saddr", "--sort", "saddr", "-s", "saddr,trans,pkts"}},
		{"cluster_dport_filter", []string{"-m", "dport", "-s", "proto,dport,trans,pkts", "--", "udp", "and", "dst", "port", "53"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runCluster(append([]string{"-r", path}, tt.args...), nil)
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, stderr)
			}
			goldentest.Check(t, "testdata/"+tt.name+".golden", out)
		})
	}
}

// TestClusterRMONTotals: in RMON mode every record counts for both ends, so the sum of
// OutPkts over all hosts equals the sum of InPkts, and both equal the packets read.
func TestClusterRMONTotals(t *testing.T) {
	recs := clusterFixture()
	path := writeStream(t, recs)
	out, _, err := runCluster([]string{"-r", path, "-M", "rmon", "-m", "saddr", "-c", ",", "-L", "-1", "-s", "spkts,dpkts,trans"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sent, recv, trans, want, flows uint64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var s, r, n uint64
		if _, err := fmtSscanf(line, "%d,%d,%d", &s, &r, &n); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		sent, recv, trans = sent+s, recv+r, trans+n
	}
	for _, r := range recs {
		if r.Kind == record.KindFlow {
			want += r.Pkts()
			flows++
		}
	}
	if sent != want || recv != want || trans != 2*flows {
		t.Errorf("rmon: out %d in %d trans %d; want %d, %d, %d", sent, recv, trans, want, want, 2*flows)
	}
}

func TestClusterErrors(t *testing.T) {
	path := writeStream(t, fixture())
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"-m", "sport/8"}, "only saddr and daddr take a /length"},
		{[]string{"-m", "saddr/129"}, "bad prefix length"},
		{[]string{"-m", "saddr/x"}, "bad prefix length"},
		{[]string{"-M", "bogus"}, `unsupported -M mode "bogus"`},
		{[]string{"--top", "-1"}, "--top -1"},
		{[]string{"--top", "2", "--sort", "nosuch"}, `unknown field "nosuch" in --sort`},
		{[]string{"--max-keys", "0"}, "--max-keys 0"},
	}
	for _, tt := range tests {
		_, _, err := runCluster(append([]string{"-r", path}, tt.args...), nil)
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%v: error %v, want a usage error containing %q", tt.args, err, tt.msg)
		}
	}
	// The memory bound: a clear error, exit status 2, nothing printed.
	out, _, err := runCluster([]string{"-r", path, "-m", "saddr,daddr", "--max-keys", "3"}, nil)
	if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "raise --max-keys") || out != "" {
		t.Errorf("--max-keys 3: %v, output %q", err, out)
	}
	if _, _, err := runCluster([]string{"-r", path, "--", "host", "192.0.2.1"}, nil); !errors.Is(err, cli.ErrNoMatch) {
		t.Errorf("no match: %v, want ErrNoMatch", err)
	}
}

// TestClusterAddAllocs: a record that joins an existing cluster allocates nothing.
func TestClusterAddAllocs(t *testing.T) {
	recs := benchRecords(1000, 10)
	for _, keys := range [][]string{cluster.DefaultKeys, {"saddr/24", "daddr"}, {"proto", "dport"}} {
		cl, err := cluster.New(keys, len(keys) == len(cluster.DefaultKeys))
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			cl.Add(&recs[i])
		}
		if n := testing.AllocsPerRun(10, func() {
			for i := range recs {
				cl.Add(&recs[i])
			}
		}); n != 0 {
			t.Errorf("%v: adding to existing clusters allocates %v times per pass", keys, n)
		}
	}
}

var fmtSscanf = func(s, format string, args ...any) (int, error) {
	return fmtSscan(bytes.NewBufferString(s), format, args...)
}

func fmtSscan(b *bytes.Buffer, format string, args ...any) (int, error) {
	return fmt.Fscanf(b, format, args...)
}

// BenchmarkClusterAdd measures the per-record cost of cluster's new key kinds: an
// address mask, and RMON mode (each record added twice, once reversed).
func BenchmarkClusterAdd(b *testing.B) {
	const n = 100_000
	recs := benchRecords(n, 50_000)
	for _, bc := range []struct {
		name string
		keys []string
		rmon bool
	}{
		{"saddr", []string{"saddr"}, false},
		{"saddr24", []string{"saddr/24"}, false},
		{"saddr_daddr", []string{"saddr", "daddr"}, false},
		{"rmon_saddr", []string{"saddr"}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var rev record.Record
			for b.Loop() {
				cl, err := cluster.New(bc.keys, false)
				if err != nil {
					b.Fatal(err)
				}
				for i := range recs {
					cl.Add(&recs[i])
					if bc.rmon {
						rev = recs[i]
						rev.Reverse()
						cl.Add(&rev)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}

// BenchmarkFilterOverRecords measures filter matching over realistic flow records, the
// per-record work read and cluster do before anything else.
func BenchmarkFilterOverRecords(b *testing.B) {
	recs := benchRecords(4096, 1000)
	for _, expr := range []string{"tcp", "tcp and dst port 443 and src pkts gt 5", "net 10.1.0.0/16 or host 192.0.2.80", "not (udp or icmp) and est"} {
		f, err := compileFilter([]string{expr})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.Match(&recs[i&4095])
			}
		})
	}
}
