package completion

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"

	"panoptes/internal/clidoc"
)

func testSource() Source {
	fs := pflag.NewFlagSet("read", pflag.ContinueOnError)
	fs.SortFlags = false // as cli.NewFlagSet
	fs.StringArrayP("read", "r", nil, "read records from `FILE`")
	fs.StringArrayP("fields", "s", nil, "print these `FIELDS`")
	fs.Bool("json", false, "JSON Lines")
	fs.BoolP("numeric", "n", false, "numbers")
	read := clidoc.FromFlagSet("read", "read records", "-r FILE", fs)
	return Source{
		Commands: []Entry{{"read", "read records"}, {"relay", "relay"}, {"sort", "sort"}},
		Describe: func(name string) (clidoc.Command, bool) { return read, name == "read" },
		Fields:   []Entry{{"saddr", "SrcAddr"}, {"sport", "Sport"}, {"daddr", "DstAddr"}},
		Words:    map[string][]string{"read": {"sub"}},
		Topics:   []Entry{{"filter", "the filter language"}},
		Shells:   Shells,
	}
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{""}, []string{"read", "relay", "sort"}},
		{[]string{"re"}, []string{"read", "relay"}},
		{[]string{"--v"}, []string{"--version"}},
		{[]string{"help", "f"}, []string{"filter"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}},
		{[]string{"read", "--j"}, []string{"--json"}},
		{[]string{"read", "-"}, nil}, // "-" alone: stdin, a file name
		{[]string{"read", "--"}, []string{"--read", "--fields", "--json", "--numeric"}},
		{[]string{"read", "-s", "s"}, []string{"saddr", "sport"}},
		{[]string{"read", "-ns", "d"}, []string{"daddr"}}, // the last shorthand takes the value
		{[]string{"read", "-s", "saddr,+2s"}, []string{"saddr,+2saddr", "saddr,+2sport"}},
		{[]string{"read", "-s", "-sp"}, []string{"-sport"}},
		{[]string{"read", "--fields=d"}, []string{"--fields=daddr"}},
		{[]string{"read", "-r", ""}, nil},             // a file
		{[]string{"read", "-n", ""}, []string{"sub"}}, // a switch takes no value
		{[]string{"read", "-r", "x", "y", ""}, nil},   // an argument was given
		{[]string{"read", "--", "-s", "s"}, nil},      // the filter
		{[]string{"frob", "-"}, nil},
	} {
		var got []string
		for _, c := range Complete(testSource(), tc.words) {
			got = append(got, c.Value)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.words, got, tc.want)
		}
	}
}

func TestScript(t *testing.T) {
	for _, sh := range Shells {
		if s, err := Script(sh); err != nil || s == "" {
			t.Errorf("%s: %v", sh, err)
		}
	}
	if _, err := Script("tcsh"); err == nil {
		t.Error("tcsh: no error")
	}
}
