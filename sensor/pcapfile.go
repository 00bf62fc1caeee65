package sensor

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"panoptes/sensor/decode"
)

// countingReader counts the bytes its consumer has taken, so that an error can name the
// byte offset in the (uncompressed) capture where it happened.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// PcapFile reads packets from a pcap or pcapng file (optionally gzip-compressed), or
// from stdin when the name is "-".
type PcapFile struct {
	name string
	f    *os.File
	cr   *countingReader
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
	br := bufio.NewReaderSize(r, 256<<10)
	magic, err := br.Peek(4)
	if err != nil {
		src.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file, not a capture", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var in io.Reader = br
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("%s: bad gzip header: %w", name, err)
		}
		gbr := bufio.NewReaderSize(gz, 256<<10)
		if magic, err = gbr.Peek(4); err != nil {
			src.Close()
			return nil, fmt.Errorf("%s: gzip content: %w", name, err)
		}
		in = gbr
		src.gz = true
	}
	src.cr = &countingReader{r: in}
	switch binary.LittleEndian.Uint32(magic) {
	case 0x0a0d0d0a:
		ng, err := newPcapngReader(src.cr)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("%s: bad pcapng header: %w", name, err)
		}
		src.ng = ng
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		pr, err := newPcapReader(src.cr)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("%s: bad pcap header: %w", name, err)
		}
		src.pcap = pr
		src.link = pr.link
	default:
		src.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (magic %x)", name, magic)
	}
	return src, nil
}

// Name returns the file name given to OpenPcap.
func (s *PcapFile) Name() string { return s.name }

// Offset returns the number of capture bytes consumed so far.
func (s *PcapFile) Offset() int64 { return s.cr.n }

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
