package flow

import (
	"testing"
	"time"

	"panoptes/record"
	"panoptes/sensor/decode"
)

const sec = int64(time.Second)

var (
	hostA = [16]byte{10, 0, 0, 1}
	hostB = [16]byte{10, 0, 0, 2}
	hostC = [16]byte{10, 0, 0, 3}
)

// pkt builds a decoded IPv4 packet as Decode would leave it.
func pkt(ts int64, src, dst [16]byte, proto uint8, sport, dport uint16) decode.Packet {
	return decode.Packet{Timestamp: ts, WireLen: 100, CapLen: 100, Encaps: decode.EncapEthernet, HasMAC: true,
		Net: decode.NetIPv4, Proto: proto, TTL: 64, SrcAddr: src, DstAddr: dst, IPLen: 86, IPHdrLen: 20,
		L4: true, SrcPort: sport, DstPort: dport, AppLen: 46}
}

func tcpPkt(ts int64, src, dst [16]byte, sport, dport uint16, flags uint8, seq, ack uint32, payload uint32) decode.Packet {
	p := pkt(ts, src, dst, decode.ProtoTCP, sport, dport)
	p.TCPFlags, p.TCPSeq, p.TCPAck, p.AppLen, p.TCPWin = flags, seq, ack, payload, 1000
	p.WireLen = 54 + payload
	return p
}

// run feeds packets to a fresh table, advancing the clock after each, flushes it, and
// returns what it emitted.
func run(t *testing.T, cfg Config, pkts []decode.Packet) ([]record.Record, *Table) {
	t.Helper()
	var out []record.Record
	tbl := NewTable(cfg, func(r *record.Record) { out = append(out, *r) })
	for i := range pkts {
		tbl.Update(&pkts[i])
		tbl.Advance(pkts[i].Timestamp)
	}
	tbl.Flush()
	return out, tbl
}

const (
	syn    = decode.TCPSyn
	synack = decode.TCPSyn | decode.TCPAck
	ack    = decode.TCPAck
	finack = decode.TCPFin | decode.TCPAck
	rst    = decode.TCPRst
)

func handshake(t0 int64) []decode.Packet {
	ms := int64(time.Millisecond)
	return []decode.Packet{
		tcpPkt(t0, hostA, hostB, 40000, 80, syn, 100, 0, 0),
		tcpPkt(t0+10*ms, hostB, hostA, 80, 40000, synack, 500, 101, 0),
		tcpPkt(t0+12*ms, hostA, hostB, 40000, 80, ack, 101, 501, 0),
		tcpPkt(t0+13*ms, hostA, hostB, 40000, 80, ack, 101, 501, 200),
		tcpPkt(t0+30*ms, hostB, hostA, 80, 40000, ack, 501, 301, 1000),
	}
}

func TestTCPLifecycle(t *testing.T) {
	ms := int64(time.Millisecond)
	t0 := 1000 * sec
	pkts := append(handshake(t0),
		tcpPkt(t0+40*ms, hostA, hostB, 40000, 80, finack, 301, 1501, 0),
		tcpPkt(t0+41*ms, hostB, hostA, 80, 40000, finack, 1501, 302, 0),
		tcpPkt(t0+42*ms, hostA, hostB, 40000, 80, ack, 302, 1502, 0),
	)
	out, _ := run(t, Config{}, pkts)
	if len(out) != 1 {
		t.Fatalf("got %d records, want 1: %+v", len(out), out)
	}
	r := out[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"cause", r.Cause, record.CauseClose},
		{"state", r.State(), "FIN"},
		{"dir", r.Dir(), "->"},
		{"saddr", r.SrcAddr, hostA},
		{"sport", r.SrcPort, uint16(40000)},
		{"spkts", r.Src.Pkts, uint64(5)},
		{"dpkts", r.Dst.Pkts, uint64(3)},
		{"sappbytes", r.Src.AppBytes, uint64(200)},
		{"dappbytes", r.Dst.AppBytes, uint64(1000)},
		{"synack", r.SynAck, 10 * ms},
		{"ackdat", r.AckDat, 2 * ms},
		{"stcpb", r.Src.BaseSeq, uint32(100)},
		{"dtcpb", r.Dst.BaseSeq, uint32(500)},
		{"retrans", r.Src.Retrans + r.Dst.Retrans, uint64(0)},
		{"start", r.StartTime, t0},
		{"last", r.LastTime, t0 + 42*ms},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// A flow first seen with its SYN-ACK is turned round: the SYN sender is the source.
func TestSynAckFirstReversesDirection(t *testing.T) {
	pkts := handshake(5 * sec)[1:]
	out, _ := run(t, Config{}, pkts)
	if len(out) != 1 || out[0].SrcAddr != hostA || out[0].SrcPort != 40000 || out[0].Src.Pkts != 2 || out[0].Dst.Pkts != 2 {
		t.Fatalf("got %+v", out)
	}
}

// A handshake whose SYN-ACK the sensor never saw (asymmetric routing) is established by
// the client's ACK, as Argus counts it (CON, not REQ), with no RTT to report.
func TestHandshakeWithoutSynAck(t *testing.T) {
	h := handshake(5 * sec)
	pkts := []decode.Packet{h[0], h[2], h[3]}
	out, _ := run(t, Config{}, pkts)
	if len(out) != 1 || out[0].State() != "CON" || out[0].Src.Pkts != 3 || out[0].SynAck != 0 || out[0].AckDat != 0 {
		t.Fatalf("got %d records, state %q: %+v", len(out), out[0].State(), out)
	}
	// A lone SYN is still a request.
	if out, _ := run(t, Config{}, h[:1]); len(out) != 1 || out[0].State() != "REQ" {
		t.Fatalf("a lone SYN: got %+v", out)
	}
}

func TestResetClosesFlow(t *testing.T) {
	pkts := []decode.Packet{
		tcpPkt(sec, hostA, hostB, 1, 2, syn, 1, 0, 0),
		tcpPkt(sec+1, hostB, hostA, 2, 1, rst|ack, 0, 2, 0),
	}
	out, _ := run(t, Config{}, pkts)
	if len(out) != 1 || out[0].State() != "RST" || out[0].Cause != record.CauseClose || out[0].Dst.Pkts != 1 {
		t.Fatalf("got %+v", out)
	}
}

func TestRetransmissionAndReordering(t *testing.T) {
	t0 := 10 * sec
	pkts := append(handshake(t0),
		tcpPkt(t0+100, hostA, hostB, 40000, 80, ack, 101, 501, 200),  // repeats seq 101..301: retransmission
		tcpPkt(t0+200, hostA, hostB, 40000, 80, ack, 501, 1501, 100), // skips 301..501: a hole
		tcpPkt(t0+300, hostA, hostB, 40000, 80, ack, 301, 1501, 200), // fills the hole: out of order
	)
	out, _ := run(t, Config{}, pkts)
	r := out[0]
	if r.Src.Retrans != 1 || r.Src.OutOfOrder != 1 || r.Src.Loss != 1 {
		t.Fatalf("retrans %d, ooo %d, loss %d; want 1, 1, 1", r.Src.Retrans, r.Src.OutOfOrder, r.Src.Loss)
	}
}

func TestStatusInterval(t *testing.T) {
	var pkts []decode.Packet
	for i := int64(0); i < 13; i++ { // one packet a second for 13 s
		pkts = append(pkts, pkt(100*sec+i*sec, hostA, hostB, decode.ProtoUDP, 5000, 53))
	}
	out, _ := run(t, Config{StatusInterval: 5 * time.Second}, pkts)
	var counts []uint64
	for _, r := range out {
		counts = append(counts, r.Src.Pkts)
	}
	if len(out) != 3 || counts[0] != 5 || counts[1] != 5 || counts[2] != 3 {
		t.Fatalf("records of %v packets, want [5 5 3]", counts)
	}
	if out[0].Cause != record.CauseStart || out[1].Cause != record.CauseStatus {
		t.Fatalf("causes %v %v, want Start Status", out[0].Cause, out[1].Cause)
	}
}

func TestIdleTimeout(t *testing.T) {
	pkts := []decode.Packet{
		pkt(sec, hostA, hostB, decode.ProtoUDP, 5000, 53),
		pkt(50*sec, hostA, hostB, decode.ProtoUDP, 5000, 53), // 49 s later: past the 30 s UDP timeout
	}
	out, _ := run(t, Config{}, pkts)
	if len(out) != 2 {
		t.Fatalf("got %d records, want 2", len(out))
	}
	if out[0].Flags&record.FlagTimeout == 0 || out[0].Cause != record.CauseClose {
		t.Fatalf("first record not closed by timeout: %+v", out[0])
	}
}

func TestEvictionWhenFull(t *testing.T) {
	pkts := []decode.Packet{
		pkt(sec, hostA, hostB, decode.ProtoUDP, 1, 53),
		pkt(2*sec, hostA, hostB, decode.ProtoUDP, 2, 53),
		pkt(3*sec, hostA, hostB, decode.ProtoUDP, 3, 53),
	}
	out, tbl := run(t, Config{MaxFlows: 2}, pkts)
	if st := tbl.Stats(); st.Evictions != 1 {
		t.Fatalf("evictions %d, want 1", st.Evictions)
	}
	if len(out) != 3 || out[0].Cause != record.CauseEvicted || out[0].SrcPort != 1 {
		t.Fatalf("got %+v", out)
	}
}

func fragPkt(ts int64, off uint16, more bool, sport, dport uint16) decode.Packet {
	p := pkt(ts, hostA, hostC, decode.ProtoUDP, sport, dport)
	p.Fragment, p.FragOffset, p.FragMore, p.FragID = true, off, more, 77
	if off != 0 {
		p.L4, p.SrcPort, p.DstPort = false, 0, 0
	}
	return p
}

func TestFragments(t *testing.T) {
	tests := []struct {
		name      string
		pkts      []decode.Packet
		wantPkts  []uint64 // per record, in emission order
		wantPorts uint16
		partial   bool
	}{
		{"in order", []decode.Packet{fragPkt(sec, 0, true, 9, 53), fragPkt(sec+1, 185, false, 0, 0)}, []uint64{2}, 9, false},
		{"last first", []decode.Packet{fragPkt(sec, 185, false, 0, 0), fragPkt(sec+1, 0, true, 9, 53)}, []uint64{2}, 9, false},
		{"first never comes", []decode.Packet{fragPkt(sec, 185, true, 0, 0), fragPkt(sec+1, 370, false, 0, 0)}, []uint64{2}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := run(t, Config{}, tc.pkts)
			if len(out) != len(tc.wantPkts) {
				t.Fatalf("got %d records, want %d: %+v", len(out), len(tc.wantPkts), out)
			}
			for i, r := range out {
				if r.Pkts() != tc.wantPkts[i] || r.SrcPort != tc.wantPorts {
					t.Errorf("record %d: %d packets, sport %d; want %d, %d", i, r.Pkts(), r.SrcPort, tc.wantPkts[i], tc.wantPorts)
				}
				if (r.Flags&record.FlagFragPartial != 0) != tc.partial || r.Flags&record.FlagFragments == 0 {
					t.Errorf("record %d flags %#x, partial want %v", i, r.Flags, tc.partial)
				}
			}
		})
	}
}

func TestICMPEchoKeyedBySequence(t *testing.T) {
	var pkts []decode.Packet
	for seq := uint16(1); seq <= 3; seq++ {
		req := pkt(int64(seq)*sec, hostA, hostB, decode.ProtoICMP, 8, 0)
		req.ICMPID, req.ICMPSeq = 7, seq
		rep := pkt(int64(seq)*sec+1000, hostB, hostA, decode.ProtoICMP, 0, 0)
		rep.ICMPID, rep.ICMPSeq = 7, seq
		pkts = append(pkts, req, rep)
	}
	out, _ := run(t, Config{}, pkts)
	if len(out) != 3 {
		t.Fatalf("got %d records, want one per echo sequence number (3)", len(out))
	}
	for _, r := range out {
		if r.Src.Pkts != 1 || r.Dst.Pkts != 1 || r.State() != "ECO" || r.SrcAddr != hostA {
			t.Fatalf("got %+v, want request and reply in one ECO record from %v", r, hostA)
		}
	}
}

// The packet path allocates nothing: decoding a frame and accounting it to an existing
// flow, in a warmed table.
func TestUpdateAllocatesNothing(t *testing.T) {
	tbl := NewTable(Config{}, func(*record.Record) {})
	pkts := make([]decode.Packet, 1000)
	for i := range pkts {
		pkts[i] = pkt(sec, hostA, hostB, decode.ProtoUDP, uint16(1000+i), 53)
		tbl.Update(&pkts[i])
	}
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		p := &pkts[i%len(pkts)]
		p.Timestamp += 1000
		tbl.Update(p)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet, want 0", allocs)
	}
	// New flows replacing expired ones reuse slab entries and map space.
	n := 0
	allocs = testing.AllocsPerRun(5000, func() {
		p := pkt(int64(100+n)*sec, hostA, hostC, decode.ProtoUDP, uint16(n%500), 53)
		tbl.Update(&p)
		tbl.Advance(p.Timestamp)
		n++
	})
	if allocs > 0.01 {
		t.Fatalf("%v allocations per new flow in a warmed table, want 0", allocs)
	}
}

// BenchmarkUpdate measures the flow table's per-packet cost, the sensor's hot path.
func BenchmarkUpdate(b *testing.B) {
	for _, flows := range []int{100, 100000} {
		b.Run(map[int]string{100: "flows=100", 100000: "flows=100k"}[flows], func(b *testing.B) {
			tbl := NewTable(Config{}, func(*record.Record) {})
			pkts := make([]decode.Packet, flows)
			for i := range pkts {
				var a [16]byte
				a[0], a[1], a[2], a[3] = 10, byte(i>>16), byte(i>>8), byte(i)
				pkts[i] = tcpPkt(sec, a, hostB, uint16(i), 443, ack, uint32(i), 1, 100)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				p := &pkts[i%flows]
				p.Timestamp += 1000
				p.TCPSeq += 100
				tbl.Update(p)
				i++
			}
		})
	}
}

// Two tap ports with disagreeing clocks: the request reaches its flow table after the
// answer, though stamped earlier. With EarliestIsSource the flow's source is the sender
// of the earliest packet, and there is one flow.
func TestEarliestIsSource(t *testing.T) {
	resp := pkt(10*sec+500, hostB, hostA, decode.ProtoUDP, 53, 5000)
	req := pkt(10*sec, hostA, hostB, decode.ProtoUDP, 5000, 53) // stamped before the response
	out, _ := run(t, Config{EarliestIsSource: true}, []decode.Packet{resp, req})
	if len(out) != 1 || out[0].SrcAddr != hostA || out[0].SrcPort != 5000 || out[0].Src.Pkts != 1 || out[0].Dst.Pkts != 1 || out[0].StartTime != 10*sec {
		t.Fatalf("got %+v, want one flow from %v:5000 starting at the request", out, hostA)
	}
	// Without the option the first packet processed decides, as Argus does for a file.
	out, _ = run(t, Config{}, []decode.Packet{resp, req})
	if len(out) != 1 || out[0].SrcAddr != hostB {
		t.Fatalf("without EarliestIsSource: got source %v, want %v", out[0].SrcAddr, hostB)
	}
	// Two NIC clocks that disagree: the answer, processed after its request, is stamped
	// 200 µs before it. Within the tolerance for skew it stays the answer (one flow, the
	// requester its source, starting at the earlier stamp); with no tolerance the stamps
	// are believed and it becomes the source.
	req2 := pkt(30*sec, hostA, hostB, decode.ProtoUDP, 5001, 53)
	resp2 := pkt(30*sec-200*1000, hostB, hostA, decode.ProtoUDP, 53, 5001)
	out, _ = run(t, Config{EarliestIsSource: true, SkewTolerance: time.Millisecond}, []decode.Packet{req2, resp2})
	if len(out) != 1 || out[0].SrcAddr != hostA || out[0].SrcPort != 5001 || out[0].Src.Pkts != 1 || out[0].Dst.Pkts != 1 || out[0].StartTime != resp2.Timestamp {
		t.Fatalf("skewed clocks: got %+v, want one flow from %v:5001", out, hostA)
	}
	out, _ = run(t, Config{EarliestIsSource: true}, []decode.Packet{req2, resp2})
	if len(out) != 1 || out[0].SrcAddr != hostB {
		t.Fatalf("one clock: got source %v, want %v (the earlier stamp)", out[0].SrcAddr, hostB)
	}
	// TCP: a SYN-ACK seen first already decides the direction; nothing flips it.
	synAck := tcpPkt(20*sec+500, hostB, hostA, 80, 40000, synack, 500, 101, 0)
	syn := tcpPkt(20*sec, hostA, hostB, 40000, 80, syn, 100, 0, 0)
	out, _ = run(t, Config{EarliestIsSource: true}, []decode.Packet{synAck, syn})
	if len(out) != 1 || out[0].SrcAddr != hostA || out[0].Src.Pkts != 1 || out[0].Dst.Pkts != 1 {
		t.Fatalf("TCP: got %+v", out)
	}
}

// TestFragmentGroupsBoundedByMaxFrags sends 20000 orphan fragments (each its own
// datagram, none ever gets its first fragment) within one second into a table of 100
// fragment groups and the default flows. Fragment groups are bounded by MaxFrags: the
// oldest is exported early (cause Evict, counted in Evictions), and every fragment is
// still in some record.
// Before the fix: 20000 fragment groups held at once (no bound), 0 evictions.
func TestFragmentGroupsBoundedByMaxFrags(t *testing.T) {
	const n, limit = 20000, 100
	var pkts uint64
	tbl := NewTable(Config{MaxFrags: limit}, func(r *record.Record) { pkts += r.Pkts() })
	held := 0
	for i := 0; i < n; i++ {
		p := fragPkt(sec+int64(i)*50_000, 185, true, 0, 0)
		p.FragID = uint32(i)
		if i%2 == 1 { // IPv6 and IPv4 alike
			p.Net = decode.NetIPv6
		}
		tbl.Update(&p)
		tbl.Advance(p.Timestamp)
		held = max(held, len(tbl.frags))
	}
	tbl.Flush()
	st := tbl.Stats()
	if held > limit || st.Evictions < n-limit {
		t.Errorf("%d fragment groups held at once (bound %d), %d evictions (want at least %d)", held, limit, st.Evictions, n-limit)
	}
	if pkts != n {
		t.Errorf("%d fragments in records, want %d", pkts, n)
	}
}
