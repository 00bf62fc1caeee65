package label

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"panoptes/filter"
)

// Rule adds Label to the records Filter selects. Rules are tried in order; after a
// rule that matched, the next ones are tried only if Cont is set.
type Rule struct {
	Filter *filter.Filter
	Label  string
	Cont   bool
}

// RulesError is a bad line in a rules file.
type RulesError struct {
	File string
	Line int
	Msg  string
}

func (e *RulesError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseRules reads a rules file. Two line forms are accepted, with "#" comments:
//
//	FILTER => label text                      every matching rule adds its label
//	filter="FILTER" label="text" [cont]       ralabel's flow file: the first match wins
//	                                          unless it ends in "cont"
//
// Labels may not contain ";" (it separates labels in a record).
func ParseRules(r io.Reader, name string) ([]Rule, error) {
	var rules []Rule
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == '!' {
			continue
		}
		bad := func(format string, args ...any) error {
			return &RulesError{File: name, Line: line, Msg: fmt.Sprintf(format, clipArgs(args)...)}
		}
		var expr, text string
		cont := true
		if !strings.Contains(s, "=>") {
			var err error
			expr, text, cont, err = parseArgusRule(s)
			if err != nil {
				return nil, bad("%v", err)
			}
		} else {
			var ok bool
			expr, text, ok = strings.Cut(s, "=>")
			if !ok {
				return nil, bad(`expected "FILTER => label" or filter="..." label="..." [cont]`)
			}
			expr, text = strings.TrimSpace(expr), strings.TrimSpace(text)
		}
		if text == "" {
			return nil, bad("empty label")
		}
		if strings.Contains(text, ";") {
			return nil, bad("label %q holds a ';' (it separates labels)", text)
		}
		f, err := filter.Compile(expr)
		if err != nil {
			return nil, bad("%v", err)
		}
		rules = append(rules, Rule{Filter: f, Label: text, Cont: cont})
	}
	if err := sc.Err(); err != nil {
		return nil, &RulesError{File: name, Line: line + 1, Msg: err.Error()}
	}
	return rules, nil
}

// parseArgusRule parses filter="..." label="..." [color="..."] [cont].
func parseArgusRule(s string) (expr, label string, cont bool, err error) {
	seen := map[string]bool{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s == "cont" || strings.HasPrefix(s, "cont ") {
			cont, s = true, s[4:]
			continue
		}
		key, rest, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || (key != "filter" && key != "label" && key != "color") {
			return "", "", false, fmt.Errorf(`expected "FILTER => label" or filter="..." label="..." [cont], found %q`, clip(firstWord(s)))
		}
		rest = strings.TrimSpace(rest)
		if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
			return "", "", false, fmt.Errorf("%s= needs a quoted value", key)
		}
		end := strings.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return "", "", false, fmt.Errorf("%s= value has no closing quote", key)
		}
		if seen[key] {
			return "", "", false, fmt.Errorf("%s= given twice", key)
		}
		seen[key] = true
		val := rest[1 : end+1]
		switch key {
		case "filter":
			expr = val
		case "label":
			label = val
		}
		s = rest[end+2:]
	}
	if !seen["filter"] {
		return "", "", false, fmt.Errorf("no filter=")
	}
	return expr, label, cont, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t="); i >= 0 {
		return s[:i]
	}
	return s
}

// echoMax is how much of a rules or RIR file's text an error repeats: a line may be
// 64 KB, the error stays one short line.
const echoMax = 40

// clip cuts s to its first echoMax bytes (on a character boundary) and "...".
func clip(s string) string {
	if len(s) <= echoMax {
		return s
	}
	i := echoMax
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// clipArgs clips the string arguments of an error message.
func clipArgs(args []any) []any {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clip(s)
		}
	}
	return args
}
