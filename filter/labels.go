package filter

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"panoptes/record"
)

// The label primitives select on what `panoptes label` (ralabel) adds to records:
//
//	sco CC | dco CC | co CC       country code of the source, destination, or either
//	sas N  | das N  | as N        AS number of the source, destination, or either
//	label TEXT | label "TEXT"     the label text matches TEXT, a regular expression
//	                              (RE2; plain text matches as a substring), as
//	                              ra's -M label="regex"
//
// Quotes let TEXT hold spaces and operator characters (label "web|dns"); it cannot
// hold a '"'.

// labelWords are the keywords parseLabel handles.
var labelWords = map[string]bool{"sco": true, "dco": true, "co": true, "sas": true, "das": true, "as": true, "label": true}

// parseLabel parses a label primitive whose keyword t was consumed.
func (p *parser) parseLabel(t token) (node, error) {
	w := word(t)
	v := p.next()
	if v.kind == tEOF {
		return nil, p.errAt(v, "expected a value after %q, found end of expression", t.text)
	}
	switch w {
	case "sco", "dco", "co":
		cc := strings.ToUpper(v.text)
		if v.kind != tWord || len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
			return nil, p.errAt(v, "bad country code %q after %q (want two letters, as US)", v.text, t.text)
		}
		return &countryNode{d: labelDir(w), cc: [2]byte{cc[0], cc[1]}}, nil
	case "sas", "das", "as":
		n, err := strconv.ParseUint(v.text, 10, 32)
		if v.kind != tWord || err != nil {
			return nil, p.errAt(v, "bad AS number %q after %q", v.text, t.text)
		}
		return &asNode{d: labelDir(w), as: uint32(n)}, nil
	}
	text := v.text
	if v.kind != tWord {
		return nil, p.errAt(v, "expected a label after %q, found %s", t.text, v)
	}
	if len(text) >= 2 && text[0] == '"' {
		text = text[1 : len(text)-1] // the lexer made the quoted text one word
	}
	if text == "" || strings.Contains(text, `"`) {
		return nil, p.errAt(v, "bad label %q (empty, or holding a '\"')", text)
	}
	re, err := regexp.Compile(text)
	if err != nil {
		msg := err.Error()
		if se, ok := err.(*syntax.Error); ok {
			msg = string(se.Code)
		}
		return nil, p.errAt(v, "bad label regular expression %q: %s", text, msg)
	}
	n := &labelNode{text: text}
	if lit, complete := re.LiteralPrefix(); complete {
		n.literal = lit
	} else {
		n.re = re
	}
	return n, nil
}

// labelDir maps a keyword's first letter to the side it tests.
func labelDir(w string) dir {
	switch w[0] {
	case 's':
		return dirSrc
	case 'd':
		return dirDst
	}
	return dirNone
}

var labelPrefix = [...]string{dirNone: "", dirSrc: "s", dirDst: "d"}

type countryNode struct {
	d  dir
	cc [2]byte
}

func (n *countryNode) match(r *record.Record) bool {
	return !isMan(r) && n.d.test(r.SrcCountry == n.cc, r.DstCountry == n.cc)
}
func (n *countryNode) appendTo(b []byte) []byte {
	return append(append(b, labelPrefix[n.d]+"co "...), n.cc[0], n.cc[1])
}

type asNode struct {
	d  dir
	as uint32
}

func (n *asNode) match(r *record.Record) bool {
	return !isMan(r) && n.d.test(r.SrcAS == n.as, r.DstAS == n.as)
}
func (n *asNode) appendTo(b []byte) []byte {
	return strconv.AppendUint(append(b, labelPrefix[n.d]+"as "...), uint64(n.as), 10)
}

// labelNode matches the label text: a substring test when the expression is plain
// text, else the regular expression.
type labelNode struct {
	text    string
	literal string
	re      *regexp.Regexp
}

func (n *labelNode) match(r *record.Record) bool {
	if isMan(r) || r.Label == "" {
		return false
	}
	if n.re == nil {
		return strings.Contains(r.Label, n.literal)
	}
	return n.re.MatchString(r.Label)
}
func (n *labelNode) appendTo(b []byte) []byte {
	return append(append(append(b, `label "`...), n.text...), '"')
}
