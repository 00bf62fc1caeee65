package filter

import (
	"math/bits"
	"net/netip"

	"panoptes/record"
)

// KeyOp is the kind of a KeyCond.
type KeyOp uint8

const (
	KeyTrue  KeyOp = iota // any record
	KeyAnd                // all of Args
	KeyOr                 // any of Args
	KeyAddr               // an address of Side in Prefix (a host is a full-length prefix)
	KeyPort               // a port of Side in [Lo, Hi]
	KeyProto              // IP protocol Proto (of family Family; 0: either)
)

// Side says which of a flow's addresses or ports a KeyCond tests.
type Side uint8

const (
	SideEither Side = iota // source or destination
	SideSrc
	SideDst
	SideBoth // source and destination
)

// KeyCond is the part of a filter a store can test on its flow-key columns (a
// database's WHERE, with its indexes): addresses, ports and protocols under and/or. It
// is a superset of the filter: every record the filter matches satisfies it, and the
// records it lets through must still be matched by the filter. Terms it cannot express
// (counters, flags, negations, ...) become KeyTrue; a negation is not pushed even when
// its term could be, since the negation of a superset is no superset.
type KeyCond struct {
	Op     KeyOp
	Args   []KeyCond
	Side   Side
	Prefix netip.Prefix
	Lo, Hi uint16
	Proto  uint8
	Family uint8
}

// KeyCond returns the filter's flow-key condition (KeyTrue for nil, the empty filter,
// and filters with no address, port or protocol term outside a negation).
func (f *Filter) KeyCond() KeyCond {
	if f == nil || f.root == nil {
		return KeyCond{}
	}
	return keyCond(f.root)
}

func sideOf(d dir) Side {
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

func keyCond(n node) KeyCond {
	switch n := n.(type) {
	case *andNode:
		l, r := keyCond(n.l), keyCond(n.r)
		var args []KeyCond
		for _, c := range [2]KeyCond{l, r} {
			switch c.Op {
			case KeyTrue:
			case KeyAnd:
				args = append(args, c.Args...)
			default:
				args = append(args, c)
			}
		}
		switch len(args) {
		case 0:
			return KeyCond{}
		case 1:
			return args[0]
		}
		return KeyCond{Op: KeyAnd, Args: args}
	case *orNode:
		l, r := keyCond(n.l), keyCond(n.r)
		if l.Op == KeyTrue || r.Op == KeyTrue {
			return KeyCond{}
		}
		var args []KeyCond
		for _, c := range [2]KeyCond{l, r} {
			if c.Op == KeyOr {
				args = append(args, c.Args...)
			} else {
				args = append(args, c)
			}
		}
		return KeyCond{Op: KeyOr, Args: args}
	case *hostNode:
		a := addrOf(n.fam, &n.addr)
		return KeyCond{Op: KeyAddr, Side: sideOf(n.d), Prefix: netip.PrefixFrom(a, a.BitLen())}
	case *netNode:
		ones := 0
		for _, m := range n.mask {
			ones += bits.OnesCount8(m)
		}
		return KeyCond{Op: KeyAddr, Side: sideOf(n.d), Prefix: netip.PrefixFrom(addrOf(n.fam, &n.addr), ones)}
	case *portNode:
		return KeyCond{Op: KeyPort, Side: sideOf(n.d), Lo: n.lo, Hi: n.hi}
	case *protoNode:
		return KeyCond{Op: KeyProto, Proto: n.proto, Family: n.fam}
	}
	return KeyCond{}
}

func addrOf(fam uint8, a *[16]byte) netip.Addr {
	if fam == 4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(*a)
}

// Match reports whether r satisfies c, with the filter's meaning of each term (an ARP
// flow's addresses are IPv4 addresses; management records have no key).
func (c *KeyCond) Match(r *record.Record) bool {
	switch c.Op {
	case KeyAnd:
		for i := range c.Args {
			if !c.Args[i].Match(r) {
				return false
			}
		}
		return true
	case KeyOr:
		for i := range c.Args {
			if c.Args[i].Match(r) {
				return true
			}
		}
		return false
	case KeyAddr:
		fam := uint8(4)
		if c.Prefix.Addr().Is6() {
			fam = 6
		}
		if isMan(r) || addrFamily(r) != fam {
			return false
		}
		in := func(a *[16]byte) bool { return c.Prefix.Contains(addrOf(fam, a)) }
		return c.side(in(&r.SrcAddr), in(&r.DstAddr))
	case KeyPort:
		if isMan(r) || !r.HasPorts() {
			return false
		}
		return c.side(c.Lo <= r.SrcPort && r.SrcPort <= c.Hi, c.Lo <= r.DstPort && r.DstPort <= c.Hi)
	case KeyProto:
		return isIP(r) && r.Proto == c.Proto && (c.Family == 0 || r.Family == c.Family)
	}
	return true
}

func (c *KeyCond) side(s, d bool) bool {
	switch c.Side {
	case SideSrc:
		return s
	case SideDst:
		return d
	case SideBoth:
		return s && d
	}
	return s || d
}
