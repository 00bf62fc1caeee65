package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

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
// Write only encodes the record into its segment's pending block and notes its
// addresses and summary; the rest runs behind it on other goroutines (pipeline.go):
// blocks are compressed there (several at once on several cores), and one goroutine
// does every file and index operation in the order Write and Flush asked for them, as
// the writer did them itself before: create a segment, write, fsync and index its
// blocks, seal it. That goroutine writes the blocks that are ready together, fsyncs each
// file once and indexes them in one Pebble batch. Flush and Close wait for it, so what
// they return is what the disk holds.
//
// The first error (a full disk, typically) stops the writer: every later call returns
// it (a Write may return nil after the error happened behind it, but no Flush does), and
// Close closes the files without sealing anything. Writing more to a disk that failed a
// write would at best fail again and at worst meet Pebble's fatal path halfway through
// sealing; the next Open recovers the unsealed segments from their complete blocks. A
// Writer is not safe for concurrent use.
type Writer struct {
	a          *Archive
	span       int64
	blockBytes int
	open       map[spanKey]*openSegment
	tick       uint64
	retain     Retention
	err        error // the first error; the writer stopped there (the caller's)
	future     futureCount
	p          *pipeline // started by the first operation that needs it; nil after Close

	// Write copies records into batch, and the front goroutine (front) encodes them;
	// failure is the pipeline's first error, for Write to see.
	batch   []record.Record
	fe      *front
	failure atomic.Pointer[error]

	// The pipeline's own: snapshots are published from its goroutine.
	lastSnap  time.Time
	snapStale bool // the index changed since the last snapshot
}

// WriterStats are a writer's counters, for the exit summary of the commands that write
// archives.
type WriterStats struct {
	// Future counts the records stamped more than FutureTolerance after the clock: they
	// are stored as they came, and retention does not measure age from them.
	Future uint64
}

// Stats returns the writer's counters; call it after Flush or Close.
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

// openSegment is a segment being written. The first group of fields belongs to Write
// (the caller's goroutine), the second to the pipeline's goroutine, which sets them when
// it creates the segment: Write never reads them, and a test reads them only after a
// Flush.
type openSegment struct {
	raw     []byte    // records of the pending block
	info    BlockInfo // of the pending block: Records, MinStart, MaxLast
	lastUse uint64
	addrs   addrSet      // for the address index, written when the segment is sealed; its block "offsets" are block numbers until then (remapBlocks)
	sum     blockSummary // of the pending block
	blocks  int64        // blocks handed to the pipeline: the number of the pending one

	seg  segment
	f    *os.File
	off  int64   // where the next block goes
	offs []int64 // offset of each block written, by number
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

// Write adds a record. It keeps a copy of r (r may be reused at once) for the writer's
// front goroutine, which encodes it.
func (w *Writer) Write(r *record.Record) error {
	if w.err != nil {
		return w.err
	}
	if w.batch == nil {
		w.batch = w.front().batchBuf()
	}
	w.batch = append(w.batch, *r)
	if r.Man != nil { // decoders reuse theirs
		m := *r.Man
		w.batch[len(w.batch)-1].Man = &m
	}
	if len(w.batch) == cap(w.batch) {
		w.fe.in <- frontMsg{recs: w.batch}
		w.batch = nil
	}
	return w.stop(nil)
}

// stop records err as the error that stopped the writer, and returns it. With err nil,
// it checks that the pipeline met no error and Pebble no fatal error (a commit that
// failed is reported only to the logger, and the commit call returns nil): if either
// did, that stops the writer, and the records since the last Flush are not
// acknowledged.
func (w *Writer) stop(err error) error {
	if err == nil {
		if e := w.failure.Load(); e != nil {
			err = *e
		}
	}
	if err == nil {
		err = w.a.fatal.err()
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return err
}

// The front goroutine: Write hands it records in batches, and it does what Write did
// itself before (a record's segment, its encoding, addresses and summary), so that the
// caller's goroutine (a relay decoding NATS messages) spends only a copy per record.
// Flush and Close go through it too, after the records sent before them.
type front struct {
	in   chan frontMsg
	free chan []record.Record
}

// frontMsg is records to write, or one of Flush, Close and settle (tests), each with
// the channel its answer goes to.
type frontMsg struct {
	recs   []record.Record
	flush  chan error
	close  chan error
	failed bool // close: the writer stopped on an error; close the files only
	wait   chan error
}

const (
	frontBatch   = 256 // records per batch
	frontBatches = 4   // batches queued for the front goroutine
)

func (w *Writer) front() *front {
	if w.fe == nil {
		w.fe = &front{in: make(chan frontMsg, frontBatches), free: make(chan []record.Record, frontBatches+2)}
		go w.runFront(w.fe)
	}
	return w.fe
}

func (f *front) batchBuf() []record.Record {
	select {
	case b := <-f.free:
		return b
	default:
		return make([]record.Record, 0, frontBatch)
	}
}

// send hands the pending records, then m, to the front goroutine and waits for the
// answer on ch.
func (w *Writer) send(m frontMsg, ch chan error) error {
	f := w.front()
	if len(w.batch) > 0 {
		f.in <- frontMsg{recs: w.batch}
	}
	w.batch = nil
	f.in <- m
	return <-ch
}

func (w *Writer) runFront(f *front) {
	for m := range f.in {
		switch {
		case m.recs != nil:
			for i := range m.recs {
				w.write(&m.recs[i])
				m.recs[i].Man = nil // the copy Write made: let it go
			}
			select {
			case f.free <- m.recs[:0]:
			default:
			}
		case m.flush != nil:
			m.flush <- w.flush()
		case m.wait != nil:
			var err error
			if w.p != nil {
				o := &op{kind: opWait, done: make(chan error, 1)}
				w.p.send(o)
				err = <-o.done
			}
			m.wait <- err
		case m.close != nil:
			m.close <- w.close(m.failed)
			return
		}
	}
}

// write adds a record (the front goroutine's).
func (w *Writer) write(r *record.Record) {
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
		w.makeRoom(k)
		s = w.create(k.srcid, k.span)
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
	s.addrs.add(r, s.blocks) // the block number; the pipeline knows its offset
	s.sum.add(r)
	if len(s.raw) >= w.blockBytes {
		w.flushBlock(s)
	}
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
		w.logf("archive: a record of source id %d is stamped %s, more than %v after the clock: stored and counted; retention does not measure age from it",
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
	w.logf("archive: %d records stamped more than %v in the future (the first: source id %d, %s): stored; retention did not measure age from them",
		w.future.n, FutureTolerance, w.future.firstSrc, time.Unix(0, w.future.first).UTC().Format("2006-01-02 15:04:05"))
}

// logf logs through the pipeline when it runs: the archive's logger then hears from one
// goroutine, as it did when the writer did everything itself.
func (w *Writer) logf(format string, args ...any) {
	if w.p == nil {
		w.a.logf(format, args...)
		return
	}
	w.p.send(&op{kind: opLog, msg: fmt.Sprintf(format, args...)})
}

// makeRoom seals what a new segment for k makes old: the source's segments more than
// one span before k, and the least recently written if too many are open.
func (w *Writer) makeRoom(k spanKey) {
	for ok, s := range w.open {
		if ok.srcid == k.srcid && ok.span < k.span-w.span {
			w.seal(s)
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
		w.seal(os)
		delete(w.open, oldest)
	}
}

// create starts a segment for srcid and the span starting at span: the pipeline
// creates its file and index entry (pipeline.create).
func (w *Writer) create(srcid uint32, span int64) *openSegment {
	s := &openSegment{seg: segment{srcid: srcid, span: span, summarized: true}, addrs: addrSet{}, raw: w.pipe().rawBuf(w.blockBytes)}
	w.p.send(&op{kind: opCreate, s: s})
	return s
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

// flushBlock hands the pending records of s to the pipeline, which compresses them into
// a block, writes and fsyncs it, then indexes it.
func (w *Writer) flushBlock(s *openSegment) {
	if s.info.Records == 0 {
		return
	}
	p := w.pipe()
	o := &op{kind: opBlock, s: s, raw: s.raw, info: s.info, sum: s.sum, num: s.blocks, ready: make(chan struct{})}
	p.send(o)
	s.raw = p.rawBuf(w.blockBytes)
	s.info = BlockInfo{}
	s.sum = blockSummary{}
	s.blocks++
}

// seal flushes a segment and has the pipeline publish it under its final name and mark
// it sealed.
func (w *Writer) seal(s *openSegment) {
	w.flushBlock(s)
	w.p.rawFree(s.raw)
	s.raw = nil
	w.pipe().send(&op{kind: opSeal, s: s, retain: w.retain})
}

// Flush writes every pending block (the open segments stay open) and syncs the index:
// when it returns nil, every record written so far is acknowledged.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	ch := make(chan error, 1)
	return w.stop(w.send(frontMsg{flush: ch}, ch))
}

// flush is Flush on the front goroutine.
func (w *Writer) flush() error {
	for _, s := range w.open {
		w.flushBlock(s)
	}
	// The pipeline commits blocks without syncing the index; the sync it does for this
	// makes their index entries durable, so that a reader that does not recover (index
	// verify, read -R) finds every acknowledged record even if the writer stops for good
	// next.
	return w.pipe().sync()
}

// Close seals every open segment. Snapshots for readers stay (a query may be reading
// one); with no writer, new readers open the index itself, and the next writer prunes
// them. After an error Close only closes the files and returns that error: the next
// Open seals what was left open.
func (w *Writer) Close() error {
	if w.fe != nil {
		ch := make(chan error, 1)
		failed := w.stop(nil) != nil
		if failed {
			w.batch = nil
		}
		w.stop(w.send(frontMsg{close: ch, failed: failed}, ch))
		w.fe = nil
	}
	return w.err
}

// close is Close on the front goroutine; failed: the writer stopped on an error.
func (w *Writer) close(failed bool) error {
	w.reportFuture()
	if !failed {
		for id, s := range w.open {
			w.seal(s)
			delete(w.open, id)
		}
	}
	var err error
	if w.p != nil {
		err = w.p.close()
		w.p = nil
	}
	if err != nil || failed {
		for id, s := range w.open {
			if s.f != nil {
				s.f.Close()
			}
			delete(w.open, id)
		}
	}
	return err
}

// pipe returns the writer's pipeline, started if need be.
func (w *Writer) pipe() *pipeline {
	if w.p == nil {
		w.p = startPipeline(w)
	}
	return w.p
}

// maybeSnapshot publishes a snapshot of the index for readers when it changed since
// the last one and that one is snapshotEvery old. Flush has it run too, so that the
// blocks written last before the writes stop reach the readers within snapshotEvery
// of a Flush (a relay that has replayed its files and idles, answering fleet queries),
// not only when the next block is written. The pipeline's goroutine calls it.
func (w *Writer) maybeSnapshot() error {
	if w.snapStale && time.Since(w.lastSnap) >= snapshotEvery {
		w.lastSnap, w.snapStale = time.Now(), false
		return w.a.publishSnapshot()
	}
	return nil
}

// segmentName is the name of a new segment's file (tmpPath of it while open).
func segmentName(srcid uint32, span int64, id uint64) string {
	rel := segmentPath(srcid, span)
	return rel[:len(rel)-len(".seg")] + fmt.Sprintf("-%d.seg", id) // unique when two imports share a source id and span
}

// segmentFinal is the path of a segment's file once sealed.
func segmentFinal(a *Archive, s *openSegment) string { return filepath.Join(a.dir, s.seg.path) }
