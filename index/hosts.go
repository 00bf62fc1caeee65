package index

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// The address index answers "when did we see this host?" without reading segments, and
// which blocks a filter's host and net terms need to read (blocksel.go):
//
//	'a' addr(16) srcid(4) segid(8) -> records(8) first(8) last(8) blocks
//
// addr is the IPv6 form of the address (IPv4 as ::ffff:a.b.c.d), so one host's entries
// are one key range, and a net's one range too; there is one entry per source and
// segment the address appears in, written when the segment is sealed (so a segment still
// being written is not in it yet). records, first and last count the IP flows with the
// address (on either side; twice if on both). blocks (index format version 2, segments
// marked "summarized") lists the offsets of the segment's blocks that hold a flow with
// the address, as uvarints: the first offset, then the differences; it counts the IPv4
// addresses of ARP flows too, which a filter's host term matches, so an address seen
// only in ARP flows has an entry with records 0 (which Host passes over). An entry of
// version 1 stops after last, and counts IP flows only.

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

func addrKey(a [16]byte, srcid uint32, segid uint64) []byte {
	k := append([]byte{'a'}, a[:]...)
	k = binary.BigEndian.AppendUint32(k, srcid)
	return binary.BigEndian.AppendUint64(k, segid)
}

// addrValue is the value of an address entry; withBlocks false gives version 1's.
func addrValue(st *addrStat, withBlocks bool) []byte {
	v := binary.BigEndian.AppendUint64(nil, st.records)
	v = binary.BigEndian.AppendUint64(v, uint64(st.first))
	v = binary.BigEndian.AppendUint64(v, uint64(st.last))
	if withBlocks {
		v = append(v, st.blocks...)
	}
	return v
}

// addrBlocks calls fn with each block offset of an address entry's value.
func addrBlocks(v []byte, fn func(off int64)) error {
	var off int64
	for p := 24; p < len(v); {
		d, n := binary.Uvarint(v[p:])
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
		if err := batch.Set(addrKey(a, srcid, segid), addrValue(st, true), nil); err != nil {
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
		k, v := it.Key(), it.Value()
		if len(k) != 29 || len(v) < 24 {
			return nil, fmt.Errorf("archive %s: %w: address entry of %d/%d bytes", a.dir, ErrCorrupt, len(k), len(v))
		}
		if binary.BigEndian.Uint64(v) == 0 {
			continue // seen in ARP flows only: not a host of IP flows
		}
		srcid := binary.BigEndian.Uint32(k[17:])
		h := by[srcid]
		if h == nil {
			h = &HostSeen{Addr: addr, SrcID: srcid, First: 1<<63 - 1, Last: -1 << 63}
			by[srcid] = h
		}
		h.Records += binary.BigEndian.Uint64(v)
		h.First = min(h.First, int64(binary.BigEndian.Uint64(v[8:])))
		h.Last = max(h.Last, int64(binary.BigEndian.Uint64(v[16:])))
		h.Segments++
		h.SegmentID = append(h.SegmentID, binary.BigEndian.Uint64(k[21:]))
	}
	out := make([]HostSeen, 0, len(by))
	for _, h := range by {
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
