package rarc

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []Setting
		err      string
	}{
		{name: "argus sample", in: "# comment\n\nRA_SET_PID=\"no\"\nRA_PRINT_LABELS=0\n   \nRA_FIELD_SPECIFIER=\"stime flgs proto saddr\"\nRA_FIELD_DELIMITER=''\n",
			want: []Setting{{"RA_SET_PID", "no", 3}, {"RA_PRINT_LABELS", "0", 4}, {"RA_FIELD_SPECIFIER", "stime flgs proto saddr", 6}, {"RA_FIELD_DELIMITER", "", 7}}},
		{name: "single quotes", in: "RA_FIELD_DELIMITER=','\nRA_FIELD_DELIMITER='\\t'\n",
			want: []Setting{{"RA_FIELD_DELIMITER", ",", 1}, {"RA_FIELD_DELIMITER", `\t`, 2}}},
		{name: "indented, blanks, CRLF", in: "  RA_PRINT_LABELS = -1 \r\n\t# x\r\n",
			want: []Setting{{"RA_PRINT_LABELS", "-1", 1}}},
		{name: "comment after quotes", in: `RA_FIELD_SPECIFIER="stime saddr" # mine` + "\n",
			want: []Setting{{"RA_FIELD_SPECIFIER", "stime saddr", 1}}},
		{name: "quoted blanks kept", in: `RA_FIELD_DELIMITER=" "`,
			want: []Setting{{"RA_FIELD_DELIMITER", " ", 1}}},
		{name: "unquoted quotes dropped", in: `RA_TIME_FORMAT=%T."%f"` + "\n",
			want: []Setting{{"RA_TIME_FORMAT", "%T.%f", 1}}},
		{name: "unquoted hash kept", in: "RA_FILTER=not port 22 # x\n",
			want: []Setting{{"RA_FILTER", "not port 22 # x", 1}}},
		{name: "no equals", in: "RA_PRINT_LABELS\n", err: `rc:1: want KEY=VALUE, got "RA_PRINT_LABELS"`},
		{name: "no key", in: "\n=3\n", err: "rc:2: no key before ="},
		{name: "bad key", in: "RA-X=1\n", err: `rc:1: key "RA-X"`},
		{name: "open quote", in: "RA_X=\"abc\n", err: `rc:1: RA_X: no closing "`},
		{name: "text after quote", in: "RA_X=\"a\" b\n", err: "rc:1: RA_X: text after the closing quote"},
		{name: "binary", in: "RA_X=\xff\n", err: "rc:1: not UTF-8"},
		{name: "long line", in: strings.Repeat("x", maxLine+10), err: "rc:1: line longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(c.in), "rc")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestPath(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	existing := map[string]bool{filepath.Join("/h", ".rarc"): true, filepath.Join("/a", "ra.conf"): true}
	exists := func(p string) bool { return existing[p] }
	for _, c := range []struct {
		name string
		env  func(string) (string, bool)
		want string
	}{
		{"RARC wins", env("RARC", "/x/rc", "HOME", "/h", "ARGUSHOME", "/a"), "/x/rc"},
		{"empty RARC turns it off", env("RARC", "", "HOME", "/h"), ""},
		{"ARGUSHOME before HOME, as ra", env("HOME", "/h", "ARGUSHOME", "/a"), filepath.Join("/a", "ra.conf")},
		{"ARGUSHOME without ra.conf", env("HOME", "/h", "ARGUSHOME", "/none"), filepath.Join("/h", ".rarc")},
		{"HOME", env("HOME", "/h"), filepath.Join("/h", ".rarc")},
		{"no .rarc", env("HOME", "/nobody"), ""},
		{"nothing", env(), ""},
	} {
		if got := Path(c.env, exists); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rc")
	t.Setenv("RARC", p)
	if _, _, err := Load(); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("missing RARC file: error %v, want one naming %s", err, p)
	}
	t.Setenv("RARC", "")
	t.Setenv("HOME", dir)
	if name, s, err := Load(); name != "" || s != nil || err != nil {
		t.Errorf("RARC=: %q %v %v, want nothing", name, s, err)
	}
}

// FuzzParse: Parse never panics; an error comes with no settings; and the settings it
// returns round-trip: written by Format and parsed again, the same keys and values,
// in the same order.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"RA_PRINT_LABELS=0\n", "RA_FIELD_DELIMITER=','\n", `RA_FIELD_SPECIFIER="stime saddr" # c`,
		"# x\n  RA_X = \"\" \n", "RA_X=a\"b\"c\n", "RA_X='\n", "RA_X=''''\n", "=\n", "RA_X=\"a\" b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Parse(strings.NewReader(in), "f")
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with settings %+v", err, got)
			}
			return
		}
		var buf bytes.Buffer
		if err := Format(&buf, got); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(&buf, "g")
		if err != nil {
			t.Fatalf("%q: formatted settings do not parse: %v\n%s", in, err, buf.String())
		}
		if len(again) != len(got) {
			t.Fatalf("%q: %d settings, %d after the round trip", in, len(got), len(again))
		}
		for i := range got {
			if again[i].Key != got[i].Key || again[i].Value != got[i].Value {
				t.Fatalf("%q: setting %d %q=%q came back as %q=%q", in, i, got[i].Key, got[i].Value, again[i].Key, again[i].Value)
			}
		}
	})
}
