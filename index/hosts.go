package index

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// The address index answers "when did we see this host?" without reading segments:
//
//	'a' addr(16) srcid(4) segid(8) -> records(8) first(8) last(8)
//
// addr is the IPv6 form of the address (IPv4 as ::ffff:a.b.c.d), so one host's entries
// are one key range; there is one entry per source and segment the address appears in,
// written when the segment is sealed (so a segment still being written is not in it
// yet).

// addrStat is what the index keeps per address and segment.
type addrStat struct {
	records     uint64
	first, last int64
}

// addrSet collects the addresses of a segment's records.
type addrSet map[[16]byte]*addrStat

func (as addrSet) add(r *record.Record) {
	if r.Kind != record.KindFlow || (r.Family != 4 && r.Family != 6) {
		return
	}
	for _, src := range []bool{true, false} {
		k := r.Addr(src).As16()
		st := as[k]
		if st == nil {
			st = &addrStat{first: r.StartTime, last: r.LastTime}
			as[k] = st
		}
		st.records++
		st.first = min(st.first, r.StartTime)
		st.last = max(st.last, r.LastTime)
	}
}

func addrKey(a [16]byte, srcid uint32, segid uint64) []byte {
	k := append([]byte{'a'}, a[:]...)
	k = binary.BigEndian.AppendUint32(k, srcid)
	return binary.BigEndian.AppendUint64(k, segid)
}

func addrValue(st *addrStat) []byte {
	v := binary.BigEndian.AppendUint64(nil, st.records)
	v = binary.BigEndian.AppendUint64(v, uint64(st.first))
	return binary.BigEndian.AppendUint64(v, uint64(st.last))
}

// indexAddrs adds a segment's address entries to a batch.
func indexAddrs(batch *pebble.Batch, srcid uint32, segid uint64, as addrSet) error {
	for a, st := range as {
		if err := batch.Set(addrKey(a, srcid, segid), addrValue(st), nil); err != nil {
			return err
		}
	}
	return nil
}

// addrsOfBlocks collects the addresses of a segment's records from its blocks' raw bytes.
func addrsOfBlock(as addrSet, raw []byte, wire *[256]int8, off int64, name string) error {
	var rec record.Record
	return decodeRecords(raw, wire, off, name, &rec, func(r *record.Record) error {
		as.add(r)
		return nil
	})
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
		if len(k) != 29 || len(v) != 24 {
			return nil, fmt.Errorf("archive %s: %w: address entry of %d/%d bytes", a.dir, ErrCorrupt, len(k), len(v))
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
