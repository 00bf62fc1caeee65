// Package decode parses captured frames, in place and without allocating, into the
// fixed-size Packet summary that the flow table consumes.
//
// Decode reads a frame of a given link type (Ethernet or 802.3 LLC/SNAP with 802.1Q/QinQ
// VLAN tags, MPLS label stacks and PPPoE sessions, Linux SLL and SLL2, raw IPv4/IPv6,
// BSD null/loopback, PPP) down to the transport header. GRE (and ERSPAN in it) is
// opened, as Argus reports the flows inside it (gre.go); other tunnels (IP in IP, ESP,
// UDP tunnels) are not: their outermost IP header is the flow, as in Argus. Decode
// never keeps a reference to the
// frame: every field it needs is copied into the Packet, so the caller may reuse the
// frame buffer at once.
package decode

import "errors"

// LinkType is a pcap LINKTYPE_ value (the numbers in pcap and pcapng file headers).
type LinkType uint16

// The link types Decode understands. Values are the pcap LINKTYPE_ numbers.
const (
	LinkNull     LinkType = 0   // BSD loopback: 4-byte host-order address family
	LinkEthernet LinkType = 1   // Ethernet II / 802.3
	LinkPPP      LinkType = 9   // PPP (RFC 1661), optionally with HDLC address/control
	LinkCHDLC    LinkType = 104 // Cisco HDLC
	LinkRaw      LinkType = 101 // raw IPv4 or IPv6, version from the first nibble
	LinkLoop     LinkType = 108 // OpenBSD loopback: 4-byte network-order family
	LinkLinuxSLL LinkType = 113 // Linux "cooked" capture v1
	LinkIPv4     LinkType = 228 // raw IPv4
	LinkIPv6     LinkType = 229 // raw IPv6
	LinkSLL2     LinkType = 276 // Linux "cooked" capture v2
)

// Supported reports whether Decode understands frames of link type lt.
func Supported(lt LinkType) bool {
	switch lt {
	case LinkNull, LinkEthernet, LinkPPP, LinkCHDLC, LinkRaw, LinkLoop, LinkLinuxSLL, LinkIPv4, LinkIPv6, LinkSLL2:
		return true
	}
	return false
}

// Network-layer kinds of a Packet.
const (
	NetNone  uint8 = 0 // no network layer understood: keyed by MAC pair and EtherType
	NetIPv4  uint8 = 4
	NetIPv6  uint8 = 6
	NetARP   uint8 = 1 // ARP / RARP: keyed by MAC pair (and the ARP addresses, if IPv4)
	NetOther uint8 = 2 // some other EtherType: keyed by MAC pair and EtherType
)

// Encapsulation bits seen on the way down to the network layer (Packet.Encaps).
const (
	EncapEthernet uint16 = 1 << iota
	EncapVLAN
	EncapMPLS
	EncapPPP
	EncapSLL
	EncapNull
	EncapRaw
	EncapLLC
	EncapGRE // opened a GRE tunnel (also ERSPAN); the fields describe the inner packet
)

// IP protocol numbers the decoder looks inside.
const (
	ProtoICMP   uint8 = 1
	ProtoGRE    uint8 = 47
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// TCP flag bits as they appear in the TCP header's flags byte.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
	TCPUrg uint8 = 0x20
	TCPEce uint8 = 0x40
	TCPCwr uint8 = 0x80
)

// Packet is what the flow table needs to know about one frame. It is a plain value with
// no pointers: decoding into a reused Packet allocates nothing.
//
// Addresses are 16 bytes; IPv4 addresses occupy the first 4 bytes and the rest are zero.
// Ports: for TCP, UDP and SCTP the transport ports; for ICMP and ICMPv6, SrcPort is the
// ICMP type and DstPort the code (Argus shows them the same way); for echo request/reply,
// ICMPID and ICMPSeq hold the identifier and sequence number. For non-first IP fragments
// the ports are unknown (0) and FragOffset > 0.
type Packet struct {
	// Timestamp in nanoseconds since the Unix epoch; set by the caller, not by Decode.
	Timestamp int64
	// WireLen is the frame length on the wire (pcap orig_len), set by the caller; the byte
	// count Argus reports, L2 header included. CapLen is the captured length.
	WireLen uint32
	CapLen  uint32
	// Clock says which clock made Timestamp (the values of record.Clock: 0 a capture
	// file, 1 hardware, 2 XDP, 3 user space); set by the caller after Decode.
	Clock uint8

	Encaps uint16 // EncapXxx bits

	// LinkHdrLen is the length of link framing that is not an Ethernet header: a cooked
	// (SLL) or loopback pseudo-header, PPP or Cisco HDLC framing. Argus counts bytes
	// from the network layer on such links (and from the Ethernet header on Ethernet),
	// so byte counts leave it out.
	LinkHdrLen uint16

	// Layer 2. HasMAC is false for link types without MAC addresses (raw IP, null, PPP).
	HasMAC    bool
	SrcMAC    [6]byte
	DstMAC    [6]byte
	EtherType uint16 // the EtherType of the network layer after VLAN/MPLS (0 if unknown)
	VLAN      uint16 // outermost 802.1Q VLAN id (12 bits), valid if Encaps&EncapVLAN
	MPLS      uint32 // top MPLS label (20 bits), valid if Encaps&EncapMPLS

	// Layer 3.
	Net      uint8 // NetIPv4, NetIPv6, NetARP, NetOther or NetNone
	Proto    uint8 // IP protocol (after IPv6 extension headers); 0 for non-IP
	TTL      uint8 // IPv4 TTL or IPv6 hop limit
	ToS      uint8 // IPv4 ToS byte or IPv6 traffic class
	SrcAddr  [16]byte
	DstAddr  [16]byte
	IPLen    uint32 // IP total length from the header (IPv4 total length, IPv6 40+payload length)
	IPHdrLen uint16 // IP header length including IPv6 extension headers

	// Fragmentation (IPv4 flags/offset, or the IPv6 fragment header).
	Fragment   bool   // the packet is an IP fragment (MF set or offset non-zero)
	FragOffset uint16 // fragment offset in 8-byte units
	FragMore   bool   // more-fragments flag
	FragID     uint32 // IPv4 identification or IPv6 fragment identification

	// Layer 4. L4 is true when the transport header was present and complete (so ports
	// and flags are valid).
	L4       bool
	SrcPort  uint16
	DstPort  uint16
	ICMPID   uint16 // ICMP/ICMPv6 echo identifier
	ICMPSeq  uint16 // ICMP/ICMPv6 echo sequence number
	TCPFlags uint8  // TCPXxx bits
	TCPSeq   uint32
	TCPAck   uint32
	TCPWin   uint16 // raw window field (unscaled)
	// AppLen is the transport payload length implied by the IP length fields (not the
	// captured length): TCP/UDP/SCTP/ICMP payload bytes as Argus's appbytes counts them.
	AppLen uint32

	GREDepth uint8 // GRE layers opened (at most 4); the fields describe the innermost packet

	// Offsets into the decoded frame, so a caller can find the headers again (to copy
	// payload bytes, or to check the decoder) without parsing layer 2 a second time.
	// L3Offset is where the network header (IP or ARP) starts; valid when Net is not
	// NetNone. L4Offset is where the transport header starts, just past the IP header and
	// any IPv6 extension headers; valid when L4 is true, and for non-first fragments it is
	// where the fragment's data starts.
	L3Offset uint32
	L4Offset uint32
}

// Errors Decode returns. A packet that fails with ErrTruncated or ErrMalformed still has
// every field decoded before the failure set; callers may count it at the last layer
// understood.
var (
	ErrUnsupportedLink = errors.New("unsupported link type")
	ErrTruncated       = errors.New("truncated packet")
	ErrMalformed       = errors.New("malformed packet")
)
