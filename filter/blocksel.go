package filter

import (
	"net/netip"
	"strconv"
)

// Block selection. An archive keeps, per block of records, summaries (the addresses,
// ports, protocols and kinds of record in it); Terms turns a filter into a condition on
// such summaries that is true of every block holding a record the filter matches. It is
// conservative: a term it cannot decide from a summary ("not", counters, TCP state,
// srcid) is TermAny, which every block passes, and the records of the blocks selected
// are still matched by the whole filter. So selection only ever saves reading; it never
// changes an answer.

// TermKind is the kind of a selection term.
type TermKind uint8

const (
	// TermAny: any block may hold a match.
	TermAny TermKind = iota
	// TermAnd and TermOr combine L and R.
	TermAnd
	TermOr
	// TermAddr: a record with an address in [Lo, Hi] (16-byte form, IPv4 as
	// ::ffff:a.b.c.d) on side Side; IP flows, and the IPv4 addresses of ARP flows.
	TermAddr
	// TermPort: a flow with ports (TCP, UDP, SCTP, DCCP, UDP-Lite) with a port in
	// [PortLo, PortHi] on side Side.
	TermPort
	// TermProto: an IP flow of protocol Proto.
	TermProto
	// TermFamily: an IP flow of family Fam (4 or 6; 0: either).
	TermFamily
	// TermMan: a management record.
	TermMan
	// TermNonIP: a flow that is not IP (ARP, RARP and other EtherTypes).
	TermNonIP
)

// Terms share Side (pushdown.go) with KeyCond: the side of a flow an address or port
// term tests.

// Term is a node of the selection condition (see Terms).
type Term struct {
	Kind           TermKind
	L, R           *Term // TermAnd, TermOr
	Side           Side  // TermAddr, TermPort
	Lo, Hi         [16]byte
	PortLo, PortHi uint16
	Proto          uint8
	Fam            uint8
}

var anyTerm = &Term{Kind: TermAny}

// Terms returns the selection condition of the filter: a block whose summary fails it
// holds no record the filter matches. The match-everything filter gives TermAny.
func (f *Filter) Terms() *Term {
	if f == nil || f.root == nil {
		return anyTerm
	}
	return terms(f.root)
}

func terms(n node) *Term {
	switch n := n.(type) {
	case *andNode:
		l, r := terms(n.l), terms(n.r)
		switch {
		case l.Kind == TermAny:
			return r
		case r.Kind == TermAny:
			return l
		}
		return &Term{Kind: TermAnd, L: l, R: r}
	case *orNode:
		l, r := terms(n.l), terms(n.r)
		if l.Kind == TermAny || r.Kind == TermAny {
			return anyTerm
		}
		return &Term{Kind: TermOr, L: l, R: r}
	case manNode:
		return &Term{Kind: TermMan}
	case *familyNode:
		return &Term{Kind: TermFamily, Fam: n.fam}
	case *protoNode:
		return &Term{Kind: TermProto, Proto: n.proto}
	case *etherNode:
		return &Term{Kind: TermNonIP}
	case *hostNode:
		t := &Term{Kind: TermAddr, Side: side(n.d)}
		t.Lo = key16(n.fam, n.addr)
		t.Hi = t.Lo
		return t
	case *netNode:
		t := &Term{Kind: TermAddr, Side: side(n.d)}
		var lo, hi [16]byte
		for i := range lo {
			lo[i] = n.addr[i] & n.mask[i]
			hi[i] = n.addr[i] | ^n.mask[i]
		}
		t.Lo, t.Hi = key16(n.fam, lo), key16(n.fam, hi)
		return t
	case *portNode:
		return &Term{Kind: TermPort, Side: side(n.d), PortLo: n.lo, PortHi: n.hi}
	}
	// not (its operand's blocks say nothing of the records outside it), trueNode,
	// srcid, counters, rates, TCP state and flow conditions.
	return anyTerm
}

func side(d dir) Side {
	switch d {
	case dirSrc:
		return SideSrc
	case dirDst:
		return SideDst
	case dirSrcAndDst:
		return SideBoth
	}
	return SideEither
}

// key16 is the 16-byte form of a filter address of family fam: an IPv4 address (in the
// first 4 bytes) as ::ffff:a.b.c.d, as netip.Addr.As16 gives it.
func key16(fam uint8, a [16]byte) [16]byte {
	if fam != 4 {
		return a
	}
	var k [16]byte
	k[10], k[11] = 0xff, 0xff
	copy(k[12:], a[:4])
	return k
}

// String returns the term in a filter-like notation, for tests and debugging.
func (t *Term) String() string {
	switch t.Kind {
	case TermAnd:
		return "(" + t.L.String() + " and " + t.R.String() + ")"
	case TermOr:
		return "(" + t.L.String() + " or " + t.R.String() + ")"
	case TermAddr:
		return sideText[t.Side] + "addr " + addrText(t.Lo) + "-" + addrText(t.Hi)
	case TermPort:
		return sideText[t.Side] + "port " + itoa(int(t.PortLo)) + "-" + itoa(int(t.PortHi))
	case TermProto:
		return "proto " + itoa(int(t.Proto))
	case TermFamily:
		return "family " + itoa(int(t.Fam))
	case TermMan:
		return "man"
	case TermNonIP:
		return "nonip"
	}
	return "any"
}

var sideText = [...]string{"", "src ", "dst ", "src and dst "}

func addrText(a [16]byte) string { return netip.AddrFrom16(a).Unmap().String() }

func itoa(n int) string { return strconv.Itoa(n) }
