package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/record"
)

// TestBoundsThroughBinary: through the binary, flags out of range and inputs beyond a
// tool's bound give exit 2 and one short line naming the flag or bound; a quoted label
// regexp with '|' parses. Before the fixes: import took --tcp-timeout -1s and
// --workers -1 (exit 0), bins ran for minutes on the 136-year record, convert printed
// a 1 MB header label back whole, `label "web|dns"` was a syntax error (exit 2), and
// hosts had no --max-keys.
func TestBoundsThroughBinary(t *testing.T) {
	bin := binarytest.Build(t)
	dir := t.TempDir()
	pcap := filepath.Join("..", "..", "testdata", "get.pcap")
	long := record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, SrcAddr: [16]byte{10, 0, 0, 1}, DstAddr: [16]byte{10, 0, 0, 2},
		StartTime: 0, LastTime: int64(136 * 365 * 24 * time.Hour), Label: "web", Trans: 1}
	long.Src.Pkts, long.Src.Bytes = 100, 10000
	flows := writeRecords(t, filepath.Join(dir, "long.pnp"), long)
	csv := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(csv, []byte("StartTime,"+strings.Repeat("x", 1<<20)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"import --workers", []string{"import", "-r", pcap, "-w", os.DevNull, "--workers", "-1"}, []string{"--workers -1: want 0 to 256"}},
		{"import --tcp-timeout", []string{"import", "-r", pcap, "-w", os.DevNull, "--tcp-timeout", "-1s"}, []string{"--tcp-timeout -1s"}},
		{"import --status-interval", []string{"import", "-r", pcap, "-w", os.DevNull, "--status-interval", "0s"}, []string{"--status-interval 0s"}},
		{"bins over 136 years", []string{"bins", "-r", flows, "-M", "time", "1s"}, []string{"--max-bins 1000000"}},
		{"convert of a 1 MB label", []string{"convert", "-r", csv, "-w", filepath.Join(dir, "out.pnp")}, []string{"bad.csv: line 1: longer than"}},
		{"hosts --max-keys", []string{"hosts", "-r", flows, "--max-keys", "0"}, []string{"--max-keys 0"}},
		{"sort's bound", []string{"sort", "-r", flows, "--max-records", "0"}, []string{"--max-records 0"}},
		// Before --max-bins reached split, it cut the 136-year record into 4e9 pieces
		// for minutes; before the service's flags were checked, 0 was taken as a default.
		{"split over 136 years", []string{"split", "-r", flows, "-M", "time", "1s", "-w", filepath.Join(dir, "split", "x")}, []string{"--max-bins 1000000"}},
		{"relay --client-buffer", []string{"relay", "-r", flows, "-P", "0", "--client-buffer", "0"}, []string{"--client-buffer 0"}},
		{"relay --max-clients", []string{"relay", "-r", flows, "-P", "0", "--max-clients", "-1"}, []string{"--max-clients -1"}},
		{"relay --wait-clients", []string{"relay", "-r", flows, "-P", "0", "--wait-clients", "100000"}, []string{"--wait-clients 100000"}},
	} {
		p := binarytest.Start(t, bin, tc.args...)
		code := p.Wait(30 * time.Second)
		binarytest.OneLineError(t, tc.name, code, p.Stderr(), tc.want...)
		if len(p.Stderr()) > 300 {
			t.Errorf("%s: %d bytes of stderr", tc.name, len(p.Stderr()))
		}
	}
	p := binarytest.Start(t, bin, "read", "-r", flows, "-s", "label", "--", `label "dns|web"`)
	if code := p.Wait(30 * time.Second); code != 0 || !strings.Contains(p.Stdout(), "web") {
		t.Errorf(`read -- label "dns|web": exit %d, stdout %q, stderr %q; want the record`, code, p.Stdout(), p.Stderr())
	}
}

// writeRecords writes recs to a record stream file at path.
func writeRecords(t *testing.T, path string, recs ...record.Record) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := record.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // closes f too
		t.Fatal(err)
	}
	return path
}
