package filter

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"panoptes/record"
)

// rateRecords are records with durations and losses, for the real-valued
// comparisons and the ICMP kinds.
func rateRecords() []named {
	// 7+4 packets over 2 s: src rate 3/s, src load 8*7000/2 bits/s.
	busy := flow("10.0.0.1", 40000, "10.0.0.2", 80, 6)
	busy.StartTime, busy.LastTime = 1e9, 3e9
	busy.Src = record.Side{Pkts: 7, Bytes: 7001, Loss: 1}
	busy.Dst = record.Side{Pkts: 4, Bytes: 4000}

	idle := flow("10.0.0.1", 40001, "10.0.0.3", 443, 6)
	idle.StartTime, idle.LastTime = 1e9, 101e9
	idle.Src = record.Side{Pkts: 2, Bytes: 120}
	idle.Dst = record.Side{Pkts: 1, Bytes: 60}

	single := flow("10.0.0.1", 53000, "10.0.0.53", 53, 17)
	single.StartTime, single.LastTime = 1e9, 1e9
	single.Src = record.Side{Pkts: 1, Bytes: 80}

	unreach := flow("10.0.0.9", 3, "10.0.0.1", 1, 1)
	unreach.Src = record.Side{Pkts: 1, Bytes: 70}
	reply := flow("8.8.8.8", 0, "10.0.0.1", 0, 1)
	reply.Src = record.Side{Pkts: 1, Bytes: 98}
	redirect := flow("10.0.0.254", 5, "10.0.0.1", 1, 1)
	redirect.Src = record.Side{Pkts: 1, Bytes: 70}
	timexed := flow("10.9.9.9", 11, "10.0.0.1", 0, 1)
	timexed.Src = record.Side{Pkts: 1, Bytes: 70}
	echo6 := flow("2001:db8::1", 128, "2001:db8::2", 0, 58)
	echo6.Src = record.Side{Pkts: 1, Bytes: 70}
	unreach6 := flow("2001:db8::9", 1, "2001:db8::1", 4, 58)
	unreach6.Src = record.Side{Pkts: 1, Bytes: 70}
	timexed6 := flow("2001:db8::9", 3, "2001:db8::1", 0, 58)
	timexed6.Src = record.Side{Pkts: 1, Bytes: 70}
	// Type 3 over TCP is a port, not an ICMP type.
	tcp3 := flow("10.0.0.5", 3, "10.0.0.6", 3, 6)
	tcp3.Src = record.Side{Pkts: 1, Bytes: 60}

	return []named{{"busy", busy}, {"idle", idle}, {"single", single}, {"unreach", unreach}, {"reply", reply},
		{"redirect", redirect}, {"timexed", timexed}, {"echo6", echo6}, {"unreach6", unreach6},
		{"timexed6", timexed6}, {"tcp3", tcp3}}
}

func TestGrammarExtensions(t *testing.T) {
	recs := rateRecords()
	tests := []struct{ expr, want string }{
		{"rate gt 2", "busy"}, // per side: src (7-1)/2 = 3
		{"rate eq 3", "busy"},
		{"rate > 0.005", "busy idle"},                     // idle: 2/100
		{"src rate gte 3", "busy"},                        // (7-1)/2
		{"dst rate lt 1 and tcp", "idle tcp3"},            // busy dst: 3/2
		{"rate 0 and udp", "single"},                      // one packet: no rate
		{"load gt 20000", "busy"},                         // src 8*7000/2
		{"src load > 20000 and src load < 30000", "busy"}, // 8*7000/2
		{"loss gt 0", "busy"},
		{"src loss 1", "busy"},
		{"dst loss gt 0", ""},
		{"ploss gt 9 and ploss lt 10", "busy"}, // 1/11
		{"src ploss gt 14", "busy"},            // 1/7
		{"src pkts ne 1 and ip", "busy idle"},
		{"src pkts != 1", "busy idle"},
		{"!(src pkts != 1) and tcp", "tcp3"},
		{"net 10.0.0.0 mask 255.255.255.0", "busy idle single unreach reply redirect timexed tcp3"},
		{"src net 10.0.0.0 mask 255.0.0.0 and icmp", "unreach redirect timexed"},
		{"net 2001:db8:: mask ffff:ffff::", "echo6 unreach6 timexed6"},
		{"echo", "reply echo6"},
		{"unreach", "unreach unreach6"},
		{"redirect", "redirect"},
		{"timexed", "timexed timexed6"},
		{"icmp and not echo", "unreach redirect timexed"},
		{"ip proto 58 and (unreach or timexed)", "unreach6 timexed6"},
		{"gre or esp or ah or sctp or igmp or ospf or pim", ""},
	}
	for _, tt := range tests {
		f, err := Compile(tt.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.expr, err)
			continue
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
		again, err := Compile(f.String())
		if err != nil || again.String() != f.String() {
			t.Errorf("%q: canonical %q does not round-trip: %v", tt.expr, f, err)
		}
	}
}

func TestProtocolNames(t *testing.T) {
	for name, num := range map[string]uint8{"igmp": 2, "gre": 47, "esp": 50, "ah": 51, "ospf": 89,
		"pim": 103, "sctp": 132, "vrrp": 112, "udplite": 136, "ipv6-icmp": 58, "icmp": 1} {
		f, err := Compile(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		r := flow("10.0.0.1", 0, "10.0.0.2", 0, num)
		other := flow("10.0.0.1", 0, "10.0.0.2", 0, num+1)
		if !f.Match(&r) || f.Match(&other) {
			t.Errorf("%q does not select exactly protocol %d", name, num)
		}
		if g := MustCompile("ip proto " + name); !g.Match(&r) {
			t.Errorf("ip proto %s does not select protocol %d", name, num)
		}
	}
}

func TestGrammarErrors(t *testing.T) {
	tests := []struct {
		expr string
		col  int
		msg  string
	}{
		{"rate gt fast", 9, `bad number "fast" for rate`},
		{"load gt NaN", 9, `bad number "NaN" for load`},
		{"ploss > inf", 9, `bad number "inf"`},
		{"net 10.0.0.0 mask 255.0.255.0", 19, `bad mask "255.0.255.0"`},
		{"net 10.0.0.0 mask ffff::", 19, `bad mask`},
		{"net 10.0.0.0 mask", 18, `bad mask ""`},
		{"tcp rate 5", 5, `unexpected "rate"`},
		{"pkts !=", 8, "expected a number"},
		{"echo 5", 6, `unexpected "5"`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q) = %v, want a syntax error", tt.expr, err)
			continue
		}
		if se.Column() != tt.col || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Compile(%q): column %d, %q; want column %d containing %q", tt.expr, se.Column(), err, tt.col, tt.msg)
		}
	}
}

// captureRecords reads testdata/captures.pnp: the records `panoptes import` makes of
// the repository's test captures (../testdata/*.pcap; see testdata/README.md).
func captureRecords(t testing.TB) []record.Record {
	f, err := os.Open("testdata/captures.pnp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := record.NewReader(f, f.Name())
	if err != nil {
		t.Fatal(err)
	}
	var recs []record.Record
	for {
		var r record.Record
		if err := rd.Read(&r); err == io.EOF {
			return recs
		} else if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
}

// corpusExprs cover every primitive; the property test below runs each over real
// records and random ones.
var corpusExprs = []string{
	"tcp", "udp", "icmp", "icmpv6", "ip", "ipv4", "ipv6", "arp", "man", "ip proto 17",
	"host 141.142.228.5", "src host 192.168.0.89", "dst net 192.168.0.0/16", "net 2a00::/16",
	"net 192.168.0.0 mask 255.255.0.0", "port 80", "src port 1024-65535", "dst port 53 or 80",
	"src and dst port 53", "src or dst net 10", "pkts gt 5", "src pkts lte 3", "dst bytes > 1000",
	"appbytes gt 100", "ttl lt 64", "src tos 0", "vid 100", "rate gt 10", "src load gt 1000",
	"loss gt 0", "ploss lt 1", "pkts ne 2", "srcid 0", "syn", "synack", "est", "con", "fin", "reset",
	"retrans", "outoforder", "winshut", "timeout", "frag", "echo", "unreach", "redirect", "timexed",
	"tcp and (syn or fin) and not reset", "(udp or icmp) and src pkts 1",
}

// TestNotIsComplementOnCaptures: over real records (and random ones), "not E" selects
// exactly the complement of E, and "E and F", "E or F" the intersection and union.
func TestNotIsComplementOnCaptures(t *testing.T) {
	recs := captureRecords(t)
	rng := rand.New(rand.NewPCG(5, 9))
	for range 2000 {
		recs = append(recs, randomRecord(rng))
	}
	sets := make([][]bool, len(corpusExprs))
	for i, e := range corpusExprs {
		f := MustCompile(e)
		not := MustCompile("not (" + e + ")")
		bang := MustCompile("!(" + e + ")")
		sets[i] = make([]bool, len(recs))
		for j := range recs {
			m := f.Match(&recs[j])
			sets[i][j] = m
			if not.Match(&recs[j]) == m || bang.Match(&recs[j]) == m {
				t.Fatalf("%q: negation is not the complement on record %d", e, j)
			}
		}
	}
	for i := range corpusExprs {
		k := (i*13 + 5) % len(corpusExprs)
		a, b := corpusExprs[i], corpusExprs[k]
		and := MustCompile("(" + a + ") and (" + b + ")")
		or := MustCompile("(" + a + ") || (" + b + ")")
		for j := range recs {
			if and.Match(&recs[j]) != (sets[i][j] && sets[k][j]) || or.Match(&recs[j]) != (sets[i][j] || sets[k][j]) {
				t.Fatalf("%q, %q: and/or are not intersection/union on record %d", a, b, j)
			}
		}
	}
}

// TestCorpusMatchAllocs: every primitive matches without allocating.
func TestCorpusMatchAllocs(t *testing.T) {
	recs := captureRecords(t)
	for _, e := range corpusExprs {
		f := MustCompile(e)
		if n := testing.AllocsPerRun(20, func() {
			for i := range recs {
				f.Match(&recs[i])
			}
		}); n != 0 {
			t.Errorf("%q allocates %v times per pass", e, n)
		}
	}
}
