package tools

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/filter"
	"panoptes/internal/cli"
	"panoptes/internal/goldentest"
	"panoptes/record"
)

// TestGolden runs read and cluster over the fixture and compares their output with
// testdata/*.golden.
func TestGolden(t *testing.T) {
	path := writeStream(t, fixture())
	tests := []struct {
		name    string
		cluster bool
		args    []string
	}{
		{"read_default", false, []string{"-r", "FIXTURE"}},
		{"read_fields_widths", false, []string{"-r", "FIXTURE", "-s", "stime:16,saddr:24,daddr:24,dport:5", "-s", "pkts:6", "-s", "trans"}},
		{"read_fields_space", false, []string{"-r", "FIXTURE", "-s", "ltime dur proto spkts dpkts sbytes dbytes"}},
		{"read_fields_edit", false, []string{"-r", "FIXTURE", "-s", "+dur -flgs -bytes", "-s", "+1seq", "-s", "+trans:3"}},
		{"read_fields_remove", false, []string{"-r", "FIXTURE", "-s", "-flgs", "-s", "-bytes", "-s", "-stime"}},
		{"read_csv", false, []string{"-r", "FIXTURE", "-c", ","}},
		{"read_tab_noheader", false, []string{"-r", "FIXTURE", "-c", `\t`, "-L", "-1", "-s", "saddr,daddr,proto,state"}},
		{"read_json", false, []string{"-r", "FIXTURE", "--json"}},
		{"read_json_fields", false, []string{"-r", "FIXTURE", "--json", "-s", "stime,ltime,dur,saddr,sport,smac,pkts,state,cause,trans"}},
		{"read_numeric_precision", false, []string{"-r", "FIXTURE", "-n", "-p", "3", "-s", "stime,dur,proto,saddr,daddr,state"}},
		{"read_epoch", false, []string{"-r", "FIXTURE", "-u", "-p", "0", "-s", "stime,ltime,proto"}},
		{"read_count", false, []string{"-r", "FIXTURE", "-N", "3"}},
		{"read_header_every", false, []string{"-r", "FIXTURE", "-L", "3", "-s", "proto,state"}},
		{"read_filter_tcp", false, []string{"-r", "FIXTURE", "--", "tcp"}},
		{"read_filter_host", false, []string{"-r", "FIXTURE", "--", "host", "10.0.0.80"}},
		{"read_filter_net", false, []string{"-r", "FIXTURE", "--", "net 10.0.0.0/24 and not arp"}},
		{"read_filter_src_port", false, []string{"-r", "FIXTURE", "--", "src", "port", "22"}},
		{"read_filter_not_udp", false, []string{"-r", "FIXTURE", "--", "not", "udp"}},
		{"read_filter_man", false, []string{"-r", "FIXTURE", "--", "man"}},
		{"read_filter_nodashes", false, []string{"-r", "FIXTURE", "icmp", "or", "ipv6"}},
		{"read_filter_pkts", false, []string{"-r", "FIXTURE", "-", "tcp and src pkts gt 5"}},
		{"read_two_inputs", false, []string{"-r", "FIXTURE", "-r", "FIXTURE", "-s", "saddr,daddr", "--", "udp"}},
		{"cluster_default", true, []string{"-r", "FIXTURE", "-s", "+trans"}},
		{"cluster_nocorrect", true, []string{"-r", "FIXTURE", "-M", "nocorrect", "-s", "+trans"}},
		{"cluster_5tuple_correct", true, []string{"-r", "FIXTURE", "-m", "saddr,daddr,proto,sport,dport", "-M", "correct", "-s", "+trans"}},
		{"cluster_saddr", true, []string{"-r", "FIXTURE", "-m", "saddr", "-s", "+trans"}},
		{"cluster_proto", true, []string{"-r", "FIXTURE", "-m", "proto", "-s", "+trans"}},
		{"cluster_proto_json", true, []string{"-r", "FIXTURE", "-m", "proto", "--json", "-s", "proto,saddr,daddr,pkts,trans"}},
		{"cluster_dport_space", true, []string{"-r", "FIXTURE", "-m", "daddr dport", "-s", "+trans"}},
		{"cluster_none_filter", true, []string{"-r", "FIXTURE", "-m", "none", "-s", "stime,ltime,proto,saddr,daddr,pkts,bytes,trans", "--", "ipv4"}},
		{"cluster_csv_count", true, []string{"-r", "FIXTURE", "-c", ",", "-N", "2", "-s", "+trans"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := runRead
			if tt.cluster {
				run = runCluster
			}
			out, stderr, err := run(substitute(tt.args, path), nil)
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

func TestReadStdin(t *testing.T) {
	path := writeStream(t, fixture())
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := runRead([]string{"-r", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := runRead([]string{"-r", "-"}, data)
	if err != nil || got != want {
		t.Errorf("-r - gave %v:\n%s\nwant\n%s", err, got, want)
	}
}

// TestWriteRoundTrip: records written with -w read back as the records that matched.
func TestWriteRoundTrip(t *testing.T) {
	path := writeStream(t, fixture())
	for _, tc := range []struct {
		name string
		main func([]string, []byte) (string, string, error)
		args []string
	}{
		{"read", runRead, []string{"--", "tcp or man"}},
		{"cluster", runCluster, []string{"-m", "proto"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _, err := tc.main(append([]string{"-r", path, "-s", "+trans"}, tc.args...), nil)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out.pnpt")
			if stdout, _, err := tc.main(append([]string{"-r", path, "-w", out}, tc.args...), nil); err != nil || stdout != "" {
				t.Fatalf("-w: %v, stdout %q", err, stdout)
			}
			if tc.name == "cluster" {
				// Written records keep the first record's key fields; only the printer blanks
				// disagreeing ones. Compare the counters instead of the text.
				want, _, _ = tc.main(append([]string{"-r", path, "-s", "pkts,bytes,trans"}, tc.args...), nil)
				got, _, err := runRead([]string{"-r", out, "-s", "pkts,bytes,trans"}, nil)
				if err != nil || got != want {
					t.Errorf("read back %v:\n%s\nwant\n%s", err, got, want)
				}
				return
			}
			got, _, err := runRead([]string{"-r", out, "-s", "+trans"}, nil)
			if err != nil || got != want {
				t.Errorf("read back %v:\n%s\nwant\n%s", err, got, want)
			}
			// -w - writes the stream to stdout.
			stream, _, err := tc.main(append([]string{"-r", path, "-w", "-"}, tc.args...), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err = runRead([]string{"-r", "-", "-s", "+trans"}, []byte(stream))
			if err != nil || got != want {
				t.Errorf("-w - read back %v:\n%s\nwant\n%s", err, got, want)
			}
		})
	}
}

// TestJSON checks that --json output is valid JSON with the documented types.
func TestJSON(t *testing.T) {
	path := writeStream(t, fixture())
	out, _, err := runRead([]string{"-r", path, "--json", "-s", "+dur,+sttl,+trans"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(fixture()) {
		t.Fatalf("%d lines, want %d", len(lines), len(fixture()))
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		for _, k := range append(append([]string{}, DefaultFields...), "dur", "sttl", "trans") {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d: no key %q", i+1, k)
			}
		}
		st, ok := m["stime"].(string)
		if !ok {
			t.Fatalf("line %d: stime %T, want a string", i+1, m["stime"])
		}
		if ts, err := time.Parse(time.RFC3339Nano, st); err != nil || !strings.HasSuffix(st, "Z") {
			t.Errorf("line %d: stime %q is not RFC 3339 UTC: %v", i+1, st, err)
		} else if i == 0 && ts.UnixNano() != base {
			t.Errorf("stime %q lost precision: %d != %d", st, ts.UnixNano(), base)
		}
		for _, k := range []string{"pkts", "bytes", "dur", "sttl", "trans"} {
			if _, ok := m[k].(float64); !ok {
				t.Errorf("line %d: %s is %T, want a number", i+1, k, m[k])
			}
		}
		for _, k := range []string{"proto", "state", "flgs", "dir"} {
			if _, ok := m[k].(string); !ok && !(k == "dir" && m[k] == nil) {
				t.Errorf("line %d: %s is %T, want a string", i+1, k, m[k])
			}
		}
		if i > 0 { // flows: ports are numbers, addresses strings
			if _, ok := m["sport"].(float64); !ok {
				t.Errorf("line %d: sport is %T, want a number", i+1, m["sport"])
			}
			if _, ok := m["saddr"].(string); !ok {
				t.Errorf("line %d: saddr is %T, want a string", i+1, m["saddr"])
			}
		}
	}
	if m := lines[1]; !strings.Contains(m, `"proto":"tcp"`) || !strings.Contains(m, `"dur":0.24`) {
		t.Errorf("tcp line: %s", m)
	}
	if m := lines[0]; !strings.Contains(m, `"proto":"man"`) || !strings.Contains(m, `"pkts":1234`) || !strings.Contains(m, `"saddr":null`) {
		t.Errorf("management line: %s", m)
	}
}

// TestCSVParses checks that -c , output is CSV that encoding/csv reads back with one
// header and one row per record, each with every column.
func TestCSVParses(t *testing.T) {
	path := writeStream(t, fixture())
	out, _, err := runRead([]string{"-r", path, "-c", ","}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csvRead(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(fixture()) || strings.Join(rows[0], " ") != "StartTime Flgs Proto SrcAddr Sport Dir DstAddr Dport TotPkts TotBytes State" {
		t.Fatalf("rows: %q", rows)
	}
	if rows[2][1] != " e       " || rows[2][2] != "tcp" || rows[2][10] != "FIN" {
		t.Errorf("tcp row: %q", rows[2])
	}
}

func TestErrors(t *testing.T) {
	path := writeStream(t, fixture())
	missing := filepath.Join(t.TempDir(), "nosuch.pnpt")
	notStream := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(notStream, []byte("hello, world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cluster bool
		args    []string
		code    int
		msg     string // the error message contains this
	}{
		{"bad filter", false, []string{"-r", path, "--", "tcp and foo 1"}, cli.ExitUsage, `filter: unexpected "foo" at column 9: tcp and >>>HERE<<<foo 1`},
		{"bad filter cluster", true, []string{"-r", path, "--", "port 99999"}, cli.ExitUsage, `bad port "99999" at column 6`},
		{"unknown field", false, []string{"-r", path, "-s", "stime,nosuch"}, cli.ExitUsage, `unknown field "nosuch"`},
		{"unknown field edit", false, []string{"-r", path, "-s", "-nosuch"}, cli.ExitUsage, `unknown field "nosuch"`},
		{"bad width", false, []string{"-r", path, "-s", "saddr:x"}, cli.ExitUsage, `bad width "x"`},
		{"unknown key", true, []string{"-r", path, "-m", "saddr,nosuch"}, cli.ExitUsage, `unknown field "nosuch" in -m`},
		{"bad mode", true, []string{"-r", path, "-M", "bogus"}, cli.ExitUsage, `unsupported -M mode "bogus"`},
		{"bad flag", false, []string{"-r", path, "--bogus"}, cli.ExitUsage, "bogus"},
		{"json and csv", false, []string{"-r", path, "--json", "-c", ","}, cli.ExitUsage, "cannot be used together"},
		{"bad precision", false, []string{"-r", path, "-p", "12"}, cli.ExitUsage, "precision"},
		{"no input", false, []string{"--", "tcp"}, cli.ExitUsage, "no input"},
		{"missing file", false, []string{"-r", missing}, cli.ExitUsage, missing},
		{"missing file cluster", true, []string{"-r", path, "-r", missing}, cli.ExitUsage, missing},
		{"not a stream", false, []string{"-r", notStream}, cli.ExitUsage, notStream + ": not a panoptes record stream"},
		{"nothing matched", false, []string{"-r", path, "--", "udp and port 9999"}, cli.ExitNoMatch, "no records matched"},
		{"nothing matched cluster", true, []string{"-r", path, "--", "man"}, cli.ExitNoMatch, "no records matched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := runRead
			if tt.cluster {
				run = runCluster
			}
			out, _, err := run(tt.args, nil)
			if code := cli.ExitCode(err); code != tt.code {
				t.Fatalf("exit code %d (%v), want %d", code, err, tt.code)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.msg) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line containing %q", msg, tt.msg)
			}
			if tt.code == cli.ExitNoMatch && (out != "" || !errors.Is(err, cli.ErrNoMatch)) {
				t.Errorf("no match: stdout %q, err %v", out, err)
			}
		})
	}
	// A bad filter is a usage error that still carries the filter's position.
	_, _, err := runRead([]string{"-r", path, "--", "tcp and"}, nil)
	var ue *cli.UsageError
	var se *filter.SyntaxError
	if !errors.As(err, &ue) || !errors.As(err, &se) || se.Column() != 8 {
		t.Errorf("bad filter error %#v: want a UsageError wrapping a SyntaxError at column 8", err)
	}
}

// TestTruncated: a stream cut inside a record yields the records before the cut and a
// one-line warning naming the file and the byte offset.
func TestTruncated(t *testing.T) {
	path := writeStream(t, fixture())
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pnpt")
	if err := os.WriteFile(cut, data[:len(data)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, run := range []func([]string, []byte) (string, string, error){runRead, runCluster} {
		out, stderr, err := run([]string{"-r", cut, "-r", path, "-s", "saddr,daddr,pkts"}, nil)
		if err != nil {
			t.Fatalf("err %v, want nil", err)
		}
		if !strings.Contains(stderr, cut) || !strings.Contains(stderr, "truncated record at byte ") ||
			strings.Count(stderr, "\n") != 1 {
			t.Errorf("stderr %q: want one warning line naming %s and the byte offset", stderr, cut)
		}
		if !strings.Contains(out, "10.0.0.80") {
			t.Errorf("records before the cut and from the next file are missing:\n%s", out)
		}
	}
	out, _, _ := runRead([]string{"-r", cut, "-s", "saddr"}, nil)
	if n := strings.Count(out, "\n"); n != len(fixture()) { // header + all records but the cut one
		t.Errorf("read %d lines from the cut file, want %d:\n%s", n, len(fixture()), out)
	}
}

func TestParseFields(t *testing.T) {
	names := func(specs ...string) string {
		fs, ws, err := parseFields(specs)
		if err != nil {
			return "error: " + err.Error()
		}
		var s []string
		for i, f := range fs {
			n := f.Name
			if ws[i] != 0 {
				n += ":" + string(rune('0'+ws[i]%10))
			}
			s = append(s, n)
		}
		return strings.Join(s, " ")
	}
	def := strings.Join(DefaultFields, " ")
	tests := []struct {
		specs []string
		want  string
	}{
		{nil, def},
		{[]string{"saddr,daddr"}, "saddr daddr"},
		{[]string{"saddr daddr", "pkts"}, "saddr daddr pkts"},
		{[]string{"saddr:5"}, "saddr:5"},
		{[]string{"+dur"}, def + " dur"},
		{[]string{"-flgs -state"}, "stime proto saddr sport dir daddr dport pkts bytes"},
		{[]string{"+1dur"}, "dur " + def},
		{[]string{"+3dur:7"}, "stime flgs dur:7 proto saddr sport dir daddr dport pkts bytes state"},
		{[]string{"+99dur"}, def + " dur"},
		{[]string{"saddr", "+dur"}, "saddr dur"},
		{[]string{"saddr,saddr", "-saddr"}, "error: -s: no fields left to print"},
		{[]string{"STIME"}, "stime"},
	}
	for _, tt := range tests {
		if got := names(tt.specs...); got != tt.want {
			t.Errorf("parseFields(%q) = %q, want %q", tt.specs, got, tt.want)
		}
	}
}

// TestPrinterAllocs: printing a text line reuses the printer's buffers.
func TestPrinterAllocs(t *testing.T) {
	recs := fixture()
	// record.AppendTime allocates its fraction digits (a record package matter), so the
	// time column is left out here.
	f, _, _ := parseFields([]string{"-stime"})
	p := NewPrinter(discard{}, Output{Fields: f, Format: record.DefaultFormat})
	r := &recs[2]
	p.Print(r)
	if n := testing.AllocsPerRun(100, func() { p.Print(r) }); n > 0 {
		t.Errorf("Print allocates %v times per record", n)
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func csvRead(s string) ([][]string, error) {
	return csv.NewReader(strings.NewReader(s)).ReadAll()
}
