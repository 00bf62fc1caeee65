package filter

import (
	"strings"
	"testing"

	"panoptes/record"
)

func TestLabelPrimitives(t *testing.T) {
	us := record.Record{Kind: record.KindFlow, Family: 4, SrcCountry: [2]byte{'U', 'S'}, DstCountry: [2]byte{'D', 'E'},
		SrcAS: 15169, DstAS: 3320, Label: "web;dns server"}
	bare := record.Record{Kind: record.KindFlow, Family: 4}
	man := record.Record{Kind: record.KindMan, Label: "web", SrcCountry: [2]byte{'U', 'S'}}
	tests := []struct {
		expr          string
		us, bare, man bool
		canonical     string
	}{
		{"sco US", true, false, false, "sco US"},
		{"sco us", true, false, false, "sco US"},
		{"dco US", false, false, false, "dco US"},
		{"co DE", true, false, false, "co DE"},
		{"not co DE", false, true, true, "not co DE"},
		{"sas 15169", true, false, false, "sas 15169"},
		{"das 15169", false, false, false, "das 15169"},
		{"as 3320 and sco US", true, false, false, "(as 3320 and sco US)"},
		{"label web", true, false, false, `label "web"`},
		{`label "dns server"`, true, false, false, `label "dns server"`},
		{`label "^web;"`, true, false, false, `label "^web;"`},
		{`label "(ftp)"`, false, false, false, `label "(ftp)"`},
		{`label "dns server" and tcp`, false, false, false, `(label "dns server" and tcp)`},
		{`label "dns server" or sco US`, true, false, false, `(label "dns server" or sco US)`},
		// Before the fix: a '|' or '&' inside the quotes was an operator to the lexer:
		// `filter: unexpected "|" (use "||") at column 9`.
		{`label "ftp|web"`, true, false, false, `label "ftp|web"`},
		{`label "ftp|dns server" and not tcp`, true, false, false, `(label "ftp|dns server" and not tcp)`},
		{`label "a&b (x)|^web" || sco XX`, true, false, false, `(label "a&b (x)|^web" or sco XX)`},
	}
	for _, tt := range tests {
		f, err := Compile(tt.expr)
		if err != nil {
			t.Errorf("%q: %v", tt.expr, err)
			continue
		}
		if got := [3]bool{f.Match(&us), f.Match(&bare), f.Match(&man)}; got != [3]bool{tt.us, tt.bare, tt.man} {
			t.Errorf("%q: matches %v, want %v", tt.expr, got, [3]bool{tt.us, tt.bare, tt.man})
		}
		if f.String() != tt.canonical {
			t.Errorf("%q: canonical %q, want %q", tt.expr, f.String(), tt.canonical)
		}
		if g, err := Compile(f.String()); err != nil || g.String() != f.String() {
			t.Errorf("%q: canonical form does not compile back: %v", tt.expr, err)
		}
	}
}

func TestLabelPrimitiveErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"sco USA":         `bad country code "USA"`,
		"sco 12":          `bad country code "12"`,
		"sas x":           `bad AS number "x"`,
		"das 99999999999": `bad AS number`,
		`label "abc`:      "unterminated quoted text",
		`label "a|b`:      "unterminated quoted text",
		`label "a(" `:     "bad label regular expression",
		`label ""`:        "bad label",
		"label":           "expected a value",
		"co":              "expected a value",
	} {
		_, err := Compile(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", expr, err, want)
		}
	}
}

func TestLabelMatchAllocs(t *testing.T) {
	f := MustCompile(`label "^w.b" or label dns or sco US`)
	r := record.Record{Kind: record.KindFlow, Label: "web"}
	if n := testing.AllocsPerRun(100, func() { f.Match(&r) }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}
