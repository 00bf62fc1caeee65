package tools

import (
	"errors"
	"strings"
	"testing"

	"panoptes/internal/cli"
	"panoptes/internal/goldentest"
)

// TestInventoriesGolden covers ports (raports) and hosts on records (rahosts).
func TestInventoriesGolden(t *testing.T) {
	fix := writeStream(t, fixture())
	for _, tc := range []struct {
		name, tool string
		args       []string
	}{
		{"ports_fixture_dst", "ports", []string{"-r", fix}},
		{"ports_fixture_src", "ports", []string{"-r", fix, "-M", "src"}},
		{"ports_capture_dst", "ports", []string{"-r", capture}},
		{"ports_capture_src_tcp", "ports", []string{"-r", capture, "-M", "src", "--", "tcp"}},
		{"hosts_fixture", "hosts", []string{"-r", fix}},
		{"hosts_capture", "hosts", []string{"-r", capture}},
		{"hosts_capture_udp", "hosts", []string{"-r", capture, "--", "udp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTool(t, tc.tool, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			goldentest.Check(t, "testdata/"+tc.name+".golden", out)
		})
	}
}

func TestWriteRuns(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{[]int{22}, "22"},
		{[]int{22, 80, 81, 82, 443}, "22, 80 - 82, 443"},
		{[]int{1, 2, 4, 5}, "1 - 2, 4 - 5"},
	} {
		var b strings.Builder
		writeRuns(&b, len(tc.in), func(i int) (string, bool) { return fmtInt(tc.in[i]), i > 0 && tc.in[i-1]+1 == tc.in[i] })
		if b.String() != tc.want {
			t.Errorf("%v: %q, want %q", tc.in, b.String(), tc.want)
		}
	}
}

func TestInventoriesBadUsage(t *testing.T) {
	for _, tc := range []struct {
		tool string
		args []string
	}{
		{"ports", []string{"-r", capture, "-M", "both"}},
		{"ports", []string{}},
		{"ports", []string{"-r", capture, "--", "tcp and"}},
		{"hosts", []string{"-R", "x", "-R", "y", "10.0.0.1"}},
		{"hosts", []string{"-R", t.TempDir(), "not-an-address"}},
		{"hosts", []string{"-r", capture, "--", "host"}},
		{"hosts", []string{}},
	} {
		_, err := runTool(t, tc.tool, tc.args...)
		if cli.ExitCode(err) != cli.ExitUsage || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %v: %v, want one line and exit 2", tc.tool, tc.args, err)
		}
	}
	for _, tool := range []string{"ports", "hosts"} {
		if _, err := runTool(t, tool, "-r", capture, "--", "port", "9"); !errors.Is(err, cli.ErrNoMatch) {
			t.Errorf("%s, filter matching nothing: %v, want ErrNoMatch", tool, err)
		}
	}
}
