package filter

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"panoptes/record"
)

// termMatch reads a selection term as a condition on one record: a block of that one
// record has the summary the term is checked against.
func termMatch(t *Term, r *record.Record) bool {
	ip := r.Kind == record.KindFlow && (r.Family == 4 || r.Family == 6)
	switch t.Kind {
	case TermAnd:
		return termMatch(t.L, r) && termMatch(t.R, r)
	case TermOr:
		return termMatch(t.L, r) || termMatch(t.R, r)
	case TermMan:
		return r.Kind == record.KindMan
	case TermNonIP:
		return r.Kind == record.KindFlow && r.Family == 0
	case TermFamily:
		return ip && (t.Fam == 0 || t.Fam == r.Family)
	case TermProto:
		return ip && r.Proto == t.Proto
	case TermPort:
		if !ip || !r.HasPorts() {
			return false
		}
		in := func(p uint16) bool { return t.PortLo <= p && p <= t.PortHi }
		return sideTest(t.Side, in(r.SrcPort), in(r.DstPort))
	case TermAddr:
		if r.Kind != record.KindFlow {
			return false
		}
		fam := r.Family
		if fam == 0 && (r.EtherType == 0x0806 || r.EtherType == 0x8035) {
			fam = 4
		}
		if fam != 4 && fam != 6 {
			return false
		}
		in := func(a [16]byte) bool {
			k := key16(fam, a)
			return bytes.Compare(k[:], t.Lo[:]) >= 0 && bytes.Compare(k[:], t.Hi[:]) <= 0
		}
		return sideTest(t.Side, in(r.SrcAddr), in(r.DstAddr))
	}
	return true
}

func sideTest(s Side, src, dst bool) bool {
	switch s {
	case SideSrc:
		return src
	case SideDst:
		return dst
	case SideBoth:
		return src && dst
	}
	return src || dst
}

// TestTermsAreConservative: over random records and the property expressions (alone,
// negated and combined), every record a filter matches passes the filter's selection
// terms (so a block selection by them loses no match), and the terms of the index-able
// expressions reject some records (so they select something).
func TestTermsAreConservative(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	recs := make([]record.Record, 3000)
	for i := range recs {
		recs[i] = randomRecord(rng)
	}
	exprs := append([]string{}, propertyExprs...)
	for i := 1; i < len(propertyExprs); i++ {
		a, b := propertyExprs[i], propertyExprs[(i*5)%len(propertyExprs)]
		if b == "" {
			continue
		}
		exprs = append(exprs, "("+a+") and ("+b+")", "("+a+") or ("+b+")", "not ("+a+") and ("+b+")")
	}
	exprs = append(exprs, "net 10.0.0.0 mask 255.255.254.0", "dst net 2001:db8::/64", "src and dst host 10.0.0.1",
		"arp and host 10.0.0.2", "ipv4 proto 6 and port 80-443", "icmp or icmpv6", "port 1024-65535")
	selective := map[string]bool{"host 10.0.0.1": true, "tcp": true, "man": true, "arp": true, "port 53": true,
		"dst net 10.0.0.0/16": true, "ipv6": true, "arp and host 10.0.0.2": true, "dst net 2001:db8::/64": true}
	for _, e := range exprs {
		f := MustCompile(e)
		terms := f.Terms()
		rejected := 0
		for j := range recs {
			pass := termMatch(terms, &recs[j])
			if f.Match(&recs[j]) && !pass {
				t.Fatalf("%q (terms %s): record %d matches the filter but not its terms: %+v", e, terms, j, recs[j])
			}
			if !pass {
				rejected++
			}
		}
		if selective[e] && rejected == 0 {
			t.Errorf("%q: terms %s reject no record", e, terms)
		}
	}
}

// TestTermsShape: the terms of a few filters, as text.
func TestTermsShape(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"", "any"},
		{"host 10.0.0.1", "addr 10.0.0.1-10.0.0.1"},
		{"src net 10.1.0.0/16 and tcp", "(src addr 10.1.0.0-10.1.255.255 and proto 6)"},
		{"port 53 or pkts gt 5", "any"},
		{"not host 10.0.0.1", "any"},
		{"not host 10.0.0.1 and udp", "proto 17"},
		{"dst port 80-90 or man", "(dst port 80-90 or man)"},
		{"arp or ipv6", "(nonip or family 6)"},
	} {
		if got := MustCompile(tc.expr).Terms().String(); got != tc.want {
			t.Errorf("%q: terms %s, want %s", tc.expr, got, tc.want)
		}
	}
}
