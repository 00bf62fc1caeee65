package tools

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"

	"panoptes/internal/cli"
	"panoptes/record"
)

// pairs writes n records: with oneSource, 10.0.0.1 to n distinct destinations, else n
// distinct sources each to one destination (the costlier shape: a map per source).
func pairs(t *testing.T, n int, oneSource bool) string {
	recs := make([]record.Record, n)
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range recs {
		a := base
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		s, d := "10.0.0.1", netip.AddrFrom4(a).String()
		if !oneSource {
			s, d = d, s
		}
		recs[i] = mkflow(s, 1, d, 2, 17, at(0), at(1))
		recs[i].Src.Pkts = 1
	}
	return writeStream(t, recs)
}

// TestHostsBound: hosts holds at most --max-keys (source, destination) pairs and stops
// with one line naming the bound, whose memory estimate per pair is measured here.
// Before the fix: --max-keys was an unknown flag (hosts held every pair it was given).
func TestHostsBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"more pairs than --max-keys", []string{"--max-keys", "3"}, "--max-keys 3"},
		{"--max-keys 0", []string{"--max-keys", "0"}, "--max-keys 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runTool(t, "hosts", append([]string{"-r", writeStream(t, fixture())}, tc.args...)...)
			if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line naming %q", err, tc.want)
			}
		})
	}
	const n = 100_000
	for _, one := range []bool{true, false} {
		path := pairs(t, n, one)
		var err error
		var stderr bytes.Buffer
		peak := goalPeakHeap(func() { err = HostsMain([]string{"-r", path}, bytes.NewReader(nil), io.Discard, &stderr) })
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("one source %v: %d bytes a pair (bound assumes %d)", one, peak/n, hostPairSize)
		if peak/n > hostPairSize {
			t.Errorf("one source %v: hosts used %d bytes a pair, its bound and message assume %d", one, peak/n, hostPairSize)
		}
	}
}
