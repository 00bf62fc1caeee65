package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/pflag"
)

// Config files
//
// A configuration file sets a command's long flags, one per line:
//
//	# comment (a line whose first non-blank character is #)
//	interface = eth0,eth1
//	write = /var/lib/panoptes/archive/
//	filter = "not port 22"
//
// Blank lines and comments are skipped. A line is KEY = VALUE: KEY is a long flag name
// of the command (without --), VALUE is the rest of the line with surrounding blanks
// removed; a value in double quotes is unquoted as a Go string ("a\tb", "x # y"), so
// blanks at its ends and # are kept. Anything else after the value, including a
// trailing # comment, is part of the value. A boolean flag takes true or false. A key
// may appear once, except for a flag that accumulates (given several times on the
// command line, as -r). Flags on the command line override the file: a key whose flag
// was given on the command line is skipped.

// Setting is one KEY = VALUE line of a configuration file.
type Setting struct {
	Key, Value string
	Line       int
}

// ConfigError is a configuration file error, naming the file and line.
type ConfigError struct {
	File string
	Line int
	Err  error
}

func (e *ConfigError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}
func (e *ConfigError) Unwrap() error { return e.Err }

// maxConfigLine bounds a line, so that a wrong file (a binary, a capture) is refused
// with a line number rather than read into memory whole.
const maxConfigLine = 64 << 10

// ReadConfig parses a configuration file's lines. name is used in errors.
func ReadConfig(r io.Reader, name string) ([]Setting, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxConfigLine)
	var out []Setting
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		bad := func(format string, args ...any) error {
			return &ConfigError{File: name, Line: n, Err: fmt.Errorf(format, args...)}
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, bad("want KEY = VALUE, got %q", clip(line))
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "" {
			return nil, bad("no key before =")
		}
		if strings.HasPrefix(key, "-") {
			return nil, bad("key %q: write the flag name without dashes", clip(key))
		}
		for _, c := range key {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return nil, bad("key %q: not a flag name", clip(key))
			}
		}
		if strings.HasPrefix(val, `"`) {
			u, err := strconv.Unquote(val)
			if err != nil {
				return nil, bad("%s: bad quoted value %s", key, clip(val))
			}
			val = u
		}
		if !utf8.ValidString(val) {
			return nil, bad("%s: value is not UTF-8 text", key)
		}
		out = append(out, Setting{Key: key, Value: val, Line: n})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ConfigError{File: name, Line: n + 1, Err: fmt.Errorf("line longer than %d bytes (not a configuration file?)", maxConfigLine)}
		}
		return nil, &ConfigError{File: name, Err: err}
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ApplyConfig sets fs's flags from settings, skipping flags already set (given on the
// command line). Unknown keys, bad values and repeated keys are errors naming name and
// the line.
func ApplyConfig(fs *pflag.FlagSet, settings []Setting, name string) error {
	given := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = true })
	seen := map[string]int{}
	for _, s := range settings {
		bad := func(format string, args ...any) error {
			return &ConfigError{File: name, Line: s.Line, Err: fmt.Errorf(format, args...)}
		}
		f := fs.Lookup(s.Key)
		if f == nil || f.Name == "help" || f.Name == configFlag {
			return bad("unknown key %q (keys are the long flag names of `panoptes %s`)", clip(s.Key), fs.Name())
		}
		if prev, ok := seen[s.Key]; ok && !accumulates(f) {
			return bad("%s is already set on line %d", s.Key, prev)
		}
		seen[s.Key] = s.Line
		if given[s.Key] {
			continue
		}
		if err := f.Value.Set(s.Value); err != nil {
			return bad("%s = %s: %v", s.Key, clip(s.Value), err)
		}
		f.Changed = true
	}
	return nil
}

// accumulates says whether a flag collects every value given (slices, arrays, counts).
func accumulates(f *pflag.Flag) bool {
	t := f.Value.Type()
	return strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array") || t == "count"
}

const configFlag = "config"

// ParseWithConfig parses args as Parse does, with a --config FILE flag (default
// defaultPath) whose settings fill the flags not given on the command line. A missing
// file at the default path is not an error (the command runs on its flags); a missing
// file given with --config is. --config "" reads no file.
func ParseWithConfig(fs *pflag.FlagSet, args []string, defaultPath string) (rest []string, err error) {
	path := fs.String(configFlag, defaultPath, "configuration file of KEY = VALUE lines with the long flag names (\"\": none); flags on the command line override it")
	if rest, err = Parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" {
		return rest, nil
	}
	f, err := os.Open(*path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !fs.Changed(configFlag) {
			return rest, nil
		}
		return nil, &UsageError{Err: fmt.Errorf("--config: %w", err)}
	}
	defer f.Close()
	settings, err := ReadConfig(f, *path)
	if err == nil {
		err = ApplyConfig(fs, settings, *path)
	}
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	return rest, nil
}
