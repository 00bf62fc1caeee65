package tools

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"panoptes/internal/cli"
	"panoptes/internal/goldentest"
)

// TestSummaryFormats: count honours -c and --json, ports and hosts --json, each golden.
// Before issue #16 the three accepted these flags and printed their text tables anyway,
// and every case here failed.
func TestSummaryFormats(t *testing.T) {
	counts := writeStream(t, countFixture())
	fix := writeStream(t, fixture())
	for _, tc := range []struct {
		name, tool string
		args       []string
	}{
		{"count_proto_addr_csv", "count", []string{"-r", counts, "-M", "proto", "-M", "addr", "-c", ","}},
		{"count_tab", "count", []string{"-r", counts, "-c", `\t`}},
		{"count_proto_addr_json", "count", []string{"-r", counts, "-M", "proto,addr", "--json"}},
		{"ports_fixture_json", "ports", []string{"-r", fix, "--json"}},
		{"ports_capture_src_json", "ports", []string{"-r", capture, "-M", "src", "--json"}},
		{"hosts_fixture_json", "hosts", []string{"-r", fix, "--json"}},
		{"hosts_capture_json", "hosts", []string{"-r", capture, "--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out string
			var err error
			if tc.tool == "count" {
				out, err = runCount(tc.args)
			} else {
				out, err = runTool(t, tc.tool, tc.args...)
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(tc.name, "_json") {
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					var v map[string]any
					if err := json.Unmarshal([]byte(l), &v); err != nil {
						t.Fatalf("not a JSON object: %q: %v", l, err)
					}
				}
			}
			goldentest.Check(t, "testdata/"+tc.name+".golden", out)
		})
	}
}

// TestSummaryJSONAgrees: the JSON of ports and hosts lists the same hosts as the text,
// with a count equal to the length of the list.
func TestSummaryJSONAgrees(t *testing.T) {
	for _, tool := range []string{"ports", "hosts"} {
		text, err := runTool(t, tool, "-r", capture)
		if err != nil {
			t.Fatal(err)
		}
		js, err := runTool(t, tool, "-r", capture, "--json")
		if err != nil {
			t.Fatal(err)
		}
		tl, jl := strings.Split(strings.TrimSpace(text), "\n"), strings.Split(strings.TrimSpace(js), "\n")
		if len(tl) != len(jl) {
			t.Fatalf("%s: %d text lines, %d JSON lines", tool, len(tl), len(jl))
		}
		for i := range jl {
			var v struct {
				Addr, Saddr, Proto string
				Count              int
				Ports              []int
				Daddrs             []string
			}
			if err := json.Unmarshal([]byte(jl[i]), &v); err != nil {
				t.Fatal(err)
			}
			n, host := len(v.Ports), v.Addr+" "+v.Proto+":"
			if tool == "hosts" {
				n, host = len(v.Daddrs), v.Saddr+":"
			}
			if v.Count != n || !strings.HasPrefix(tl[i], host) {
				t.Errorf("%s line %d: JSON %s does not agree with %q", tool, i, jl[i], tl[i])
			}
		}
	}
}

// TestSummaryRefusals: -c where the output is lists, and -c with --json, are one-line
// usage errors.
func TestSummaryRefusals(t *testing.T) {
	fix := writeStream(t, fixture())
	for _, tc := range []struct {
		tool string
		args []string
		want string
	}{
		{"ports", []string{"-r", fix, "-c", ","}, "use --json"},
		{"hosts", []string{"-r", fix, "-c", ","}, "use --json"},
		{"hosts", []string{"-r", fix, "-c", ",", "--json"}, "cannot be used together"},
		{"ports", []string{"-r", fix, "-c", ",", "--json"}, "cannot be used together"},
	} {
		_, err := runTool(t, tc.tool, tc.args...)
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %v: %v, want a one-line usage error containing %q", tc.tool, tc.args, err, tc.want)
		}
	}
	if _, err := runCount([]string{"-r", fix, "-c", ",", "--json"}); err == nil || !strings.Contains(err.Error(), "cannot be used together") {
		t.Errorf("count -c --json: %v", err)
	}
}
