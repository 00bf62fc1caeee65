package record

import (
	"fmt"
	"testing"
	"time"
)

// TestStateNames: the state ra prints, from the TCP events a record carries (the most
// final event wins: a reset over a FIN, a FIN over an idle timeout, and so on), from
// the ICMP type and code, and from which sides sent packets for everything else.
func TestStateNames(t *testing.T) {
	tcp := func(bits uint16) Record {
		return Record{Kind: KindFlow, Family: 4, Proto: 6, TCPState: bits, Src: Side{Pkts: 1}}
	}
	icmp := func(typ, code uint16, dstPkts uint64) Record {
		return Record{Kind: KindFlow, Family: 4, Proto: 1, SrcPort: typ, DstPort: code, Src: Side{Pkts: 1}, Dst: Side{Pkts: dstPkts}}
	}
	udp := func(srcPkts, dstPkts uint64) Record {
		return Record{Kind: KindFlow, Family: 6, Proto: 17, Src: Side{Pkts: srcPkts}, Dst: Side{Pkts: dstPkts}}
	}
	for _, tc := range []struct {
		name string
		r    Record
		want string
	}{
		{"syn only", tcp(TCPSawSyn), "REQ"},
		{"syn-ack seen", tcp(TCPSawSyn | TCPSawSynAck), "ACC"},
		{"handshake done", tcp(TCPSawSyn | TCPSawSynAck | TCPEstablished), "CON"},
		{"joined midstream", tcp(0), "CON"},
		{"source fin", tcp(TCPSawSyn | TCPSawSynAck | TCPEstablished | TCPSrcFin), "FIN"},
		{"both fins", tcp(TCPEstablished | TCPSrcFin | TCPDstFin | TCPClosed), "FIN"},
		{"closed without a fin seen", tcp(TCPEstablished | TCPClosed), "CLO"},
		{"reset after fin", tcp(TCPEstablished | TCPSrcFin | TCPReset), "RST"},
		{"reset of a syn", tcp(TCPSawSyn | TCPReset), "RST"},
		{"idle timeout", tcp(TCPEstablished | TCPTimedOut), "TIM"},
		{"fin before the timeout", tcp(TCPEstablished | TCPSrcFin | TCPTimedOut), "FIN"},
		{"zero window is not a state", tcp(TCPEstablished | TCPSrcWinShut | TCPDstWinShut), "CON"},
		{"echo request", icmp(8, 0, 0), "ECO"},
		{"echo answered", icmp(8, 0, 1), "ECO"},
		{"echo reply alone", icmp(0, 0, 0), "ECR"},
		{"port unreachable", icmp(3, 3, 0), "URP"},
		{"host unreachable", icmp(3, 1, 0), "URH"},
		{"time exceeded", icmp(11, 0, 0), "TXD"},
		{"udp one way", udp(3, 0), "INT"},
		{"udp answered", udp(1, 1), "CON"},
		{"arp", Record{Kind: KindFlow, Src: Side{Pkts: 1}}, "INT"},
		{"man start", Record{Kind: KindMan, Cause: CauseStart}, "STA"},
		{"man stop", Record{Kind: KindMan, Cause: CauseStop}, "STP"},
		{"man status", Record{Kind: KindMan, Cause: CauseStatus}, "CON"},
	} {
		if got := tc.r.State(); got != tc.want {
			t.Errorf("%s: State() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// JSON times are RFC 3339 UTC with nine fractional digits, so that their string order is
// their time order.
func TestJSONTimeFixedWidth(t *testing.T) {
	stime, ok := Lookup("stime")
	if !ok {
		t.Fatal("no stime field")
	}
	times := []int64{1448269127395120000, 1448269127395121000, 1448269127000000000, 1448269128000000001, 0}
	var prev string
	for i, ns := range times {
		r := Record{Kind: KindFlow, StartTime: ns}
		got := string(stime.JSON(nil, &r))
		want := `"` + time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05") + fmt.Sprintf(".%09dZ", ns%1e9) + `"`
		if got != want {
			t.Errorf("stime %d: JSON %s, want %s", ns, got, want)
		}
		if i > 0 && (got < prev) != (ns < times[i-1]) {
			t.Errorf("%s and %s: string order differs from time order", prev, got)
		}
		prev = got
	}
}
