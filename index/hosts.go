package index

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// The address index answers "when did we see this host?" without reading segments, and
// which blocks a filter's host and net terms need to read (blocksel.go). Index format
// version 3 writes
//
//	'a' addr(16) segid(8) -> srcid(uvarint) records(uvarint) first(8) last-first(uvarint) blocks
//
// and versions 1 and 2 wrote, as queries still read (a migrated archive holds both until
// `panoptes index rebuild` rewrites them; the key's length tells them apart):
//
//	'a' addr(16) srcid(4) segid(8) -> records(8) first(8) last(8) [blocks]
//
// Version 3 dropped the source id from the key (the segment id implies it) and wrote
// the counts as varints and the end as a difference: the address entries are nearly all
// of the index, and this made the tables of a rebuilt index of 5.5 M records 21% smaller
// (bench/ARCHIVE-RESULTS.md).
//
// addr is the IPv6 form of the address (IPv4 as ::ffff:a.b.c.d), so one host's entries
// are one key range, and a net's one range too; there is one entry per segment the
// address appears in, written when the segment is sealed (so a segment still being
// written is not in it yet). records, first and last count the IP flows with the
// address (on either side; twice if on both). blocks (index format version 2 on,
// segments marked "summarized") lists the offsets of the segment's blocks that hold a
// flow with the address, as uvarints: the first offset, then the differences; it counts
// the IPv4 addresses of ARP flows too, which a filter's host term matches, so an address
// seen only in ARP flows has an entry with records 0 (which Host passes over). An entry
// of version 1 stops after last, and counts IP flows only.

// addrStat is what the index keeps per address and segment.
type addrStat struct {
	records     uint64
	first, last int64
	lastBlock   int64  // offset of the last block in blocks
	blocks      []byte // uvarint offsets: the first, then differences
}

// addrSet collects the addresses of a segment's records.
type addrSet map[[16]byte]*addrStat

// add adds the addresses of r, a record of the block at offset off.
func (as addrSet) add(r *record.Record, off int64) {
	if r.Kind != record.KindFlow {
		return
	}
	fam, ip := r.Family, r.Family == 4 || r.Family == 6
	if !ip {
		if r.EtherType != 0x0806 && r.EtherType != 0x8035 {
			return
		}
		fam = 4 // ARP and RARP: IPv4 protocol addresses, as the filter reads them
	}
	for _, a := range [2]*[16]byte{&r.SrcAddr, &r.DstAddr} {
		k := *a
		if fam == 4 {
			k = [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
		}
		st := as[k]
		if st == nil {
			st = &addrStat{lastBlock: -1}
			as[k] = st
		}
		if ip {
			if st.records == 0 {
				st.first, st.last = r.StartTime, r.LastTime
			}
			st.records++
			st.first = min(st.first, r.StartTime)
			st.last = max(st.last, r.LastTime)
		}
		if st.lastBlock != off {
			d := off
			if st.lastBlock >= 0 {
				d = off - st.lastBlock
			}
			st.blocks = binary.AppendUvarint(st.blocks, uint64(d))
			st.lastBlock = off
		}
	}
}

const (
	addrKeyLen   = 1 + 16 + 8     // 'a' addr segid: format version 3
	addrKeyLenV2 = 1 + 16 + 4 + 8 // 'a' addr srcid segid: versions 1 and 2
)

// addrEntry is one address entry, of either key layout.
type addrEntry struct {
	addr        [16]byte
	srcid       uint32
	segid       uint64
	records     uint64
	first, last int64
	blocks      []byte // uvarint offsets, as addrStat's; nil in an entry of version 1
}

func addrKey(a [16]byte, segid uint64) []byte {
	k := append(make([]byte, 0, addrKeyLen), 'a')
	k = append(k, a[:]...)
	return binary.BigEndian.AppendUint64(k, segid)
}

// addrKeyV2 is the key of the same entry as versions 1 and 2 wrote it.
func addrKeyV2(a [16]byte, srcid uint32, segid uint64) []byte {
	k := append(make([]byte, 0, addrKeyLenV2), 'a')
	k = append(k, a[:]...)
	k = binary.BigEndian.AppendUint32(k, srcid)
	return binary.BigEndian.AppendUint64(k, segid)
}

// addrValue is the value of an address entry of format version 3.
func addrValue(srcid uint32, st *addrStat) []byte {
	v := make([]byte, 0, 24+len(st.blocks))
	v = binary.AppendUvarint(v, uint64(srcid))
	v = binary.AppendUvarint(v, st.records)
	v = binary.BigEndian.AppendUint64(v, uint64(st.first))
	v = binary.AppendUvarint(v, uint64(st.last-st.first))
	return append(v, st.blocks...)
}

// parseAddrEntry decodes an address entry of any format version. The error says what
// is wrong, for the caller to name the archive.
func parseAddrEntry(k, v []byte) (addrEntry, error) {
	var e addrEntry
	switch len(k) {
	case addrKeyLenV2:
		if len(v) < 24 {
			return e, fmt.Errorf("%w: address entry of %d/%d bytes", ErrCorrupt, len(k), len(v))
		}
		copy(e.addr[:], k[1:])
		e.srcid = binary.BigEndian.Uint32(k[17:])
		e.segid = binary.BigEndian.Uint64(k[21:])
		e.records = binary.BigEndian.Uint64(v)
		e.first = int64(binary.BigEndian.Uint64(v[8:]))
		e.last = int64(binary.BigEndian.Uint64(v[16:]))
		if len(v) > 24 {
			e.blocks = v[24:]
		}
		return e, nil
	case addrKeyLen:
		copy(e.addr[:], k[1:])
		e.segid = binary.BigEndian.Uint64(k[17:])
		p := 0
		next := func() (uint64, bool) {
			x, n := binary.Uvarint(v[p:])
			if n <= 0 {
				return 0, false
			}
			p += n
			return x, true
		}
		src, ok1 := next()
		recs, ok2 := next()
		if !ok1 || !ok2 || src > 1<<32-1 || len(v) < p+8 {
			return e, fmt.Errorf("%w: address entry's value does not decode at byte %d", ErrCorrupt, p)
		}
		e.srcid, e.records = uint32(src), recs
		e.first = int64(binary.BigEndian.Uint64(v[p:]))
		p += 8
		span, ok := next()
		if !ok || span > 1<<62 {
			return e, fmt.Errorf("%w: address entry's value does not decode at byte %d", ErrCorrupt, p)
		}
		e.last = e.first + int64(span)
		if p < len(v) {
			e.blocks = v[p:]
		}
		return e, nil
	}
	return e, fmt.Errorf("%w: address entry of %d/%d bytes (want a key of %d or %d)", ErrCorrupt, len(k), len(v), addrKeyLen, addrKeyLenV2)
}

// addrBlocks calls fn with each block offset of an entry's block list.
func addrBlocks(blocks []byte, fn func(off int64)) error {
	var off int64
	for p := 0; p < len(blocks); {
		d, n := binary.Uvarint(blocks[p:])
		if n <= 0 || d > 1<<62 {
			return fmt.Errorf("%w: block list of an address entry does not decode at byte %d", ErrCorrupt, p)
		}
		off += int64(d)
		p += n
		fn(off)
	}
	return nil
}

// indexAddrs adds a segment's address entries to a batch.
func indexAddrs(batch *pebble.Batch, srcid uint32, segid uint64, as addrSet) error {
	for a, st := range as {
		if err := batch.Set(addrKey(a, segid), addrValue(srcid, st), nil); err != nil {
			return err
		}
	}
	return nil
}

// HostSeen is what the archive knows of one address in one source.
type HostSeen struct {
	Addr      netip.Addr
	SrcID     uint32
	First     int64 // ns since the epoch: start of the first record with the address
	Last      int64 // end of the last one
	Records   uint64
	Segments  int
	SegmentID []uint64
}

// Host returns, per source id, when addr was first and last seen and in how many
// records, from the address index alone.
//
// A segment enters the address index when it is sealed: with no writer running, an
// unsealed segment is one a writer left when it died, and its addresses are missing
// until the archive is recovered; Host says so (once) through Logf.
func (a *Archive) Host(addr netip.Addr) ([]HostSeen, error) {
	seen, err := a.host(addr)
	if err = a.failed(err); err != nil {
		return nil, err
	}
	return seen, nil
}

func (a *Archive) host(addr netip.Addr) ([]HostSeen, error) {
	if err := a.warnUnsealed(); err != nil {
		return nil, err
	}
	a16 := addr.As16()
	lo := append([]byte{'a'}, a16[:]...)
	hi := append([]byte{'a'}, a16[:]...)
	hi = append(hi, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	by := map[uint32]*HostSeen{}
	for it.First(); it.Valid(); it.Next() {
		e, err := parseAddrEntry(it.Key(), it.Value())
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", a.dir, err)
		}
		if e.records == 0 {
			continue // seen in ARP flows only: not a host of IP flows
		}
		h := by[e.srcid]
		if h == nil {
			h = &HostSeen{Addr: addr, SrcID: e.srcid, First: 1<<63 - 1, Last: -1 << 63}
			by[e.srcid] = h
		}
		h.Records += e.records
		h.First = min(h.First, e.first)
		h.Last = max(h.Last, e.last)
		h.Segments++
		h.SegmentID = append(h.SegmentID, e.segid)
	}
	out := make([]HostSeen, 0, len(by))
	for _, h := range by {
		slices.Sort(h.SegmentID) // keys of versions 2 and 3 interleave
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SrcID < out[j].SrcID })
	return out, it.Error()
}

// warnUnsealed logs, once, that segments a dead writer left unsealed are not in the
// address index.
func (a *Archive) warnUnsealed() (err error) {
	if !a.writerRunning() {
		a.unsealedOnce.Do(func() { err = a.noteUnsealed() })
	}
	return err
}

func (a *Archive) noteUnsealed() error {
	segs, err := a.segments()
	if err != nil {
		return err
	}
	n := 0
	for _, s := range segs {
		if !s.sealed {
			n++
		}
	}
	if n > 0 {
		a.logf("warning: archive %s: %d segments are unsealed (their writer stopped): their addresses are not in the address index until the archive is recovered (panoptes index verify --repair)", a.dir, n)
	}
	return nil
}
