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

const (
	summaryMan = 1 << iota
	summaryIPv4
	summaryIPv6
	summaryNonIP
)

const summarySize = 1 + 32 + 256 + 256

// blockSummary is a block's summary, as stored.
type blockSummary [summarySize]byte

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
	if r.Kind == record.KindMan {
		s[0] |= summaryMan
		return
	}
	switch r.Family {
	case 4:
		s[0] |= summaryIPv4
	case 6:
		s[0] |= summaryIPv6
	default:
		s[0] |= summaryNonIP
		return
	}
	s[1+r.Proto/8] |= 1 << (r.Proto % 8)
	if r.HasPorts() {
		b := portBit(r.SrcPort)
		s[33+b/8] |= 1 << (b % 8)
		b = portBit(r.DstPort)
		s[33+256+b/8] |= 1 << (b % 8)
	}
}

func (s *blockSummary) kinds() byte { return s[0] }

func (s *blockSummary) hasProto(p uint8) bool { return s[1+p/8]&(1<<(p%8)) != 0 }

// hasPort reports whether the set of side src (else dst) may hold a port in [lo, hi].
func (s *blockSummary) hasPort(src bool, lo, hi uint16) bool {
	set := s[33+256:]
	if src {
		set = s[33 : 33+256]
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
	return append(encodeBlock(b), s[:]...)
}

// summarizeBlock collects the addresses and the summary of a block's records from its
// raw bytes.
func summarizeBlock(as addrSet, sum *blockSummary, raw []byte, wire *[256]int8, off int64, name string) error {
	var rec record.Record
	return decodeRecords(raw, wire, off, name, &rec, func(r *record.Record) error {
		if as != nil {
			as.add(r, off)
		}
		sum.add(r)
		return nil
	})
}

// decodeSummary decodes a stored summary: the block into info, the summary into s.
func decodeSummary(dir string, k, v []byte, info *BlockInfo, s *blockSummary) error {
	if len(k) != 17 || len(v) != 28+summarySize {
		return fmt.Errorf("archive %s: %w: block summary entry of %d/%d bytes, want 17/%d",
			dir, ErrCorrupt, len(k), len(v), 28+summarySize)
	}
	*info = BlockInfo{Offset: int64(binary.BigEndian.Uint64(k[9:])), Length: int64(binary.BigEndian.Uint64(v)), Records: binary.BigEndian.Uint32(v[8:]),
		MinStart: int64(binary.BigEndian.Uint64(v[12:])), MaxLast: int64(binary.BigEndian.Uint64(v[20:]))}
	copy(s[:], v[28:])
	return nil
}
