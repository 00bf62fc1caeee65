// Package rarc reads Argus's client resource file, ~/.rarc (rarc(5)), so that the
// habits a site has set for ra carry over to the Panoptes tools. It only parses and
// finds the file; which keys mean what is the tools' business.
//
// The syntax, as argus-clients 3.0.8 reads it:
//
//	# a comment: a line whose first non-blank character is #
//	RA_FIELD_SPECIFIER="stime saddr daddr spkts dpkts"
//	RA_FIELD_DELIMITER=','
//	RA_PRINT_LABELS=0
//
// A line is KEY=VALUE. Double quotes only delimit ("the parser will remove double
// quote characters", rarc(5)): a value that starts with one ends at the next, and a
// # comment may follow it; an unquoted value is the rest of the line, blanks at its
// end removed, with any double quotes dropped. A value in single quotes ('\t', ','),
// ra's form for RA_FIELD_DELIMITER, loses them. An empty value ("") means the key is
// not set, as in Argus. ra refuses blanks around '='; they are allowed here.
package rarc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Setting is one KEY=VALUE line.
type Setting struct {
	Key, Value string
	Line       int
}

// maxLine bounds a line, so that a wrong file (a binary, a capture) is refused with a
// line number rather than read into memory whole.
const maxLine = 64 << 10

// Parse reads a resource file's settings in file order (a key may repeat: ra lets a
// later line add to or replace an earlier one, depending on the key). name is used in
// errors, which name the file and line.
func Parse(r io.Reader, name string) ([]Setting, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	var out []Setting
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, args...))
		}
		if !utf8.ValidString(line) {
			return nil, bad("not UTF-8 text")
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, bad("want KEY=VALUE, got %q", clip(line))
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "" {
			return nil, bad("no key before =")
		}
		for _, c := range key {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return nil, bad("key %q: want letters, digits and _ (as RA_PRINT_LABELS)", clip(key))
			}
		}
		if strings.HasPrefix(val, `"`) {
			end := strings.IndexByte(val[1:], '"')
			if end < 0 {
				return nil, bad("%s: no closing \" in %s", key, clip(val))
			}
			rest := strings.TrimSpace(val[end+2:])
			if rest != "" && rest[0] != '#' {
				return nil, bad("%s: text after the closing quote: %q", key, clip(rest))
			}
			val = val[1 : end+1]
		} else {
			val = strings.ReplaceAll(val, `"`, "")
		}
		if len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'' {
			val = val[1 : len(val)-1]
		}
		out = append(out, Setting{Key: key, Value: val, Line: n})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes (not an rarc file?)", name, n+1, maxLine)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Format writes settings as Parse reads them back: KEY="VALUE", one a line. A value
// that is itself in single quotes gets another pair, which Parse removes.
func Format(w io.Writer, settings []Setting) error {
	bw := bufio.NewWriter(w)
	for _, s := range settings {
		v := s.Value
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = "'" + v + "'"
		}
		fmt.Fprintf(bw, "%s=\"%s\"\n", s.Key, v)
	}
	return bw.Flush()
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Path returns the resource file the tools read, or "" for none:
//
//   - $RARC when it is set: the file it names, and an empty RARC turns the file off
//     (scripts and tests that must not depend on a user's habits set RARC=);
//   - otherwise the first that exists of $ARGUSHOME/ra.conf and $HOME/.rarc, in ra's
//     order (ra reads only the first it finds).
//
// ra looks at /etc/ra.conf before these; Panoptes does not, because Debian's
// argus-client package installs one on every machine that has ra, holding Argus's
// defaults rather than a user's choices: Panoptes's output would depend on whether
// argus-client is installed, and every run would warn about its keys.
func Path(lookupEnv func(string) (string, bool), exists func(string) bool) string {
	if p, ok := lookupEnv("RARC"); ok {
		return p
	}
	if h, ok := lookupEnv("ARGUSHOME"); ok && h != "" {
		if p := filepath.Join(h, "ra.conf"); exists(p) {
			return p
		}
	}
	if h, ok := lookupEnv("HOME"); ok && h != "" {
		if p := filepath.Join(h, ".rarc"); exists(p) {
			return p
		}
	}
	return ""
}

// Load finds the resource file (Path, with the process environment) and parses it. It
// returns the file's name with its settings; no file gives "" and no settings. A file
// named by RARC that cannot be read is an error; so is a file that is found but
// cannot be read or parsed.
func Load() (string, []Setting, error) {
	p := Path(os.LookupEnv, func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	})
	if p == "" {
		return "", nil, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return p, nil, fmt.Errorf("rarc: %w", err)
	}
	defer f.Close()
	s, err := Parse(f, p)
	return p, s, err
}
