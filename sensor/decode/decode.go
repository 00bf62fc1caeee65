package decode

import (
	"encoding/binary"
	"strconv"
)

// EtherTypes the decoder looks inside.
const (
	etherTypeIPv4      = 0x0800
	etherTypeARP       = 0x0806
	etherTypeRARP      = 0x8035
	etherTypeVLAN      = 0x8100 // 802.1Q customer tag
	etherTypeIPv6      = 0x86dd
	etherTypeMPLS      = 0x8847
	etherTypeMPLSMcast = 0x8848
	etherTypePPPoE     = 0x8864 // PPPoE session stage
	etherTypeQinQ      = 0x88a8 // 802.1ad service tag
	etherTypeQinQOld   = 0x9100 // pre-standard QinQ tag, still sent by some switches

	// Values below this in the EtherType position are an 802.3 length, and an LLC
	// header follows.
	etherTypeMin = 0x0600
)

// PPP protocol field values.
const (
	pppIPv4      = 0x0021
	pppIPv6      = 0x0057
	pppMPLS      = 0x0281
	pppMPLSMcast = 0x0283
)

// Linux SLL protocol values below etherTypeMin that are not 802.3 lengths.
const sllProtoLLC = 0x0004 // ETH_P_802_2: the payload starts with an 802.2 LLC header

// IPv6 extension headers walked on the way to the upper-layer protocol.
const (
	ip6HopByHop   = 0
	ip6Routing    = 43
	ip6Fragment   = 44
	ip6AH         = 51
	ip6NoNext     = 59 // not walked: nothing follows it
	ip6DestOpts   = 60
	ip6Mobility   = 135
	ip6HIP        = 139
	ip6Shim6      = 140
	maxIP6Headers = 16 // legitimate packets carry a handful; more is an evasion attempt
)

// layerError is fmt.Errorf("msg: %w", err) made without fmt: the errors below are made
// at the start of every command of the binary, the analysis tools' too.
type layerError struct {
	msg string // the whole message
	err error
}

func (e *layerError) Error() string { return e.msg }
func (e *layerError) Unwrap() error { return e.err }

func layerErr(msg string, err error) error {
	return &layerError{msg: msg + ": " + err.Error(), err: err}
}

// The errors are wrapped once, here, so the packet path returns a message that names
// the layer without allocating.
var (
	errEthernetShort = layerErr("ethernet header", ErrTruncated)
	errLLCShort      = layerErr("802.2 llc/snap header", ErrTruncated)
	errVLANShort     = layerErr("802.1q tag", ErrTruncated)
	errMPLSShort     = layerErr("mpls label stack", ErrTruncated)
	errPPPoEShort    = layerErr("pppoe header", ErrTruncated)
	errPPPShort      = layerErr("ppp protocol field", ErrTruncated)
	errSLLShort      = layerErr("linux sll header", ErrTruncated)
	errNullShort     = layerErr("loopback family field", ErrTruncated)
	errARPShort      = layerErr("arp header", ErrTruncated)
	errIPShort       = layerErr("raw ip: no version byte", ErrTruncated)
	errIPVersion     = layerErr("raw ip: version is neither 4 nor 6", ErrMalformed)

	errIPv4Short        = layerErr("ipv4 header: fewer than 20 bytes", ErrTruncated)
	errIPv4OptionsShort = layerErr("ipv4 header: options cut off", ErrTruncated)
	errIPv4Version      = layerErr("ipv4 header: version is not 4", ErrMalformed)
	errIPv4HeaderLen    = layerErr("ipv4 header: ihl below 5", ErrMalformed)
	errIPv4TotalLen     = layerErr("ipv4 header: total length below header length", ErrMalformed)

	errIPv6Short      = layerErr("ipv6 header: fewer than 40 bytes", ErrTruncated)
	errIPv6Version    = layerErr("ipv6 header: version is not 6", ErrMalformed)
	errIPv6ExtShort   = layerErr("ipv6 extension header", ErrTruncated)
	errIPv6ExtOverrun = layerErr("ipv6 extension header: longer than the payload length", ErrMalformed)
	errIPv6ExtCount   = layerErr("ipv6 extension header chain: more than "+strconv.Itoa(maxIP6Headers)+" headers", ErrMalformed)

	errTCPShort      = layerErr("tcp header", ErrTruncated)
	errTCPOverrun    = layerErr("tcp header: longer than the ip payload", ErrMalformed)
	errTCPDataOffset = layerErr("tcp header: data offset below 5", ErrMalformed)
	errUDPShort      = layerErr("udp header", ErrTruncated)
	errUDPOverrun    = layerErr("udp header: longer than the ip payload", ErrMalformed)
	errSCTPShort     = layerErr("sctp common header", ErrTruncated)
	errSCTPOverrun   = layerErr("sctp common header: longer than the ip payload", ErrMalformed)
	errICMPShort     = layerErr("icmp header", ErrTruncated)
	errICMPOverrun   = layerErr("icmp header: longer than the ip payload", ErrMalformed)
)

// Decode parses frame (captured bytes of link type lt) into p. It resets every field of p
// except Timestamp, WireLen and CapLen (set by the caller) before decoding.
//
// On ErrTruncated or ErrMalformed (test with errors.Is) the fields decoded before the
// failing layer are kept. Decode does not keep frame.
func Decode(lt LinkType, frame []byte, p *Packet) error {
	*p = Packet{Timestamp: p.Timestamp, WireLen: p.WireLen, CapLen: p.CapLen}
	switch lt {
	case LinkEthernet:
		return decodeEthernet(frame, p)
	case LinkLinuxSLL:
		p.LinkHdrLen = 16
		return decodeSLL(frame, p)
	case LinkSLL2:
		p.LinkHdrLen = 20
		return decodeSLL2(frame, p)
	case LinkRaw:
		p.Encaps |= EncapRaw
		return decodeIPAnyVersion(frame, 0, p)
	case LinkIPv4:
		p.Encaps |= EncapRaw
		p.EtherType = etherTypeIPv4
		return decodeIPv4(frame, 0, p)
	case LinkIPv6:
		p.Encaps |= EncapRaw
		p.EtherType = etherTypeIPv6
		return decodeIPv6(frame, 0, p)
	case LinkNull:
		p.LinkHdrLen = 4
		return decodeNull(frame, false, p)
	case LinkLoop:
		p.LinkHdrLen = 4
		return decodeNull(frame, true, p)
	case LinkPPP:
		p.LinkHdrLen = pppHeaderLen(frame)
		return decodePPPLink(frame, p)
	case LinkCHDLC:
		p.LinkHdrLen = 4
		return decodeCiscoHDLC(frame, p)
	}
	return ErrUnsupportedLink
}

// The decoders below take the whole frame and the offset of their header, so that
// L3Offset and L4Offset come for free. Every caller keeps off <= len(frame).

func decodeEthernet(frame []byte, p *Packet) error { return decodeEthernetAt(frame, 0, p) }

// decodeEthernetAt decodes an Ethernet header at off: the frame itself, or one carried
// in GRE (ERSPAN mirrors, transparent bridging), whose addresses replace the outer ones.
func decodeEthernetAt(frame []byte, off int, p *Packet) error {
	p.Encaps |= EncapEthernet
	if len(frame)-off < 14 {
		return errEthernetShort
	}
	p.HasMAC = true
	copy(p.DstMAC[:], frame[off:off+6])
	copy(p.SrcMAC[:], frame[off+6:off+12])
	return decodeEtherType(frame, off+14, binary.BigEndian.Uint16(frame[off+12:off+14]), p)
}

// decodeEtherType decodes the layer at off, whose type is the EtherType et, peeling
// VLAN tags as it goes.
func decodeEtherType(frame []byte, off int, et uint16, p *Packet) error {
	for {
		switch et {
		case etherTypeVLAN, etherTypeQinQ, etherTypeQinQOld:
			if len(frame)-off < 4 {
				p.Encaps |= EncapVLAN
				return errVLANShort
			}
			if p.Encaps&EncapVLAN == 0 {
				// The outermost tag is the one the capturing switch port saw.
				p.Encaps |= EncapVLAN
				p.VLAN = binary.BigEndian.Uint16(frame[off:]) & 0x0fff
			}
			et = binary.BigEndian.Uint16(frame[off+2:])
			off += 4
			continue // each tag consumes 4 bytes, so the loop ends with the frame
		case etherTypeIPv4:
			p.EtherType = et
			return decodeIPv4(frame, off, p)
		case etherTypeIPv6:
			p.EtherType = et
			return decodeIPv6(frame, off, p)
		case etherTypeARP, etherTypeRARP:
			return decodeARP(frame, off, et, p)
		case etherTypeMPLS, etherTypeMPLSMcast:
			return decodeMPLS(frame, off, p)
		case etherTypePPPoE:
			return decodePPPoE(frame, off, p)
		}
		if et < etherTypeMin {
			// An 802.3 length, so an LLC header follows. Only once: LLC inside LLC is
			// nonsense, and refusing it keeps a crafted frame from recursing once per
			// 12 bytes.
			if p.Encaps&EncapLLC == 0 {
				return decodeLLC(frame, off, p)
			}
			et = 0
		}
		p.Net = NetOther
		p.EtherType = et
		p.L3Offset = uint32(off)
		return nil
	}
}

// decodeLLC decodes an 802.2 LLC header (after an 802.3 length field). Only SNAP with
// an EtherType protocol id leads further; anything else (STP, NetBIOS, IPX) is NetOther
// with EtherType 0, keyed by the MAC pair alone.
func decodeLLC(frame []byte, off int, p *Packet) error {
	p.Encaps |= EncapLLC
	b := frame[off:]
	isSNAP := len(b) >= 3 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03
	if len(b) < 3 || (isSNAP && len(b) < 8) {
		return errLLCShort
	}
	if isSNAP {
		// The protocol id is an EtherType only under the RFC 1042 and 802.1H OUIs;
		// under another OUI (Cisco's CDP, for one) it is that vendor's own number.
		oui := uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5])
		et := binary.BigEndian.Uint16(b[6:8])
		if (oui == 0x000000 || oui == 0x0000f8) && et >= etherTypeMin {
			return decodeEtherType(frame, off+8, et, p)
		}
	}
	p.Net = NetOther
	p.L3Offset = uint32(off)
	return nil
}

// decodeMPLS walks an MPLS label stack to the bottom-of-stack label. MPLS does not say
// what it carries, so, like Argus and most routers' sampling code, guess from the
// version nibble.
func decodeMPLS(frame []byte, off int, p *Packet) error {
	first := p.Encaps&EncapMPLS == 0
	p.Encaps |= EncapMPLS
	for {
		if len(frame)-off < 4 {
			return errMPLSShort
		}
		entry := binary.BigEndian.Uint32(frame[off:])
		off += 4
		if first {
			p.MPLS = entry >> 12
			first = false
		}
		if entry&0x100 != 0 { // bottom of stack
			break
		}
	}
	if off >= len(frame) {
		return errMPLSShort
	}
	switch frame[off] >> 4 {
	case 4:
		p.EtherType = etherTypeIPv4
		return decodeIPv4(frame, off, p)
	case 6:
		p.EtherType = etherTypeIPv6
		return decodeIPv6(frame, off, p)
	}
	// An Ethernet pseudowire or something else we cannot name.
	p.Net = NetOther
	p.L3Offset = uint32(off)
	return nil
}

// decodePPPoE decodes a PPPoE session header and the PPP protocol field after it.
func decodePPPoE(frame []byte, off int, p *Packet) error {
	p.Encaps |= EncapPPP
	if len(frame)-off < 6 {
		return errPPPoEShort
	}
	// Keyed by the session's EtherType unless PPP carries IP (which overwrites it).
	p.EtherType = etherTypePPPoE
	// Version 1, type 1, code 0 (session data); anything else is not carrying PPP.
	if frame[off] != 0x11 || frame[off+1] != 0 {
		p.Net = NetOther
		p.L3Offset = uint32(off)
		return nil
	}
	return decodePPPProtocol(frame, off+6, p)
}

// decodePPPLink decodes LINKTYPE_PPP frames: an optional HDLC address/control pair, then
// the PPP protocol field.
func decodePPPLink(frame []byte, p *Packet) error {
	p.Encaps |= EncapPPP
	if len(frame) >= 2 && frame[0] == 0xff && frame[1] == 0x03 {
		return decodePPPProtocol(frame, 2, p)
	}
	// Cisco HDLC framing under LINKTYPE_PPP, as some routers write it (tcpdump and
	// Wireshark accept it too). 0x0f and 0x8f as a compressed PPP protocol field would
	// be reserved values, so the two cannot be confused.
	if len(frame) >= 4 && (frame[0] == 0x0f || frame[0] == 0x8f) && frame[1] == 0x00 {
		return decodeCiscoHDLC(frame, p)
	}
	return decodePPPProtocol(frame, 0, p)
}

// pppHeaderLen is the length of the PPP (or Cisco HDLC) framing at the start of a
// LINKTYPE_PPP frame: optional address and control bytes, then a 1- or 2-byte protocol.
func pppHeaderLen(frame []byte) uint16 {
	switch {
	case len(frame) >= 4 && (frame[0] == 0x0f || frame[0] == 0x8f) && frame[1] == 0x00:
		return 4
	case len(frame) >= 2 && frame[0] == 0xff && frame[1] == 0x03:
		if len(frame) >= 3 && frame[2]&1 != 0 {
			return 3
		}
		return 4
	case len(frame) >= 1 && frame[0]&1 != 0:
		return 1
	}
	return 2
}

// decodeCiscoHDLC decodes Cisco HDLC framing: address, control, then an EtherType.
func decodeCiscoHDLC(frame []byte, p *Packet) error {
	p.Encaps |= EncapPPP
	if len(frame) < 4 {
		return errPPPShort
	}
	et := binary.BigEndian.Uint16(frame[2:4])
	if et == etherTypeRARP {
		// In Cisco HDLC 0x8035 is SLARP, not RARP.
		p.Net = NetOther
		p.EtherType = et
		p.L3Offset = 4
		return nil
	}
	return decodeEtherType(frame, 4, et, p)
}

// decodePPPProtocol reads a PPP protocol field at off, one byte when protocol field
// compression is in use (the low bit of the first byte set), otherwise two.
func decodePPPProtocol(frame []byte, off int, p *Packet) error {
	if off >= len(frame) {
		return errPPPShort
	}
	proto := uint16(frame[off])
	if proto&1 != 0 {
		off++
	} else {
		if len(frame)-off < 2 {
			return errPPPShort
		}
		proto = binary.BigEndian.Uint16(frame[off:])
		off += 2
	}
	switch proto {
	case pppIPv4:
		p.EtherType = etherTypeIPv4
		return decodeIPv4(frame, off, p)
	case pppIPv6:
		p.EtherType = etherTypeIPv6
		return decodeIPv6(frame, off, p)
	case pppMPLS, pppMPLSMcast:
		return decodeMPLS(frame, off, p)
	}
	// LCP, IPCP, CHAP and the rest of PPP's own control traffic.
	p.Net = NetOther
	p.L3Offset = uint32(off)
	return nil
}

// decodeSLL decodes the 16-byte Linux cooked header (v1):
//
//	0 packet type | 2 ARPHRD type | 4 address length | 6 address (8 bytes) | 14 protocol
func decodeSLL(frame []byte, p *Packet) error {
	p.Encaps |= EncapSLL
	if len(frame) < 16 {
		return errSLLShort
	}
	// Only the sender's address is recorded; the destination is unknown (zero).
	if binary.BigEndian.Uint16(frame[4:6]) == 6 {
		p.HasMAC = true
		copy(p.SrcMAC[:], frame[6:12])
	}
	return decodeSLLProtocol(frame, 16, binary.BigEndian.Uint16(frame[14:16]), p)
}

// decodeSLL2 decodes the 20-byte Linux cooked header (v2):
//
//	0 protocol | 2 reserved | 4 interface index | 8 ARPHRD type | 10 packet type |
//	11 address length | 12 address (8 bytes)
func decodeSLL2(frame []byte, p *Packet) error {
	p.Encaps |= EncapSLL
	if len(frame) < 20 {
		return errSLLShort
	}
	if frame[11] == 6 {
		p.HasMAC = true
		copy(p.SrcMAC[:], frame[12:18])
	}
	return decodeSLLProtocol(frame, 20, binary.BigEndian.Uint16(frame[0:2]), p)
}

// decodeSLLProtocol follows the SLL protocol field, which is an EtherType except for a
// few small Linux ETH_P_ values (802.2 frames, CAN, netlink families).
func decodeSLLProtocol(frame []byte, off int, proto uint16, p *Packet) error {
	if proto >= etherTypeMin {
		return decodeEtherType(frame, off, proto, p)
	}
	if proto == sllProtoLLC {
		return decodeLLC(frame, off, p)
	}
	p.Net = NetOther
	p.L3Offset = uint32(off)
	return nil
}

// decodeNull decodes the 4-byte address family of BSD loopback captures. LINKTYPE_NULL
// stores it in the byte order of the capturing host, which the reader cannot know, but
// the family is small, so two leading zero bytes mean big-endian. LINKTYPE_LOOP is
// always big-endian.
func decodeNull(frame []byte, networkOrder bool, p *Packet) error {
	p.Encaps |= EncapNull
	if len(frame) < 4 {
		return errNullShort
	}
	var family uint32
	if networkOrder || (frame[0] == 0 && frame[1] == 0) {
		family = binary.BigEndian.Uint32(frame[0:4])
	} else {
		family = binary.LittleEndian.Uint32(frame[0:4])
	}
	switch family {
	case 2: // AF_INET everywhere
		p.EtherType = etherTypeIPv4
		return decodeIPv4(frame, 4, p)
	case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
		p.EtherType = etherTypeIPv6
		return decodeIPv6(frame, 4, p)
	}
	p.Net = NetOther
	p.L3Offset = 4
	return nil
}

// decodeIPAnyVersion decodes a raw IP packet whose version is in its first nibble.
func decodeIPAnyVersion(frame []byte, off int, p *Packet) error {
	if off >= len(frame) {
		return errIPShort
	}
	switch frame[off] >> 4 {
	case 4:
		p.EtherType = etherTypeIPv4
		return decodeIPv4(frame, off, p)
	case 6:
		p.EtherType = etherTypeIPv6
		return decodeIPv6(frame, off, p)
	}
	return errIPVersion
}

// decodeARP decodes ARP and RARP. Only ARP for IPv4 has addresses the flow table can key
// on; the rest are keyed by the MAC pair.
func decodeARP(frame []byte, off int, et uint16, p *Packet) error {
	p.Net = NetARP
	p.EtherType = et
	p.L3Offset = uint32(off)
	b := frame[off:]
	if len(b) < 8 {
		return errARPShort
	}
	// IPv4 protocol addresses with 6-byte hardware addresses put the sender address at
	// 14 and the target at 24. The hardware type is not checked: IEEE 802 (6) and
	// odd values appear on Ethernet too, and Wireshark goes by the sizes as well.
	if binary.BigEndian.Uint16(b[2:4]) != etherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return nil
	}
	if len(b) < 28 {
		return errARPShort
	}
	copy(p.SrcAddr[:4], b[14:18])
	copy(p.DstAddr[:4], b[24:28])
	return nil
}

// decodeIPv4 decodes the IPv4 header at off. Checksums are not verified: Argus counts
// packets with bad checksums too, and the NIC may not have filled them in yet.
func decodeIPv4(frame []byte, off int, p *Packet) error {
	p.Net = NetIPv4
	p.L3Offset = uint32(off)
	b := frame[off:]
	if len(b) < 20 {
		return errIPv4Short
	}
	if b[0]>>4 != 4 {
		return errIPv4Version
	}
	hdrLen := int(b[0]&0x0f) * 4
	if hdrLen < 20 {
		return errIPv4HeaderLen
	}
	p.ToS = b[1]
	total := int(binary.BigEndian.Uint16(b[2:4]))
	p.FragID = uint32(binary.BigEndian.Uint16(b[4:6]))
	flagsOffset := binary.BigEndian.Uint16(b[6:8])
	p.FragOffset = flagsOffset & 0x1fff
	p.FragMore = flagsOffset&0x2000 != 0
	p.Fragment = p.FragMore || p.FragOffset != 0
	p.TTL = b[8]
	p.Proto = b[9]
	copy(p.SrcAddr[:4], b[12:16])
	copy(p.DstAddr[:4], b[16:20])
	p.IPHdrLen = uint16(hdrLen)
	p.IPLen = uint32(total)
	if total != 0 && total < hdrLen {
		return errIPv4TotalLen
	}
	if hdrLen > len(b) {
		return errIPv4OptionsShort
	}
	if total == 0 {
		// Captured before TCP segmentation offload: the NIC fills in the total length
		// later. The captured bytes are the best measure of the packet.
		total = len(b)
		p.IPLen = uint32(total)
	}
	return decodeTransport(frame, off+hdrLen, total-hdrLen, p)
}

// decodeIPv6 decodes the IPv6 header at off and walks its extension headers to the
// upper-layer protocol.
func decodeIPv6(frame []byte, off int, p *Packet) error {
	p.Net = NetIPv6
	p.L3Offset = uint32(off)
	b := frame[off:]
	if len(b) < 40 {
		return errIPv6Short
	}
	if b[0]>>4 != 6 {
		return errIPv6Version
	}
	p.ToS = uint8(binary.BigEndian.Uint16(b[0:2]) >> 4)
	payloadLen := int(binary.BigEndian.Uint16(b[4:6]))
	next := b[6]
	p.Proto = next
	p.TTL = b[7]
	copy(p.SrcAddr[:], b[8:24])
	copy(p.DstAddr[:], b[24:40])
	total := 40 + payloadLen
	lenFromHeader := true
	if payloadLen == 0 && next != ip6NoNext {
		// A jumbogram (RFC 2675) or a capture before segmentation offload: the
		// captured bytes are the best measure of the packet.
		total = len(b)
		lenFromHeader = false
	}
	p.IPLen = uint32(total)

	hdrLen := 40
	for count := 0; ; count++ {
		switch next {
		case ip6HopByHop, ip6Routing, ip6Fragment, ip6AH, ip6DestOpts, ip6Mobility, ip6HIP, ip6Shim6:
		default:
			p.IPHdrLen = uint16(hdrLen)
			return decodeTransport(frame, off+hdrLen, total-hdrLen, p)
		}
		p.IPHdrLen = uint16(hdrLen)
		if count == maxIP6Headers {
			return errIPv6ExtCount
		}
		// Every extension header starts with next header and length bytes; the
		// fragment header is a fixed 8 bytes.
		need := 2
		if next == ip6Fragment {
			need = 8
		}
		if err := ip6ExtPresent(hdrLen, need, len(b), total, lenFromHeader); err != nil {
			return err
		}
		e := b[hdrLen:]
		var extLen int
		switch next {
		case ip6Fragment:
			extLen = 8
			fragOffset := binary.BigEndian.Uint16(e[2:4]) >> 3
			p.FragOffset = fragOffset
			p.FragMore = e[3]&1 != 0
			p.FragID = binary.BigEndian.Uint32(e[4:8])
			// An atomic fragment (offset 0, M clear, RFC 6946) is a whole packet.
			p.Fragment = fragOffset != 0 || p.FragMore
		case ip6AH:
			extLen = (int(e[1]) + 2) * 4
		default:
			extLen = (int(e[1]) + 1) * 8
		}
		next = e[0]
		p.Proto = next
		if err := ip6ExtPresent(hdrLen, extLen, len(b), total, lenFromHeader); err != nil {
			return err
		}
		hdrLen += extLen
		if p.FragOffset != 0 {
			// What follows a non-first fragment header is the middle of the original
			// payload, not another header.
			p.IPHdrLen = uint16(hdrLen)
			return decodeTransport(frame, off+hdrLen, total-hdrLen, p)
		}
	}
}

// ip6ExtPresent checks that n bytes of an extension header at hdrLen lie within both
// the captured bytes and the payload length.
func ip6ExtPresent(hdrLen, n, captured, total int, lenFromHeader bool) error {
	if lenFromHeader && hdrLen+n > total {
		return errIPv6ExtOverrun
	}
	if hdrLen+n > captured {
		return errIPv6ExtShort
	}
	return nil
}

// decodeTransport decodes the transport header at off. ipPayload is the payload length
// according to the IP header (which may exceed the captured bytes when the snap length
// cut the packet, or fall short of them when the link layer padded it).
func decodeTransport(frame []byte, off, ipPayload int, p *Packet) error {
	p.L4Offset = uint32(off)
	if p.FragOffset != 0 {
		// A non-first fragment has no transport header; its bytes are all payload.
		p.AppLen = uint32(ipPayload)
		return nil
	}
	b := frame[off:]
	if len(b) > ipPayload {
		b = b[:ipPayload] // link-layer padding, not transport bytes
	}
	switch p.Proto {
	case ProtoTCP:
		return decodeTCP(b, ipPayload, p)
	case ProtoUDP:
		return decodeUDP(b, ipPayload, p)
	case ProtoSCTP:
		return decodeSCTP(b, ipPayload, p)
	case ProtoICMP, ProtoICMPv6:
		return decodeICMP(b, ipPayload, p)
	case ProtoGRE:
		// A first fragment carries the inner headers too; later fragments stay the
		// outer GRE flow's.
		if p.FragOffset == 0 {
			return decodeGRE(frame, off, ipPayload, p)
		}
	}
	// ESP, GRE, tunnels and the rest: the flow is the outer IP header, and all of its
	// payload is application bytes as far as the flow is concerned.
	p.AppLen = uint32(ipPayload)
	return nil
}

// transportShort picks the error for a transport header that needs more bytes than the
// packet holds: truncated if the capture cut it; if the IP length fields leave no room
// for it, none for a first fragment (the header goes on in the next fragment, which is
// legal if unusual) and malformed otherwise.
func transportShort(p *Packet, need, ipPayload int, truncated, overrun error) error {
	if ipPayload >= need {
		return truncated
	}
	if p.FragMore {
		return nil
	}
	return overrun
}

// payloadAfter is the IP payload left after a transport header, clamped at zero.
func payloadAfter(ipPayload, hdrLen int) uint32 {
	if ipPayload < hdrLen {
		return 0
	}
	return uint32(ipPayload - hdrLen)
}

func decodeTCP(b []byte, ipPayload int, p *Packet) error {
	if len(b) < 4 {
		return transportShort(p, 4, ipPayload, errTCPShort, errTCPOverrun)
	}
	p.SrcPort = binary.BigEndian.Uint16(b[0:2])
	p.DstPort = binary.BigEndian.Uint16(b[2:4])
	if len(b) < 20 {
		return transportShort(p, 20, ipPayload, errTCPShort, errTCPOverrun)
	}
	p.TCPSeq = binary.BigEndian.Uint32(b[4:8])
	p.TCPAck = binary.BigEndian.Uint32(b[8:12])
	p.TCPFlags = b[13]
	p.TCPWin = binary.BigEndian.Uint16(b[14:16])
	hdrLen := int(b[12]>>4) * 4
	if hdrLen < 20 {
		return errTCPDataOffset
	}
	p.AppLen = payloadAfter(ipPayload, hdrLen)
	if len(b) < hdrLen {
		return transportShort(p, hdrLen, ipPayload, errTCPShort, errTCPOverrun)
	}
	p.L4 = true
	return nil
}

func decodeUDP(b []byte, ipPayload int, p *Packet) error {
	if len(b) < 4 {
		return transportShort(p, 4, ipPayload, errUDPShort, errUDPOverrun)
	}
	p.SrcPort = binary.BigEndian.Uint16(b[0:2])
	p.DstPort = binary.BigEndian.Uint16(b[2:4])
	if len(b) < 8 {
		return transportShort(p, 8, ipPayload, errUDPShort, errUDPOverrun)
	}
	// Trust the UDP length when it fits the IP payload; 0 (jumbograms) or a value past
	// the IP payload is broken, and the IP length is the better measure then.
	if udpLen := int(binary.BigEndian.Uint16(b[4:6])); udpLen >= 8 && udpLen <= ipPayload {
		p.AppLen = uint32(udpLen - 8)
	} else {
		p.AppLen = payloadAfter(ipPayload, 8)
	}
	p.L4 = true
	return nil
}

func decodeSCTP(b []byte, ipPayload int, p *Packet) error {
	if len(b) < 4 {
		return transportShort(p, 4, ipPayload, errSCTPShort, errSCTPOverrun)
	}
	p.SrcPort = binary.BigEndian.Uint16(b[0:2])
	p.DstPort = binary.BigEndian.Uint16(b[2:4])
	if len(b) < 12 {
		return transportShort(p, 12, ipPayload, errSCTPShort, errSCTPOverrun)
	}
	p.AppLen = payloadAfter(ipPayload, 12)
	p.L4 = true
	return nil
}

// decodeICMP decodes ICMP and ICMPv6, which share the layout of the first 8 bytes:
// type, code, checksum, then an identifier and sequence number for echo messages.
func decodeICMP(b []byte, ipPayload int, p *Packet) error {
	if len(b) < 2 {
		return transportShort(p, 2, ipPayload, errICMPShort, errICMPOverrun)
	}
	icmpType := b[0]
	p.SrcPort = uint16(icmpType)
	p.DstPort = uint16(b[1])
	if len(b) < 8 {
		return transportShort(p, 8, ipPayload, errICMPShort, errICMPOverrun)
	}
	if isEcho(p.Proto, icmpType) {
		p.ICMPID = binary.BigEndian.Uint16(b[4:6])
		p.ICMPSeq = binary.BigEndian.Uint16(b[6:8])
	}
	p.AppLen = payloadAfter(ipPayload, 8)
	p.L4 = true
	return nil
}

// isEcho reports whether an ICMP message is an echo request or reply, whose identifier
// tells concurrent pings apart.
func isEcho(proto, icmpType uint8) bool {
	if proto == ProtoICMPv6 {
		return icmpType == 128 || icmpType == 129
	}
	return icmpType == 8 || icmpType == 0
}
