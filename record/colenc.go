package record

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"sync"
	"unsafe"
)

// The columnar encoder. Its output is the format of columns.go, byte for byte as the
// first encoder wrote it (TestAppendColumnsSame, FuzzAppendColumnsSame, against that
// encoder kept in columns_encref_test.go): archives and fixtures hold it. What differs
// is how it gets there (~3.5x faster on a real trace, and no allocation once warm):
//
//   - Two passes over the records, each in chunks of encChunk rows taken column by
//     column while the chunk is in the L1 cache (the first encoder read the whole block
//     once per column, and a block is ~1 MB of Records). The first pass goes last chunk
//     first, so that the second starts on the rows still in the cache.
//   - The first pass gathers per column what chooses its presence mode and width: the
//     count of values, the OR of the values (the widest value's length is the OR's),
//     and the sum of their varint lengths only where that can matter (values over 4
//     bytes). So every column's length, hence its place in dst, is known before any
//     value is written: the second pass writes each value where it belongs, with no
//     append growth and no moving of columns behind their headers.
//   - A chunk's plain words are ORed first: a column empty in the chunk (many are) costs
//     nothing more; the others leave a presence word per chunk, from which the second
//     pass writes a sparse column's values without visiting the rows that have none.
//   - A column's kind (how to read its value) is dispatched once per chunk, not once per
//     value; number fields are read as 8-byte words and masked.

// encChunk rows are encoded column by column at a time: 64 Records are 24 KiB (L1), and
// a chunk of a bitmap is one 8-byte word.
const encChunk = 64

// How an encoder column reads its value from a Record.
const (
	ekKind     = iota // Kind: every row, uvarint
	ekNum             // unsigned number at off, masked to its size
	ekSigned          // int64 at off, zigzag
	ekFloat           // float64 at off; -0 is absent
	ekStart           // StartTime: zigzag deltas after a base value
	ekDur             // LastTime - StartTime when > 0
	ekMan             // a management counter at off in *Man (management records only)
	ekQueue           // the management queues
	ekAddr            // SrcAddr or DstAddr at off: 4 or 16 bytes
	ekInf             // Inf up to its first NUL
	ekFixBytes        // MAC or country at off: present unless all zero, size bytes
	ekLabel           // Label, cut at MaxLabelLen
)

// encSpec is one column the encoder writes, in colOrder's order.
type encSpec struct {
	id   uint8
	kind uint8
	wire uint8
	blen uint8 // ekFixBytes: the field's length
	off  uintptr
	mask uint64 // ekNum, ekFixBytes: the field's bits
}

// manCol is the first management column's index in encSpecs: the flow columns are
// those before it.
var manCol = slices.IndexFunc(encSpecs, func(s encSpec) bool { return s.kind == ekMan || s.kind == ekQueue })

// startCol is StartTime's index in encSpecs.
var startCol = slices.IndexFunc(encSpecs, func(s encSpec) bool { return s.kind == ekStart })

var encSpecs = func() []encSpec {
	// The encoder reads a number field as the 8 bytes at its offset masked to its size,
	// and a chunk's fields as ORs of whole words: the fields' values on a little-endian
	// machine only, as every one Panoptes runs on is (its XDP programs are bpfel).
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		panic("record: the columnar encoder needs a little-endian machine")
	}
	var specs []encSpec
	var r Record
	manSeen := false
	for _, id := range colOrder {
		f := &colFields[id]
		s := encSpec{id: id, wire: f.wire, off: f.off}
		switch f.class {
		case fNum:
			switch {
			case id == idKind:
				s.kind = ekKind
			case f.delta:
				s.kind = ekStart
			case f.float:
				s.kind = ekFloat
			case f.signed:
				s.kind, s.mask = ekSigned, ^uint64(0)
				if f.size != 8 {
					panic("record: a signed column not of an int64")
				}
			default:
				s.kind, s.mask = ekNum, sizeMask(f.size)
			}
		case fDur:
			s.kind = ekDur
		case fMan:
			s.kind = ekMan
		case fQueue:
			s.kind = ekQueue
		case fBytes:
			switch id {
			case idSrcAddr:
				s.kind, s.off = ekAddr, unsafe.Offsetof(r.SrcAddr)
			case idDstAddr:
				s.kind, s.off = ekAddr, unsafe.Offsetof(r.DstAddr)
			case idInf:
				s.kind = ekInf
			case idMAC:
				s.kind, s.off, s.blen = ekFixBytes, unsafe.Offsetof(r.Src)+unsafe.Offsetof(r.Src.MAC), 6
			case idMAC + sideDst:
				s.kind, s.off, s.blen = ekFixBytes, unsafe.Offsetof(r.Dst)+unsafe.Offsetof(r.Dst.MAC), 6
			case idSrcCountry:
				s.kind, s.off, s.blen = ekFixBytes, unsafe.Offsetof(r.SrcCountry), 2
			case idDstCountry:
				s.kind, s.off, s.blen = ekFixBytes, unsafe.Offsetof(r.DstCountry), 2
			case idLabel:
				s.kind = ekLabel
			default:
				panic("record: a byte column the encoder does not know")
			}
		default:
			panic("record: a column the encoder does not know")
		}
		// An 8-byte load at a number's offset must stay within the Record (it does: a
		// string and a pointer end it).
		if s.kind == ekFixBytes {
			s.mask = sizeMask(s.blen)
		}
		if (s.kind == ekNum || s.kind == ekFixBytes) && s.off+8 > unsafe.Sizeof(r) {
			panic("record: number column at the Record's end")
		}
		// The management columns are last: a block without management records stops
		// before them.
		if s.kind == ekMan || s.kind == ekQueue {
			manSeen = true
		} else if manSeen {
			panic("record: a flow column after the management columns")
		}
		specs = append(specs, s)
	}
	return specs
}()

// encCol is one column's state while a block is encoded.
type encCol struct {
	*encSpec
	// Gathered by the first pass. Numbers: cnt rows with a value, size the sum of the
	// varint lengths of every row's wire value (absent ones too), or the OR of those;
	// someSize and someOr the same over the rows with a value only (StartTime's, whose
	// deltas differ by mode). Bytes: cnt, size the values' lengths with their length
	// prefixes, width their common length (-1 none yet, 0 mixed).
	cnt      int
	size     int
	or       uint64
	someSize int
	someOr   uint64
	width    int
	// The plan: presence mode, fixed width (0: varints or length-prefixed), where the
	// bitmap and the values go in dst.
	write bool
	mode  uint8
	fixed int
	bm    int // bitmap's offset in dst
	bmLen int
	cur   int // the next value's offset in dst
	end   int // the column's end in dst
	valW  int // the second pass's: bytes per value, 0 for varints
	// StartTime's: the base (its first value); the last value written.
	base, prev int64
}

// ColumnEncoder encodes columnar blocks (AppendColumns' format); reusable, not safe for
// concurrent use. Once it has encoded a block as large as the next, it allocates
// nothing but dst's growth.
type ColumnEncoder struct {
	cols    []encCol
	vals    [encChunk]uint64
	manRows []int32  // rows of management records with a Management
	qbuf    []byte   // the queue column's body
	words   []uint64 // presence words: chunk by chunk, a word per column
	starts  []int64  // StartTime's first and last value in each chunk (0: none)
	acc     [plainWords]uint64
}

// plainWords are the 8-byte words of a Record's fields before Label.
const plainWords = int(plainLen / 8)

// accZero reports whether the bytes [off, off+n) of e.acc are all 0 (a byte array
// may straddle two words).
func (e *ColumnEncoder) accZero(off, n uintptr) bool {
	var b uint64
	for j := off; j < off+n; j++ {
		b |= e.acc[j/8] >> (8 * (j % 8)) & 0xff
	}
	return b == 0
}

// chunkOr sets acc to the OR of rs's plain words: for a number field, the OR of its
// values in rs (fields are aligned, so none straddles two words), 0 if none of rs has
// one. The first pass then skips the columns that are empty in the chunk (many are:
// ICMP, MPLS, loss...) for 8 ORs a row per 8 words.
func chunkOr(acc *[plainWords]uint64, rs []Record) {
	g := 0
	for ; g+8 <= plainWords; g += 8 {
		var a0, a1, a2, a3, a4, a5, a6, a7 uint64
		for i := range rs {
			w := (*[8]uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), 8*g))
			a0, a1, a2, a3 = a0|w[0], a1|w[1], a2|w[2], a3|w[3]
			a4, a5, a6, a7 = a4|w[4], a5|w[5], a6|w[6], a7|w[7]
		}
		acc[g], acc[g+1], acc[g+2], acc[g+3] = a0, a1, a2, a3
		acc[g+4], acc[g+5], acc[g+6], acc[g+7] = a4, a5, a6, a7
	}
	for ; g < plainWords; g++ {
		var a uint64
		for i := range rs {
			a |= *(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), 8*g))
		}
		acc[g] = a
	}
}

var encPool = sync.Pool{New: func() any { return new(ColumnEncoder) }}

// AppendColumns appends the columnar encoding of recs (flow and management records) to
// dst and returns the extended slice. It uses a pooled ColumnEncoder.
func AppendColumns(dst []byte, recs []Record) []byte {
	e := encPool.Get().(*ColumnEncoder)
	dst = e.Append(dst, recs)
	encPool.Put(e)
	return dst
}

// varintLen is the length of v as a uvarint ((bits+6)/7, as a multiply and a shift).
func varintLen(v uint64) int { return (bits.Len64(v|1)*9 + 64) >> 6 }

// byteLen is the bytes of v without its leading zero bytes (at least 1).
func byteLen(v uint64) int { return (bits.Len64(v|1) + 7) / 8 }

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// nonzero is 1 if v != 0, else 0, without a branch.
func nonzero(v uint64) int { return int((v | -v) >> 63) }

// fixedSlack/4 is how much larger than its varints a number column may be written
// with values of a fixed width. On a real trace: 1.5 decoded ~20% slower and was no
// smaller compressed; 4 decodes ~10% faster than 2 for 0.3% more compressed bytes;
// unbounded was no faster.
const fixedSlack = 16

// Append appends the columnar encoding of recs to dst and returns the extended slice.
func (e *ColumnEncoder) Append(dst []byte, recs []Record) []byte {
	n := len(recs)
	dst = binary.AppendUvarint(append(dst, colVersion), uint64(n))
	if n == 0 {
		return dst
	}
	if e.cols == nil {
		e.cols = make([]encCol, len(encSpecs))
	}
	for k := range e.cols {
		e.cols[k] = encCol{encSpec: &encSpecs[k], width: -1}
	}
	e.manRows = e.manRows[:0]
	// The first pass takes the flow columns; it finds the management rows (with the
	// kinds), whose columns are then gathered from those rows alone.
	cols := e.cols[:manCol]
	if nw := (n + encChunk - 1) / encChunk * len(e.cols); len(e.words) < nw {
		e.words = make([]uint64, nw)
		e.starts = make([]int64, 2*((n+encChunk-1)/encChunk))
	}
	// StartTime's base: its first value (almost always the first row's).
	for i := range recs {
		if v := recs[i].StartTime; v != 0 {
			c := &cols[startCol]
			c.base, c.prev = v, v
			break
		}
	}
	// The last chunk first, so that the second pass, from the first, starts with the
	// rows the first pass left in the cache (a block of Records is about the size of a
	// core's L2: read twice in the same order, each chunk would come from memory twice).
	for lo := (n - 1) / encChunk * encChunk; lo >= 0; lo -= encChunk {
		chunkOr(&e.acc, recs[lo:min(lo+encChunk, n)])
		for k := range cols {
			e.gather(k, recs, lo)
		}
	}
	slices.Reverse(e.manRows)
	if len(e.manRows) > 0 {
		cols = e.cols
	}
	total := 0
	for k := range cols {
		total += e.plan(&cols[k], recs)
	}
	// Lay the columns out: headers now, values by the second pass.
	at := len(dst)
	dst = slices.Grow(dst, total)[:at+total]
	for k := range cols {
		c := &cols[k]
		if !c.write {
			continue
		}
		var h [2 + 2*binary.MaxVarintLen64]byte
		tag := c.mode<<2 | c.wire
		if c.fixed > 0 {
			tag |= tagFixed
		}
		hdr := append(h[:0], c.id, tag)
		if c.fixed > 0 {
			hdr = binary.AppendUvarint(hdr, uint64(c.fixed))
		}
		hdr = binary.AppendUvarint(hdr, uint64(c.end))
		body := at + len(hdr)
		copy(dst[at:], hdr)
		c.bm, c.cur, c.end = body, body+c.bmLen, body+c.end
		clear(dst[c.bm:c.cur])
		switch c.kind {
		case ekStart:
			binary.LittleEndian.PutUint64(dst[c.cur:], uint64(c.base))
			c.cur += 8
		case ekQueue:
			c.cur += copy(dst[c.cur:], e.qbuf)
		}
		at = c.end
	}
	if at != len(dst) {
		panic("record: columnar block laid out wrong")
	}
	for lo := 0; lo < n; lo += encChunk {
		rs := recs[lo:min(lo+encChunk, n)]
		for k := range cols {
			if c := &cols[k]; c.write && c.kind != ekQueue {
				if c.mode == presBitmap && (c.kind == ekNum || c.kind == ekSigned || c.kind == ekDur || c.kind == ekFloat) {
					c.putSparse(dst, rs, lo, e.words[lo/encChunk*len(e.cols)+k])
					continue
				}
				e.put(c, dst, rs, lo)
			}
		}
	}
	for k := range cols {
		if c := &cols[k]; c.write && c.cur != c.end {
			panic("record: columnar block's column written short or long")
		}
	}
	return dst
}

// gather adds rs's values (rows lo...) to c's statistics.
//
// A number column of values of at most 4 bytes (its OR's byteLen) is written with
// fixed widths in both presence modes (a varint is at least one byte, so 4 times the
// varints' length is at least 4 bytes a value), and then the varints' length does not
// matter: gather does not sum it for ekNum and ekSigned; plan does, in a pass of its
// own, for the rare column whose values are wider (sumSizes).
//
// Number columns (but StartTime's) leave their rows' presence, a word per chunk, in
// e.words: the second pass writes a sparse column's values without a look at the rows
// that have none.
func (e *ColumnEncoder) gather(k int, recs []Record, lo int) {
	c := &e.cols[k]
	rs := recs[lo:min(lo+encChunk, len(recs))]
	switch c.kind {
	case ekKind:
		// Kind is the Record's first byte: the chunk's OR of the kinds is acc's.
		if kinds := e.acc[0] & 0xff; kinds < 0x80 && kinds&uint64(KindMan) == 0 {
			c.size += len(rs) // all one-byte varints, and no management row
			return
		}
		size := c.size
		for i := len(rs) - 1; i >= 0; i-- {
			// Last first, as the chunks: e.manRows is reversed after the pass.
			k := rs[i].Kind
			size += varintLen(uint64(k))
			if k == KindMan && rs[i].Man != nil {
				e.manRows = append(e.manRows, int32(lo+i))
			}
		}
		c.size = size
	case ekNum:
		// The chunk's OR of the field is its share of the column's OR, and if 0 no
		// row of the chunk has a value.
		or := e.acc[c.off/8] >> (8 * (c.off % 8)) & c.mask
		var word uint64
		if or != 0 {
			word = presence(rs, c.off, c.mask)
		}
		c.or |= or
		c.cnt += bits.OnesCount64(word)
		e.words[lo/encChunk*len(e.cols)+k] = word
	case ekSigned:
		off := c.off
		or, cnt := c.or, c.cnt
		var word uint64
		if e.acc[off/8] == 0 { // an int64: its word
			e.words[lo/encChunk*len(e.cols)+k] = 0
			return
		}
		for i := len(rs) - 1; i >= 0; i-- {
			x := zigzag(*(*int64)(unsafe.Add(unsafe.Pointer(&rs[i]), off)))
			or |= x
			word = word<<1 | uint64(nonzero(x))
		}
		c.or, c.cnt = or, cnt+bits.OnesCount64(word)
		e.words[lo/encChunk*len(e.cols)+k] = word
	case ekDur:
		or, size, cnt := c.or, c.size, c.cnt
		var word uint64
		for i := len(rs) - 1; i >= 0; i-- {
			x := uint64(max(rs[i].LastTime-rs[i].StartTime, 0))
			or |= x
			size += varintLen(x)
			word = word<<1 | uint64(nonzero(x))
		}
		c.or, c.size, c.cnt = or, size, cnt+bits.OnesCount64(word)
		e.words[lo/encChunk*len(e.cols)+k] = word
	case ekFloat:
		off := c.off
		var word uint64
		if e.acc[off/8]<<1 == 0 { // only zeros and -0s
			e.words[lo/encChunk*len(e.cols)+k] = 0
			return
		}
		for i := len(rs) - 1; i >= 0; i-- {
			word = word<<1 | uint64(nonzero(*(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), off))<<1))
		}
		c.cnt += bits.OnesCount64(word)
		e.words[lo/encChunk*len(e.cols)+k] = word
	case ekStart:
		// Zigzag deltas, from the base (found before this pass), chained through every
		// row (presAll) or through the rows with a value (presBitmap). The chunks come
		// last first: the every-row chain starts from the row before lo; the other from
		// the last value before lo, which may be far back: the delta of the chunk's
		// first value is left to plan, which chains the chunks' first and last values.
		prev := c.base
		if lo > 0 {
			prev = recs[lo-1].StartTime
		}
		var first, prevSome int64
		size, or, someSize, someOr, cnt := c.size, c.or, c.someSize, c.someOr, c.cnt
		for i := range rs {
			v := rs[i].StartTime
			x := zigzag(v - prev)
			prev = v
			size += varintLen(x)
			or |= x
			if v != 0 {
				if first == 0 {
					first = v
				} else {
					x := zigzag(v - prevSome)
					someSize += varintLen(x)
					someOr |= x
				}
				prevSome = v
				cnt++
			}
		}
		c.size, c.or, c.someSize, c.someOr, c.cnt = size, or, someSize, someOr, cnt
		e.starts[2*(lo/encChunk)], e.starts[2*(lo/encChunk)+1] = first, prevSome
	case ekMan:
		// gathered by plan, from the management rows only
	case ekQueue:
	case ekAddr:
		cnt, size, width := c.cnt, c.size, c.width
		for i := range rs {
			r := &rs[i]
			if r.Family == 4 || r.Family == 6 || r.SrcAddr != ([16]byte{}) || r.DstAddr != ([16]byte{}) {
				l := addrLen(r.Family)
				cnt++
				size += l + 1
				if width != l {
					width = mixWidth(width, l)
				}
			}
		}
		c.cnt, c.size, c.width = cnt, size, width
	case ekInf:
		for i := range rs {
			if l := infLen(&rs[i]); l > 0 {
				c.cnt++
				c.size += l + 1
				if c.width != l {
					c.width = mixWidth(c.width, l)
				}
			}
		}
	case ekFixBytes:
		off, mask, cnt := c.off, c.mask, c.cnt
		if e.accZero(off, uintptr(c.blen)) {
			c.width = int(c.blen)
			return
		}
		for i := range rs {
			cnt += nonzero(*(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), off)) & mask)
		}
		c.cnt = cnt
		c.width = int(c.blen)
	case ekLabel:
		for i := range rs {
			if l := min(len(rs[i].Label), MaxLabelLen); l > 0 {
				c.cnt++
				c.size += l + varintLen(uint64(l))
				if c.width != l {
					c.width = mixWidth(c.width, l)
				}
			}
		}
	}
}

func sizeMask(size uint8) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*uint(size)) - 1
}

// mixWidth is a byte column's common width after a value of length l (w != l).
func mixWidth(w, l int) int {
	if w == -1 {
		return l
	}
	return 0
}

// infLen is the length of r's interface name as the row format writes it.
func infLen(r *Record) int {
	if r.Inf[0] == 0 {
		return 0
	}
	for n, b := range r.Inf {
		if b == 0 {
			return n
		}
	}
	return len(r.Inf)
}

// plan chooses c's presence mode and width from its statistics, as the first encoder
// did (shorter of every row and a bitmap; fixed widths up to fixedSlack/4 times the
// varints), and returns the column's length with its header (0: not written). c.end is
// left holding the body's length.
func (e *ColumnEncoder) plan(c *encCol, recs []Record) int {
	n := len(recs)
	nb := (n + 7) / 8
	body := 0
	switch c.kind {
	case ekKind:
		c.mode, body = presAll, c.size
	case ekNum, ekSigned, ekDur, ekMan:
		if c.kind == ekMan {
			e.gatherMan(c, recs)
		}
		if c.cnt == 0 {
			return 0
		}
		if (c.kind == ekNum || c.kind == ekSigned) && byteLen(c.or) > 4 {
			c.sumSizes(recs)
		}
		// An absent value's varint is one byte. (c.size is 0 if not summed: then
		// numPlan chooses fixed widths without it.)
		body = c.numPlan(n, c.size, c.or, c.size-(n-c.cnt), c.or)
	case ekStart:
		if c.cnt == 0 {
			return 0
		}
		// The deltas of the chunks' first values (0: a chunk without one), in the
		// chain of the rows with a value.
		prev := c.base
		for ch := range (n + encChunk - 1) / encChunk {
			if first := e.starts[2*ch]; first != 0 {
				x := zigzag(first - prev)
				c.someSize += varintLen(x)
				c.someOr |= x
				prev = e.starts[2*ch+1]
			}
		}
		body = 8 + c.numPlan(n, c.size, c.or, c.someSize, c.someOr)
		c.prev = c.base // for the second pass
	case ekFloat:
		if c.cnt == 0 {
			return 0
		}
		c.valW, body = 8, 8*n
		if nb+8*c.cnt < body {
			c.mode, c.bmLen, body = presBitmap, nb, nb+8*c.cnt
		}
	case ekQueue:
		if !e.queues(recs) {
			return 0
		}
		c.mode, body = presCounts, len(e.qbuf)
	default: // bytes
		if c.cnt == 0 {
			return 0
		}
		if c.cnt < n {
			c.mode, c.bmLen = presBitmap, nb
		}
		if c.width > 0 {
			c.fixed, body = c.width, c.bmLen+c.width*c.cnt
		} else {
			body = c.bmLen + c.size
		}
	}
	c.write, c.end = true, body
	h := 2 + varintLen(uint64(body))
	if c.fixed > 0 {
		h += varintLen(uint64(c.fixed))
	}
	return h + body
}

// numPlan chooses a number column's mode and width from the varints' total length and
// the OR of the values, over every row and over the rows with a value, and returns its
// body's length (the base of StartTime's not counted).
func (c *encCol) numPlan(n, allSize int, allOr uint64, someSize int, someOr uint64) int {
	allW, someW := byteLen(allOr), byteLen(someOr)
	if allW <= 4 && someW <= 4 && c.kind != ekStart && c.kind != ekDur {
		// gather's shortcut: fixed widths both ways, whatever the varints' length.
		allSize, someSize = n+4*n, c.cnt+4*c.cnt
	}
	if allW*n <= fixedSlack*allSize/4 {
		allSize = allW * n
	} else {
		allW = 0
	}
	if someW*c.cnt <= fixedSlack*someSize/4 {
		someSize = someW * c.cnt
	} else {
		someW = 0
	}
	if nb := (n + 7) / 8; nb+someSize < allSize {
		c.mode, c.fixed, c.valW, c.bmLen = presBitmap, someW, someW, nb
		return nb + someSize
	}
	c.mode, c.fixed, c.valW = presAll, allW, allW
	return allSize
}

// sumSizes sums the varint lengths of c's values (ekNum, ekSigned) over every row.
func (c *encCol) sumSizes(recs []Record) {
	off, mask, size := c.off, c.mask, 0
	for i := range recs {
		x := *(*uint64)(unsafe.Add(unsafe.Pointer(&recs[i]), off))
		if c.kind == ekSigned {
			x = zigzag(int64(x))
		}
		size += varintLen(x & mask)
	}
	c.size = size
}

// gatherMan gathers a management counter's statistics from the management rows: the
// other rows' values are 0.
func (e *ColumnEncoder) gatherMan(c *encCol, recs []Record) {
	c.size = len(recs) - len(e.manRows)
	for _, i := range e.manRows {
		x := *(*uint64)(unsafe.Add(unsafe.Pointer(recs[i].Man), c.off))
		c.or |= x
		c.size += varintLen(x)
		c.cnt += nonzero(x)
	}
}

// queues builds the queue column's body in e.qbuf (a count per row, then each queue as
// appendQueue writes it, without its field id) and reports whether any row has one.
func (e *ColumnEncoder) queues(recs []Record) bool {
	q := append(e.qbuf[:0], make([]byte, len(recs))...) // counts <= MaxManQueues: one byte
	some := false
	for _, i := range e.manRows {
		qs := recs[i].Man.Queues[:min(len(recs[i].Man.Queues), MaxManQueues)]
		q[i] = byte(len(qs))
		for j := range qs {
			some = true
			at := len(q)
			q = appendQueue(q, &qs[j])
			q = append(q[:at], q[at+1:]...)
		}
	}
	e.qbuf = q
	return some
}

// put writes rs's values (rows lo...) of column c into dst: the columns putSparse
// does not.
func (e *ColumnEncoder) put(c *encCol, dst []byte, rs []Record, lo int) {
	vals := e.vals[:len(rs)]
	switch c.kind {
	case ekKind:
		cur := c.cur
		for i := range rs {
			cur = putUvarint(dst, cur, uint64(rs[i].Kind))
		}
		c.cur = cur
		return
	case ekNum:
		if c.valW > 0 {
			c.putFixedNums(dst, rs, lo)
			return
		}
		off, mask := c.off, c.mask
		for i := range rs {
			vals[i] = *(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), off)) & mask
		}
	case ekSigned:
		off := c.off
		for i := range rs {
			vals[i] = zigzag(*(*int64)(unsafe.Add(unsafe.Pointer(&rs[i]), off)))
		}
	case ekDur:
		for i := range rs {
			vals[i] = uint64(max(rs[i].LastTime-rs[i].StartTime, 0))
		}
	case ekMan:
		off := c.off
		for i := range rs {
			vals[i] = 0
			if r := &rs[i]; r.Kind == KindMan && r.Man != nil {
				vals[i] = *(*uint64)(unsafe.Add(unsafe.Pointer(r.Man), off))
			}
		}
	case ekFloat:
		off := c.off
		for i := range rs {
			vals[i] = *(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), off))
		}
		c.putVals(dst, vals) // presAll: a bitmap's are putSparse's
		return
	case ekStart:
		prev := c.prev
		if c.mode == presBitmap {
			var word uint64
			k := 0
			for i := range rs {
				if v := rs[i].StartTime; v != 0 {
					word |= 1 << i
					vals[k] = zigzag(v - prev)
					prev = v
					k++
				}
			}
			c.putBits(dst, word, lo)
			vals = vals[:k]
		} else {
			for i := range rs {
				v := rs[i].StartTime
				vals[i] = zigzag(v - prev)
				prev = v
			}
		}
		c.prev = prev
		c.putVals(dst, vals)
		return
	default:
		c.putBytes(dst, rs, lo)
		return
	}
	if c.mode == presBitmap { // the management counters (the others: putSparse)
		var word uint64
		k := 0
		for i, x := range vals {
			p := nonzero(x)
			word |= uint64(p) << i
			vals[k] = x
			k += p
		}
		c.putBits(dst, word, lo)
		vals = vals[:k]
	}
	c.putVals(dst, vals)
}

// recSize is a Record's size, the stride of a column's values in a chunk.
const recSize = unsafe.Sizeof(Record{})

// presence returns the word of rs's rows whose number at off, masked, is not 0. Last
// row first, so that the word shifts by a constant; four rows a turn, addressed from
// one row's pointer (the address of each row is the loop's main cost).
func presence(rs []Record, off uintptr, mask uint64) uint64 {
	var word uint64
	i := len(rs) - 1
	for ; i >= 3; i -= 4 {
		p := unsafe.Add(unsafe.Pointer(&rs[i-3]), off)
		a := *(*uint64)(p) & mask
		b := *(*uint64)(unsafe.Add(p, recSize)) & mask
		c := *(*uint64)(unsafe.Add(p, 2*recSize)) & mask
		d := *(*uint64)(unsafe.Add(p, 3*recSize)) & mask
		word = word<<4 | uint64(nonzero(d))<<3 | uint64(nonzero(c))<<2 | uint64(nonzero(b))<<1 | uint64(nonzero(a))
	}
	for ; i >= 0; i-- {
		word = word<<1 | uint64(nonzero(*(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), off))&mask))
	}
	return word
}

// putFixedNums writes rs's values of ekNum column c of a fixed width: the common
// column, in one loop from the records to dst.
func (c *encCol) putFixedNums(dst []byte, rs []Record, lo int) {
	off, mask, w := c.off, c.mask, c.valW
	cur, safe := c.cur, c.end-8 // an 8-byte store at cur <= safe stays in the column
	if c.mode != presBitmap {
		i := 0
		// Four rows a turn while the four 8-byte stores stay in the column.
		for ; i+4 <= len(rs) && cur+3*w <= safe; i += 4 {
			p := unsafe.Add(unsafe.Pointer(&rs[i]), off)
			binary.LittleEndian.PutUint64(dst[cur:], *(*uint64)(p)&mask)
			binary.LittleEndian.PutUint64(dst[cur+w:], *(*uint64)(unsafe.Add(p, recSize))&mask)
			binary.LittleEndian.PutUint64(dst[cur+2*w:], *(*uint64)(unsafe.Add(p, 2*recSize))&mask)
			binary.LittleEndian.PutUint64(dst[cur+3*w:], *(*uint64)(unsafe.Add(p, 3*recSize))&mask)
			cur += 4 * w
		}
		for ; i < len(rs); i++ {
			x := *(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), off)) & mask
			if cur <= safe {
				// 8 bytes, the last ones overwritten by the next value: one store.
				binary.LittleEndian.PutUint64(dst[cur:], x)
			} else {
				for j := range w {
					dst[cur+j] = byte(x >> (8 * j))
				}
			}
			cur += w
		}
		c.cur = cur
		return
	}
	panic("record: putFixedNums of a bitmap column") // putSparse's
}

// putSparse writes rs's values of number column c in presBitmap mode, word the
// chunk's presence bits: only the rows with a value are read.
func (c *encCol) putSparse(dst []byte, rs []Record, lo int, word uint64) {
	c.putBits(dst, word, lo)
	cur, w, safe := c.cur, c.valW, c.end-8
	if c.kind == ekNum && w > 0 {
		// The common column, in a loop of its own.
		off, mask := c.off, c.mask
		for ; word != 0; word &= word - 1 {
			x := *(*uint64)(unsafe.Add(unsafe.Pointer(&rs[bits.TrailingZeros64(word)]), off)) & mask
			if cur <= safe {
				binary.LittleEndian.PutUint64(dst[cur:], x)
			} else {
				for j := range w {
					dst[cur+j] = byte(x >> (8 * j))
				}
			}
			cur += w
		}
		c.cur = cur
		return
	}
	for ; word != 0; word &= word - 1 {
		r := &rs[bits.TrailingZeros64(word)]
		var x uint64
		switch c.kind {
		case ekNum:
			x = *(*uint64)(unsafe.Add(unsafe.Pointer(r), c.off)) & c.mask
		case ekSigned:
			x = zigzag(*(*int64)(unsafe.Add(unsafe.Pointer(r), c.off)))
		case ekFloat:
			x = *(*uint64)(unsafe.Add(unsafe.Pointer(r), c.off))
		case ekDur:
			x = uint64(r.LastTime - r.StartTime)
		}
		switch {
		case w == 0:
			cur = putUvarint(dst, cur, x)
			continue
		case cur <= safe:
			binary.LittleEndian.PutUint64(dst[cur:], x)
		default:
			for j := range w {
				dst[cur+j] = byte(x >> (8 * j))
			}
		}
		cur += w
	}
	c.cur = cur
}

// putBits writes the bitmap word of the chunk of rows lo... (lo a multiple of 64).
func (c *encCol) putBits(dst []byte, word uint64, lo int) {
	at := c.bm + lo/8
	if lo/8+8 <= c.bmLen {
		binary.LittleEndian.PutUint64(dst[at:], word)
		return
	}
	for j := range c.bmLen - lo/8 {
		dst[at+j] = byte(word >> (8 * j))
	}
}

// putVals writes wire values: c.valW bytes each, or uvarints.
func (c *encCol) putVals(dst []byte, vals []uint64) {
	cur, end := c.cur, c.end
	if w := c.valW; w > 0 {
		for _, x := range vals {
			if cur+8 <= end {
				// 8 bytes, the last ones overwritten by the next value: one store.
				binary.LittleEndian.PutUint64(dst[cur:], x)
			} else {
				for j := range w {
					dst[cur+j] = byte(x >> (8 * j))
				}
			}
			cur += w
		}
	} else {
		for _, x := range vals {
			cur = putUvarint(dst, cur, x)
		}
	}
	c.cur = cur
}

func putUvarint(dst []byte, cur int, x uint64) int {
	for x >= 0x80 {
		dst[cur] = byte(x) | 0x80
		x >>= 7
		cur++
	}
	dst[cur] = byte(x)
	return cur + 1
}

// putBytes writes rs's values of byte column c.
func (c *encCol) putBytes(dst []byte, rs []Record, lo int) {
	cur, bitmap := c.cur, c.mode == presBitmap
	var word uint64
	switch {
	case c.kind == ekAddr:
		safe := c.end - 16
		for i := range rs {
			r := &rs[i]
			if r.Family != 4 && r.Family != 6 && r.SrcAddr == ([16]byte{}) && r.DstAddr == ([16]byte{}) {
				continue
			}
			word |= 1 << i
			l := addrLen(r.Family)
			if c.fixed == 0 {
				dst[cur] = byte(l) // 4 or 16: a one-byte uvarint
				cur++
			}
			a := (*[16]byte)(unsafe.Add(unsafe.Pointer(r), c.off))
			if cur <= safe {
				// All 16 bytes, as one copy of a constant size; past l, overwritten next.
				*(*[16]byte)(dst[cur : cur+16]) = *a
			} else {
				copy(dst[cur:cur+l], a[:l])
			}
			cur += l
		}
		rs = nil
	case c.kind == ekFixBytes: // MACs and countries: fixed (every value blen bytes)
		safe := c.end - 8
		for i := range rs {
			v := *(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), c.off)) // the Record goes on past it
			if v&c.mask == 0 {
				continue
			}
			word |= 1 << i
			if cur <= safe {
				binary.LittleEndian.PutUint64(dst[cur:], v) // the bytes past blen are overwritten next
			} else {
				for j := range int(c.blen) {
					dst[cur+j] = byte(v >> (8 * j))
				}
			}
			cur += int(c.blen)
		}
		rs = nil
	}
	for i := range rs {
		r := &rs[i]
		var b []byte
		switch c.kind {
		case ekAddr:
			if r.Family == 4 || r.Family == 6 || r.SrcAddr != ([16]byte{}) || r.DstAddr != ([16]byte{}) {
				b = unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(r), c.off)), addrLen(r.Family))
			}
		case ekInf:
			b = r.Inf[:infLen(r)]
		case ekFixBytes:
			if *(*uint64)(unsafe.Add(unsafe.Pointer(r), c.off))&c.mask != 0 {
				b = unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(r), c.off)), c.blen)
			}
		case ekLabel:
			if l := r.Label; l != "" {
				b = unsafe.Slice(unsafe.StringData(l), min(len(l), MaxLabelLen))
			}
		}
		if len(b) == 0 {
			continue
		}
		word |= 1 << i
		if c.fixed == 0 {
			cur = putUvarint(dst, cur, uint64(len(b)))
		}
		cur += copy(dst[cur:], b)
	}
	if bitmap {
		c.putBits(dst, word, lo)
	}
	c.cur = cur
}
