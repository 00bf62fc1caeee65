// Package completion completes panoptes command lines for bash, zsh and fish. The
// shells' scripts (Script) are small shims that ask the binary itself, `panoptes
// __complete WORD...`, so that subcommands, flags and field names come from the same
// flag sets and field registry as --help and cannot drift from the binary installed.
package completion

import (
	"fmt"
	"io"
	"strings"

	"panoptes/internal/clidoc"
)

// Entry is a word with what it means: a command, a field.
type Entry struct{ Name, Summary string }

// Source is what completion knows of the program.
type Source struct {
	Commands []Entry                                  // subcommands and built-in commands
	Describe func(name string) (clidoc.Command, bool) // a subcommand's flags
	Fields   []Entry                                  // record field names, offered after -s and -m
	Words    map[string][]string                      // a command's words before any other argument (bench: loss)
	Topics   []Entry                                  // help's topics besides the commands (filter)
	Shells   []string
}

// Candidate is one completion, with a description the shell may show beside it.
type Candidate struct{ Value, Desc string }

// Write prints candidates one a line, "VALUE\tDESCRIPTION": the shims' input.
func Write(w io.Writer, cs []Candidate) {
	for _, c := range cs {
		fmt.Fprintf(w, "%s\t%s\n", c.Value, c.Desc)
	}
}

// Complete returns the candidates for the last of words, the words after "panoptes" up
// to the cursor (the last may be empty). None means the shell's own completion, file
// names, is the right one (after -r, -w, -R, and for arguments).
func Complete(src Source, words []string) []Candidate {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	if len(before) == 0 {
		out := match(src.Commands, cur, "")
		if strings.HasPrefix(cur, "-") {
			out = append(out, match([]Entry{{"--help", "list the commands"}, {"--version", "print the version"}}, cur, "")...)
		}
		return out
	}
	switch before[0] {
	case "help":
		if len(before) == 1 {
			return match(append(append([]Entry{}, src.Topics...), src.Commands...), cur, "")
		}
		return nil
	case "completion":
		if len(before) == 1 {
			var es []Entry
			for _, s := range src.Shells {
				es = append(es, Entry{s, "the " + s + " completion script"})
			}
			return match(es, cur, "")
		}
		return nil
	}
	c, ok := src.Describe(before[0])
	if !ok {
		return nil
	}
	rest := before[1:]
	for _, w := range rest {
		if w == "--" {
			return nil // the filter
		}
	}
	// --flag=VALUE in one word.
	if strings.HasPrefix(cur, "--") && strings.Contains(cur, "=") {
		name, val, _ := strings.Cut(cur, "=")
		if f, ok := c.Flag(name); ok && f.Takes() {
			return values(src, f, val, name+"=")
		}
		return nil
	}
	// The value of the flag before it.
	if n := len(rest); n > 0 && strings.HasPrefix(rest[n-1], "-") && rest[n-1] != "-" && !strings.Contains(rest[n-1], "=") {
		if f, ok := c.Flag(rest[n-1]); ok && f.Takes() {
			return values(src, f, cur, "")
		}
	}
	if strings.HasPrefix(cur, "-") && cur != "-" {
		var es []Entry
		for _, f := range c.Flags {
			es = append(es, Entry{"--" + f.Long, f.Usage})
			if f.Short != "" && !strings.HasPrefix(cur, "--") {
				es = append(es, Entry{"-" + f.Short, f.Usage})
			}
		}
		return match(es, cur, "")
	}
	if ws := src.Words[before[0]]; len(ws) > 0 && !hasArgument(c, rest) {
		var es []Entry
		for _, w := range ws {
			es = append(es, Entry{w, ""})
		}
		return match(es, cur, "")
	}
	return nil
}

// hasArgument says whether words hold an argument that is no flag and no flag's value.
func hasArgument(c clidoc.Command, words []string) bool {
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") || w == "-" {
			return true
		}
		if f, ok := c.Flag(w); ok && f.Takes() && !strings.Contains(w, "=") {
			i++ // its value
		}
	}
	return false
}

// values completes a flag's value: a list of field names for -s and -m (after the last
// comma, with ra's + and - and +N prefixes kept), nothing (file names) otherwise.
func values(src Source, f clidoc.Flag, cur, prefix string) []Candidate {
	if !f.Fields {
		return nil
	}
	head := ""
	if i := strings.LastIndexAny(cur, ", "); i >= 0 {
		head, cur = cur[:i+1], cur[i+1:]
	}
	sign := ""
	if strings.HasPrefix(cur, "+") || strings.HasPrefix(cur, "-") {
		j := 1
		for j < len(cur) && cur[j] >= '0' && cur[j] <= '9' {
			j++
		}
		sign, cur = cur[:j], cur[j:]
	}
	return match(src.Fields, cur, prefix+head+sign)
}

// match returns the entries that start with cur, each with prefix before it.
func match(es []Entry, cur, prefix string) []Candidate {
	var out []Candidate
	for _, e := range es {
		if strings.HasPrefix(e.Name, cur) {
			out = append(out, Candidate{prefix + e.Name, firstLine(e.Summary)})
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	return s
}
