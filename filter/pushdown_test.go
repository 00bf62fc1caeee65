package filter

import (
	"math/rand/v2"
	"testing"

	"panoptes/record"
)

// TestKeyCondIsSuperset: over random records and random filters (primitives under
// and/or/not), every record a filter matches satisfies its KeyCond; and the KeyCond of
// a filter made only of key terms under and/or selects exactly what the filter does
// (so the test can tell a KeyCond that lets everything through).
func TestKeyCondIsSuperset(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	recs := make([]record.Record, 1500)
	for i := range recs {
		recs[i] = randomRecord(rng)
	}
	keyTerms := []string{"host 10.0.0.1", "src host 10.0.0.2", "dst host 2001:db8::1", "src and dst net 10.0.0.0/16",
		"net 192.168.0.0/20", "dst net 2001:db8::/32", "port 53", "src port 22-443", "src or dst port 5000", "dst port 80",
		"tcp", "udp", "icmp", "ipv6 proto 17", "ip proto 47", "src and dst port 0-100"}
	others := append([]string{"pkts gt 10", "syn", "arp", "man", "ttl lt 64"}, keyTerms...)
	var gen func(d int, exact bool) string
	gen = func(d int, exact bool) string {
		pool := others
		if exact {
			pool = keyTerms
		}
		if d == 0 || rng.IntN(3) == 0 {
			return pool[rng.IntN(len(pool))]
		}
		switch k := rng.IntN(5); {
		case k < 2:
			return "(" + gen(d-1, exact) + ") and (" + gen(d-1, exact) + ")"
		case k < 4 || exact:
			return "(" + gen(d-1, exact) + ") or (" + gen(d-1, exact) + ")"
		}
		return "not (" + gen(d-1, exact) + ")"
	}
	for i := range 400 {
		exact := i%2 == 0
		e := gen(4, exact)
		f := MustCompile(e)
		c := f.KeyCond()
		for j := range recs {
			m, k := f.Match(&recs[j]), c.Match(&recs[j])
			if m && !k {
				t.Fatalf("%q: record %d matches, its KeyCond %+v does not", e, j, c)
			}
			if exact && m != k {
				t.Fatalf("%q (key terms only): record %d: filter %v, KeyCond %v", e, j, m, k)
			}
		}
	}
	if c := MustCompile("not host 10.0.0.1").KeyCond(); c.Op != KeyTrue {
		t.Errorf("a negation pushed: %+v", c)
	}
	if c := MustCompile("host 10.0.0.1 or pkts gt 3").KeyCond(); c.Op != KeyTrue {
		t.Errorf("an or with an unpushable side pushed: %+v", c)
	}
}
