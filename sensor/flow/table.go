package flow

import (
	"time"

	"panoptes/record"
	"panoptes/sensor/decode"
)

// Config sets a table's timers and size. Zero fields take the defaults (Argus's).
type Config struct {
	StatusInterval time.Duration // a status record for every active flow this often (5 s)
	TCPTimeout     time.Duration // idle timeout of TCP flows (60 s)
	UDPTimeout     time.Duration // idle timeout of UDP and other IP flows (30 s)
	ICMPTimeout    time.Duration // idle timeout of ICMP flows (5 s)
	OtherTimeout   time.Duration // idle timeout of non-IP flows, ARP included (5 s)
	CloseLinger    time.Duration // how long a closed TCP flow keeps catching stragglers (5 s)
	FragTimeout    time.Duration // how long fragments wait for their first fragment (5 s)
	MaxFlows       int           // flows held at once; when full the oldest is exported early
	// MaxFrags bounds the datagrams waiting for their first fragment (262,144), apart from
	// the flows: legitimate traffic has few (the first fragment usually comes first), and
	// a flood of orphan fragments must not take the flows' memory. When full, the oldest
	// waiting datagram is reported early as a partial flow.
	MaxFrags int
	SrcID    uint32
	Clock    record.Clock
	Inf      [16]byte // interface name the records say they were seen on
	// EarliestIsSource makes the sender of a flow's earliest packet its source even when
	// a later-stamped packet was processed first: packets of one conversation captured on
	// two interfaces (a tap's two monitor ports) meet out of order. TCP SYN/SYN-ACK
	// evidence still decides where there is some.
	EarliestIsSource bool
	// SkewTolerance is how far the clocks stamping a conversation's packets may disagree
	// (two NICs' hardware clocks): with EarliestIsSource, an answer stamped less than
	// this before the flow's first packet is taken for skew, not for the true start, and
	// does not make its sender the source. Zero when one clock stamps everything.
	SkewTolerance time.Duration
}

// Defaults fills zero fields with the defaults.
func (c *Config) Defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.StatusInterval, 5*time.Second)
	def(&c.TCPTimeout, 60*time.Second)
	def(&c.UDPTimeout, 30*time.Second)
	def(&c.ICMPTimeout, 5*time.Second)
	def(&c.OtherTimeout, 5*time.Second)
	def(&c.CloseLinger, 5*time.Second)
	def(&c.FragTimeout, 5*time.Second)
	if c.MaxFlows <= 0 {
		c.MaxFlows = 1 << 20
	}
	if c.MaxFrags <= 0 {
		c.MaxFrags = 1 << 18
	}
}

// Share is the configuration of one of n tables that together hold c's flows and
// fragment groups: each takes its share of the bounds (at least 1).
func (c Config) Share(n int) Config {
	c.MaxFlows = max(1, (c.MaxFlows+n-1)/n)
	c.MaxFrags = max(1, (c.MaxFrags+n-1)/n)
	return c
}

// Stats are a table's counters.
type Stats struct {
	Packets   uint64 // packets given to Update
	Flows     uint64 // flows created
	Records   uint64 // records emitted
	Evictions uint64 // flows and fragment groups exported early because MaxFlows or MaxFrags was reached
	FragOrph  uint64 // fragment groups that expired without their first fragment
	Active    int    // flows in the table now
}

// timeout classes: one idle list per class keeps each list in last-seen order, so
// expiry only ever looks at list heads.
const (
	classTCP = iota
	classUDP
	classICMP
	classOther
	classClosed
	classFrag // fragment groups waiting for their first fragment
	numClasses
)

const nilIdx = -1

// tcpSide tracks one direction's sequence space.
type tcpSide struct {
	haveSeq  bool
	next     uint32 // one past the highest sequence number seen
	gapLo    uint32 // the most recent hole in the sequence space [gapLo, gapHi)
	gapHi    uint32
	finSeq   uint32
	fin      bool
	finAcked bool
}

type entry struct {
	key     Key
	rec     record.Record
	srcIsA  bool // the record's source is the key's A side
	class   uint8
	inUse   bool
	started bool  // rec has packets since the last export (it is on the status list)
	emitted bool  // a record of this flow has been emitted already
	closed  bool  // TCP close or reset seen and exported; catching stragglers
	last    int64 // last packet time
	lastPkt [2]int64
	synTime int64
	sackTim int64
	tcp     [2]tcpSide

	// Fragment groups use the same slab. A group maps a datagram's fragments to the flow
	// its first fragment belongs to (fragKnown, with the ports it carried); until the
	// first fragment arrives, rec.Src holds the pending counts.
	frag          fragKey
	fragKnown     bool
	fragHasL4     bool
	fragSenderIsA bool
	fragSport     uint16
	fragDport     uint16
	fragICMPID    uint16
	fragICMPSeq   uint16
}

const chunkBits = 10 // the slab grows in chunks of 1024 entries

// Table is one shard's flow table.
type Table struct {
	cfg    Config
	emit   func(*record.Record)
	index  flowIndex
	frags  map[fragKey]int32 // datagram -> flow entry (after the first fragment) or pending group
	chunks [][]entry
	// links holds each entry's positions on the timer lists, beside the slab rather than
	// in it: moving a flow to the tail of its idle list (every packet) rewrites its
	// neighbours' links, and in this dense array they share cache lines instead of each
	// being a line of a large entry.
	links  [][]entryLinks
	n      int32 // entries ever allocated in the slab
	free   []int32
	idle   [numClasses]timerList // by last packet time
	status timerList             // by record start time, for flows with a record started
	now    int64
	stats  Stats
	tmo    [numClasses]int64
}

// NewTable returns a table that passes each record it emits to emit. The record is
// only valid during the call: emit must copy what it keeps.
func NewTable(cfg Config, emit func(*record.Record)) *Table {
	cfg.Defaults()
	t := &Table{
		cfg:   cfg,
		emit:  emit,
		frags: make(map[fragKey]int32, 256),
	}
	t.index.init(min(cfg.MaxFlows, 1<<10))
	t.tmo = [numClasses]int64{
		classTCP: int64(cfg.TCPTimeout), classUDP: int64(cfg.UDPTimeout), classICMP: int64(cfg.ICMPTimeout),
		classOther: int64(cfg.OtherTimeout), classClosed: int64(cfg.CloseLinger), classFrag: int64(cfg.FragTimeout),
	}
	for i := range t.idle {
		t.idle[i] = newTimerList(linkIdle)
	}
	t.status = newTimerList(linkStatus)
	return t
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	s := t.stats
	s.Active = t.index.n
	return s
}

func (t *Table) at(i int32) *entry { return &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }

func (t *Table) linksOf(i int32) *entryLinks { return &t.links[i>>chunkBits][i&(1<<chunkBits-1)] }

func (t *Table) alloc() int32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		return i
	}
	if int(t.n)>>chunkBits >= len(t.chunks) {
		t.chunks = append(t.chunks, make([]entry, 1<<chunkBits))
		t.links = append(t.links, make([]entryLinks, 1<<chunkBits))
	}
	i := t.n
	t.n++
	return i
}

func (t *Table) release(i int32) {
	*t.at(i) = entry{}
	*t.linksOf(i) = entryLinks{}
	t.free = append(t.free, i)
}

func classOf(k *Key) uint8 {
	switch {
	case k.Family == 0:
		return classOther
	case k.Proto == decode.ProtoTCP:
		return classTCP
	case k.Proto == decode.ProtoICMP || k.Proto == decode.ProtoICMPv6:
		return classICMP
	}
	return classUDP
}

// Update accounts one decoded packet. Packets must come in capture order; a timestamp
// earlier than the table's clock is accepted (it widens the record) but does not move
// the clock back.
func (t *Table) Update(p *decode.Packet) {
	t.stats.Packets++
	if p.Timestamp > t.now {
		t.now = p.Timestamp
	}
	if p.Fragment && (p.Net == decode.NetIPv4 || p.Net == decode.NetIPv6) {
		t.fragment(p)
		return
	}
	k, senderIsA := keyOf(p)
	t.account(p, &k, senderIsA, true)
}

// account finds or creates the flow for key k and adds the packet to it.
func (t *Table) account(p *decode.Packet, k *Key, senderIsA bool, canCreate bool) int32 {
	h := t.index.hash(k)
	i := t.lookup(k, h)
	ok := i != nilIdx
	if ok {
		// The flow's own timers are checked against each of its packets, so that
		// records split at the same packets whatever else the table is doing (and
		// however many shards there are).
		e := t.at(i)
		ts := p.Timestamp
		switch {
		case e.last+t.tmo[e.class] <= ts:
			// Idle for longer than its timeout: the old flow ends, a new one starts.
			t.expire(i, record.CauseClose, !e.closed)
			ok = false
		case e.closed && p.Net != 0 && p.Proto == decode.ProtoTCP && p.L4 && p.TCPFlags&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn:
			// A new SYN on a flow that has closed starts a new connection (port reuse).
			t.expire(i, record.CauseClose, false)
			ok = false
		case e.started && e.rec.StartTime+int64(t.cfg.StatusInterval) <= ts:
			t.export(i, e, record.CauseStatus)
		}
	}
	if !ok {
		if !canCreate {
			return nilIdx
		}
		i = t.create(p, k, h, senderIsA)
	}
	e := t.at(i)
	dir := 0
	if senderIsA != e.srcIsA {
		dir = 1
	}
	t.addPacket(i, e, p, dir)
	return i
}

func (t *Table) create(p *decode.Packet, k *Key, h uint32, senderIsA bool) int32 {
	if t.index.n >= t.cfg.MaxFlows {
		t.evictOldest()
	}
	i := t.alloc()
	e := t.at(i)
	e.key = *k
	e.inUse = true
	e.class = classOf(k)
	e.srcIsA = senderIsA
	// A flow first seen with a SYN-ACK was started by the receiver: Argus makes the
	// SYN sender the source.
	if k.Family != 0 && k.Proto == decode.ProtoTCP && p.L4 && p.TCPFlags&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn|decode.TCPAck {
		e.srcIsA = !senderIsA
	}
	r := &e.rec
	r.Kind = record.KindFlow
	r.SrcID = t.cfg.SrcID
	r.Clock = record.Clock(p.Clock)
	r.Inf = t.cfg.Inf
	r.Family = k.Family
	r.Proto = k.Proto
	r.EtherType = k.EtherType
	if e.srcIsA == senderIsA {
		r.SrcAddr, r.DstAddr = p.SrcAddr, p.DstAddr
		r.SrcPort, r.DstPort = p.SrcPort, p.DstPort
	} else {
		r.SrcAddr, r.DstAddr = p.DstAddr, p.SrcAddr
		r.SrcPort, r.DstPort = p.DstPort, p.SrcPort
	}
	if k.Family == 0 && p.Net != decode.NetARP {
		r.SrcAddr, r.DstAddr = [16]byte{}, [16]byte{}
	}
	if k.Family != 0 && (k.Proto == decode.ProtoICMP || k.Proto == decode.ProtoICMPv6) {
		// ICMP prints type and code as its ports, from the packet that opened the flow.
		r.SrcPort, r.DstPort = p.SrcPort, p.DstPort
		r.ICMPID, r.ICMPSeq = p.ICMPID, p.ICMPSeq
	}
	t.insert(h, i)
	e.last = p.Timestamp
	t.idle[e.class].add(t, i, e.last)
	t.stats.Flows++
	return i
}

// addPacket adds p, travelling in direction dir (0 = source to destination), to entry i.
// It is the per-packet hot path: the direction's counters are updated here rather than
// in a helper, whose call (too large to inline) cost about 1% more instructions per packet,
// and the rarer work (an earlier-stamped answer, TCP state) is behind one test each.
func (t *Table) addPacket(i int32, e *entry, p *decode.Packet, dir int) {
	r := &e.rec
	ts := p.Timestamp
	if dir == 1 && t.cfg.EarliestIsSource {
		dir = t.earliestSender(e, p)
	}
	if !e.started {
		e.started = true
		r.StartTime, r.LastTime = ts, ts
		t.status.add(t, i, ts)
	}
	if ts < r.StartTime {
		// Time went backwards within the flow: the record starts earlier, and its
		// place on the status list moves with it.
		r.StartTime = ts
		t.status.remove(t, i)
		t.status.add(t, i, ts)
	}
	if ts > r.LastTime {
		r.LastTime = ts
	}
	s := &r.Src
	if dir == 1 {
		s = &r.Dst
	}
	size := p.WireLen
	if s.Pkts == 0 || size < s.MinSize {
		s.MinSize = size
	}
	if size > s.MaxSize {
		s.MaxSize = size
	}
	s.Pkts++
	s.Bytes += uint64(size)
	s.AppBytes += uint64(p.AppLen)
	if p.Net == decode.NetIPv4 || p.Net == decode.NetIPv6 {
		// A TTL that changes within one direction means the packets took more than
		// one path to the sensor.
		if s.Pkts > 1 && s.TTL != p.TTL {
			r.Flags |= record.FlagMultiPath
		}
		s.TTL, s.ToS = p.TTL, p.ToS
	}
	if p.Encaps&decode.EncapVLAN != 0 {
		s.VLAN = p.VLAN
	}
	if p.Encaps&decode.EncapMPLS != 0 {
		s.MPLS = p.MPLS
	}
	if p.HasMAC {
		s.MAC = p.SrcMAC
		// The other side's MAC is known from this packet's destination until that
		// side sends a packet of its own.
		if o := otherSide(r, dir); o.MAC == ([6]byte{}) {
			o.MAC = p.DstMAC
		}
	}
	if last := e.lastPkt[dir]; last != 0 && ts >= last {
		s.AddInterval(ts - last)
	}
	e.lastPkt[dir] = ts
	r.Flags |= packetFlags(p)
	if ts > e.last {
		e.last = ts
	}
	t.idle[e.class].touch(t, i, e.last)
	if e.key.Family != 0 && e.key.Proto == decode.ProtoTCP && p.L4 {
		t.tcp(i, e, p, dir, s)
	}
}

// earliestSender is p's direction once Config.EarliestIsSource has had its say on a
// packet from the destination: when, by the clocks, the destination spoke first (its
// packet is stamped before the record's start by more than the skew tolerance) and no
// evidence says otherwise (the destination has not been counted yet, no record of the
// flow is out, no SYN or SYN-ACK says who opened it), the flow is turned round and p
// comes from the source (0). Otherwise p stays a packet from the destination (1).
func (t *Table) earliestSender(e *entry, p *decode.Packet) int {
	r := &e.rec
	if !e.started || e.emitted || p.Timestamp >= r.StartTime-int64(t.cfg.SkewTolerance) || r.Dst.Pkts != 0 ||
		r.TCPState&(record.TCPSawSyn|record.TCPSawSynAck) != 0 || isSynAck(p) {
		return 1
	}
	t.flip(e)
	if r.IsICMP() {
		// ICMP's "ports" are type and code of the flow's opening packet, now this one.
		r.SrcPort, r.DstPort = p.SrcPort, p.DstPort
	}
	return 0
}

// packetFlags are the record flags p sets by itself: its encapsulations, a fragment,
// and a truncated transport header (an IP packet of a known transport protocol that
// is not a fragment yet whose transport header the decoder could not read).
func packetFlags(p *decode.Packet) uint32 {
	f := encapFlags(p.Encaps)
	if p.Fragment {
		f |= record.FlagFragments
	}
	if p.Net != 0 && !p.L4 && !p.Fragment && (p.Net == decode.NetIPv4 || p.Net == decode.NetIPv6) {
		switch p.Proto {
		case decode.ProtoTCP, decode.ProtoUDP, decode.ProtoICMP, decode.ProtoICMPv6, decode.ProtoSCTP:
			f |= record.FlagTruncated
		}
	}
	return f
}

func isSynAck(p *decode.Packet) bool {
	return p.L4 && p.Proto == decode.ProtoTCP && p.TCPFlags&(decode.TCPSyn|decode.TCPAck) == decode.TCPSyn|decode.TCPAck
}

// flip turns a flow round: its source becomes its destination.
func (t *Table) flip(e *entry) {
	e.rec.Reverse()
	e.srcIsA = !e.srcIsA
	e.lastPkt[0], e.lastPkt[1] = e.lastPkt[1], e.lastPkt[0]
	e.tcp[0], e.tcp[1] = e.tcp[1], e.tcp[0]
}

func otherSide(r *record.Record, dir int) *record.Side {
	if dir == 0 {
		return &r.Dst
	}
	return &r.Src
}

// encapToFlag maps the decoder's encapsulation bits to the record's flag bits.
var encapToFlag = [...]struct {
	enc  uint16
	flag uint32
}{
	{decode.EncapEthernet, record.FlagEthernet}, {decode.EncapVLAN, record.FlagVLAN},
	{decode.EncapMPLS, record.FlagMPLS}, {decode.EncapPPP, record.FlagPPP},
	{decode.EncapSLL, record.FlagSLL}, {decode.EncapLLC, record.FlagLLC},
	{decode.EncapGRE, record.FlagGRE},
}

func encapFlags(enc uint16) uint32 {
	var f uint32
	for _, m := range encapToFlag {
		if enc&m.enc != 0 {
			f |= m.flag
		}
	}
	return f
}

// seqLT and friends compare sequence numbers modulo 2^32 (RFC 793).
func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }

// tcp updates TCP state, RTT and sequence accounting for one segment. Each concern is
// a function of its own; on the in-order segments of an established connection, most
// of the traffic, a test cheaper than the call skips each of them but the inlined
// tcpSignals.
func (t *Table) tcp(i int32, e *entry, p *decode.Packet, dir int, s *record.Side) {
	r := &e.rec
	f := p.TCPFlags
	s.TCPFlags |= f
	tcpSignals(r, s, p, dir)
	// Only a SYN, or a client ACK after a SYN or SYN-ACK but before the handshake is
	// known complete, can move the handshake: the segments of an established
	// connection, or of one whose start the sensor missed, skip the call.
	if f&decode.TCPSyn != 0 || (f&decode.TCPAck != 0 && dir == 0 && handshakeOpen(r.TCPState)) {
		e.handshake(p, dir)
	}
	segLen := tcpSegLen(p)
	if ts := &e.tcp[dir]; ts.haveSeq && p.TCPSeq == ts.next && f&decode.TCPRst == 0 {
		// The next segment in order, most of them: what sequence would do for it,
		// without the call (measured 2% of the packet's time).
		ts.next += segLen
	} else {
		ts.sequence(s, p.TCPSeq, segLen, f)
	}
	// Only a RST or FIN, or a FIN pending acknowledgement, can end the connection.
	if f&(decode.TCPRst|decode.TCPFin) != 0 || e.tcp[0].fin || e.tcp[1].fin {
		t.teardown(i, e, p, dir, segLen)
	}
}

// tcpSignals records what a segment says about congestion and the receiver's buffer:
// ECN (ECE or CWR outside the SYN that negotiates it) and the advertised window, with
// a zero window (outside a SYN or FIN, which need no buffer) marking a stalled side.
// A RST's window is not the side's window, so it is not recorded.
func tcpSignals(r *record.Record, s *record.Side, p *decode.Packet, dir int) {
	f := p.TCPFlags
	syn := f&decode.TCPSyn != 0
	if f&(decode.TCPEce|decode.TCPCwr) != 0 && !syn {
		if dir == 0 {
			r.TCPState |= record.TCPSrcEcn
		} else {
			r.TCPState |= record.TCPDstEcn
		}
	}
	if f&decode.TCPRst != 0 {
		return
	}
	s.Win = uint32(p.TCPWin)
	if p.TCPWin == 0 && !syn && f&decode.TCPFin == 0 {
		if dir == 0 {
			r.TCPState |= record.TCPSrcWinShut
		} else {
			r.TCPState |= record.TCPDstWinShut
		}
	}
}

// handshakeOpen says whether a SYN or SYN-ACK has been seen and the handshake is not
// yet complete: then a client's ACK may complete it.
func handshakeOpen(st uint16) bool {
	return st&(record.TCPSawSyn|record.TCPSawSynAck) != 0 && st&record.TCPEstablished == 0
}

// handshake follows the three-way handshake and measures its two RTT halves: synack
// is SYN -> SYN-ACK, ackdat is SYN-ACK -> the ACK that completes the handshake, both as
// the sensor sees them.
func (e *entry) handshake(p *decode.Packet, dir int) {
	r := &e.rec
	f := p.TCPFlags
	syn, ack := f&decode.TCPSyn != 0, f&decode.TCPAck != 0
	switch {
	case syn && !ack:
		if dir == 0 {
			r.TCPState |= record.TCPSawSyn
			if e.synTime == 0 {
				e.synTime = p.Timestamp
			}
		}
	case syn && ack:
		if dir == 1 {
			r.TCPState |= record.TCPSawSynAck
			if e.sackTim == 0 {
				e.sackTim = p.Timestamp
				if e.synTime != 0 && p.Timestamp >= e.synTime {
					r.SynAck = p.Timestamp - e.synTime
				}
			}
		}
	case ack && dir == 0 && r.TCPState&record.TCPSawSynAck != 0 && r.TCPState&record.TCPEstablished == 0:
		r.TCPState |= record.TCPEstablished
		if e.sackTim != 0 && p.Timestamp >= e.sackTim {
			r.AckDat = p.Timestamp - e.sackTim
		}
	case ack && dir == 0 && r.TCPState&(record.TCPSawSyn|record.TCPSawSynAck|record.TCPEstablished) == record.TCPSawSyn:
		// The client acknowledges a SYN-ACK the sensor never saw (asymmetric routing, a
		// drop before the tap): the handshake completed, as Argus counts it, but there
		// is no SYN-ACK time to measure the RTT from.
		r.TCPState |= record.TCPEstablished
	}
}

// tcpSegLen is the sequence space a segment occupies: its payload, plus one each for
// SYN and FIN.
func tcpSegLen(p *decode.Packet) uint32 {
	n := p.AppLen
	if p.TCPFlags&decode.TCPSyn != 0 {
		n++
	}
	if p.TCPFlags&decode.TCPFin != 0 {
		n++
	}
	return n
}

// sequence accounts a segment of segLen starting at seq, with flags f, in this
// direction's sequence space, counting on s the holes (loss), the fills of a hole
// (out of order) and the repeats (retransmissions).
func (ts *tcpSide) sequence(s *record.Side, seq, segLen uint32, f uint8) {
	if !ts.haveSeq {
		// The space starts at the first SYN or the first segment with data; a bare
		// ACK has no sequence number of its own to start from.
		if f&decode.TCPSyn != 0 || segLen > 0 {
			ts.haveSeq = true
			ts.next = seq + segLen
			if s.BaseSeq == 0 {
				s.BaseSeq = seq
			}
		}
		return
	}
	if segLen == 0 || f&decode.TCPRst != 0 {
		return
	}
	end := seq + segLen
	switch {
	case seqGT(seq, ts.next):
		// A hole: data between next and seq was not seen (lost before the sensor,
		// or reordered). Remember it so a later fill counts as out of order.
		ts.gapLo, ts.gapHi = ts.next, seq
		s.Loss++
		ts.next = end
	case seqLT(seq, ts.next):
		ts.behind(s, seq, end)
	default:
		ts.next = end
	}
}

// behind accounts a segment [seq, end) that starts before the next expected sequence
// number: a fill of the remembered hole is reordering (and takes back the loss the
// hole counted), anything else was seen before and is a retransmission (which, as
// Argus counts, is also a loss: the sender had to send it again).
func (ts *tcpSide) behind(s *record.Side, seq, end uint32) {
	if ts.gapLo != ts.gapHi && seqLEQ(ts.gapLo, seq) && seqLT(seq, ts.gapHi) {
		s.OutOfOrder++
		// The hole shrinks from the side the segment filled.
		if seq == ts.gapLo {
			ts.gapLo = end
		} else {
			ts.gapHi = seq
		}
		if !seqLT(ts.gapLo, ts.gapHi) {
			ts.gapLo, ts.gapHi = 0, 0
		}
		if s.Loss > 0 {
			s.Loss-- // the hole was reordering, not loss
		}
	} else {
		s.Retrans++
		s.Loss++
	}
	if seqGT(end, ts.next) {
		ts.next = end
	}
}

// teardown follows a connection's end: a RST ends it at once; otherwise it is closed
// when each side's FIN has been acknowledged by the other (the last ACK of a normal
// close), so the record holds the whole teardown. segLen is the segment's sequence
// length (tcpSegLen), which places a FIN in the sequence space.
func (t *Table) teardown(i int32, e *entry, p *decode.Packet, dir int, segLen uint32) {
	r := &e.rec
	f := p.TCPFlags
	if f&decode.TCPRst != 0 {
		r.TCPState |= record.TCPReset
		if !e.closed {
			t.closeFlow(i, e)
		}
		return
	}
	ts := &e.tcp[dir]
	if f&decode.TCPFin != 0 {
		if dir == 0 {
			r.TCPState |= record.TCPSrcFin
		} else {
			r.TCPState |= record.TCPDstFin
		}
		if !ts.fin {
			ts.fin = true
			ts.finSeq = p.TCPSeq + segLen - 1
		}
	}
	other := &e.tcp[1-dir]
	if f&decode.TCPAck != 0 && other.fin && seqGT(p.TCPAck, other.finSeq) {
		other.finAcked = true
	}
	if !e.closed && ts.finAcked && other.finAcked {
		r.TCPState |= record.TCPClosed
		t.closeFlow(i, e)
	}
}

// closeFlow exports a TCP flow that closed or reset, and keeps the entry for a while to
// catch retransmitted FINs and last ACKs.
func (t *Table) closeFlow(i int32, e *entry) {
	t.export(i, e, record.CauseClose)
	e.closed = true
	t.idle[e.class].remove(t, i)
	e.class = classClosed
	t.idle[e.class].add(t, i, e.last)
}

// export emits entry i's record if it has packets and resets its counters for the next
// record of the same flow.
func (t *Table) export(i int32, e *entry, cause record.Cause) {
	if !e.started {
		return
	}
	r := &e.rec
	switch {
	case cause != record.CauseStatus:
		r.Cause = cause
	case e.emitted:
		r.Cause = record.CauseStatus
	default:
		r.Cause = record.CauseStart
	}
	r.Trans = 1
	t.emit(r)
	t.stats.Records++
	e.emitted = true
	e.started = false
	t.status.remove(t, i)
	r.Src = resetSide(&r.Src)
	r.Dst = resetSide(&r.Dst)
	r.Flags = 0
	r.Cause = 0
}

// resetSide clears a side's counters but keeps what describes the endpoint.
func resetSide(s *record.Side) record.Side {
	return record.Side{TTL: s.TTL, ToS: s.ToS, VLAN: s.VLAN, MPLS: s.MPLS, MAC: s.MAC, BaseSeq: s.BaseSeq, Win: s.Win}
}

// expire exports entry i (if it has anything to report) and removes it from the table.
func (t *Table) expire(i int32, cause record.Cause, timedOut bool) {
	e := t.at(i)
	if timedOut {
		e.rec.Flags |= record.FlagTimeout
		if e.key.Family != 0 && e.key.Proto == decode.ProtoTCP && e.rec.TCPState&(record.TCPReset|record.TCPSrcFin|record.TCPDstFin) == 0 {
			e.rec.TCPState |= record.TCPTimedOut
		}
	}
	t.export(i, e, cause)
	t.idle[e.class].remove(t, i)
	t.remove(&e.key, i)
	t.release(i)
}

// evictOldest exports the flow that has been idle longest, to make room.
func (t *Table) evictOldest() {
	best, bestClass := int32(nilIdx), -1
	var bestLast int64
	for c := 0; c < numClasses; c++ {
		if c == classFrag {
			continue // fragment groups have their own bound (evictOldestFrag)
		}
		if h := t.idle[c].oldest(t); h != nilIdx {
			if l := t.at(h).last; best == nilIdx || l < bestLast {
				best, bestClass, bestLast = h, c, l
			}
		}
	}
	if bestClass < 0 {
		return
	}
	t.stats.Evictions++
	t.expire(best, record.CauseEvicted, false)
}

// Advance moves the table's clock to now (packet time) and runs the timers: status
// records for flows whose record is older than the status interval, idle timeouts,
// the end of closed flows' linger time, and fragment groups that never got their first
// fragment. Which flows a call expires depends only on each flow's own times and now,
// never on the order flows were touched, so every sharding of the same packets expires
// the same flows at the same call.
func (t *Table) Advance(now int64) {
	if now > t.now {
		t.now = now
	}
	now = t.now
	t.status.expire(t, now-int64(t.cfg.StatusInterval), func(i int32) {
		t.export(i, t.at(i), record.CauseStatus)
	})
	for c := 0; c < numClasses; c++ {
		t.idle[c].expire(t, now-t.tmo[c], func(i int32) {
			switch c {
			case classFrag:
				t.expireFrag(i, record.CauseClose)
			case classClosed:
				t.expire(i, record.CauseClose, false)
			default:
				t.expire(i, record.CauseClose, true)
			}
		})
	}
}

// Flush exports every flow in the table (end of input) and empties it.
func (t *Table) Flush() {
	for c := 0; c < numClasses; c++ {
		t.idle[c].drain(t, func(i int32) {
			switch c {
			case classFrag:
				t.expireFrag(i, record.CauseClose)
			case classClosed:
				t.expire(i, record.CauseClose, false)
			default:
				t.expire(i, record.CauseStatus, false)
			}
		})
	}
}
