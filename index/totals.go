package index

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// QueryTotals is QueryUnordered for a reader that only adds up flow records and their
// packets and bytes per direction (a count without a filter): a block that lies wholly
// inside [t0, t1] (its every record starts at or after t0 and ends at or before t1, so
// that every one is in the range whatever the range's mode) and whose summary carries
// its totals (index format version 4) is not read: its totals are added to the result.
// fn gets the records of the other blocks (partly outside the range, summarized before
// version 4, or not indexed yet), management records included, as QueryUnordered gives
// them. The caller adds the two.
//
// A block taken from its totals is not read, so damage done to it after it was written
// is not noticed here, as it would be by reading it (`panoptes index verify` reads every
// block): the totals are those of the records the block held when it was indexed.
func (a *Archive) QueryTotals(t0, t1 int64, fn func(*record.Record) error) (Totals, error) {
	var tot Totals
	if err := a.fatal.err(); err != nil {
		return tot, err
	}
	blocks, err := a.rangeBlocks(t0, t1)
	if err := a.failed(err); err != nil {
		return tot, err
	}
	rest, err := a.addTotals(blocks, t0, t1, &tot)
	if err := a.failed(err); err != nil {
		return tot, err
	}
	return tot, a.readBlocksParallel(rest, readSpec{keep: func(r *record.Record) bool {
		return r.StartTime <= t1 && r.LastTime >= t0
	}, fields: record.AllFields}, fn)
}

// addTotals adds to tot the totals of the blocks inside [t0, t1] whose summaries have
// them, and returns the other blocks.
func (a *Archive) addTotals(blocks []blockRef, t0, t1 int64, tot *Totals) ([]blockRef, error) {
	slices.SortFunc(blocks, func(x, y blockRef) int {
		return cmp.Or(cmp.Compare(x.seg.id, y.seg.id), cmp.Compare(x.info.Offset, y.info.Offset))
	})
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'b'}, UpperBound: []byte{'c'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var rest []blockRef
	var info BlockInfo
	var sum blockSummary
	for _, b := range blocks {
		if b.info.MinStart < t0 || b.info.MaxLast > t1 {
			rest = append(rest, b)
			continue
		}
		k := sumKey(b.seg.id, b.info.Offset)
		// The blocks come in key order: the summary wanted is usually the next one.
		if !it.Valid() || bytes.Compare(it.Key(), k) >= 0 || !it.Next() || bytes.Compare(it.Key(), k) < 0 {
			it.SeekGE(k)
		}
		if !it.Valid() || !bytes.Equal(it.Key(), k) {
			rest = append(rest, b) // no summary (not indexed yet, or an older version's segment)
			continue
		}
		if err := decodeSummary(a.dir, it.Key(), it.Value(), &info, &sum); err != nil {
			return nil, err
		}
		if !sum.hasTot || info.Length != b.info.Length || info.Records != b.info.Records {
			rest = append(rest, b)
			continue
		}
		tot.Add(sum.tot)
	}
	return rest, it.Error()
}
