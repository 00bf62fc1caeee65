package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"

	"panoptes/record"
)

// Segment files. A segment holds the records of one source for one time span, as a
// header and a sequence of independently compressed, checksummed blocks:
//
//	segment header (24 bytes + stream header):
//	+------+------+------+------+---------+----------+---------------------+
//	| 'P'  | 'N'  | 'S'  | 'G'  | version | reserved | srcid (uint32)      |
//	+------+------+------+------+---------+----------+---------------------+
//	| span start (int64 ns)                | stream header length (uint32)  |
//	+--------------------------------------+--------------------------------+
//	| the record stream header (record.AppendHeader): the field schema       |
//	+------------------------------------------------------------------------+
//
//	block:
//	+----------+-------------+---------------+---------+-------------+------------+
//	| "PNBK"   | zlen uint32 | rawlen uint32 | records | min start   | max last   |
//	|          |             |               | uint32  | int64 ns    | int64 ns   |
//	+----------+-------------+---------------+---------+-------------+------------+
//	| crc32c of the payload (uint32) | crc32c of the 36 bytes before (uint32)     |
//	+--------------------------------+--------------------------------------------+
//	| payload: zstd of the records: the block's columns (record.AppendColumns),   |
//	| flagged by rawColumns in rawlen; in version 1 segments, each record         |
//	| length-prefixed as in a stream file                                         |
//	+------------------------------------------------------------------------------+
//
//	payload of a split block (version 3; rawSplit and rawColumns in rawlen):
//	+--------------+---------------+--------------+---------------+
//	| zlen part 0  | rawlen part 0 | zlen part 1  | rawlen part 1 |  (uint32 each)
//	+--------------+---------------+--------------+---------------+
//	| zstd: part 0 | zstd: part 1  | zstd: part 2 (the rest)       |
//	+--------------+---------------+-------------------------------+
//
// A split block's columns are reordered into three parts (record.SplitColumns): the
// header and the flow key, times and counters; the MACs and the status fields ra's
// default columns print; the rest. Each is compressed apart, so that a count or a key
// filter decompresses only part 0 (34 of 78 raw bytes a record on a real trace), and
// ra's default columns only parts 0 and 1. The parts decompressed one after the other
// are the whole block.
//
// All integers little-endian. A block is complete only if its header checksum, its
// length and its payload checksum all agree: a torn block at the end of a segment (a
// writer killed mid-write) is detected and truncated on recovery, and every complete
// block before it is kept.

const (
	// segVersion is the segment format this version writes: 3, whose blocks hold
	// columns (record.AppendColumns) split in three parts (rawSplit), flagged in their
	// headers.
	// Version 2 segments (columns in one frame) and version 1 segments, whose blocks
	// hold length-prefixed records (record.AppendRecord, as in a stream file), are read
	// as before; a panoptes that reads only older versions refuses a newer one as
	// newer rather than taking its blocks for damage.
	segVersion    = 3
	segVersionRow = 1
	// rawColumns flags a block whose payload is columns, in its header's raw length
	// (which the header checksum covers; the length itself is below maxBlockRaw);
	// rawSplit, one whose columns are split into parts.
	rawColumns    = 1 << 31
	rawSplit      = 1 << 30
	rawFlags      = rawColumns | rawSplit
	splitHdrSize  = 8 * (record.SplitParts - 1)
	segHeaderSize = 24
	blockHdrSize  = 44
	maxBlockRaw   = 4 << 20 // bound on a block's uncompressed size
)

var (
	segMagic   = [4]byte{'P', 'N', 'S', 'G'}
	blockMagic = [4]byte{'P', 'N', 'B', 'K'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	// ErrCorrupt marks a segment or block that does not decode; the error names the
	// file and the byte offset.
	ErrCorrupt = errors.New("corrupt archive data")

	// ErrNewer marks a segment or index written by a newer panoptes, in a format version
	// past the one this one reads: refused, and never taken for damage (no recovery,
	// rebuild or repair cuts, removes or re-indexes it). It is record.ErrNewer, so one
	// errors.Is test covers record streams too.
	ErrNewer = record.ErrNewer
)

// BlockInfo describes one block of a segment.
type BlockInfo struct {
	Offset   int64 // of the block header in the segment file
	Length   int64 // header and payload
	Records  uint32
	MinStart int64
	MaxLast  int64
	// Columns: the payload holds columns (record.AppendColumns), not length-prefixed
	// records. It is in the block's header, not in the index.
	Columns bool
}

// appendSegmentHeader returns the header of a new segment.
func appendSegmentHeader(b []byte, srcid uint32, spanStart int64) []byte {
	sh := record.AppendHeader(nil)
	b = append(b, segMagic[:]...)
	b = append(b, segVersion, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, srcid)
	b = binary.LittleEndian.AppendUint64(b, uint64(spanStart))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(sh)))
	return append(b, sh...)
}

// segmentHeader is a parsed segment header.
type segmentHeader struct {
	srcid     uint32
	spanStart int64
	size      int64 // header bytes, stream header included: where the first block starts
	// wire is the field schema the stream header declares, for record.DecodeRecord: a
	// segment a newer panoptes wrote with fields this one does not know decodes, those
	// fields skipped. Nil (this version's own schema) if the header is damaged.
	wire *[256]int8
}

func readSegmentHeader(f io.ReaderAt, name string) (segmentHeader, error) {
	var h [segHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return segmentHeader{}, fmt.Errorf("%s: %w: segment header cut short at byte 0", name, ErrCorrupt)
	}
	if [4]byte(h[:4]) != segMagic {
		return segmentHeader{}, fmt.Errorf("%s: %w: not a segment (magic %x) at byte 0", name, ErrCorrupt, h[:4])
	}
	if h[4] > segVersion {
		// Not damage: a newer panoptes wrote it. Nothing may cut or remove it.
		return segmentHeader{}, fmt.Errorf("%s: %w: segment format version %d at byte 4, this panoptes reads up to %d (upgrade panoptes to read it)",
			name, ErrNewer, h[4], segVersion)
	}
	if h[4] < segVersionRow {
		return segmentHeader{}, fmt.Errorf("%s: %w: segment format version %d at byte 4, this panoptes reads %d to %d", name, record.ErrVersion, h[4], segVersionRow, segVersion)
	}
	sh := segmentHeader{srcid: binary.LittleEndian.Uint32(h[8:]), spanStart: int64(binary.LittleEndian.Uint64(h[12:]))}
	n := int64(binary.LittleEndian.Uint32(h[20:]))
	if n > 1<<16 {
		return sh, fmt.Errorf("%s: %w: stream header of %d bytes at byte 20", name, ErrCorrupt, n)
	}
	sh.size = segHeaderSize + n
	stream := make([]byte, n)
	if _, err := f.ReadAt(stream, segHeaderSize); err != nil {
		return sh, fmt.Errorf("%s: %w: segment header cut short (stream header of %d bytes at byte 20)", name, ErrCorrupt, n)
	}
	wire, err := record.ParseHeader(stream)
	switch {
	case errors.Is(err, record.ErrNewer):
		return segmentHeader{}, fmt.Errorf("%s: stream header at byte %d: %w", name, segHeaderSize, err)
	case err != nil:
		return sh, fmt.Errorf("%s: %w: stream header at byte %d: %w", name, ErrCorrupt, segHeaderSize, err)
	}
	sh.wire = wire
	return sh, nil
}

// encoder and decoder are shared: zstd's are safe for concurrent EncodeAll/DecodeAll.
// The encoder compresses as many blocks at once as a writer's pipeline has compressors
// (its tables are allocated at the first block), at zstd's default level: the fastest
// took a third less CPU but made segments 1.24 bytes per record larger, and the
// archive's budget is 40 bytes per record (issue #14; bench/ARCHIVE-RESULTS.md). The decoder does not check the
// frames' xxhash checksums: every block's payload is checked against its CRC32C before
// it is decompressed, and the xxhash was 2 % of the CPU of reading blocks.
var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(compressors))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBlockRaw*2), zstd.IgnoreChecksum(true))
)

// appendBlock compresses raw (encoded records: columns if info.Columns) into a block
// appended to dst; with split (columns reordered by record.SplitColumns, split the ends
// of their first parts), a split block: each part compressed apart.
func appendBlock(dst, raw []byte, split *[record.SplitParts - 1]int, info *BlockInfo) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, blockHdrSize)...)
	if split != nil {
		dst = append(dst, make([]byte, splitHdrSize)...)
		p, from := start+blockHdrSize, 0
		for i, end := range split {
			n := len(dst)
			dst = zenc.EncodeAll(raw[from:end], dst)
			binary.LittleEndian.PutUint32(dst[p+8*i:], uint32(len(dst)-n))
			binary.LittleEndian.PutUint32(dst[p+8*i+4:], uint32(end-from))
			from = end
		}
		dst = zenc.EncodeAll(raw[from:], dst)
	} else {
		dst = zenc.EncodeAll(raw, dst)
	}
	payload := dst[start+blockHdrSize:]
	h := dst[start : start+blockHdrSize]
	copy(h[0:4], blockMagic[:])
	binary.LittleEndian.PutUint32(h[4:], uint32(len(payload)))
	rawLen := uint32(len(raw))
	if info.Columns {
		rawLen |= rawColumns
	}
	if split != nil {
		rawLen |= rawSplit
	}
	binary.LittleEndian.PutUint32(h[8:], rawLen)
	binary.LittleEndian.PutUint32(h[12:], info.Records)
	binary.LittleEndian.PutUint64(h[16:], uint64(info.MinStart))
	binary.LittleEndian.PutUint64(h[24:], uint64(info.MaxLast))
	binary.LittleEndian.PutUint32(h[32:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(h[36:], crc32.Checksum(h[:36], castagnoli))
	binary.LittleEndian.PutUint32(h[40:], 0) // reserved
	info.Length = int64(len(dst) - start)
	return dst
}

// parseBlockHeader checks a block header and returns what it says.
func parseBlockHeader(h []byte, off int64, name string) (BlockInfo, int, error) {
	if len(h) < blockHdrSize {
		return BlockInfo{}, 0, fmt.Errorf("%s: %w: block header cut short at byte %d", name, ErrCorrupt, off)
	}
	if [4]byte(h[:4]) != blockMagic {
		return BlockInfo{}, 0, fmt.Errorf("%s: %w: no block at byte %d (magic %x)", name, ErrCorrupt, off, h[:4])
	}
	if crc32.Checksum(h[:36], castagnoli) != binary.LittleEndian.Uint32(h[36:]) {
		return BlockInfo{}, 0, fmt.Errorf("%s: %w: block header checksum mismatch at byte %d", name, ErrCorrupt, off)
	}
	zlen := binary.LittleEndian.Uint32(h[4:])
	raw := binary.LittleEndian.Uint32(h[8:])
	columns := raw&rawColumns != 0
	if raw&rawSplit != 0 && !columns {
		return BlockInfo{}, 0, fmt.Errorf("%s: %w: block at byte %d split but not of columns", name, ErrCorrupt, off)
	}
	raw &^= rawFlags
	if zlen > maxBlockRaw*2 || raw > maxBlockRaw {
		return BlockInfo{}, 0, fmt.Errorf("%s: %w: block at byte %d claims %d/%d bytes", name, ErrCorrupt, off, zlen, raw)
	}
	info := BlockInfo{Offset: off, Length: blockHdrSize + int64(zlen), Records: binary.LittleEndian.Uint32(h[12:]),
		MinStart: int64(binary.LittleEndian.Uint64(h[16:])), MaxLast: int64(binary.LittleEndian.Uint64(h[24:])), Columns: columns}
	return info, int(raw), nil
}

// readBlock reads, checks and decompresses the block at off into buf (reused).
func readBlock(f io.ReaderAt, off int64, name string, buf []byte) (BlockInfo, []byte, error) {
	var h [blockHdrSize]byte
	n, err := f.ReadAt(h[:], off)
	if n < blockHdrSize {
		if errors.Is(err, io.EOF) && n == 0 {
			return BlockInfo{}, nil, io.EOF
		}
		return BlockInfo{}, nil, fmt.Errorf("%s: %w: block header cut short at byte %d", name, ErrCorrupt, off)
	}
	info, _, err := parseBlockHeader(h[:], off, name)
	if err != nil {
		return info, nil, err
	}
	z := make([]byte, info.Length-blockHdrSize)
	if n, _ := f.ReadAt(z, off+blockHdrSize); n < len(z) {
		return info, nil, fmt.Errorf("%s: %w: block at byte %d cut short (%d of %d payload bytes)", name, ErrCorrupt, off, n, len(z))
	}
	if crc32.Checksum(z, castagnoli) != binary.LittleEndian.Uint32(h[32:]) {
		return info, nil, fmt.Errorf("%s: %w: block payload checksum mismatch at byte %d", name, ErrCorrupt, off)
	}
	out, _, err := decompress(z, binary.LittleEndian.Uint32(h[8:]), buf, record.SplitParts, off, name)
	if err != nil {
		return info, nil, err
	}
	return info, out, nil
}

// decompress decompresses a block's checked payload z into buf (reused), given the raw
// length field of its header (rawLen, flags included): of a split block, its first
// parts parts (record.PartsFor), of any other block all of it. It returns the bytes and
// how many parts they hold (record.SplitParts: the whole block); decompressMore adds
// more.
func decompress(z []byte, rawLen uint32, buf []byte, parts int, off int64, name string) ([]byte, int, error) {
	if rawLen&rawSplit == 0 {
		out, err := zdec.DecodeAll(z, buf[:0])
		if err != nil || len(out) != int(rawLen&^rawFlags) {
			return nil, 0, fmt.Errorf("%s: %w: block at byte %d does not decompress (%v)", name, ErrCorrupt, off, err)
		}
		return out, record.SplitParts, nil
	}
	return decompressMore(z, rawLen, buf[:0], 0, parts, off, name)
}

// decompressMore appends parts have to want of split block z to out (its first have
// parts, decompressed).
func decompressMore(z []byte, rawLen uint32, out []byte, have, want int, off int64, name string) ([]byte, int, error) {
	size := int(rawLen &^ rawFlags)
	parts, raws, ok := splitParts(z, size)
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w: split block at byte %d: bad part lengths", name, ErrCorrupt, off)
	}
	for i := have; i < want; i++ {
		n := len(out)
		var err error
		out, err = zdec.DecodeAll(parts[i], out)
		if err != nil || len(out)-n != raws[i] {
			return nil, 0, fmt.Errorf("%s: %w: block at byte %d: part %d does not decompress (%v)", name, ErrCorrupt, off, i, err)
		}
	}
	return out, want, nil
}

// splitParts returns a split block's compressed parts and their raw lengths; false if
// its lengths do not fit the payload z and the block's raw size.
func splitParts(z []byte, size int) (parts [record.SplitParts][]byte, raws [record.SplitParts]int, ok bool) {
	if len(z) < splitHdrSize {
		return parts, raws, false
	}
	p, rest := splitHdrSize, size
	for i := range record.SplitParts - 1 {
		zl, rl := binary.LittleEndian.Uint32(z[8*i:]), binary.LittleEndian.Uint32(z[8*i+4:])
		if uint64(zl) > uint64(len(z)-p) || uint64(rl) > uint64(rest) {
			return parts, raws, false
		}
		parts[i], raws[i] = z[p:p+int(zl)], int(rl)
		p, rest = p+int(zl), rest-int(rl)
	}
	parts[record.SplitParts-1], raws[record.SplitParts-1] = z[p:], rest
	return parts, raws, true
}

// columnBlock is a decoder of blocks of columns and the records it decodes into, kept
// from block to block: a rebuild, a verify or a recovery decodes every block of an
// archive through decodeRecords, and a block's records are a megabyte.
type columnBlock struct {
	d    record.ColumnDecoder
	recs []record.Record
}

var columnScratch = sync.Pool{New: func() any { return new(columnBlock) }}

// decodeRecords calls fn for every record in a block's raw bytes: columns, or records
// decoded with the segment's field schema (wire; nil: this version's).
func decodeRecords(raw []byte, columns bool, wire *[256]int8, off int64, name string, rec *record.Record, fn func(*record.Record) error) error {
	if columns {
		c := columnScratch.Get().(*columnBlock)
		defer columnScratch.Put(c)
		recs, err := c.d.Decode(raw, c.recs, nil)
		c.recs = recs[:cap(recs)]
		if err != nil {
			return fmt.Errorf("%s: block at byte %d: %w", name, off, err)
		}
		for i := range recs {
			if err := fn(&recs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for p := 0; p < len(raw); {
		l, k := binary.Uvarint(raw[p:])
		if k <= 0 || l == 0 || l > record.MaxRecordLen || uint64(len(raw)-p-k) < l {
			return fmt.Errorf("%s: %w: record framing in block at byte %d", name, ErrCorrupt, off)
		}
		if err := record.DecodeRecord(raw[p+k:p+k+int(l)], rec, wire); err != nil {
			return fmt.Errorf("%s: block at byte %d: %w", name, off, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
		p += k + int(l)
	}
	return nil
}

// scanSegment walks a segment's blocks, calling fn with each complete block. It stops at
// the first block that is not complete and returns the offset where the valid data ends
// and the error that stopped it (nil at a clean end).
func scanSegment(f io.ReaderAt, name string, fn blockFunc) (end int64, err error) {
	return scanSegmentKeeping(f, name, fn, nil)
}

// blockFunc receives a complete block of a segment: its raw (decompressed) records, and
// the segment's field schema to decode them with (decodeRecords).
type blockFunc func(info BlockInfo, raw []byte, wire *[256]int8) error

// scanSegmentKeeping is scanSegment that looks past a damaged block: when a complete
// block follows it (bytes changed in the middle of a segment, not a torn tail), skip is
// called with the damaged range [off, next) and the error, and the walk goes on at next,
// so the blocks after the damage are kept. Only a damaged block with no complete block
// after it (a writer killed mid-block) ends the walk, as in scanSegment; a damaged
// segment header before complete blocks is skipped the same way, as the range from byte
// 0. A nil skip stops at the first damaged block.
func scanSegmentKeeping(f io.ReaderAt, name string, fn blockFunc, skip func(off, next int64, err error)) (end int64, err error) {
	sh, err := readSegmentHeader(f, name)
	off := sh.size
	if err != nil {
		// A damaged header before complete blocks is a damaged range like another:
		// the blocks need nothing from it to decode.
		next := int64(-1)
		if skip != nil && errors.Is(err, ErrCorrupt) {
			next = nextBlock(f, 0)
		}
		if next < 0 {
			return 0, err
		}
		if next > 0 { // else no header at all, and nothing to skip
			skip(0, next, err)
		}
		off = next
	}
	var buf []byte
	for {
		info, raw, err := readBlock(f, off, name, buf)
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			next := int64(-1)
			if skip != nil && errors.Is(err, ErrCorrupt) {
				next = nextBlock(f, off+1)
			}
			if next < 0 {
				return off, err
			}
			skip(off, next, err)
			off = next
			continue
		}
		buf = raw
		if err := fn(info, raw, sh.wire); err != nil {
			return off, err
		}
		off += info.Length
	}
}

// nextBlock returns the offset of the first complete block (magic, header checksum,
// payload checksum, decompression all good) at or after from, or -1 if there is none.
func nextBlock(f io.ReaderAt, from int64) int64 {
	const window = 1 << 20
	chunk := make([]byte, window+len(blockMagic)-1)
	for base := from; ; base += window {
		n, _ := f.ReadAt(chunk, base)
		if n < len(blockMagic) {
			return -1
		}
		for i := 0; i+len(blockMagic) <= n; {
			j := bytes.Index(chunk[i:n], blockMagic[:])
			if j < 0 {
				break
			}
			cand := base + int64(i+j)
			if _, _, err := readBlock(f, cand, "", nil); err == nil {
				return cand
			}
			i += j + 1
		}
		if n < len(chunk) {
			return -1
		}
	}
}

// walkBlockHeaders lists a segment's blocks from their headers alone, as far as they are
// whole: it stops at the file's end (err nil), or at a header that does not check or a
// block the file does not hold entirely, and returns where it stopped and why.
func walkBlockHeaders(f *os.File, name string) (infos []BlockInfo, end int64, err error) {
	sh, err := readSegmentHeader(f, name)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	var h [blockHdrSize]byte
	for off := sh.size; ; {
		n, _ := f.ReadAt(h[:], off)
		if n == 0 && off == fi.Size() {
			return infos, off, nil
		}
		info, _, err := parseBlockHeader(h[:n], off, name)
		if err != nil {
			return infos, off, err
		}
		if off+info.Length > fi.Size() {
			return infos, off, fmt.Errorf("%s: %w: block at byte %d cut short (%d of %d bytes)", name, ErrCorrupt, off, fi.Size()-off, info.Length)
		}
		infos = append(infos, info)
		off += info.Length
	}
}
