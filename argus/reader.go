package argus

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"panoptes/record"
)

var (
	// ErrNotArgus says the input does not start with an Argus version-3 management record.
	ErrNotArgus = errors.New("not an Argus record file (bad magic)")
	// ErrDamaged says a record's header is impossible (length 0 or too long, unknown
	// version) or a DSR runs past its record: the file is damaged at that offset.
	// It wraps record.ErrTruncated, so that the tools keep the records before it and
	// warn once, as for a cut Panoptes stream.
	ErrDamaged = fmt.Errorf("damaged Argus record: %w", record.ErrTruncated)
)

// IsMagic reports whether b (at least the first 12 bytes of a stream) starts an Argus
// version-3 stream: a management record of version 3 whose argusid is one of Argus's
// cookies.
func IsMagic(b []byte) bool {
	if len(b) < 12 || b[0] != TypeMAR|Version3 {
		return false
	}
	switch binary.BigEndian.Uint32(b[8:12]) {
	case CookieV3, CookieV5:
		return true
	}
	return false
}

// Sniff looks at the start of r: it returns a reader of the content (gunzipped when r
// is gzip-compressed) and whether that content is an Argus record stream. Nothing is
// consumed: the returned reader starts at the first byte.
func Sniff(r io.Reader, name string) (io.Reader, bool, error) {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 4096 {
		// 64 KiB: ReadBlock's reads, of nearly BlockLen bytes, are larger than the
		// buffer, and so go straight into the block, without a copy here.
		br = bufio.NewReaderSize(r, 64<<10)
	}
	head, _ := br.Peek(2)
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, false, fmt.Errorf("%s: bad gzip header: %w", name, err)
		}
		br = bufio.NewReaderSize(gz, 64<<10)
	}
	head, _ = br.Peek(12)
	return br, IsMagic(head), nil
}

// Reader reads Argus version-3 records and maps them to Panoptes records. Read reuses
// the record it is given and an internal buffer: it allocates nothing per record
// (except a label's text, once per distinct label, and a management record's counters).
type Reader struct {
	r *bufio.Reader
	// carry holds the start of a record that ReadBlock read but could not hold whole.
	carry []byte
	// rerr is the error of the last read of ReadBlock: the blocks after it hold what
	// was read before it.
	rerr error
	name string
	off  int64 // byte offset of the next record
	buf  []byte
	// Skipped counts, by DSR type, the DSRs that carry nothing Panoptes models; and
	// SkippedRecords the records of types other than FAR and MAR (events, indexes).
	Skipped        [128]uint64
	SkippedRecords uint64
	lastLabel      string
}

// NewReader checks that r starts an Argus stream (the first record is a version-3 MAR
// with Argus's cookie). name is used in errors. A gzip-compressed r is read through
// Sniff first.
func NewReader(r io.Reader, name string) (*Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	head, err := br.Peek(12)
	if len(head) < 12 {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, ErrNotArgus)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !IsMagic(head) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotArgus)
	}
	return &Reader{r: br, name: name}, nil // buf grows in Read: ReadBlock does not use it
}

// Offset returns the byte offset of the next record.
func (rd *Reader) Offset() int64 { return rd.off }

// ReadRaw appends the next FAR or MAR (header included) to dst and returns it with its
// byte offset. Records of other types are skipped and counted. At the end it returns
// io.EOF; a record cut short or with an impossible header returns an error wrapping
// ErrDamaged that names the offset, and nothing after it is read.
func (rd *Reader) ReadRaw(dst []byte) ([]byte, int64, error) {
	for {
		h, err := rd.r.Peek(RecordHeaderLen)
		if len(h) < RecordHeaderLen {
			if len(h) == 0 && (err == nil || errors.Is(err, io.EOF)) {
				return dst, rd.off, io.EOF
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return dst, rd.off, fmt.Errorf("%s: reading at byte %d: %w", rd.name, rd.off, err)
			}
			return dst, rd.off, rd.headerCut()
		}
		n, typ, err := rd.checkHeader(h)
		if err != nil {
			return dst, rd.off, err
		}
		start := len(dst)
		dst = append(dst, make([]byte, n)...)
		if k, err := io.ReadFull(rd.r, dst[start:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return dst[:start], rd.off, rd.recordCut(n, k)
			}
			return dst[:start], rd.off, fmt.Errorf("%s: reading at byte %d: %w", rd.name, rd.off, err)
		}
		off := rd.off
		rd.off += int64(n)
		switch typ {
		case TypeFAR, TypeNetflow, TypeMAR:
			return dst, off, nil
		}
		rd.SkippedRecords++
		dst = dst[:start]
	}
}

// checkHeader checks the record header h at rd.off: it returns the record's length in
// bytes and its type, or the error saying what is impossible about it.
func (rd *Reader) checkHeader(h []byte) (int, uint8, error) {
	n := int(binary.BigEndian.Uint16(h[2:4])) * 4
	typ, vers := h[0]&TypeMask, h[0]&VersionMask
	if vers != Version3 && vers != Version5 {
		return 0, 0, fmt.Errorf("%s: %w at byte %d: record version %d (want 3)", rd.name, ErrDamaged, rd.off, vers)
	}
	if n < RecordHeaderLen {
		return 0, 0, fmt.Errorf("%s: %w at byte %d: record length %d", rd.name, ErrDamaged, rd.off, n)
	}
	if typ == TypeMAR && n < MARLen {
		return 0, 0, fmt.Errorf("%s: %w at byte %d: management record of %d bytes (want %d)", rd.name, ErrDamaged, rd.off, n, MARLen)
	}
	return n, typ, nil
}

func (rd *Reader) headerCut() error {
	return fmt.Errorf("%s: %w at byte %d: record header cut short", rd.name, ErrDamaged, rd.off)
}

func (rd *Reader) recordCut(n, k int) error {
	return fmt.Errorf("%s: %w at byte %d: record of %d bytes cut after %d", rd.name, ErrDamaged, rd.off, n, k)
}

// Read reads the next record into r. It returns io.EOF at the end of the stream.
func (rd *Reader) Read(r *record.Record) error {
	var off int64
	var err error
	rd.buf, off, err = rd.ReadRaw(rd.buf[:0])
	if err != nil {
		return err
	}
	if err := rd.decode(rd.buf, off, r, &rd.Skipped, &rd.lastLabel); err != nil {
		return err
	}
	return nil
}

// Decoder decodes records that ReadRaw returned, on a goroutine of its own: each
// decoding goroutine has its own Decoder (its skipped counts and label cache), and
// adds its counts to the reader's with AddSkipped when done.
type Decoder struct {
	rd        *Reader
	Skipped   [128]uint64
	lastLabel string
	layouts   *[layoutSlots]keyLayout // DecodeKeyIn's, made at its first call
}

// NewDecoder returns a decoder of rd's records for another goroutine.
func (rd *Reader) NewDecoder() *Decoder { return &Decoder{rd: rd} }

// Decode decodes one record that ReadRaw returned (at byte offset off) into r.
func (d *Decoder) Decode(b []byte, off int64, r *record.Record) error {
	return d.rd.decode(b, off, r, &d.Skipped, &d.lastLabel)
}

// AddSkipped adds a decoder's skipped-DSR counts into the reader's.
func (rd *Reader) AddSkipped(d *Decoder) {
	for i, n := range d.Skipped {
		rd.Skipped[i] += n
	}
}

// SkippedSummary describes the DSRs and records skipped so far ("3 jitter, 12 user-data
// DSRs"), or "" if none were.
func (rd *Reader) SkippedSummary() string {
	type kv struct {
		name string
		n    uint64
	}
	var l []kv
	for t, n := range rd.Skipped {
		if n > 0 {
			l = append(l, kv{DSRName(uint8(t)), n})
		}
	}
	if len(l) == 0 && rd.SkippedRecords == 0 {
		return ""
	}
	sort.Slice(l, func(i, j int) bool { return l[i].name < l[j].name })
	var sb strings.Builder
	for i, e := range l {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.FormatUint(e.n, 10) + " " + e.name)
	}
	if len(l) > 0 {
		sb.WriteString(" DSRs")
	}
	if rd.SkippedRecords > 0 {
		if len(l) > 0 {
			sb.WriteString(" and ")
		}
		sb.WriteString(strconv.FormatUint(rd.SkippedRecords, 10) + " records of other types (events, indexes)")
	}
	return sb.String()
}

// damaged names the record's offset (the records before it are whole) and the
// damaged DSR's place in it.
func (rd *Reader) damaged(off int64, at int, format string, args ...any) error {
	return fmt.Errorf("%s: %w at byte %d: DSR at +%d: %s", rd.name, ErrDamaged, off, at, fmt.Sprintf(format, args...))
}

var (
	be = binary.BigEndian
)

func u16(b []byte, o int) uint16 { return be.Uint16(b[o:]) }
func u32(b []byte, o int) uint32 { return be.Uint32(b[o:]) }

// timeNS converts an Argus timeval (seconds, microseconds) to nanoseconds.
func timeNS(sec, usec uint32) int64 {
	return int64(sec)*1e9 + int64(usec)*1e3
}

func causeOf(c uint8) record.Cause {
	switch c & CauseMask {
	case CauseStart:
		return record.CauseStart
	case CauseStatus:
		return record.CauseStatus
	case CauseStop, CauseShutdown:
		return record.CauseStop
	case CauseTimeout, CauseClosed, CauseFlush:
		return record.CauseClose
	case CauseError:
		return record.CauseError
	}
	return record.CauseStatus
}

func (rd *Reader) decode(b []byte, off int64, r *record.Record, skipped *[128]uint64, lastLabel *string) error {
	*r = record.Record{}
	r.Clock = record.ClockFile
	r.Cause = causeOf(b[1])
	if b[0]&TypeMask == TypeMAR {
		return rd.decodeMAR(b, r)
	}
	r.Kind = record.KindFlow
	r.Trans = 1
	if b[0]&TypeMask == TypeNetflow {
		r.Flags |= record.FlagFlowExport
	}
	var tcpStatus uint32
	haveTCP := false
	reverse := false
	p := RecordHeaderLen
	for p < len(b) {
		if len(b)-p < DSRHeaderLen {
			return rd.damaged(off, p, "DSR header cut short")
		}
		t, n := dsrAt(b, p)
		if t&ImmediateData != 0 {
			skipped[t&0x7F]++
			p += n
			continue
		}
		if n < DSRHeaderLen || p+n > len(b) {
			return rd.damaged(off, p, "%s DSR of %d bytes in a record of %d", DSRName(t), n, len(b))
		}
		d := b[p : p+n]
		p += n
		sub, qual := d[1], d[2]
		switch t {
		case DSRTransport:
			decodeTransport(d, r)
		case DSRFlow:
			if !decodeFlow(d, r) {
				skipped[t]++
			}
			reverse = sub&FlowDirectionBit != 0
		case DSRTime:
			decodeTime(d, r)
		case DSRMeter:
			decodeMeter(d, r)
		case DSRPSize:
			decodePSize(d, r)
		case DSRNetwork:
			st, ok := decodeNet(d, r)
			if ok {
				tcpStatus, haveTCP = st, true
			}
		case DSRIPAttr:
			decodeIPAttr(d, r)
		case DSRJitter:
			decodeJitter(d, r)
		case DSRMAC:
			if n >= MACLen {
				copy(r.Dst.MAC[:], d[MACOffDst:MACOffDst+6])
				copy(r.Src.MAC[:], d[MACOffSrc:MACOffSrc+6])
				if qual&(MACSrcMultipath|MACDstMultipath) != 0 {
					r.Flags |= record.FlagMultiPath
				}
			}
		case DSRVLAN:
			if n >= VLANLen {
				if qual&QualSrc != 0 {
					r.Src.VLAN = u16(d, VLANOffSrc) & 0x0FFF
				}
				if qual&QualDst != 0 {
					r.Dst.VLAN = u16(d, VLANOffDst) & 0x0FFF
				}
			}
		case DSRMPLS:
			o := 4
			if sub&MPLSSrcLabel != 0 && o+4 <= n {
				r.Src.MPLS = u32(d, o) >> 12
				o += 4
			}
			if sub&MPLSDstLabel != 0 && o+4 <= n {
				r.Dst.MPLS = u32(d, o) >> 12
			}
		case DSREncaps:
			if n >= 12 {
				decodeEncaps(u32(d, 4)|u32(d, 8), r)
			}
		case DSRAgr:
			if n >= 8 {
				r.Trans = u32(d, AgrOffCount)
			}
		case DSRCoCode:
			if n >= CoCodeLen {
				r.SrcCountry = [2]byte{d[4], d[5]}
				r.DstCountry = [2]byte{d[6], d[7]}
			}
		case DSRLabel:
			decodeLabel(d, r, lastLabel)
		case DSRASN:
			if n >= 12 {
				r.SrcAS, r.DstAS = u32(d, 4), u32(d, 8)
			}
		default:
			skipped[t&0x7F]++
		}
	}
	if reverse {
		// The reverse bit says the key holds the addresses the other way round from
		// the per-direction DSRs: ra turns the key round (addresses, and the ports
		// of TCP and UDP), as Argus's clients do when they read a record.
		r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
		if r.Proto == 6 || r.Proto == 17 {
			r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
		}
	}
	if haveTCP {
		r.TCPState = tcpState(tcpStatus, r)
		// Argus keeps out-of-order as a status bit per direction, not a count.
		if tcpStatus&TCPSrcOutOfOrder != 0 {
			r.Src.OutOfOrder = 1
		}
		if tcpStatus&TCPDstOutOfOrder != 0 {
			r.Dst.OutOfOrder = 1
		}
		// A direction without packets has no window (ra prints none).
		if r.Src.Pkts == 0 {
			r.Src.Win = 0
		}
		if r.Dst.Pkts == 0 {
			r.Dst.Win = 0
		}
	}
	if r.Family != 0 && r.Proto == 6 && tcpStatus&TCPSawSyn == 0 && r.SrcPort < r.DstPort {
		// A TCP flow whose SYN was not seen: ra shows it with the lower (service)
		// port as the destination.
		r.Reverse()
	}
	if r.LastTime < r.StartTime {
		r.LastTime = r.StartTime
	}
	return nil
}

func decodeTransport(d []byte, r *record.Record) {
	sub, qual := d[1], d[2]
	o := 4
	if sub&TransSrcID != 0 {
		switch qual &^ TransInterface {
		case TypeIPv6, TypeUUID:
			if len(d) >= o+16 {
				r.SrcID = u32(d, o+12)
			}
			o += 16
		default:
			if len(d) >= o+4 {
				r.SrcID = u32(d, o)
			}
			o += 4
		}
		if qual&TransInterface != 0 {
			if len(d) >= o+4 {
				copy(r.Inf[:4], d[o:o+4])
			}
			o += 4
		}
	}
	if sub&TransSeq != 0 && len(d) >= o+4 {
		r.Seq = u32(d, o)
	}
}

// decodeFlow maps the flow key; false if the key is of a kind Panoptes does not model.
func decodeFlow(d []byte, r *record.Record) bool {
	sub, qual := d[1]&FlowSubtypeMask&^FlowRMON, d[2]
	switch sub {
	case FlowClassic5Tuple, FlowLayer3Matrix:
	case FlowARP:
		return decodeARP(d, r)
	default:
		return false
	}
	switch qual & FlowQualTypeMask {
	case TypeIPv4:
		if len(d) < 4+13 {
			return false
		}
		r.Family = 4
		r.EtherType = 0x0800
		copy(r.SrcAddr[:4], d[4:8])
		copy(r.DstAddr[:4], d[8:12])
		r.Proto = d[12]
		if qual&FlowQualFragment != 0 {
			// A flow of fragments whose first fragment was not seen: ra prints the
			// key's words where the ports would be.
			r.Flags |= record.FlagFragPartial
			r.SrcPort, r.DstPort = u16(d, 14), u16(d, 16)
			return true
		}
		switch r.Proto {
		case 1: // type, code, id, ip_id
			r.SrcPort, r.DstPort = uint16(d[14]), uint16(d[15])
			// argus copies the echo identifier and sequence from the packet without
			// turning them to host order, and then writes them as host-order words:
			// on disk they are byte-swapped, little-endian words of their values
			// (write.go writes them so; ra prints the identifier swapped).
			if len(d) >= 18 {
				r.ICMPID = binary.LittleEndian.Uint16(d[16:])
			}
			if len(d) >= 20 {
				r.ICMPSeq = binary.LittleEndian.Uint16(d[18:])
			}
		case 6, 17, 132, 33, 136:
			r.SrcPort, r.DstPort = u16(d, 14), u16(d, 16)
		}
		return true
	case TypeIPv6:
		if len(d) < 4+40 {
			return false
		}
		r.Family = 6
		r.EtherType = 0x86DD
		copy(r.SrcAddr[:], d[4:20])
		copy(r.DstAddr[:], d[20:36])
		r.Proto = d[36]
		if qual&FlowQualFragment != 0 {
			r.Flags |= record.FlagFragPartial
			r.SrcPort, r.DstPort = u16(d, 40), u16(d, 42)
			return true
		}
		switch r.Proto {
		case 58:
			r.SrcPort, r.DstPort = uint16(d[40]), uint16(d[41])
			r.ICMPID = binary.LittleEndian.Uint16(d[42:]) // as for ICMP
		case 6, 17, 132, 33, 136:
			r.SrcPort, r.DstPort = u16(d, 40), u16(d, 42)
		}
		return true
	case TypeEther:
		if len(d) < 4+16 {
			return false
		}
		// Argus's layer-2 flow key holds the source address first.
		copy(r.Src.MAC[:], d[4:10])
		copy(r.Dst.MAC[:], d[10:16])
		r.EtherType = u16(d, 16)
		copy(r.SrcAddr[:6], d[4:10])
		copy(r.DstAddr[:6], d[10:16])
		return true
	}
	return false
}

func decodeARP(d []byte, r *record.Record) bool {
	qual := d[2] & FlowQualTypeMask
	r.Family = 0
	switch qual {
	case TypeARP:
		// hrd, pro, hln, pln, op, spa, tpa, haddr
		if len(d) < 4+16 {
			return false
		}
		r.EtherType = 0x0806
		copy(r.SrcAddr[:4], d[12:16])
		copy(r.DstAddr[:4], d[16:20])
		return true
	case TypeRARP:
		r.EtherType = 0x8035
		return true
	}
	return false
}

// decodeTime takes the flow's first and last times. With subtype bits saying which of
// src start, src end, dst start, dst end are present (Argus 3 and later), the DSR's
// length says how they are encoded, as Argus's own reader decides (the encoding bits of
// the subtype are not trusted): as many 8-byte times as flagged (or room for more) is
// absolute; one 8-byte base time (the src start, else the dst start) followed by one
// signed 32-bit microsecond offset from it per other time is relative. ArgusGenerateRecord
// writes the relative form for flows shorter than a second, e.g. in the `record` blobs
// of rasqlinsert's tables. Without those bits (older files) the subtype's encoding
// says whether one time (a timestamp) or two (a range) follow.
func decodeTime(d []byte, r *record.Record) {
	sub, qual := d[1], d[2]
	nano := qual == TimeUTCNano || qual == TimeNano
	get := func(o int) int64 {
		if nano {
			return int64(u32(d, o))*1e9 + int64(u32(d, o+4))
		}
		return timeNS(u32(d, o), u32(d, o+4))
	}
	var first, last int64
	haveFirst := false
	take := func(t int64) {
		if !haveFirst || t < first {
			first = t
		}
		if !haveFirst || t > last {
			last = t
		}
		haveFirst = true
	}
	o := 4
	if sub&TimeMask != 0 {
		cnt := 0
		for _, bit := range [...]uint8{TimeSrcStart, TimeSrcEnd, TimeDstStart, TimeDstEnd} {
			if sub&bit != 0 {
				cnt++
			}
		}
		words := len(d)/4 - 1
		relative := cnt > 1 && words == cnt+1
		var base int64
		for _, bit := range [...]uint8{TimeSrcStart, TimeSrcEnd, TimeDstStart, TimeDstEnd} {
			if sub&bit == 0 {
				continue
			}
			if relative && o > 4 {
				// An offset from the base time, in microseconds (Argus writes the
				// relative form only with microsecond times).
				if o+4 > len(d) {
					break
				}
				take(base + int64(int32(u32(d, o)))*1e3)
				o += 4
				continue
			}
			if o+8 > len(d) {
				break
			}
			t := get(o)
			o += 8
			if relative {
				base = t
			}
			// A zero time is an unset one (Argus takes the start for a zero end).
			if t != 0 || !haveFirst {
				take(t)
			}
		}
	} else {
		switch sub & TimeTypeMask {
		case TimeAbsRelRange:
			// A start, then the end as an offset in microseconds in the seconds field.
			if o+16 <= len(d) {
				t := get(o)
				take(t)
				take(t + int64(u32(d, o+8))*1e3)
				o = len(d)
			}
		}
		for o+8 <= len(d) {
			take(get(o))
			o += 8
		}
	}
	if haveFirst {
		r.StartTime, r.LastTime = first, last
	}
}

// counter reads one counter of the given width (1, 2, 4 or 8 bytes).
func counter(d []byte, o, w int) uint64 {
	switch w {
	case 1:
		return uint64(d[o])
	case 2:
		return uint64(u16(d, o))
	case 4:
		return uint64(u32(d, o))
	}
	return be.Uint64(d[o:])
}

// widths returns the counter width and which sides a metric qualifier carries.
func widths(q uint8) (w int, src, dst bool) {
	switch q {
	case SrcDstByte, SrcByte, DstByte:
		w = 1
	case SrcDstShort, SrcShort, DstShort:
		w = 2
	case SrcDstInt, SrcInt, DstInt:
		w = 4
	case SrcDstLongLong, SrcLongLong, DstLongLong:
		w = 8
	default:
		return 0, false, false
	}
	switch {
	case q <= SrcDstLongLong:
		return w, true, true
	case q <= SrcLongLong:
		return w, true, false
	}
	return w, false, true
}

func decodeMeter(d []byte, r *record.Record) {
	w, src, dst := widths(d[2])
	if w == 0 {
		return
	}
	per := 2
	if d[1] == MeterPktsBytesApp {
		per = 3
	}
	o := 4
	side := func(s *record.Side) bool {
		if o+per*w > len(d) {
			return false
		}
		s.Pkts = counter(d, o, w)
		s.Bytes = counter(d, o+w, w)
		if per == 3 {
			s.AppBytes = counter(d, o+2*w, w)
		}
		o += per * w
		return true
	}
	if src && !side(&r.Src) {
		return
	}
	if dst {
		side(&r.Dst)
	}
}

func decodePSize(d []byte, r *record.Record) {
	w, src, dst := widths(d[2])
	if w == 0 || w > 4 {
		return
	}
	o := 4
	side := func(s *record.Side) bool {
		if o+2*w > len(d) {
			return false
		}
		s.MinSize = uint32(counter(d, o, w))
		s.MaxSize = uint32(counter(d, o+w, w))
		o += 2 * w
		return true
	}
	if src && !side(&r.Src) {
		return
	}
	if dst {
		side(&r.Dst)
	}
}

// decodeNet maps the network DSR: TCP state, RTT, windows, retransmissions and loss.
// It returns the TCP status bits when the DSR is a TCP one.
func decodeNet(d []byte, r *record.Record) (uint32, bool) {
	switch d[1] {
	case NetTCPPerf:
		if len(d) < TCPObjectLen {
			return 0, false
		}
		st := u32(d, TCPOffStatus)
		r.SynAck = int64(u32(d, TCPOffSynAck)) * 1e3
		r.AckDat = int64(u32(d, TCPOffAckDat)) * 1e3
		tcpSide(d[TCPOffSrc:TCPOffSrc+TCPMetricsLen], &r.Src)
		tcpSide(d[TCPOffDst:TCPOffDst+TCPMetricsLen], &r.Dst)
		return st, true
	case NetTCPInit:
		if len(d) < 20 {
			return 0, false
		}
		r.Src.BaseSeq = u32(d, 8)
		r.Src.Win = uint32(u16(d, 16))
		r.Src.TCPFlags = d[18]
		return u32(d, 4), true
	case NetTCPStatus:
		if len(d) < 12 {
			return 0, false
		}
		r.Src.TCPFlags, r.Dst.TCPFlags = d[8], d[9]
		return u32(d, 4), true
	}
	return 0, false
}

// tcpSide maps one direction's TCP metrics. Argus counts retransmitted segments and
// ra reports them as loss (sloss, dloss; its sretrans stays 0), so they become Loss.
// The window is the advertised one scaled by the window-scale option, as ra prints it.
func tcpSide(m []byte, s *record.Side) {
	s.BaseSeq = u32(m, TCPMOffSeqBase)
	s.Loss = uint64(u32(m, TCPMOffRetrans))
	w := uint64(u16(m, TCPMOffWin))
	if sh := m[TCPMOffWinShift]; sh > 0 && sh <= 14 {
		w <<= sh
	}
	s.Win = uint32(w)
	s.TCPFlags = m[TCPMOffFlags]
}

// tcpState maps Argus's TCP status bits to Panoptes's.
func tcpState(st uint32, r *record.Record) uint16 {
	var s uint16
	if st&(TCPSawSyn|TCPSawSynSent) != 0 {
		// ra takes either as the handshake seen (dir "->").
		s |= record.TCPSawSyn
	}
	if st&TCPSawSynSent != 0 {
		s |= record.TCPSawSynAck
	}
	if st&TCPConEstablished != 0 {
		s |= record.TCPEstablished
	}
	if st&(TCPFin|TCPFinAck) != 0 {
		if r.Src.TCPFlags&0x01 != 0 {
			s |= record.TCPSrcFin
		}
		if r.Dst.TCPFlags&0x01 != 0 {
			s |= record.TCPDstFin
		}
		if s&(record.TCPSrcFin|record.TCPDstFin) == 0 {
			s |= record.TCPSrcFin
		}
	}
	if st&TCPNormalClose != 0 {
		s |= record.TCPClosed
	}
	if st&(TCPSrcReset|TCPDstReset) != 0 {
		s |= record.TCPReset
	}
	if st&TCPSrcWindowShut != 0 {
		s |= record.TCPSrcWinShut
	}
	if st&TCPDstWindowShut != 0 {
		s |= record.TCPDstWinShut
	}
	if st&TCPSrcCongested != 0 {
		s |= record.TCPSrcEcn
	}
	if st&TCPDstCongested != 0 {
		s |= record.TCPDstEcn
	}
	return s
}

func decodeIPAttr(d []byte, r *record.Record) {
	q := d[2]
	o := 4
	side := func(s *record.Side, opts bool) bool {
		if o+4 > len(d) {
			return false
		}
		s.TTL, s.ToS = d[o], d[o+1]
		o += 4
		if opts {
			o += 4
		}
		return true
	}
	if q&IPAttrSrc != 0 && !side(&r.Src, q&IPAttrSrcOptions != 0) {
		return
	}
	if q&IPAttrDst != 0 {
		side(&r.Dst, q&IPAttrDstOptions != 0)
	}
	if q&(IPAttrSrcFragments|IPAttrDstFragments) != 0 {
		r.Flags |= record.FlagFragments
	}
}

// stat is one of the jitter DSR's statistics objects.
type stat struct {
	n               uint32
	mean, stdev, mx float64
}

func readStat(d []byte, o int) stat {
	return stat{
		n:     u32(d, o),
		mean:  float64(math.Float32frombits(u32(d, o+8))),
		stdev: float64(math.Float32frombits(u32(d, o+12))),
		mx:    float64(math.Float32frombits(u32(d, o+16))),
	}
}

// decodeJitter folds the active and idle inter-packet statistics of each side (Argus
// keeps them apart; Panoptes keeps one running mean and variance) into the side's
// IntN, IntMean and IntM2. Argus's values are microseconds.
func decodeJitter(d []byte, r *record.Record) {
	q := d[2]
	o := 4
	var st [4]stat
	for i, bit := range [...]uint8{JitterSrcActive, JitterSrcIdle, JitterDstActive, JitterDstIdle} {
		if q&bit == 0 {
			continue
		}
		if o+StatObjectLen > len(d) {
			return
		}
		st[i] = readStat(d, o)
		o += StatObjectLen
	}
	fold(&r.Src, st[0], st[1])
	fold(&r.Dst, st[2], st[3])
}

func fold(s *record.Side, a, b stat) {
	n := uint64(a.n) + uint64(b.n)
	if n == 0 {
		return
	}
	mean := (a.mean*float64(a.n) + b.mean*float64(b.n)) / float64(n)
	m2 := float64(a.n)*(a.stdev*a.stdev+(a.mean-mean)*(a.mean-mean)) +
		float64(b.n)*(b.stdev*b.stdev+(b.mean-mean)*(b.mean-mean))
	s.IntN = n
	s.IntMean = mean * 1e3
	s.IntM2 = m2 * 1e6
}

func decodeEncaps(m uint32, r *record.Record) {
	if m&EncapsEther != 0 {
		r.Flags |= record.FlagEthernet
	}
	if m&Encaps8021Q != 0 {
		r.Flags |= record.FlagVLAN
	}
	if m&EncapsMPLS != 0 {
		r.Flags |= record.FlagMPLS
	}
	if m&EncapsPPP != 0 {
		r.Flags |= record.FlagPPP
	}
	if m&EncapsSLL != 0 {
		r.Flags |= record.FlagSLL
	}
	if m&EncapsLLC != 0 {
		r.Flags |= record.FlagLLC
	}
	if m&EncapsGRE != 0 {
		r.Flags |= record.FlagGRE
	}
}

// decodeLabel keeps the label text. The last label is kept as a string, so that a run
// of records with the same label allocates it once.
func decodeLabel(d []byte, r *record.Record, last *string) {
	t := d[4:]
	if i := indexByte(t, 0); i >= 0 {
		t = t[:i]
	}
	if string(t) != *last {
		*last = string(t)
	}
	r.Label = *last
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func (rd *Reader) decodeMAR(b []byte, r *record.Record) error {
	r.Kind = record.KindMan
	id := u32(b, MAROffArgusID)
	switch id {
	case CookieV2, CookieV3, CookieV5:
		id = u32(b, MAROffThisID)
	}
	r.SrcID = id
	r.StartTime = timeNS(u32(b, MAROffStartSec), u32(b, MAROffStartUsec))
	r.LastTime = timeNS(u32(b, MAROffNowSec), u32(b, MAROffNowUsec))
	r.Trans = 1
	r.Man = &record.Management{
		PktsSeen:       be.Uint64(b[MAROffPktsRcvd:]),
		BytesSeen:      be.Uint64(b[MAROffBytesRcvd:]),
		RecordsWritten: uint64(u32(b, MAROffRecords)),
		FlowsActive:    uint64(u32(b, MAROffFlows)),
		Drops:          uint64(u32(b, MAROffDropped)),
	}
	return nil
}

// dsrAt returns the type and length in bytes of the DSR at b[p:] (at least its
// DSRHeaderLen-byte header must be there): 4 for immediate data, else the length its
// header states, which the caller checks against the record.
func dsrAt(b []byte, p int) (t uint8, n int) {
	t = b[p]
	switch {
	case t&ImmediateData != 0:
		return t, 4
	case t == DSRData:
		return t, int(u16(b, p+2)) * 4
	}
	return t, int(b[p+3]) * 4
}
