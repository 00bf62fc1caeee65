package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"slices"
	"sync"

	"panoptes/record"
)

// Parallel block reads. A query's blocks go through three stages:
//
//	dispatcher (1 goroutine)      workers (GOMAXPROCS)              consumer (the caller's)
//	opens segments, preads   ->   check the payload checksum,  ->   takes the blocks in the
//	each block's bytes in         decompress, decode into the       dispatcher's order; merges
//	order of MinStart             batch's reused records, keep,     them by start time (ordered)
//	                              sort the kept by start time       or passes them as they are
//
// The dispatcher alone touches the segment files (segFiles is not shared), so a file is
// closed after its last block as before; the workers only see bytes. A batch (one
// block's records, its buffers) is reused once the consumer is done with its last
// record, so a query allocates a few batches and nothing per record or per block once
// they exist: a record given to fn is valid only until fn returns, as with stream reads
// (tools.scanDecoded). At most readAhead blocks are between the dispatcher and the
// consumer, which bounds memory next to the blocks the merge holds (those that overlap
// in time, as before).

// readAhead is how many blocks may be read and decoded ahead of the consumer: enough to
// keep every worker busy while the consumer works through a block.
func readAhead(workers int) int { return workers + 2 }

// recKey is what the merge compares: a record's start time, source and sequence number
// (the order of Query), and its index in its batch. Sorting and merging these small
// keys instead of the records keeps the comparisons in the cache.
type recKey struct {
	start int64
	src   uint32
	seq   uint32
	i     int32
}

func keyLess(a, b *recKey) bool {
	if a.start != b.start {
		return a.start < b.start
	}
	if a.src != b.src {
		return a.src < b.src
	}
	return a.seq < b.seq
}

func keyCmp(a, b recKey) int {
	switch {
	case a.start < b.start:
		return -1
	case a.start > b.start:
		return 1
	case a.src != b.src:
		return int(a.src) - int(b.src)
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}

// blockBatch is one block on its way through the stages, and the storage it is decoded
// into (kept from block to block).
type blockBatch struct {
	ref   blockRef
	name  string     // the segment file, for errors
	wire  *[256]int8 // the segment's field schema
	skip  bool       // the segment is gone (read-only archive): nothing to read
	fatal bool       // err ends the query (not damage)
	err   error      // reading or decoding failed: no records

	z       []byte               // the block as read: header and compressed payload
	raw     []byte               // the decompressed records
	recs    []record.Record      // decoded records; the first n were kept
	cdec    record.ColumnDecoder // decodes blocks of columns (its buffers kept)
	n       int
	keys    []recKey // with ordered, the kept records in start-time order
	tmpKeys []recKey // sortRecKeys' scratch
	pos     int      // the merge's position in keys (or recs, unordered)

	done chan struct{} // a worker finished the batch (capacity 1: reused)
}

// batchPool holds a query's batches that are not in use: the dispatcher takes them,
// the consumer gives them back. A query makes readAhead batches and one more for every
// block the merge holds at once, and no others; a pool per query (not a sync.Pool,
// which a garbage collection empties) keeps it so.
type batchPool struct {
	mu   sync.Mutex
	free []*blockBatch
}

func (p *batchPool) get() *blockBatch {
	p.mu.Lock()
	var b *blockBatch
	if n := len(p.free); n > 0 {
		b = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	if b == nil {
		return &blockBatch{done: make(chan struct{}, 1)}
	}
	b.ref, b.name, b.wire, b.skip, b.fatal, b.err = blockRef{}, "", nil, false, false, nil
	b.n, b.keys, b.pos = 0, b.keys[:0], 0
	return b
}

// put returns a batch the consumer is done with. Its records keep their Man pointers,
// reused by the next decode.
func (p *batchPool) put(b *blockBatch) {
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// QueryUnordered is Query for a caller that does not need the order of start time
// (a count, a sum): it calls fn with the same records, in no particular order (each
// block's records together, blocks roughly in time order). It saves sorting every
// block and merging them, and fn reads each block's records in the order they lie in
// memory. The record's lifetime and match's concurrency are as for Query.
func (a *Archive) QueryUnordered(t0, t1 int64, match func(*record.Record) bool, fn func(*record.Record) error) error {
	if err := a.fatal.err(); err != nil {
		return err
	}
	blocks, err := a.rangeBlocks(t0, t1)
	if err := a.failed(err); err != nil {
		return err
	}
	return a.readBlocksParallel(blocks, readSpec{keep: func(r *record.Record) bool {
		return r.StartTime <= t1 && r.LastTime >= t0 && (match == nil || match(r))
	}, fields: record.AllFields}, fn)
}

// keyFirstRatio: a block is decoded key first (readSpec.keyKeep) when fewer than one
// record in keyFirstRatio passes the key's test.
const keyFirstRatio = 8

// readSpec is what a parallel read keeps of the blocks' records, and how.
type readSpec struct {
	// needles (nil: none) are byte strings one of which every record keep accepts holds
	// in its encoding (recordNeedles): a block or record without any is passed over
	// undecoded.
	needles [][]byte
	// keep says which records are kept; it is called from several goroutines at once.
	keep func(*record.Record) bool
	// keyKeep (nil: none) is a test of the flow key alone that every record keep
	// accepts passes (a filter.FlowKeyOnly filter): a block of columns is decoded key
	// first, and the rest only for the records it passes (and of a split block, the
	// rest is decompressed only if one does).
	keyKeep func(*record.Record) bool
	// fields are the fields keep and fn read, beyond the flow key and times
	// (record.Fields): of blocks of columns, only those are decoded.
	fields record.Fields
	// ordered: the records are given in start-time order (else each block's together,
	// in no particular order).
	ordered bool
}

// readBlocksParallel is readBlocks (see its comment for the order and the damage
// handling), reading what spec says.
func (a *Archive) readBlocksParallel(blocks []blockRef, spec readSpec, fn func(*record.Record) error) error {
	ordered := spec.ordered
	sortBlocks(blocks)
	workers := max(1, runtime.GOMAXPROCS(0))
	ahead := readAhead(workers)
	queue := make(chan *blockBatch, ahead) // in block order, to the consumer
	work := make(chan *blockBatch, ahead)  // to the workers
	stop := make(chan struct{})
	pool := &batchPool{}
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for b := range work {
				decodeBatch(b, &spec)
				b.done <- struct{}{}
			}
		}()
	}
	go func() { // the dispatcher
		sf := newSegFiles(a, blocks)
		defer sf.closeAll()
		defer close(queue)
		defer close(work)
		for i, ref := range blocks {
			b := pool.get()
			b.ref = ref
			a.fetchBlock(sf, i, b)
			select {
			case queue <- b:
			case <-stop:
				pool.put(b)
				return
			}
			work <- b
			if b.fatal {
				return
			}
		}
	}()
	var m merger
	defer func() {
		close(stop)
		for b := range queue { // the dispatcher has stopped when queue is closed
			<-b.done
			pool.put(b)
		}
		wg.Wait()
		for _, b := range m.h {
			pool.put(b)
		}
	}()
	for b := range queue {
		if ordered {
			if err := m.emit(b.ref.info.MinStart, pool, fn); err != nil {
				<-b.done
				pool.put(b)
				return err
			}
		}
		<-b.done
		if b.err != nil {
			err := b.err
			if !b.fatal {
				err = a.damaged(b.name, b.ref, b.err)
			}
			pool.put(b)
			if err != nil {
				return err
			}
			continue
		}
		if !ordered {
			err := b.each(fn)
			pool.put(b)
			if err != nil {
				return err
			}
			continue
		}
		if len(b.keys) == 0 {
			pool.put(b)
			continue
		}
		m.push(b)
	}
	return m.emit(1<<63-1, pool, fn)
}

// each calls fn for the batch's kept records.
func (b *blockBatch) each(fn func(*record.Record) error) error {
	for i := range b.n {
		if err := fn(&b.recs[i]); err != nil {
			return err
		}
	}
	return nil
}

// fetchBlock opens block i's segment and reads the block's bytes into b.z: on the
// dispatcher, the one goroutine that touches the files.
func (a *Archive) fetchBlock(sf *segFiles, i int, b *blockBatch) {
	f, err := sf.get(i, b.ref)
	if err != nil {
		b.err, b.fatal = err, true
		return
	}
	if f == nil {
		b.skip = true
		return
	}
	b.name, b.wire = f.Name(), sf.wire[b.ref.seg.id]
	b.z, b.err = readBlockBytes(f, b.ref.info.Offset, b.ref.info.Length, f.Name(), b.z)
	sf.done(i, b.ref)
}

// readBlockBytes reads the block at off, header and payload, into buf (reused), and
// checks the header. length is what the index says; the header decides (one read when
// they agree, the usual case).
func readBlockBytes(f io.ReaderAt, off, length int64, name string, buf []byte) ([]byte, error) {
	if length < blockHdrSize || length > blockHdrSize+maxBlockRaw*2 {
		length = blockHdrSize
	}
	buf = slices.Grow(buf[:0], int(length))[:length]
	n, _ := f.ReadAt(buf, off)
	if n < blockHdrSize {
		return buf, fmt.Errorf("%s: %w: block header cut short at byte %d", name, ErrCorrupt, off)
	}
	info, _, err := parseBlockHeader(buf[:blockHdrSize], off, name)
	if err != nil {
		return buf, err
	}
	if info.Length != length {
		buf = slices.Grow(buf[:0], int(info.Length))[:info.Length]
		n, _ = f.ReadAt(buf, off)
	}
	if int64(n) < info.Length {
		return buf, fmt.Errorf("%s: %w: block at byte %d cut short (%d of %d payload bytes)", name, ErrCorrupt, off, max(0, n-blockHdrSize), info.Length-blockHdrSize)
	}
	return buf, nil
}

// decodeBatch checks, decompresses and decodes a batch's block (on a worker), keeping
// the records spec.keep accepts, with (in a block of columns) only the fields of
// spec.fields and the flow key (record.ColumnDecoder.SetFields; keep must read no
// other); with spec.ordered, it sorts them by start time. A block that fails keeps none
// and the error. Needles (byte strings one of which every record keep accepts holds)
// let a block or a record be passed over undecoded, and keyKeep a block's rest: see
// readSpec, and decodeRows.
func decodeBatch(b *blockBatch, spec *readSpec) {
	if b.err != nil || b.skip {
		return
	}
	h, z := b.z[:blockHdrSize], b.z[blockHdrSize:]
	off := b.ref.info.Offset
	if crc32.Checksum(z, castagnoli) != binary.LittleEndian.Uint32(h[32:]) {
		b.err = fmt.Errorf("%s: %w: block payload checksum mismatch at byte %d", b.name, ErrCorrupt, off)
		return
	}
	rawLen := binary.LittleEndian.Uint32(h[8:])
	// Of a split block, the parts that hold the fields read (record.PartsFor), and the
	// first part first when the needles' addresses or keyKeep's key may pass the block
	// over: they are in it.
	want := record.PartsFor(spec.fields)
	first := want
	if len(spec.needles) > 0 || spec.keyKeep != nil {
		first = 1
	}
	raw, have, err := decompress(z, rawLen, b.raw[:0], first, off, b.name)
	if err != nil {
		b.err = err
		return
	}
	b.raw = raw
	if rawLen&rawColumns == 0 {
		if b.decodeRows(spec.needles, spec.keep) && spec.ordered {
			b.sortKeys()
		}
		return
	}
	b.n = 0
	if len(spec.needles) > 0 && nextNeedle(raw, 0, spec.needles) == len(raw) {
		return // no record holds a needle
	}
	var keyFirst func(*record.Record) bool
	if have < want {
		if spec.keyKeep != nil {
			// Does any record's key pass? The first part's key columns say.
			b.cdec.SetFields(record.FieldsKey)
			recs, err := b.cdec.Decode(raw, b.recs, spec.keyKeep)
			b.recs = recs[:cap(recs)]
			if err != nil {
				b.err = fmt.Errorf("%s: block at byte %d: %w", b.name, off, err)
				return
			}
			if len(recs) == 0 {
				return
			}
			// Decoding key first pays for the few records it passes (the others'
			// columns are skipped row by row): a full decode is faster for many.
			if len(recs) < int(b.ref.info.Records)/keyFirstRatio {
				keyFirst = spec.keyKeep
			}
		}
		if b.raw, _, err = decompressMore(z, rawLen, raw, have, want, off, b.name); err != nil {
			b.err = err
			return
		}
	}
	b.cdec.SetFields(spec.fields)
	b.decodeColumns(spec.keep, keyFirst)
	if spec.ordered {
		b.sortKeys()
	}
}

// decodeColumns decodes a block of columns (segment versions 2 and 3) into b.recs,
// keeping the records keep accepts; with keyKeep, the key columns of every record
// first, and the others only for those keyKeep passes. decodeBatch has passed over a
// block that holds none of the needles (addresses the columns hold as raw bytes,
// record.AppendColumns).
func (b *blockBatch) decodeColumns(keep, keyKeep func(*record.Record) bool) {
	// keep may test any field (a filter on bytes, the range's last time), so it is
	// given whole records, as in decodeRows.
	recs, err := b.cdec.Decode(b.raw, b.recs, keyKeep)
	if err != nil {
		b.err = fmt.Errorf("%s: block at byte %d: %w", b.name, b.ref.info.Offset, err)
		return
	}
	n := 0
	for i := range recs {
		if keep(&recs[i]) {
			if n != i {
				recs[n], recs[i] = recs[i], recs[n] // the Man pointers stay, to be reused
			}
			n++
		}
	}
	b.n, b.recs = n, recs[:cap(recs)]
}

// decodeRows decodes a block of length-prefixed records (segment version 1) into b.recs,
// keeping the records keep accepts; false if it failed (b.err says why). With needles,
// only the records whose bytes hold one of them are decoded: the block is searched for
// the needles (bytes.Index, which runs at memory speed) rather than each record
// decoded, and a record that lies before the next occurrence is skipped (its framing is
// still checked). For a rare host this passes over nearly every record: decoding was two
// thirds of such a query's CPU.
func (b *blockBatch) decodeRows(needles [][]byte, keep func(*record.Record) bool) bool {
	raw, off, n := b.raw, b.ref.info.Offset, 0
	// next: where the first occurrence of a needle at or after the current record's
	// body begins (len(raw): none); -1 before the first search.
	next := -1
	for p := 0; p < len(raw); {
		l, k := binary.Uvarint(raw[p:])
		if k <= 0 || l == 0 || l > record.MaxRecordLen || uint64(len(raw)-p-k) < l {
			b.err = fmt.Errorf("%s: %w: record framing in block at byte %d", b.name, ErrCorrupt, off)
			return false
		}
		body, end := raw[p+k:p+k+int(l)], p+k+int(l)
		if len(needles) > 0 {
			if next < p+k {
				// Not searched yet, or the occurrence found began before this body (in
				// an earlier record, or in this one's framing).
				next = nextNeedle(raw, p+k, needles)
			}
			if next >= end {
				p = end // no needle begins in this body: it holds none
				continue
			}
			// One begins here (it may run past the body's end: then the record is
			// decoded for nothing, and matched by keep as any other).
		}
		if n == len(b.recs) {
			b.growRecs()
		}
		r := &b.recs[n]
		if err := record.DecodeRecord(body, r, b.wire); err != nil {
			b.err = fmt.Errorf("%s: block at byte %d: %w", b.name, off, err)
			return false
		}
		if keep(r) {
			n++
		}
		p = end
	}
	b.n = n
	return true
}

// sortKeys puts the batch's kept records' keys in start-time order (b.keys).
func (b *blockBatch) sortKeys() {
	b.keys, b.tmpKeys, _ = orderKeys(b.recs[:b.n], b.keys, b.tmpKeys)
}

// growRecs makes room for more records: for the whole block at once (the count the
// index gives, bounded: it is only checked by a checksum), else by doubling.
func (b *blockBatch) growRecs() {
	want := min(int(b.ref.info.Records), 1<<16)
	if want <= len(b.recs) {
		want = max(2*len(b.recs), 64)
	}
	recs := make([]record.Record, want)
	copy(recs, b.recs)
	b.recs = recs
}

// merger merges the sorted runs of the blocks taken so far: a heap of batches ordered by
// the key at their position.
type merger struct{ h []*blockBatch }

func (m *merger) less(i, j int) bool {
	a, b := m.h[i], m.h[j]
	return keyLess(&a.keys[a.pos], &b.keys[b.pos])
}

func (m *merger) push(b *blockBatch) {
	m.h = append(m.h, b)
	for j := len(m.h) - 1; j > 0; {
		p := (j - 1) / 2
		if !m.less(j, p) {
			break
		}
		m.h[j], m.h[p] = m.h[p], m.h[j]
		j = p
	}
}

func (m *merger) down(j int) {
	for {
		l, low := 2*j+1, j
		if l < len(m.h) && m.less(l, low) {
			low = l
		}
		if r := l + 1; r < len(m.h) && m.less(r, low) {
			low = r
		}
		if low == j {
			return
		}
		m.h[j], m.h[low] = m.h[low], m.h[j]
		j = low
	}
}

// emit passes to fn, in order, every record held that starts before limit. A batch
// whose last record went out goes back to the pool after fn returns.
func (m *merger) emit(limit int64, pool *batchPool, fn func(*record.Record) error) error {
	for len(m.h) > 0 {
		top := m.h[0]
		k := &top.keys[top.pos]
		if k.start >= limit {
			return nil
		}
		r := &top.recs[k.i]
		top.pos++
		var spent *blockBatch
		if top.pos == len(top.keys) {
			last := len(m.h) - 1
			m.h[0] = m.h[last]
			m.h[last] = nil
			m.h = m.h[:last]
			spent = top
		}
		if len(m.h) > 0 {
			m.down(0)
		}
		err := fn(r)
		if spent != nil {
			pool.put(spent)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nextNeedle returns where the first occurrence of one of needles in raw at or after
// from begins, or len(raw).
func nextNeedle(raw []byte, from int, needles [][]byte) int {
	best := len(raw)
	for _, nd := range needles {
		if i := bytes.Index(raw[from:best], nd); i >= 0 {
			best = from + i
		}
	}
	return best
}
