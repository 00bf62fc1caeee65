package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// segmentFiles finds the segment files under the archive: sealed ("...-ID.seg") and
// open (".NAME.tmp"), with the segment id from the name.
func (a *Archive) segmentFiles() ([]segment, error) {
	var out []segment
	err := filepath.WalkDir(a.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == filepath.Join(a.dir, "index") || path == filepath.Join(a.dir, "snapshots") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			// A symlink (or FIFO, device) is no segment, whatever its name: opening it
			// would reach a file that is not the archive's.
			if strings.HasSuffix(d.Name(), ".seg") || strings.HasSuffix(d.Name(), ".seg.tmp") {
				a.logf("archive: %s is not a regular file; skipped", path)
			}
			return nil
		}
		rel, _ := filepath.Rel(a.dir, path)
		name := d.Name()
		sealed := true
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".seg.tmp") {
			sealed = false
			name = strings.TrimSuffix(strings.TrimPrefix(name, "."), ".tmp")
			rel = filepath.Join(filepath.Dir(rel), name)
		} else if !strings.HasSuffix(name, ".seg") {
			return nil
		}
		dash := strings.LastIndexByte(name, '-')
		id, err := strconv.ParseUint(strings.TrimSuffix(name[dash+1:], ".seg"), 10, 64)
		if dash < 0 || err != nil {
			return fmt.Errorf("archive: %s: not a segment name (want HH.MM.SS-ID.seg)", path)
		}
		out = append(out, segment{id: id, sealed: sealed, path: rel})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, err
}

// RebuildIndex recreates the index of the archive in dir from its segment files, in a
// new Pebble database that then replaces the old one, and recovers the segments a writer
// left unsealed. Nothing of the old index is read, so a damaged index file (a table,
// the manifest, the log) does not stop it; the old index's lock is held meanwhile, so no
// writer starts on the archive. Snapshots of the old index are removed with it.
func RebuildIndex(dir string, o Options, progress func(done, total int)) (RebuildStats, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	idx := filepath.Join(dir, "index")
	if err := os.MkdirAll(idx, 0o755); err != nil {
		return RebuildStats{}, fmt.Errorf("archive %s: %w", dir, err)
	}
	lock, err := vfs.Default.Lock(filepath.Join(idx, "LOCK"))
	if err != nil {
		if isLocked(err) {
			return RebuildStats{}, fmt.Errorf("archive %s: the index is held by another process writing to the archive; stop it first", dir)
		}
		return RebuildStats{}, fmt.Errorf("archive %s: locking the index: %w", dir, err)
	}
	// And the directory's lock, as a writer: a reader that shares the index with
	// another (sharedIndex) holds it shared without Pebble's lock.
	dirLock, err := lockDir(idx, syscall.LOCK_EX|syscall.LOCK_NB)
	if err != nil {
		lock.Close()
		return RebuildStats{}, fmt.Errorf("archive %s: the index is held by another process (a writer, or a reader); stop it first", dir)
	}
	defer dirLock.Close()
	unlock := func() {
		if lock != nil {
			lock.Close()
			lock = nil
		}
	}
	defer unlock()
	fresh := filepath.Join(dir, ".index.rebuild")
	st, err := buildIndex(dir, fresh, o, progress)
	if err != nil {
		os.RemoveAll(fresh)
		return st, err
	}
	if err := replaceIndex(dir, fresh); err != nil {
		return st, err
	}
	unlock() // Open below takes the new index's lock
	a, err := Open(dir, Options{Logf: o.Logf})
	if err != nil {
		return st, err
	}
	return st, a.Close()
}

// buildIndex builds a new index of dir's segments in the directory fresh.
func buildIndex(dir, fresh string, o Options, progress func(done, total int)) (RebuildStats, error) {
	if err := os.RemoveAll(fresh); err != nil { // left by a rebuild that died
		return RebuildStats{}, fmt.Errorf("archive %s: %w", dir, err)
	}
	logger := &fatalLogger{dir: dir}
	db, err := pebble.Open(fresh, tableOptions(&pebble.Options{Logger: logger, EventListener: corruptionIsAnError(), MaxOpenFiles: maxOpenFiles()}))
	if err == nil {
		err = logger.err()
	}
	if err != nil {
		return RebuildStats{}, fmt.Errorf("archive %s: creating the new index: %w", dir, err)
	}
	a := &Archive{dir: dir, db: db, fatal: logger, logf: o.Logf}
	if err := a.setVersion(); err != nil {
		db.Close()
		return RebuildStats{}, err
	}
	st, err := a.Rebuild(progress)
	if err = a.failed(err); err != nil {
		db.Close()
		return st, err
	}
	return st, a.Close()
}

// replaceIndex puts the index built in fresh in the place of the archive's index, and
// removes the old one and its snapshots.
func replaceIndex(dir, fresh string) error {
	idx, old := filepath.Join(dir, "index"), filepath.Join(dir, ".index.old")
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	if err := os.Rename(idx, old); err != nil {
		return fmt.Errorf("archive %s: moving the old index aside: %w", dir, err)
	}
	if err := os.Rename(fresh, idx); err != nil {
		return fmt.Errorf("archive %s: putting the new index in place: %w", dir, err)
	}
	syncDir(dir)
	os.RemoveAll(old)
	os.RemoveAll(filepath.Join(dir, "snapshots"))
	return nil
}

// fromHeader sets the segment's source id and span from its file's header or, if the
// header is damaged, from its name (SRCID/YYYY/MM/DD/HH.MM.SS-ID.seg), so that a rebuild
// still indexes the blocks after a damaged header.
func (s *segment) fromHeader(f *os.File, path string) error {
	sh, err := readSegmentHeader(f, path)
	if err == nil {
		s.srcid, s.span = sh.srcid, sh.spanStart
		return nil
	}
	src, span, ok := segmentFromPath(s.path)
	if !ok || !errors.Is(err, ErrCorrupt) {
		return err
	}
	s.srcid, s.span = src, span
	return nil
}

// segmentFromPath reads the source id and span start from a segment's relative path.
func segmentFromPath(rel string) (srcid uint32, span int64, ok bool) {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) != 5 || len(parts[4]) < len("15.04.05") {
		return 0, 0, false
	}
	id, err := strconv.ParseUint(parts[0], 10, 32)
	if err != nil {
		return 0, 0, false
	}
	t, err := time.Parse("2006/01/02/15.04.05", strings.Join(parts[1:4], "/")+"/"+parts[4][:len("15.04.05")])
	if err != nil {
		return 0, 0, false
	}
	return uint32(id), t.UnixNano(), true
}

// RebuildStats says what a rebuild found.
type RebuildStats struct {
	Segments, Blocks, Records int
	Truncated                 int // segments with a torn block cut off
	Damaged                   int // damaged blocks left out, with complete blocks after them (kept)
}

// Rebuild recreates the index from the segment files. progress, if not nil, is called
// after each segment with the number done and the total.
func (a *Archive) Rebuild(progress func(done, total int)) (RebuildStats, error) {
	var st RebuildStats
	// Pebble retries a write that fails for want of space instead of failing it: make
	// sure there is room before starting.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(a.dir, &fs); err == nil && fs.Bavail*uint64(fs.Bsize) < minFreeToWrite {
		return st, fmt.Errorf("archive %s: %d bytes free; rebuilding the index needs at least %d (free space first)",
			a.dir, fs.Bavail*uint64(fs.Bsize), minFreeToWrite)
	}
	files, err := a.segmentFiles()
	if err != nil {
		return st, err
	}
	// Drop every derived key, keep the version.
	if err := a.db.DeleteRange([]byte{'a'}, []byte{'c'}, pebble.Sync); err != nil { // addresses, summaries
		return st, err
	}
	if err := a.db.DeleteRange([]byte{'d'}, []byte{'e'}, pebble.Sync); err != nil {
		return st, err
	}
	if err := a.db.DeleteRange([]byte{'l'}, []byte{'m'}, pebble.Sync); err != nil {
		return st, err
	}
	if err := a.db.DeleteRange([]byte{'n'}, []byte{'u'}, pebble.Sync); err != nil {
		return st, err
	}
	var maxID uint64
	for i, s := range files {
		path := filepath.Join(a.dir, segmentRel(s))
		f, err := a.openFile(segmentRel(s), os.O_RDWR, 0)
		if err != nil {
			return st, fmt.Errorf("archive: %w", err)
		}
		if err := s.fromHeader(f, path); err != nil {
			f.Close()
			return st, err
		}
		batch := a.db.NewBatch()
		as, fst, end, scanErr := a.indexSegmentFile(batch, s.id, f, path)
		st.Blocks += fst.Blocks
		st.Records += fst.Records
		st.Damaged += fst.Damaged
		if scanErr != nil && !isDamage(scanErr) {
			f.Close()
			batch.Close()
			return st, scanErr
		}
		if scanErr != nil {
			a.logf("archive: %s: truncating a torn or damaged block at byte %d (%v)", path, end, scanErr)
			if err := f.Truncate(end); err != nil {
				f.Close()
				batch.Close()
				return st, fmt.Errorf("truncating %s at byte %d: %w", path, end, err)
			}
			st.Truncated++
		}
		f.Close()
		s.summarized = true // every block indexed above has its summary
		if s.sealed {
			if err := indexAddrs(batch, s.srcid, s.id, as); err != nil {
				batch.Close()
				return st, err
			}
		}
		if err := batch.Set(segKey(s.id), encodeSegment(&s), nil); err != nil {
			batch.Close()
			return st, err
		}
		if err := batch.Commit(pebble.Sync); err != nil {
			batch.Close()
			return st, err
		}
		batch.Close()
		maxID = max(maxID, s.id)
		st.Segments++
		if progress != nil {
			progress(i+1, len(files))
		}
	}
	return st, a.db.Set([]byte{'n'}, binary.BigEndian.AppendUint64(nil, maxID), pebble.Sync)
}

// Verify compares the index with the segment files and returns one line per
// difference (none: they agree).
//
// While a writer runs, what it leaves between two steps of its work, which its next
// step completes, is not a difference: an unsealed segment, whose entry comes before its
// file, and whose last blocks are written before they are indexed. With no writer
// running (a read-only verify that opened the index itself, not a writer's snapshot),
// they are what a writer that died left, and are reported: every unsealed segment, and
// the blocks not in the index, which only readers that look past the index see until
// the archive is recovered (Open for writing: `index verify --repair`, or the next
// writer). A segment renamed to its final name but not yet marked sealed is reported in
// both cases.
func (a *Archive) Verify() ([]string, error) {
	diffs, err := a.verify()
	if err = a.failed(err); err != nil {
		return nil, err
	}
	return diffs, nil
}

func (a *Archive) verify() ([]string, error) {
	files, err := a.segmentFiles()
	if err != nil {
		return nil, err
	}
	segs, err := a.segments()
	if err != nil {
		return nil, err
	}
	var diffs []string
	indexed := map[uint64]segment{}
	for _, s := range segs {
		indexed[s.id] = s
	}
	want := map[string][]byte{}   // block key -> value, from the files
	unsealed := map[uint64]bool{} // segments whose writer may not have indexed the last blocks yet
	recorded, err := a.recordedDamage()
	if err != nil {
		return nil, err
	}
	wantAddrs := map[uint64]addrDigest{} // segment id -> its address entries, from the records
	wantSums := map[string][]byte{}      // summary key -> value, of the summarized segments' blocks
	for _, s := range files {
		is, ok := indexed[s.id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("segment %s is not in the index", s.path))
			continue
		}
		delete(indexed, s.id)
		unsealed[s.id] = !is.sealed
		if !is.sealed && !a.writerRunning() {
			diffs = append(diffs, unsealedDiff(is))
		}
		// Sealed on disk, not yet in the index: the writer stopped between the rename
		// and the index commit.
		if is.path != s.path || (is.sealed && !s.sealed) {
			diffs = append(diffs, fmt.Sprintf("segment %d: index says %s (sealed %v), file is %s (sealed %v)", s.id, is.path, is.sealed, s.path, s.sealed))
		}
		path := filepath.Join(a.dir, segmentRel(s))
		f, err := a.openFile(segmentRel(s), os.O_RDONLY, 0)
		if err != nil {
			return nil, err
		}
		as := addrSet{}
		_, scanErr := scanSegmentKeeping(f, path, func(info BlockInfo, raw []byte, wire *[256]int8) error {
			var sum blockSummary
			if err := summarizeBlock(as, &sum, raw, info.Columns, wire, info.Offset, path); err != nil {
				return err
			}
			if is.summarized {
				wantSums[string(sumKey(s.id, info.Offset))] = summaryValue(&info, &sum)
			}
			v := encodeBlock(&info)
			if bucketOf(info.MaxLast)-bucketOf(info.MinStart) >= maxBuckets {
				want[string(longKey(s.id, info.Offset))] = v
				return nil
			}
			for k := bucketOf(info.MinStart); k <= bucketOf(info.MaxLast); k++ {
				want[string(blockKey(k, s.id, info.Offset))] = v
			}
			return nil
		}, func(off, next int64, err error) {
			k := string(damageKey(s.id, off))
			if l, ok := recorded[k]; ok && l == next-off {
				delete(recorded, k) // known: rebuild or recovery left it out of the index
				return
			}
			diffs = append(diffs, fmt.Sprintf("segment %s: %v (%d bytes; the blocks from byte %d on are readable)", s.path, err, next-off, next))
		})
		f.Close()
		if errors.Is(scanErr, ErrNewer) {
			return nil, scanErr // not a difference to repair: this panoptes cannot read it
		}
		if scanErr != nil {
			diffs = append(diffs, fmt.Sprintf("segment %s: %v", s.path, scanErr))
		}
		if is.sealed {
			wantAddrs[s.id] = digestOf(is.srcid, s.id, as, is.summarized)
		}
	}
	addrDiffs, err := a.verifyAddrs(wantAddrs, segs)
	if err != nil {
		return nil, err
	}
	diffs = append(diffs, addrDiffs...)
	diffs = append(diffs, staleDamage(recorded, files)...)
	for _, s := range indexed {
		if !s.sealed {
			// A segment being created (the entry comes before the file), or one whose
			// writer stopped before it had a header (a full disk): it holds no block, and
			// the next open forgets it. A block indexed under it is reported below.
			if !a.writerRunning() {
				diffs = append(diffs, unsealedDiff(s))
			}
			continue
		}
		diffs = append(diffs, fmt.Sprintf("index lists segment %d (%s) but its file is missing", s.id, s.path))
	}
	// 'l' and 't' keys: everything from 'l' to 'u' but the 'm', 'n' and 's' entries.
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'l'}, UpperBound: []byte{'u'},
		SkipPoint: func(k []byte) bool { return k[0] != 'l' && k[0] != 't' }})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	lastIndexed := map[uint64]uint64{} // segment id -> offset of its last indexed block + 1
	for it.First(); it.Valid(); it.Next() {
		k := string(it.Key())
		lastIndexed[keySeg(k)] = max(lastIndexed[keySeg(k)], keyOff(k)+1)
		w, ok := want[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("index lists a block (segment %d, byte %d) that the segment does not have", keySeg(k), keyOff(k)))
		case !bytes.Equal(w, it.Value()):
			diffs = append(diffs, fmt.Sprintf("block of segment %d at byte %d: index and segment disagree", keySeg(k), keyOff(k)))
		}
		delete(want, k)
	}
	tails := map[uint64]*unindexedTail{}
	for k, v := range want {
		if unsealed[keySeg(k)] && keyOff(k) >= lastIndexed[keySeg(k)] {
			// Written, not indexed yet: the writer's next commit or the next writable
			// Open indexes it.
			if !a.writerRunning() {
				addTail(tails, k, v)
			}
			continue
		}
		diffs = append(diffs, fmt.Sprintf("block of segment %d at byte %d is not in the index", keySeg(k), keyOff(k)))
	}
	for _, s := range segs {
		if t := tails[s.id]; t != nil {
			diffs = append(diffs, fmt.Sprintf("unsealed segment %s: %d blocks (%d records) from byte %d on are not in the index (index verify --repair indexes them)",
				s.path, len(t.blocks), t.records, t.from))
		}
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	sumDiffs, err := a.verifySummaries(wantSums, unsealed, lastIndexed)
	if err != nil {
		return nil, err
	}
	diffs = append(diffs, sumDiffs...)
	sort.Strings(diffs)
	return diffs, nil
}

// verifySummaries compares the block summaries ('b' keys) with want, from the records of
// the summarized segments. A summary may be missing only where the block's time keys
// may be (the unindexed tail of an unsealed segment, reported with them).
func (a *Archive) verifySummaries(want map[string][]byte, unsealed map[uint64]bool, lastIndexed map[uint64]uint64) ([]string, error) {
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'b'}, UpperBound: []byte{'c'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var diffs []string
	for it.First(); it.Valid(); it.Next() {
		k := string(it.Key())
		if len(k) != 17 {
			diffs = append(diffs, fmt.Sprintf("block summaries: a key of %d bytes (want 17)", len(k)))
			continue
		}
		w, ok := want[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("index has a summary of a block (segment %d, byte %d) that no summarized segment has", keySeg(k), keyOff(k)))
		case !bytes.Equal(w, it.Value()) && !(len(it.Value()) == 28+summarySize && bytes.HasPrefix(w, it.Value())):
			// (A summary written before format version 4 has no totals: it agrees if
			// the rest does.)
			diffs = append(diffs, fmt.Sprintf("summary of the block of segment %d at byte %d: index and segment disagree", keySeg(k), keyOff(k)))
		}
		delete(want, k)
	}
	for k := range want {
		if unsealed[keySeg(k)] && keyOff(k) >= lastIndexed[keySeg(k)] {
			continue
		}
		diffs = append(diffs, fmt.Sprintf("block of segment %d at byte %d has no summary in the index", keySeg(k), keyOff(k)))
	}
	return diffs, it.Error()
}

// writerRunning says whether a writer may be in the middle of its work: this process
// opened the archive for writing, or a reader found the index held and reads a snapshot.
func (a *Archive) writerRunning() bool { return !a.readOnly || a.snapshot }

func unsealedDiff(s segment) string {
	return fmt.Sprintf("segment %s is unsealed: its writer stopped without sealing it (index verify --repair, or the next writer, recovers it)", s.path)
}

// unindexedTail sums the blocks at the end of an unsealed segment that are not indexed.
type unindexedTail struct {
	blocks  map[uint64]bool // offsets (a block has a key per time bucket)
	records uint64
	from    uint64
}

func addTail(tails map[uint64]*unindexedTail, k string, v []byte) {
	t := tails[keySeg(k)]
	if t == nil {
		t = &unindexedTail{blocks: map[uint64]bool{}, from: keyOff(k)}
		tails[keySeg(k)] = t
	}
	if t.blocks[keyOff(k)] {
		return
	}
	t.blocks[keyOff(k)] = true
	t.records += uint64(binary.BigEndian.Uint32(v[8:]))
	t.from = min(t.from, keyOff(k))
}

// keySeg and keyOff read the segment id and block offset at the end of an 'l' or 't' key.
func keySeg(k string) uint64 { return binary.BigEndian.Uint64([]byte(k[len(k)-16:])) }
func keyOff(k string) uint64 { return binary.BigEndian.Uint64([]byte(k[len(k)-8:])) }

// DamagedBlock is a damaged block the index records as left out: its records are lost
// (unless the segment file is restored from a copy and the index rebuilt).
type DamagedBlock struct {
	Segment uint64
	Path    string // of the segment, relative to the archive
	Offset  int64
	Length  int64
}

// RecordedDamage lists the damaged blocks the index records (rebuild and recovery left
// them out), of the segments the index lists.
func (a *Archive) RecordedDamage() ([]DamagedBlock, error) {
	rec, err := a.recordedDamage()
	if err != nil {
		return nil, err
	}
	segs, err := a.segments()
	if err != nil {
		return nil, err
	}
	paths := map[uint64]string{}
	for _, s := range segs {
		paths[s.id] = s.path
	}
	var out []DamagedBlock
	for k, l := range rec {
		if p, ok := paths[keySeg(k)]; ok {
			out = append(out, DamagedBlock{Segment: keySeg(k), Path: p, Offset: int64(keyOff(k)), Length: l})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Path < out[j].Path || out[i].Path == out[j].Path && out[i].Offset < out[j].Offset
	})
	return out, nil
}

// recordedDamage returns the index's 'd' entries: key -> length of the damaged range.
func (a *Archive) recordedDamage() (map[string]int64, error) {
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'d'}, UpperBound: []byte{'e'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[string]int64{}
	for it.First(); it.Valid(); it.Next() {
		if len(it.Key()) != 17 || len(it.Value()) != 8 {
			return nil, fmt.Errorf("archive %s: %w: damage entry of %d/%d bytes", a.dir, ErrCorrupt, len(it.Key()), len(it.Value()))
		}
		out[string(it.Key())] = int64(binary.BigEndian.Uint64(it.Value()))
	}
	return out, it.Error()
}

// staleDamage reports recorded damage that a segment file no longer has (restored from a
// copy: a rebuild indexes its blocks again). Entries of segments gone from the archive
// (retention removed them) are no difference: nothing reads them.
func staleDamage(left map[string]int64, files []segment) []string {
	present := map[uint64]string{}
	for _, s := range files {
		present[s.id] = s.path
	}
	var diffs []string
	for k := range left {
		if p, ok := present[keySeg(k)]; ok {
			diffs = append(diffs, fmt.Sprintf("segment %s: the index records a damaged block at byte %d that the segment no longer has (index rebuild reads it again)", p, keyOff(k)))
		}
	}
	return diffs
}

// addrDigest sums up a segment's address entries (hosts.go): their number and the sum of
// a hash of each key and value, so that the entries in the index and those the
// segment's records give compare without holding either set.
type addrDigest struct {
	n   int
	sum uint64
}

// add sums up an entry by its fields, not its bytes: an entry of version 2 and its
// rewrite in version 3 sum alike.
func (d *addrDigest) add(e addrEntry) {
	h := fnv.New64a()
	var b [48]byte
	copy(b[:16], e.addr[:])
	binary.BigEndian.PutUint32(b[16:], e.srcid)
	binary.BigEndian.PutUint64(b[20:], e.segid)
	binary.BigEndian.PutUint64(b[28:], e.records)
	binary.BigEndian.PutUint64(b[36:], uint64(e.first))
	h.Write(b[:44])
	binary.BigEndian.PutUint64(b[:], uint64(e.last))
	h.Write(b[:8])
	h.Write(e.blocks)
	d.n++
	d.sum += h.Sum64()
}

// digestOf sums up the address entries as gives; of version 1 (not summarized: no block
// lists, and no entries of ARP flows alone) unless summarized.
func digestOf(srcid uint32, segid uint64, as addrSet, summarized bool) addrDigest {
	var d addrDigest
	for addr, st := range as {
		if !summarized && st.records == 0 {
			continue
		}
		e := addrEntry{addr: addr, srcid: srcid, segid: segid, records: st.records, first: st.first, last: st.last}
		if summarized {
			e.blocks = st.blocks
		}
		d.add(e)
	}
	return d
}

// verifyAddrs reads the whole address index (so a damaged table under it is found) and
// compares each sealed segment's entries with want, from its records.
func (a *Archive) verifyAddrs(want map[uint64]addrDigest, segs []segment) ([]string, error) {
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'a'}, UpperBound: []byte{'b'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var diffs []string
	got := map[uint64]addrDigest{}
	for it.First(); it.Valid(); it.Next() {
		e, err := parseAddrEntry(it.Key(), it.Value())
		if err != nil {
			diffs = append(diffs, "address index: "+err.Error())
			continue
		}
		d := got[e.segid]
		d.add(e)
		got[e.segid] = d
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	paths := map[uint64]string{}
	for _, s := range segs {
		paths[s.id] = s.path
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("address index: %d entries of segment %d, which is not a sealed segment of the archive", g.n, id))
		}
	}
	for id, w := range want {
		if g := got[id]; g != w {
			diffs = append(diffs, fmt.Sprintf("address index of segment %s: %d entries, its records give %d (or other values)", paths[id], g.n, w.n))
		}
	}
	return diffs, nil
}
