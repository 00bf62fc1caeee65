package capfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"panoptes/sensor/decode"
)

// pcapReader reads classic pcap files. gopacket's pcapgo.Reader refuses files with
// version 2.1 headers and packets longer than the header's snaplen, both of which real
// captures have and tcpdump and Argus read; this reader accepts them, reuses one buffer
// (no allocation per packet) and bounds each packet at MaxPacket.
type pcapReader struct {
	br    *bufio.Reader
	off   int64 // bytes consumed
	order binary.ByteOrder
	nanos bool
	link  decode.LinkType
}

// MaxPacket bounds the bytes of one captured packet: 256 KiB, libpcap's largest snaplen.
// A longer record is damage, not a packet.
const MaxPacket = 1 << 18

var errPcapRecord = errors.New("corrupt packet record")

func newPcapReader(br *bufio.Reader) (*pcapReader, error) {
	h, err := br.Peek(24)
	if len(h) < 24 {
		return nil, fmt.Errorf("file header cut short: %w", unexpected(err))
	}
	p := &pcapReader{br: br}
	switch binary.LittleEndian.Uint32(h[:4]) {
	case 0xa1b2c3d4:
		p.order = binary.LittleEndian
	case 0xa1b23c4d:
		p.order, p.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		p.order = binary.BigEndian
	case 0x4d3cb2a1:
		p.order, p.nanos = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("bad magic %x", h[:4])
	}
	if major := p.order.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("unsupported version %d.%d", major, p.order.Uint16(h[6:]))
	}
	// The upper bits of the link-type word carry FCS information (pcap-savefile(5)).
	p.link = decode.LinkType(p.order.Uint32(h[20:]) & 0xffff)
	p.discard(24)
	return p, nil
}

func (p *pcapReader) discard(n int) {
	d, _ := p.br.Discard(n)
	p.off += int64(d)
}

// next returns the next packet. Its bytes are the reader's buffer, valid until the next
// call: nothing is copied or allocated per packet.
func (p *pcapReader) next() ([]byte, Info, error) {
	var ci Info
	h, err := p.br.Peek(16)
	if len(h) < 16 {
		if len(h) == 0 && errors.Is(err, io.EOF) {
			return nil, ci, io.EOF
		}
		return nil, ci, unexpected(err)
	}
	sec, frac := p.order.Uint32(h[0:]), p.order.Uint32(h[4:])
	incl, orig := p.order.Uint32(h[8:]), p.order.Uint32(h[12:])
	if incl > MaxPacket {
		return nil, ci, fmt.Errorf("%w: captured length %d", errPcapRecord, incl)
	}
	// Header and data are taken together, so that a record cut short is reported at
	// the offset where it starts.
	rec, err := p.br.Peek(16 + int(incl))
	if len(rec) < 16+int(incl) {
		return nil, ci, unexpected(err)
	}
	data := rec[16:]
	p.discard(16 + int(incl))
	ns := int64(frac)
	if !p.nanos {
		ns *= 1000
	}
	ci.Time = int64(sec)*1e9 + ns
	ci.CapLen = int(incl)
	ci.Length = int(orig)
	return data, ci, nil
}
