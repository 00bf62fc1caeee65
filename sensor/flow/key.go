// Package flow turns decoded packets into bidirectional flow records: a flow table keyed
// by fixed-size keys, per-direction counters, TCP state, RTT and loss tracking, IP
// fragment attribution, and the timers (status interval, idle timeouts, TCP close,
// table-full eviction) that decide when a record is emitted.
//
// A Table belongs to one goroutine (one shard): it has no locks. Feeding it a packet
// allocates nothing once the table has grown to its working size.
package flow

import (
	"encoding/binary"
	"math/bits"

	"panoptes/sensor/decode"
)

// Key identifies a flow regardless of direction: the two endpoints are stored in a
// canonical order (the lower address/port first), so both directions of a conversation
// find the same entry.
type Key struct {
	Family    uint8 // 4, 6, or 0 for non-IP
	Proto     uint8
	EtherType uint16 // non-IP only
	A, B      [16]byte
	PortA     uint16
	PortB     uint16
	// Extra distinguishes ICMP exchanges: the echo identifier and sequence number for
	// echo, the type class for other ICMP messages.
	ExtraA, ExtraB uint16
}

// fragKey identifies the fragments of one IP datagram.
type fragKey struct {
	Family uint8
	Proto  uint8
	Src    [16]byte
	Dst    [16]byte
	ID     uint32
}

// icmpClass maps ICMP request and reply types to one value, so that a request and its
// reply belong to one flow (Argus's ECO flows have both).
func icmpClass(family uint8, t uint8) uint8 {
	if family == 4 {
		switch t {
		case 0:
			return 8 // echo reply -> echo
		case 14:
			return 13 // timestamp reply
		case 16:
			return 15 // information reply
		case 18:
			return 17 // address mask reply
		}
		return t
	}
	if t == 129 {
		return 128
	}
	return t
}

func isEcho(family uint8, t uint8) bool {
	if family == 4 {
		return t == 8 || t == 0
	}
	return t == 128 || t == 129
}

// endpoint is one side of a packet as the key sees it.
type endpoint struct {
	addr [16]byte
	port uint16
}

func less(a, b *endpoint) bool {
	for i := range a.addr {
		if a.addr[i] != b.addr[i] {
			return a.addr[i] < b.addr[i]
		}
	}
	return a.port < b.port
}

// keyOf builds the canonical key for p and reports whether the packet's sender is the
// key's A side. ports says whether the transport ports are known (false for non-first
// fragments, whose ports come from the fragment table).
func keyOf(p *decode.Packet) (k Key, senderIsA bool) {
	var s, d endpoint
	switch p.Net {
	case decode.NetIPv4, decode.NetIPv6:
		k.Family = p.Net
		k.Proto = p.Proto
		s.addr, d.addr = p.SrcAddr, p.DstAddr
		if p.L4 {
			switch p.Proto {
			case decode.ProtoICMP, decode.ProtoICMPv6:
				// Type and code print as the ports; the key uses the type class so a
				// request and its reply meet, and for echo the id and sequence number.
				class := uint16(icmpClass(p.Net, uint8(p.SrcPort)))
				k.PortA, k.PortB = class, 0
				if isEcho(p.Net, uint8(p.SrcPort)) {
					k.ExtraA, k.ExtraB = p.ICMPID, p.ICMPSeq
				} else {
					k.PortB = p.DstPort
				}
				senderIsA = !less(&d, &s)
				if less(&d, &s) {
					k.A, k.B = d.addr, s.addr
				} else {
					k.A, k.B = s.addr, d.addr
				}
				return k, senderIsA
			default:
				s.port, d.port = p.SrcPort, p.DstPort
			}
		}
	case decode.NetARP:
		k.EtherType = p.EtherType
		s.addr, d.addr = p.SrcAddr, p.DstAddr
	default:
		k.EtherType = p.EtherType
		copy(s.addr[:6], p.SrcMAC[:])
		copy(d.addr[:6], p.DstMAC[:])
	}
	if less(&d, &s) {
		k.A, k.PortA, k.B, k.PortB = d.addr, d.port, s.addr, s.port
		return k, false
	}
	k.A, k.PortA, k.B, k.PortB = s.addr, s.port, d.addr, d.port
	return k, true
}

// ShardHash returns a hash of the packet's unordered address pair and protocol: the
// same for both directions and for every fragment of a datagram, so a sharded reader
// sends all of a flow's packets to one table (as symmetric RSS does on a NIC). It works
// on 64-bit words: XOR and sum of the two addresses are both symmetric, and one
// multiply-xorshift mix spreads them.
func ShardHash(p *decode.Packet) uint32 {
	var a0, a1, b0, b1 uint64
	switch p.Net {
	case decode.NetIPv4, decode.NetIPv6, decode.NetARP:
		a0, a1 = binary.LittleEndian.Uint64(p.SrcAddr[0:]), binary.LittleEndian.Uint64(p.SrcAddr[8:])
		b0, b1 = binary.LittleEndian.Uint64(p.DstAddr[0:]), binary.LittleEndian.Uint64(p.DstAddr[8:])
	default:
		a0 = uint64(binary.LittleEndian.Uint32(p.SrcMAC[0:])) | uint64(binary.LittleEndian.Uint16(p.SrcMAC[4:]))<<32
		b0 = uint64(binary.LittleEndian.Uint32(p.DstMAC[0:])) | uint64(binary.LittleEndian.Uint16(p.DstMAC[4:]))<<32
	}
	x := (a0 ^ b0) ^ bits.RotateLeft64(a1^b1, 31)
	y := (a0 + b0) ^ bits.RotateLeft64(a1+b1, 17)
	h := x*0x9e3779b97f4a7c15 ^ y*0xc2b2ae3d27d4eb4f ^ uint64(p.Proto)
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return uint32(h)
}
