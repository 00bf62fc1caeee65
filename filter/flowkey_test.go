package filter

import (
	"math/rand/v2"
	"testing"

	"panoptes/record"
)

func TestFilterFlowKeyOnly(t *testing.T) {
	for _, c := range []struct {
		expr string
		want bool
	}{
		{"", true},
		{"host 10.0.0.1", true},
		{"src host 10.0.0.1", true},
		{"dst host 2001:db8::1", true},
		{"src and dst host 10.0.0.1", true},
		{"10.0.0.1", true},
		{"src 10.0.0.1", true},
		{"host 10.0.0.1 or 10.0.0.2", true},
		{"net 10.0.0.0/8", true},
		{"dst net 10.1", true},
		{"net 10.0.0.0 mask 255.0.0.0", true},
		{"port 80", true},
		{"src port 1-1023", true},
		{"tcp and port 80", true},
		{"tcp port 80", true},
		{"udp dst port 53", true},
		{"tcp or udp or icmp or icmpv6", true},
		{"ip", true},
		{"ipv4 and not ipv6", true},
		{"ip proto 47", true},
		{"ipv6 proto 58", true},
		{"arp or rarp", true},
		{"man", true},
		{"not man", true},
		{"echo or unreach or redirect or timexed", true},
		{"(host 10.0.0.2 or net 192.168.0.0/16) and not port 80", true},
		{"not (tcp and (src port 22 or dst port 22))", true},
		{"! tcp && port 53 || man", true},
		{"srcid 1", false},
		{"pkts gt 10", false},
		{"src bytes gt 100", false},
		{"ttl lt 64", false},
		{"tos 8", false},
		{"vid 100", false},
		{"rate gt 1.5", false},
		{"load gt 100", false},
		{"ploss gt 1", false},
		{"syn", false},
		{"synack", false},
		{"est", false},
		{"con", false},
		{"fin", false},
		{"reset", false},
		{"winshut", false},
		{"ecn", false},
		{"timeout", false},
		{"retrans", false},
		{"outoforder", false},
		{"frag", false},
		{"future", false},
		{"sampled", false},
		{"tcp and syn", false},
		{"host 10.0.0.1 or pkts gt 5", false},
		{"not (port 80 and not fin)", false},
		{"(host 10.0.0.1 and port 80) and srcid 2", false},
	} {
		f, err := Compile(c.expr)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		if got := f.FlowKeyOnly(); got != c.want {
			t.Errorf("%q (%s): FlowKeyOnly = %v, want %v", c.expr, f, got, c.want)
		}
	}
	var nilFilter *Filter
	if !nilFilter.FlowKeyOnly() {
		t.Error("nil filter: FlowKeyOnly = false")
	}
}

// keyOnly returns a record with r's flow key fields and everything else random: what a
// reader that decodes only the key might leave in the rest.
func keyOnly(r *record.Record, rng *rand.Rand) record.Record {
	k := randomRecord(rng)
	k.Kind, k.Family, k.EtherType, k.Proto = r.Kind, r.Family, r.EtherType, r.Proto
	k.SrcAddr, k.DstAddr, k.SrcPort, k.DstPort = r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort
	return k
}

// TestFilterFlowKeyOnlyMatch checks FlowKeyOnly's promise: a filter it says reads only
// the flow key matches a record exactly when it matches a record with the same key and
// other fields at random; and that the test can tell (a filter it says reads more
// disagrees on some record).
func TestFilterFlowKeyOnlyMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	recs := make([]record.Record, 3000)
	keys := make([]record.Record, len(recs))
	for i := range recs {
		recs[i] = randomRecord(rng)
		keys[i] = keyOnly(&recs[i], rng)
	}
	exprs := append([]string{"echo or unreach", "arp and host 10.0.0.1", "udp and not src port 53"}, propertyExprs...)
	for _, e := range exprs {
		f := MustCompile(e)
		differ := 0
		for i := range recs {
			if f.Match(&recs[i]) != f.Match(&keys[i]) {
				differ++
			}
		}
		if f.FlowKeyOnly() && differ > 0 {
			t.Errorf("%q: FlowKeyOnly, but %d records match differently with only the key kept", e, differ)
		}
		if !f.FlowKeyOnly() && differ == 0 && e != "" {
			t.Logf("%q: not FlowKeyOnly, and no record told it apart", e)
		}
	}
}
