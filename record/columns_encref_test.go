package record

import (
	"encoding/binary"
	"math"
	"math/bits"
	"unsafe"
)

// The columnar encoder as it was before ColumnEncoder (commit c95c5fb), kept verbatim
// but for the names (suffix ref): the reference whose bytes the new encoder must give
// for every input, since archives and fixtures are written in the format
// (columns_same_test.go). It shares colFields/colOrder, the format's column table.

func zigzagRef(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// colNum returns the number column f holds for r, as the row format would write it (0:
// not written).
func colNumRef(r *Record, f *colField) uint64 {
	var p unsafe.Pointer
	switch f.class {
	case fDur:
		if d := r.LastTime - r.StartTime; d > 0 {
			return uint64(d)
		}
		return 0
	case fMan:
		if r.Kind != KindMan || r.Man == nil {
			return 0
		}
		p = unsafe.Add(unsafe.Pointer(r.Man), f.off)
	default:
		p = unsafe.Add(unsafe.Pointer(r), f.off)
	}
	switch f.size {
	case 1:
		return uint64(*(*uint8)(p))
	case 2:
		return uint64(*(*uint16)(p))
	case 4:
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

// colBytes returns the byte field id of r as the row format would write it (nil: not
// written). The slice points into r (or the label's bytes): only read.
func colBytesRef(r *Record, id uint8) []byte {
	switch id {
	case idSrcAddr, idDstAddr:
		if r.Family == 4 || r.Family == 6 || r.SrcAddr != ([16]byte{}) || r.DstAddr != ([16]byte{}) {
			if id == idSrcAddr {
				return r.SrcAddr[:addrLen(r.Family)]
			}
			return r.DstAddr[:addrLen(r.Family)]
		}
	case idInf:
		if r.Inf[0] != 0 {
			n := 0
			for n < len(r.Inf) && r.Inf[n] != 0 {
				n++
			}
			return r.Inf[:n]
		}
	case idMAC:
		if r.Src.MAC != ([6]byte{}) {
			return r.Src.MAC[:]
		}
	case idMAC + sideDst:
		if r.Dst.MAC != ([6]byte{}) {
			return r.Dst.MAC[:]
		}
	case idSrcCountry:
		if r.SrcCountry != ([2]byte{}) {
			return r.SrcCountry[:]
		}
	case idDstCountry:
		if r.DstCountry != ([2]byte{}) {
			return r.DstCountry[:]
		}
	case idLabel:
		if l := r.Label; l != "" {
			return unsafe.Slice(unsafe.StringData(l), min(len(l), MaxLabelLen))
		}
	}
	return nil
}

// colHdrMaxRef is room for a column's header: id, tag, width and length uvarints.
const colHdrMaxRef = 2 + 2*binary.MaxVarintLen64

// AppendColumns appends the columnar encoding of recs (flow and management records) to
// dst and returns the extended slice.
func appendColumnsRef(dst []byte, recs []Record) []byte {
	n := len(recs)
	dst = binary.AppendUvarint(append(dst, colVersion), uint64(n))
	if n == 0 {
		return dst
	}
	// One column's values at a time, read from the records once.
	vals := make([]uint64, n)
	man := false
	for i := range recs {
		if recs[i].Kind == KindMan && recs[i].Man != nil {
			man = true
			break
		}
	}
	for _, id := range colOrder {
		f := &colFields[id]
		if !man && (f.class == fMan || f.class == fQueue) {
			continue
		}
		start := len(dst)
		// The body is written after room for the header, which is then moved up to it.
		dst = append(dst, make([]byte, colHdrMaxRef)...)
		body := len(dst)
		var tag byte
		width := 0
		switch f.class {
		case fNum, fMan, fDur:
			tag, width, dst = appendNumColumnRef(dst, recs, vals, id, f)
		case fBytes:
			tag, width, dst = appendBytesColumnRef(dst, recs, id)
		case fQueue:
			tag, dst = appendQueueColumnRef(dst, recs)
		}
		if len(dst) == body {
			dst = dst[:start] // no row has this field
			continue
		}
		var h [colHdrMaxRef]byte
		if width > 0 {
			tag |= tagFixed
		}
		hdr := append(h[:0], id, tag|f.wire)
		if width > 0 {
			hdr = binary.AppendUvarint(hdr, uint64(width))
		}
		hdr = binary.AppendUvarint(hdr, uint64(len(dst)-body))
		copy(dst[start:], hdr)
		m := copy(dst[start+len(hdr):], dst[body:])
		dst = dst[:start+len(hdr)+m]
	}
	return dst
}

// appendNumColumn appends a number column's body (nothing if no row has the field),
// every row's value or a bitmap and the values written, whichever is shorter.
func appendNumColumnRef(dst []byte, recs []Record, vals []uint64, id uint8, f *colField) (byte, int, []byte) {
	wireVal := func(v uint64, prev *int64) uint64 {
		switch {
		case f.delta:
			d := int64(v) - *prev
			*prev = int64(v)
			return zigzagRef(d)
		case f.signed:
			return zigzagRef(int64(v))
		}
		return v
	}
	present := func(v uint64) bool {
		if f.float {
			return math.Float64frombits(v) != 0 // -0 is not written, as the row format
		}
		return v != 0
	}
	vals = vals[:len(recs)]
	some := false
	for i := range recs {
		v := colNumRef(&recs[i], f)
		vals[i] = v
		some = some || present(v)
	}
	if !some && id != idKind {
		return 0, 0, dst
	}
	// Sizes and widest value (in bytes) of the two presence modes.
	var cnt, allSize, someSize, allW, someW int
	// A delta column starts from its first value (8 bytes at the column's start), so
	// that its deltas are all small: the first is 0, not the whole timestamp.
	var base int64
	if f.delta {
		for i := range recs {
			if v := vals[i]; present(v) {
				base = int64(v)
				break
			}
		}
	}
	prevAll, prevSome := base, base
	for i := range recs {
		v := vals[i]
		if f.float {
			if present(v) {
				cnt++
			}
			continue
		}
		x := wireVal(v, &prevAll)
		allSize += varintLenRef(x)
		allW = max(allW, byteLenRef(x))
		if present(v) {
			cnt++
			x := wireVal(v, &prevSome)
			someSize += varintLenRef(x)
			someW = max(someW, byteLenRef(x))
		}
	}
	if cnt == 0 && id != idKind {
		return 0, 0, dst
	}
	if f.float {
		allSize, someSize = 8*len(recs), 8*cnt
	} else if id != idKind {
		// Values of a fixed width decode without the chain of varints (each value's
		// end found before the next begins): worth more bytes, which zstd mostly
		// takes back.
		if allW*len(recs) <= fixedSlackRef*allSize/4 {
			allSize = allW * len(recs)
		} else {
			allW = 0
		}
		if someW*cnt <= fixedSlackRef*someSize/4 {
			someSize = someW * cnt
		} else {
			someW = 0
		}
	}
	mode, width := byte(presAll), allW
	if id != idKind && (len(recs)+7)/8+someSize < allSize {
		mode, width = presBitmap, someW
		at := len(dst)
		dst = append(dst, make([]byte, (len(recs)+7)/8)...)
		for i := range recs {
			if present(vals[i]) {
				dst[at+i/8] |= 1 << (i % 8)
			}
		}
	}
	if id == idKind {
		width = 0
	}
	if f.delta {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(base))
	}
	prev := base
	for i := range recs {
		v := vals[i]
		if mode == presBitmap && !present(v) {
			continue
		}
		switch {
		case f.float:
			dst = binary.LittleEndian.AppendUint64(dst, v)
		case width > 0:
			x := wireVal(v, &prev)
			for j := range width {
				dst = append(dst, byte(x>>(8*j)))
			}
		default:
			dst = binary.AppendUvarint(dst, wireVal(v, &prev))
		}
	}
	return mode << 2, width, dst
}

// fixedSlackRef/4 is how much larger than its varints a number column may be written
// with values of a fixed width. On a real trace: 1.5 decoded ~20% slower and was no
// smaller compressed; 4 decodes ~10% faster than 2 for 0.3% more compressed bytes;
// unbounded was no faster.
const fixedSlackRef = 16

// varintLen is the length of v as a uvarint (stream.go's uvarintLen, without a loop).
func varintLenRef(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// byteLen is the bytes of v without its leading zero bytes (at least 1).
func byteLenRef(v uint64) int { return (bits.Len64(v|1) + 7) / 8 }

// appendBytesColumn appends a byte column's body: raw values if they are all of one
// width (addresses of one family, MACs, countries), else length-prefixed.
func appendBytesColumnRef(dst []byte, recs []Record, id uint8) (byte, int, []byte) {
	cnt, width := 0, -1
	for i := range recs {
		if b := colBytesRef(&recs[i], id); b != nil {
			cnt++
			if width == -1 {
				width = len(b)
			} else if width != len(b) {
				width = 0
			}
		}
	}
	if cnt == 0 {
		return 0, 0, dst
	}
	tag := byte(presAll << 2)
	if cnt < len(recs) {
		tag = presBitmap << 2
		at := len(dst)
		dst = append(dst, make([]byte, (len(recs)+7)/8)...)
		for i := range recs {
			if colBytesRef(&recs[i], id) != nil {
				dst[at+i/8] |= 1 << (i % 8)
			}
		}
	}
	if width > 0 {
		tag |= tagFixed
	} else {
		width = 0
	}
	for i := range recs {
		b := colBytesRef(&recs[i], id)
		if b == nil {
			continue
		}
		if width == 0 {
			dst = binary.AppendUvarint(dst, uint64(len(b)))
		}
		dst = append(dst, b...)
	}
	return tag, width, dst
}

// recQueues returns the queues the row format writes for r.
func recQueuesRef(r *Record) []QueueStats {
	if r.Kind != KindMan || r.Man == nil {
		return nil
	}
	return r.Man.Queues[:min(len(r.Man.Queues), MaxManQueues)]
}

// appendQueueColumn appends the management queues: a count per row, then each queue
// as appendQueue's bytes field (length-prefixed).
func appendQueueColumnRef(dst []byte, recs []Record) (byte, []byte) {
	some := false
	for i := range recs {
		if len(recQueuesRef(&recs[i])) > 0 {
			some = true
			break
		}
	}
	if !some {
		return 0, dst
	}
	for i := range recs {
		dst = binary.AppendUvarint(dst, uint64(len(recQueuesRef(&recs[i]))))
	}
	var buf [maxQueueName + 2 + 10*binary.MaxVarintLen64]byte
	for i := range recs {
		for j := range recQueuesRef(&recs[i]) {
			q := appendQueue(buf[:0], &recs[i].Man.Queues[j])
			dst = append(dst, q[1:]...) // without appendQueue's field id
		}
	}
	return presCounts << 2, dst
}
