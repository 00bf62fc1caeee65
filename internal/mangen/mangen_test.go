package mangen

import (
	"strings"
	"testing"
	"unicode"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		`"\t" is a tab`: `"\et" is a tab`,
		".hidden":       `\&.hidden`,
		"'quoted":       `\&'quoted`,
		"a — b":         `a \[u2014] b`,
		"plain -r FILE": "plain -r FILE",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzEscape: whatever the text, the escaped form is ASCII, starts no control line, and
// every backslash in it begins one of the escapes Escape writes.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", ".TH x", `a\b`, "é", "'x", "\\\\."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		for _, r := range out {
			if r > unicode.MaxASCII {
				t.Fatalf("Escape(%q) = %q: not ASCII", s, out)
			}
		}
		if strings.HasPrefix(out, ".") || strings.HasPrefix(out, "'") {
			t.Fatalf("Escape(%q) = %q: a control line", s, out)
		}
		for i := strings.IndexByte(out, '\\'); i >= 0; i = strings.IndexByte(out, '\\') {
			rest := out[i+1:]
			if !strings.HasPrefix(rest, "e") && !strings.HasPrefix(rest, "&") && !strings.HasPrefix(rest, "[u") {
				t.Fatalf("Escape(%q) = %q: a bare backslash", s, out)
			}
			out = rest[1:]
		}
	})
}
