package tools

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"panoptes/filter"
	"panoptes/internal/cli"
	"panoptes/internal/rarc"
	"panoptes/record"
)

// Habits from ra: the settings of Argus's resource file (~/.rarc) and the field lists
// ra users write as separate words (-s stime saddr daddr).

// rarcKey says how an rarc key sets a Panoptes flag.
type rarcKey struct {
	flag string
	// value converts the rarc value to the flag's; nil passes it as it is.
	value func(string) (string, error)
	// tools, when set, are the only commands the key applies to (RA_SORT_ALGORITHMS
	// is rasort's default -m, not racluster's).
	tools []string
	// when, if set, says whether the key applies given the flags on the command line.
	when func(fs *pflag.FlagSet) bool
}

// rarcKeys are the rarc(5) keys with a Panoptes equivalent. A key applies to every
// tool that has its flag, unless that flag was given on the command line: flags beat
// the file. Other keys are reported once per run and ignored.
var rarcKeys = map[string]rarcKey{
	"RA_FIELD_SPECIFIER": {flag: "fields"},
	"RA_FIELD_DELIMITER": {flag: "delimiter", when: func(fs *pflag.FlagSet) bool { return !fs.Changed("json") }},
	"RA_PRINT_LABELS":    {flag: "header"},
	"RA_USEC_PRECISION":  {flag: "precision"},
	"RA_TIME_FORMAT":     {flag: "time-format"},
	"RA_PRINT_UNIX_TIME": {flag: "epoch", value: yesNo},
	"RA_PRINT_NAMES":     {flag: "numeric", value: printNames},
	"RA_TIMERANGE":       {flag: "time"},
	"RA_NUMBER":          {flag: "count"},
	"RA_SORT_ALGORITHMS": {flag: "keys", tools: []string{"sort"}},
	// ra prints countries (sco, dco) from this file; Panoptes stores them in records
	// with label --rir, so the file is label's when it is given nothing else to do.
	"RA_DELEGATED_IP": {flag: "rir", when: func(fs *pflag.FlagSet) bool {
		return !fs.Changed("rir") && !fs.Changed("mmdb") && !fs.Changed("rules")
	}},
	"RA_FILTER": {}, // the filter when the command line has none (see applyRarc)
}

// yesNo maps rarc's yes/no to a boolean flag value.
func yesNo(v string) (string, error) {
	switch strings.ToLower(v) {
	case "yes", "y", "true", "1":
		return "true", nil
	case "no", "n", "false", "0":
		return "false", nil
	}
	return "", fmt.Errorf("want yes or no, got %q", v)
}

// printNames maps RA_PRINT_NAMES (none, proto, port, all) to -n: only "none" prints
// protocols as numbers; Panoptes always prints ports and addresses as numbers, and
// ra treats an unknown value as "port", silently.
func printNames(v string) (string, error) {
	if strings.EqualFold(v, "none") {
		return "true", nil
	}
	return "false", nil
}

// applyRarc sets fs's flags that were not given on the command line from the rarc
// file (rarc.Load), and returns the filter words: rest, or RA_FILTER's text when the
// command line has no filter (and useFilter). Keys with no Panoptes equivalent are
// named in one warning on stderr. prog is the subcommand, for messages and per-tool
// keys.
func applyRarc(fs *pflag.FlagSet, prog string, rest []string, useFilter bool, stderr io.Writer) ([]string, error) {
	name, settings, err := rarc.Load()
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	var unknown []string
	seenUnknown := map[string]bool{}
	lists := map[string][]string{} // list flags (-s, -m): the file's values in order
	for _, s := range settings {
		k, ok := rarcKeys[s.Key]
		if !ok {
			if !seenUnknown[s.Key] {
				seenUnknown[s.Key] = true
				unknown = append(unknown, s.Key)
			}
			continue
		}
		if s.Value == "" { // "" means not set (rarc(5))
			continue
		}
		if s.Key == "RA_FILTER" {
			if useFilter && len(rest) == 0 && fs.ArgsLenAtDash() < 0 {
				rest = []string{s.Value}
			}
			continue
		}
		f := fs.Lookup(k.flag)
		if f == nil || k.tools != nil && !contains(k.tools, prog) || k.when != nil && !k.when(fs) {
			continue
		}
		v := s.Value
		if k.value != nil {
			if v, err = k.value(v); err != nil {
				return nil, cli.Usagef("%s:%d: %s: %v", name, s.Line, s.Key, err)
			}
		}
		if k.flag == "fields" {
			if _, _, err := parseFields([]string{v}); err != nil {
				return nil, cli.Usagef("%s:%d: %s: %v", name, s.Line, s.Key, err)
			}
		}
		if _, ok := f.Value.(pflag.SliceValue); ok {
			lists[k.flag] = append(lists[k.flag], v) // ra adds a repeated RA_FIELD_SPECIFIER's fields
			continue
		}
		if fs.Changed(k.flag) {
			continue
		}
		if err := f.Value.Set(v); err != nil {
			return nil, cli.Usagef("%s:%d: %s=%s: %v", name, s.Line, s.Key, cli.Cut(s.Value, 0), err)
		}
	}
	for flag, vals := range lists {
		// Set without marking the flag as given: tools check fs.Changed for what the
		// user typed (top refuses -s).
		f := fs.Lookup(flag)
		sv := f.Value.(pflag.SliceValue)
		switch {
		case !fs.Changed(flag):
			sv.Replace(vals)
		case fieldEdits(sv):
			// +name and -name on the command line edit the file's list, as in ra; a
			// plain list replaces it.
			sv.Replace(append(vals, sv.GetSlice()...))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		fmt.Fprintf(stderr, "panoptes %s: warning: %s: ignoring %s (no Panoptes equivalent)\n", prog, name, strings.Join(unknown, ", "))
	}
	return rest, nil
}

// fieldEdits reports whether the -s lists given on the command line start with an
// edit (+name, -name) rather than a name: an edit changes the file's list.
func fieldEdits(sv pflag.SliceValue) bool {
	for _, spec := range sv.GetSlice() {
		items := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		if len(items) > 0 {
			return items[0][0] == '+' || items[0][0] == '-'
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// joinFieldWords implements ra's way of writing a field list: `-s stime saddr daddr`,
// the names as separate words, which ra's -s takes until the next word starting with
// '-'. The rule here: after -s (or --fields, -m, --keys) and its value, the words
// that follow and are field names (with ra's decorations: name:width, +name,
// name/24) join that value, up to the first word that is not one, a flag, or "--".
// So `-s stime saddr daddr -- tcp` and `-s stime saddr daddr tcp` both print three
// columns of the TCP records. A filter that starts with a word that is also a field
// name (pkts, bytes, loss, rate, load, label, sco, ...) needs "--" before it, as ra
// needs "-" before its filter; when it lacks it, the filter error suggests where the
// "--" goes (see joined.hint). Field words end at "--": what follows is always the
// filter.
func joinFieldWords(fs *pflag.FlagSet, args []string) ([]string, joined) {
	out := make([]string, 0, len(args))
	var last joined
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...), last
		}
		out = append(out, a)
		long, short, ok := listFlag(a)
		if !ok || fs.Lookup(long) == nil {
			continue
		}
		if f := fs.Lookup(long); f.Shorthand != short && short != "" {
			continue
		}
		flag, value := a, ""
		// The flag's value: inline (-sVALUE, --fields=VALUE) or the next word.
		if a == "-"+short || a == "--"+long {
			if i+1 >= len(args) || args[i+1] == "--" {
				continue
			}
			i++
			out = append(out, args[i])
			value = args[i]
		} else {
			flag, value = a[:2], strings.TrimPrefix(a[2:], "=")
			if long != "" && strings.HasPrefix(a, "--") {
				flag, value, _ = strings.Cut(a, "=")
			}
		}
		var words []string
		for i+1 < len(args) && isFieldWord(args[i+1]) {
			out[len(out)-1] += " " + args[i+1]
			words = append(words, args[i+1])
			i++
		}
		if len(words) > 0 {
			last = joined{flag: flag, value: value, words: words}
		}
	}
	return out, last
}

// joined is the last list flag that took field words: its value and the words.
type joined struct {
	flag, value string
	words       []string
}

// hint returns, for a filter that did not compile, the command line that would have
// worked had the last field words been filter words: ` (did you mean -s 'stime
// saddr' -- pkts gt 10?)`, or "" when no such split compiles.
func (j joined) hint(rest []string) string {
	for k := 1; k <= len(j.words); k++ {
		moved := j.words[len(j.words)-k:]
		words := append(append([]string(nil), moved...), rest...)
		if text, _ := filterText(words); text != "" {
			if _, err := filter.Compile(text); err == nil {
				list := strings.Join(append([]string{j.value}, j.words[:len(j.words)-k]...), " ")
				return fmt.Sprintf(" (did you mean %s '%s' -- %s? after %s, words that are field names are fields)", j.flag, list, text, j.flag)
			}
		}
	}
	return ""
}

// listFlag recognises the flags that take field lists: -s/--fields and -m/--keys, in
// any of pflag's forms.
func listFlag(a string) (long, short string, ok bool) {
	switch {
	case a == "--fields" || strings.HasPrefix(a, "--fields="):
		return "fields", "", true
	case a == "--keys" || strings.HasPrefix(a, "--keys="):
		return "keys", "", true
	case strings.HasPrefix(a, "-s") && !strings.HasPrefix(a, "--"):
		return "fields", "s", true
	case strings.HasPrefix(a, "-m") && !strings.HasPrefix(a, "--"):
		return "keys", "m", true
	}
	return "", "", false
}

// isFieldWord reports whether w names a field as -s and -m take it.
func isFieldWord(w string) bool {
	w = strings.TrimPrefix(w, "+")
	for len(w) > 0 && w[0] >= '0' && w[0] <= '9' { // +Nname
		w = w[1:]
	}
	if i := strings.IndexAny(w, ":/"); i >= 0 {
		w = w[:i]
	}
	_, ok := record.Lookup(w)
	return ok
}
