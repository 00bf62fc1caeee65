package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// Frame builders. Every frame in these tests is assembled from the helpers below, so the
// expected Packet of each case can be read off the builder defaults.

var (
	macSrc  = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	macDst  = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	ip4Src  = [4]byte{192, 0, 2, 1}
	ip4Dst  = [4]byte{198, 51, 100, 2}
	ip6Src  = netip.MustParseAddr("2001:db8::1").As16()
	ip6Dst  = netip.MustParseAddr("2001:db8::2").As16()
	payload = []byte("0123456789")
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func zeros(n int) []byte   { return make([]byte, n) }

// set returns a copy of b with b[i] = v, for making malformed variants.
func set(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}

func ethHdr(etherType uint16) []byte { return cat(macDst[:], macSrc[:], be16(etherType)) }

// vlanTag is a tag's TCI (priority 5) and the EtherType after it.
func vlanTag(vid, next uint16) []byte { return cat(be16(0xa000|vid), be16(next)) }

func mplsEntry(label uint32, bottom bool) []byte {
	v := label<<12 | 64 // TTL 64
	if bottom {
		v |= 0x100
	}
	return be32(v)
}

// pppoeSession is a PPPoE session header (session 0x0001) and a 2-byte PPP protocol.
func pppoeSession(pppProto uint16, payloadLen int) []byte {
	return cat([]byte{0x11, 0x00}, be16(1), be16(uint16(payloadLen+2)), be16(pppProto))
}

// llcSNAP is an LLC/SNAP header with the RFC 1042 OUI.
func llcSNAP(etherType uint16) []byte {
	return cat([]byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00}, be16(etherType))
}

func sllHdr(proto, addrLen uint16) []byte {
	return cat(be16(0), be16(1), be16(addrLen), macSrc[:], zeros(2), be16(proto))
}

func sll2Hdr(proto uint16, addrLen uint8) []byte {
	return cat(be16(proto), zeros(2), be32(3), be16(1), []byte{0, addrLen}, macSrc[:], zeros(2))
}

func nullHdr(family uint32, order binary.AppendByteOrder) []byte {
	return order.AppendUint32(nil, family)
}

func arpBody(hwType uint16) []byte {
	return cat(be16(hwType), be16(0x0800), []byte{6, 4}, be16(1), macSrc[:], ip4Src[:], zeros(6), ip4Dst[:])
}

// ipv4Hdr builds an IPv4 header (TTL 64, ToS 0x10, id 0xbeef) in front of a payload.
type ipv4Hdr struct {
	proto    uint8
	options  []byte
	ihl      uint8  // 0: from the options
	version  uint8  // 0: 4
	totalLen int    // 0: header + payload; -1: a literal 0 (TSO)
	flagsOff uint16 // flags and fragment offset as on the wire
}

func (h ipv4Hdr) bytes(payload []byte) []byte {
	hdrLen := 20 + len(h.options)
	ihl, version := h.ihl, h.version
	if ihl == 0 {
		ihl = uint8(hdrLen / 4)
	}
	if version == 0 {
		version = 4
	}
	total := hdrLen + len(payload)
	if h.totalLen > 0 {
		total = h.totalLen
	} else if h.totalLen < 0 {
		total = 0
	}
	b := make([]byte, 20)
	b[0] = version<<4 | ihl
	b[1] = 0x10
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], 0xbeef)
	binary.BigEndian.PutUint16(b[6:], h.flagsOff)
	b[8] = 64
	b[9] = h.proto
	copy(b[12:], ip4Src[:])
	copy(b[16:], ip4Dst[:])
	return cat(b, h.options, payload)
}

// ipv6Hdr builds an IPv6 header (traffic class 0xb8, flow label 0x12345, hop limit 64)
// in front of a payload that includes any extension headers.
type ipv6Hdr struct {
	next       uint8
	payloadLen int // 0: len(payload); -1: a literal 0
}

func (h ipv6Hdr) bytes(payload []byte) []byte {
	plen := len(payload)
	if h.payloadLen > 0 {
		plen = h.payloadLen
	} else if h.payloadLen < 0 {
		plen = 0
	}
	b := make([]byte, 40)
	b[0], b[1], b[2], b[3] = 0x6b, 0x81, 0x23, 0x45
	binary.BigEndian.PutUint16(b[4:], uint16(plen))
	b[6] = h.next
	b[7] = 64
	copy(b[8:], ip6Src[:])
	copy(b[24:], ip6Dst[:])
	return cat(b, payload)
}

// ext6 is a generic IPv6 extension header of (units+1)*8 bytes.
func ext6(next, units uint8) []byte {
	b := make([]byte, (int(units)+1)*8)
	b[0], b[1] = next, units
	for i := 2; i < len(b); i++ {
		b[i] = 0xee // not valid options, but the decoder must not look inside
	}
	return b
}

func frag6(next uint8, offset uint16, more bool, id uint32) []byte {
	offFlags := offset << 3
	if more {
		offFlags |= 1
	}
	return cat([]byte{next, 0}, be16(offFlags), be32(id))
}

// ah6 is an authentication header of (units+2)*4 bytes.
func ah6(next, units uint8) []byte {
	b := make([]byte, (int(units)+2)*4)
	b[0], b[1] = next, units
	return b
}

// TCP header defaults: 40000 -> 443, seq 0x01020304, ack 0x0a0b0c0d, window 0xfaf0.
func tcpHdr(flags uint8, options []byte) []byte {
	hdrLen := 20 + len(options)
	b := cat(be16(40000), be16(443), be32(0x01020304), be32(0x0a0b0c0d),
		[]byte{uint8(hdrLen/4) << 4, flags}, be16(0xfaf0), zeros(4))
	return cat(b, options)
}

// udpHdr is 5353 -> 53 with the given length field.
func udpHdr(length int) []byte { return cat(be16(5353), be16(53), be16(uint16(length)), zeros(2)) }

func icmpHdr(icmpType, code uint8, rest uint32) []byte {
	return cat([]byte{icmpType, code, 0, 0}, be32(rest))
}

func sctpHdr() []byte { return cat(be16(36412), be16(2905), be32(0x11223344), zeros(4)) }

const flagsPshAck = TCPPsh | TCPAck

var (
	tcpSeg = cat(tcpHdr(flagsPshAck, nil), payload)
	udpDgm = cat(udpHdr(8+len(payload)), payload)
	tcp4   = ipv4Hdr{proto: ProtoTCP}.bytes(tcpSeg) // 50 bytes
	udp6   = ipv6Hdr{next: ProtoUDP}.bytes(udpDgm)  // 58 bytes
)

// Expected-Packet builders matching the frame builders.

func addr4(a [4]byte) (out [16]byte) {
	copy(out[:], a[:])
	return out
}

func want4(l3 uint32, proto uint8, ipLen uint32) Packet {
	return Packet{EtherType: 0x0800, Net: NetIPv4, Proto: proto, TTL: 64, ToS: 0x10,
		SrcAddr: addr4(ip4Src), DstAddr: addr4(ip4Dst), IPLen: ipLen, IPHdrLen: 20,
		FragID: 0xbeef, L3Offset: l3, L4Offset: l3 + 20}
}

func want6(l3 uint32, proto uint8, ipLen uint32, hdrLen uint16) Packet {
	return Packet{EtherType: 0x86dd, Net: NetIPv6, Proto: proto, TTL: 64, ToS: 0xb8,
		SrcAddr: ip6Src, DstAddr: ip6Dst, IPLen: ipLen, IPHdrLen: hdrLen,
		L3Offset: l3, L4Offset: l3 + uint32(hdrLen)}
}

func withTCP(p Packet, appLen uint32) Packet {
	p.L4, p.SrcPort, p.DstPort = true, 40000, 443
	p.TCPSeq, p.TCPAck, p.TCPFlags, p.TCPWin = 0x01020304, 0x0a0b0c0d, flagsPshAck, 0xfaf0
	p.AppLen = appLen
	return p
}

func withUDP(p Packet, appLen uint32) Packet {
	p.L4, p.SrcPort, p.DstPort, p.AppLen = true, 5353, 53, appLen
	return p
}

func withEth(p Packet) Packet {
	p.Encaps |= EncapEthernet
	p.HasMAC, p.SrcMAC, p.DstMAC = true, macSrc, macDst
	return p
}

func edit(p Packet, f func(*Packet)) Packet {
	f(&p)
	return p
}

// The standard packets: TCP/IPv4 and UDP/IPv6 with the network header at l3.
func tcp4Want(l3 uint32) Packet { return withTCP(want4(l3, ProtoTCP, 50), 10) }
func udp6Want(l3 uint32) Packet { return withUDP(want6(l3, ProtoUDP, 58, 40), 10) }

type decodeCase struct {
	name  string
	lt    LinkType
	frame []byte
	err   error // nil, or the sentinel errors.Is must find
	want  Packet
}

func linkCases() []decodeCase {
	stp := cat([]byte{0x42, 0x42, 0x03}, zeros(35))
	return []decodeCase{
		{name: "ethernet/ipv4/tcp", lt: LinkEthernet, frame: cat(ethHdr(0x0800), tcp4),
			want: withEth(tcp4Want(14))},
		{name: "ethernet/ipv6/udp", lt: LinkEthernet, frame: cat(ethHdr(0x86dd), udp6),
			want: withEth(udp6Want(14))},
		{name: "ethernet/truncated", lt: LinkEthernet, frame: zeros(13), err: ErrTruncated,
			want: Packet{Encaps: EncapEthernet}},
		{name: "ethernet/lldp", lt: LinkEthernet, frame: cat(ethHdr(0x88cc), zeros(30)),
			want: withEth(Packet{Net: NetOther, EtherType: 0x88cc, L3Offset: 14})},
		{name: "802.3/snap/ipv4/tcp", lt: LinkEthernet, frame: cat(ethHdr(58), llcSNAP(0x0800), tcp4),
			want: withEth(edit(tcp4Want(22), func(p *Packet) { p.Encaps |= EncapLLC }))},
		{name: "802.3/llc/stp", lt: LinkEthernet, frame: cat(ethHdr(38), stp),
			want: withEth(Packet{Encaps: EncapLLC, Net: NetOther, L3Offset: 14})},
		{name: "802.3/snap/vendor oui", lt: LinkEthernet,
			frame: cat(ethHdr(20), []byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00}, zeros(12)),
			want:  withEth(Packet{Encaps: EncapLLC, Net: NetOther, L3Offset: 14})},
		{name: "802.3/llc/truncated", lt: LinkEthernet, frame: cat(ethHdr(3), []byte{0x42, 0x42}),
			err: ErrTruncated, want: withEth(Packet{Encaps: EncapLLC})},
		{name: "802.3/snap/truncated", lt: LinkEthernet, frame: cat(ethHdr(8), []byte{0xaa, 0xaa, 0x03, 0, 0}),
			err: ErrTruncated, want: withEth(Packet{Encaps: EncapLLC})},
		{name: "vlan/ipv4/tcp", lt: LinkEthernet, frame: cat(ethHdr(0x8100), vlanTag(100, 0x0800), tcp4),
			want: withEth(edit(tcp4Want(18), func(p *Packet) { p.Encaps |= EncapVLAN; p.VLAN = 100 }))},
		{name: "vlan/802.3/llc", lt: LinkEthernet, frame: cat(ethHdr(0x8100), vlanTag(5, 38), stp),
			want: withEth(Packet{Encaps: EncapVLAN | EncapLLC, VLAN: 5, Net: NetOther, L3Offset: 18})},
		{name: "vlan/arp", lt: LinkEthernet, frame: cat(ethHdr(0x8100), vlanTag(4095, 0x0806), arpBody(1)),
			want: withEth(Packet{Encaps: EncapVLAN, VLAN: 4095, Net: NetARP, EtherType: 0x0806,
				SrcAddr: addr4(ip4Src), DstAddr: addr4(ip4Dst), L3Offset: 18})},
		{name: "vlan/truncated", lt: LinkEthernet, frame: cat(ethHdr(0x8100), []byte{0x00, 0x64}),
			err: ErrTruncated, want: withEth(Packet{Encaps: EncapVLAN})},
		{name: "qinq/802.1ad/ipv4/tcp", lt: LinkEthernet,
			frame: cat(ethHdr(0x88a8), vlanTag(200, 0x8100), vlanTag(100, 0x0800), tcp4),
			want:  withEth(edit(tcp4Want(22), func(p *Packet) { p.Encaps |= EncapVLAN; p.VLAN = 200 }))},
		{name: "qinq/0x9100 three tags/ipv6/udp", lt: LinkEthernet,
			frame: cat(ethHdr(0x9100), vlanTag(300, 0x88a8), vlanTag(200, 0x8100), vlanTag(100, 0x86dd), udp6),
			want:  withEth(edit(udp6Want(26), func(p *Packet) { p.Encaps |= EncapVLAN; p.VLAN = 300 }))},
		{name: "mpls/one label/ipv4/tcp", lt: LinkEthernet, frame: cat(ethHdr(0x8847), mplsEntry(1000, true), tcp4),
			want: withEth(edit(tcp4Want(18), func(p *Packet) { p.Encaps |= EncapMPLS; p.MPLS = 1000 }))},
		{name: "mpls/three labels/ipv6/udp", lt: LinkEthernet,
			frame: cat(ethHdr(0x8847), mplsEntry(16, false), mplsEntry(17, false), mplsEntry(0xfffff, true), udp6),
			want:  withEth(edit(udp6Want(26), func(p *Packet) { p.Encaps |= EncapMPLS; p.MPLS = 16 }))},
		{name: "mpls/multicast/ipv4/tcp", lt: LinkEthernet, frame: cat(ethHdr(0x8848), mplsEntry(7, true), tcp4),
			want: withEth(edit(tcp4Want(18), func(p *Packet) { p.Encaps |= EncapMPLS; p.MPLS = 7 }))},
		{name: "vlan/mpls/ipv4/tcp", lt: LinkEthernet,
			frame: cat(ethHdr(0x8100), vlanTag(10, 0x8847), mplsEntry(20, false), mplsEntry(21, true), tcp4),
			want: withEth(edit(tcp4Want(26), func(p *Packet) {
				p.Encaps |= EncapVLAN | EncapMPLS
				p.VLAN, p.MPLS = 10, 20
			}))},
		{name: "mpls/pseudowire control word", lt: LinkEthernet,
			frame: cat(ethHdr(0x8847), mplsEntry(30, true), zeros(4), ethHdr(0x0800), tcp4),
			want:  withEth(Packet{Encaps: EncapMPLS, MPLS: 30, Net: NetOther, L3Offset: 18})},
		{name: "mpls/no bottom of stack", lt: LinkEthernet,
			frame: cat(ethHdr(0x8847), mplsEntry(1, false), mplsEntry(2, false)), err: ErrTruncated,
			want: withEth(Packet{Encaps: EncapMPLS, MPLS: 1})},
		{name: "mpls/nothing after the stack", lt: LinkEthernet,
			frame: cat(ethHdr(0x8847), mplsEntry(1, true)), err: ErrTruncated,
			want: withEth(Packet{Encaps: EncapMPLS, MPLS: 1})},
		{name: "pppoe/ipv4/tcp", lt: LinkEthernet, frame: cat(ethHdr(0x8864), pppoeSession(0x0021, 50), tcp4),
			want: withEth(edit(tcp4Want(22), func(p *Packet) { p.Encaps |= EncapPPP }))},
		{name: "pppoe/ipv6/udp", lt: LinkEthernet, frame: cat(ethHdr(0x8864), pppoeSession(0x0057, 58), udp6),
			want: withEth(edit(udp6Want(22), func(p *Packet) { p.Encaps |= EncapPPP }))},
		{name: "pppoe/lcp", lt: LinkEthernet, frame: cat(ethHdr(0x8864), pppoeSession(0xc021, 4), []byte{1, 1, 0, 4}),
			want: withEth(Packet{Encaps: EncapPPP, Net: NetOther, EtherType: 0x8864, L3Offset: 22})},
		{name: "pppoe/discovery", lt: LinkEthernet, frame: cat(ethHdr(0x8863), []byte{0x11, 0x09, 0, 0, 0, 4}, zeros(4)),
			want: withEth(Packet{Net: NetOther, EtherType: 0x8863, L3Offset: 14})},
		{name: "pppoe/truncated", lt: LinkEthernet, frame: cat(ethHdr(0x8864), []byte{0x11, 0x00, 0x00}),
			err: ErrTruncated, want: withEth(Packet{Encaps: EncapPPP})},
		{name: "qinq/pppoe/ipv4/tcp", lt: LinkEthernet,
			frame: cat(ethHdr(0x88a8), vlanTag(10, 0x8100), vlanTag(20, 0x8864), pppoeSession(0x0021, 50), tcp4),
			want: withEth(edit(tcp4Want(30), func(p *Packet) {
				p.Encaps |= EncapVLAN | EncapPPP
				p.VLAN = 10
			}))},
		{name: "arp/request", lt: LinkEthernet, frame: cat(ethHdr(0x0806), arpBody(1), zeros(18)),
			want: withEth(Packet{Net: NetARP, EtherType: 0x0806, SrcAddr: addr4(ip4Src), DstAddr: addr4(ip4Dst), L3Offset: 14})},
		{name: "rarp", lt: LinkEthernet, frame: cat(ethHdr(0x8035), arpBody(1)),
			want: withEth(Packet{Net: NetARP, EtherType: 0x8035, SrcAddr: addr4(ip4Src), DstAddr: addr4(ip4Dst), L3Offset: 14})},
		{name: "arp/ieee802 hardware", lt: LinkEthernet, frame: cat(ethHdr(0x0806), arpBody(6)),
			want: withEth(Packet{Net: NetARP, EtherType: 0x0806, SrcAddr: addr4(ip4Src), DstAddr: addr4(ip4Dst), L3Offset: 14})},
		{name: "arp/not ipv4", lt: LinkEthernet, frame: cat(ethHdr(0x0806), set(arpBody(1), 2, 0x86)),
			want: withEth(Packet{Net: NetARP, EtherType: 0x0806, L3Offset: 14})},
		{name: "arp/truncated addresses", lt: LinkEthernet, frame: cat(ethHdr(0x0806), arpBody(1)[:20]),
			err: ErrTruncated, want: withEth(Packet{Net: NetARP, EtherType: 0x0806, L3Offset: 14})},
		{name: "arp/truncated header", lt: LinkEthernet, frame: cat(ethHdr(0x0806), arpBody(1)[:7]),
			err: ErrTruncated, want: withEth(Packet{Net: NetARP, EtherType: 0x0806, L3Offset: 14})},

		{name: "sll/ipv4/tcp", lt: LinkLinuxSLL, frame: cat(sllHdr(0x0800, 6), tcp4),
			want: edit(tcp4Want(16), func(p *Packet) { p.Encaps, p.HasMAC, p.SrcMAC = EncapSLL, true, macSrc })},
		{name: "sll/ipv6/udp/no address", lt: LinkLinuxSLL, frame: cat(sllHdr(0x86dd, 0), udp6),
			want: edit(udp6Want(16), func(p *Packet) { p.Encaps = EncapSLL })},
		{name: "sll/vlan/ipv4/tcp", lt: LinkLinuxSLL, frame: cat(sllHdr(0x8100, 6), vlanTag(7, 0x0800), tcp4),
			want: edit(tcp4Want(20), func(p *Packet) {
				p.Encaps, p.HasMAC, p.SrcMAC, p.VLAN = EncapSLL|EncapVLAN, true, macSrc, 7
			})},
		{name: "sll/802.2 llc", lt: LinkLinuxSLL, frame: cat(sllHdr(0x0004, 6), stp),
			want: Packet{Encaps: EncapSLL | EncapLLC, HasMAC: true, SrcMAC: macSrc, Net: NetOther, L3Offset: 16}},
		{name: "sll/can", lt: LinkLinuxSLL, frame: cat(sllHdr(0x000c, 0), zeros(16)),
			want: Packet{Encaps: EncapSLL, Net: NetOther, L3Offset: 16}},
		{name: "sll/arp", lt: LinkLinuxSLL, frame: cat(sllHdr(0x0806, 6), arpBody(1)),
			want: Packet{Encaps: EncapSLL, HasMAC: true, SrcMAC: macSrc, Net: NetARP, EtherType: 0x0806,
				SrcAddr: addr4(ip4Src), DstAddr: addr4(ip4Dst), L3Offset: 16}},
		{name: "sll/truncated", lt: LinkLinuxSLL, frame: sllHdr(0x0800, 6)[:15], err: ErrTruncated,
			want: Packet{Encaps: EncapSLL}},
		{name: "sll2/ipv4/tcp", lt: LinkSLL2, frame: cat(sll2Hdr(0x0800, 6), tcp4),
			want: edit(tcp4Want(20), func(p *Packet) { p.Encaps, p.HasMAC, p.SrcMAC = EncapSLL, true, macSrc })},
		{name: "sll2/ipv6/udp/no address", lt: LinkSLL2, frame: cat(sll2Hdr(0x86dd, 0), udp6),
			want: edit(udp6Want(20), func(p *Packet) { p.Encaps = EncapSLL })},
		{name: "sll2/arp", lt: LinkSLL2, frame: cat(sll2Hdr(0x0806, 6), arpBody(1)),
			want: Packet{Encaps: EncapSLL, HasMAC: true, SrcMAC: macSrc, Net: NetARP, EtherType: 0x0806,
				SrcAddr: addr4(ip4Src), DstAddr: addr4(ip4Dst), L3Offset: 20}},
		{name: "sll2/truncated", lt: LinkSLL2, frame: sll2Hdr(0x0800, 6)[:19], err: ErrTruncated,
			want: Packet{Encaps: EncapSLL}},

		{name: "null/little-endian/ipv4/tcp", lt: LinkNull, frame: cat(nullHdr(2, binary.LittleEndian), tcp4),
			want: edit(tcp4Want(4), func(p *Packet) { p.Encaps = EncapNull })},
		{name: "null/big-endian/ipv4/tcp", lt: LinkNull, frame: cat(nullHdr(2, binary.BigEndian), tcp4),
			want: edit(tcp4Want(4), func(p *Packet) { p.Encaps = EncapNull })},
		{name: "null/family 24/ipv6", lt: LinkNull, frame: cat(nullHdr(24, binary.LittleEndian), udp6),
			want: edit(udp6Want(4), func(p *Packet) { p.Encaps = EncapNull })},
		{name: "null/family 28/ipv6", lt: LinkNull, frame: cat(nullHdr(28, binary.BigEndian), udp6),
			want: edit(udp6Want(4), func(p *Packet) { p.Encaps = EncapNull })},
		{name: "null/family 30/ipv6", lt: LinkNull, frame: cat(nullHdr(30, binary.LittleEndian), udp6),
			want: edit(udp6Want(4), func(p *Packet) { p.Encaps = EncapNull })},
		{name: "null/unknown family", lt: LinkNull, frame: cat(nullHdr(23, binary.LittleEndian), zeros(30)),
			want: Packet{Encaps: EncapNull, Net: NetOther, L3Offset: 4}},
		{name: "null/truncated", lt: LinkNull, frame: []byte{2, 0, 0}, err: ErrTruncated,
			want: Packet{Encaps: EncapNull}},
		{name: "loop/ipv4/tcp", lt: LinkLoop, frame: cat(nullHdr(2, binary.BigEndian), tcp4),
			want: edit(tcp4Want(4), func(p *Packet) { p.Encaps = EncapNull })},
		{name: "loop/ipv6/udp", lt: LinkLoop, frame: cat(nullHdr(24, binary.BigEndian), udp6),
			want: edit(udp6Want(4), func(p *Packet) { p.Encaps = EncapNull })},
		{name: "loop/host order is not guessed", lt: LinkLoop, frame: cat(nullHdr(2, binary.LittleEndian), tcp4),
			want: Packet{Encaps: EncapNull, Net: NetOther, L3Offset: 4}},

		{name: "ppp/hdlc/ipv4/tcp", lt: LinkPPP, frame: cat([]byte{0xff, 0x03, 0x00, 0x21}, tcp4),
			want: edit(tcp4Want(4), func(p *Packet) { p.Encaps = EncapPPP })},
		{name: "ppp/ipv6/udp", lt: LinkPPP, frame: cat([]byte{0x00, 0x57}, udp6),
			want: edit(udp6Want(2), func(p *Packet) { p.Encaps = EncapPPP })},
		{name: "ppp/compressed protocol/ipv4/tcp", lt: LinkPPP, frame: cat([]byte{0x21}, tcp4),
			want: edit(tcp4Want(1), func(p *Packet) { p.Encaps = EncapPPP })},
		{name: "ppp/hdlc/compressed protocol/ipv6/udp", lt: LinkPPP, frame: cat([]byte{0xff, 0x03, 0x57}, udp6),
			want: edit(udp6Want(3), func(p *Packet) { p.Encaps = EncapPPP })},
		{name: "ppp/lcp", lt: LinkPPP, frame: cat([]byte{0xff, 0x03, 0xc0, 0x21}, []byte{1, 1, 0, 4}),
			want: Packet{Encaps: EncapPPP, Net: NetOther, L3Offset: 4}},
		{name: "ppp/mpls/ipv4/tcp", lt: LinkPPP, frame: cat([]byte{0xff, 0x03, 0x02, 0x81}, mplsEntry(5, true), tcp4),
			want: edit(tcp4Want(8), func(p *Packet) { p.Encaps, p.MPLS = EncapPPP|EncapMPLS, 5 })},
		{name: "ppp/cisco hdlc/ipv4/tcp", lt: LinkPPP, frame: cat([]byte{0x0f, 0x00, 0x08, 0x00}, tcp4),
			want: edit(tcp4Want(4), func(p *Packet) { p.Encaps = EncapPPP })},
		{name: "ppp/cisco hdlc/slarp", lt: LinkPPP, frame: cat([]byte{0x8f, 0x00, 0x80, 0x35}, zeros(20)),
			want: Packet{Encaps: EncapPPP, Net: NetOther, EtherType: 0x8035, L3Offset: 4}},
		{name: "ppp/no protocol", lt: LinkPPP, frame: []byte{0xff, 0x03}, err: ErrTruncated,
			want: Packet{Encaps: EncapPPP}},
		{name: "ppp/half a protocol", lt: LinkPPP, frame: []byte{0x00}, err: ErrTruncated,
			want: Packet{Encaps: EncapPPP}},

		{name: "raw/ipv4/tcp", lt: LinkRaw, frame: tcp4,
			want: edit(tcp4Want(0), func(p *Packet) { p.Encaps = EncapRaw })},
		{name: "raw/ipv6/udp", lt: LinkRaw, frame: udp6,
			want: edit(udp6Want(0), func(p *Packet) { p.Encaps = EncapRaw })},
		{name: "raw/version 5", lt: LinkRaw, frame: set(tcp4, 0, 0x55), err: ErrMalformed,
			want: Packet{Encaps: EncapRaw}},
		{name: "raw/empty", lt: LinkRaw, frame: nil, err: ErrTruncated, want: Packet{Encaps: EncapRaw}},
		{name: "ipv4 link/tcp", lt: LinkIPv4, frame: tcp4,
			want: edit(tcp4Want(0), func(p *Packet) { p.Encaps = EncapRaw })},
		{name: "ipv4 link/ipv6 packet", lt: LinkIPv4, frame: udp6, err: ErrMalformed,
			want: Packet{Encaps: EncapRaw, EtherType: 0x0800, Net: NetIPv4}},
		{name: "ipv6 link/udp", lt: LinkIPv6, frame: udp6,
			want: edit(udp6Want(0), func(p *Packet) { p.Encaps = EncapRaw })},
		{name: "unsupported link type", lt: 105, frame: cat(ethHdr(0x0800), tcp4), err: ErrUnsupportedLink},
	}
}

// ipv4Cases are IPv4 and transport cases, all in Ethernet frames.
func ipv4Cases() []decodeCase {
	c := func(name string, ip []byte, err error, want Packet) decodeCase {
		return decodeCase{name: "ipv4/" + name, lt: LinkEthernet, frame: cat(ethHdr(0x0800), ip), err: err, want: withEth(want)}
	}
	bare := Packet{EtherType: 0x0800, Net: NetIPv4, L3Offset: 14} // what is set before an early failure
	withOptions := ipv4Hdr{proto: ProtoTCP, options: []byte{0x94, 0x04, 0x00, 0x00}}.bytes(tcpSeg)
	longOptions := ipv4Hdr{proto: ProtoTCP, options: []byte(strings.Repeat("\x01", 40))}.bytes(tcpSeg)
	padded := ipv4Hdr{proto: ProtoUDP}.bytes(cat(udpHdr(10), []byte("hi")))
	padded = cat(padded, zeros(46-len(padded)))
	fragData := []byte("sixteen bytes!!!")
	tcpMSS := cat(tcpHdr(TCPSyn, []byte{2, 4, 0x05, 0xb4}), payload)
	tcpLongOptions := cat(tcpHdr(TCPSyn, zeros(12)), payload)
	unreach := cat(icmpHdr(3, 1, 0x11112222), tcp4[:28])
	return []decodeCase{
		c("options/tcp", withOptions, nil,
			edit(withTCP(want4(14, ProtoTCP, 54), 10), func(p *Packet) { p.IPHdrLen, p.L4Offset = 24, 38 })),
		c("ihl below 5", set(tcp4, 0, 0x44), ErrMalformed, bare),
		c("version 6 under the ipv4 ethertype", set(tcp4, 0, 0x65), ErrMalformed, bare),
		c("header truncated", tcp4[:19], ErrTruncated, bare),
		c("options truncated", longOptions[:30], ErrTruncated,
			edit(want4(14, ProtoTCP, 90), func(p *Packet) { p.IPHdrLen, p.L4Offset = 60, 0 })),
		c("total length below header length", ipv4Hdr{proto: ProtoTCP, totalLen: 19}.bytes(tcpSeg), ErrMalformed,
			edit(want4(14, ProtoTCP, 19), func(p *Packet) { p.L4Offset = 0 })),
		c("total length zero (tso)", ipv4Hdr{proto: ProtoTCP, totalLen: -1}.bytes(tcpSeg), nil, tcp4Want(14)),
		c("snaplen cut the payload", ipv4Hdr{proto: ProtoTCP, totalLen: 1500}.bytes(tcpSeg), nil,
			withTCP(want4(14, ProtoTCP, 1500), 1460)),
		c("ethernet padding/udp", padded, nil, withUDP(want4(14, ProtoUDP, 30), 2)),
		c("padding is not read as tcp", ipv4Hdr{proto: ProtoTCP, totalLen: 30}.bytes(tcpSeg), ErrMalformed,
			edit(want4(14, ProtoTCP, 30), func(p *Packet) { p.SrcPort, p.DstPort = 40000, 443 })),
		c("first fragment/tcp", ipv4Hdr{proto: ProtoTCP, flagsOff: 0x2000}.bytes(tcpSeg), nil,
			edit(tcp4Want(14), func(p *Packet) { p.Fragment, p.FragMore = true, true })),
		c("non-first fragment", ipv4Hdr{proto: ProtoTCP, flagsOff: 0x0003}.bytes(fragData), nil,
			edit(want4(14, ProtoTCP, 36), func(p *Packet) { p.Fragment, p.FragOffset, p.AppLen = true, 3, 16 })),
		c("fragment with MF and the largest offset", ipv4Hdr{proto: ProtoUDP, flagsOff: 0x2000 | 0x1fff}.bytes(fragData), nil,
			edit(want4(14, ProtoUDP, 36), func(p *Packet) {
				p.Fragment, p.FragMore, p.FragOffset, p.AppLen = true, true, 0x1fff, 16
			})),
		c("first fragment/tcp header goes on in the next fragment",
			ipv4Hdr{proto: ProtoTCP, flagsOff: 0x2000}.bytes(tcpLongOptions[:24]), nil,
			edit(withTCP(want4(14, ProtoTCP, 44), 0), func(p *Packet) {
				p.L4, p.TCPFlags, p.Fragment, p.FragMore = false, TCPSyn, true, true
			})),
		c("first fragment/eight bytes of tcp", ipv4Hdr{proto: ProtoTCP, flagsOff: 0x2000}.bytes(tcpSeg[:8]), nil,
			edit(want4(14, ProtoTCP, 28), func(p *Packet) {
				p.SrcPort, p.DstPort, p.Fragment, p.FragMore = 40000, 443, true, true
			})),
		c("dont fragment", ipv4Hdr{proto: ProtoTCP, flagsOff: 0x4000}.bytes(tcpSeg), nil, tcp4Want(14)),
		c("tcp/options", ipv4Hdr{proto: ProtoTCP}.bytes(tcpMSS), nil,
			edit(withTCP(want4(14, ProtoTCP, 54), 10), func(p *Packet) { p.TCPFlags = TCPSyn })),
		c("tcp/data offset below 5", set(tcp4, 32, 0x40), ErrMalformed,
			edit(withTCP(want4(14, ProtoTCP, 50), 0), func(p *Packet) { p.L4 = false })),
		c("tcp/only ports captured", tcp4[:30], ErrTruncated,
			edit(want4(14, ProtoTCP, 50), func(p *Packet) { p.SrcPort, p.DstPort = 40000, 443 })),
		c("tcp/ports not captured", tcp4[:23], ErrTruncated, want4(14, ProtoTCP, 50)),
		c("tcp/options cut", ipv4Hdr{proto: ProtoTCP}.bytes(tcpLongOptions)[:44], ErrTruncated,
			edit(withTCP(want4(14, ProtoTCP, 62), 10), func(p *Packet) { p.L4, p.TCPFlags = false, TCPSyn })),
		c("udp", ipv4Hdr{proto: ProtoUDP}.bytes(udpDgm), nil, withUDP(want4(14, ProtoUDP, 38), 10)),
		c("udp/length past the ip payload", ipv4Hdr{proto: ProtoUDP}.bytes(cat(udpHdr(200), payload)), nil,
			withUDP(want4(14, ProtoUDP, 38), 10)),
		c("udp/length zero", ipv4Hdr{proto: ProtoUDP}.bytes(cat(udpHdr(0), payload)), nil,
			withUDP(want4(14, ProtoUDP, 38), 10)),
		c("udp/shorter than the ip payload", ipv4Hdr{proto: ProtoUDP}.bytes(cat(udpHdr(12), payload)), nil,
			withUDP(want4(14, ProtoUDP, 38), 4)),
		c("udp/truncated", ipv4Hdr{proto: ProtoUDP}.bytes(udpDgm)[:26], ErrTruncated,
			edit(want4(14, ProtoUDP, 38), func(p *Packet) { p.SrcPort, p.DstPort = 5353, 53 })),
		c("icmp/echo request", ipv4Hdr{proto: ProtoICMP}.bytes(cat(icmpHdr(8, 0, 0x42420001), payload)), nil,
			edit(want4(14, ProtoICMP, 38), func(p *Packet) {
				p.L4, p.SrcPort, p.DstPort, p.ICMPID, p.ICMPSeq, p.AppLen = true, 8, 0, 0x4242, 1, 10
			})),
		c("icmp/echo reply", ipv4Hdr{proto: ProtoICMP}.bytes(cat(icmpHdr(0, 0, 0x42420001), payload)), nil,
			edit(want4(14, ProtoICMP, 38), func(p *Packet) {
				p.L4, p.SrcPort, p.DstPort, p.ICMPID, p.ICMPSeq, p.AppLen = true, 0, 0, 0x4242, 1, 10
			})),
		c("icmp/unreachable has no id or sequence", ipv4Hdr{proto: ProtoICMP}.bytes(unreach), nil,
			edit(want4(14, ProtoICMP, 56), func(p *Packet) {
				p.L4, p.SrcPort, p.DstPort, p.AppLen = true, 3, 1, 28
			})),
		c("icmp/truncated", ipv4Hdr{proto: ProtoICMP}.bytes(unreach)[:24], ErrTruncated,
			edit(want4(14, ProtoICMP, 56), func(p *Packet) { p.SrcPort, p.DstPort = 3, 1 })),
		c("icmp/shorter than its header", ipv4Hdr{proto: ProtoICMP}.bytes(icmpHdr(8, 0, 1)[:4]), ErrMalformed,
			edit(want4(14, ProtoICMP, 24), func(p *Packet) { p.SrcPort = 8 })),
		c("sctp", ipv4Hdr{proto: ProtoSCTP}.bytes(cat(sctpHdr(), payload)), nil,
			edit(want4(14, ProtoSCTP, 42), func(p *Packet) { p.L4, p.SrcPort, p.DstPort, p.AppLen = true, 36412, 2905, 10 })),
		c("sctp/truncated", ipv4Hdr{proto: ProtoSCTP}.bytes(cat(sctpHdr(), payload))[:28], ErrTruncated,
			edit(want4(14, ProtoSCTP, 42), func(p *Packet) { p.SrcPort, p.DstPort = 36412, 2905 })),
		c("gre is decapsulated", ipv4Hdr{proto: 47}.bytes(cat([]byte{0, 0, 0x08, 0}, tcp4)), nil,
			edit(tcp4Want(38), func(p *Packet) { p.Encaps |= EncapGRE; p.GREDepth = 1 })),
		c("gre with key and sequence", ipv4Hdr{proto: 47}.bytes(cat([]byte{0x30, 0, 0x08, 0}, be32(7), be32(9), tcp4)), nil,
			edit(tcp4Want(46), func(p *Packet) { p.Encaps |= EncapGRE; p.GREDepth = 1 })),
		c("gre of an unknown protocol stays closed", ipv4Hdr{proto: 47}.bytes(cat([]byte{0, 0, 0x12, 0x34}, payload)), nil,
			edit(want4(14, 47, 34), func(p *Packet) { p.AppLen = 14 })),
		c("ip-in-ip is not decapsulated", ipv4Hdr{proto: 4}.bytes(tcp4), nil,
			edit(want4(14, 4, 70), func(p *Packet) { p.AppLen = 50 })),
		c("esp", ipv4Hdr{proto: 50}.bytes(cat(be32(0x1000), be32(1), payload)), nil,
			edit(want4(14, 50, 38), func(p *Packet) { p.AppLen = 18 })),
	}
}

// ipv6Cases are IPv6, extension header and transport cases, all in Ethernet frames.
func ipv6Cases() []decodeCase {
	c := func(name string, ip []byte, err error, want Packet) decodeCase {
		return decodeCase{name: "ipv6/" + name, lt: LinkEthernet, frame: cat(ethHdr(0x86dd), ip), err: err, want: withEth(want)}
	}
	bare := Packet{EtherType: 0x86dd, Net: NetIPv6, L3Offset: 14}
	tcpIn := func(exts ...[]byte) []byte { return cat(cat(exts...), tcpSeg) }
	sixteenDestOpts := func() []byte {
		var b []byte
		for range 16 {
			b = cat(b, ext6(60, 0))
		}
		return b
	}()
	jumboHopByHop := []byte{ProtoUDP, 0, 0xc2, 4, 0, 0, 0, 0} // jumbo payload option
	binary.BigEndian.PutUint32(jumboHopByHop[4:], 8+18)
	return []decodeCase{
		c("tcp", ipv6Hdr{next: ProtoTCP}.bytes(tcpSeg), nil, withTCP(want6(14, ProtoTCP, 70, 40), 10)),
		c("hop-by-hop/udp", ipv6Hdr{next: 0}.bytes(cat(ext6(ProtoUDP, 0), udpDgm)), nil,
			withUDP(want6(14, ProtoUDP, 66, 48), 10)),
		c("hop-by-hop/routing/destination/tcp", ipv6Hdr{next: 0}.bytes(tcpIn(ext6(43, 0), ext6(60, 1), ext6(ProtoTCP, 0))), nil,
			withTCP(want6(14, ProtoTCP, 102, 72), 10)),
		c("ah/tcp", ipv6Hdr{next: 51}.bytes(tcpIn(ah6(ProtoTCP, 4))), nil,
			withTCP(want6(14, ProtoTCP, 94, 64), 10)),
		c("mobility/hip/shim6/no next header", ipv6Hdr{next: 135}.bytes(cat(ext6(139, 0), ext6(140, 1), ext6(59, 0))), nil,
			want6(14, 59, 72, 72)),
		c("first fragment/udp", ipv6Hdr{next: 44}.bytes(cat(frag6(ProtoUDP, 0, true, 0xdeadbeef), udpHdr(1000), payload)), nil,
			edit(withUDP(want6(14, ProtoUDP, 66, 48), 10), func(p *Packet) {
				p.Fragment, p.FragMore, p.FragID = true, true, 0xdeadbeef
			})),
		c("first fragment/udp header goes on in the next fragment",
			ipv6Hdr{next: 44}.bytes(cat(frag6(ProtoUDP, 0, true, 5), udpHdr(1000)[:4])), nil,
			edit(want6(14, ProtoUDP, 52, 48), func(p *Packet) {
				p.SrcPort, p.DstPort, p.Fragment, p.FragMore, p.FragID = 5353, 53, true, true, 5
			})),
		c("non-first fragment", ipv6Hdr{next: 44}.bytes(cat(frag6(ProtoTCP, 100, false, 7), zeros(24))), nil,
			edit(want6(14, ProtoTCP, 72, 48), func(p *Packet) {
				p.Fragment, p.FragOffset, p.FragID, p.AppLen = true, 100, 7, 24
			})),
		c("non-first fragment/headers after it are payload", ipv6Hdr{next: 44}.bytes(cat(frag6(60, 1, true, 7), ext6(6, 0))), nil,
			edit(want6(14, 60, 56, 48), func(p *Packet) {
				p.Fragment, p.FragMore, p.FragOffset, p.FragID, p.AppLen = true, true, 1, 7, 8
			})),
		c("atomic fragment/tcp", ipv6Hdr{next: 44}.bytes(tcpIn(frag6(ProtoTCP, 0, false, 9))), nil,
			edit(withTCP(want6(14, ProtoTCP, 78, 48), 10), func(p *Packet) { p.FragID = 9 })),
		c("esp", ipv6Hdr{next: 50}.bytes(cat(be32(0x1000), be32(1), payload)), nil,
			edit(want6(14, 50, 58, 40), func(p *Packet) { p.AppLen = 18 })),
		c("no next header", ipv6Hdr{next: 59}.bytes(nil), nil, want6(14, 59, 40, 40)),
		c("too many extension headers", ipv6Hdr{next: 60}.bytes(cat(sixteenDestOpts, ext6(ProtoTCP, 0))), ErrMalformed,
			edit(want6(14, 60, 40+17*8, 40+16*8), func(p *Packet) { p.L4Offset = 0 })),
		c("extension cut by the capture", ipv6Hdr{next: 0}.bytes(tcpIn(ext6(ProtoTCP, 1)))[:44], ErrTruncated,
			edit(want6(14, ProtoTCP, 86, 40), func(p *Packet) { p.L4Offset = 0 })),
		c("extension length byte not captured", ipv6Hdr{next: 0}.bytes(tcpIn(ext6(ProtoTCP, 1)))[:41], ErrTruncated,
			edit(want6(14, 0, 86, 40), func(p *Packet) { p.L4Offset = 0 })),
		c("extension past the payload length", ipv6Hdr{next: 0, payloadLen: 8}.bytes(ext6(ProtoTCP, 1)), ErrMalformed,
			edit(want6(14, ProtoTCP, 48, 40), func(p *Packet) { p.L4Offset = 0 })),
		c("fragment header cut", ipv6Hdr{next: 44}.bytes(frag6(ProtoUDP, 0, true, 1))[:46], ErrTruncated,
			edit(want6(14, 44, 48, 40), func(p *Packet) { p.L4Offset = 0 })),
		c("header truncated", udp6[:39], ErrTruncated, bare),
		c("version 4 under the ipv6 ethertype", set(udp6, 0, 0x45), ErrMalformed, bare),
		c("snaplen cut the payload", ipv6Hdr{next: ProtoTCP, payloadLen: 1460}.bytes(tcpSeg), nil,
			withTCP(want6(14, ProtoTCP, 1500, 40), 1440)),
		c("jumbogram", ipv6Hdr{next: 0, payloadLen: -1}.bytes(cat(jumboHopByHop, udpDgm)), nil,
			withUDP(want6(14, ProtoUDP, 66, 48), 10)),
		c("icmpv6/echo request", ipv6Hdr{next: ProtoICMPv6}.bytes(cat(icmpHdr(128, 0, 0x01010002), payload)), nil,
			edit(want6(14, ProtoICMPv6, 58, 40), func(p *Packet) {
				p.L4, p.SrcPort, p.ICMPID, p.ICMPSeq, p.AppLen = true, 128, 0x0101, 2, 10
			})),
		c("icmpv6/echo reply", ipv6Hdr{next: ProtoICMPv6}.bytes(cat(icmpHdr(129, 0, 0x01010002), payload)), nil,
			edit(want6(14, ProtoICMPv6, 58, 40), func(p *Packet) {
				p.L4, p.SrcPort, p.ICMPID, p.ICMPSeq, p.AppLen = true, 129, 0x0101, 2, 10
			})),
		c("icmpv6/unreachable has no id or sequence", ipv6Hdr{next: ProtoICMPv6}.bytes(cat(icmpHdr(1, 4, 0x01010002), payload)), nil,
			edit(want6(14, ProtoICMPv6, 58, 40), func(p *Packet) { p.L4, p.SrcPort, p.DstPort, p.AppLen = true, 1, 4, 10 })),
		c("icmpv4 type 8 is not an icmpv6 echo", ipv6Hdr{next: ProtoICMPv6}.bytes(cat(icmpHdr(8, 0, 0x01010002), payload)), nil,
			edit(want6(14, ProtoICMPv6, 58, 40), func(p *Packet) { p.L4, p.SrcPort, p.AppLen = true, 8, 10 })),
		c("sctp", ipv6Hdr{next: ProtoSCTP}.bytes(cat(sctpHdr(), payload)), nil,
			edit(want6(14, ProtoSCTP, 62, 40), func(p *Packet) { p.L4, p.SrcPort, p.DstPort, p.AppLen = true, 36412, 2905, 10 })),
		c("ipv6-in-ipv6 is not decapsulated", ipv6Hdr{next: 41}.bytes(udp6), nil,
			edit(want6(14, 41, 98, 40), func(p *Packet) { p.AppLen = 58 })),
	}
}

func allCases() []decodeCase {
	cases := append(append(linkCases(), ipv4Cases()...), ipv6Cases()...)
	for i := range cases {
		cases[i].want.LinkHdrLen = wantLinkHdrLen(cases[i])
	}
	return cases
}

// wantLinkHdrLen is the link framing each case's frame starts with, which byte counts
// leave out (Ethernet headers are counted, as Argus counts them).
func wantLinkHdrLen(tc decodeCase) uint16 {
	switch tc.lt {
	case LinkLinuxSLL:
		return 16
	case LinkSLL2:
		return 20
	case LinkNull, LinkLoop, LinkCHDLC:
		return 4
	case LinkPPP:
		return map[string]uint16{
			"ppp/hdlc/ipv4/tcp": 4, "ppp/ipv6/udp": 2, "ppp/compressed protocol/ipv4/tcp": 1,
			"ppp/hdlc/compressed protocol/ipv6/udp": 3, "ppp/lcp": 4, "ppp/mpls/ipv4/tcp": 4,
			"ppp/cisco hdlc/ipv4/tcp": 4, "ppp/cisco hdlc/slarp": 4, "ppp/no protocol": 4, "ppp/half a protocol": 2,
		}[tc.name]
	}
	return 0
}

func TestDecode(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range allCases() {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			p := dirtyPacket()
			p.Timestamp, p.WireLen, p.CapLen = 7, 1514, uint32(len(tc.frame))
			err := Decode(tc.lt, tc.frame, &p)
			if tc.err == nil && err != nil {
				t.Fatalf("Decode: unexpected error %v", err)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("Decode: error %v, want one matching %v", err, tc.err)
			}
			want := tc.want
			want.Timestamp, want.WireLen, want.CapLen = 7, 1514, uint32(len(tc.frame))
			if p != want {
				t.Errorf("Decode fields differ (got, want):\n%s", diffPackets(p, want))
			}
			checkInvariants(t, tc.lt, tc.frame, &p, err)
		})
	}
}

// dirtyPacket has every field set, to prove that Decode resets what it does not decode.
func dirtyPacket() Packet {
	var p Packet
	v := reflect.ValueOf(&p).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32:
			f.SetUint(3)
		case reflect.Int64:
			f.SetInt(3)
		case reflect.Array:
			for j := range f.Len() {
				f.Index(j).SetUint(0xdd)
			}
		}
	}
	return p
}

// diffPackets lists the fields that differ. Reflection is fine here: only the decoder
// must do without it.
func diffPackets(got, want Packet) string {
	var sb strings.Builder
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		if gf, wf := g.Field(i).Interface(), w.Field(i).Interface(); gf != wf {
			fmt.Fprintf(&sb, "\t%s: %v, want %v\n", g.Type().Field(i).Name, gf, wf)
		}
	}
	return sb.String()
}

// checkInvariants is the property every decode must satisfy, whatever the input: the
// fuzz test's oracle, also applied to the table cases and the real captures.
func checkInvariants(t *testing.T, lt LinkType, frame []byte, p *Packet, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedLink) {
		t.Fatalf("error %v is none of the package's errors", err)
	}
	if !Supported(lt) {
		if !errors.Is(err, ErrUnsupportedLink) {
			t.Fatalf("link type %d: error %v, want ErrUnsupportedLink", lt, err)
		}
		if (*p != Packet{Timestamp: p.Timestamp, WireLen: p.WireLen, CapLen: p.CapLen}) {
			t.Fatalf("link type %d unsupported but fields were set: %+v", lt, *p)
		}
		return
	}
	if p.L4 && err != nil {
		t.Fatalf("L4 set with error %v", err)
	}
	if p.L4 && ((p.Net != NetIPv4 && p.Net != NetIPv6) || p.FragOffset != 0) {
		t.Fatalf("L4 set on a packet that cannot have a transport header: net %d, fragment offset %d", p.Net, p.FragOffset)
	}
	if !p.Fragment && (p.FragOffset != 0 || p.FragMore) {
		t.Fatalf("Fragment false with offset %d, more %v", p.FragOffset, p.FragMore)
	}
	if p.HasMAC && p.Encaps&(EncapEthernet|EncapSLL) == 0 {
		t.Fatalf("HasMAC without an Ethernet or SLL layer (encaps %#x)", p.Encaps)
	}
	if err != nil {
		return
	}
	l3 := int(p.L3Offset)
	switch p.Net {
	case NetARP:
		if l3+8 > len(frame) {
			t.Fatalf("arp header at %d runs past the %d-byte frame", l3, len(frame))
		}
	case NetIPv4, NetIPv6:
		hdr := int(p.IPHdrLen)
		if l3+hdr > len(frame) {
			t.Fatalf("ip header at %d, %d bytes, runs past the %d-byte frame", l3, hdr, len(frame))
		}
		if p.IPLen < uint32(hdr) || p.AppLen > p.IPLen-uint32(hdr) {
			t.Fatalf("lengths inconsistent: ip %d, header %d, app %d", p.IPLen, hdr, p.AppLen)
		}
		if p.Net == NetIPv4 {
			checkIPv4(t, frame[l3:], p)
		} else {
			checkIPv6(t, frame[l3:], p)
		}
		if p.L4 || p.FragOffset != 0 {
			if int(p.L4Offset) != l3+hdr {
				t.Fatalf("L4Offset %d, want L3Offset %d + IPHdrLen %d", p.L4Offset, l3, hdr)
			}
		}
		if p.L4 {
			checkTransport(t, frame, p)
		}
	}
}

func checkIPv4(t *testing.T, b []byte, p *Packet) {
	t.Helper()
	if b[0]>>4 != 4 || int(b[0]&0x0f)*4 != int(p.IPHdrLen) || b[9] != p.Proto {
		t.Fatalf("ipv4 header bytes % x disagree with IPHdrLen %d, Proto %d", b[:10], p.IPHdrLen, p.Proto)
	}
	if [4]byte(b[12:16]) != [4]byte(p.SrcAddr[:4]) || [4]byte(b[16:20]) != [4]byte(p.DstAddr[:4]) {
		t.Fatalf("ipv4 addresses differ from the header")
	}
}

// checkIPv6 re-walks the extension headers IPHdrLen covers and checks that the last next
// header field is Proto.
func checkIPv6(t *testing.T, b []byte, p *Packet) {
	t.Helper()
	if b[0]>>4 != 6 || [16]byte(b[8:24]) != p.SrcAddr || [16]byte(b[24:40]) != p.DstAddr {
		t.Fatalf("ipv6 header disagrees with the decoded version or addresses")
	}
	next, off := b[6], 40
	for off < int(p.IPHdrLen) {
		if off+2 > len(b) {
			t.Fatalf("extension header at %d past the packet", off)
		}
		var n int
		switch next {
		case 44:
			n = 8
		case 51:
			n = (int(b[off+1]) + 2) * 4
		default:
			n = (int(b[off+1]) + 1) * 8
		}
		next, off = b[off], off+n
	}
	if off != int(p.IPHdrLen) || next != p.Proto {
		t.Fatalf("extension headers end at %d with next header %d; decoded IPHdrLen %d, Proto %d",
			off, next, p.IPHdrLen, p.Proto)
	}
}

func checkTransport(t *testing.T, frame []byte, p *Packet) {
	t.Helper()
	l4 := int(p.L4Offset)
	need := map[uint8]int{ProtoTCP: 20, ProtoUDP: 8, ProtoSCTP: 12, ProtoICMP: 8, ProtoICMPv6: 8}[p.Proto]
	if need == 0 {
		t.Fatalf("L4 set for protocol %d", p.Proto)
	}
	if l4+need > len(frame) {
		t.Fatalf("transport header at %d, %d bytes, runs past the %d-byte frame", l4, need, len(frame))
	}
	h := frame[l4:]
	switch p.Proto {
	case ProtoTCP:
		if doff := int(h[12]>>4) * 4; doff < 20 || l4+doff > len(frame) {
			t.Fatalf("tcp header of %d bytes at %d does not fit the %d-byte frame", doff, l4, len(frame))
		}
		if h[13] != p.TCPFlags || binary.BigEndian.Uint32(h[4:]) != p.TCPSeq {
			t.Fatalf("tcp flags or sequence differ from the header")
		}
		fallthrough
	case ProtoUDP, ProtoSCTP:
		if binary.BigEndian.Uint16(h[0:]) != p.SrcPort || binary.BigEndian.Uint16(h[2:]) != p.DstPort {
			t.Fatalf("ports %d -> %d differ from the header", p.SrcPort, p.DstPort)
		}
	default:
		if uint16(h[0]) != p.SrcPort || uint16(h[1]) != p.DstPort {
			t.Fatalf("icmp type/code %d/%d differ from the header", p.SrcPort, p.DstPort)
		}
		if p.ICMPID|p.ICMPSeq != 0 &&
			(binary.BigEndian.Uint16(h[4:]) != p.ICMPID || binary.BigEndian.Uint16(h[6:]) != p.ICMPSeq) {
			t.Fatalf("icmp id/sequence %d/%d differ from the header", p.ICMPID, p.ICMPSeq)
		}
	}
}

// TestDecodeAllocs holds the packet path to its promise: decoding into a reused Packet
// allocates nothing, errors included.
func TestDecodeAllocs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lt    LinkType
		frame []byte
	}{
		{"ethernet/ipv4/tcp", LinkEthernet, cat(ethHdr(0x0800), tcp4)},
		{"ethernet/ipv6/extension headers/tcp", LinkEthernet, cat(ethHdr(0x86dd),
			ipv6Hdr{next: 0}.bytes(cat(ext6(43, 0), ext6(44, 0), frag6(51, 0, false, 1), ah6(ProtoTCP, 4), tcpSeg)))},
		{"ethernet/qinq/mpls/ipv6/udp", LinkEthernet, cat(ethHdr(0x88a8), vlanTag(1, 0x8100), vlanTag(2, 0x8847),
			mplsEntry(3, true), udp6)},
		{"truncated tcp (error path)", LinkEthernet, cat(ethHdr(0x0800), tcp4[:30])},
	} {
		var p Packet
		if allocs := testing.AllocsPerRun(1000, func() { _ = Decode(tc.lt, tc.frame, &p) }); allocs != 0 {
			t.Errorf("%s: %v allocations per Decode, want 0", tc.name, allocs)
		}
	}
}

// FuzzDecode feeds arbitrary frames of any link type to Decode. It must never panic, and
// whatever it reports must agree with the bytes (checkInvariants).
func FuzzDecode(f *testing.F) {
	for _, tc := range allCases() {
		f.Add(uint16(tc.lt), tc.frame)
	}
	dirty := dirtyPacket()
	f.Fuzz(func(t *testing.T, lt uint16, frame []byte) {
		p := dirty
		err := Decode(LinkType(lt), frame, &p)
		checkInvariants(t, LinkType(lt), frame, &p, err)
	})
}

// BenchmarkDecode measures the per-packet cost of Decode, which every captured frame
// pays on a sensor shard's hot path: at 10 Gb/s of minimum-size frames a shard has about
// 67 ns per packet for everything (decode, flow lookup, update), so decode has to stay a
// small fraction of that and must not allocate.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name  string
		lt    LinkType
		frame []byte
	}{
		{"ipv4-tcp", LinkEthernet, cat(ethHdr(0x0800), tcp4)},
		{"ipv6-udp", LinkEthernet, cat(ethHdr(0x86dd), udp6)},
		{"vlan-ipv4-tcp-full-mtu", LinkEthernet, cat(ethHdr(0x8100), vlanTag(100, 0x0800),
			ipv4Hdr{proto: ProtoTCP}.bytes(cat(tcpHdr(flagsPshAck, nil), zeros(1460))))},
		{"ipv6-exthdrs-tcp", LinkEthernet, cat(ethHdr(0x86dd),
			ipv6Hdr{next: 0}.bytes(cat(ext6(60, 0), ext6(ProtoTCP, 1), tcpSeg)))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.frame)))
			for b.Loop() {
				if err := Decode(bc.lt, bc.frame, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
