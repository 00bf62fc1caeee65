package tools

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"panoptes/internal/cli"
)

// TestConvertBounds: a line longer than convert's bound stops it with one short line
// (csv reading holds a whole line, several times over), and a bad value is echoed cut
// to a short prefix. Before the fix: the 4 MB header line's error was 4 MB long (the
// whole label echoed), and the 4 MB value's error echoed all of it too (an 800 MB line
// took 3.9 GB and wrote it all to stderr).
func TestConvertBounds(t *testing.T) {
	huge := strings.Repeat("x", 4<<20)
	for _, tc := range []struct {
		name, csv, want string
	}{
		{"long header", "StartTime," + huge + "\n", "line 1: longer than"},
		{"long value", "StartTime,Proto\n1.5," + huge + "\n", "line 2: longer than"},
		{"long bad label", "StartTime," + strings.Repeat("y", 10000) + "\n", `unknown column label "yyyy`},
		{"long bad value", "StartTime,Proto\n1.5," + strings.Repeat("z", 10000) + "\n", `unknown protocol "zzzz`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := ConvertMain([]string{"-r", "-", "-w", "-"}, strings.NewReader(tc.csv), &out, &errb)
			if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 200 {
				msg := "<nil>"
				if err != nil {
					msg = err.Error()
				}
				t.Fatalf("error of %d bytes: %.200s; want one short line with %q", len(msg), msg, tc.want)
			}
		})
	}
}

// TestLineCap: the bound holds whatever size the reads are, and counts lines.
func TestLineCap(t *testing.T) {
	in := "ab\ncdef\n" + strings.Repeat("g", 11) + "\nh"
	for _, size := range []int{1, 3, 100} {
		l := &lineCap{r: strings.NewReader(in), max: 10, line: 1}
		buf := make([]byte, size)
		var err error
		for err == nil {
			_, err = l.Read(buf)
		}
		var long *errLongLine
		if !errors.As(err, &long) || long.line != 3 {
			t.Errorf("reads of %d: %v, want line 3 too long", size, err)
		}
	}
}
