package argus

import (
	"net/netip"

	"panoptes/record"
)

// modeledDSR lists the DSR types decode maps (its switch's cases); the others are
// counted as skipped. DecodeKey walks a record's DSRs without decoding most of them
// and counts the skipped ones from this table, so the two must agree (FuzzDecodeKey
// checks they do).
var modeledDSR = func() (m [256]bool) {
	for _, t := range []uint8{DSRTransport, DSRFlow, DSRTime, DSRMeter, DSRPSize, DSRNetwork,
		DSRIPAttr, DSRJitter, DSRMAC, DSRVLAN, DSRMPLS, DSREncaps, DSRAgr, DSRCoCode,
		DSRLabel, DSRASN} {
		m[t] = true
	}
	return m
}()

// DecodeKey decodes only the flow key of a record that ReadRaw returned: it sets r's
// Kind, Family, EtherType, Proto, SrcAddr, DstAddr, SrcPort and DstPort to the values
// Decode gives them (the flow DSR, turned round as Decode turns it), and leaves the
// other fields as they were, or partly set: it does not clear the whole record, which
// took a fifth of its time. It is the cheap first pass of a reader whose filter
// reads only those fields (filter.FlowKeyOnly): most records fail the filter and are
// never decoded whole.
//
// DecodeKey counts the skipped DSRs as Decode does; a record that then needs decoding
// whole goes through DecodeRest, which does not count them again. It returns false if
// the record is damaged: DecodeRest returns the error, and the counts are those Decode
// would have made.
func (d *Decoder) DecodeKey(b []byte, r *record.Record) bool {
	_, ok := d.DecodeKeyIn(b, r, nil)
	return ok
}

// DecodeKeyIn is DecodeKey with a cheaper answer for most records of a filter that
// names addresses: if s is not nil and the record's flow key is an IPv4 or IPv6 key
// neither of whose addresses is in s, it returns in false without decoding the key (r
// is left as it was). Otherwise in is true and r holds the key as DecodeKey sets it.
// ok and the skipped-DSR counts are DecodeKey's either way: the record's DSRs are
// walked whole, for the counts and to find a damaged one.
//
// A filter's address terms (filter.KeyCond) give s: a record with neither address in
// it fails the filter, so it need not be decoded for it. The test ignores the sides
// (src/dst), which the key's turning round would decide: it is a necessary
// condition, not the filter.
func (d *Decoder) DecodeKeyIn(b []byte, r *record.Record, s *AddrSet) (in, ok bool) {
	if b[0]&TypeMask == TypeMAR {
		clearKey(r)
		r.Kind = record.KindMan
		return true, true
	}
	// One walk over the DSR headers finds the flow and network DSRs and checks every
	// length, with few branches: it is most of the time of a filtered read. The rare
	// records with a damaged DSR, or with more than one flow or network DSR, go the
	// slower way that decodes and counts in Decode's order; those with DSRs to count
	// are walked again to count them. A record laid out as one before it skips the
	// walk (keyLayout).
	var flow, net int // the flow and network DSRs' offsets; 0 for none
	var seen uint8    // 1: a DSR to count; 2: a second flow or network DSR
	c := d.layout(len(b))
	if c.size == len(b) && c.matches(b) {
		flow, net, seen = int(c.flow), int(c.net), c.seen
	} else {
		cacheable := true // no data or immediate DSR, whose lengths are elsewhere
		p := RecordHeaderLen
		for p < len(b) {
			if len(b)-p < DSRHeaderLen {
				return d.keySlow(b, r, s)
			}
			t := b[p]
			n := int(b[p+3]) * 4
			if t&ImmediateData != 0 || t == DSRData {
				_, n = dsrAt(b, p)
				cacheable = false
			}
			if n < DSRHeaderLen || p+n > len(b) {
				return d.keySlow(b, r, s)
			}
			seen |= counted[t]
			switch t {
			case DSRFlow:
				if flow != 0 {
					seen |= 2
				}
				flow = p
			case DSRNetwork:
				if net != 0 {
					seen |= 2
				}
				net = p
			}
			p += n
		}
		if seen&2 != 0 {
			return d.keySlow(b, r, s)
		}
		if cacheable {
			c.store(b, flow, net, seen)
		}
	}
	if seen != 0 {
		d.countSkipped(b)
	}
	if flow == 0 {
		clearKey(r)
		r.Kind = record.KindFlow
		return true, true
	}
	dsr := b[flow : flow+int(b[flow+3])*4]
	if s != nil {
		// The common case, one IPv4 host or net, here rather than in a call.
		if s.one4 && len(dsr) >= 4+13 && dsr[2]&FlowQualTypeMask == TypeIPv4 && isAddrKey(dsr[1]) {
			p := s.v4[0]
			if be.Uint32(dsr[4:])&p.mask != p.addr && be.Uint32(dsr[8:])&p.mask != p.addr {
				return false, true
			}
		} else if !s.holdsKey(dsr) {
			return false, true
		}
	}
	clearKey(r)
	r.Kind = record.KindFlow
	if !decodeFlow(dsr, r) {
		d.Skipped[DSRFlow]++
	}
	var tcpStatus uint32
	if net != 0 {
		tcpStatus = netStatus(b[net:net+int(b[net+3])*4], 0)
	}
	turnKey(r, dsr[1]&FlowDirectionBit != 0, tcpStatus)
	return true, true
}

// keyLayout is the layout of a record DecodeKeyIn walked: its length, and the type and
// length byte of each DSR header at its offset. Another record of the same length
// whose DSR headers have those types and lengths at those offsets walks the same way
// (the walk reads nothing else of the headers, and each step goes by the length), so
// DecodeKeyIn compares the headers instead of walking: the comparisons are loads from
// offsets known in advance, which the CPU makes side by side, where each step of the
// walk waits for the load before it. The records of an Argus file have few layouts
// (55 in the 540,000 records of the shared trace, most of them in a handful).
type keyLayout struct {
	size      int // the record's length; 0: no layout
	n         int
	off       [maxLayoutDSRs]uint16
	hdr       [maxLayoutDSRs]uint32 // type and length bytes (layoutMask)
	flow, net uint16
	seen      uint8
}

const (
	maxLayoutDSRs = 16
	layoutMask    = 0xFF0000FF
	layoutSlots   = 64 // a Decoder's layouts, by record length
)

// layout returns the decoder's slot for records of length size.
func (d *Decoder) layout(size int) *keyLayout {
	if d.layouts == nil {
		d.layouts = new([layoutSlots]keyLayout)
	}
	return &d.layouts[(size/4)%layoutSlots]
}

func (c *keyLayout) matches(b []byte) bool {
	for i := range c.n {
		o := int(c.off[i])
		if o+DSRHeaderLen > len(b) || be.Uint32(b[o:])&layoutMask != c.hdr[i] {
			return false
		}
	}
	return true
}

// store makes c the layout of b, whose walk (with neither data nor immediate DSRs)
// found the flow and network DSRs at flow and net and the seen bits; a record of more
// DSRs than a layout holds is not stored.
func (c *keyLayout) store(b []byte, flow, net int, seen uint8) {
	c.size = 0
	n := 0
	for p := RecordHeaderLen; p < len(b); p += int(b[p+3]) * 4 {
		if n == maxLayoutDSRs || len(b) > 0xFFFF {
			return
		}
		c.off[n], c.hdr[n] = uint16(p), be.Uint32(b[p:])&layoutMask
		n++
	}
	c.size, c.n, c.flow, c.net, c.seen = len(b), n, uint16(flow), uint16(net), seen
}

// counted marks the DSR types decode counts as skipped: immediate data and the types
// it does not map (the flow DSR is counted only when its key is of a kind not mapped).
var counted = func() (c [256]uint8) {
	for t := range c {
		if t&ImmediateData != 0 || !modeledDSR[t] {
			c[t] = 1
		}
	}
	return c
}()

func clearKey(r *record.Record) {
	r.Family, r.EtherType, r.Proto = 0, 0, 0
	r.SrcAddr, r.DstAddr = [16]byte{}, [16]byte{}
	r.SrcPort, r.DstPort = 0, 0
}

// netStatus is decodeNet's TCP status word of a network DSR, or st if it has none.
func netStatus(dsr []byte, st uint32) uint32 {
	switch n := len(dsr); dsr[1] {
	case NetTCPPerf:
		if n >= TCPObjectLen {
			return u32(dsr, TCPOffStatus)
		}
	case NetTCPInit:
		if n >= 20 {
			return u32(dsr, 4)
		}
	case NetTCPStatus:
		if n >= 12 {
			return u32(dsr, 4)
		}
	}
	return st
}

// turnKey turns the key round as decode does: the flow DSR's reverse bit, then a TCP
// flow whose SYN was not seen put with the lower port as the server's.
func turnKey(r *record.Record, reverse bool, tcpStatus uint32) {
	if reverse {
		r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
		if r.Proto == 6 || r.Proto == 17 {
			r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
		}
	}
	if r.Family != 0 && r.Proto == 6 && tcpStatus&TCPSawSyn == 0 && r.SrcPort < r.DstPort {
		r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
		r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
	}
}

// countSkipped counts a record's DSRs that decode skips; the record's DSR lengths are
// known to be whole (DecodeKeyIn's walk checked them).
func (d *Decoder) countSkipped(b []byte) {
	for p := RecordHeaderLen; p < len(b); {
		t, n := dsrAt(b, p)
		if t&ImmediateData != 0 {
			d.Skipped[t&0x7F]++
		} else if t != DSRFlow && t != DSRNetwork && !modeledDSR[t] {
			d.Skipped[t&0x7F]++
		}
		p += n
	}
}

// keySlow is DecodeKeyIn by decodeKeySlow, the set tested on the key it decodes.
func (d *Decoder) keySlow(b []byte, r *record.Record, s *AddrSet) (in, ok bool) {
	if !d.decodeKeySlow(b, r) {
		return true, false
	}
	return s == nil || s.holdsRecord(r), true
}

// decodeKeySlow is DecodeKey walking and decoding the DSRs in order, counting as it
// goes: for damaged records (the counts stop where the damage is, as Decode's do) and
// those with more than one flow DSR.
func (d *Decoder) decodeKeySlow(b []byte, r *record.Record) bool {
	clearKey(r)
	r.Kind = record.KindFlow
	skipped := &d.Skipped
	var tcpStatus uint32
	reverse := false
	p := RecordHeaderLen
	for p < len(b) {
		if len(b)-p < DSRHeaderLen {
			return false
		}
		t, n := dsrAt(b, p)
		if t&ImmediateData != 0 {
			skipped[t&0x7F]++
			p += n
			continue
		}
		if n < DSRHeaderLen || p+n > len(b) {
			return false
		}
		dsr := b[p : p+n]
		p += n
		switch t {
		case DSRFlow:
			if !decodeFlow(dsr, r) {
				skipped[t]++
			}
			reverse = dsr[1]&FlowDirectionBit != 0
		case DSRNetwork:
			tcpStatus = netStatus(dsr, tcpStatus)
		default:
			if !modeledDSR[t] {
				skipped[t&0x7F]++
			}
		}
	}
	turnKey(r, reverse, tcpStatus)
	return true
}

// flowAddrs returns the addresses of an IPv4 or IPv6 flow key that decodeFlow maps
// (as they are in the DSR, before any turning round) and their family, 4 or 6; or
// family 0 for the other keys.
func flowAddrs(d []byte) (src, dst []byte, fam uint8) {
	if !isAddrKey(d[1]) {
		return nil, nil, 0
	}
	switch d[2] & FlowQualTypeMask {
	case TypeIPv4:
		if len(d) >= 4+13 {
			return d[4:8], d[8:12], 4
		}
	case TypeIPv6:
		if len(d) >= 4+40 {
			return d[4:20], d[20:36], 6
		}
	}
	return nil, nil, 0
}

// isAddrKey reports whether a flow DSR's subtype is of a key whose addresses
// decodeFlow maps as the record's (its qualifier says IPv4 or IPv6).
func isAddrKey(sub uint8) bool {
	switch sub & FlowSubtypeMask &^ FlowRMON {
	case FlowClassic5Tuple, FlowLayer3Matrix:
		return true
	}
	return false
}

// AddrSet is a set of IPv4 and IPv6 prefixes that DecodeKeyIn tests a record's
// addresses against.
type AddrSet struct {
	v4   []prefix4
	v6   []netip.Prefix
	one4 bool // v4 holds one prefix and v6 none
}

type prefix4 struct{ addr, mask uint32 }

// NewAddrSet returns the set of the given prefixes (a host is a full-length prefix).
// An empty list gives a set that holds no address.
func NewAddrSet(prefixes []netip.Prefix) *AddrSet {
	s := &AddrSet{}
	for _, p := range prefixes {
		p = p.Masked()
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4() {
			a := p.Addr().As4()
			// A shift by 32 gives 0: the mask of /0.
			s.v4 = append(s.v4, prefix4{be.Uint32(a[:]), ^uint32(0) << (32 - p.Bits())})
			continue
		}
		s.v6 = append(s.v6, p)
	}
	s.one4 = len(s.v4) == 1 && len(s.v6) == 0
	return s
}

// holdsKey reports whether the flow DSR's key is not an IPv4 or IPv6 key, or one of
// its addresses is in the set.
func (s *AddrSet) holdsKey(dsr []byte) bool {
	src, dst, fam := flowAddrs(dsr)
	if fam == 4 {
		x, y := be.Uint32(src), be.Uint32(dst)
		for _, p := range s.v4 {
			if x&p.mask == p.addr || y&p.mask == p.addr {
				return true
			}
		}
		return false
	}
	return fam == 0 || s.has6(src) || s.has6(dst)
}

// holdsRecord is holdsKey on a decoded key: false for an IPv4 or IPv6 flow neither of
// whose addresses is in the set.
func (s *AddrSet) holdsRecord(r *record.Record) bool {
	switch {
	case r.Kind != record.KindFlow:
		return true
	case r.Family == 4:
		x, y := be.Uint32(r.SrcAddr[:4]), be.Uint32(r.DstAddr[:4])
		for _, p := range s.v4 {
			if x&p.mask == p.addr || y&p.mask == p.addr {
				return true
			}
		}
		return false
	case r.Family == 6:
		return s.has6(r.SrcAddr[:]) || s.has6(r.DstAddr[:])
	}
	return true
}

// has6 reports whether the IPv6 address a (16 bytes) is in the set.
func (s *AddrSet) has6(a []byte) bool {
	if len(s.v6) == 0 {
		return false
	}
	addr := netip.AddrFrom16([16]byte(a))
	for _, p := range s.v6 {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// DecodeRest decodes a record whose key DecodeKey decoded (at byte offset off) whole
// into r, as Decode, without counting its skipped DSRs a second time.
func (d *Decoder) DecodeRest(b []byte, off int64, r *record.Record) error {
	var uncounted [128]uint64
	return d.rd.decode(b, off, r, &uncounted, &d.lastLabel)
}
