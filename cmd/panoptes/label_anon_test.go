package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/internal/goldentest"
	"panoptes/tools/label/labeltest"
)

// TestLabelGolden: end to end through the binary, captures are imported, labelled from
// a test RIR file, a test-built MaxMind database and a rules file, and read back with
// the label fields; the label filter primitives and cluster keys work on the result.
func TestLabelGolden(t *testing.T) {
	flows := importCapture(t, "get.pcap", "http_ipv6.pcap", "icmp.pcap", "dns.pcap")
	dir := t.TempDir()
	mmdb := filepath.Join(dir, "asn.mmdb")
	if err := labeltest.WriteMMDB(mmdb, []labeltest.Entry{
		{Network: "141.142.0.0/16", ASN: 1224}, {Network: "192.150.187.0/24", ASN: 2152},
		{Network: "2a00:1450::/32", ASN: 15169}, {Network: "2a03:b0c0::/32", ASN: 14061},
		{Network: "192.168.0.0/16", Country: "ZZ", ASN: 64512},
	}); err != nil {
		t.Fatal(err)
	}
	td := filepath.Join("..", "..", "tools", "label", "testdata")
	labelled := filepath.Join(dir, "labelled.pnp")
	if _, errs, code := panoptes(t, nil, "label", "-r", flows, "--rir", filepath.Join(td, "delegated-test"), "--mmdb", mmdb,
		"-f", filepath.Join(td, "rules"), "-w", labelled); code != 0 {
		t.Fatalf("label: exit %d: %s", code, errs)
	}
	fields := "proto,saddr,daddr,dport,sco,dco,sas,das,label:24"
	tests := []struct{ name, args string }{
		{"label-all", "read -r LAB -s " + fields},
		{"label-filter", "read -r LAB -s " + fields + ` -- co IE or sco OM or label "^ping"`},
		{"label-cluster-sco", "cluster -r LAB -m sco -s sco,pkts,bytes"},
		{"label-json", "read -r LAB --json -s saddr,sco,sas,label -N 4 -- not man"},
	}
	for _, tt := range tests {
		args := strings.Fields(strings.ReplaceAll(tt.args, "LAB", labelled))
		for i, a := range args { // the quoted regexp is one argument
			args[i] = strings.ReplaceAll(a, `"^ping"`, `^ping`)
		}
		out, errs, code := panoptes(t, nil, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tt.name, code, errs)
		}
		goldentest.Check(t, "testdata/"+tt.name+".golden", out)
	}
	// Filters on the label fields: exit 1 when nothing matches, as ra.
	for expr, want := range map[string]int{"sco US and das 2152": 0, "label domestic": 0, "sas 15169": 1, `label "nope"`: 1} {
		if _, errs, code := panoptes(t, nil, "read", "-r", labelled, "--", expr); code != want {
			t.Errorf("read -- %s: exit %d, want %d (%s)", expr, code, want, errs)
		}
	}
}

// TestLabelAnonErrors: a bad database, RIR file or rules file is one line naming the
// file (and line), exit 2.
func TestLabelAnonErrors(t *testing.T) {
	flows := importCapture(t, "get.pcap")
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.mmdb")
	os.WriteFile(junk, []byte("not a database"), 0o644)
	rir := filepath.Join(dir, "delegated")
	os.WriteFile(rir, []byte("arin|US|ipv4|10.0.0.0|256|1|allocated\narin|US|ipv4|10.0.1.0|many|1|allocated\n"), 0o644)
	rules := filepath.Join(dir, "rules")
	os.WriteFile(rules, []byte("tcp => web\nudp and => dns\n"), 0o644)
	conf := filepath.Join(dir, "ranonymize.conf")
	os.WriteFile(conf, []byte("RANON_SEED=1\nRANON_PRESERVE_WELLKNOWN_PORT_NUMS=perhaps\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"label", "-r", flows, "--mmdb", junk}, "junk.mmdb: not a readable MaxMind database"},
		{[]string{"label", "-r", flows, "--rir", rir}, rir + `:2: bad ipv4 address count "many"`},
		{[]string{"label", "-r", flows, "-f", rules}, rules + ":2: filter: "},
		{[]string{"label", "-r", flows}, "nothing to label with"},
		{[]string{"anon", "-r", flows, "-f", conf}, conf + `:2: RANON_PRESERVE_WELLKNOWN_PORT_NUMS: bad value "perhaps"`},
	} {
		_, errs, code := panoptes(t, nil, tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tt.args, code, errs, tt.want)
		}
	}
}

// TestAnonGolden: with a fixed key, anonymized captures print the same in every run.
func TestAnonGolden(t *testing.T) {
	flows := importCapture(t, "get.pcap", "http_ipv6.pcap", "linuxsll-arp.pcap")
	key := filepath.Join(t.TempDir(), "anon.key")
	os.WriteFile(key, []byte(strings.Repeat("0123456789abcdef", 4)+"\n"), 0o600)
	out, errs, code := panoptes(t, nil, "anon", "-r", flows, "--key-file", key, "-s", "stime,proto,saddr,sport,daddr,dport,smac,dmac,stcpb,pkts,state")
	if code != 0 {
		t.Fatalf("anon: exit %d: %s", code, errs)
	}
	goldentest.Check(t, "testdata/anon-default.golden", out)
}
