package index

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// Block summaries: what kinds of record, which IP protocols and which ports a block
// holds, so that a filter's protocol and port terms (blocksel.go) pass over blocks
// without reading them.
//
//	'b' segid(8) offset(8) -> block(28) kinds(1) protos(32) srcports(256) dstports(256)
//	                          [flows spkts dpkts sbytes dbytes (uvarints), format version 4]
//
// block is the block's time-index value (length, records, minStart, maxLast), so that
// the 'b' keys are also a directory of the blocks by segment and offset: a query whose
// address terms name a few blocks finds them here without the time index.
// kinds is a bit set (summaryMan, summaryIPv4, summaryIPv6, summaryNonIP); protos the
// set of IP protocol numbers of the IP flows; srcports and dstports are 2048-bit sets
// of the ports of the flows with ports: bit p for a port p below 1024 (exact), bit
// 1024 + p%1024 for the others (a port above 1023 shares its bit with the ports 1024
// apart). 545 bytes a block, a fifth of a byte a record with full 256 KiB blocks. A
// summary is written with the block's time keys; a block without one (written before
// index format version 2, or not indexed yet) may hold anything.
//
// Since format version 4 a summary ends with the block's totals: its flow records
// (management records left out) and their packets and bytes per direction, the sums
// `count` prints, so that a count without a filter adds the totals of the blocks wholly
// inside its time range instead of reading them (QueryTotals), as nfdump -I reads a
// file's statistics record. A summary of an older version has none; its block is read.

const (
	summaryMan = 1 << iota
	summaryIPv4
	summaryIPv6
	summaryNonIP
)

const summarySize = 1 + 32 + 256 + 256

// blockSummary is a block's summary: the bit sets as stored, and the totals.
type blockSummary struct {
	b   [summarySize]byte
	tot Totals
	// hasTot: tot is known (always for a summary made from records; for a stored one,
	// only since format version 4).
	hasTot bool
}

// Totals are the flow records of some blocks and their packets and bytes per direction
// (management records are not counted).
type Totals struct {
	Flows, SrcPkts, DstPkts, SrcBytes, DstBytes uint64
}

// Add adds t's sums to x.
func (x *Totals) Add(t Totals) {
	x.Flows += t.Flows
	x.SrcPkts += t.SrcPkts
	x.DstPkts += t.DstPkts
	x.SrcBytes += t.SrcBytes
	x.DstBytes += t.DstBytes
}

func sumKey(segid uint64, off int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{'b'}, segid), uint64(off))
}

// portBit is the bit of port p in a port set.
func portBit(p uint16) int {
	if p < 1024 {
		return int(p)
	}
	return 1024 + int(p%1024)
}

func (s *blockSummary) add(r *record.Record) {
	s.hasTot = true
	if r.Kind == record.KindMan {
		s.b[0] |= summaryMan
		return
	}
	s.tot.Add(Totals{Flows: 1, SrcPkts: r.Src.Pkts, DstPkts: r.Dst.Pkts, SrcBytes: r.Src.Bytes, DstBytes: r.Dst.Bytes})
	switch r.Family {
	case 4:
		s.b[0] |= summaryIPv4
	case 6:
		s.b[0] |= summaryIPv6
	default:
		s.b[0] |= summaryNonIP
		return
	}
	s.b[1+r.Proto/8] |= 1 << (r.Proto % 8)
	if r.HasPorts() {
		b := portBit(r.SrcPort)
		s.b[33+b/8] |= 1 << (b % 8)
		b = portBit(r.DstPort)
		s.b[33+256+b/8] |= 1 << (b % 8)
	}
}

func (s *blockSummary) kinds() byte { return s.b[0] }

func (s *blockSummary) hasProto(p uint8) bool { return s.b[1+p/8]&(1<<(p%8)) != 0 }

// hasPort reports whether the set of side src (else dst) may hold a port in [lo, hi].
func (s *blockSummary) hasPort(src bool, lo, hi uint16) bool {
	set := s.b[33+256:]
	if src {
		set = s.b[33 : 33+256]
	}
	for p := uint32(lo); p <= uint32(hi); p++ {
		b := portBit(uint16(p))
		if set[b/8]&(1<<(b%8)) != 0 {
			return true
		}
		if p >= 1024 && p-max(uint32(lo), 1024) >= 1023 {
			break // every bit of the ports above 1023 tested
		}
	}
	return false
}

// indexSummary adds a block's summary to a batch.
func indexSummary(batch *pebble.Batch, segid uint64, b *BlockInfo, s *blockSummary) error {
	return batch.Set(sumKey(segid, b.Offset), summaryValue(b, s), nil)
}

func summaryValue(b *BlockInfo, s *blockSummary) []byte {
	v := append(encodeBlock(b), s.b[:]...)
	if s.hasTot {
		for _, n := range [...]uint64{s.tot.Flows, s.tot.SrcPkts, s.tot.DstPkts, s.tot.SrcBytes, s.tot.DstBytes} {
			v = binary.AppendUvarint(v, n)
		}
	}
	return v
}

// summarizeBlock collects the addresses and the summary of a block's records from its
// raw bytes.
func summarizeBlock(as addrSet, sum *blockSummary, raw []byte, columns bool, wire *[256]int8, off int64, name string) error {
	var rec record.Record
	return decodeRecords(raw, columns, wire, off, name, &rec, func(r *record.Record) error {
		if as != nil {
			as.add(r, off)
		}
		sum.add(r)
		return nil
	})
}

// decodeSummary decodes a stored summary: the block into info, the summary into s
// (with its totals if it has them).
func decodeSummary(dir string, k, v []byte, info *BlockInfo, s *blockSummary) error {
	if len(k) != 17 || len(v) < 28+summarySize {
		return fmt.Errorf("archive %s: %w: block summary entry of %d/%d bytes, want 17/%d or more",
			dir, ErrCorrupt, len(k), len(v), 28+summarySize)
	}
	*info = BlockInfo{Offset: int64(binary.BigEndian.Uint64(k[9:])), Length: int64(binary.BigEndian.Uint64(v)), Records: binary.BigEndian.Uint32(v[8:]),
		MinStart: int64(binary.BigEndian.Uint64(v[12:])), MaxLast: int64(binary.BigEndian.Uint64(v[20:]))}
	copy(s.b[:], v[28:])
	s.tot, s.hasTot = Totals{}, false
	rest := v[28+summarySize:]
	if len(rest) == 0 {
		return nil // written before format version 4
	}
	var n [5]uint64
	for i := range n {
		x, w := binary.Uvarint(rest)
		if w <= 0 {
			return fmt.Errorf("archive %s: %w: block summary of segment %d at byte %d: totals cut short or bad (field %d)",
				dir, ErrCorrupt, binary.BigEndian.Uint64(k[1:]), info.Offset, i)
		}
		n[i], rest = x, rest[w:]
	}
	if len(rest) != 0 || n[0] > uint64(info.Records) {
		return fmt.Errorf("archive %s: %w: block summary of segment %d at byte %d: bad totals (%d trailing bytes, %d flows of %d records)",
			dir, ErrCorrupt, binary.BigEndian.Uint64(k[1:]), info.Offset, len(rest), n[0], info.Records)
	}
	s.tot = Totals{Flows: n[0], SrcPkts: n[1], DstPkts: n[2], SrcBytes: n[3], DstBytes: n[4]}
	s.hasTot = true
	return nil
}
