package tools

import (
	"strings"
	"testing"
	"time"

	"panoptes/internal/cli"
)

// TestBinsBounds: bins holds at most --max-bins bins per record and plot, and at most
// --max-keys (bin, key) entries; beyond either it stops with one line naming the bound.
// Before the fix: the 136-year record with 1s bins ran for minutes without output
// (killed by go test -timeout 60s in the first case), and --max-keys was an unknown
// flag (no bound on keys at all).
func TestBinsBounds(t *testing.T) {
	long := mkflow("10.0.0.1", 1, "10.0.0.2", 2, 17, 0, int64(136*365*24*time.Hour))
	long.Src.Pkts, long.Src.Bytes = 1000, 100000
	longFile := writeStream(t, append(fixture(), long))
	fix := writeStream(t, fixture())
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"record spans 4e9 bins", []string{"-r", longFile, "-M", "time", "1s"}, "--max-bins 1000000"},
		{"record spans more than --max-bins", []string{"-r", fix, "-M", "time", "1s", "--max-bins", "2"}, "--max-bins 2"},
		{"plot spans more than --max-bins", []string{"-r", fix, "-M", "time", "1s", "--max-bins", "1", "--plot", t.TempDir() + "/x.svg", "-m", "none"}, "--max-bins 1"},
		{"more keys than --max-keys", []string{"-r", fix, "-M", "time", "1d", "--max-keys", "3"}, "--max-keys 3"},
		{"--max-keys 0", []string{"-r", fix, "-M", "time", "1d", "--max-keys", "0"}, "--max-keys 0"},
		{"--max-bins 0", []string{"-r", fix, "-M", "time", "1d", "--max-bins", "0"}, "--max-bins 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runTool(t, "bins", tc.args...)
			if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line naming %q", err, tc.want)
			}
		})
	}
}
