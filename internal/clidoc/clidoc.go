// Package clidoc describes a panoptes subcommand from its own flag set: the text --help
// prints, and the structure man pages (internal/mangen) and shell completion
// (internal/completion) are generated from, so that all three say the same thing.
package clidoc

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// Command is one subcommand as its flag set describes it.
type Command struct {
	Name    string // "read", "bench loss"
	Summary string // one line: what it does (and the Argus client it stands for)
	Usage   string // the synopsis after "panoptes NAME"
	Flags   []Flag
	// fs is the flag set itself, for the help text (pflag's own layout).
	fs *pflag.FlagSet
}

// Flag is one flag of a command.
type Flag struct {
	Long, Short string
	Arg         string // the value's name (FILE, FIELDS); empty for a switch
	Usage       string // the description, with the value's name in it
	Default     string // empty when the default is the zero value
	// Fields: the value is a list of record field names (-s, -m), which completion offers.
	Fields bool
}

// FromFlagSet describes a command by its flag set, as cli.NewFlagSet made it.
func FromFlagSet(name, summary, usage string, fs *pflag.FlagSet) Command {
	c := Command{Name: name, Summary: summary, Usage: usage, fs: fs}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		arg, text := pflag.UnquoteUsage(f)
		fl := Flag{Long: f.Name, Short: f.Shorthand, Usage: text}
		// A flag that takes no value: a switch (its NoOptDefVal is what it sets).
		if f.NoOptDefVal == "" {
			fl.Arg = arg
		}
		if !zero(f) {
			fl.Default = f.DefValue
		}
		fl.Fields = (f.Name == "fields" || f.Name == "keys") && fl.Arg != ""
		c.Flags = append(c.Flags, fl)
	})
	return c
}

// zero says whether f's default is its type's zero value, which help does not print.
func zero(f *pflag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "[]", "0s", "<nil>":
		return true
	}
	return false
}

// Takes says whether the flag takes a value (a separate word, or after "=").
func (f Flag) Takes() bool { return f.Arg != "" }

// WriteHelp writes the help text: the summary, the synopsis and the flags.
func (c Command) WriteHelp(w io.Writer) {
	fmt.Fprintf(w, "panoptes %s: %s\n\nusage: panoptes %s %s\n", c.Name, c.Summary, c.Name, c.Usage)
	if c.fs != nil && c.fs.HasAvailableFlags() {
		fmt.Fprintf(w, "\nflags:\n%s", c.fs.FlagUsages())
	}
	fmt.Fprintf(w, "\nThe filter language: panoptes help filter. Manual: man panoptes-%s.\n", strings.ReplaceAll(c.Name, " ", "-"))
}

// Flag returns the flag named by a command-line word: "--fields", "-s", or the
// shorthand in "-ns" that takes the value (the last one).
func (c Command) Flag(word string) (Flag, bool) {
	if long, ok := strings.CutPrefix(word, "--"); ok {
		long, _, _ = strings.Cut(long, "=")
		for _, f := range c.Flags {
			if f.Long == long {
				return f, true
			}
		}
		return Flag{}, false
	}
	if short, ok := strings.CutPrefix(word, "-"); ok && short != "" {
		last := short[len(short)-1:]
		for _, f := range c.Flags {
			if f.Short == last {
				return f, true
			}
		}
	}
	return Flag{}, false
}
