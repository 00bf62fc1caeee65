package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// Writer appends records to an archive, into segments by source id and time span: a
// record goes to the segment of its source whose span holds its start time. A segment
// stays open while records for its span may still come (the span before the newest one
// is kept open for late records; a source's older spans are sealed), and at most
// maxOpen segments are open at once (the least recently written is sealed first): a
// record for a span already sealed starts another segment for that span.
//
// A block is written, fsynced, and only then indexed: a record that Write accepted is in
// the archive once the block holding it is flushed (at 256 KiB of records, when its
// segment is sealed, and on Flush and Close); a Flush that returns nil acknowledges every
// record written before it, and its blocks are then in the index too, so a reader that
// does not recover the archive (`index verify`, `read -R`) sees them.
//
// The first error (a full disk, typically) stops the writer: every later call returns
// it, and Close closes the files without sealing anything. Writing more to a disk that
// failed a write would at best fail again and at worst meet Pebble's fatal path halfway
// through sealing; the next Open recovers the unsealed segments from their complete
// blocks. A Writer is not safe for concurrent use.
type Writer struct {
	a          *Archive
	span       int64
	blockBytes int
	open       map[spanKey]*openSegment
	tick       uint64
	retain     Retention
	lastSnap   time.Time
	snapStale  bool  // the index changed since the last snapshot
	err        error // the first error; the writer stopped there
	future     futureCount
}

// WriterStats are a writer's counters, for the exit summary of the commands that write
// archives.
type WriterStats struct {
	// Future counts the records stamped more than FutureTolerance after the clock: they
	// are stored as they came, and retention does not measure age from them.
	Future uint64
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats { return WriterStats{Future: w.future.n} }

// futureCount counts the records stamped in the future and remembers the first.
type futureCount struct {
	n        uint64
	seen     uint64 // records written
	limit    int64  // the clock plus FutureTolerance when last read; records up to it pass without reading the clock
	first    int64
	firstSrc uint32
	reported bool
}

type spanKey struct {
	srcid uint32
	span  int64
}

const maxOpen = 8

type openSegment struct {
	seg     segment
	f       *os.File
	off     int64
	raw     []byte
	info    BlockInfo
	buf     []byte
	lastUse uint64
	addrs   addrSet      // for the address index, written when the segment is sealed
	sum     blockSummary // of the pending block
}

// DefaultSpan is the time a segment covers, as Argus's `rasplit -M time 5m`.
const DefaultSpan = 5 * time.Minute

// NewWriter returns a writer that splits segments every span (0: DefaultSpan).
func (a *Archive) NewWriter(span time.Duration) *Writer {
	if span <= 0 {
		span = DefaultSpan
	}
	// snapStale: the snapshots an earlier writer left predate its sealing commits (and
	// this open's recovery), so the first Flush publishes one even if nothing is written.
	return &Writer{a: a, span: int64(span), blockBytes: 256 << 10, open: map[spanKey]*openSegment{}, snapStale: true}
}

func (w *Writer) spanOf(t int64) int64 {
	span := t - t%w.span
	if t < 0 && t%w.span != 0 {
		span -= w.span
	}
	return span
}

// Write adds a record.
func (w *Writer) Write(r *record.Record) error {
	if w.err != nil {
		return w.err
	}
	return w.stop(w.write(r))
}

// stop records err as the error that stopped the writer, and returns it. With err nil,
// it checks that Pebble met no fatal error in the operation (a commit that failed is
// reported only to the logger, and the commit call returns nil): if it did, that stops
// the writer, and the records since the last Flush are not acknowledged.
func (w *Writer) stop(err error) error {
	if err == nil {
		err = w.a.fatal.err()
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return err
}

func (w *Writer) write(r *record.Record) error {
	w.future.seen++
	// The clock is read again every 4096 records, so that the limit follows a step
	// of the clock back.
	future := false
	if t := max(r.StartTime, r.LastTime); t > w.future.limit || w.future.seen%4096 == 0 {
		future = w.checkFuture(r.SrcID, t)
	}
	k := spanKey{r.SrcID, w.spanOf(r.StartTime)}
	s := w.open[k]
	if s == nil {
		if err := w.makeRoom(k); err != nil {
			return err
		}
		var err error
		if s, err = w.create(k.srcid, k.span); err != nil {
			return err
		}
		w.open[k] = s
	}
	w.tick++
	s.lastUse = w.tick
	if s.info.Records == 0 || r.StartTime < s.info.MinStart {
		s.info.MinStart = r.StartTime
	}
	if s.info.Records == 0 || r.LastTime > s.info.MaxLast {
		s.info.MaxLast = r.LastTime
	}
	s.info.Records++
	switch {
	case future: // stored flagged, on a copy: the caller's record may go on elsewhere
		c := *r
		c.Flags |= record.FlagFuture
		s.raw = record.AppendRecord(s.raw, &c)
	case r.Man != nil && w.future.n > 0:
		// A management record carries the writer's count of them, whoever made it.
		c, m := *r, *r.Man
		m.Future = w.future.n
		c.Man = &m
		s.raw = record.AppendRecord(s.raw, &c)
	default:
		s.raw = record.AppendRecord(s.raw, r)
	}
	s.addrs.add(r, s.off) // the pending block goes at s.off
	s.sum.add(r)
	if len(s.raw) >= w.blockBytes {
		return w.flushBlock(s)
	}
	return nil
}

// checkFuture counts a record stamped at t if t is more than FutureTolerance after the
// clock, logs the first such record, and says whether it was one.
func (w *Writer) checkFuture(srcid uint32, t int64) bool {
	w.future.limit = w.a.now() + int64(FutureTolerance)
	if t <= w.future.limit {
		return false
	}
	w.future.n++
	if w.future.n == 1 {
		w.future.first, w.future.firstSrc = t, srcid
		w.a.logf("archive: a record of source id %d is stamped %s, more than %v after the clock: stored and counted; retention does not measure age from it",
			srcid, time.Unix(0, t).UTC().Format("2006-01-02 15:04:05"), FutureTolerance)
	}
	return true
}

// reportFuture logs, once, how many records were stamped in the future.
func (w *Writer) reportFuture() {
	if w.future.n == 0 || w.future.reported {
		return
	}
	w.future.reported = true
	w.a.logf("archive: %d records stamped more than %v in the future (the first: source id %d, %s): stored; retention did not measure age from them",
		w.future.n, FutureTolerance, w.future.firstSrc, time.Unix(0, w.future.first).UTC().Format("2006-01-02 15:04:05"))
}

// makeRoom seals what a new segment for k makes old: the source's segments more than
// one span before k, and the least recently written if too many are open.
func (w *Writer) makeRoom(k spanKey) error {
	for ok, s := range w.open {
		if ok.srcid == k.srcid && ok.span < k.span-w.span {
			if err := w.seal(s); err != nil {
				return err
			}
			delete(w.open, ok)
		}
	}
	for len(w.open) >= maxOpen {
		var oldest spanKey
		var os *openSegment
		for ok, s := range w.open {
			if os == nil || s.lastUse < os.lastUse {
				oldest, os = ok, s
			}
		}
		if err := w.seal(os); err != nil {
			return err
		}
		delete(w.open, oldest)
	}
	return nil
}

// create starts a segment for srcid and the span starting at span.
func (w *Writer) create(srcid uint32, span int64) (*openSegment, error) {
	id, err := w.a.nextSegmentID()
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", w.a.dir, err)
	}
	rel := segmentPath(srcid, span)
	rel = rel[:len(rel)-len(".seg")] + fmt.Sprintf("-%d.seg", id) // unique when two imports share a source id and span
	tmp := filepath.Join(w.a.dir, tmpPath(rel))
	// The index entry comes first: recovery then finds every segment file through the
	// index (an entry whose file was never created is forgotten).
	s := &openSegment{seg: segment{id: id, srcid: srcid, span: span, summarized: true, path: rel}, addrs: addrSet{}}
	if err := w.a.db.Set(segKey(id), encodeSegment(&s.seg), pebble.Sync); err != nil {
		return nil, err
	}
	f, err := w.a.openFile(tmpPath(rel), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	hdr := appendSegmentHeader(nil, srcid, span)
	_, err = f.Write(hdr)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		// A segment without its whole header holds nothing: remove it (which frees the
		// space it took), and its index entry, left unsealed and without a file, is
		// forgotten by the next open.
		f.Close()
		w.a.removeFile(tmpPath(rel))
		return nil, fmt.Errorf("archive: writing the header of %s: %w", tmp, bareErr(err))
	}
	s.f, s.off = f, int64(len(hdr))
	return s, nil
}

// bareErr drops the operation and path from a file error whose message names the file
// already ("write /a/b: no space left on device" becomes "no space left on device"); it
// still matches the same errors.Is targets.
func bareErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// flushBlock compresses the pending records into a block, writes and fsyncs it, then
// indexes it.
func (w *Writer) flushBlock(s *openSegment) error {
	if s.info.Records == 0 {
		return nil
	}
	s.info.Offset = s.off
	s.buf = appendBlock(s.buf[:0], s.raw, &s.info)
	if _, err := s.f.WriteAt(s.buf, s.off); err != nil {
		// The block may be partly written: truncate it away so the segment ends with
		// complete blocks, and report the failure (a full disk, typically).
		s.f.Truncate(s.off)
		return fmt.Errorf("archive: writing a block to %s at byte %d: %w", s.f.Name(), s.off, bareErr(err))
	}
	if err := s.f.Sync(); err != nil {
		s.f.Truncate(s.off)
		return fmt.Errorf("archive: syncing %s: %w", s.f.Name(), bareErr(err))
	}
	batch := w.a.db.NewBatch()
	defer batch.Close()
	if err := indexBlock(batch, s.seg.id, &s.info, &s.sum); err != nil {
		return err
	}
	// No sync here: the block itself is on disk, and if the index entry is lost in a
	// crash, recovery re-indexes the unsealed segment from its blocks. The sealing
	// commit syncs (and with it everything before it in Pebble's log).
	if err := batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("archive: indexing a block of %s: %w", s.f.Name(), err)
	}
	s.off += s.info.Length
	s.raw = s.raw[:0]
	s.info = BlockInfo{}
	s.sum = blockSummary{}
	w.snapStale = true
	return w.maybeSnapshot()
}

// maybeSnapshot publishes a snapshot of the index for readers when it changed since
// the last one and that one is snapshotEvery old. Flush calls it too, so that the
// blocks written last before the writes stop reach the readers within snapshotEvery
// of a Flush (a relay that has replayed its files and idles, answering fleet queries),
// not only when the next block is written.
func (w *Writer) maybeSnapshot() error {
	if w.snapStale && time.Since(w.lastSnap) >= snapshotEvery {
		w.lastSnap, w.snapStale = time.Now(), false
		return w.a.publishSnapshot()
	}
	return nil
}

// seal flushes a segment, publishes it under its final name and marks it sealed.
func (w *Writer) seal(s *openSegment) error {
	if err := w.flushBlock(s); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("archive: closing %s: %w", s.f.Name(), bareErr(err))
	}
	final := filepath.Join(w.a.dir, s.seg.path)
	if err := w.a.renameFile(tmpPath(s.seg.path), s.seg.path); err != nil {
		return fmt.Errorf("archive: publishing %s: %w", final, bareErr(err))
	}
	s.seg.sealed = true
	batch := w.a.db.NewBatch()
	defer batch.Close()
	if err := indexAddrs(batch, s.seg.srcid, s.seg.id, s.addrs); err != nil {
		return err
	}
	if err := batch.Set(segKey(s.seg.id), encodeSegment(&s.seg), nil); err != nil {
		return err
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("archive: indexing %s: %w", final, err)
	}
	w.snapStale = true
	return w.a.applyRetention(w.retain, w.openIDs())
}

// Flush writes every pending block (the open segments stay open) and syncs the index:
// when it returns nil, every record written so far is acknowledged.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	for _, s := range w.open {
		if err := w.flushBlock(s); err != nil {
			return w.stop(err)
		}
	}
	// flushBlock commits without syncing; one sync here makes the blocks' index entries
	// durable, so that a reader that does not recover (index verify, read -R) finds every
	// acknowledged record even if the writer stops for good next.
	if err := w.a.db.LogData(nil, pebble.Sync); err != nil {
		return w.stop(fmt.Errorf("archive %s: syncing the index: %w", w.a.dir, err))
	}
	return w.stop(w.maybeSnapshot())
}

// Close seals every open segment. Snapshots for readers stay (a query may be reading
// one); with no writer, new readers open the index itself, and the next writer prunes
// them. After an error Close only closes the files and returns that error: the next
// Open seals what was left open.
func (w *Writer) Close() error {
	w.reportFuture()
	if w.err != nil {
		for id, s := range w.open {
			s.f.Close()
			delete(w.open, id)
		}
		return w.err
	}
	for id, s := range w.open {
		if err := w.seal(s); err != nil {
			w.stop(err)
			break
		}
		delete(w.open, id)
	}
	if w.stop(nil) != nil {
		return w.Close()
	}
	return nil
}
