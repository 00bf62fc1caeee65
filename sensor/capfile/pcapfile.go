// Package capfile reads capture files: classic pcap and pcapng, either of them
// gzip-compressed, handing out each packet's bytes in place with its capture
// information and link type. It knows nothing of flows or records; package sensor's
// import turns its packets into flows.
package capfile

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"panoptes/argus"
	"panoptes/sensor/decode"
)

// File reads packets from a pcap or pcapng file (optionally gzip-compressed), or
// from stdin when the name is "-".
type File struct {
	name string
	f    *os.File
	pcap *pcapReader
	ng   *pcapngReader
	gz   bool // gzip-compressed: offsets count uncompressed bytes
	link decode.LinkType
}

// Info is what a capture file says about one packet.
type Info struct {
	Time   int64 // ns since the epoch
	CapLen int   // bytes captured
	Length int   // bytes on the wire
}

// Open opens a capture file and reads its header; the name "-" reads stdin.
func Open(name string, stdin io.Reader) (*File, error) {
	src := &File{name: name}
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

// Name returns the file name given to Open.
func (s *File) Name() string { return s.name }

// Compressed reports whether the file is gzip-compressed (its offsets then count
// uncompressed bytes).
func (s *File) Compressed() bool { return s.gz }

// errStdin is Stat's error for stdin, which has no file of its own to describe.
var errStdin = errors.New("stdin has no file information")

// Stat returns the opened file's information (its size, its modification time); for
// stdin it returns an error.
func (s *File) Stat() (fs.FileInfo, error) {
	if s.f == nil {
		return nil, errStdin
	}
	return s.f.Stat()
}

// Offset returns the number of capture bytes consumed so far (uncompressed).
func (s *File) Offset() int64 {
	if s.pcap != nil {
		return s.pcap.off
	}
	return s.ng.off
}

// bufSize is the read buffer: the largest packet plus room for read-ahead.
const bufSize = MaxPacket + 64<<10

// Close closes the file.
func (s *File) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}

// Next returns the next packet's bytes (valid until the next call), its capture info
// and link type, and the interface name for pcapng (nil for pcap). It returns io.EOF at
// the end of the file.
func (s *File) Next() ([]byte, Info, decode.LinkType, *[16]byte, error) {
	if s.pcap != nil {
		data, ci, err := s.pcap.next()
		return data, ci, s.link, nil, err
	}
	return s.ng.next()
}
