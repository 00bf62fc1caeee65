package tools

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"panoptes/internal/cli"
)

// TestInventoryBounds: ports holds at most --max-keys (address, protocol, port)
// entries and count -M addr at most --max-keys distinct addresses; beyond, one line
// naming the bound and its memory per million, which is measured here. Before the fix:
// --max-keys was an unknown flag to both (they held whatever they were given).
func TestInventoryBounds(t *testing.T) {
	fix := writeStream(t, fixture())
	mains := map[string]func([]string, io.Reader, io.Writer, io.Writer) error{"ports": PortsMain, "count": CountMain}
	for _, tc := range []struct {
		tool string
		args []string
		want string
	}{
		{"ports", []string{"--max-keys", "2"}, "more than --max-keys 2 (address, protocol, port) entries (about "},
		{"ports", []string{"--max-keys", "0"}, "--max-keys 0: want 1 to"},
		{"count", []string{"-M", "addr", "--max-keys", "2"}, "more than --max-keys 2 distinct addresses (about "},
		{"count", []string{"-M", "addr", "--max-keys", "0"}, "--max-keys 0: want 1 to"},
	} {
		var out, errb bytes.Buffer
		err := mains[tc.tool](append([]string{"-r", fix}, tc.args...), bytes.NewReader(nil), &out, &errb)
		if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %q: %v, want one line with %q", tc.tool, tc.args, err, tc.want)
		}
	}
	const n = 100_000
	for _, tc := range []struct {
		tool string
		args []string
		per  int64
		keys int64 // entries the input makes
	}{
		{"ports", []string{"-M", "src"}, portEntrySize, n},      // n sources, one port each
		{"count", []string{"-M", "addr"}, addrEntrySize, n + 1}, // n sources, one destination
	} {
		path := pairs(t, n, false)
		var err error
		var stderr bytes.Buffer
		peak := goalPeakHeap(func() {
			err = mains[tc.tool](append([]string{"-r", path}, tc.args...), bytes.NewReader(nil), io.Discard, &stderr)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes an entry (bound assumes %d)", tc.tool, peak/tc.keys, tc.per)
		if peak/tc.keys > tc.per {
			t.Errorf("%s used %d bytes an entry, its bound and message assume %d", tc.tool, peak/tc.keys, tc.per)
		}
	}
}
