package decode

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"panoptes/internal/peer"
)

// TestCrossCheckGopacket decodes every packet of the capture corpus with Decode and with
// gopacket's layers, and compares addresses, protocol, ports and a few more header fields
// wherever gopacket decoded an IPv4/IPv6 header directly followed by TCP or UDP (after
// IPv6 extension headers). Packets Decode opens as GRE have GRE after their outer IP
// header, so they are not compared. Every packet, compared or not, must also pass
// checkInvariants.
func TestCrossCheckGopacket(t *testing.T) {
	// The shared capture corpus (see its README.md), else the project's captures.
	corpusDir, ok := peer.CorpusDir(t)
	if !ok {
		corpusDir = filepath.Join("..", "..", "testdata")
	}
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	var files, packets, compared, skippedLink int
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		path := filepath.Join(corpusDir, name)
		mismatches := 0
		n, supported, readErr := readCapture(path, func(i int, lt LinkType, data []byte) {
			var p Packet
			err := Decode(lt, data, &p)
			checkInvariants(t, lt, data, &p, err)
			if !Supported(lt) {
				skippedLink++
				return
			}
			pkt := gopacketDecode(lt, data)
			if pkt == nil {
				return
			}
			ip, transport, ok := outerIPTransport(pkt)
			if !ok {
				return
			}
			compared++
			if problem := compareGopacket(&p, err, ip, transport); problem != "" {
				mismatches++
				if mismatches <= 5 {
					t.Errorf("%s packet %d (link type %d): %s", name, i, lt, problem)
				}
			}
		})
		if errors.Is(readErr, errNotCapture) {
			continue
		}
		if readErr != nil {
			// Several corpus files are cut short on purpose; what was read still counts.
			t.Logf("%s: reading stopped after %d packets: %v", name, n, readErr)
		}
		if mismatches > 5 {
			t.Errorf("%s: %d mismatches in all", name, mismatches)
		}
		if !supported {
			t.Logf("%s: link type not supported by Decode; only checked that it is refused", name)
		}
		files++
		packets += n
	}
	if files == 0 {
		t.Fatalf("no capture files in %s", corpusDir)
	}
	if compared == 0 {
		t.Fatalf("read %d packets from %d files but compared none with gopacket", packets, files)
	}
	t.Logf("%d files, %d packets, %d compared with gopacket, %d of unsupported link types", files, packets, compared, skippedLink)
}

var errNotCapture = errors.New("not a pcap or pcapng file")

// readCapture calls fn for every packet of a pcap or pcapng file, in order, and returns
// how many it read and whether any had a link type Decode supports. A read error ends the
// file early and is returned.
func readCapture(path string, fn func(i int, lt LinkType, data []byte)) (int, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	var hdr [24]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, false, errNotCapture
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, false, err
	}
	supported := false
	if binary.LittleEndian.Uint32(hdr[0:4]) == 0x0a0d0d0a { // pcapng section header block
		r, err := pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return 0, false, err
		}
		for i := 0; ; i++ {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				return i, supported, eofIsNil(err)
			}
			// pcapgo keeps link types in a uint8, so LINKTYPE_SLL2 (276) reads as 20 and
			// ETHER_MPACKET (274) as 18. Neither 18 nor 20 is a type Decode supports, so
			// the truncation can only make a packet skipped, never misread; the corpus's
			// SLL2 captures are classic pcap, whose header readCapture reads itself.
			lt := LinkType(ci.AncillaryData[0].(layers.LinkType))
			supported = supported || Supported(lt)
			fn(i, lt, data)
		}
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(hdr[0:4]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return 0, false, errNotCapture
	}
	// The low 16 bits are the link type; the rest carry FCS information.
	lt := LinkType(order.Uint32(hdr[20:24]) & 0xffff)
	r, err := pcapgo.NewReader(f)
	if err != nil {
		if order.Uint16(hdr[4:6]) != 2 || order.Uint16(hdr[6:8]) >= 4 {
			return 0, false, err
		}
		// pcapgo accepts only version 2.4; older writers' files still decode.
		if _, err := f.Seek(24, io.SeekStart); err != nil {
			return 0, false, err
		}
		n, err := readOldPcap(bufio.NewReader(f), order, order.Uint16(hdr[6:8]), func(i int, data []byte) { fn(i, lt, data) })
		return n, Supported(lt), err
	}
	// Some writers store packets longer than the snap length they declare; tcpdump and
	// Wireshark read them anyway, so the cross-check does too.
	r.SetSnaplen(1 << 20)
	for i := 0; ; i++ {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return i, Supported(lt), eofIsNil(err)
		}
		fn(i, lt, data)
	}
}

// readOldPcap reads the records of a pcap file of version 2.0 to 2.3, which pcapgo
// refuses. Before 2.3 the captured and original lengths were stored the other way
// round; 2.3 files exist in both orders, and libpcap (sf-pcap.c) swaps them when the
// captured length is the larger, as this does.
func readOldPcap(r io.Reader, order binary.ByteOrder, minor uint16, fn func(i int, data []byte)) (int, error) {
	var rec [16]byte
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return i, eofIsNil(err)
		}
		capLen, origLen := order.Uint32(rec[8:12]), order.Uint32(rec[12:16])
		if minor < 3 || (minor == 3 && capLen > origLen) {
			capLen = origLen
		}
		if capLen > 1<<20 {
			return i, fmt.Errorf("record %d: captured length %d is implausible", i, capLen)
		}
		data := make([]byte, capLen)
		if _, err := io.ReadFull(r, data); err != nil {
			return i, err
		}
		fn(i, data)
	}
}

func eofIsNil(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// gopacketDecode decodes a frame with gopacket, starting from the decoder for lt.
func gopacketDecode(lt LinkType, data []byte) gopacket.Packet {
	opts := gopacket.DecodeOptions{NoCopy: true}
	var first gopacket.Decoder
	switch lt {
	case LinkEthernet:
		first = layers.LayerTypeEthernet
	case LinkLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case LinkNull, LinkLoop:
		first = layers.LayerTypeLoopback
	case LinkPPP:
		first = layers.LayerTypePPP
	case LinkRaw:
		first = layers.LinkTypeRaw
	case LinkIPv4:
		first = layers.LayerTypeIPv4
	case LinkIPv6:
		first = layers.LayerTypeIPv6
	case LinkSLL2:
		// gopacket v1.1.19 has no SLL2 decoder: start it at the protocol the header
		// names, 20 bytes in.
		if len(data) < 20 {
			return nil
		}
		return gopacket.NewPacket(data[20:], layers.EthernetType(binary.BigEndian.Uint16(data)), opts)
	default:
		return nil
	}
	return gopacket.NewPacket(data, first, opts)
}

// outerIPTransport finds the outermost IP layer and the TCP or UDP layer right after it
// (IPv6 extension headers may come between). It reports false when either is missing or
// gopacket failed to decode the transport header.
func outerIPTransport(pkt gopacket.Packet) (ip, transport gopacket.Layer, ok bool) {
	ls := pkt.Layers()
	for i, l := range ls {
		lt := l.LayerType()
		if lt != layers.LayerTypeIPv4 && lt != layers.LayerTypeIPv6 {
			continue
		}
		prev := l
		for _, next := range ls[i+1:] {
			switch next.LayerType() {
			case layers.LayerTypeTCP, layers.LayerTypeUDP:
				// gopacket adds a transport layer even when decoding it failed, and
				// the DecodeFailure after it may come from an application decoder
				// instead; decoding the bytes again tells which.
				var df gopacket.DecodingLayer = &layers.TCP{}
				if next.LayerType() == layers.LayerTypeUDP {
					df = &layers.UDP{}
				}
				return l, next, df.DecodeFromBytes(prev.LayerPayload(), gopacket.NilDecodeFeedback) == nil
			case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing,
				layers.LayerTypeIPv6Destination, layers.LayerTypeIPSecAH:
				// In IPv4, AH is the protocol (Decode stops there); in IPv6 it is
				// one of the extension headers Decode walks.
				if lt == layers.LayerTypeIPv6 {
					prev = next
					continue
				}
			}
			return nil, nil, false
		}
		return nil, nil, false
	}
	return nil, nil, false
}

// compareGopacket returns what Decode's p disagrees with gopacket on, or "".
func compareGopacket(p *Packet, err error, ip, transport gopacket.Layer) string {
	var diffs []string
	check := func(field string, got, want any) {
		if got != want {
			diffs = append(diffs, fmt.Sprintf("%s %v, gopacket %v", field, got, want))
		}
	}
	if err != nil {
		diffs = append(diffs, fmt.Sprintf("Decode error %v", err))
	}
	check("L4", p.L4, true)
	switch ip := ip.(type) {
	case *layers.IPv4:
		if ip.Version != 4 && errors.Is(err, ErrMalformed) {
			return "" // gopacket ignores the version nibble; Decode rejects the packet
		}
		check("Net", p.Net, NetIPv4)
		check("SrcAddr", p.SrcAddr, addr16(ip.SrcIP))
		check("DstAddr", p.DstAddr, addr16(ip.DstIP))
		check("TTL", p.TTL, ip.TTL)
		check("IPLen", p.IPLen, uint32(ip.Length))
		check("Proto", p.Proto, uint8(ip.Protocol))
	case *layers.IPv6:
		if ip.Version != 6 && errors.Is(err, ErrMalformed) {
			return ""
		}
		check("Net", p.Net, NetIPv6)
		check("SrcAddr", p.SrcAddr, addr16(ip.SrcIP))
		check("DstAddr", p.DstAddr, addr16(ip.DstIP))
		check("TTL", p.TTL, ip.HopLimit)
		if ip.Length != 0 { // not a jumbogram
			check("IPLen", p.IPLen, 40+uint32(ip.Length))
		}
	}
	switch tr := transport.(type) {
	case *layers.TCP:
		check("Proto", p.Proto, ProtoTCP)
		check("SrcPort", p.SrcPort, uint16(tr.SrcPort))
		check("DstPort", p.DstPort, uint16(tr.DstPort))
		check("TCPSeq", p.TCPSeq, tr.Seq)
		check("TCPAck", p.TCPAck, tr.Ack)
		check("TCPWin", p.TCPWin, tr.Window)
		check("TCPFlags", p.TCPFlags, tcpFlagsByte(tr))
	case *layers.UDP:
		check("Proto", p.Proto, ProtoUDP)
		check("SrcPort", p.SrcPort, uint16(tr.SrcPort))
		check("DstPort", p.DstPort, uint16(tr.DstPort))
	}
	return strings.Join(diffs, "; ")
}

func addr16(ip net.IP) (out [16]byte) {
	copy(out[:], ip)
	return out
}

func tcpFlagsByte(t *layers.TCP) uint8 {
	var f uint8
	for _, b := range []struct {
		set  bool
		flag uint8
	}{{t.FIN, TCPFin}, {t.SYN, TCPSyn}, {t.RST, TCPRst}, {t.PSH, TCPPsh},
		{t.ACK, TCPAck}, {t.URG, TCPUrg}, {t.ECE, TCPEce}, {t.CWR, TCPCwr}} {
		if b.set {
			f |= b.flag
		}
	}
	return f
}
