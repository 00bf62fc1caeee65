package filter

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"panoptes/record"
)

func addr(s string) (fam uint8, a [16]byte) {
	ip := netip.MustParseAddr(s)
	if ip.Is4() {
		b := ip.As4()
		copy(a[:], b[:])
		return 4, a
	}
	return 6, ip.As16()
}

func flow(src string, sport uint16, dst string, dport uint16, proto uint8) record.Record {
	var r record.Record
	r.Kind = record.KindFlow
	r.Family, r.SrcAddr = addr(src)
	_, r.DstAddr = addr(dst)
	r.SrcPort, r.DstPort, r.Proto = sport, dport, proto
	return r
}

type named struct {
	name string
	rec  record.Record
}

// testRecords is a small zoo of hand-built records, one of each kind the filter cares
// about.
func testRecords() []named {
	tcpWeb := flow("10.0.0.1", 40000, "93.184.216.34", 80, 6)
	tcpWeb.TCPState = record.TCPSawSyn | record.TCPSawSynAck | record.TCPEstablished | record.TCPSrcFin | record.TCPDstFin | record.TCPClosed
	tcpWeb.Src = record.Side{Pkts: 6, Bytes: 560, AppBytes: 120, TTL: 64}
	tcpWeb.Dst = record.Side{Pkts: 5, Bytes: 1800, AppBytes: 1400, TTL: 56}
	tcpWeb.SrcID = 1

	tcpRst := flow("10.0.0.2", 41000, "10.0.0.80", 22, 6)
	tcpRst.TCPState = record.TCPSawSyn | record.TCPReset
	tcpRst.Src = record.Side{Pkts: 1, Bytes: 60, TTL: 64}
	tcpRst.Dst = record.Side{Pkts: 1, Bytes: 54, TTL: 64}
	tcpRst.SrcID = 2

	udpDNS := flow("10.0.0.1", 53000, "10.0.0.53", 53, 17)
	udpDNS.Src = record.Side{Pkts: 1, Bytes: 80, AppBytes: 30, TTL: 64, ToS: 0x10}
	udpDNS.Dst = record.Side{Pkts: 1, Bytes: 200, AppBytes: 150, TTL: 63}
	udpDNS.SrcID = 1

	udpOneWay := flow("192.168.1.10", 5000, "192.168.1.255", 5000, 17)
	udpOneWay.Src = record.Side{Pkts: 3, Bytes: 300, TTL: 1, VLAN: 100}
	udpOneWay.SrcID = 1
	udpOneWay.Flags = record.FlagTimeout

	icmpEcho := flow("10.0.0.1", 8, "8.8.8.8", 0, 1)
	icmpEcho.Src = record.Side{Pkts: 4, Bytes: 392, TTL: 64}
	icmpEcho.Dst = record.Side{Pkts: 4, Bytes: 392, TTL: 117}

	icmp6 := flow("2001:db8::1", 128, "2001:db8::2", 0, 58)
	icmp6.Src = record.Side{Pkts: 1, Bytes: 118, TTL: 64}

	tcp6 := flow("2001:db8::1", 51000, "2001:db8::2", 443, 6)
	tcp6.TCPState = record.TCPSawSyn
	tcp6.Src = record.Side{Pkts: 2, Bytes: 188, TTL: 64, Retrans: 1}

	var arp record.Record
	arp.Kind = record.KindFlow
	arp.EtherType = 0x0806
	_, arp.SrcAddr = addr("10.0.0.1")
	_, arp.DstAddr = addr("10.0.0.254")
	arp.Src = record.Side{Pkts: 1, Bytes: 42}

	man := record.Record{Kind: record.KindMan, Cause: record.CauseStart, SrcID: 1,
		Man: &record.Management{PktsSeen: 100}}

	return []named{{"tcpWeb", tcpWeb}, {"tcpRst", tcpRst}, {"udpDNS", udpDNS}, {"udpOneWay", udpOneWay},
		{"icmpEcho", icmpEcho}, {"icmp6", icmp6}, {"tcp6", tcp6}, {"arp", arp}, {"man", man}}
}

func TestMatch(t *testing.T) {
	recs := testRecords()
	all := func(except ...string) string {
		var s []string
		for _, r := range recs {
			if !slices.Contains(except, r.name) {
				s = append(s, r.name)
			}
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		expr string
		want string // names of the matching records, in testRecords order
	}{
		{"", all()},
		{"   ", all()},
		{"tcp", "tcpWeb tcpRst tcp6"},
		{"TCP", "tcpWeb tcpRst tcp6"},
		{"udp", "udpDNS udpOneWay"},
		{"icmp", "icmpEcho"},
		{"icmpv6", "icmp6"},
		{"ipv6-icmp", "icmp6"},
		{"ip", all("arp", "man")},
		{"ipv4", "tcpWeb tcpRst udpDNS udpOneWay icmpEcho"},
		{"ipv6", "icmp6 tcp6"},
		{"arp", "arp"},
		{"man", "man"},
		{"not man", all("man")},
		{"not tcp", "udpDNS udpOneWay icmpEcho icmp6 arp man"},
		{"ip proto 17", "udpDNS udpOneWay"},
		{"ipv6 proto 6", "tcp6"},
		{"ipv4 proto tcp", "tcpWeb tcpRst"},
		{"proto 58", "icmp6"},
		{"host 10.0.0.1", "tcpWeb udpDNS icmpEcho arp"},
		{"src host 10.0.0.1", "tcpWeb udpDNS icmpEcho arp"},
		{"dst host 10.0.0.1", ""},
		{"dst host 8.8.8.8", "icmpEcho"},
		{"src or dst host 8.8.8.8", "icmpEcho"},
		{"src and dst host 10.0.0.1", ""},
		{"host 2001:db8::2", "icmp6 tcp6"},
		{"host 2001:DB8:0::2", "icmp6 tcp6"},
		{"host ::ffff:10.0.0.2", "tcpRst"},
		{"10.0.0.2", "tcpRst"},
		{"src 10.0.0.2", "tcpRst"},
		{"host 10.0.0.2 or 10.0.0.53", "tcpRst udpDNS"},
		{"host 10.0.0.2 or 8.8.8.8 or 2001:db8::1", "tcpRst icmpEcho icmp6 tcp6"},
		{"net 10.0.0.0/24", "tcpWeb tcpRst udpDNS icmpEcho arp"},
		{"net 10.0.0.0/8", "tcpWeb tcpRst udpDNS icmpEcho arp"},
		{"net 10", "tcpWeb tcpRst udpDNS icmpEcho arp"},
		{"net 192.168", "udpOneWay"},
		{"dst net 10.0.0.0/25", "tcpRst udpDNS"},
		{"src and dst net 10.0.0.0/24", "tcpRst udpDNS arp"},
		{"net 2001:db8::/32", "icmp6 tcp6"},
		{"net 10.0.0.1", "tcpWeb udpDNS icmpEcho arp"},
		{"port 53", "udpDNS"},
		{"port 8", ""}, // ICMP type is not a port
		{"src port 53", ""},
		{"dst port 53", "udpDNS"},
		{"port 22-80", "tcpWeb tcpRst udpDNS"},
		{"port 1-1024", "tcpWeb tcpRst udpDNS tcp6"},
		{"src and dst port 5000", "udpOneWay"},
		{"port 53 or 22", "tcpRst udpDNS"},
		{"tcp port 22 or 443", "tcpRst tcp6"},
		{"udp src port 5000", "udpOneWay"},
		{"tcp and dst port 80 or udp", "tcpWeb udpDNS udpOneWay"},
		{"pkts gt 5", "tcpWeb"}, // either side, as ra: icmpEcho has 4 each way
		{"pkts > 5", "tcpWeb"},
		{"src pkts gt 5", "tcpWeb"},
		{"dst pkts eq 0", "udpOneWay icmp6 tcp6 arp"},
		{"dst pkts 0", "udpOneWay icmp6 tcp6 arp"},
		{"src or dst pkts gte 5", "tcpWeb"},
		{"src and dst pkts gte 4", "tcpWeb icmpEcho"},
		{"bytes >= 784", "tcpWeb"},
		{"bytes lt 60", "tcpRst udpOneWay icmp6 tcp6 arp"}, // a side without packets has 0 bytes
		{"appbytes gt 1000", "tcpWeb"},
		{"dst appbytes = 150", "udpDNS"},
		{"ttl lt 2", "udpOneWay"},
		{"dst ttl gt 100", "icmpEcho"},
		{"ttl eq 0", "udpOneWay"}, // as ra: a side without packets has TTL 0; icmp6, tcp6 are not IPv4
		{"src tos 16", "udpDNS"},
		{"vid 100", "udpOneWay"},
		{"pkts eq 2 or 4", "icmpEcho tcp6"},
		{"srcid 2", "tcpRst"},
		{"srcid 0.0.0.2", "tcpRst"},
		{"syn", "tcpWeb tcpRst tcp6"},
		{"synack", "tcpWeb"},
		{"est", "tcpWeb tcpRst udpDNS icmpEcho"}, // as ra: packets both ways
		{"fin", "tcpWeb"},
		{"reset", "tcpRst"},
		{"con", "tcpWeb tcpRst udpDNS icmpEcho"},
		{"timeout", "udpOneWay"},
		{"retrans", "tcp6"},
		{"syn and not synack", "tcpRst tcp6"},
		{"!tcp && !udp", "icmpEcho icmp6 arp man"},
		{"tcp || udp", "tcpWeb tcpRst udpDNS udpOneWay tcp6"},
		{"not (tcp or udp)", "icmpEcho icmp6 arp man"},
		// and/or: same precedence, left to right.
		{"udp or tcp and port 80", "tcpWeb"},
		{"udp or (tcp and port 80)", "tcpWeb udpDNS udpOneWay"},
		{"tcp and port 80 or udp", "tcpWeb udpDNS udpOneWay"},
		// not binds tightest.
		{"not tcp and not udp", "icmpEcho icmp6 arp man"},
		{"not tcp or udp", "udpDNS udpOneWay icmpEcho icmp6 arp man"},
		{"man or tcp and host 10.0.0.2", "tcpRst"},
		{"((man))", "man"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			var got []string
			for i := range recs {
				if f.Match(&recs[i].rec) {
					got = append(got, recs[i].name)
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("%q (%s) matched [%s], want [%s]", tt.expr, f, g, tt.want)
			}
		})
	}
}

// TestOperatorSpellings checks that the symbolic and word spellings compile alike.
func TestOperatorSpellings(t *testing.T) {
	pairs := [][2]string{
		{"!tcp && !udp", "not tcp and not udp"},
		{"tcp || udp", "tcp or udp"},
		{"tcp&&port 80", "tcp and port 80"},
		{"pkts>=5", "pkts gte 5"},
		{"pkts ge 5", "pkts gte 5"},
		{"pkts<=5", "pkts lte 5"},
		{"pkts==5", "pkts eq 5"},
		{"pkts=5", "pkts eq 5"},
		{"pkts 5", "pkts eq 5"},
	}
	for _, p := range pairs {
		a, b := MustCompile(p[0]), MustCompile(p[1])
		if a.String() != b.String() {
			t.Errorf("%q compiles to %s, %q to %s", p[0], a, p[1], b)
		}
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"tcp or udp and port 53", "((tcp or udp) and port 53)"},
		{"tcp and udp or icmp", "((tcp and udp) or icmp)"},
		{"not tcp and udp", "(not tcp and udp)"},
		{"not (tcp and udp)", "not (tcp and udp)"},
		{"host 10.0.0.1 or 10.0.0.2", "(host 10.0.0.1 or host 10.0.0.2)"},
		{"src host 10.0.0.1 or 10.0.0.2", "(src host 10.0.0.1 or src host 10.0.0.2)"},
		{"src port 53 and not 123", "(src port 53 and not src port 123)"},
		{"tcp port 80 or 443", "((tcp and port 80) or (tcp and port 443))"},
		{"src or dst port 53", "src or dst port 53"},
		{"dst or src port 53", "src or dst port 53"},
		{"src and dst net 10.1.2.3/16", "src and dst net 10.1.0.0/16"},
		{"net 10.1.2", "net 10.1.2.0/24"},
		{"dst pkts gt 10 or 20", "(dst pkts gt 10 or dst pkts gt 20)"},
		{"ip proto 6", "proto 6"},
		{"ipv6 proto udp", "ipv6 proto 17"},
		{"10.0.0.9", "host 10.0.0.9"},
		{"srcid 0.0.1.0", "srcid 256"},
		{"port 53-53", "port 53"},
		{"tcp and (syn or synack)", "(tcp and (syn or synack))"},
	}
	for _, tt := range tests {
		f, err := Compile(tt.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.expr, err)
			continue
		}
		if got := f.String(); got != tt.want {
			t.Errorf("Compile(%q).String() = %q, want %q", tt.expr, got, tt.want)
		}
		g, err := Compile(f.String())
		if err != nil || g.String() != f.String() {
			t.Errorf("canonical %q does not round-trip: %v, %v", f, g, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		expr string
		col  int
		msg  string
	}{
		{"tcp and foo 1", 9, `unexpected "foo"`},
		{"foo", 1, `unexpected "foo"`},
		{"tcp udp", 5, `unexpected "udp"`},
		{"tcp and", 8, "unexpected end of expression"},
		{"and tcp", 1, `unexpected "and"`},
		{"(tcp", 5, `expected ")" to close the "(" at column 1`},
		{"tcp)", 4, `unmatched ")"`},
		{"()", 2, `unexpected ")"`},
		{"host", 5, "expected an address"},
		{"host 10.0.0.300", 6, `bad address "10.0.0.300"`},
		{"host fe80::1%eth0", 6, `bad address`},
		{"net 10.0.0.0/33", 5, `bad network`},
		{"net 1.2.3.4.5", 5, `bad network`},
		{"port 70000", 6, `bad port "70000"`},
		{"port 80-22", 6, `bad port "80-22"`},
		{"port http", 6, `bad port "http"`},
		{"port 53 or http", 12, `unexpected "http"`},
		{"src pkts gt x", 13, `bad number "x"`},
		{"ttl gt 300", 8, `bad number "300" for ttl`},
		{"pkts gt", 8, "expected a number"},
		{"src", 4, "expected host, net, port"},
		{"src tcp", 5, "expected host, net, port"},
		{"tcp src pkts 1", 9, "cannot follow a protocol"},
		{"ip proto 300", 10, `bad protocol "300"`},
		{"proto nosuch", 7, `bad protocol "nosuch"`},
		{"srcid -1", 7, `bad srcid`},
		{"tcp & udp", 5, `unexpected "&"`},
		{"tcp | udp", 5, `unexpected "|"`},
		{"not", 4, "unexpected end of expression"},
		{"host port", 6, `expected an address after "host", found "port"`},
		{"tcp and\n foo", 10, `unexpected "foo"`},
		{"héllo", 1, `unexpected "héllo"`},
		{"tcp and é", 9, `unexpected "é"`},
		{strings.Repeat("(", 300) + "tcp" + strings.Repeat(")", 300), maxDepth + 1, "nested too deeply"},
		{strings.Repeat("not ", 300) + "tcp", 4*maxDepth + 1, "nested too deeply"},
	}
	for _, tt := range tests {
		f, err := Compile(tt.expr)
		if err == nil {
			t.Errorf("Compile(%q) = %s, want an error", tt.expr, f)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Errorf("Compile(%q): error %v is not a *SyntaxError", tt.expr, err)
			continue
		}
		msg := err.Error()
		if se.Column() != tt.col || !strings.Contains(msg, tt.msg) {
			t.Errorf("Compile(%q): column %d, %q; want column %d containing %q", tt.expr, se.Column(), msg, tt.col, tt.msg)
		}
		if strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "filter: ") || !strings.Contains(msg, ">>>HERE<<<") {
			t.Errorf("Compile(%q): error is not one marked line: %q", tt.expr, msg)
		}
	}
	// The example from the brief, in full.
	_, err := Compile("tcp and foo 1")
	if want := `filter: unexpected "foo" at column 9: tcp and >>>HERE<<<foo 1`; err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

// randomRecord draws records from small pools so that expressions over those pools
// hit both outcomes often.
func randomRecord(rng *rand.Rand) record.Record {
	addrs4 := []string{"10.0.0.1", "10.0.0.2", "10.0.1.7", "192.168.1.10", "8.8.8.8"}
	addrs6 := []string{"2001:db8::1", "2001:db8::2", "fe80::1"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	ports := []uint16{0, 22, 53, 80, 443, 5000, 40000}
	protos := []uint8{1, 6, 6, 17, 17, 47, 58, 132}
	var r record.Record
	switch rng.IntN(10) {
	case 0:
		r = record.Record{Kind: record.KindMan, Cause: record.Cause(1 + rng.IntN(3)), Man: &record.Management{}}
	case 1:
		r = record.Record{Kind: record.KindFlow, EtherType: []uint16{0x0806, 0x8035, 0x88cc}[rng.IntN(3)]}
		_, r.SrcAddr = addr(pick(addrs4))
		_, r.DstAddr = addr(pick(addrs4))
	case 2, 3:
		r = flow(pick(addrs6), ports[rng.IntN(len(ports))], pick(addrs6), ports[rng.IntN(len(ports))], protos[rng.IntN(len(protos))])
	default:
		r = flow(pick(addrs4), ports[rng.IntN(len(ports))], pick(addrs4), ports[rng.IntN(len(ports))], protos[rng.IntN(len(protos))])
	}
	side := func() record.Side {
		if rng.IntN(4) == 0 {
			return record.Side{}
		}
		p := uint64(1 + rng.IntN(20))
		return record.Side{Pkts: p, Bytes: p * uint64(40+rng.IntN(1460)), AppBytes: uint64(rng.IntN(2000)),
			TTL: uint8(rng.IntN(256)), ToS: uint8(rng.IntN(4) * 8), VLAN: uint16(rng.IntN(3) * 100),
			Retrans: uint64(rng.IntN(2))}
	}
	r.Src, r.Dst = side(), side()
	r.TCPState = uint16(rng.IntN(1 << 12))
	r.SrcID = uint32(rng.IntN(3))
	r.Flags = uint32(rng.IntN(1 << 12))
	return r
}

var propertyExprs = []string{
	"", "tcp", "udp", "icmp", "ip", "ipv6", "arp", "man", "con", "syn and not fin",
	"host 10.0.0.1", "src host 10.0.0.1 or 2001:db8::1", "dst net 10.0.0.0/16",
	"src and dst net 10", "port 53", "src port 22-443", "src and dst port 5000",
	"pkts gt 10", "src pkts lte 3", "dst bytes > 5000", "ttl lt 64", "src or dst tos 8",
	"vid 100", "srcid 1", "tcp or udp and port 53", "not man and (reset or fin)",
	"ip proto 47 or 132", "icmpv6 or timeout", "retrans and not outoforder",
	"(host 10.0.0.2 or net 192.168.0.0/16) and not port 80",
}

// TestNotIsComplement checks, over random records, that "not (E)" selects exactly the
// records E does not, and that and/or compose as boolean operators on the parts.
func TestNotIsComplement(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	recs := make([]record.Record, 2000)
	for i := range recs {
		recs[i] = randomRecord(rng)
	}
	fs := make([]*Filter, len(propertyExprs))
	for i, e := range propertyExprs {
		fs[i] = MustCompile(e)
		neg := "not (" + e + ")"
		if e == "" {
			neg = "not (man or not man)" // "not ()" is not an expression
		}
		not := MustCompile(neg)
		hits := 0
		for j := range recs {
			m := fs[i].Match(&recs[j])
			if not.Match(&recs[j]) == m {
				t.Fatalf("record %d: %q = %v and %q = %v", j, e, m, not.String(), !m)
			}
			if m {
				hits++
			}
		}
		if e != "" && (hits == 0 || hits == len(recs)) {
			t.Errorf("%q matches %d of %d records: the property test is vacuous for it", e, hits, len(recs))
		}
	}
	for i := 1; i < len(propertyExprs); i++ {
		a, b := propertyExprs[i], propertyExprs[(i*7)%len(propertyExprs)]
		if b == "" {
			continue
		}
		and := MustCompile("(" + a + ") and (" + b + ")")
		or := MustCompile("(" + a + ") or (" + b + ")")
		fb := MustCompile(b)
		for j := range recs {
			ma, mb := fs[i].Match(&recs[j]), fb.Match(&recs[j])
			if and.Match(&recs[j]) != (ma && mb) || or.Match(&recs[j]) != (ma || mb) {
				t.Fatalf("record %d: and/or of %q, %q disagree with their parts", j, a, b)
			}
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	recs := testRecords()
	for _, e := range propertyExprs {
		f := MustCompile(e)
		n := testing.AllocsPerRun(100, func() {
			for i := range recs {
				f.Match(&recs[i].rec)
			}
		})
		if n != 0 {
			t.Errorf("%q: Match allocates %v times per run", e, n)
		}
	}
	var nilFilter *Filter
	if !nilFilter.Match(&recs[0].rec) {
		t.Error("a nil filter must match everything")
	}
}

// FuzzCompile: Compile never panics; a compiled filter never panics on matching, its
// negation compiles, and its canonical form compiles back to itself.
func FuzzCompile(f *testing.F) {
	for _, e := range propertyExprs {
		f.Add(e)
	}
	for _, e := range corpusExprs {
		f.Add(e)
	}
	recs := append(testRecords(), rateRecords()...)
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Compile(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(expr) {
				t.Fatalf("Compile(%q): bad error %#v", expr, err)
			}
			_ = err.Error()
			return
		}
		for i := range recs {
			flt.Match(&recs[i].rec)
		}
		if strings.TrimSpace(expr) == "" {
			return
		}
		not, err := Compile("not (" + expr + ")")
		if err != nil {
			t.Fatalf("%q compiles but its negation does not: %v", expr, err)
		}
		for i := range recs {
			if not.Match(&recs[i].rec) == flt.Match(&recs[i].rec) {
				t.Fatalf("%q: negation is not the complement on record %s", expr, recs[i].name)
			}
		}
		canon := flt.String()
		again, err := Compile(canon)
		if err != nil || again.String() != canon {
			t.Fatalf("%q: canonical form %q does not round-trip: %v", expr, canon, err)
		}
	})
}

// BenchmarkFilterMatch measures the per-record cost of a compiled filter: read and
// cluster run it on every record of an archive scan, so it must stay in the
// nanoseconds and allocate nothing.
func BenchmarkFilterMatch(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]record.Record, 1024)
	for i := range recs {
		recs[i] = randomRecord(rng)
	}
	for _, bc := range []struct{ name, expr string }{
		{"proto", "tcp"},
		{"host", "host 10.0.0.1"},
		{"net_port", "net 10.0.0.0/16 and dst port 53"},
		{"compound", "(tcp and src pkts gt 5 and not port 22) or (udp and net 2001:db8::/32) or man"},
	} {
		f := MustCompile(bc.expr)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				if f.Match(&recs[i&1023]) {
					n++
				}
			}
			_ = n
		})
	}
}

// TestErrorEchoIsShort: a syntax error repeats a short window of the expression around
// the position, and cuts a long token it names, so a huge expression gives one short
// line. Before the fix: the 1 MB expression's error was 2 MB long (the expression,
// and the token again in the message).
func TestErrorEchoIsShort(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, expr := range []string{
		"tcp and host " + long,
		long + " and tcp",
		"tcp and " + strings.Repeat("(", 1000) + "port",
		strings.Repeat("tcp and ", 100000) + "port x " + strings.Repeat("and udp ", 100000),
	} {
		_, err := Compile(expr)
		if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), ">>>HERE<<<") {
			msg := "<nil>"
			if err != nil {
				msg = err.Error()
			}
			t.Errorf("error of %d bytes: %.300s; want a short line marking the position", len(msg), msg)
		}
	}
}
