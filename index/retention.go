package index

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Retention bounds an archive: segments are deleted, oldest first, while the archive
// holds data older than MaxAge or is larger than MaxSize bytes. Zero fields are no
// limit. A segment being written is never deleted.
//
// Age is measured per source id, back from that source's newest segment (so an
// imported old case is kept for its own age, not deleted for being an old capture),
// but never from later than the clock (trustedClock): one record stamped in 2106
// (a hostile or broken exporter, a damaged capture, a sensor whose clock jumped
// forward) neither makes its own source's data look old nor any other source's.
type Retention struct {
	MaxAge  time.Duration
	MaxSize int64
}

// FutureTolerance is how far after the clock a record may be stamped before the writer
// counts it as stamped in the future: exporters' and sensors' clocks differ a little,
// and a flow's last time runs up to the moment it is written.
const FutureTolerance = 10 * time.Minute

// trustedClock returns the clock that retention and the future count use: the wall
// clock, but never later than the wall clock at opened plus the time passed since by
// the monotonic clock. A forward step of the wall clock while the archive is open
// (a bad NTP source, an operator's typo) therefore neither ages data nor hides records
// stamped by the wrong clock; a step back is followed at once.
//
// opened must carry a monotonic reading (come from time.Now); wall is the wall clock
// (time.Now; a test steps it).
func trustedClock(opened time.Time, wall func() time.Time) func() int64 {
	return func() int64 {
		return min(wall().UnixNano(), opened.UnixNano()+int64(time.Since(opened)))
	}
}

// SetRetention makes the writer apply r each time it seals a segment.
func (w *Writer) SetRetention(r Retention) { w.retain = r }

// ageReferences returns, per source id, the time its segments' age is measured from:
// the start of its newest segment, or limit (the clock) if that is later.
func ageReferences(segs []segment, limit int64) map[uint32]int64 {
	ref := map[uint32]int64{}
	for _, s := range segs {
		if r, ok := ref[s.srcid]; !ok || s.span > r {
			ref[s.srcid] = s.span
		}
	}
	for src, r := range ref {
		ref[src] = min(r, limit)
	}
	return ref
}

// applyRetention deletes the segments r says to, with their index entries, and logs
// each deletion.
func (a *Archive) applyRetention(r Retention, open map[uint64]bool) error {
	if r.MaxAge <= 0 && r.MaxSize <= 0 {
		return nil
	}
	segs, err := a.segments()
	if err != nil {
		return err
	}
	sort.Slice(segs, func(i, j int) bool {
		if segs[i].span != segs[j].span {
			return segs[i].span < segs[j].span
		}
		return segs[i].id < segs[j].id
	})
	sizes := make([]int64, len(segs))
	var total int64
	for i, s := range segs {
		sizes[i] = a.segmentSize(s)
		total += sizes[i]
	}
	ref := ageReferences(segs, a.now())
	for i, s := range segs {
		if open[s.id] || !s.sealed || !a.deletable(s) {
			continue
		}
		// Sources age apart, so an old segment that stays does not stop the scan.
		tooOld := r.MaxAge > 0 && ref[s.srcid]-s.span > int64(r.MaxAge)
		tooBig := r.MaxSize > 0 && total > r.MaxSize
		if !tooOld && !tooBig {
			continue
		}
		if err := a.deleteSegment(s); err != nil {
			return err
		}
		why := fmt.Sprintf("older than %v (source id %d measured from %s)", r.MaxAge, s.srcid,
			time.Unix(0, ref[s.srcid]).UTC().Format("2006-01-02 15:04:05"))
		if !tooOld {
			why = fmt.Sprintf("archive over %d bytes", r.MaxSize)
		}
		a.logf("archive: retention removed %s (%d bytes, span %s): %s", s.path, sizes[i],
			time.Unix(0, s.span).UTC().Format("2006-01-02 15:04:05"), why)
		total -= sizes[i]
	}
	return nil
}

// segmentRel returns the path of a segment's file, relative to the archive.
func segmentRel(s segment) string {
	if s.sealed {
		return s.path
	}
	return tmpPath(s.path)
}

// segmentFile returns the path of a segment's file.
func (a *Archive) segmentFile(s segment) string { return filepath.Join(a.dir, segmentRel(s)) }

// segmentSize returns the size of a segment's file (0 if it cannot be opened). A sealed
// segment's size is kept, as the file no longer changes: retention runs at every seal,
// over every segment, and opening each file each time (a walk of its directories
// without following symlinks) would grow with the archive.
func (a *Archive) segmentSize(s segment) int64 {
	if size, ok := a.sizes[s.id]; ok && s.sealed {
		return size
	}
	size, err := a.statFile(segmentRel(s))
	if err != nil {
		return 0
	}
	if s.sealed {
		if a.sizes == nil {
			a.sizes = map[uint64]int64{}
		}
		a.sizes[s.id] = size
	}
	return size
}

// deletable reports whether retention may delete s: an index entry whose path is not a
// segment file inside the archive (planted, or damaged) is left alone, with a note the
// first time, and the writer goes on; `index rebuild` recreates the index from the
// segment files.
func (a *Archive) deletable(s segment) bool {
	err := checkSegmentPath(segmentRel(s))
	if err == nil {
		return true
	}
	if !a.warned[s.id] {
		if a.warned == nil {
			a.warned = map[uint64]bool{}
		}
		a.warned[s.id] = true
		a.logf("archive %s: retention: index entry of segment %d: %v; left alone (index rebuild recreates the index from the segment files)", a.dir, s.id, err)
	}
	return false
}

// deleteSegment removes a sealed segment: first its index entries (blocks, addresses,
// the segment), then the file, so that the index never lists data that is gone. The
// entries are found by reading the segment's blocks; a segment that cannot be read
// whole (damaged on disk, or gone) has its entries found by a scan of the whole index
// instead, so that a bad old segment neither stops the writer nor stays behind.
func (a *Archive) deleteSegment(s segment) error {
	rel := segmentRel(s)
	path := filepath.Join(a.dir, rel)
	batch := a.db.NewBatch()
	defer batch.Close()
	as := addrSet{}
	scanErr := func() error {
		f, err := a.openFile(rel, os.O_RDONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = scanSegment(f, path, func(info BlockInfo, raw []byte, wire *[256]int8) error {
			if err := summarizeBlock(as, &blockSummary{}, raw, info.Columns, wire, info.Offset, path); err != nil {
				return err
			}
			if err := batch.Delete(sumKey(s.id, info.Offset), nil); err != nil {
				return err
			}
			if bucketOf(info.MaxLast)-bucketOf(info.MinStart) >= maxBuckets {
				return batch.Delete(longKey(s.id, info.Offset), nil)
			}
			for k := bucketOf(info.MinStart); k <= bucketOf(info.MaxLast); k++ {
				if err := batch.Delete(blockKey(k, s.id, info.Offset), nil); err != nil {
					return err
				}
			}
			return nil
		})
		return err
	}()
	if scanErr != nil {
		a.logf("archive: retention: %v; finding the segment's index entries by scanning the index", scanErr)
		if err := a.deleteKeysOfSegment(batch, s.id); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
	}
	for addr := range as {
		// Either layout: an archive migrated from version 2 holds both until rebuilt.
		if err := batch.Delete(addrKey(addr, s.id), nil); err != nil {
			return err
		}
		if err := batch.Delete(addrKeyV2(addr, s.srcid, s.id), nil); err != nil {
			return err
		}
	}
	if err := batch.Delete(segKey(s.id), nil); err != nil {
		return err
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return err
	}
	delete(a.sizes, s.id)
	if err := a.removeFile(rel); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}

// deleteKeysOfSegment adds to batch the deletion of every block, long-block, summary and
// address key of segment id, found by iterating over those key ranges of the whole index.
func (a *Archive) deleteKeysOfSegment(batch *pebble.Batch, id uint64) error {
	for _, kind := range []struct {
		prefix byte
		length int
		segAt  int // where the segment id sits in the key
	}{
		{'t', 25, 9},          // blockKey: 't' bucket segid offset
		{'l', 17, 1},          // longKey: 'l' segid offset
		{'a', addrKeyLen, 17}, // addrKey: 'a' address segid (and addrKeyV2, below)
		{'b', 17, 1},          // sumKey: 'b' segid offset
	} {
		it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kind.prefix}, UpperBound: []byte{kind.prefix + 1}})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			k := it.Key()
			at := kind.segAt
			if kind.prefix == 'a' && len(k) == addrKeyLenV2 {
				at = 21 // 'a' address srcid segid: an entry of version 2
			} else if len(k) != kind.length {
				continue
			}
			if binary.BigEndian.Uint64(k[at:]) == id {
				if err := batch.Delete(slices.Clone(k), nil); err != nil {
					it.Close()
					return err
				}
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	return nil
}

// ParseAge parses a retention age: a Go duration, or a number of days ("90d") or weeks
// ("2w").
func ParseAge(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("bad age %q: want a number of days (90d), weeks (2w) or a duration (36h)", s)
			}
			return time.Duration(v * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad age %q: want a number of days (90d), weeks (2w) or a duration (36h)", s)
	}
	return d, nil
}

// ParseSize parses a size in bytes with an optional K, M, G or T suffix (powers of 1024).
func ParseSize(s string) (int64, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	case "T":
		mult = 1 << 40
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "B"), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q: want bytes with an optional K, M, G or T suffix (500G)", s)
	}
	return int64(v * float64(mult)), nil
}
