package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unsafe"
)

// Columnar blocks: a block of records stored column by column, for the archive's
// segment blocks (before compression). Decoding the row format spends most of its
// time finding out which field comes next; a column holds one field of every row, so
// its decoding is a tight loop, and a reader may decode the flow key of every row and
// the other columns only for the rows it keeps.
//
// Layout (version 1):
//
//	version byte (1), uvarint row count
//	columns, until the block's end; each:
//	  id byte: the row format's field id (idStart, idSrcAddr, ... idManQueue), or 0
//	    for Kind (the row format's leading byte)
//	  tag byte: wire type (bits 0-1, as in the stream's schema), presence (bits 2-3:
//	    0 every row has a value, 1 a bitmap says which rows have one, 2 a uvarint count
//	    per row: repeated fields, the management queues), fixed (bit 4: values all of
//	    one width, given next as a uvarint: byte values without length prefixes, and
//	    numbers as that many bytes little-endian instead of varints)
//	  [uvarint width, if fixed]
//	  uvarint length of the rest of the column, so that a reader skips a column whose
//	    id it does not know, or knows with another wire type (one written by a newer
//	    Panoptes), as the stream format's schema lets it skip a field
//	  [bitmap: (rows+7)/8 bytes, bit i%8 of byte i/8 for row i] or [rows uvarint counts]
//	  the values of the rows that have one, in row order: uvarints (or fixed-width);
//	    zigzag varints (StartTime as the delta from the previous value in its column,
//	    the first from a base value: 8 bytes little-endian before the values);
//	    floats as 8 bytes little-endian; byte fields raw if fixed, else each
//	    uvarint-length-prefixed
//
// Kind's column comes first and has one byte (1 or 2) per row: a damaged row count
// cannot make a reader allocate more rows than the block has bytes.
//
// Why fixed widths: the end of a varint is known only once it is read, so a column of
// varints decodes one value after the other; fixed-width values decode independently
// (one 8-byte read and a mask each), and the zero bytes they add compress away (a
// real trace's blocks come out smaller under zstd than with varints). The writer
// uses them unless they would make a column more than four times as long. A column's
// presence is the shorter of "every row" and a bitmap.

// Addresses are stored as the row format stores them: raw 4 (IPv4, and non-IP flows'
// protocol addresses) or 16 bytes, so every address appears verbatim in the block, as
// it does in a row-format block: searching a decompressed block for an address's bytes
// (bytes.Index) still tells which blocks cannot hold it. A block of IPv4 flows keeps
// each address column as one run of 4-byte addresses.
//
// A block decodes to exactly the records that the row format's round trip gives
// (DecodeRecord of AppendRecord): the fields the row format would not write decode as
// zero, LastTime comes from the duration (never before StartTime), labels are cut at
// MaxLabelLen, interface names at their first NUL, a management record has its
// Management (zero if it had none) and at most MaxManQueues queues. A flow record's Man
// is not written (the row format's decoder rejects management fields in a flow record).

// MaxColumnRows bounds the rows of one columnar block: a larger count is corruption.
// The archive's blocks hold about 256 KiB of row-format records, a few thousand rows.
const MaxColumnRows = 1 << 17

const (
	colVersion = 1
	idKind     = 0 // Kind's column: the row format's field ids start at 1

	presAll    = 0
	presBitmap = 1
	presCounts = 2

	tagFixed = 1 << 4

	// colChunk rows are decoded column by column at a time: the rows stay in the L1/L2
	// cache while each column is stored into them (a whole block of Records would be
	// read from memory once per column).
	colChunk = 128
)

// What a column's values are, for the decoder's dispatch (once per column and chunk).
const (
	fNone  = iota
	fNum   // a number in the Record, at off
	fMan   // a management counter, at off in Management
	fDur   // the duration (LastTime - StartTime)
	fBytes // addresses, MACs, interface, countries, label
	fQueue // management queues: repeated
)

type colField struct {
	class  uint8
	size   uint8 // of the number in memory: 1, 2, 4 or 8
	wire   uint8
	signed bool // zigzag on the wire
	float  bool
	delta  bool   // delta from the previous value in the column
	key    bool   // a flow-key column: decoded for every row before keep
	group  Fields // the group SetFields names it by (0: always decoded)
	off    uintptr
}

// Fields is a set of groups of a record's fields, for a reader that needs only some of
// them decoded (ColumnDecoder.SetFields): a count reads the flow key and the counters,
// and decoding the other columns was half of its CPU. The flow key and the times are
// always decoded; a field outside the set is zero.
type Fields uint8

const (
	// FieldsKey is the fields always decoded: Kind, Family, Proto, EtherType, SrcAddr,
	// DstAddr, SrcPort, DstPort, SrcID, StartTime and LastTime.
	FieldsKey Fields = 0
	// FieldsCounts adds each side's Pkts and Bytes.
	FieldsCounts Fields = 1 << 0
	// FieldsMAC adds each side's MAC: a non-IP flow's address as ra prints it, and
	// part of its cluster key.
	FieldsMAC Fields = 1 << 1
	// FieldsStatus adds what ra's flgs, dir and state columns print: Flags,
	// TCPState, Cause, and each side's Retrans, Loss and OutOfOrder.
	FieldsStatus Fields = 1 << 2
	// fieldsRest is every other field's group.
	fieldsRest Fields = 1 << 7
	// AllFields is every field.
	AllFields Fields = 0xff
)

// colFields describes each column this version knows, by id; colOrder is the order
// AppendColumns writes them in (Kind first).
var colFields, colOrder = func() (t [256]colField, order []uint8) {
	var r Record
	var m Management
	num := func(id uint8, off uintptr, size uint8) {
		t[id] = colField{class: fNum, size: size, wire: uint8(wireTypes[id]), off: off}
		if id != idKind && wireTypes[id] == WireVarint {
			t[id].signed = true
		}
		if id != idKind && wireTypes[id] == WireFloat {
			t[id].float = true
		}
	}
	num(idKind, unsafe.Offsetof(r.Kind), 1)
	t[idKind].wire = WireUvarint
	num(idCause, unsafe.Offsetof(r.Cause), 1)
	num(idClock, unsafe.Offsetof(r.Clock), 1)
	num(idFlags, unsafe.Offsetof(r.Flags), 4)
	num(idSrcID, unsafe.Offsetof(r.SrcID), 4)
	num(idSeq, unsafe.Offsetof(r.Seq), 4)
	num(idStart, unsafe.Offsetof(r.StartTime), 8)
	t[idStart].delta = true
	t[idDuration] = colField{class: fDur, size: 8, wire: WireUvarint}
	num(idFamily, unsafe.Offsetof(r.Family), 1)
	num(idProto, unsafe.Offsetof(r.Proto), 1)
	num(idEtherType, unsafe.Offsetof(r.EtherType), 2)
	num(idSrcPort, unsafe.Offsetof(r.SrcPort), 2)
	num(idDstPort, unsafe.Offsetof(r.DstPort), 2)
	num(idICMPID, unsafe.Offsetof(r.ICMPID), 2)
	num(idICMPSeq, unsafe.Offsetof(r.ICMPSeq), 2)
	num(idTCPState, unsafe.Offsetof(r.TCPState), 2)
	num(idSynAck, unsafe.Offsetof(r.SynAck), 8)
	num(idAckDat, unsafe.Offsetof(r.AckDat), 8)
	num(idTrans, unsafe.Offsetof(r.Trans), 4)
	num(idSrcAS, unsafe.Offsetof(r.SrcAS), 4)
	num(idDstAS, unsafe.Offsetof(r.DstAS), 4)
	num(idSampling, unsafe.Offsetof(r.Sampling), 4)
	for _, side := range []struct {
		base uintptr
		id   uint8
	}{{unsafe.Offsetof(r.Src), 0}, {unsafe.Offsetof(r.Dst), sideDst}} {
		var s Side // for its field offsets
		b, o := side.base, side.id
		num(idPkts+o, b+unsafe.Offsetof(s.Pkts), 8)
		num(idBytes+o, b+unsafe.Offsetof(s.Bytes), 8)
		num(idAppBytes+o, b+unsafe.Offsetof(s.AppBytes), 8)
		num(idMinSize+o, b+unsafe.Offsetof(s.MinSize), 4)
		num(idMaxSize+o, b+unsafe.Offsetof(s.MaxSize), 4)
		num(idTTL+o, b+unsafe.Offsetof(s.TTL), 1)
		num(idToS+o, b+unsafe.Offsetof(s.ToS), 1)
		num(idVLAN+o, b+unsafe.Offsetof(s.VLAN), 2)
		num(idMPLS+o, b+unsafe.Offsetof(s.MPLS), 4)
		num(idIntN+o, b+unsafe.Offsetof(s.IntN), 8)
		num(idIntMean+o, b+unsafe.Offsetof(s.IntMean), 8)
		num(idIntM2+o, b+unsafe.Offsetof(s.IntM2), 8)
		num(idTCPFlags+o, b+unsafe.Offsetof(s.TCPFlags), 1)
		num(idBaseSeq+o, b+unsafe.Offsetof(s.BaseSeq), 4)
		num(idWin+o, b+unsafe.Offsetof(s.Win), 4)
		num(idRetrans+o, b+unsafe.Offsetof(s.Retrans), 8)
		num(idLoss+o, b+unsafe.Offsetof(s.Loss), 8)
		num(idOutOfOrder+o, b+unsafe.Offsetof(s.OutOfOrder), 8)
		t[idMAC+o] = colField{class: fBytes, wire: WireBytes}
	}
	for _, id := range []uint8{idSrcAddr, idDstAddr, idInf, idSrcCountry, idDstCountry, idLabel} {
		t[id] = colField{class: fBytes, wire: WireBytes}
	}
	for id, off := range map[uint8]uintptr{
		idManPktsSeen: unsafe.Offsetof(m.PktsSeen), idManBytesSeen: unsafe.Offsetof(m.BytesSeen),
		idManRecordsWritten: unsafe.Offsetof(m.RecordsWritten), idManFlowsActive: unsafe.Offsetof(m.FlowsActive),
		idManParseErrors: unsafe.Offsetof(m.ParseErrors), idManSkippedLink: unsafe.Offsetof(m.SkippedLink),
		idManEvictions: unsafe.Offsetof(m.Evictions), idManDrops: unsafe.Offsetof(m.Drops),
		idManNICDrops: unsafe.Offsetof(m.NICDrops), idManRecordDrops: unsafe.Offsetof(m.RecordDrops),
		idManFuture: unsafe.Offsetof(m.Future), idManClientsRefused: unsafe.Offsetof(m.ClientsRefused),
		idManClientDrops: unsafe.Offsetof(m.ClientDrops), idManOutputDrops: unsafe.Offsetof(m.OutputDrops),
	} {
		t[id] = colField{class: fMan, size: 8, wire: WireUvarint, off: off}
	}
	t[idManQueue] = colField{class: fQueue, wire: WireBytes}
	for id := range t {
		t[id].group = fieldsRest
	}
	for _, id := range []uint8{idKind, idFamily, idProto, idEtherType, idSrcAddr, idDstAddr, idSrcPort, idDstPort, idSrcID, idStart} {
		t[id].key = true
		t[id].group = FieldsKey
	}
	t[idDuration].group = FieldsKey
	for _, id := range []uint8{idPkts, idBytes, idPkts + sideDst, idBytes + sideDst} {
		t[id].group = FieldsCounts
	}
	t[idMAC].group, t[idMAC+sideDst].group = FieldsMAC, FieldsMAC
	for _, id := range []uint8{idFlags, idTCPState, idCause, idRetrans, idLoss, idOutOfOrder,
		idRetrans + sideDst, idLoss + sideDst, idOutOfOrder + sideDst} {
		t[id].group = FieldsStatus
	}
	order = []uint8{idKind}
	for _, e := range schema {
		order = append(order, e.id)
	}
	return t, order
}()

// colState is one column of the block being decoded, and where its decoding is.
type colState struct {
	id     uint8
	mode   uint8
	f      colField
	width  int    // of each byte value; 0: length-prefixed
	bits   []byte // presBitmap
	counts []byte // presCounts: the rows' counts
	cpos   int
	vals   []byte
	pos    int
	base   int // offset of vals in the block, for errors
	row    int // the next row to decode
	prev   int64
	// oneByte: a number column whose values are all one byte long (as many bytes as
	// values), decoded without looking for their ends.
	oneByte bool
	mask    uint64 // a fixed-width number column's: the width's bits
}

func (c *colState) err(p int, msg string) error {
	return fmt.Errorf("%w: column %d at byte %d: %s", ErrCorrupt, c.id, c.base+p, msg)
}

// ColumnDecoder decodes columnar blocks; reusable, not safe for concurrent use.
type ColumnDecoder struct {
	cols      []colState
	kind      colState
	dur       *colState
	missKey   bool // a key column is absent: the scratch rows' key fields are cleared
	vals      [colChunk]uint64
	durs      [colChunk]uint64
	idx       [colChunk]uint8 // rows of a chunk with a value (colChunk <= 256)
	hints     [colChunk]string
	tmp       []Record // keep: the key columns of a chunk's rows
	sel       []int32
	lastLabel string
	spare     []*Management // given up by rows now flow records; see resetRow
	omit      Fields        // the groups SetFields left out (zero: none)
}

// SetFields makes Decode decode only the fields of f (and the flow key and times,
// always): the columns of the other fields are passed over, and those fields are zero
// in the records it gives. A decoder decodes every field until told otherwise. It
// applies to the blocks decoded after it.
func (d *ColumnDecoder) SetFields(f Fields) { d.omit = ^f }

// Decode decodes block src into recs (grown as needed and returned; existing elements
// and their Man pointers are reused, as decodeBatch in index/parread.go does). With
// keep non-nil: key columns (Kind, Family, Proto, EtherType, SrcAddr, DstAddr, SrcPort,
// DstPort, SrcID, StartTime) first, keep called per row with a record holding only
// those (the decoder's scratch record: valid during the call only), then the other
// columns only for kept rows; the returned slice holds only the kept rows, in block
// order. A Man pointer a row no longer needs (it now holds a flow record) may be given
// to a management row later, in this block or the next. Malformed input gives an error
// wrapping ErrCorrupt that names the column (field id) and the byte offset, with the
// rows decoded before it; a block of a later format version gives ErrNewer.
func (d *ColumnDecoder) Decode(src []byte, recs []Record, keep func(*Record) bool) ([]Record, error) {
	n, err := d.parse(src)
	if err != nil {
		return recs[:0], err
	}
	if keep == nil {
		return d.decodeAll(n, recs)
	}
	return d.decodeKeep(n, recs, keep)
}

// parse reads the block's header and its columns' headers into d.cols.
func (d *ColumnDecoder) parse(src []byte) (int, error) {
	if len(src) == 0 {
		return 0, fmt.Errorf("%w: empty columnar block", ErrCorrupt)
	}
	if src[0] != colVersion {
		if src[0] > colVersion {
			return 0, fmt.Errorf("%w: %w: columnar block version %d", ErrNewer, ErrVersion, src[0])
		}
		return 0, fmt.Errorf("%w: columnar block version %d", ErrCorrupt, src[0])
	}
	rows, k := uvarint(src[1:])
	if k <= 0 || rows > MaxColumnRows || rows > uint64(len(src)) {
		return 0, fmt.Errorf("%w: columnar block: bad row count at byte 1", ErrCorrupt)
	}
	n := int(rows)
	d.cols, d.dur, d.kind = d.cols[:0], nil, colState{}
	var seen [4]uint64
	haveKind := false
	var keys uint8
	for p := 1 + k; p < len(src); {
		at := p
		if len(src)-p < 3 {
			return 0, fmt.Errorf("%w: column header at byte %d: truncated", ErrCorrupt, at)
		}
		id, tag := src[p], src[p+1]
		p += 2
		bad := func(msg string) error {
			return fmt.Errorf("%w: column %d at byte %d: %s", ErrCorrupt, id, at, msg)
		}
		if tag>>5 != 0 || tag>>2&3 == 3 {
			return 0, bad("bad tag")
		}
		width := 0
		if tag&tagFixed != 0 {
			w, k := uvarint(src[p:])
			if k <= 0 || w == 0 || w > MaxRecordLen {
				return 0, bad("bad width")
			}
			width, p = int(w), p+k
		}
		l, k := uvarint(src[p:])
		if k <= 0 || l > uint64(len(src)-p-k) {
			return 0, bad("bad length")
		}
		p += k
		body, base := src[p:p+int(l)], p
		p += int(l)
		if seen[id/64]&(1<<(id%64)) != 0 {
			return 0, bad("repeated column")
		}
		seen[id/64] |= 1 << (id % 64)
		f := colFields[id]
		if f.class == fNone || tag&3 != f.wire {
			continue // written by a newer version, or re-typed: skipped
		}
		if f.group&d.omit != 0 {
			continue // not wanted (SetFields)
		}
		c := colState{id: id, mode: tag >> 2 & 3, f: f, width: width}
		if width > 0 && f.wire != WireBytes && (width > 8 || f.float || id == idKind) {
			return 0, bad("bad fixed width of a number")
		}
		switch c.mode {
		case presBitmap:
			nb := (n + 7) / 8
			if len(body) < nb {
				return 0, bad("short bitmap")
			}
			c.bits, body, base = body[:nb], body[nb:], base+nb
		case presCounts:
			if f.class != fQueue {
				return 0, bad("counts of a single field")
			}
			q := 0
			for range n {
				if q >= len(body) {
					return 0, bad("short counts")
				}
				_, k := uvarint(body[q:])
				if k <= 0 {
					return 0, bad("bad count")
				}
				q += k
			}
			c.counts, body, base = body[:q], body[q:], base+q
		}
		if f.class == fQueue && c.mode != presCounts {
			return 0, bad("queues without counts")
		}
		if f.delta {
			if len(body) < 8 {
				return 0, bad("no base value")
			}
			c.prev = int64(binary.LittleEndian.Uint64(body))
			body, base = body[8:], base+8
		}
		c.vals, c.base = body, base
		if f.wire == WireUvarint || f.wire == WireVarint {
			values := n
			if c.mode == presBitmap {
				values = c.countBits(0, n) // the bits past the last row do not count
			}
			if width > 0 {
				// So that the values' reads need no check.
				if len(body) != values*width {
					return 0, bad("fixed-width values do not fill the column")
				}
				c.mask = 1<<(8*width) - 1
			}
			c.oneByte = len(body) == values && (width == 0 || width == 1)
		}
		if f.key {
			keys++
		}
		if id == idKind {
			// Every row's kind, one byte each when valid: so the row count is bounded by
			// the block's length, and with it what a damaged count can allocate.
			if c.mode != presAll || len(body) != n {
				return 0, bad("kind column not one byte per row")
			}
			d.kind, haveKind = c, true
			continue
		}
		d.cols = append(d.cols, c)
	}
	if !haveKind && n > 0 {
		return 0, fmt.Errorf("%w: columnar block without kind column", ErrCorrupt)
	}
	d.missKey = keys < 10
	for i := range d.cols {
		if d.cols[i].f.class == fDur {
			d.dur = &d.cols[i]
		}
	}
	return n, nil
}

// growRecs returns recs with length n, keeping its elements (their Man pointers).
func growRecs(recs []Record, n int) []Record {
	if n <= cap(recs) {
		return recs[:n]
	}
	nr := make([]Record, n, max(n, 2*cap(recs)))
	copy(nr, recs[:cap(recs)])
	return nr
}

func (d *ColumnDecoder) decodeAll(n int, recs []Record) ([]Record, error) {
	recs = growRecs(recs, n)
	for lo := 0; lo < n; lo += colChunk {
		rs := recs[lo:min(lo+colChunk, n)]
		kinds := d.vals[:len(rs)]
		if err := d.kind.nums(kinds); err != nil {
			return recs[:lo], err
		}
		hints := d.hints[:len(rs)]
		for i := range rs {
			r := &rs[i]
			hints[i] = r.Label
			if kinds[i] == uint64(KindFlow) && r.Man == nil && r.Label == "" {
				// resetRow's work for the common row, inline.
				*(*[plainLen]byte)(unsafe.Pointer(r)) = [plainLen]byte{}
				r.Kind = KindFlow
				continue
			}
			if err := d.resetRow(r, kinds[i]); err != nil {
				return recs[:lo], d.kind.err(lo+i, err.Error())
			}
		}
		if err := d.decodeCols(rs, nil, false); err != nil {
			return recs[:lo], err
		}
	}
	if d.kind.pos != len(d.kind.vals) {
		return recs, d.kind.err(d.kind.pos, "trailing bytes")
	}
	for i := range d.cols {
		c := &d.cols[i]
		if c.pos != len(c.vals) || c.cpos != len(c.counts) {
			return recs, c.err(c.pos, "trailing bytes")
		}
	}
	return recs, nil
}

// resetRow clears r for a row of kind k, as DecodeRecord does: a management record's
// Management is r's own if it has one, else one a flow row of an earlier block gave
// up (so that decoding blocks that mix the kinds allocates nothing once warm).
func (d *ColumnDecoder) resetRow(r *Record, k uint64) error {
	// The fields before Label hold no pointers: cleared as plain memory, without the
	// write barriers of a whole Record's assignment (TestColumnsResetLayout).
	*(*[plainLen]byte)(unsafe.Pointer(r)) = [plainLen]byte{}
	r.Kind = Kind(k)
	if r.Label != "" {
		r.Label = ""
	}
	switch Kind(k) {
	case KindFlow:
		if r.Man != nil {
			if len(d.spare) < maxSpareMan {
				d.spare = append(d.spare, r.Man)
			}
			r.Man = nil
		}
	case KindMan:
		if r.Man == nil {
			if n := len(d.spare); n > 0 {
				r.Man, d.spare = d.spare[n-1], d.spare[:n-1]
			} else {
				r.Man = new(Management)
			}
		}
		*r.Man = Management{}
	default:
		return fmt.Errorf("%w: kind %d", errUnknownKnd, k)
	}
	return nil
}

// maxSpareMan bounds the Managements a decoder keeps for later management rows.
const maxSpareMan = 64

// plainLen is the length of the Record's fields before Label, none of them a pointer.
const plainLen = unsafe.Offsetof(Record{}.Label)

// decodeCols decodes the columns (but Kind's; only the non-key ones if nonKey) into
// rs: the columns' next rows if sel is nil, else the rows sel, one per element of rs.
func (d *ColumnDecoder) decodeCols(rs []Record, sel []int32, nonKey bool) error {
	durs := d.durs[:len(rs)]
	clear(durs)
	for i := range d.cols {
		c := &d.cols[i]
		if nonKey && c.f.key {
			continue
		}
		if err := d.decodeCol(c, rs, sel, true); err != nil {
			return err
		}
	}
	for i := range rs {
		rs[i].LastTime = rs[i].StartTime + int64(durs[i])
	}
	return nil
}

// decodeCol decodes column c into rs (see decodeCols); zeroed says rs's fields are
// zero (reset rows, not the scratch rows of keep's key columns).
func (d *ColumnDecoder) decodeCol(c *colState, rs []Record, sel []int32, zeroed bool) error {
	switch c.f.class {
	case fNum, fDur, fMan:
		if zeroed && sel == nil && c.mode == presBitmap && !c.f.delta {
			// Most columns are mostly zero: only the rows with a value are visited
			// (the rows were reset to zero).
			return c.sparse(rs, d.vals[:], &d.idx, d.durs[:len(rs)])
		}
	}
	switch c.f.class {
	case fNum:
		if sel == nil && c.direct(rs) {
			return nil
		}
		vals := d.vals[:len(rs)]
		if err := c.numsAt(vals, sel); err != nil {
			return err
		}
		storeNums(rs, c.f.off, c.f.size, vals)
	case fDur:
		return c.numsAt(d.durs[:len(rs)], sel)
	case fMan:
		vals := d.vals[:len(rs)]
		if err := c.numsAt(vals, sel); err != nil {
			return err
		}
		for i, v := range vals {
			if v == 0 {
				continue
			}
			m := rs[i].Man
			if m == nil {
				return c.err(c.pos, "management counter in a flow record")
			}
			*(*uint64)(unsafe.Add(unsafe.Pointer(m), c.f.off)) = v
		}
	case fBytes:
		if c.id == idSrcAddr || c.id == idDstAddr {
			if c.width == 4 && c.mode == presAll && sel == nil {
				return c.addrs4(rs)
			}
		}
		// keep's scratch rows have their addresses cleared (the only key byte fields).
		if sel == nil && (zeroed || c.id == idSrcAddr || c.id == idDstAddr) {
			return d.bytesAll(c, rs)
		}
		for i := range rs {
			if sel != nil {
				if err := c.skipTo(int(sel[i])); err != nil {
					return err
				}
			}
			b, ok, err := c.next()
			if err != nil {
				return err
			}
			if ok {
				if err := d.setBytes(&rs[i], c, b, i); err != nil {
					return err
				}
			}
		}
	case fQueue:
		for i := range rs {
			if sel != nil {
				if err := c.skipTo(int(sel[i])); err != nil {
					return err
				}
			}
			if err := c.queues(&rs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// sparse decodes a bitmap number column for the next len(rs) rows, which hold zero
// in its field: it stores the values of the rows that have one, found eight rows at a
// time; durations go to durs.
func (c *colState) sparse(rs []Record, vals []uint64, idx *[colChunk]uint8, durs []uint64) error {
	lo, m := c.row, len(rs)
	if c.f.class == fNum && !c.f.signed && c.sparseFixed(rs) {
		return nil
	}
	k := 0
	for base := 0; base < m; base += 64 {
		for w := c.word(lo+base, m-base); w != 0; w &= w - 1 {
			idx[k] = uint8(base + bits.TrailingZeros64(w))
			k++
		}
	}
	vals = vals[:k]
	if err := c.values(vals); err != nil {
		return err
	}
	c.row = lo + m
	rows := idx[:k]
	off := c.f.off
	switch c.f.class {
	case fNum:
		switch c.f.size {
		case 1:
			for j, i := range rows {
				*(*uint8)(unsafe.Add(unsafe.Pointer(&rs[i]), off)) = uint8(vals[j])
			}
		case 2:
			for j, i := range rows {
				*(*uint16)(unsafe.Add(unsafe.Pointer(&rs[i]), off)) = uint16(vals[j])
			}
		case 4:
			for j, i := range rows {
				*(*uint32)(unsafe.Add(unsafe.Pointer(&rs[i]), off)) = uint32(vals[j])
			}
		default:
			for j, i := range rows {
				*(*uint64)(unsafe.Add(unsafe.Pointer(&rs[i]), off)) = vals[j]
			}
		}
	case fDur:
		for j, i := range rows {
			durs[i] = vals[j]
		}
	case fMan:
		for j, i := range rows {
			if vals[j] == 0 {
				continue
			}
			m := rs[i].Man
			if m == nil {
				return c.err(c.pos, "management counter in a flow record")
			}
			*(*uint64)(unsafe.Add(unsafe.Pointer(m), off)) = vals[j]
		}
	}
	return nil
}

// sparseFixed is sparse for a fixed-width column of Record numbers, in one pass: it
// reports false (and does nothing) unless the chunk's values can each be read as 8
// bytes within the column.
func (c *colState) sparseFixed(rs []Record) bool {
	w, mask := c.width, c.mask
	switch {
	case c.f.float:
		w, mask = 8, ^uint64(0)
	case c.oneByte:
		w, mask = 1, 0xff
	}
	if w == 0 {
		return false
	}
	lo, m := c.row, len(rs)
	var words [colChunk / 64]uint64
	k := 0
	for j := range words[:(m+63)/64] {
		words[j] = c.word(lo+64*j, m-64*j)
		k += bits.OnesCount64(words[j])
	}
	if len(c.vals)-c.pos < k*w+8 {
		return false
	}
	v := unsafe.Pointer(unsafe.SliceData(c.vals[c.pos : c.pos+k*w+8]))
	r0 := unsafe.Pointer(unsafe.SliceData(rs))
	const size = unsafe.Sizeof(Record{})
	p, off := 0, c.f.off
	for j, wd := range words[:(m+63)/64] {
		base := 64 * j
		switch c.f.size {
		case 1:
			for ; wd != 0; wd &= wd - 1 {
				i := base + bits.TrailingZeros64(wd)
				*(*uint8)(unsafe.Add(r0, uintptr(i)*size+off)) = uint8(load64(v, p) & mask)
				p += w
			}
		case 2:
			for ; wd != 0; wd &= wd - 1 {
				i := base + bits.TrailingZeros64(wd)
				*(*uint16)(unsafe.Add(r0, uintptr(i)*size+off)) = uint16(load64(v, p) & mask)
				p += w
			}
		case 4:
			for ; wd != 0; wd &= wd - 1 {
				i := base + bits.TrailingZeros64(wd)
				*(*uint32)(unsafe.Add(r0, uintptr(i)*size+off)) = uint32(load64(v, p) & mask)
				p += w
			}
		default:
			for ; wd != 0; wd &= wd - 1 {
				i := base + bits.TrailingZeros64(wd)
				*(*uint64)(unsafe.Add(r0, uintptr(i)*size+off)) = load64(v, p) & mask
				p += w
			}
		}
	}
	c.pos += p
	c.row = lo + m
	return true
}

// values decodes the column's next len(dst) values (not delta-coded), whatever rows
// they belong to.
func (c *colState) values(dst []uint64) error {
	v, p := c.vals, c.pos
	w, mask := c.width, c.mask
	switch {
	case c.f.float:
		w, mask = 8, ^uint64(0)
	case c.oneByte:
		w, mask = 1, 0xff
	}
	if w > 0 {
		if len(v)-p < w*len(dst) {
			return c.err(p, "short column")
		}
		if len(v)-p >= w*len(dst)+8 {
			// Each value's position is known without reading the one before.
			for i := range dst {
				dst[i] = binary.LittleEndian.Uint64(v[p+i*w:]) & mask
			}
		} else {
			for i := range dst {
				dst[i] = fixedAt(v, p+i*w, w, mask)
			}
		}
		p += w * len(dst)
	} else {
		for i := range dst {
			var x uint64
			var k int
			if len(v)-p >= 8 {
				x, k = uvarint8(binary.LittleEndian.Uint64(v[p:]))
			}
			if k == 0 {
				if x, k = uvarint(v[p:]); k <= 0 {
					return c.err(p, "bad varint")
				}
			}
			dst[i], p = x, p+k
		}
	}
	if c.f.signed {
		for i, x := range dst {
			dst[i] = uint64(unzigzag(x))
		}
	}
	c.pos = p
	return nil
}

// word returns the presence bits of rows row to row+min(64, m) (row a multiple of 8).
func (c *colState) word(row, m int) uint64 {
	var w uint64
	if bi := row >> 3; len(c.bits)-bi >= 8 {
		w = binary.LittleEndian.Uint64(c.bits[bi:])
	} else {
		for j, b := range c.bits[bi:] {
			w |= uint64(b) << (8 * j)
		}
	}
	if m < 64 {
		w &= 1<<m - 1 // bits past the block's rows may be set in a damaged block
	}
	return w
}

// bytesAll decodes a byte column for the next len(rs) rows (reset ones): only the
// rows with a value are visited.
func (d *ColumnDecoder) bytesAll(c *colState, rs []Record) error {
	if c.id == idSrcAddr || c.id == idDstAddr {
		return c.addrs(rs)
	}
	if (c.id == idMAC || c.id == idMAC+sideDst) && c.width == 6 {
		return c.macs(rs)
	}
	lo, m := c.row, len(rs)
	v, p := c.vals, c.pos
	for base := 0; base < m; base += 64 {
		w := ^uint64(0)
		if c.mode == presBitmap {
			w = c.word(lo+base, m-base)
		} else if m-base < 64 {
			w = 1<<(m-base) - 1
		}
		for w != 0 {
			i := base + bits.TrailingZeros64(w)
			w &= w - 1
			l := c.width
			if l == 0 {
				if p < len(v) && v[p] < 0x80 {
					l = int(v[p])
					p++
				} else {
					x, k := uvarint(v[p:])
					if k <= 0 || x > uint64(len(v)-p-k) {
						return c.err(p, "bad length")
					}
					l, p = int(x), p+k
				}
			}
			if l > len(v)-p {
				return c.err(p, "short value")
			}
			b := v[p : p+l]
			p += l
			r := &rs[i]
			switch {
			case c.id == idSrcAddr && l == 4:
				r.SrcAddr = [16]byte{0: b[0], 1: b[1], 2: b[2], 3: b[3]}
			case c.id == idDstAddr && l == 4:
				r.DstAddr = [16]byte{0: b[0], 1: b[1], 2: b[2], 3: b[3]}
			case c.id == idMAC && l == 6:
				r.Src.MAC = [6]byte(b)
			case c.id == idMAC+sideDst && l == 6:
				r.Dst.MAC = [6]byte(b)
			default:
				c.pos = p
				if err := d.setBytes(r, c, b, i); err != nil {
					return err
				}
			}
		}
	}
	c.pos = p
	c.row = lo + m
	return nil
}

// direct decodes a fixed-width number column with a value in every row straight into
// rs's field (no intermediate array), if it is one and holds the chunk's values with
// eight bytes to spare (so that every value is one 8-byte read); it reports whether it
// did.
func (c *colState) direct(rs []Record) bool {
	w, mask := c.width, c.mask
	if c.oneByte {
		w, mask = 1, 0xff
	}
	if c.mode != presAll || w == 0 || c.f.signed || c.f.delta || len(c.vals)-c.pos < w*len(rs)+8 {
		return false
	}
	v := unsafe.Pointer(unsafe.SliceData(c.vals[c.pos:]))
	r0 := unsafe.Pointer(unsafe.SliceData(rs))
	const size = unsafe.Sizeof(Record{})
	off := c.f.off
	switch c.f.size {
	case 1:
		for i := range len(rs) {
			*(*uint8)(unsafe.Add(r0, uintptr(i)*size+off)) = uint8(load64(v, i*w) & mask)
		}
	case 2:
		for i := range len(rs) {
			*(*uint16)(unsafe.Add(r0, uintptr(i)*size+off)) = uint16(load64(v, i*w) & mask)
		}
	case 4:
		for i := range len(rs) {
			*(*uint32)(unsafe.Add(r0, uintptr(i)*size+off)) = uint32(load64(v, i*w) & mask)
		}
	default:
		for i := range len(rs) {
			*(*uint64)(unsafe.Add(r0, uintptr(i)*size+off)) = load64(v, i*w) & mask
		}
	}
	c.pos += w * len(rs)
	c.row += len(rs)
	return true
}

// load64 reads the 8 bytes at v+i little-endian, without a bounds check: the callers
// have checked that the column holds them.
func load64(v unsafe.Pointer, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(v, i))[:])
}

// storeNums stores vals into the field at off (of size bytes) of rs's records.
func storeNums(rs []Record, off uintptr, size uint8, vals []uint64) {
	vals = vals[:len(rs)]
	r0 := unsafe.Pointer(unsafe.SliceData(rs))
	const rsize = unsafe.Sizeof(Record{})
	switch size {
	case 1:
		for i, v := range vals {
			*(*uint8)(unsafe.Add(r0, uintptr(i)*rsize+off)) = uint8(v)
		}
	case 2:
		for i, v := range vals {
			*(*uint16)(unsafe.Add(r0, uintptr(i)*rsize+off)) = uint16(v)
		}
	case 4:
		for i, v := range vals {
			*(*uint32)(unsafe.Add(r0, uintptr(i)*rsize+off)) = uint32(v)
		}
	default:
		for i, v := range vals {
			*(*uint64)(unsafe.Add(r0, uintptr(i)*rsize+off)) = v
		}
	}
}

// addrs4 is the common address column: every row an IPv4 address.
func (c *colState) addrs4(rs []Record) error {
	if len(c.vals)-c.pos < 4*len(rs) {
		return c.err(c.pos, "short addresses")
	}
	v := c.vals[c.pos : c.pos+4*len(rs)]
	if c.id == idSrcAddr {
		for i := range rs {
			copy(rs[i].SrcAddr[:4], v[4*i:])
		}
	} else {
		for i := range rs {
			copy(rs[i].DstAddr[:4], v[4*i:])
		}
	}
	c.pos += 4 * len(rs)
	c.row += len(rs)
	return nil
}

// addrs is bytesAll for an address column (the archive's most common filter terms,
// and keys): 4 or 16 bytes a value, each length-prefixed unless the column's width
// is fixed.
func (c *colState) addrs(rs []Record) error {
	lo, m := c.row, len(rs)
	v, p := c.vals, c.pos
	off := unsafe.Offsetof(Record{}.SrcAddr)
	if c.id == idDstAddr {
		off = unsafe.Offsetof(Record{}.DstAddr)
	}
	r0 := unsafe.Pointer(unsafe.SliceData(rs))
	const size = unsafe.Sizeof(Record{})
	for base := 0; base < m; base += 64 {
		w := ^uint64(0)
		if c.mode == presBitmap {
			w = c.word(lo+base, m-base)
		} else if m-base < 64 {
			w = 1<<(m-base) - 1
		}
		for ; w != 0; w &= w - 1 {
			i := base + bits.TrailingZeros64(w) // < m: word masks the rows past m
			l := c.width
			if l == 0 {
				if p >= len(v) {
					return c.err(p, "bad length")
				}
				l = int(v[p])
				p++
			}
			if l != 4 && l != 16 || len(v)-p < l {
				return c.err(p, fmt.Sprintf("address of %d bytes", l))
			}
			a := (*[16]byte)(unsafe.Add(r0, uintptr(i)*size+off))
			if l == 4 {
				*a = [16]byte{0: v[p], 1: v[p+1], 2: v[p+2], 3: v[p+3]}
			} else {
				*a = [16]byte(v[p : p+16])
			}
			p += l
		}
	}
	c.pos = p
	c.row = lo + m
	return nil
}

// macs is bytesAll for a MAC column of 6-byte values.
func (c *colState) macs(rs []Record) error {
	lo, m := c.row, len(rs)
	var words [colChunk / 64]uint64
	k := 0
	for j := range words[:(m+63)/64] {
		if c.mode == presBitmap {
			words[j] = c.word(lo+64*j, m-64*j)
		} else if words[j] = ^uint64(0); m-64*j < 64 {
			words[j] = 1<<(m-64*j) - 1
		}
		k += bits.OnesCount64(words[j])
	}
	if len(c.vals)-c.pos < 6*k {
		return c.err(c.pos, "short column")
	}
	v := c.vals[c.pos : c.pos+6*k]
	off := unsafe.Offsetof(Record{}.Src) + unsafe.Offsetof(Side{}.MAC)
	if c.id != idMAC {
		off = unsafe.Offsetof(Record{}.Dst) + unsafe.Offsetof(Side{}.MAC)
	}
	r0 := unsafe.Pointer(unsafe.SliceData(rs))
	const size = unsafe.Sizeof(Record{})
	p := 0
	for j, wd := range words[:(m+63)/64] {
		for ; wd != 0; wd &= wd - 1 {
			i := 64*j + bits.TrailingZeros64(wd) // < m: the words are masked
			*(*[6]byte)(unsafe.Add(r0, uintptr(i)*size+off)) = [6]byte(v[p : p+6])
			p += 6
		}
	}
	c.pos += p
	c.row = lo + m
	return nil
}

// setBytes stores byte field b of column c into r, checked as setRare checks it; i is
// r's index in the chunk (for the label hint in d.hints).
func (d *ColumnDecoder) setBytes(r *Record, c *colState, b []byte, i int) error {
	switch c.id {
	case idSrcAddr, idDstAddr:
		if len(b) != 4 && len(b) != 16 {
			return c.err(c.pos, fmt.Sprintf("address of %d bytes", len(b)))
		}
		if c.id == idSrcAddr {
			copy(r.SrcAddr[:], b)
		} else {
			copy(r.DstAddr[:], b)
		}
	case idMAC, idMAC + sideDst:
		if len(b) != 6 {
			return c.err(c.pos, fmt.Sprintf("mac of %d bytes", len(b)))
		}
		if c.id == idMAC {
			r.Src.MAC = [6]byte(b)
		} else {
			r.Dst.MAC = [6]byte(b)
		}
	case idInf:
		if len(b) > len(r.Inf) {
			return c.err(c.pos, fmt.Sprintf("interface name of %d bytes", len(b)))
		}
		copy(r.Inf[:], b)
	case idSrcCountry, idDstCountry:
		if len(b) != 2 {
			return c.err(c.pos, fmt.Sprintf("country code of %d bytes", len(b)))
		}
		if c.id == idSrcCountry {
			r.SrcCountry = [2]byte(b)
		} else {
			r.DstCountry = [2]byte(b)
		}
	case idLabel:
		if len(b) > MaxLabelLen {
			return c.err(c.pos, fmt.Sprintf("label of %d bytes", len(b)))
		}
		// Labels repeat: the row's previous label or the block's last one, when the
		// text is the same, saves the allocation.
		switch {
		case string(b) == d.hints[i]:
			r.Label = d.hints[i]
		case string(b) == d.lastLabel:
			r.Label = d.lastLabel
		default:
			r.Label = string(b)
			d.lastLabel = r.Label
		}
	}
	return nil
}

// present reports whether the column has a value for row.
func (c *colState) present(row int) bool {
	return c.mode != presBitmap || c.bits[row>>3]>>(row&7)&1 != 0
}

// next returns the byte value of the next row (ok false if it has none).
func (c *colState) next() ([]byte, bool, error) {
	row := c.row
	c.row++
	if !c.present(row) {
		return nil, false, nil
	}
	l := c.width
	if l == 0 {
		v, k := uvarint(c.vals[c.pos:])
		if k <= 0 || v > uint64(len(c.vals)-c.pos-k) {
			return nil, false, c.err(c.pos, "bad length")
		}
		c.pos += k
		l = int(v)
	} else if len(c.vals)-c.pos < l {
		return nil, false, c.err(c.pos, "short value")
	}
	b := c.vals[c.pos : c.pos+l]
	c.pos += l
	return b, true, nil
}

// queues decodes the next row's management queues into r.
func (c *colState) queues(r *Record) error {
	cnt, k := uvarint(c.counts[c.cpos:])
	if k <= 0 {
		return c.err(c.pos, "bad count")
	}
	c.cpos += k
	c.row++
	if cnt == 0 {
		return nil
	}
	m := r.Man
	if m == nil {
		return c.err(c.pos, "queues in a flow record")
	}
	for range cnt {
		l, k := uvarint(c.vals[c.pos:])
		if k <= 0 || l > uint64(len(c.vals)-c.pos-k) {
			return c.err(c.pos, "bad length")
		}
		q, err := decodeQueue(c.vals[c.pos+k : c.pos+k+int(l)])
		if err != nil {
			return c.err(c.pos, err.Error())
		}
		c.pos += k + int(l)
		if len(m.Queues) < MaxManQueues { // no writer writes more
			m.Queues = append(m.Queues, q)
		}
	}
	return nil
}

// numsAt decodes the number column's values of the next len(dst) rows, or (sel not
// nil) of the rows sel.
func (c *colState) numsAt(dst []uint64, sel []int32) error {
	if sel == nil {
		return c.nums(dst)
	}
	for j, row := range sel {
		if err := c.skipTo(int(row)); err != nil {
			return err
		}
		if err := c.nums(dst[j : j+1]); err != nil {
			return err
		}
	}
	return nil
}

// nums decodes the number column's values of the next len(dst) rows (0 for a row
// without one).
func (c *colState) nums(dst []uint64) error {
	v, p := c.vals, c.pos
	if c.mode == presAll && c.oneByte {
		v := v[p : p+len(dst)] // checked by parse
		for i := range dst {
			dst[i] = uint64(v[i])
		}
		p += len(dst)
		switch {
		case c.f.delta:
			prev := c.prev
			for i, x := range dst {
				prev += unzigzag(x)
				dst[i] = uint64(prev)
			}
			c.prev = prev
		case c.f.signed:
			for i, x := range dst {
				dst[i] = uint64(unzigzag(x))
			}
		}
	} else if c.mode == presAll && c.width > 0 {
		w, mask := c.width, c.mask
		for i := range dst {
			dst[i] = fixedAt(v, p, w, mask)
			p += w
		}
		switch {
		case c.f.delta:
			prev := c.prev
			for i, x := range dst {
				prev += unzigzag(x)
				dst[i] = uint64(prev)
			}
			c.prev = prev
		case c.f.signed:
			for i, x := range dst {
				dst[i] = uint64(unzigzag(x))
			}
		}
	} else if c.mode == presAll && !c.f.float {
		for i := range dst {
			var x uint64
			var k int
			if len(v)-p >= 8 {
				x, k = uvarint8(binary.LittleEndian.Uint64(v[p:]))
			}
			if k == 0 {
				if x, k = uvarint(v[p:]); k <= 0 {
					return c.err(p, "bad varint")
				}
			}
			dst[i], p = x, p+k
		}
		switch {
		case c.f.delta:
			prev := c.prev
			for i, x := range dst {
				prev += unzigzag(x)
				dst[i] = uint64(prev)
			}
			c.prev = prev
		case c.f.signed:
			for i, x := range dst {
				dst[i] = uint64(unzigzag(x))
			}
		}
	} else {
		row := c.row
		for i := range dst {
			if c.mode == presBitmap && c.bits[row>>3]>>(row&7)&1 == 0 {
				dst[i] = 0
				row++
				continue
			}
			row++
			var x uint64
			switch {
			case c.f.float:
				if len(v)-p < 8 {
					return c.err(p, "short float")
				}
				x = binary.LittleEndian.Uint64(v[p:])
				p += 8
			case c.oneByte:
				x = uint64(v[p])
				p++
			case c.width > 0:
				x = fixedAt(v, p, c.width, c.mask)
				p += c.width
			default:
				// Without a branch on the length (which values of mixed lengths
				// mispredict), but near the column's end.
				var k int
				if len(v)-p >= 8 {
					x, k = uvarint8(binary.LittleEndian.Uint64(v[p:]))
				}
				if k == 0 {
					if x, k = uvarint(v[p:]); k <= 0 {
						return c.err(p, "bad varint")
					}
				}
				p += k
			}
			switch {
			case c.f.delta:
				c.prev += unzigzag(x)
				x = uint64(c.prev)
			case c.f.signed:
				x = uint64(unzigzag(x))
			}
			dst[i] = x
		}
	}
	c.pos = p
	c.row += len(dst)
	return nil
}

// fixedAt reads the fixed-width number at v[p] (width w, mask its bits).
func fixedAt(v []byte, p, w int, mask uint64) uint64 {
	if len(v)-p >= 8 {
		return binary.LittleEndian.Uint64(v[p:]) & mask
	}
	var x uint64
	for j := w - 1; j >= 0; j-- {
		x = x<<8 | uint64(v[p+j])
	}
	return x
}

// skipTo moves the column's position to row's value, past the values of the rows
// before it.
func (c *colState) skipTo(row int) error {
	k := row - c.row
	if k <= 0 {
		return nil
	}
	if c.f.delta { // StartTime, a key column, is always decoded row by row
		return errors.New("record: skipping a delta column")
	}
	if c.mode == presBitmap {
		k = c.countBits(c.row, row)
	}
	if c.mode == presCounts {
		for range row - c.row {
			cnt, n := uvarint(c.counts[c.cpos:])
			if n <= 0 {
				return c.err(c.pos, "bad count")
			}
			c.cpos += n
			for range cnt {
				l, n := uvarint(c.vals[c.pos:])
				if n <= 0 || l > uint64(len(c.vals)-c.pos-n) {
					return c.err(c.pos, "bad length")
				}
				c.pos += n + int(l)
			}
		}
		c.row = row
		return nil
	}
	c.row = row
	switch {
	case c.f.float || c.width > 0:
		w := c.width
		if c.f.float {
			w = 8
		}
		if k > (len(c.vals)-c.pos)/w {
			return c.err(c.pos, "short column")
		}
		c.pos += k * w
	case c.f.wire == WireBytes:
		for range k {
			l, n := uvarint(c.vals[c.pos:])
			if n <= 0 || l > uint64(len(c.vals)-c.pos-n) {
				return c.err(c.pos, "bad length")
			}
			c.pos += n + int(l)
		}
	default:
		p, ok := skipVarints(c.vals, c.pos, k)
		if !ok {
			return c.err(c.pos, "short column")
		}
		c.pos = p
	}
	return nil
}

// countBits counts the set bits of c.bits for rows from to to (excluded).
func (c *colState) countBits(from, to int) int {
	n := 0
	for from < to && from&7 != 0 {
		n += int(c.bits[from>>3] >> (from & 7) & 1)
		from++
	}
	for ; from+64 <= to; from += 64 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(c.bits[from>>3:]))
	}
	for ; from+8 <= to; from += 8 {
		n += bits.OnesCount8(c.bits[from>>3])
	}
	for ; from < to; from++ {
		n += int(c.bits[from>>3] >> (from & 7) & 1)
	}
	return n
}

// skipVarints returns the offset after the k varints starting at b[p], counting their
// last bytes (those without the continuation bit) eight at a time.
func skipVarints(b []byte, p, k int) (int, bool) {
	for k > 0 && len(b)-p >= 8 {
		stop := ^binary.LittleEndian.Uint64(b[p:]) & 0x8080808080808080
		if stop == 0 {
			p += 8
			continue
		}
		n := bits.OnesCount64(stop)
		if n > k {
			break
		}
		k -= n
		p += (63-bits.LeadingZeros64(stop))/8 + 1 // past the word's last varint
	}
	for ; k > 0; p++ {
		if p >= len(b) {
			return p, false
		}
		if b[p] < 0x80 {
			k--
		}
	}
	return p, true
}

// decodeKeep decodes the key columns of every row into d.tmp, calls keep on them, and
// decodes the other columns of the rows kept into recs, compacted.
func (d *ColumnDecoder) decodeKeep(n int, recs []Record, keep func(*Record) bool) ([]Record, error) {
	if d.tmp == nil {
		d.tmp = make([]Record, colChunk)
	}
	recs = recs[:cap(recs)]
	kept := 0
	for lo := 0; lo < n; lo += colChunk {
		tmp := d.tmp[:min(colChunk, n-lo)]
		if d.missKey {
			clear(tmp)
		}
		for i := range tmp {
			// The address columns write 4 of the 16 bytes, or none for a row without.
			tmp[i].SrcAddr, tmp[i].DstAddr = [16]byte{}, [16]byte{}
		}
		kinds := d.vals[:len(tmp)]
		if err := d.kind.nums(kinds); err != nil {
			return recs[:kept], err
		}
		for i, k := range kinds {
			if k != uint64(KindFlow) && k != uint64(KindMan) {
				return recs[:kept], d.kind.err(lo+i, fmt.Sprintf("%v: kind %d", errUnknownKnd, k))
			}
			tmp[i].Kind = Kind(k)
		}
		for i := range d.cols {
			if c := &d.cols[i]; c.f.key {
				if err := d.decodeCol(c, tmp, nil, false); err != nil {
					return recs[:kept], err
				}
			}
		}
		sel := d.sel[:0]
		for i := range tmp {
			if keep(&tmp[i]) {
				sel = append(sel, int32(lo+i))
			}
		}
		d.sel = sel
		if len(sel) == 0 {
			continue
		}
		if kept+len(sel) > len(recs) {
			recs = growRecs(recs, max(kept+len(sel), 2*len(recs), 64))
			recs = recs[:cap(recs)]
		}
		rs := recs[kept : kept+len(sel)]
		for j, row := range sel {
			t, r := &tmp[int(row)-lo], &rs[j]
			d.hints[j] = r.Label
			d.resetRow(r, uint64(t.Kind)) // checked above
			r.Family, r.Proto, r.EtherType = t.Family, t.Proto, t.EtherType
			r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort = t.SrcAddr, t.DstAddr, t.SrcPort, t.DstPort
			r.SrcID, r.StartTime = t.SrcID, t.StartTime
		}
		if err := d.decodeCols(rs, sel, true); err != nil {
			return recs[:kept], err
		}
		kept += len(sel)
	}
	return recs[:kept], nil
}
