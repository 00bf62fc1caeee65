package index

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// The writer's pipeline. Write (the caller's goroutine) encodes records into the
// pending block of their segment and hands full blocks on; what a block costs after
// that, compression above all, runs on other cores:
//
//	Write ──ops──────────────────────────────────────────▶ committer (one goroutine)
//	   └──blocks──▶ compressors (one per core, up to 4) ──▶ (block ready)
//
// The committer takes the operations in the order Write and Flush sent them (create a
// segment, write a block, seal a segment, sync), so the archive goes through the same
// states as when the writer did them itself: a segment's index entry before its file,
// a block written and fsynced before it is indexed, every block of a segment before it
// is sealed, and every block of a Flush indexed and synced before the Flush returns.
// Blocks that are ready together are written together: each file fsynced once, and
// their index entries committed in one Pebble batch. The channels are bounded, so a
// writer faster than its disk waits in Write instead of holding more in memory.

// Bounds of the pipeline: operations queued for the committer (blocks among them, each
// up to a block of compressed records), and blocks written per group.
const (
	pipelineOps = 32
	maxGroup    = 16
)

// compressors is how many blocks are compressed at once: one per core, but only as many
// as the shared zstd encoder has (segment.go).
var compressors = min(runtime.GOMAXPROCS(0), 4)

type opKind uint8

const (
	opCreate opKind = iota // create s's file and index entry
	opBlock                // compress raw, write it to s, fsync, index it
	opSeal                 // publish s under its final name, index its addresses, mark it sealed
	opSync                 // sync the index; reply on done
	opWait                 // reply on done: for tests, to look at what the pipeline did
	opLog                  // log msg: the writer's notes go out from one goroutine, in order with the pipeline's
)

// op is one operation for the pipeline.
type op struct {
	kind opKind
	s    *openSegment

	// opBlock
	raw   []byte    // the records, until compressed
	info  BlockInfo // Records, MinStart, MaxLast; Length from compression, Offset from the committer
	sum   blockSummary
	num   int64         // the block's number in its segment
	z     []byte        // the block, compressed, once ready is closed
	ready chan struct{} // closed by the compressor

	retain Retention  // opSeal: applied after sealing
	done   chan error // opSync, opWait
	msg    string     // opLog
}

type pipeline struct {
	w      *Writer
	a      *Archive
	ops    chan *op    // every operation, in order, to the committer
	blocks chan *op    // the opBlock among them, to the compressors
	raws   chan []byte // free buffers for the records of a block
	zs     chan []byte // free buffers for compressed blocks
	end    chan struct{}
	zwg    sync.WaitGroup

	// The committer's own.
	err  error           // the first error; operations after it are dropped
	live map[uint64]bool // segments created and not sealed: retention spares them
}

func startPipeline(w *Writer) *pipeline {
	p := &pipeline{w: w, a: w.a, ops: make(chan *op, pipelineOps), blocks: make(chan *op, compressors),
		raws: make(chan []byte, pipelineOps), zs: make(chan []byte, pipelineOps), end: make(chan struct{}), live: map[uint64]bool{}}
	p.zwg.Add(compressors)
	for range compressors {
		go p.compress()
	}
	go p.commit()
	return p
}

// send queues an operation.
func (p *pipeline) send(o *op) {
	if o.kind == opBlock {
		p.blocks <- o
	}
	p.ops <- o
}

// sync waits for every operation sent before it and syncs the index; it returns the
// pipeline's error, if any.
func (p *pipeline) sync() error {
	o := &op{kind: opSync, done: make(chan error, 1)}
	p.send(o)
	return <-o.done
}

// close waits for every operation sent, stops the pipeline and returns its error.
func (p *pipeline) close() error {
	close(p.blocks)
	close(p.ops)
	<-p.end
	p.zwg.Wait()
	return p.err
}

// rawBuf returns an empty buffer for a block's records.
func (p *pipeline) rawBuf(blockBytes int) []byte {
	select {
	case b := <-p.raws:
		return b
	default:
		return make([]byte, 0, blockBytes+blockBytes/8)
	}
}

func (p *pipeline) rawFree(b []byte) {
	if b == nil {
		return
	}
	select {
	case p.raws <- b[:0]:
	default:
	}
}

func (p *pipeline) compress() {
	defer p.zwg.Done()
	var c columnar
	for o := range p.blocks {
		var z []byte
		select {
		case z = <-p.zs:
		default:
		}
		raw := o.raw
		var split *[record.SplitParts - 1]int
		if cols, ends, ok := c.transpose(raw); ok {
			raw, split, o.info.Columns = cols, &ends, true
		}
		o.z = appendBlock(z, raw, split, &o.info)
		p.rawFree(o.raw)
		o.raw = nil
		close(o.ready)
	}
}

// commit runs the operations in order until the pipeline is closed.
func (p *pipeline) commit() {
	defer close(p.end)
	group := make([]*op, 0, maxGroup)
	var next *op
	for {
		o := next
		next = nil
		if o == nil {
			var ok bool
			if o, ok = <-p.ops; !ok {
				return
			}
		}
		if o.kind != opBlock {
			p.run(o)
			continue
		}
		// The blocks queued behind this one go with it, up to the next other operation.
		group = append(group[:0], o)
	gather:
		for len(group) < maxGroup {
			select {
			case n, ok := <-p.ops:
				if !ok {
					break gather
				}
				if n.kind != opBlock {
					next = n
					break gather
				}
				group = append(group, n)
			default:
				break gather
			}
		}
		for _, b := range group {
			<-b.ready
		}
		if p.err == nil {
			p.check(p.writeBlocks(group))
		}
		for i, b := range group {
			select {
			case p.zs <- b.z[:0]:
			default:
			}
			group[i] = nil
		}
	}
}

// check notes err, or a fatal error Pebble met, as the error that stops the pipeline.
func (p *pipeline) check(err error) {
	if err == nil {
		err = p.a.fatal.err()
	}
	if err != nil && p.err == nil {
		p.err = err
		p.w.failure.Store(&err) // for Write to see
	}
}

// run does an operation other than writing blocks. After an error it only closes what a
// sealing would have closed, and answers syncs with the error.
func (p *pipeline) run(o *op) {
	if o.kind == opLog {
		p.a.logf("%s", o.msg)
		return
	}
	if p.err != nil {
		switch o.kind {
		case opSeal:
			if o.s.f != nil {
				o.s.f.Close()
			}
		case opSync, opWait:
			o.done <- p.err
		}
		return
	}
	switch o.kind {
	case opWait:
		o.done <- nil
	case opCreate:
		p.check(p.create(o.s))
	case opSeal:
		p.check(p.seal(o.s, o.retain))
	case opSync:
		// Blocks are committed without syncing the index; one sync here makes their
		// entries durable, so that a reader that does not recover (index verify, read
		// -R) finds every acknowledged record even if the writer stops for good next.
		err := p.a.db.LogData(nil, pebble.Sync)
		if err != nil {
			err = fmt.Errorf("archive %s: syncing the index: %w", p.a.dir, err)
		} else {
			err = p.w.maybeSnapshot()
		}
		p.check(err)
		o.done <- p.err
	}
}

// create makes s's file and its index entry.
func (p *pipeline) create(s *openSegment) error {
	a := p.a
	batch := a.db.NewBatch()
	defer batch.Close()
	id, err := a.nextSegmentID(batch)
	if err != nil {
		return fmt.Errorf("archive %s: %w", a.dir, err)
	}
	rel := segmentName(s.seg.srcid, s.seg.span, id)
	tmp := filepath.Join(a.dir, tmpPath(rel))
	s.seg.id, s.seg.path = id, rel
	// The index entry comes first: recovery then finds every segment file through the
	// index (an entry whose file was never created is forgotten). It goes in one synced
	// batch with the id counter.
	if err := batch.Set(segKey(id), encodeSegment(&s.seg), nil); err != nil {
		return err
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return err
	}
	f, err := a.openFile(tmpPath(rel), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	hdr := appendSegmentHeader(nil, s.seg.srcid, s.seg.span)
	_, err = f.Write(hdr)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		// A segment without its whole header holds nothing: remove it (which frees the
		// space it took), and its index entry, left unsealed and without a file, is
		// forgotten by the next open.
		f.Close()
		a.removeFile(tmpPath(rel))
		return fmt.Errorf("archive: writing the header of %s: %w", tmp, bareErr(err))
	}
	s.f, s.off = f, int64(len(hdr))
	p.live[id] = true
	return nil
}

// writeBlocks writes a group of compressed blocks, fsyncs their files, then indexes
// them in one batch.
func (p *pipeline) writeBlocks(group []*op) error {
	for _, o := range group {
		s := o.s
		if int64(len(s.offs)) != o.num {
			return fmt.Errorf("archive: block %d of %s comes after %d blocks (a writer bug)", o.num, s.f.Name(), len(s.offs))
		}
		o.info.Offset = s.off
		if _, err := s.f.WriteAt(o.z, s.off); err != nil {
			// The block may be partly written: truncate it away so the segment ends with
			// complete blocks, and report the failure (a full disk, typically). The
			// group's blocks before it are complete: the next open indexes them.
			s.f.Truncate(s.off)
			return fmt.Errorf("archive: writing a block to %s at byte %d: %w", s.f.Name(), s.off, bareErr(err))
		}
		s.offs = append(s.offs, s.off)
		s.off += o.info.Length
	}
	for i, o := range group {
		if firstOf(group, i) != i {
			continue // synced with its segment's first block of the group
		}
		if err := o.s.f.Sync(); err != nil {
			o.s.f.Truncate(o.info.Offset)
			return fmt.Errorf("archive: syncing %s: %w", o.s.f.Name(), bareErr(err))
		}
	}
	batch := p.a.db.NewBatch()
	defer batch.Close()
	for _, o := range group {
		if err := indexBlock(batch, o.s.seg.id, &o.info, &o.sum); err != nil {
			return err
		}
	}
	// No sync here: the blocks themselves are on disk, and if their index entries are
	// lost in a crash, recovery re-indexes the unsealed segments from their blocks. The
	// sealing commit syncs (and with it everything before it in Pebble's log), and so
	// does Flush.
	if err := batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("archive: indexing a block of %s: %w", group[0].s.f.Name(), err)
	}
	p.w.snapStale = true
	return p.w.maybeSnapshot()
}

// firstOf returns the index of the first block of group in the same segment as group[i].
func firstOf(group []*op, i int) int {
	for j := range i {
		if group[j].s == group[i].s {
			return j
		}
	}
	return i
}

// seal publishes a segment whose blocks are all written under its final name, indexes
// its addresses and marks it sealed, then applies retention.
func (p *pipeline) seal(s *openSegment, retain Retention) error {
	a := p.a
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("archive: closing %s: %w", s.f.Name(), bareErr(err))
	}
	final := segmentFinal(a, s)
	if err := a.renameFile(tmpPath(s.seg.path), s.seg.path); err != nil {
		return fmt.Errorf("archive: publishing %s: %w", final, bareErr(err))
	}
	s.seg.sealed = true
	if err := remapBlocks(s.addrs, s.offs); err != nil {
		return fmt.Errorf("archive: indexing %s: %w", final, err)
	}
	batch := a.db.NewBatch()
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
	p.w.snapStale = true
	// The segment just sealed is spared too, as it was when the writer sealed in line.
	err := a.applyRetention(retain, p.live)
	delete(p.live, s.seg.id)
	return err
}

// remapBlocks turns the block lists of a segment's addresses from block numbers (what
// Write knows) into the blocks' offsets (what the index stores, hosts.go), given the
// offset of each block by number.
func remapBlocks(as addrSet, offs []int64) error {
	var buf []byte
	for _, st := range as {
		buf = buf[:0]
		num, prev := int64(0), int64(-1)
		for i := 0; i < len(st.blocks); {
			d, n := binary.Uvarint(st.blocks[i:])
			if n <= 0 {
				return fmt.Errorf("block list does not decode at byte %d (a writer bug)", i)
			}
			i += n
			num += int64(d)
			if num < 0 || num >= int64(len(offs)) {
				return fmt.Errorf("block %d of %d in a block list (a writer bug)", num, len(offs))
			}
			off := offs[num]
			if prev < 0 {
				buf = binary.AppendUvarint(buf, uint64(off))
			} else {
				buf = binary.AppendUvarint(buf, uint64(off-prev))
			}
			prev = off
		}
		st.blocks = append(st.blocks[:0], buf...)
		st.lastBlock = prev
	}
	return nil
}

// columnar lays a block's records out in columns (record.AppendColumns), on a
// compressor: the writer's front goroutine appends each record to the block as it comes
// (record.AppendRecord), and the compressors, which run on every core, transpose the
// finished block, and split its columns into parts (record.SplitColumns). The records
// are put in the order of an ordered query (start time, source, sequence: keyCmp)
// first: a query's workers then find each block sorted instead of sorting it
// (sortKeys; the sort was 7 % of a cluster's CPU), and the start times' deltas are
// small. Its buffers are kept from block to block.
type columnar struct {
	recs   []record.Record
	sorted []record.Record
	keys   []recKey
	tmp    []recKey
	cols   []byte
	split  []byte
}

// transpose returns the columns of the length-prefixed records in rows, split (and the
// ends of the parts but the last), valid until the next call; false if rows do not
// decode (they were encoded by the writer just before: it does not happen, and the
// block is then written as rows, which readers also read).
func (c *columnar) transpose(rows []byte) ([]byte, [record.SplitParts - 1]int, bool) {
	n := 0
	for p := 0; p < len(rows); n++ {
		l, k := binary.Uvarint(rows[p:])
		if k <= 0 || l == 0 || uint64(len(rows)-p-k) < l {
			return nil, [record.SplitParts - 1]int{}, false
		}
		if n == len(c.recs) {
			c.recs = append(c.recs, record.Record{})
			c.recs = c.recs[:cap(c.recs)]
		}
		if record.DecodeRecord(rows[p+k:p+k+int(l)], &c.recs[n], nil) != nil {
			return nil, [record.SplitParts - 1]int{}, false
		}
		p += k + int(l)
	}
	c.cols = record.AppendColumns(c.cols[:0], c.inOrder(c.recs[:n]))
	split, ends, err := record.SplitColumns(c.split[:0], c.cols)
	if err != nil {
		return nil, ends, false
	}
	c.split = split
	return split, ends, true
}

// inOrder returns recs in the order of keyCmp: recs itself if they are in it, else a
// copy in it (c.sorted).
func (c *columnar) inOrder(recs []record.Record) []record.Record {
	var sorted bool
	c.keys, c.tmp, sorted = orderKeys(recs, c.keys, c.tmp)
	if sorted {
		return recs
	}
	c.sorted = slices.Grow(c.sorted[:0], len(recs))[:len(recs)]
	for i, k := range c.keys {
		c.sorted[i] = recs[k.i]
	}
	return c.sorted
}
