package clidoc

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestFromFlagSet(t *testing.T) {
	fs := pflag.NewFlagSet("read", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringArrayP("fields", "s", nil, "print these `FIELDS`")
	fs.BoolP("numeric", "n", false, "print protocols as numbers")
	fs.IntP("precision", "p", 6, "`DIGITS` after the point")
	fs.String("hidden", "", "not shown")
	fs.MarkHidden("hidden")
	c := FromFlagSet("read", "read records", "-r FILE", fs)
	want := []Flag{
		{Long: "fields", Short: "s", Arg: "FIELDS", Usage: "print these FIELDS", Fields: true},
		{Long: "numeric", Short: "n", Usage: "print protocols as numbers"},
		{Long: "precision", Short: "p", Arg: "DIGITS", Usage: "DIGITS after the point", Default: "6"},
	}
	if len(c.Flags) != len(want) {
		t.Fatalf("flags %+v, want %+v", c.Flags, want)
	}
	for i := range want {
		if c.Flags[i] != want[i] {
			t.Errorf("flag %d: %+v, want %+v", i, c.Flags[i], want[i])
		}
	}
	for word, long := range map[string]string{"--fields": "fields", "-s": "fields", "-ns": "fields", "--fields=x": "fields", "-n": "numeric"} {
		if f, ok := c.Flag(word); !ok || f.Long != long {
			t.Errorf("Flag(%q) = %+v %v, want --%s", word, f, ok, long)
		}
	}
	if _, ok := c.Flag("--hidden"); ok {
		t.Error("a hidden flag is offered")
	}
	var b bytes.Buffer
	c.WriteHelp(&b)
	for _, s := range []string{"panoptes read: read records\n", "usage: panoptes read -r FILE\n", "-s, --fields FIELDS", "(default 6)"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("help lacks %q:\n%s", s, b.String())
		}
	}
	if strings.Contains(b.String(), "hidden") {
		t.Errorf("help shows a hidden flag:\n%s", b.String())
	}
}
