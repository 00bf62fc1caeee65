package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Wire types: how a field's value is laid out, so that a reader can skip a field it does
// not know (one written by a newer Panoptes) using only the file header's schema.
const (
	WireUvarint = 0 // unsigned LEB128 varint
	WireVarint  = 1 // zigzag signed varint
	WireBytes   = 2 // uvarint length, then the bytes
	WireFloat   = 3 // 8 bytes, IEEE 754 little-endian
)

// Field ids on the wire. They are part of the format: never renumber one; add new ids
// at the end. Written as numbers, not iota, so that a line inserted in the middle
// cannot renumber the ones after it; TestStreamFixtureV1 reads a stream written when
// they were iota and fails if one moves. A field whose value is zero is not written.
const (
	idCause     = 1
	idClock     = 2
	idFlags     = 3
	idSrcID     = 4
	idSeq       = 5
	idStart     = 6 // varint ns since epoch
	idDuration  = 7 // uvarint ns: LastTime - StartTime
	idFamily    = 8
	idProto     = 9
	idEtherType = 10
	idSrcAddr   = 11 // bytes: 4 or 16
	idDstAddr   = 12
	idSrcPort   = 13
	idDstPort   = 14
	idICMPID    = 15
	idICMPSeq   = 16
	idTCPState  = 17
	idSynAck    = 18
	idAckDat    = 19
	idTrans     = 20
	idInf       = 21
	// Per side: the source side uses these ids, the destination side the same + sideDst.
	idPkts       = 22
	idBytes      = 23
	idAppBytes   = 24
	idMinSize    = 25
	idMaxSize    = 26
	idTTL        = 27
	idToS        = 28
	idVLAN       = 29
	idMPLS       = 30
	idMAC        = 31
	idIntN       = 32
	idIntMean    = 33
	idIntM2      = 34
	idTCPFlags   = 35
	idBaseSeq    = 36
	idWin        = 37
	idRetrans    = 38
	idLoss       = 39
	idOutOfOrder = 40
	idSideEnd    = 41
)

const sideDst = 32 // destination-side ids are source-side ids + sideDst

// Label ids (`panoptes label`), in the free range between the destination side and the
// management ids.
const (
	idSrcCountry = 90 // bytes: 2-letter country code
	idDstCountry = 91
	idSrcAS      = 92 // uvarint
	idDstAS      = 93
	idLabel      = 94 // bytes: label text, at most MaxLabelLen
	// Later additions to the flow fields take the ids after the labels.
	idSampling = 95 // uvarint: N of 1-in-N packet sampling; absent (0) for exact counts
)

// MaxLabelLen bounds a record's label text, so that a labelled record stays well
// within MaxRecordLen; longer labels are cut when encoded.
const MaxLabelLen = 1024

// Management record ids.
const (
	idManPktsSeen       = 100
	idManBytesSeen      = 101
	idManRecordsWritten = 102
	idManFlowsActive    = 103
	idManParseErrors    = 104
	idManSkippedLink    = 105
	idManEvictions      = 106
	idManDrops          = 107
	idManNICDrops       = 108
	idManRecordDrops    = 109
	idManQueue          = 110 // bytes: one queue's QueueStats (see appendQueue); repeated
	// Later additions: their ids follow, so that files written before keep their meaning.
	idManFuture         = 111
	idManClientsRefused = 112
	idManClientDrops    = 113
	idManOutputDrops    = 114
	idManEnd            = 115
)

// schemaEntry describes one wire field in the file header.
type schemaEntry struct {
	id   uint8
	wire uint8
	name string
}

// schema is the list of fields this version writes; it is written into every file
// header so that files describe themselves.
var schema = func() []schemaEntry {
	top := []schemaEntry{
		{idCause, WireUvarint, "cause"}, {idClock, WireUvarint, "clock"}, {idFlags, WireUvarint, "flags"},
		{idSrcID, WireUvarint, "srcid"}, {idSeq, WireUvarint, "seq"}, {idStart, WireVarint, "stime"},
		{idDuration, WireUvarint, "dur"}, {idFamily, WireUvarint, "family"}, {idProto, WireUvarint, "proto"},
		{idEtherType, WireUvarint, "etype"}, {idSrcAddr, WireBytes, "saddr"}, {idDstAddr, WireBytes, "daddr"},
		{idSrcPort, WireUvarint, "sport"}, {idDstPort, WireUvarint, "dport"}, {idICMPID, WireUvarint, "icmpid"},
		{idICMPSeq, WireUvarint, "icmpseq"}, {idTCPState, WireUvarint, "tcpstate"}, {idSynAck, WireVarint, "synack"},
		{idAckDat, WireVarint, "ackdat"}, {idTrans, WireUvarint, "trans"},
		{idInf, WireBytes, "inf"},
		{idSrcCountry, WireBytes, "sco"}, {idDstCountry, WireBytes, "dco"},
		{idSrcAS, WireUvarint, "sas"}, {idDstAS, WireUvarint, "das"}, {idLabel, WireBytes, "label"},
		{idSampling, WireUvarint, "sampling"},
	}
	side := []schemaEntry{
		{idPkts, WireUvarint, "pkts"}, {idBytes, WireUvarint, "bytes"}, {idAppBytes, WireUvarint, "appbytes"},
		{idMinSize, WireUvarint, "minsz"}, {idMaxSize, WireUvarint, "maxsz"}, {idTTL, WireUvarint, "ttl"},
		{idToS, WireUvarint, "tos"}, {idVLAN, WireUvarint, "vlan"}, {idMPLS, WireUvarint, "mpls"},
		{idMAC, WireBytes, "mac"}, {idIntN, WireUvarint, "intn"}, {idIntMean, WireFloat, "intmean"},
		{idIntM2, WireFloat, "intm2"}, {idTCPFlags, WireUvarint, "tcpflags"}, {idBaseSeq, WireUvarint, "tcpb"},
		{idWin, WireUvarint, "win"}, {idRetrans, WireUvarint, "retrans"}, {idLoss, WireUvarint, "loss"},
		{idOutOfOrder, WireUvarint, "ooo"},
	}
	for _, e := range side {
		top = append(top, schemaEntry{e.id, e.wire, "s" + e.name})
	}
	for _, e := range side {
		top = append(top, schemaEntry{e.id + sideDst, e.wire, "d" + e.name})
	}
	man := []string{"pktsseen", "bytesseen", "recordswritten", "flowsactive", "parseerrors", "skippedlink", "evictions", "drops", "nicdrops", "recorddrops"}
	for i, n := range man {
		top = append(top, schemaEntry{uint8(idManPktsSeen + i), WireUvarint, "man." + n})
	}
	top = append(top, schemaEntry{idManQueue, WireBytes, "man.queue"})
	for i, n := range []string{"future", "clientsrefused", "clientdrops", "outputdrops"} {
		top = append(top, schemaEntry{uint8(idManFuture + i), WireUvarint, "man." + n})
	}
	return top
}()

// MaxRecordLen bounds one encoded record; a length prefix above it means corruption.
const MaxRecordLen = 1 << 12

// Errors of this package, checked with errors.Is.
var (
	ErrBadMagic = errors.New("not a panoptes record stream (bad magic)")
	ErrVersion  = errors.New("unsupported record format version")
	// ErrNewer marks a file (stream, archive segment, archive index) written by a newer
	// panoptes in a format version past the one this one reads. It is never damage:
	// nothing that repairs damage (appending after a torn tail, archive recovery,
	// rebuild) cuts or removes what carries it. Errors wrapping it also wrap ErrVersion.
	ErrNewer      = errors.New("written by a newer panoptes")
	ErrCorrupt    = errors.New("corrupt record")
	ErrTruncated  = errors.New("truncated record")
	ErrBadHeader  = errors.New("corrupt stream header")
	errFieldWire  = errors.New("field has wrong wire type")
	errUnknownKnd = errors.New("unknown record kind")
)

func appendUvarintField(b []byte, id uint8, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(append(b, id), v)
}

func appendVarintField(b []byte, id uint8, v int64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendVarint(append(b, id), v)
}

func appendFloatField(b []byte, id uint8, v float64) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint64(append(b, id), math.Float64bits(v))
}

func appendSide(b []byte, s *Side, off uint8) []byte {
	b = appendUvarintField(b, idPkts+off, s.Pkts)
	b = appendUvarintField(b, idBytes+off, s.Bytes)
	b = appendUvarintField(b, idAppBytes+off, s.AppBytes)
	b = appendUvarintField(b, idMinSize+off, uint64(s.MinSize))
	b = appendUvarintField(b, idMaxSize+off, uint64(s.MaxSize))
	b = appendUvarintField(b, idTTL+off, uint64(s.TTL))
	b = appendUvarintField(b, idToS+off, uint64(s.ToS))
	b = appendUvarintField(b, idVLAN+off, uint64(s.VLAN))
	b = appendUvarintField(b, idMPLS+off, uint64(s.MPLS))
	if s.MAC != ([6]byte{}) {
		b = append(b, idMAC+off, 6)
		b = append(b, s.MAC[:]...)
	}
	b = appendUvarintField(b, idIntN+off, s.IntN)
	b = appendFloatField(b, idIntMean+off, s.IntMean)
	b = appendFloatField(b, idIntM2+off, s.IntM2)
	b = appendUvarintField(b, idTCPFlags+off, uint64(s.TCPFlags))
	b = appendUvarintField(b, idBaseSeq+off, uint64(s.BaseSeq))
	b = appendUvarintField(b, idWin+off, uint64(s.Win))
	b = appendUvarintField(b, idRetrans+off, s.Retrans)
	b = appendUvarintField(b, idLoss+off, s.Loss)
	b = appendUvarintField(b, idOutOfOrder+off, s.OutOfOrder)
	return b
}

func appendLabels(b []byte, r *Record) []byte {
	if r.SrcCountry != ([2]byte{}) {
		b = append(b, idSrcCountry, 2, r.SrcCountry[0], r.SrcCountry[1])
	}
	if r.DstCountry != ([2]byte{}) {
		b = append(b, idDstCountry, 2, r.DstCountry[0], r.DstCountry[1])
	}
	b = appendUvarintField(b, idSrcAS, uint64(r.SrcAS))
	b = appendUvarintField(b, idDstAS, uint64(r.DstAS))
	if l := r.Label; l != "" {
		if len(l) > MaxLabelLen {
			l = l[:MaxLabelLen]
		}
		b = binary.AppendUvarint(append(b, idLabel), uint64(len(l)))
		b = append(b, l...)
	}
	return b
}

func addrLen(family uint8) int {
	if family == 6 {
		return 16
	}
	return 4
}

// AppendRecord appends the encoding of r (length prefix included) to b and returns the
// extended slice. It allocates only if b lacks capacity.
func AppendRecord(b []byte, r *Record) []byte {
	start := len(b)
	// Reserve two bytes for the length; records are < 16 KiB so a 2-byte uvarint always
	// fits, and a shorter body is fixed up by moving it.
	b = append(b, 0, 0, byte(r.Kind))
	body := len(b) - 1
	b = appendUvarintField(b, idCause, uint64(r.Cause))
	b = appendUvarintField(b, idClock, uint64(r.Clock))
	b = appendUvarintField(b, idFlags, uint64(r.Flags))
	b = appendUvarintField(b, idSrcID, uint64(r.SrcID))
	b = appendUvarintField(b, idSeq, uint64(r.Seq))
	b = appendVarintField(b, idStart, r.StartTime)
	if d := r.LastTime - r.StartTime; d > 0 {
		b = appendUvarintField(b, idDuration, uint64(d))
	}
	b = appendUvarintField(b, idFamily, uint64(r.Family))
	b = appendUvarintField(b, idProto, uint64(r.Proto))
	b = appendUvarintField(b, idEtherType, uint64(r.EtherType))
	if r.Family == 4 || r.Family == 6 || r.SrcAddr != ([16]byte{}) || r.DstAddr != ([16]byte{}) {
		// Non-IP flows carry addresses too when they have them (ARP's protocol
		// addresses): 4 bytes unless the family is IPv6.
		n := addrLen(r.Family)
		b = append(b, idSrcAddr, byte(n))
		b = append(b, r.SrcAddr[:n]...)
		b = append(b, idDstAddr, byte(n))
		b = append(b, r.DstAddr[:n]...)
	}
	b = appendUvarintField(b, idSrcPort, uint64(r.SrcPort))
	b = appendUvarintField(b, idDstPort, uint64(r.DstPort))
	b = appendUvarintField(b, idICMPID, uint64(r.ICMPID))
	b = appendUvarintField(b, idICMPSeq, uint64(r.ICMPSeq))
	b = appendUvarintField(b, idTCPState, uint64(r.TCPState))
	b = appendVarintField(b, idSynAck, r.SynAck)
	b = appendVarintField(b, idAckDat, r.AckDat)
	b = appendUvarintField(b, idTrans, uint64(r.Trans))
	if r.Inf[0] != 0 {
		n := 0
		for n < len(r.Inf) && r.Inf[n] != 0 {
			n++
		}
		b = append(b, idInf, byte(n))
		b = append(b, r.Inf[:n]...)
	}
	b = appendSide(b, &r.Src, 0)
	b = appendSide(b, &r.Dst, sideDst)
	b = appendLabels(b, r)
	b = appendUvarintField(b, idSampling, uint64(r.Sampling))
	if m := r.Man; m != nil {
		b = appendUvarintField(b, idManPktsSeen, m.PktsSeen)
		b = appendUvarintField(b, idManBytesSeen, m.BytesSeen)
		b = appendUvarintField(b, idManRecordsWritten, m.RecordsWritten)
		b = appendUvarintField(b, idManFlowsActive, m.FlowsActive)
		b = appendUvarintField(b, idManParseErrors, m.ParseErrors)
		b = appendUvarintField(b, idManSkippedLink, m.SkippedLink)
		b = appendUvarintField(b, idManEvictions, m.Evictions)
		b = appendUvarintField(b, idManDrops, m.Drops)
		b = appendUvarintField(b, idManNICDrops, m.NICDrops)
		b = appendUvarintField(b, idManRecordDrops, m.RecordDrops)
		b = appendUvarintField(b, idManFuture, m.Future)
		b = appendUvarintField(b, idManClientsRefused, m.ClientsRefused)
		b = appendUvarintField(b, idManClientDrops, m.ClientDrops)
		b = appendUvarintField(b, idManOutputDrops, m.OutputDrops)
		for i := range m.Queues[:min(len(m.Queues), MaxManQueues)] {
			b = appendQueue(b, &m.Queues[i])
		}
	}
	n := len(b) - body
	if n < 0x80 {
		b[start] = byte(n)
		copy(b[start+1:], b[body:])
		return b[:len(b)-1]
	}
	b[start] = byte(n) | 0x80
	b[start+1] = byte(n >> 7)
	return b
}

// wireTypes maps a field id to its wire type, for the fields this version knows.
var wireTypes = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for _, e := range schema {
		t[e.id] = int8(e.wire)
	}
	return t
}()

// numSlots covers the ids of every field whose value is a number (uvarint, varint or
// float): all of them but the management counters are below it. A new such field needs
// an id below it (raise it) and a line in setSlots; TestSlotsCoverSchema and
// TestDecodeSameEveryField fail until it has both.
const numSlots = idSampling + 1

// slotWire maps a field id to its wire type if its value is a number DecodeRecord
// keeps in a slot (see there), and to -2 (no wire type) for the others: byte fields,
// management counters and unknown ids.
var slotWire = func() (t [256]int8) {
	for i := range t {
		t[i] = -2
	}
	for _, e := range schema {
		if e.id < numSlots && e.wire != WireBytes {
			t[e.id] = int8(e.wire)
		}
	}
	return t
}()

// DecodeRecord decodes one record body (without its length prefix) into r, which is
// reset first. wire gives the wire type of each id as declared by the stream's header,
// so that fields unknown to this version are skipped; pass nil to use this version's
// own schema. A management record's counters are written into r.Man, which is
// allocated only if nil.
//
// It is the hot path of every reader (most of the CPU of counting an archive), hence
// its shape. Storing each field into the struct as it was read took a switch on the
// wire type, a call and a switch on the id per field: ~9 ns a field, in branch
// mispredictions and calls. Now the loop stores a number into slots[id] instead, and
// one straight-line pass (setSlots) moves every slot into its field at the end. Most
// fields are uvarints of up to eight bytes whose id this version knows as one: those
// take the short path at the top of the loop, which keeps few variables live (the
// slower paths in it made the compiler spill registers). The others go through
// decodeField: byte fields (addresses, MACs, labels), varints, floats, uvarints of
// over eight bytes (or over two near the body's end), management counters, fields
// unknown or re-typed, and every error. A repeated field keeps its last value either
// way. BenchmarkDecodeRecord on a real stream's records: 107 ns a record, 212 before.
func DecodeRecord(body []byte, r *Record, wire *[256]int8) error {
	if wire == nil {
		wire = &wireTypes
	}
	man, label := r.Man, r.Label
	*r = Record{}
	if len(body) == 0 {
		return fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	r.Kind = Kind(body[0])
	switch r.Kind {
	case KindFlow:
	case KindMan:
		if man == nil {
			man = new(Management)
		} else {
			*man = Management{}
		}
		r.Man = man
	default:
		return fmt.Errorf("%w: kind %d", errUnknownKnd, body[0])
	}
	var slots [numSlots]uint64
	var err error
	for p := 1; p < len(body); {
		id := body[p]
		// Both wire types WireUvarint (0): they are -2 to 3, so the OR is 0 only then.
		if wire[id]|slotWire[id] == WireUvarint && p+1 < len(body) {
			// Branches on the value's length, mispredicted as they may be, beat
			// computing it (uvarint8 alone): the next field's offset is then known
			// before the value is.
			if b := body[p+1]; b < 0x80 {
				slots[id] = uint64(b)
				p += 2
				continue
			}
			if p+2 < len(body) && body[p+2] < 0x80 {
				slots[id] = uint64(body[p+1]&0x7f) | uint64(body[p+2])<<7
				p += 3
				continue
			}
			if len(body)-p > 8 {
				if v, n := uvarint8(binary.LittleEndian.Uint64(body[p+1:])); n > 0 {
					slots[id] = v
					p += 1 + n
					continue
				}
			}
		}
		if p, err = decodeField(body, p, r, wire, &slots, label); err != nil {
			break
		}
	}
	// On an error too, so that r holds the fields before the damage, as it always did.
	setSlots(r, &slots)
	if err != nil {
		return err
	}
	r.LastTime = r.StartTime + int64(slots[idDuration])
	return nil
}

// decodeField decodes the field at body[p] (its id) that DecodeRecord's short path
// did not take, and returns the offset of the next one. A number this version keeps in
// a slot goes there; a field it does not know, or knows with another wire type, is
// skipped; the others are stored into r by setRare.
func decodeField(body []byte, p int, r *Record, wire *[256]int8, slots *[numSlots]uint64, label string) (int, error) {
	id := body[p]
	p++
	wt := wire[id]
	var u uint64
	var bs []byte
	switch wt {
	case WireUvarint:
		v, n := uvarint(body[p:])
		if n <= 0 {
			return p, fmt.Errorf("%w: field %d at byte %d: bad varint", ErrCorrupt, id, p)
		}
		u, p = v, p+n
	case WireVarint:
		v, n := uvarint(body[p:])
		if n <= 0 {
			return p, fmt.Errorf("%w: field %d at byte %d: bad varint", ErrCorrupt, id, p)
		}
		u, p = uint64(unzigzag(v)), p+n
	case WireBytes:
		l, n := uint64(0), 0
		if p < len(body) && body[p] < 0x80 { // addresses, MACs: lengths below 128
			l, n = uint64(body[p]), 1
		} else {
			l, n = uvarint(body[p:])
		}
		if n <= 0 || l > uint64(len(body)-p-n) {
			return p, fmt.Errorf("%w: field %d at byte %d: bad length", ErrCorrupt, id, p)
		}
		bs = body[p+n : p+n+int(l)]
		p += n + int(l)
	case WireFloat:
		if len(body)-p < 8 {
			return p, fmt.Errorf("%w: field %d at byte %d: short float", ErrCorrupt, id, p)
		}
		u = binary.LittleEndian.Uint64(body[p:])
		p += 8
	default:
		return p, fmt.Errorf("%w: unknown field id %d at byte %d", ErrCorrupt, id, p-1)
	}
	if slotWire[id] == wt {
		slots[id] = u
		return p, nil
	}
	if wireTypes[id] != wt {
		// A field this version does not know (or knows with another layout): skip it.
		return p, nil
	}
	// The byte fields most records carry, without the call.
	switch {
	case id == idSrcAddr && len(bs) == 4:
		copy(r.SrcAddr[:4], bs)
	case id == idDstAddr && len(bs) == 4:
		copy(r.DstAddr[:4], bs)
	case id == idMAC && len(bs) == 6:
		r.Src.MAC = [6]byte(bs)
	case id == idMAC+sideDst && len(bs) == 6:
		r.Dst.MAC = [6]byte(bs)
	default:
		return p, setRare(r, id, bs, u, label)
	}
	return p, nil
}

// uvarint is binary.Uvarint (same results, same errors), faster for the uvarints of
// up to nine bytes (timestamps in nanoseconds take nine).
func uvarint(b []byte) (uint64, int) {
	if len(b) >= 9 {
		x := binary.LittleEndian.Uint64(b)
		if v, n := uvarint8(x); n > 0 {
			return v, n
		}
		if b[8] < 0x80 {
			v, _ := uvarint8(x &^ (1 << 63)) // the eight bytes as if the last ended it
			return v | uint64(b[8])<<56, 9
		}
	}
	return binary.Uvarint(b)
}

// unzigzag turns a zigzag-encoded uvarint into the signed value, as binary.Varint does.
func unzigzag(u uint64) int64 {
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// uvarint8 decodes the uvarint that starts in x, the next eight bytes read as a
// little-endian number, without a branch per byte: the first byte without the
// continuation bit ends it. It returns the value and its length, or 0, 0 if the
// uvarint is longer than eight bytes.
func uvarint8(x uint64) (uint64, int) {
	stop := ^x & 0x8080808080808080
	if stop == 0 {
		return 0, 0
	}
	n := (bits.TrailingZeros64(stop) + 1) / 8
	x &= (stop ^ (stop - 1)) & 0x7f7f7f7f7f7f7f7f // the n bytes, without continuation bits
	// Pack the 7-bit groups: pairs into 14 bits, then 28, then 56.
	x = x&0x007f007f007f007f | x&0x7f007f007f007f00>>1
	x = x&0x00003fff00003fff | x&0x3fff00003fff0000>>2
	x = x&0x000000000fffffff | x&0x0fffffff00000000>>4
	return x, n
}

// setSlots moves the numbers DecodeRecord read into their fields (zero for a field
// the record does not carry).
func setSlots(r *Record, v *[numSlots]uint64) {
	r.Cause = Cause(v[idCause])
	r.Clock = Clock(v[idClock])
	r.Flags = uint32(v[idFlags])
	r.SrcID = uint32(v[idSrcID])
	r.Seq = uint32(v[idSeq])
	r.StartTime = int64(v[idStart])
	r.Family = uint8(v[idFamily])
	r.Proto = uint8(v[idProto])
	r.EtherType = uint16(v[idEtherType])
	r.SrcPort = uint16(v[idSrcPort])
	r.DstPort = uint16(v[idDstPort])
	r.ICMPID = uint16(v[idICMPID])
	r.ICMPSeq = uint16(v[idICMPSeq])
	r.TCPState = uint16(v[idTCPState])
	r.SynAck = int64(v[idSynAck])
	r.AckDat = int64(v[idAckDat])
	r.Trans = uint32(v[idTrans])
	r.SrcAS = uint32(v[idSrcAS])
	r.DstAS = uint32(v[idDstAS])
	r.Sampling = uint32(v[idSampling])
	setSideSlots(&r.Src, v[idPkts:idSideEnd])
	setSideSlots(&r.Dst, v[idPkts+sideDst:idSideEnd+sideDst])
}

// setSideSlots is setSlots for one side; v holds the side's slots from idPkts on.
func setSideSlots(s *Side, v []uint64) {
	v = v[:idSideEnd-idPkts]
	at := func(id int) uint64 { return v[id-idPkts] }
	s.Pkts = at(idPkts)
	s.Bytes = at(idBytes)
	s.AppBytes = at(idAppBytes)
	s.MinSize = uint32(at(idMinSize))
	s.MaxSize = uint32(at(idMaxSize))
	s.TTL = uint8(at(idTTL))
	s.ToS = uint8(at(idToS))
	s.VLAN = uint16(at(idVLAN))
	s.MPLS = uint32(at(idMPLS))
	s.IntN = at(idIntN)
	s.IntMean = math.Float64frombits(at(idIntMean))
	s.IntM2 = math.Float64frombits(at(idIntM2))
	s.TCPFlags = uint8(at(idTCPFlags))
	s.BaseSeq = uint32(at(idBaseSeq))
	s.Win = uint32(at(idWin))
	s.Retrans = at(idRetrans)
	s.Loss = at(idLoss)
	s.OutOfOrder = at(idOutOfOrder)
}

// setRare stores a field DecodeRecord does not keep in a slot: a byte field (bs) or a
// management counter (u). label is the previous record's label, reused when the text
// is the same (labels repeat across a stream): no allocation then.
func setRare(r *Record, id uint8, bs []byte, u uint64, label string) error {
	switch id {
	case idLabel:
		if len(bs) > MaxLabelLen {
			return fmt.Errorf("%w: label of %d bytes", ErrCorrupt, len(bs))
		}
		if string(bs) == label {
			r.Label = label
		} else {
			r.Label = string(bs)
		}
		return nil
	case idSrcAddr, idDstAddr:
		if len(bs) != 4 && len(bs) != 16 {
			return fieldErr(id, fmt.Errorf("address of %d bytes", len(bs)))
		}
		if id == idSrcAddr {
			copy(r.SrcAddr[:], bs)
		} else {
			copy(r.DstAddr[:], bs)
		}
	case idInf:
		if len(bs) > len(r.Inf) {
			return fieldErr(id, fmt.Errorf("interface name of %d bytes", len(bs)))
		}
		copy(r.Inf[:], bs)
	case idSrcCountry, idDstCountry:
		if len(bs) != 2 {
			return fieldErr(id, fmt.Errorf("country code of %d bytes", len(bs)))
		}
		if id == idSrcCountry {
			r.SrcCountry = [2]byte(bs)
		} else {
			r.DstCountry = [2]byte(bs)
		}
	case idMAC, idMAC + sideDst:
		if len(bs) != 6 {
			return fieldErr(id, fmt.Errorf("mac of %d bytes", len(bs)))
		}
		if id == idMAC {
			r.Src.MAC = [6]byte(bs)
		} else {
			r.Dst.MAC = [6]byte(bs)
		}
	default:
		m := r.Man
		if m == nil {
			return fieldErr(id, errFieldWire)
		}
		switch id {
		case idManPktsSeen:
			m.PktsSeen = u
		case idManBytesSeen:
			m.BytesSeen = u
		case idManRecordsWritten:
			m.RecordsWritten = u
		case idManFlowsActive:
			m.FlowsActive = u
		case idManParseErrors:
			m.ParseErrors = u
		case idManSkippedLink:
			m.SkippedLink = u
		case idManEvictions:
			m.Evictions = u
		case idManDrops:
			m.Drops = u
		case idManNICDrops:
			m.NICDrops = u
		case idManRecordDrops:
			m.RecordDrops = u
		case idManFuture:
			m.Future = u
		case idManClientsRefused:
			m.ClientsRefused = u
		case idManClientDrops:
			m.ClientDrops = u
		case idManOutputDrops:
			m.OutputDrops = u
		case idManQueue:
			q, err := decodeQueue(bs)
			if err != nil {
				return fieldErr(id, err)
			}
			if len(m.Queues) < MaxManQueues { // no writer writes more
				m.Queues = append(m.Queues, q)
			}
		}
	}
	return nil
}

func fieldErr(id uint8, err error) error {
	return fmt.Errorf("%w: field %d: %w", ErrCorrupt, id, err)
}

// queueCounters lists a QueueStats' counters in their wire order.
func queueCounters(q *QueueStats) [9]*uint64 {
	return [9]*uint64{&q.Seen, &q.Redirected, &q.Passed, &q.XDPErrors, &q.Received,
		&q.RxDropped, &q.RxRingFull, &q.FillRingEmpty, &q.RxInvalid}
}

// maxQueueName bounds a queue's name on the wire ("iface/queue": 15 + 1 + 5 bytes).
const maxQueueName = 24

// appendQueue appends one queue's counters as a bytes field: the name (uvarint length,
// then its bytes), then the nine counters as uvarints, in queueCounters' order. A later
// version may append counters; a reader takes the ones it knows.
func appendQueue(b []byte, q *QueueStats) []byte {
	var body [maxQueueName + 1 + 9*binary.MaxVarintLen64]byte
	name := q.Name[:min(len(q.Name), maxQueueName)]
	v := append(body[:0], byte(len(name)))
	v = append(v, name...)
	for _, c := range queueCounters(q) {
		v = binary.AppendUvarint(v, *c)
	}
	b = binary.AppendUvarint(append(b, idManQueue), uint64(len(v)))
	return append(b, v...)
}

func decodeQueue(bs []byte) (QueueStats, error) {
	var q QueueStats
	if len(bs) == 0 || int(bs[0]) > maxQueueName || int(bs[0]) >= len(bs) {
		return q, errors.New("queue counters: bad name length")
	}
	q.Name, bs = string(bs[1:1+bs[0]]), bs[1+bs[0]:]
	for _, c := range queueCounters(&q) {
		if len(bs) == 0 {
			break // written by a version with fewer counters
		}
		v, n := binary.Uvarint(bs)
		if n <= 0 {
			return q, errors.New("queue counters: bad varint")
		}
		*c, bs = v, bs[n:]
	}
	return q, nil
}
