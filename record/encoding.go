package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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

// DecodeRecord decodes one record body (without its length prefix) into r, which is
// reset first. wire gives the wire type of each id as declared by the stream's header,
// so that fields unknown to this version are skipped; pass nil to use this version's
// own schema. A management record's counters are written into r.Man, which is
// allocated only if nil.
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
	var dur uint64
	p := 1
	for p < len(body) {
		id := body[p]
		p++
		wt := wire[id]
		var u uint64
		var bs []byte
		switch wt {
		case WireUvarint:
			if p < len(body) && body[p] < 0x80 {
				// Most counters, ports and flags fit in one byte: skip the general
				// decoder (a third of the time of reading a stream went there).
				u, p = uint64(body[p]), p+1
				break
			}
			v, n := binary.Uvarint(body[p:])
			if n <= 0 {
				return fmt.Errorf("%w: field %d at byte %d: bad varint", ErrCorrupt, id, p)
			}
			u, p = v, p+n
		case WireVarint:
			v, n := binary.Varint(body[p:])
			if n <= 0 {
				return fmt.Errorf("%w: field %d at byte %d: bad varint", ErrCorrupt, id, p)
			}
			u, p = uint64(v), p+n
		case WireBytes:
			l, n := binary.Uvarint(body[p:])
			if n <= 0 || l > uint64(len(body)-p-n) {
				return fmt.Errorf("%w: field %d at byte %d: bad length", ErrCorrupt, id, p)
			}
			bs = body[p+n : p+n+int(l)]
			p += n + int(l)
		case WireFloat:
			if len(body)-p < 8 {
				return fmt.Errorf("%w: field %d at byte %d: short float", ErrCorrupt, id, p)
			}
			u = binary.LittleEndian.Uint64(body[p:])
			p += 8
		default:
			return fmt.Errorf("%w: unknown field id %d at byte %d", ErrCorrupt, id, p-1)
		}
		if wireTypes[id] != wt {
			// A field this version does not know (or knows with another layout): skip it.
			continue
		}
		if id == idLabel {
			if len(bs) > MaxLabelLen {
				return fmt.Errorf("%w: label of %d bytes", ErrCorrupt, len(bs))
			}
			// Reuse the previous record's label string when the text is the same (labels
			// repeat across a stream): no allocation then.
			if string(bs) == label {
				r.Label = label
			} else {
				r.Label = string(bs)
			}
			continue
		}
		if err := setField(r, id, u, bs, &dur); err != nil {
			return fmt.Errorf("%w: field %d: %w", ErrCorrupt, id, err)
		}
	}
	r.LastTime = r.StartTime + int64(dur)
	return nil
}

func setField(r *Record, id uint8, u uint64, bs []byte, dur *uint64) error {
	if id >= idPkts && id < idSideEnd+sideDst {
		s := &r.Src
		if id >= idPkts+sideDst {
			s, id = &r.Dst, id-sideDst
		}
		return setSide(s, id, u, bs)
	}
	switch id {
	case idCause:
		r.Cause = Cause(u)
	case idClock:
		r.Clock = Clock(u)
	case idFlags:
		r.Flags = uint32(u)
	case idSrcID:
		r.SrcID = uint32(u)
	case idSeq:
		r.Seq = uint32(u)
	case idStart:
		r.StartTime = int64(u)
	case idDuration:
		*dur = u
	case idFamily:
		r.Family = uint8(u)
	case idProto:
		r.Proto = uint8(u)
	case idEtherType:
		r.EtherType = uint16(u)
	case idSrcAddr, idDstAddr:
		if len(bs) != 4 && len(bs) != 16 {
			return fmt.Errorf("address of %d bytes", len(bs))
		}
		if id == idSrcAddr {
			copy(r.SrcAddr[:], bs)
		} else {
			copy(r.DstAddr[:], bs)
		}
	case idSrcPort:
		r.SrcPort = uint16(u)
	case idDstPort:
		r.DstPort = uint16(u)
	case idICMPID:
		r.ICMPID = uint16(u)
	case idICMPSeq:
		r.ICMPSeq = uint16(u)
	case idTCPState:
		r.TCPState = uint16(u)
	case idSynAck:
		r.SynAck = int64(u)
	case idAckDat:
		r.AckDat = int64(u)
	case idTrans:
		r.Trans = uint32(u)
	case idInf:
		if len(bs) > len(r.Inf) {
			return fmt.Errorf("interface name of %d bytes", len(bs))
		}
		copy(r.Inf[:], bs)
	case idSrcCountry, idDstCountry:
		if len(bs) != 2 {
			return fmt.Errorf("country code of %d bytes", len(bs))
		}
		if id == idSrcCountry {
			r.SrcCountry = [2]byte(bs)
		} else {
			r.DstCountry = [2]byte(bs)
		}
	case idSrcAS:
		r.SrcAS = uint32(u)
	case idDstAS:
		r.DstAS = uint32(u)
	case idSampling:
		r.Sampling = uint32(u)
	default:
		if r.Man == nil {
			return errFieldWire
		}
		m := r.Man
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
				return err
			}
			if len(m.Queues) < MaxManQueues { // no writer writes more
				m.Queues = append(m.Queues, q)
			}
		}
	}
	return nil
}

func setSide(s *Side, id uint8, u uint64, bs []byte) error {
	switch id {
	case idPkts:
		s.Pkts = u
	case idBytes:
		s.Bytes = u
	case idAppBytes:
		s.AppBytes = u
	case idMinSize:
		s.MinSize = uint32(u)
	case idMaxSize:
		s.MaxSize = uint32(u)
	case idTTL:
		s.TTL = uint8(u)
	case idToS:
		s.ToS = uint8(u)
	case idVLAN:
		s.VLAN = uint16(u)
	case idMPLS:
		s.MPLS = uint32(u)
	case idMAC:
		if len(bs) != 6 {
			return fmt.Errorf("mac of %d bytes", len(bs))
		}
		copy(s.MAC[:], bs)
	case idIntN:
		s.IntN = u
	case idIntMean:
		s.IntMean = math.Float64frombits(u)
	case idIntM2:
		s.IntM2 = math.Float64frombits(u)
	case idTCPFlags:
		s.TCPFlags = uint8(u)
	case idBaseSeq:
		s.BaseSeq = uint32(u)
	case idWin:
		s.Win = uint32(u)
	case idRetrans:
		s.Retrans = u
	case idLoss:
		s.Loss = u
	case idOutOfOrder:
		s.OutOfOrder = u
	}
	return nil
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
