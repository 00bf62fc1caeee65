package tools

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"panoptes/internal/cli"
	"panoptes/internal/goldentest"
	"panoptes/record"
	"panoptes/tools/top"
)

// topCaptures is a record stream imported from the captures in ../testdata (see
// testdata/README.md): `panoptes import -r dns.pcap -r get.pcap -r http_ipv6.pcap
// -r icmp.pcap -r q-in-q.pcap -r linuxsll-arp.pcap`.
const topCaptures = "testdata/top_captures.pnp"

func runTop(t *testing.T, args []string, stdin []byte) (string, string, error) {
	t.Helper()
	// A fixed clock: the header's clock and reading rate do not vary between runs.
	old := topClock
	topClock = func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	defer func() { topClock = old }()
	var out, errb bytes.Buffer
	err := TopMain(args, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// TestTopBatchGolden runs top in batch mode (stdout is not a terminal) over the
// capture stream: one table at the end of input, as the screen shows it but with exact
// numbers.
func TestTopBatchGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"top_flows", []string{"-r", topCaptures}},
		{"top_hosts_pkts", []string{"-r", topCaptures, "-m", "saddr", "--sort", "pkts", "-N", "5"}},
		{"top_daddr_dport_rate", []string{"--batch", "-r", topCaptures, "-m", "daddr,dport", "--sort", "rate"}},
		{"top_proto_view_filter", []string{"-r", topCaptures, "-m", "proto", "--sort", "trans", "--", "not", "arp"}},
		{"top_window", []string{"-r", topCaptures, "--window", "10s", "--sort", "load", "-n"}},
		{"top_flows_maxkeys", []string{"-r", topCaptures, "--max-keys", "4", "--view", "flows", "-N", "4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runTop(t, append([]string{"--interval", "1h"}, tt.args...), nil)
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, stderr)
			}
			if stderr != "" {
				t.Errorf("unexpected stderr %q", stderr)
			}
			goldentest.Check(t, "testdata/"+tt.name+".golden", out)
		})
	}
}

// TestTopBatchStdin reads records from stdin, which cannot be rewound.
func TestTopBatchStdin(t *testing.T) {
	data, err := os.ReadFile(topCaptures)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runTop(t, []string{"-r", "-", "--interval", "0", "--batch", "-N", "1", "--", "udp"}, data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "panoptes top  stdin  flows by bytes") || !strings.Contains(out, "filter: udp") ||
		!strings.Contains(out, "2a00:d40:1:3:7aac:c0ff:fea7:d4c") {
		t.Errorf("output:\n%s", out)
	}
}

func TestTopExitStatus(t *testing.T) {
	fixture := writeStream(t, fixture())
	tests := []struct {
		args []string
		want int
		msg  string // in the error
	}{
		{[]string{"-r", fixture}, cli.ExitOK, ""},
		{[]string{"-r", fixture, "--", "port", "9999"}, cli.ExitNoMatch, ""},
		{[]string{"-r", fixture, "--sort", "bogus"}, cli.ExitUsage, `unknown sort key "bogus"`},
		{[]string{"-r", fixture, "--window", "-1s"}, cli.ExitUsage, "--window"},
		{[]string{"-r", fixture, "--window", "1ns"}, cli.ExitUsage, "too short"},
		{[]string{"-r", fixture, "--interval", "-1s"}, cli.ExitUsage, "--interval"},
		{[]string{"-r", fixture, "--max-keys", "0"}, cli.ExitUsage, "--max-keys"},
		{[]string{"-r", fixture, "--view", "nets"}, cli.ExitUsage, `--view "nets"`},
		{[]string{"-r", fixture, "-m", "nosuch"}, cli.ExitUsage, `unknown field "nosuch"`},
		{[]string{"-r", fixture, "-N", "-3"}, cli.ExitUsage, "-N -3"},
		{[]string{"-r", fixture, "-w", "/tmp/x"}, cli.ExitUsage, "--write is not supported"},
		{[]string{"-r", fixture, "--json"}, cli.ExitUsage, "--json is not supported"},
		{[]string{"-r", fixture, "--bogus"}, cli.ExitUsage, "bogus"},
		{[]string{"-r", fixture, "--", "tcp", "and"}, cli.ExitUsage, "expected"},
		{[]string{"-r", fixture, "-t", "2026/13/01"}, cli.ExitUsage, ""},
		{[]string{}, cli.ExitUsage, "no input"},
		{[]string{"-r", "/nonexistent/top.pnp"}, cli.ExitUsage, "/nonexistent/top.pnp"},
		{[]string{"-r", "top.go"}, cli.ExitUsage, "top.go"}, // not a record stream
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runTop(t, append([]string{"--batch"}, tt.args...), nil)
			if got := cli.ExitCode(err); got != tt.want {
				t.Fatalf("exit %d (%v), want %d", got, err, tt.want)
			}
			if tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Errorf("error %v, want it to mention %q", err, tt.msg)
			}
			var ue *cli.UsageError
			if tt.want == cli.ExitUsage && tt.msg != "" && strings.HasPrefix(tt.msg, "-") && !errors.As(err, &ue) {
				t.Errorf("error %v is not a usage error", err)
			}
		})
	}
}

// BenchmarkTop measures aggregating records into top's two views (flows by 5-tuple
// with correction, hosts by saddr) with cluster's keys: the reading goroutine's work
// per record.
func BenchmarkTop(b *testing.B) {
	const n = 100_000
	for _, bc := range []struct {
		name   string
		flows  int
		window time.Duration
	}{
		{"totals/flows=1k", 1000, 0},
		{"totals/flows=50k", 50_000, 0},
		{"window=10s/flows=50k", 50_000, 10 * time.Second},
	} {
		recs := benchRecords(n, bc.flows)
		b.Run(bc.name, func(b *testing.B) {
			views, err := topViews(nil)
			if err != nil {
				b.Fatal(err)
			}
			m := top.NewModel(top.Config{Views: views, Window: bc.window})
			b.ReportAllocs()
			var r record.Record
			for i := 0; b.Loop(); i++ {
				r = recs[i%n]
				shift := int64(i/n) * int64(time.Minute) // time goes on across passes
				r.StartTime += shift
				r.LastTime += shift
				m.Add(&r)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
