package capfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"panoptes/sensor/decode"
)

// pcapngReader reads pcapng files (section header, interface description, enhanced,
// simple and obsolete packet blocks; other blocks are skipped). gopacket's NgReader
// allocates whatever length a block header claims (a 100-byte damaged file made it
// clear 4 GB of memory) and keeps link types in 8 bits (LINKTYPE_LINUX_SLL2, 276, reads
// as 20); this reader bounds every block at maxBlock, reuses one buffer, and keeps
// 16-bit link types.
type pcapngReader struct {
	r     io.Reader
	off   int64 // bytes consumed
	order binary.ByteOrder
	ifs   []ngInterface
	hdr   [8]byte
	buf   []byte
}

type ngInterface struct {
	link   decode.LinkType
	units  float64 // timestamp units per second
	offset int64   // seconds added to every timestamp (if_tsoffset)
	name   [16]byte
}

const (
	ngSHB     = 0x0a0d0d0a
	ngIDB     = 1
	ngOPB     = 2 // obsolete packet block
	ngSPB     = 3
	ngEPB     = 6
	maxBlock  = MaxPacket + 1<<12
	ngBOMagic = 0x1a2b3c4d
)

var errNgBlock = errors.New("corrupt pcapng block")

func newPcapngReader(r io.Reader) (*pcapngReader, error) {
	p := &pcapngReader{r: r, buf: make([]byte, 0, 65536)}
	typ, body, err := p.block()
	if err != nil {
		return nil, err
	}
	if typ != ngSHB {
		return nil, fmt.Errorf("%w: first block is %#x, not a section header", errNgBlock, typ)
	}
	_ = body
	return p, nil
}

// block reads the next block and returns its type and body (valid until the next call).
// A section header block resets the byte order and the interface list.
func (p *pcapngReader) block() (uint32, []byte, error) {
	n, err := io.ReadFull(p.r, p.hdr[:])
	p.off += int64(n)
	if err != nil {
		return 0, nil, err
	}
	typ := binary.LittleEndian.Uint32(p.hdr[:4])
	if typ == ngSHB {
		// The byte-order magic follows the length; read it to learn the order.
		var bom [4]byte
		n, err := io.ReadFull(p.r, bom[:])
		p.off += int64(n)
		if err != nil {
			return 0, nil, unexpected(err)
		}
		switch binary.LittleEndian.Uint32(bom[:]) {
		case ngBOMagic:
			p.order = binary.LittleEndian
		case 0x4d3c2b1a:
			p.order = binary.BigEndian
		default:
			return 0, nil, fmt.Errorf("%w: bad byte-order magic %x", errNgBlock, bom)
		}
		p.ifs = p.ifs[:0]
		n = int(p.order.Uint32(p.hdr[4:]))
		if n < 28 || n > maxBlock || n%4 != 0 {
			return 0, nil, fmt.Errorf("%w: section header length %d", errNgBlock, n)
		}
		if err := p.fill(n - 12); err != nil {
			return 0, nil, err
		}
		return ngSHB, p.buf[:len(p.buf)-4], nil
	}
	if p.order == nil {
		return 0, nil, fmt.Errorf("%w: no section header", errNgBlock)
	}
	typ = p.order.Uint32(p.hdr[:4])
	n = int(p.order.Uint32(p.hdr[4:]))
	if n < 12 || n > maxBlock || n%4 != 0 {
		return 0, nil, fmt.Errorf("%w: block type %#x claims length %d", errNgBlock, typ, n)
	}
	if err := p.fill(n - 8); err != nil {
		return 0, nil, err
	}
	return typ, p.buf[:len(p.buf)-4], nil
}

func (p *pcapngReader) fill(n int) error {
	if cap(p.buf) < n {
		p.buf = make([]byte, n)
	}
	p.buf = p.buf[:n]
	m, err := io.ReadFull(p.r, p.buf)
	p.off += int64(m)
	return unexpected(err)
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// next returns the next packet: its bytes (valid until the next call), capture info,
// link type and interface name.
func (p *pcapngReader) next() ([]byte, Info, decode.LinkType, *[16]byte, error) {
	for {
		typ, b, err := p.block()
		if err != nil {
			return nil, Info{}, 0, nil, err
		}
		switch typ {
		case ngIDB:
			if err := p.addInterface(b); err != nil {
				return nil, Info{}, 0, nil, err
			}
		case ngEPB, ngOPB:
			if len(b) < 20 {
				return nil, Info{}, 0, nil, fmt.Errorf("%w: packet block of %d bytes", errNgBlock, len(b))
			}
			var id int
			if typ == ngEPB {
				id = int(p.order.Uint32(b[0:]))
			} else {
				id = int(p.order.Uint16(b[0:]))
			}
			ts := uint64(p.order.Uint32(b[4:]))<<32 | uint64(p.order.Uint32(b[8:]))
			capLen, origLen := p.order.Uint32(b[12:]), p.order.Uint32(b[16:])
			if id >= len(p.ifs) {
				return nil, Info{}, 0, nil, fmt.Errorf("%w: packet on undeclared interface %d", errNgBlock, id)
			}
			if uint64(capLen) > uint64(len(b)-20) {
				return nil, Info{}, 0, nil, fmt.Errorf("%w: captured length %d exceeds its block", errNgBlock, capLen)
			}
			intf := &p.ifs[id]
			return b[20 : 20+capLen], Info{Time: intf.nanos(ts), CapLen: int(capLen), Length: int(origLen)}, intf.link, &intf.name, nil
		case ngSPB:
			if len(b) < 4 || len(p.ifs) == 0 {
				return nil, Info{}, 0, nil, fmt.Errorf("%w: simple packet block", errNgBlock)
			}
			origLen := p.order.Uint32(b[0:])
			data := b[4:]
			if uint64(origLen) < uint64(len(data)) {
				data = data[:origLen]
			}
			// Simple packet blocks carry no timestamp.
			return data, Info{CapLen: len(data), Length: int(origLen)}, p.ifs[0].link, &p.ifs[0].name, nil
		}
	}
}

func (p *pcapngReader) addInterface(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%w: interface block of %d bytes", errNgBlock, len(b))
	}
	intf := ngInterface{link: decode.LinkType(p.order.Uint16(b[0:])), units: 1e6}
	// Options: code, length, value padded to 4 bytes.
	for o := b[8:]; len(o) >= 4; {
		code, l := p.order.Uint16(o[0:]), int(p.order.Uint16(o[2:]))
		if code == 0 || 4+l > len(o) {
			break
		}
		v := o[4 : 4+l]
		switch {
		case code == 2: // if_name
			copy(intf.name[:], v)
		case code == 9 && l >= 1: // if_tsresol
			if v[0]&0x80 == 0 {
				intf.units = math.Pow10(int(v[0] & 0x7f))
			} else {
				intf.units = math.Exp2(float64(v[0] & 0x7f))
			}
		case code == 14 && l >= 8: // if_tsoffset
			intf.offset = int64(p.order.Uint64(v))
		}
		o = o[4+(l+3)&^3:]
	}
	p.ifs = append(p.ifs, intf)
	return nil
}

// nanos converts a timestamp in the interface's units to ns since the epoch.
func (i *ngInterface) nanos(ts uint64) int64 {
	if i.units == 1e9 {
		return int64(ts) + i.offset*1e9
	}
	if i.units == 1e6 {
		return int64(ts)*1000 + i.offset*1e9
	}
	sec := float64(ts) / i.units
	whole := math.Floor(sec)
	return (int64(whole)+i.offset)*1e9 + int64((sec-whole)*1e9)
}
