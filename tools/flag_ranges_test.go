package tools

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"panoptes/internal/cli"
)

// TestCountFlagRanges: count and size flags out of range are refused with one line
// naming the flag. Before the fix: sort --max-records 3000000000 was accepted (and its
// record indices are int32), cluster --max-keys 1e12 silently became 2^31-1, top
// --max-keys 1e12 was accepted, -L -5 was taken as -1, --plot-top 0 without --plot
// passed, and a 10 KB -s list was echoed whole.
func TestCountFlagRanges(t *testing.T) {
	path := writeStream(t, fixture())
	mains := map[string]func([]string, io.Reader, io.Writer, io.Writer) error{
		"sort": SortMain, "cluster": ClusterMain, "top": TopMain, "read": ReadMain, "bins": BinsMain,
	}
	long := strings.Repeat("q", 10000)
	for _, tc := range []struct {
		tool string
		args []string
		want string
	}{
		{"sort", []string{"--max-records", "3000000000"}, "--max-records 3000000000: want 1 to"},
		{"sort", []string{"--max-records", "-1"}, "--max-records -1: want 1 to"},
		{"cluster", []string{"--max-keys", "1000000000000"}, "--max-keys 1000000000000: want 1 to"},
		{"top", []string{"--batch", "--max-keys", "1000000000000"}, "--max-keys 1000000000000: want 1 to"},
		{"read", []string{"-L", "-5"}, "-L -5: want -1 to"},
		{"bins", []string{"-M", "time", "1s", "--plot-top", "0"}, "--plot-top 0: want 1 to"},
		{"read", []string{"-s", long}, `unknown field "qqqq`},
		{"read", []string{"-s", "saddr:" + long}, `bad width "qqqq`},
	} {
		var out, errb bytes.Buffer
		err := mains[tc.tool](append([]string{"-r", path}, tc.args...), bytes.NewReader(nil), &out, &errb)
		if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 300 {
			t.Errorf("%s %.60q: %.300v, want one short line with %q", tc.tool, tc.args, err, tc.want)
		}
	}
}
