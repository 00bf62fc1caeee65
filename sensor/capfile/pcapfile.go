package sensor

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"panoptes/argus"

	"panoptes/sensor/decode"
)

// PcapFile reads packets from a pcap or pcapng file (optionally gzip-compressed), or
// from stdin when the name is "-".
type PcapFile struct {
	name string
	f    *os.File
	pcap *pcapReader
	ng   *pcapngReader
	gz   bool // gzip-compressed: offsets count uncompressed bytes
	link decode.LinkType
}

// captureInfo is what a capture file says about one packet.
type captureInfo struct {
	ts     int64 // ns since the epoch
	capLen int   // bytes captured
	length int   // bytes on the wire
}

// OpenPcap opens a capture file and reads its header.
func OpenPcap(name string, stdin io.Reader) (*PcapFile, error) {
	src := &PcapFile{name: name}
	var r io.Reader
	if name == "-" {
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		src.f = f
		r = f
	}
	// One buffer holds the largest packet, so readers can hand out packets in place
	// (Peek) instead of copying them.
	br := bufio.NewReaderSize(r, bufSize)
	magic, err := br.Peek(4)
	if err != nil {
		src.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file, not a capture", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	in := br
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("%s: bad gzip header: %w", name, err)
		}
		gbr := bufio.NewReaderSize(gz, bufSize)
		if magic, err = gbr.Peek(4); err != nil {
			src.Close()
			return nil, fmt.Errorf("%s: gzip content: %w", name, err)
		}
		in = gbr
		src.gz = true
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0x0a0d0d0a:
		ng, err := newPcapngReader(in)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("%s: bad pcapng header: %w", name, err)
		}
		src.ng = ng
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		pr, err := newPcapReader(in)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("%s: bad pcap header: %w", name, err)
		}
		src.pcap = pr
		src.link = pr.link
	default:
		src.Close()
		if head, _ := in.Peek(12); argus.IsMagic(head) {
			return nil, fmt.Errorf("%s: an Argus record file, not a capture: read it with panoptes read -r %s (every tool's -r reads Argus files)", name, name)
		}
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (magic %x)", name, magic)
	}
	return src, nil
}

// Name returns the file name given to OpenPcap.
func (s *PcapFile) Name() string { return s.name }

// Offset returns the number of capture bytes consumed so far (uncompressed).
func (s *PcapFile) Offset() int64 {
	if s.pcap != nil {
		return s.pcap.off
	}
	return s.ng.off
}

// bufSize is the read buffer: the largest packet plus room for read-ahead.
const bufSize = maxPacket + 64<<10

// Close closes the file.
func (s *PcapFile) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}

// Next returns the next packet's bytes (valid until the next call), its capture info
// and link type, and the interface name for pcapng (nil for pcap). It returns io.EOF at
// the end of the file.
func (s *PcapFile) Next() ([]byte, captureInfo, decode.LinkType, *[16]byte, error) {
	if s.pcap != nil {
		data, ci, err := s.pcap.next()
		return data, ci, s.link, nil, err
	}
	return s.ng.next()
}
