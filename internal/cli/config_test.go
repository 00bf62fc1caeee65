package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestReadConfig(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Setting
		err  string
	}{
		{"", nil, ""},
		{"# only a comment\n\n   \n", nil, ""},
		{"a = 1\n  b-c=two words  \n", []Setting{{"a", "1", 1}, {"b-c", "two words", 2}}, ""},
		{"filter = \"not port 22 # x\"\n", []Setting{{"filter", "not port 22 # x", 1}}, ""},
		{"x = \"a\\tb\"\r\n", []Setting{{"x", "a\tb", 1}}, ""},
		{"x =\n", []Setting{{"x", "", 1}}, ""},
		{"x = a = b\n", []Setting{{"x", "a = b", 1}}, ""},
		{"\n\nnovalue\n", nil, "f.conf:3: want KEY = VALUE"},
		{" = 3\n", nil, "f.conf:1: no key before ="},
		{"--x = 3\n", nil, "f.conf:1: key \"--x\": write the flag name without dashes"},
		{"a b = 3\n", nil, "f.conf:1: key \"a b\": not a flag name"},
		{"x = \"open\n", nil, "f.conf:1: x: bad quoted value"},
		{"x = \xff\n", nil, "f.conf:1: x: value is not UTF-8"},
		{"x = " + strings.Repeat("a", maxConfigLine) + "\n", nil, "f.conf:1: line longer than"},
	} {
		got, err := ReadConfig(strings.NewReader(tc.in), "f.conf")
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("%.30q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%.30q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func testFlags() (*pflag.FlagSet, *string, *int, *bool, *time.Duration, *[]string) {
	fs := NewFlagSet("test", "", io.Discard)
	s := fs.StringP("write", "w", "", "")
	n := fs.Int("queues", 0, "")
	b := fs.Bool("reshard", false, "")
	d := fs.Duration("tcp-timeout", time.Minute, "")
	r := fs.StringArrayP("read", "r", nil, "")
	return fs, s, n, b, d, r
}

func TestParseWithConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "t.conf")
	os.WriteFile(conf, []byte("write = /srv/a/\nqueues = 4\nreshard = true\ntcp-timeout = 2m\nread = x\nread = y\n"), 0o644)

	fs, s, n, b, d, r := testFlags()
	if _, err := ParseWithConfig(fs, []string{"--config", conf, "--queues", "2"}, "/nonexistent/default.conf"); err != nil {
		t.Fatal(err)
	}
	if *s != "/srv/a/" || *n != 2 || !*b || *d != 2*time.Minute || !reflect.DeepEqual(*r, []string{"x", "y"}) {
		t.Errorf("got write=%q queues=%d reshard=%v tcp-timeout=%v read=%v; want the file's values, queues from the command line", *s, *n, *b, *d, *r)
	}

	// The default path is read when it exists, ignored when it does not.
	fs, s, _, _, _, _ = testFlags()
	if _, err := ParseWithConfig(fs, nil, conf); err != nil || *s != "/srv/a/" {
		t.Errorf("default path: %v, write=%q", err, *s)
	}
	fs, s, _, _, _, _ = testFlags()
	if _, err := ParseWithConfig(fs, []string{"-w", "o"}, filepath.Join(dir, "none.conf")); err != nil || *s != "o" {
		t.Errorf("missing default path: %v, write=%q", err, *s)
	}
	fs, s, _, _, _, _ = testFlags()
	if _, err := ParseWithConfig(fs, []string{"--config", ""}, conf); err != nil || *s != "" {
		t.Errorf("--config \"\": %v, write=%q", err, *s)
	}

	for _, tc := range []struct{ conf, want string }{
		{"queues = many\n", "t.conf:1: queues = many: "},
		{"\nhelp = true\n", "t.conf:2: unknown key \"help\""},
		{"config = other.conf\n", "t.conf:1: unknown key \"config\""},
		{"queues = 1\nqueues = 2\n", "t.conf:2: queues is already set on line 1"},
	} {
		os.WriteFile(conf, []byte(tc.conf), 0o644)
		fs, _, _, _, _, _ := testFlags()
		_, err := ParseWithConfig(fs, []string{"--config", conf}, "")
		var ue *UsageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want a usage error containing %q", tc.conf, err, tc.want)
		}
	}
	fs, _, _, _, _, _ = testFlags()
	if _, err := ParseWithConfig(fs, []string{"--config", filepath.Join(dir, "absent")}, ""); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("absent --config file: %v", err)
	}
}

// FuzzReadConfig checks that any file either parses into settings that apply or are
// refused with an error naming the file, and never panics.
func FuzzReadConfig(f *testing.F) {
	for _, s := range []string{"", "a = 1\n", "# c\nwrite = /x/\n", "filter = \"tcp and port 80\"\n", "queues=\n", "x = \"\\u00e9\"\n", "=\n", "reshard = true\nread = a\nread = b\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		settings, err := ReadConfig(strings.NewReader(string(data)), "fuzz.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, s := range settings {
			if s.Key == "" || s.Line <= 0 {
				t.Fatalf("bad setting %+v", s)
			}
		}
		fs, _, _, _, _, _ := testFlags()
		if err := ApplyConfig(fs, settings, "fuzz.conf"); err != nil && !strings.HasPrefix(err.Error(), "fuzz.conf:") {
			t.Fatalf("apply error does not name the file and line: %v", err)
		}
	})
}
