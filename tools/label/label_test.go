package label

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/record"
	"panoptes/tools/label/labeltest"
)

func u32(s string) uint32 {
	b := netip.MustParseAddr(s).As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func TestParseRIR(t *testing.T) {
	f, err := os.Open("testdata/delegated-test")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	db, err := ParseRIR(f, "delegated-test")
	if err != nil {
		t.Fatal(err)
	}
	if n4, n6 := db.Ranges(); n4 != 3 || n6 != 3 {
		t.Errorf("ranges %d %d, want 3 3", n4, n6)
	}
	for addr, want := range map[string]string{
		"141.142.0.0": "US", "141.142.228.5": "US", "141.142.255.255": "US", "141.143.0.0": "",
		"192.150.187.43": "US", "192.150.188.0": "", "82.178.113.245": "OM", "192.0.2.1": "", "198.51.100.1": "",
		"1.1.1.1": "", "2a00:d40:1:3::1": "IT", "2a00:1450:4006:804::200e": "IE", "2a00:1451::": "",
		"2a03:b0c0:3:d0::70:1001": "NL", "::1": "",
	} {
		a := netip.MustParseAddr(addr)
		var got [2]byte
		if a.Is4() {
			got = db.Country4(u32(addr))
		} else {
			got = db.Country16(a.As16())
		}
		if string(record.AppendCountry(nil, got)) != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
	// Argus ships delegated-ipv4-latest with each line prefixed by its source file.
	db, err = ParseRIR(strings.NewReader("delegated-afrinic-latest:afrinic|ZA|ipv4|41.0.0.0|2097152|20071126|allocated\n"), "x")
	if err != nil || db.Country4(u32("41.31.255.255")) != [2]byte{'Z', 'A'} {
		t.Errorf("prefixed line: %v", err)
	}
}

func TestParseRIRErrors(t *testing.T) {
	for text, want := range map[string]string{
		"arin|US|ipv4|141.142.0.0\n":                          "rir:1: expected registry|cc|type",
		"\narin|US|ipv4|141.142.0.0|0|1|allocated\n":          "rir:2: bad ipv4 address count",
		"arin|US|ipv4|255.255.255.0|512|1|allocated\n":        "bad ipv4 address count",
		"arin|US|ipv4|2001:db8::|512|1|allocated\n":           "bad ipv4 start address",
		"arin|US|ipv6|2001:db8::|129|1|allocated\n":           "bad ipv6 prefix length",
		"arin|USA|ipv4|10.0.0.0|256|1|allocated\n":            `bad country code "USA"`,
		"arin|US|ipx|10.0.0.0|256|1|allocated\n":              `unknown type "ipx"`,
		"# ok\narin|US|ipv4|10.0.0.0|256|1|x\narin|US|ipv4|x": "rir:3:",
	} {
		_, err := ParseRIR(strings.NewReader(text), "rir")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", text, err, want)
		}
	}
}

func TestParseRules(t *testing.T) {
	f, err := os.Open("testdata/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := ParseRules(f, "rules")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 6 || rules[3].Cont || !rules[4].Cont || !rules[0].Cont || rules[4].Label != "google" {
		t.Errorf("rules %+v", rules)
	}
	for text, want := range map[string]string{
		"tcp => web\nbogus line\n":            "r:2: expected",
		"tcp and =>  web":                     "r:1: filter: ",
		"tcp => ":                             "r:1: empty label",
		"tcp => a;b":                          "holds a ';'",
		`filter="tcp" label="x`:               "no closing quote",
		`filter="tcp" colour="red"`:           `found "colour"`,
		`label="x"`:                           "no filter=",
		`filter="tcp" filter="udp" label="x"`: "given twice",
		`filter=tcp label="x"`:                "needs a quoted value",
	} {
		_, err := ParseRules(strings.NewReader(text), "r")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", text, err, want)
		}
	}
}

func flow(src string, sport uint16, dst string, dport uint16, proto uint8) record.Record {
	r := record.Record{Kind: record.KindFlow, Proto: proto, SrcPort: sport, DstPort: dport, Family: 4}
	a, b := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if a.Is6() {
		r.Family = 6
		r.SrcAddr, r.DstAddr = a.As16(), b.As16()
	} else {
		s4, d4 := a.As4(), b.As4()
		copy(r.SrcAddr[:], s4[:])
		copy(r.DstAddr[:], d4[:])
	}
	return r
}

func TestLabeller(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "test.mmdb")
	if err := labeltest.WriteMMDB(path, []labeltest.Entry{
		{Network: "141.142.0.0/16", ASN: 1224}, {Network: "192.150.187.0/24", ASN: 2152, Country: "CA"},
		{Network: "2a00:1450::/32", ASN: 15169, Country: "IE"}, {Network: "10.0.0.0/8", Country: "ZZ"},
	}); err != nil {
		t.Fatal(err)
	}
	mm, err := OpenMMDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Close()
	f, _ := os.Open("testdata/delegated-test")
	rir, err := ParseRIR(f, "delegated-test")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, _ = os.Open("testdata/rules")
	rules, err := ParseRules(f, "rules")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	l := Labeller{RIR: rir, MMDB: []*MMDB{mm}, Rules: rules}
	tests := []struct {
		r               record.Record
		sco, dco, label string
		sas, das        uint32
	}{
		// The RIR file wins over the database for countries (CA in the mmdb, US in the RIR).
		{flow("141.142.228.5", 59856, "192.150.187.43", 80, 6), "US", "US", "web;domestic;ip", 1224, 2152},
		{flow("2a00:d40:1:3::1", 40000, "2a00:1450:4006:804::200e", 443, 6), "IT", "IE", "google;ip", 0, 15169},
		{flow("192.168.0.89", 0, "192.168.0.1", 8, 1), "", "", "ping", 0, 0},
		{flow("10.1.1.1", 5353, "10.2.2.2", 53, 17), "ZZ", "ZZ", "dns;ip", 0, 0},
	}
	for i, tt := range tests {
		for pass := range 2 { // the second pass is served from the memo
			r := tt.r
			if err := l.Record(&r); err != nil {
				t.Fatal(err)
			}
			got := [3]string{string(record.AppendCountry(nil, r.SrcCountry)), string(record.AppendCountry(nil, r.DstCountry)), r.Label}
			if got != [3]string{tt.sco, tt.dco, tt.label} || r.SrcAS != tt.sas || r.DstAS != tt.das {
				t.Errorf("%d/%d: got %q %d %d, want %s %s %q %d %d", i, pass, got, r.SrcAS, r.DstAS, tt.sco, tt.dco, tt.label, tt.sas, tt.das)
			}
		}
	}
	// Labelling twice changes nothing; management records are left alone.
	r := tests[0].r
	l.Record(&r)
	again := r
	l.Record(&again)
	if again != r {
		t.Errorf("second labelling changed %+v to %+v", r, again)
	}
	man := record.Record{Kind: record.KindMan}
	l.Record(&man)
	if man.Label != "" {
		t.Errorf("management record labelled %q", man.Label)
	}
}

func TestOpenMMDBErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.mmdb")
	os.WriteFile(junk, []byte("this is not a database"), 0o644)
	for path, want := range map[string]string{
		junk:                            "junk.mmdb: not a readable MaxMind database",
		filepath.Join(dir, "none.mmdb"): "none.mmdb",
	} {
		if _, err := OpenMMDB(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", path, err, want)
		}
	}
	// A valid database cut short is refused, not read past its end.
	good := filepath.Join(dir, "good.mmdb")
	if err := labeltest.WriteMMDB(good, []labeltest.Entry{{Network: "10.0.0.0/8", ASN: 1}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	os.WriteFile(junk, b[:len(b)/2], 0o644)
	if _, err := OpenMMDB(junk); err == nil {
		t.Error("a truncated database was accepted")
	}
}

func BenchmarkLabeller(b *testing.B) {
	f, _ := os.Open("testdata/delegated-test")
	rir, _ := ParseRIR(f, "delegated-test")
	f.Close()
	f, _ = os.Open("testdata/rules")
	rules, _ := ParseRules(f, "rules")
	f.Close()
	l := Labeller{RIR: rir, Rules: rules}
	r := flow("141.142.228.5", 59856, "192.150.187.43", 443, 6)
	b.ReportAllocs()
	for b.Loop() {
		rec := r
		l.Record(&rec)
	}
}

func FuzzParseRIR(f *testing.F) {
	b, _ := os.ReadFile("testdata/delegated-test")
	f.Add(string(b))
	f.Add("arin|US|ipv6|::|0|1|allocated\n")
	f.Fuzz(func(t *testing.T, s string) {
		db, err := ParseRIR(strings.NewReader(s), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		for _, r := range db.v4 {
			if r.lo > r.hi || db.Country4(r.lo) == ([2]byte{}) {
				t.Fatalf("range %+v does not answer for its start", r)
			}
		}
		for _, r := range db.v6 {
			if cmp6(r.lo, r.hi) > 0 {
				t.Fatalf("range %+v inverted", r)
			}
		}
	})
}

func FuzzParseRules(f *testing.F) {
	b, _ := os.ReadFile("testdata/rules")
	f.Add(string(b))
	f.Add(`filter="label \"x y\"" label='z' cont`)
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := ParseRules(strings.NewReader(s), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		l := Labeller{Rules: rules}
		r := flow("10.0.0.1", 1, "10.0.0.2", 80, 6)
		if err := l.Record(&r); err != nil {
			t.Fatal(err)
		}
	})
}

// TestErrorsEchoShort: a rules or RIR line's error repeats a short prefix of what was
// wrong, however long the line. Before the fix: each of these errors was over 30000
// bytes (the whole label, word or field echoed).
func TestErrorsEchoShort(t *testing.T) {
	long := strings.Repeat("w", 30000)
	for _, tc := range []struct {
		name, text string
		parse      func(io.Reader, string) error
	}{
		{"label with ';'", "tcp => a;" + long, rulesErr},
		{"unknown word", long + `="x"`, rulesErr},
		{"filter", "tcp and host " + long + " => x", rulesErr},
		{"rir country", "arin|" + long + "|ipv4|10.0.0.0|256|1|allocated\n", rirErr},
		{"rir type", "arin|US|" + long + "|10.0.0.0|256|1|allocated\n", rirErr},
		{"rir address", "arin|US|ipv4|" + long + "|256|1|allocated\n", rirErr},
		{"rir count", "arin|US|ipv4|10.0.0.0|" + long + "|1|allocated\n", rirErr},
		{"rir prefix", "arin|US|ipv6|2001:db8::|" + long + "|1|allocated\n", rirErr},
	} {
		err := tc.parse(strings.NewReader(tc.text), "r")
		if err == nil || len(err.Error()) > 300 {
			t.Errorf("%s: error of %d bytes, want a short one: %.200v", tc.name, len(fmt.Sprint(err)), err)
		}
	}
}

func rulesErr(r io.Reader, name string) error { _, err := ParseRules(r, name); return err }
func rirErr(r io.Reader, name string) error   { _, err := ParseRIR(r, name); return err }
