package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"panoptes/sensor/decode"
)

// pcapReader reads classic pcap files. gopacket's pcapgo.Reader refuses files with
// version 2.1 headers and packets longer than the header's snaplen, both of which real
// captures have and tcpdump and Argus read; this reader accepts them, reuses one buffer
// (no allocation per packet) and bounds each packet at maxPacket.
type pcapReader struct {
	r     io.Reader
	order binary.ByteOrder
	nanos bool
	link  decode.LinkType
	hdr   [16]byte
	buf   []byte
}

const maxPacket = 1 << 18 // 256 KiB, libpcap's largest snaplen

var errPcapRecord = errors.New("corrupt packet record")

func newPcapReader(r io.Reader) (*pcapReader, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("file header cut short: %w", err)
	}
	p := &pcapReader{r: r, buf: make([]byte, 0, 65536)}
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
	return p, nil
}

// next returns the next packet; its bytes are valid until the next call.
func (p *pcapReader) next() ([]byte, captureInfo, error) {
	var ci captureInfo
	if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
		return nil, ci, err
	}
	sec, frac := p.order.Uint32(p.hdr[0:]), p.order.Uint32(p.hdr[4:])
	incl, orig := p.order.Uint32(p.hdr[8:]), p.order.Uint32(p.hdr[12:])
	if incl > maxPacket {
		return nil, ci, fmt.Errorf("%w: captured length %d", errPcapRecord, incl)
	}
	if cap(p.buf) < int(incl) {
		p.buf = make([]byte, incl)
	}
	p.buf = p.buf[:incl]
	if _, err := io.ReadFull(p.r, p.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, ci, err
	}
	ns := int64(frac)
	if !p.nanos {
		ns *= 1000
	}
	ci.ts = int64(sec)*1e9 + ns
	ci.capLen = int(incl)
	ci.length = int(orig)
	return p.buf, ci, nil
}
