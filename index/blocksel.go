package index

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/filter"
	"panoptes/record"
)

// Block selection by the filter: of the blocks the time index gives for a query's range,
// read only those whose summaries say they may hold a record the filter matches. The
// filter's selection terms (filter.Terms: and, or, address ranges, ports, protocols,
// families, man) are checked per block against
//
//   - the address index ('a' keys, one range scan per host or net term): the blocks of
//     summarized, sealed segments that hold the address; a block of a segment not
//     summarized or not sealed may hold any address;
//   - the block summary ('b' key, read only for the blocks the cheaper terms left): its
//     protocols, ports and kinds of record; a block without one may hold anything.
//
// Every term is conservative (filter.Terms), so the blocks selected hold every match;
// their records are then matched by the whole filter, and the answer is the one a full
// scan gives.

// maxAddrEntries bounds the address entries one term reads: a wide net over a long
// archive can list more entries than reading the blocks by time costs, and beyond it
// the term selects every block.
const maxAddrEntries = 1 << 20

// SelectStats says what the last filtered query on an Archive selected.
type SelectStats struct {
	// ByAddress: the candidates came from the address index (the filter requires an
	// address), not from the time index.
	ByAddress  bool
	Candidates int // blocks considered: of the time range, or listed for the address
	Selected   int // of those, the blocks read
}

// QueryFilter calls fn for every record of the archive that flt matches (nil: every
// record) and whose time span intersects [t0, t1] (ns, inclusive), in order of start
// time, as Query does with flt.Match; it reads only the blocks of the time range whose
// index entries say they may hold a match.
func (a *Archive) QueryFilter(t0, t1 int64, flt *filter.Filter, fn func(*record.Record) error) error {
	return a.QueryFilterFields(t0, t1, flt, record.AllFields, fn)
}

// QueryFilterFields is QueryFilter for a reader that reads only some fields of the
// records beyond their flow key and times (fields, as in QueryFilterUnordered).
func (a *Archive) QueryFilterFields(t0, t1 int64, flt *filter.Filter, fields record.Fields, fn func(*record.Record) error) error {
	return a.queryFilter(t0, t1, flt, fields, fn, true)
}

func (a *Archive) queryFilter(t0, t1 int64, flt *filter.Filter, fields record.Fields, fn func(*record.Record) error, ordered bool) error {
	if err := a.fatal.err(); err != nil {
		return err
	}
	terms := flt.Terms()
	blocks, err := a.filterBlocks(t0, t1, terms)
	if err := a.failed(err); err != nil {
		return err
	}
	spec := readSpec{needles: recordNeedles(terms), keep: func(r *record.Record) bool {
		return r.StartTime <= t1 && r.LastTime >= t0 && flt.Match(r)
	}, fields: fields, ordered: ordered}
	switch {
	case !flt.FlowKeyOnly():
		spec.fields = record.AllFields
	case flt.String() != "":
		spec.keyKeep = flt.Match
	}
	return a.readBlocksParallel(blocks, spec, fn)
}

// QueryFilterUnordered is QueryFilter for readers that do not need start-time order (a
// count): the selected blocks' records come in any order, without the merge. fields
// are the record fields fn reads beyond the flow key and times (record.Fields; those
// flt reads are added): in blocks of columns only those are decoded, and the others are
// zero in the records fn is given (a count of packets and bytes decodes a third of
// them).
func (a *Archive) QueryFilterUnordered(t0, t1 int64, flt *filter.Filter, fields record.Fields, fn func(*record.Record) error) error {
	return a.queryFilter(t0, t1, flt, fields, fn, false)
}

// ScanFilter is QueryFilter over all time.
func (a *Archive) ScanFilter(flt *filter.Filter, fn func(*record.Record) error) error {
	return a.QueryFilter(-1<<62, 1<<62, flt, fn)
}

// minNeedle is the shortest needle worth searching a block for: shorter ones (a /8)
// occur in nearly every record.
const minNeedle = 2

var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// recordNeedles returns byte strings one of which the encoding of every record t
// selects holds (nil if t gives none), so that a block's records without any need not
// be decoded (decodeBatch). A record's addresses lie in its encoding as they are
// (record/encoding.go): 4 bytes for IPv4 and ARP, 16 for IPv6. A record that an
// address term selects has an address whose index form (IPv4 as ::ffff:a.b.c.d) is
// in [Lo, Hi], so its encoding holds the common prefix of Lo and Hi, less the first
// 12 bytes when those are ::ffff:'s (an IPv4 address is stored without them; an IPv6
// one, all 16 bytes, holds its last 4 too). A range whose prefix is shorter than 12
// bytes and could reach ::ffff:0.0.0.0/96 gives none. and takes a side's needles,
// or the union of both sides'.
func recordNeedles(t *filter.Term) [][]byte {
	switch t.Kind {
	case filter.TermAddr:
		n := 0
		for n < 16 && t.Lo[n] == t.Hi[n] {
			n++
		}
		p := t.Lo[:n]
		switch {
		case n >= 12 && [12]byte(p[:12]) == v4Prefix:
			p = p[12:]
		case n < 12 && bytes.HasPrefix(v4Prefix[:], p):
			return nil
		}
		if len(p) < minNeedle {
			return nil
		}
		return [][]byte{bytes.Clone(p)}
	case filter.TermAnd:
		l, r := recordNeedles(t.L), recordNeedles(t.R)
		if l == nil || r != nil && shortest(r) > shortest(l) {
			return r
		}
		return l
	case filter.TermOr:
		l, r := recordNeedles(t.L), recordNeedles(t.R)
		if l == nil || r == nil {
			return nil
		}
		return append(l, r...)
	}
	return nil
}

func shortest(needles [][]byte) int {
	m := 16
	for _, n := range needles {
		m = min(m, len(n))
	}
	return m
}

// LastSelect returns what the last QueryFilter selected.
func (a *Archive) LastSelect() SelectStats {
	a.damageMu.Lock()
	defer a.damageMu.Unlock()
	return a.lastSelect
}

// blockID names a block: segment id and offset.
type blockID struct {
	seg uint64
	off int64
}

// selector evaluates selection terms over blocks.
type selector struct {
	a     *Archive
	addrs map[*filter.Term]map[blockID]bool // per address term: the blocks listing it; nil: all
	sums  *pebble.Iterator
	// the summary of the block being evaluated, read on first need
	cur    blockID
	loaded bool
	has    bool
	sum    blockSummary
}

// filterBlocks returns the blocks overlapping [t0, t1] that may hold a record t
// selects: from the address index and the block directory if t requires an address
// and every segment is summarized, else from the time index.
func (a *Archive) filterBlocks(t0, t1 int64, t *filter.Term) ([]blockRef, error) {
	var stats SelectStats
	defer func() {
		a.damageMu.Lock()
		a.lastSelect = stats
		a.damageMu.Unlock()
	}()
	s := &selector{a: a, addrs: map[*filter.Term]map[blockID]bool{}}
	if err := s.loadAddrs(t); err != nil {
		return nil, err
	}
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'b'}, UpperBound: []byte{'c'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	s.sums = it
	var blocks []blockRef
	if need, ok := s.required(t); ok {
		blocks, ok, err = s.blocksOf(need, t0, t1)
		if err != nil {
			return nil, err
		}
		stats.ByAddress = ok
	}
	if !stats.ByAddress {
		if blocks, err = a.blocksFor(t0, t1); err != nil {
			return nil, err
		}
	}
	if a.readOnly {
		if blocks, err = a.addUnindexed(blocks, t0, t1); err != nil {
			return nil, err
		}
	}
	stats.Candidates = len(blocks)
	blocks, err = s.selectBlocks(blocks, t)
	stats.Selected = len(blocks)
	return blocks, err
}

// required returns the blocks one of which must hold a record t selects, if t says
// (an address term, and of them, or or of such terms), and they are known (no term
// read more than maxAddrEntries entries).
func (s *selector) required(t *filter.Term) (map[blockID]bool, bool) {
	switch t.Kind {
	case filter.TermAddr:
		set := s.addrs[t]
		return set, set != nil
	case filter.TermAnd:
		l, lok := s.required(t.L)
		r, rok := s.required(t.R)
		switch {
		case lok && rok && len(r) < len(l):
			return r, true
		case lok:
			return l, true
		}
		return r, rok
	case filter.TermOr:
		l, lok := s.required(t.L)
		r, rok := s.required(t.R)
		if !lok || !rok {
			return nil, false
		}
		u := make(map[blockID]bool, len(l)+len(r))
		for b := range l {
			u[b] = true
		}
		for b := range r {
			u[b] = true
		}
		return u, true
	}
	return nil, false
}

// blocksOf returns the blocks of need that overlap [t0, t1], from their 'b' entries,
// and every indexed block of the unsealed segments (which have no address entries
// yet). It declines (false) if a segment is not summarized: its blocks' addresses are
// not in the index.
func (s *selector) blocksOf(need map[blockID]bool, t0, t1 int64) ([]blockRef, bool, error) {
	segs, err := s.a.segments()
	if err != nil {
		return nil, false, err
	}
	byID := make(map[uint64]segment, len(segs))
	for _, sg := range segs {
		if !sg.summarized {
			return nil, false, nil
		}
		byID[sg.id] = sg
	}
	ids := make([]blockID, 0, len(need))
	for b := range need {
		ids = append(ids, b)
	}
	sort.Slice(ids, func(i, j int) bool {
		return ids[i].seg < ids[j].seg || ids[i].seg == ids[j].seg && ids[i].off < ids[j].off
	})
	var out []blockRef
	var info BlockInfo
	var sum blockSummary
	keep := func(sg segment, k, v []byte) error {
		if err := decodeSummary(s.a.dir, k, v, &info, &sum); err != nil {
			return err
		}
		if info.MinStart <= t1 && info.MaxLast >= t0 {
			out = append(out, blockRef{seg: sg, info: info})
		}
		return nil
	}
	for _, b := range ids {
		sg, ok := byID[b.seg]
		if !ok || !sg.sealed {
			continue // gone (retention), or below with its segment
		}
		k := sumKey(b.seg, b.off)
		if s.sums.SeekGE(k) && bytes.Equal(s.sums.Key(), k) {
			if err := keep(sg, k, s.sums.Value()); err != nil {
				return nil, false, err
			}
		}
	}
	for _, sg := range segs {
		if sg.sealed {
			continue
		}
		lo, hi := sumKey(sg.id, 0), sumKey(sg.id+1, 0)
		for ok := s.sums.SeekGE(lo); ok && bytes.Compare(s.sums.Key(), hi) < 0; ok = s.sums.Next() {
			if err := keep(sg, s.sums.Key(), s.sums.Value()); err != nil {
				return nil, false, err
			}
		}
	}
	return out, true, s.sums.Error()
}

// selectBlocks returns the blocks that may hold a record t selects.
func (s *selector) selectBlocks(blocks []blockRef, t *filter.Term) ([]blockRef, error) {
	if t.Kind == filter.TermAny || len(blocks) == 0 {
		return blocks, nil
	}
	// In key order, so that the summary iterator only moves forward.
	sort.Slice(blocks, func(i, j int) bool {
		if blocks[i].seg.id != blocks[j].seg.id {
			return blocks[i].seg.id < blocks[j].seg.id
		}
		return blocks[i].info.Offset < blocks[j].info.Offset
	})
	out := blocks[:0]
	for _, b := range blocks {
		s.cur, s.loaded = blockID{b.seg.id, b.info.Offset}, false
		ok, err := s.may(t, b.seg)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, b)
		}
	}
	return out, s.sums.Error()
}

// loadAddrs reads, for each address term of t, the blocks the address index lists for
// its range.
func (s *selector) loadAddrs(t *filter.Term) error {
	switch t.Kind {
	case filter.TermAnd, filter.TermOr:
		if err := s.loadAddrs(t.L); err != nil {
			return err
		}
		return s.loadAddrs(t.R)
	case filter.TermAddr:
		set, err := s.a.addrBlockSet(t.Lo, t.Hi)
		if err != nil {
			return err
		}
		s.addrs[t] = set
	}
	return nil
}

// addrBlockSet returns the blocks of summarized segments whose address entries fall in
// [lo, hi], or nil if there are more than maxAddrEntries of them.
func (a *Archive) addrBlockSet(lo, hi [16]byte) (map[blockID]bool, error) {
	lower := append([]byte{'a'}, lo[:]...)
	upper := append([]byte{'a'}, hi[:]...)
	upper = append(upper, bytes.Repeat([]byte{0xff}, 13)...)
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	set := map[blockID]bool{}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		if n++; n > maxAddrEntries {
			return nil, nil
		}
		e, err := parseAddrEntry(it.Key(), it.Value())
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", a.dir, err)
		}
		if err := addrBlocks(e.blocks, func(off int64) { set[blockID{e.segid, off}] = true }); err != nil {
			return nil, fmt.Errorf("archive %s: %w", a.dir, err)
		}
	}
	return set, it.Error()
}

// may reports whether the current block, of segment seg, may hold a record t selects.
func (s *selector) may(t *filter.Term, seg segment) (bool, error) {
	switch t.Kind {
	case filter.TermAnd:
		ok, err := s.may(t.L, seg)
		if !ok || err != nil {
			return ok, err
		}
		return s.may(t.R, seg)
	case filter.TermOr:
		ok, err := s.may(t.L, seg)
		if ok || err != nil {
			return ok, err
		}
		return s.may(t.R, seg)
	case filter.TermAddr:
		set := s.addrs[t]
		if set == nil || !seg.sealed || !seg.summarized {
			return true, nil
		}
		return set[s.cur], nil
	case filter.TermPort, filter.TermProto, filter.TermFamily, filter.TermMan, filter.TermNonIP:
		sum, err := s.summary()
		if sum == nil || err != nil {
			return true, err
		}
		return sum.may(t), nil
	}
	return true, nil
}

// summary returns the current block's summary, or nil if it has none.
func (s *selector) summary() (*blockSummary, error) {
	if !s.loaded {
		s.loaded = true
		k := sumKey(s.cur.seg, s.cur.off)
		s.has = s.sums.SeekGE(k) && bytes.Equal(s.sums.Key(), k)
		if s.has {
			var info BlockInfo
			if err := decodeSummary(s.a.dir, k, s.sums.Value(), &info, &s.sum); err != nil {
				return nil, err
			}
		}
	}
	if !s.has {
		return nil, s.sums.Error()
	}
	return &s.sum, nil
}

// may reports whether a block of this summary may hold a record the term t (a port,
// protocol, family, man or non-IP term) selects.
func (s *blockSummary) may(t *filter.Term) bool {
	k := s.kinds()
	switch t.Kind {
	case filter.TermMan:
		return k&summaryMan != 0
	case filter.TermNonIP:
		return k&summaryNonIP != 0
	case filter.TermFamily:
		switch t.Fam {
		case 4:
			return k&summaryIPv4 != 0
		case 6:
			return k&summaryIPv6 != 0
		}
		return k&(summaryIPv4|summaryIPv6) != 0
	case filter.TermProto:
		return k&(summaryIPv4|summaryIPv6) != 0 && s.hasProto(t.Proto)
	case filter.TermPort:
		src, dst := s.hasPort(true, t.PortLo, t.PortHi), s.hasPort(false, t.PortLo, t.PortHi)
		switch t.Side {
		case filter.SideSrc:
			return src
		case filter.SideDst:
			return dst
		case filter.SideBoth:
			return src && dst
		}
		return src || dst
	}
	return true
}
