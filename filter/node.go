package filter

import (
	"strconv"

	"panoptes/record"
)

// node is one compiled term. Every node is a small struct reached through a pointer,
// so Match walks the tree with interface calls and allocates nothing.
type node interface {
	match(r *record.Record) bool
	// appendTo appends the canonical text of the node; it compiles back to the same tree.
	appendTo(b []byte) []byte
}

// dir is a direction qualifier.
type dir uint8

const (
	dirNone      dir = iota // no qualifier: "src or dst", or the total for counts
	dirSrc                  // src
	dirDst                  // dst
	dirSrcOrDst             // src or dst, written out
	dirSrcAndDst            // src and dst
)

var dirText = [...]string{"", "src ", "dst ", "src or dst ", "src and dst "}

// test applies a per-side predicate according to the direction (dirNone = either side).
func (d dir) test(s, t bool) bool {
	switch d {
	case dirSrc:
		return s
	case dirDst:
		return t
	case dirSrcAndDst:
		return s && t
	}
	return s || t
}

func isMan(r *record.Record) bool { return r.Kind == record.KindMan }

// isIP reports whether r is an IPv4 or IPv6 flow record.
func isIP(r *record.Record) bool { return !isMan(r) && (r.Family == 4 || r.Family == 6) }

func isTCP(r *record.Record) bool { return isIP(r) && r.Proto == 6 }

// ---- boolean structure ----

type trueNode struct{}

func (trueNode) match(*record.Record) bool { return true }
func (trueNode) appendTo(b []byte) []byte  { return b }

type andNode struct{ l, r node }

func (n *andNode) match(r *record.Record) bool { return n.l.match(r) && n.r.match(r) }
func (n *andNode) appendTo(b []byte) []byte {
	b = n.l.appendTo(append(b, '('))
	return append(n.r.appendTo(append(b, " and "...)), ')')
}

type orNode struct{ l, r node }

func (n *orNode) match(r *record.Record) bool { return n.l.match(r) || n.r.match(r) }
func (n *orNode) appendTo(b []byte) []byte {
	b = n.l.appendTo(append(b, '('))
	return append(n.r.appendTo(append(b, " or "...)), ')')
}

type notNode struct{ x node }

func (n *notNode) match(r *record.Record) bool { return !n.x.match(r) }
func (n *notNode) appendTo(b []byte) []byte    { return n.x.appendTo(append(b, "not "...)) }

// ---- record kind and protocol ----

// manNode matches management records, and only them.
type manNode struct{}

func (manNode) match(r *record.Record) bool { return isMan(r) }
func (manNode) appendTo(b []byte) []byte    { return append(b, "man"...) }

// familyNode matches IP flows: fam 4 (ipv4), 6 (ipv6) or 0 (ip: either).
type familyNode struct{ fam uint8 }

func (n *familyNode) match(r *record.Record) bool {
	return isIP(r) && (n.fam == 0 || r.Family == n.fam)
}
func (n *familyNode) appendTo(b []byte) []byte {
	switch n.fam {
	case 4:
		return append(b, "ipv4"...)
	case 6:
		return append(b, "ipv6"...)
	}
	return append(b, "ip"...)
}

// protoNode matches IP flows of one protocol, optionally of one family.
type protoNode struct {
	fam   uint8 // 0: any IP family
	proto uint8
	text  string // canonical text: the word used ("tcp") or "ipv4 proto 6"
}

func (n *protoNode) match(r *record.Record) bool {
	return isIP(r) && r.Proto == n.proto && (n.fam == 0 || r.Family == n.fam)
}
func (n *protoNode) appendTo(b []byte) []byte { return append(b, n.text...) }

// etherNode matches non-IP flows of one EtherType (arp, rarp).
type etherNode struct {
	etype uint16
	text  string
}

func (n *etherNode) match(r *record.Record) bool {
	return !isMan(r) && r.Family == 0 && r.EtherType == n.etype
}
func (n *etherNode) appendTo(b []byte) []byte { return append(b, n.text...) }

// ---- addresses and ports ----

// addrFamily is the family of r's addresses: 4 or 6 for IP, 4 for ARP (whose addresses
// are IPv4 protocol addresses), 0 otherwise.
func addrFamily(r *record.Record) uint8 {
	if r.Family == 4 || r.Family == 6 {
		return r.Family
	}
	if r.EtherType == 0x0806 || r.EtherType == 0x8035 {
		return 4
	}
	return 0
}

type hostNode struct {
	d    dir
	fam  uint8
	addr [16]byte
	text string // the address as written
}

func (n *hostNode) eq(a *[16]byte) bool {
	if n.fam == 4 {
		return [4]byte(a[:4]) == [4]byte(n.addr[:4])
	}
	return *a == n.addr
}

func (n *hostNode) match(r *record.Record) bool {
	if isMan(r) || addrFamily(r) != n.fam {
		return false
	}
	return n.d.test(n.eq(&r.SrcAddr), n.eq(&r.DstAddr))
}
func (n *hostNode) appendTo(b []byte) []byte {
	return append(append(append(b, dirText[n.d]...), "host "...), n.text...)
}

type netNode struct {
	d    dir
	fam  uint8
	addr [16]byte // masked
	mask [16]byte
	text string // canonical prefix
}

func (n *netNode) in(a *[16]byte) bool {
	l := 16
	if n.fam == 4 {
		l = 4
	}
	for i := 0; i < l; i++ {
		if a[i]&n.mask[i] != n.addr[i] {
			return false
		}
	}
	return true
}

func (n *netNode) match(r *record.Record) bool {
	if isMan(r) || addrFamily(r) != n.fam {
		return false
	}
	return n.d.test(n.in(&r.SrcAddr), n.in(&r.DstAddr))
}
func (n *netNode) appendTo(b []byte) []byte {
	return append(append(append(b, dirText[n.d]...), "net "...), n.text...)
}

type portNode struct {
	d      dir
	lo, hi uint16
}

func (n *portNode) match(r *record.Record) bool {
	if isMan(r) || !r.HasPorts() {
		return false
	}
	return n.d.test(n.lo <= r.SrcPort && r.SrcPort <= n.hi, n.lo <= r.DstPort && r.DstPort <= n.hi)
}
func (n *portNode) appendTo(b []byte) []byte {
	b = strconv.AppendUint(append(append(b, dirText[n.d]...), "port "...), uint64(n.lo), 10)
	if n.hi != n.lo {
		b = strconv.AppendUint(append(b, '-'), uint64(n.hi), 10)
	}
	return b
}

type srcidNode struct{ id uint32 }

func (n *srcidNode) match(r *record.Record) bool { return !isMan(r) && r.SrcID == n.id }
func (n *srcidNode) appendTo(b []byte) []byte {
	return strconv.AppendUint(append(b, "srcid "...), uint64(n.id), 10)
}

// ---- numeric comparisons ----

// attr is a per-side numeric attribute the filter can compare.
type attr uint8

const (
	attrPkts attr = iota
	attrBytes
	attrAppBytes
	attrLoss
	attrTTL
	attrToS
	attrVID
	// Real-valued attributes (compared by fcmpNode): rates over the record's duration.
	attrRate  // packets per second
	attrLoad  // bits per second
	attrPLoss // lost packets, percent of packets
)

var attrNames = [...]string{"pkts", "bytes", "appbytes", "loss", "ttl", "tos", "vid", "rate", "load", "ploss"}

// attrMax bounds the values an integer attribute can hold (a larger constant is a
// syntax error).
var attrMax = [...]uint64{1<<64 - 1, 1<<64 - 1, 1<<64 - 1, 1<<64 - 1, 255, 255, 4095}

// real reports whether the attribute is a real number (rate, load, ploss).
func (a attr) real() bool { return a >= attrRate }

func (a attr) side(s *record.Side) uint64 {
	switch a {
	case attrPkts:
		return s.Pkts
	case attrBytes:
		return s.Bytes
	case attrAppBytes:
		return s.AppBytes
	case attrLoss:
		return s.Loss
	case attrTTL:
		return uint64(s.TTL)
	case attrToS:
		return uint64(s.ToS)
	}
	return uint64(s.VLAN)
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opGt
	opGte
	opLt
	opLte
	opNe
)

var opNames = [...]string{"eq", "gt", "gte", "lt", "lte", "ne"}

func (o cmpOp) test(v, n uint64) bool { return compare(o, v, n) }

func (o cmpOp) testFloat(v, n float64) bool { return compare(o, v, n) }

// compare applies o to v and n, for the counters and for the reals (rate, load, loss).
func compare[T uint64 | float64](o cmpOp, v, n T) bool {
	switch o {
	case opGt:
		return v > n
	case opGte:
		return v >= n
	case opLt:
		return v < n
	case opLte:
		return v <= n
	case opNe:
		return v != n
	}
	return v == n
}

// cmpNode compares an attribute with a constant. With no direction it matches if
// either side does, as ra 3.0.8 does ("src or dst" is the default direction: "pkts gt
// 5" is true of a flow with 6 packets one way, not of one with 3 each way). A side
// that saw no packets has all values 0, ttl and tos included ("dst ttl eq 0" selects
// one-way flows, as in ra); ttl and tos never match a flow that is not IPv4.
type cmpNode struct {
	d  dir
	a  attr
	op cmpOp
	n  uint64
}

func (n *cmpNode) sideTest(s *record.Side, ipv4 bool) bool {
	if (n.a == attrTTL || n.a == attrToS) && !ipv4 {
		return false
	}
	return n.op.test(n.a.side(s), n.n)
}

func (n *cmpNode) match(r *record.Record) bool {
	if isMan(r) {
		return false
	}
	// ttl and tos are IPv4 header fields to ra 3.0.8: an IPv6 flow's hop limit and
	// traffic class never match them.
	ip := isIP(r) && r.Family == 4
	switch n.d {
	case dirSrc:
		return n.sideTest(&r.Src, ip)
	case dirDst:
		return n.sideTest(&r.Dst, ip)
	case dirSrcAndDst:
		return n.sideTest(&r.Src, ip) && n.sideTest(&r.Dst, ip)
	}
	return n.sideTest(&r.Src, ip) || n.sideTest(&r.Dst, ip)
}
func (n *cmpNode) appendTo(b []byte) []byte {
	b = append(append(b, dirText[n.d]...), attrNames[n.a]...)
	b = append(append(append(b, ' '), opNames[n.op]...), ' ')
	return strconv.AppendUint(b, n.n, 10)
}

// fcmpNode compares a real-valued attribute (rate, load, ploss) with a constant, per
// side as cmpNode: with no direction, either side (as ra).
type fcmpNode struct {
	d  dir
	a  attr
	op cmpOp
	v  float64
}

// value returns the attribute for one side. Rates are (packets-1)/duration, as the
// srate and sload fields print.
func (n *fcmpNode) value(r *record.Record, s *record.Side) float64 {
	pkts, bytes, loss := s.Pkts, s.Bytes, s.Loss
	switch n.a {
	case attrRate:
		return perSecond(pkts, r)
	case attrLoad:
		return 8 * perSecond(bytes, r)
	}
	if pkts == 0 {
		return 0
	}
	return 100 * float64(loss) / float64(pkts)
}

// perSecond mirrors the record registry's rate: units per second over the duration,
// 0 for a record of zero length or fewer than two packets.
func perSecond(n uint64, r *record.Record) float64 {
	d := r.LastTime - r.StartTime
	if d <= 0 || n < 2 {
		return 0
	}
	return float64(n-1) / (float64(d) / 1e9)
}

func (n *fcmpNode) match(r *record.Record) bool {
	if isMan(r) {
		return false
	}
	switch n.d {
	case dirSrc:
		return n.op.testFloat(n.value(r, &r.Src), n.v)
	case dirDst:
		return n.op.testFloat(n.value(r, &r.Dst), n.v)
	case dirSrcAndDst:
		return n.op.testFloat(n.value(r, &r.Src), n.v) && n.op.testFloat(n.value(r, &r.Dst), n.v)
	}
	return n.op.testFloat(n.value(r, &r.Src), n.v) || n.op.testFloat(n.value(r, &r.Dst), n.v)
}
func (n *fcmpNode) appendTo(b []byte) []byte {
	b = append(append(b, dirText[n.d]...), attrNames[n.a]...)
	b = append(append(append(b, ' '), opNames[n.op]...), ' ')
	return strconv.AppendFloat(b, n.v, 'g', -1, 64)
}

// ---- TCP state and flow condition words ----

type condKind uint8

const (
	condTCPBits condKind = iota // TCP flow with any of bits in TCPState
	condCon                     // connected: answered, or a TCP flow joined midstream (ra's "con", "est")
	condTimeout                 // closed by idle timeout
	condRetrans                 // retransmissions seen
	condOOO                     // out-of-order segments seen
	condFrag                    // fragments seen
	condFuture                  // stamped in the future (record.FlagFuture)
	condSampled                 // counts estimated from sampled packets (record.Sampling, sFlow)
	condICMP                    // ICMP or ICMPv6 flow of one message kind (icmpKind)
)

// icmpKind is an ICMP message kind ra names: echo, unreach, redirect, timexed.
type icmpKind uint8

const (
	icmpEcho icmpKind = iota
	icmpUnreach
	icmpRedirect
	icmpTimexed
)

// icmpTypes gives, per kind, the ICMPv4 types and the ICMPv6 types it covers (a flow's
// SrcPort holds the ICMP type of its first packet). An echo flow keyed by a reply is
// still an echo flow.
var icmpTypes = [...]struct{ v4, v6 [2]uint16 }{
	icmpEcho:     {[2]uint16{8, 0}, [2]uint16{128, 129}},
	icmpUnreach:  {[2]uint16{3, 3}, [2]uint16{1, 1}},
	icmpRedirect: {[2]uint16{5, 5}, [2]uint16{137, 137}},
	icmpTimexed:  {[2]uint16{11, 11}, [2]uint16{3, 3}},
}

func (k icmpKind) match(r *record.Record) bool {
	t := icmpTypes[k].v4
	switch {
	case r.Family == 4 && r.Proto == 1:
	case r.Family == 6 && r.Proto == 58:
		t = icmpTypes[k].v6
	default:
		return false
	}
	return r.SrcPort == t[0] || r.SrcPort == t[1]
}

type condNode struct {
	kind condKind
	bits uint16
	icmp icmpKind
	word string
}

func (n *condNode) match(r *record.Record) bool {
	if isMan(r) {
		return false
	}
	switch n.kind {
	case condTCPBits:
		return isTCP(r) && r.TCPState&n.bits != 0
	case condCon:
		// As ra 3.0.8: a flow is connected (and "est") once the destination answered,
		// whatever the protocol (a TCP SYN answered by a RST is connected); a TCP
		// flow joined midstream, without SYN, FIN or RST, is taken as connected too.
		if r.Src.Pkts > 0 && r.Dst.Pkts > 0 {
			return true
		}
		const seen = record.TCPSawSyn | record.TCPSawSynAck | record.TCPSrcFin | record.TCPDstFin | record.TCPClosed | record.TCPReset
		return isTCP(r) && r.TCPState&seen == 0
	case condTimeout:
		return r.Flags&record.FlagTimeout != 0 || (isTCP(r) && r.TCPState&record.TCPTimedOut != 0)
	case condRetrans:
		return r.Src.Retrans+r.Dst.Retrans > 0
	case condOOO:
		return r.Src.OutOfOrder+r.Dst.OutOfOrder > 0
	case condFrag:
		return r.Flags&(record.FlagFragments|record.FlagFragPartial) != 0
	case condFuture:
		return r.Flags&record.FlagFuture != 0
	case condSampled:
		return r.Sampling != 0
	case condICMP:
		return n.icmp.match(r)
	}
	return false
}
func (n *condNode) appendTo(b []byte) []byte { return append(b, n.word...) }

// conditions are the state words: primitives without an argument that test a flow's
// TCP state or its counters.
var conditions = map[string]*condNode{
	"syn":        {kind: condTCPBits, bits: record.TCPSawSyn},
	"synack":     {kind: condTCPBits, bits: record.TCPSawSynAck},
	"est":        {kind: condCon},
	"fin":        {kind: condTCPBits, bits: record.TCPSrcFin | record.TCPDstFin | record.TCPClosed},
	"reset":      {kind: condTCPBits, bits: record.TCPReset},
	"winshut":    {kind: condTCPBits, bits: record.TCPSrcWinShut | record.TCPDstWinShut},
	"ecn":        {kind: condTCPBits, bits: record.TCPSrcEcn | record.TCPDstEcn},
	"con":        {kind: condCon},
	"timeout":    {kind: condTimeout},
	"retrans":    {kind: condRetrans},
	"outoforder": {kind: condOOO},
	"frag":       {kind: condFrag},
	"future":     {kind: condFuture},
	"sampled":    {kind: condSampled},
	"echo":       {kind: condICMP, icmp: icmpEcho},
	"unreach":    {kind: condICMP, icmp: icmpUnreach},
	"redirect":   {kind: condICMP, icmp: icmpRedirect},
	"timexed":    {kind: condICMP, icmp: icmpTimexed},
}

func init() {
	for w, c := range conditions {
		c.word = w
	}
}
