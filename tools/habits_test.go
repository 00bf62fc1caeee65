package tools

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"panoptes/internal/cli"
)

func TestJoinFieldWords(t *testing.T) {
	fs := cli.NewFlagSet("read", "", os.Stderr)
	var c common
	c.register(fs)
	fs.StringArrayP("keys", "m", nil, "")
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-r", "f", "-s", "stime", "saddr", "daddr"}, []string{"-r", "f", "-s", "stime saddr daddr"}},
		{[]string{"-s", "stime", "saddr", "daddr", "tcp"}, []string{"-s", "stime saddr daddr", "tcp"}},
		{[]string{"-s", "stime", "saddr", "--", "pkts", "gt", "5"}, []string{"-s", "stime saddr", "--", "pkts", "gt", "5"}},
		{[]string{"-s", "stime", "saddr", "-", "tcp"}, []string{"-s", "stime saddr", "-", "tcp"}},
		{[]string{"-s", "stime", "daddr:20", "+dur", "+2proto", "-r", "f"}, []string{"-s", "stime daddr:20 +dur +2proto", "-r", "f"}},
		{[]string{"-sstime", "saddr"}, []string{"-sstime saddr"}},
		{[]string{"--fields=stime", "saddr"}, []string{"--fields=stime saddr"}},
		{[]string{"--fields", "stime", "saddr"}, []string{"--fields", "stime saddr"}},
		{[]string{"-m", "saddr/24", "daddr", "-s", "saddr", "bytes"}, []string{"-m", "saddr/24 daddr", "-s", "saddr bytes"}},
		{[]string{"-s", "stime,saddr", "host", "10.0.0.1"}, []string{"-s", "stime,saddr", "host", "10.0.0.1"}},
		// A field word among the filter words, not after -s: left to the filter.
		{[]string{"-r", "f", "saddr"}, []string{"-r", "f", "saddr"}},
		{[]string{"-s"}, []string{"-s"}},
		{[]string{"-s", "--", "tcp"}, []string{"-s", "--", "tcp"}},
		{[]string{"--", "-s", "stime", "saddr"}, []string{"--", "-s", "stime", "saddr"}},
	} {
		if got, _ := joinFieldWords(fs, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	// Without a keys flag (read), -m is left alone.
	fs2 := cli.NewFlagSet("read", "", os.Stderr)
	var c2 common
	c2.register(fs2)
	if got, _ := joinFieldWords(fs2, []string{"-m", "saddr", "daddr"}); !slices.Equal(got, []string{"-m", "saddr", "daddr"}) {
		t.Errorf("-m without a keys flag: %q", got)
	}
}

// TestFieldWordsThroughRead: before joinFieldWords, `-s stime saddr daddr` failed with
// a filter error ("saddr daddr" is no filter); now it prints the three columns.
func TestFieldWordsThroughRead(t *testing.T) {
	path := writeStream(t, fixture())
	out, errOut, err := runRead([]string{"-r", path, "-s", "stime", "saddr", "daddr", "-c", ",", "-L", "-1", "udp"}, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || strings.Count(lines[0], ",") != 2 || !strings.Contains(out, "10.0.0.53") {
		t.Fatalf("want three columns of the UDP records, got:\n%s", out)
	}
}

// writeRarc writes an rarc file and points RARC at it for the test.
func writeRarc(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rarc")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RARC", p)
	return p
}

func TestRarc(t *testing.T) {
	path := writeStream(t, fixture())
	const rc = `# ra settings
RA_SET_PID="no"
RA_PRINT_LABELS=-1
RA_FIELD_SPECIFIER="stime saddr daddr spkts"
RA_FIELD_DELIMITER=','
RA_USEC_PRECISION=3
RA_PID_PATH="/var/run"
RA_SET_PID="yes"
RA_FILTER="udp"
`
	for _, tc := range []struct {
		name string
		rc   string
		args []string
		want []string // lines of stdout
		warn string   // stderr, "" for none
		err  string
	}{
		{name: "file settings", rc: rc, args: []string{"-N", "1"},
			want: []string{"12:00:00.143,10.0.0.1,10.0.0.53,1"}, warn: "ignoring RA_PID_PATH, RA_SET_PID (no Panoptes equivalent)"},
		{name: "flags win", rc: rc, args: []string{"-N", "1", "-s", "saddr,sport", "-c", "|", "-p", "1", "-L", "0", "--", "tcp"},
			want: []string{"SrcAddr|Sport", "10.0.0.1|40000"}},
		{name: "plus edits the file's list", rc: rc, args: []string{"-N", "1", "-s", "+proto", "-s", "-daddr"},
			want: []string{"12:00:00.143,10.0.0.1,1,udp"}},
		{name: "json drops the delimiter", rc: rc, args: []string{"-N", "1", "--json"},
			want: []string{`{"stime":"2026-03-01T12:00:00.143456789Z","saddr":"10.0.0.1","daddr":"10.0.0.53","spkts":1}`}},
		{name: "repeated field lists add up, as in ra", rc: "RA_FIELD_SPECIFIER=saddr\nRA_FIELD_SPECIFIER=daddr\nRA_PRINT_LABELS=-1\n", args: []string{"-N", "1", "--", "udp"},
			want: []string{"          10.0.0.1          10.0.0.53"}},
		{name: "time format and names", rc: "RA_TIME_FORMAT=\"%F %T.%f\"\nRA_USEC_PRECISION=0\nRA_PRINT_NAMES=none\nRA_FIELD_SPECIFIER=stime proto\nRA_PRINT_LABELS=-1\n", args: []string{"-N", "1", "--", "udp"},
			want: []string{"2026-03-01 12:00:00     17"}},
		{name: "unix time", rc: "RA_PRINT_UNIX_TIME=yes\nRA_TIME_FORMAT=%T\nRA_FIELD_SPECIFIER=stime\nRA_PRINT_LABELS=-1\n", args: []string{"-N", "1", "-p", "0", "--", "udp"},
			want: []string{"     1772366400"}},
		{name: "empty value is no setting", rc: "RA_FIELD_DELIMITER=''\nRA_FIELD_SPECIFIER=\"\"\nRA_PRINT_LABELS=-1\n", args: []string{"-N", "1", "-s", "saddr,daddr", "--", "udp"},
			want: []string{"          10.0.0.1          10.0.0.53"}},
		{name: "bad field", rc: "\nRA_FIELD_SPECIFIER=\"stime nosuch\"\n", err: `:2: RA_FIELD_SPECIFIER: unknown field "nosuch"`},
		{name: "bad number", rc: "RA_USEC_PRECISION=six\n", err: `:1: RA_USEC_PRECISION="six"`},
		{name: "bad yes", rc: "RA_PRINT_UNIX_TIME=maybe\n", err: `:1: RA_PRINT_UNIX_TIME: want yes or no`},
		{name: "bad time format", rc: "RA_TIME_FORMAT=%Q\n", err: "--time-format: time format \"%Q\": unknown conversion %Q"},
		{name: "syntax", rc: "RA_X\n", err: ":1: want KEY=VALUE"},
	} {
		if tc.rc == rc && tc.err == "" {
			tc.warn = "ignoring RA_PID_PATH, RA_SET_PID (no Panoptes equivalent)"
		}
		t.Run(tc.name, func(t *testing.T) {
			name := writeRarc(t, tc.rc)
			out, errOut, err := runRead(append([]string{"-r", path}, tc.args...), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || cli.ExitCode(err) != cli.ExitUsage {
					t.Fatalf("error %v, want a usage error with %q", err, tc.err)
				}
				if !strings.Contains(err.Error(), name) && !strings.Contains(tc.err, "time-format") {
					t.Errorf("error %v does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			switch {
			case tc.warn == "" && errOut != "":
				t.Errorf("unexpected stderr %q", errOut)
			case tc.warn != "" && (strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, name+": "+tc.warn)):
				t.Errorf("stderr %q, want one warning line with %q", errOut, tc.warn)
			}
		})
	}
}

// TestRarcOtherTools: the file applies to every record tool that has the flag; sort
// takes RA_SORT_ALGORITHMS as its default -m, cluster does not.
func TestRarcOtherTools(t *testing.T) {
	path := writeStream(t, fixture())
	writeRarc(t, "RA_FIELD_SPECIFIER=saddr spkts\nRA_PRINT_LABELS=-1\nRA_SORT_ALGORITHMS=spkts\nRA_FIELD_DELIMITER=,\n")
	out, errOut, err := runSort([]string{"-r", path, "-N", "1", "--", "tcp"}, nil)
	if err != nil || out != "10.0.0.2,10\n" {
		t.Errorf("sort: %q %v %s", out, err, errOut)
	}
	out, errOut, err = runCluster([]string{"-r", path, "-m", "saddr", "--", "udp"}, nil)
	if err != nil || out != "10.0.0.1,1\n" {
		t.Errorf("cluster: %q %v %s", out, err, errOut)
	}

	// RA_DELEGATED_IP is label's --rir when label has nothing else to label with.
	rir := filepath.Join(t.TempDir(), "delegated")
	if err := os.WriteFile(rir, []byte("arin|US|ipv4|10.0.0.0|256|20000101|allocated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeRarc(t, "RA_DELEGATED_IP=\""+rir+"\"\nRA_FIELD_SPECIFIER=saddr sco dco\nRA_PRINT_LABELS=-1\n")
	var lout, lerr bytes.Buffer
	if err := LabelMain([]string{"-r", path, "--", "udp"}, nil, &lout, &lerr); err != nil || lout.String() != "          10.0.0.1  US  US\n" {
		t.Errorf("label: %q %v %s", lout.String(), err, lerr.String())
	}
	// With -f, the rules are all label does: the file's country database is not used.
	rules := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(rules, []byte("udp => dns\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lout.Reset()
	if err := LabelMain([]string{"-r", path, "-f", rules, "-s", "+label", "--", "udp"}, nil, &lout, &lerr); err != nil || strings.Contains(lout.String(), "US") || !strings.Contains(lout.String(), "dns") {
		t.Errorf("label -f: %q %v %s", lout.String(), err, lerr.String())
	}
}

// TestFieldWordsHint: a filter that starts with a field-name word after -s, without
// "--", is an error that shows where the "--" goes; a filter error that no split
// explains has no hint.
func TestFieldWordsHint(t *testing.T) {
	path := writeStream(t, fixture())
	for _, c := range []struct {
		args []string
		hint string
	}{
		{[]string{"-s", "stime", "saddr", "pkts", "gt", "5"}, "(did you mean -s 'stime saddr' -- pkts gt 5?"},
		{[]string{"-sstime", "bytes", "gt", "100"}, "(did you mean -s 'stime' -- bytes gt 100?"},
		{[]string{"-s", "stime", "saddr", "bogus"}, ""},
	} {
		_, _, err := runRead(append([]string{"-r", path}, c.args...), nil)
		if err == nil || cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("%q: %v, want a usage error", c.args, err)
			continue
		}
		if got := err.Error(); c.hint == "" && strings.Contains(got, "did you mean") || !strings.Contains(got, c.hint) {
			t.Errorf("%q: %q, want hint %q", c.args, got, c.hint)
		}
	}
}

// FuzzJoinFieldWords: joining never loses, adds or reorders a word (the command line
// read as words is the same before and after), "--" and what follows it are kept
// unchanged, and the hint of a join never panics.
func FuzzJoinFieldWords(f *testing.F) {
	f.Add("-s stime saddr daddr tcp")
	f.Add("-sstime saddr -- pkts gt 5")
	f.Add("--fields=stime +dur -r x -m saddr/24 daddr")
	f.Add("-s -- -s saddr")
	fs := cli.NewFlagSet("cluster", "", os.Stderr)
	var c common
	c.register(fs)
	fs.StringArrayP("keys", "m", nil, "")
	f.Fuzz(func(t *testing.T, line string) {
		in := strings.Fields(line)
		out, j := joinFieldWords(fs, in)
		if got := strings.Fields(strings.Join(out, " ")); !slices.Equal(got, in) {
			t.Fatalf("%q became %q", in, out)
		}
		if d := slices.Index(in, "--"); d >= 0 {
			if od := slices.Index(out, "--"); od < 0 || !slices.Equal(out[od:], in[d:]) {
				t.Fatalf("%q: the words from -- on changed: %q", in, out)
			}
		}
		_ = j.hint(in)
	})
}
