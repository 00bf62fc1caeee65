package decode

import (
	"encoding/binary"
)

// GRE carries the flows that matter inside it (Argus reports the inner flows of GRE and
// ERSPAN, not the tunnel), so Decode opens it: the packet's network and transport
// fields describe the innermost flow, and Encaps has EncapGRE set.

const (
	greTEB      = 0x6558 // transparent Ethernet bridging: an Ethernet frame follows
	greERSPAN2  = 0x88be // ERSPAN type I (no header) or II (8-byte header)
	greERSPAN3  = 0x22eb // ERSPAN type III (12-byte header, optional 8-byte subheader)
	grePPP      = 0x880b // PPTP's enhanced GRE carries PPP
	maxGREDepth = 4      // GRE in GRE in ... beyond this is left closed
)

var (
	errERSPANShort = layerErr("erspan header", ErrTruncated)
)

// decodeGRE decodes the GRE header at off (the IP payload of a non-fragmented packet)
// and the packet inside it. If the payload is not something GRE can carry that we read,
// the packet stays the outer GRE flow.
func decodeGRE(frame []byte, off, ipPayload int, p *Packet) error {
	b := frame[off:]
	if len(b) > ipPayload {
		b = b[:ipPayload]
	}
	p.AppLen = uint32(ipPayload)
	if len(b) < 4 || p.GREDepth >= maxGREDepth {
		return nil // keep the outer flow; a short GRE header is the tunnel's business
	}
	flags := binary.BigEndian.Uint16(b[0:2])
	proto := binary.BigEndian.Uint16(b[2:4])
	version := flags & 0x7
	n := 4
	if flags&0x8000 != 0 { // checksum present
		n += 4
	}
	if flags&0x2000 != 0 { // key present
		n += 4
	}
	seq := flags&0x1000 != 0
	if seq {
		n += 4
	}
	if version == 1 && flags&0x0080 != 0 { // enhanced GRE acknowledgment number
		n += 4
	}
	if version > 1 || flags&0x4000 != 0 || len(b) < n {
		return nil // routing present (obsolete) or an unknown version: leave it closed
	}
	inner := off + n
	end := off + len(b) // the inner packet ends where the outer IP payload does
	sub := frame[:end]
	switch proto {
	case etherTypeIPv4, etherTypeIPv6:
		enterGRE(p)
		p.EtherType = proto
		if proto == etherTypeIPv4 {
			return decodeIPv4(sub, inner, p)
		}
		return decodeIPv6(sub, inner, p)
	case grePPP:
		if version != 1 {
			return nil
		}
		enterGRE(p)
		if len(sub)-inner >= 2 && sub[inner] == 0xff && sub[inner+1] == 0x03 {
			inner += 2
		}
		return decodePPPProtocol(sub, inner, p)
	case greTEB:
		enterGRE(p)
		return decodeEthernetAt(sub, inner, p)
	case greERSPAN2:
		if seq { // type II; type I has neither sequence number nor ERSPAN header
			inner += 8
		}
	case greERSPAN3:
		if len(sub)-inner < 12 {
			enterGRE(p)
			return errERSPANShort
		}
		hw := sub[inner+11]
		inner += 12
		if hw&0x01 != 0 { // platform-specific subheader
			inner += 8
		}
	default:
		return nil
	}
	enterGRE(p)
	if inner > len(sub) {
		return errERSPANShort
	}
	return decodeEthernetAt(sub, inner, p)
}

// enterGRE forgets the outer network layer before the inner one is decoded.
func enterGRE(p *Packet) {
	p.Encaps |= EncapGRE
	p.GREDepth++
	p.Net, p.Proto, p.TTL, p.ToS, p.EtherType = NetNone, 0, 0, 0, 0
	p.SrcAddr, p.DstAddr = [16]byte{}, [16]byte{}
	p.IPLen, p.IPHdrLen, p.L3Offset, p.L4Offset, p.AppLen = 0, 0, 0, 0, 0
	p.Fragment, p.FragOffset, p.FragMore, p.FragID = false, 0, false, 0
}
