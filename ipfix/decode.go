package ipfix

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"panoptes/record"
)

// DecoderOptions configures a Decoder.
type DecoderOptions struct {
	// SrcID, when not zero, is the srcid of every record; otherwise it is derived from
	// the exporter's address (see the package documentation).
	SrcID uint32

	// Template budgets: in all, and per exporter address (zero: the Default*
	// constants). Over a budget the oldest templates (least recently sent or used) are
	// evicted, of the exporter itself or, over the total, of the largest exporter.
	MaxTemplates, MaxTemplateBytes                 int
	MaxExporterTemplates, MaxExporterTemplateBytes int
	// TemplateLifetime is how long a template lives without being sent again or used
	// (RFC 7011 8.4, for UDP; zero: DefaultTemplateLifetime; negative: for ever, as
	// on a TCP or SCTP session).
	TemplateLifetime time.Duration
	// Now is the clock for template lifetimes (nil: time.Now).
	Now func() time.Time
}

// withDefaults fills in the zero fields.
func (o DecoderOptions) withDefaults() DecoderOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxTemplates, DefaultMaxTemplates)
	def(&o.MaxTemplateBytes, DefaultMaxTemplateBytes)
	def(&o.MaxExporterTemplates, DefaultMaxExporterTemplates)
	def(&o.MaxExporterTemplateBytes, DefaultMaxExporterTemplateBytes)
	if o.TemplateLifetime == 0 {
		o.TemplateLifetime = DefaultTemplateLifetime
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Stats counts what a Decoder has seen.
type Stats struct {
	Messages    uint64 // messages decoded without error
	Malformed   uint64 // messages that were cut short or malformed (each returned an error)
	Records     uint64 // flow records emitted
	Templates   uint64 // template and options template records learnt
	Withdrawals uint64 // IPFIX template withdrawals
	NoTemplate  uint64 // data sets skipped because their template is not known (yet)
	Options     uint64 // options data records read (and not emitted)
	Skipped     uint64 // data records without addresses, and sets of reserved ids

	TemplatesEvicted uint64 // dropped, oldest first, to keep a budget
	TemplatesRefused uint64 // larger than an exporter's whole byte budget
	TemplatesExpired uint64 // neither sent again nor used for TemplateLifetime
	TemplatesHeld    int    // templates held now
	TemplateBytes    int    // their cost, as counted against the budgets
}

// DecodeError is a malformed or truncated message: it names the exporter and the byte
// offset in the message where decoding stopped.
type DecodeError struct {
	Exporter netip.AddrPort
	Offset   int
	Reason   string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("flow export from %s: byte %d: %s", e.Exporter, e.Offset, e.Reason)
}

// Decoder turns NetFlow v5/v9 and IPFIX messages into records. It keeps templates per
// exporter, version and observation domain. It is safe for use by several goroutines.
type Decoder struct {
	opts DecoderOptions

	mu        sync.Mutex
	templates store
	stats     Stats
	fields    []field // scratch for parsing template records
	cur       decodeState
}

type domainKey struct {
	exporter netip.AddrPort
	version  uint16
	domain   uint32
}

type field struct {
	id     uint16 // without the enterprise bit
	length uint16 // varLen for a variable-length field
	pen    uint32
}

// NewDecoder returns a decoder with no templates.
func NewDecoder(opts DecoderOptions) *Decoder {
	opts = opts.withDefaults()
	d := &Decoder{opts: opts}
	d.templates = newStore(opts, &d.stats)
	return d
}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stats
	st.TemplatesHeld, st.TemplateBytes = d.templates.held, d.templates.heldBytes
	return st
}

// Exporters returns the template state and refusals of each exporter address that holds
// templates (or lost some since the last expiry sweep), in address order.
func (d *Decoder) Exporters() []ExporterTemplates {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ExporterTemplates, 0, len(d.templates.exporters))
	for _, e := range d.templates.exporters {
		out = append(out, e.ExporterTemplates)
	}
	slices.SortFunc(out, func(a, b ExporterTemplates) int { return a.Exporter.Compare(b.Exporter) })
	return out
}

// Decode decodes one message: one UDP datagram (NetFlow v5, v9 or IPFIX) or one IPFIX
// message read from a stream. emit is called for each flow record, with a record that
// is reused afterwards (copy it to keep it). Records before a fault are emitted; the
// fault is returned as a *DecodeError.
func (d *Decoder) Decode(msg []byte, exporter netip.AddrPort, emit func(*record.Record)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.templates.tick()
	var err error
	if len(msg) < 2 {
		err = d.fail(exporter, 0, "message shorter than a version number")
	} else {
		switch v := binary.BigEndian.Uint16(msg); v {
		case 5:
			err = d.decodeV5(msg, exporter, emit)
		case 9:
			err = d.decodeV9(msg, exporter, emit)
		case 10:
			err = d.decodeIPFIX(msg, exporter, emit)
		default:
			err = d.fail(exporter, 0, fmt.Sprintf("unknown version %d (want 5, 9 or 10)", v))
		}
	}
	if err != nil {
		d.stats.Malformed++
		return err
	}
	d.stats.Messages++
	return nil
}

func (d *Decoder) fail(exporter netip.AddrPort, off int, reason string) error {
	return &DecodeError{Exporter: exporter, Offset: off, Reason: reason}
}

// srcID is the srcid of records from exporter.
func (d *Decoder) srcID(exporter netip.AddrPort) uint32 {
	if d.opts.SrcID != 0 {
		return d.opts.SrcID
	}
	a := exporter.Addr().Unmap()
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	// FNV-1a, 32 bits, over the 16 address bytes (inline: hash/fnv would allocate).
	h := uint32(2166136261)
	for _, c := range a.As16() {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

const (
	v5HeaderLen = 24
	v5RecordLen = 48
	v9HeaderLen = 20
	ipfixHeader = 16
)

func (d *Decoder) decodeV5(msg []byte, exporter netip.AddrPort, emit func(*record.Record)) error {
	if len(msg) < v5HeaderLen {
		return d.fail(exporter, len(msg), "NetFlow v5 header cut short")
	}
	count := int(binary.BigEndian.Uint16(msg[2:]))
	uptime := binary.BigEndian.Uint32(msg[4:])
	now := int64(binary.BigEndian.Uint32(msg[8:]))*1e9 + int64(binary.BigEndian.Uint32(msg[12:]))
	if count > 30 {
		return d.fail(exporter, 2, fmt.Sprintf("NetFlow v5 count %d (at most 30)", count))
	}
	for i := 0; i < count; i++ {
		off := v5HeaderLen + i*v5RecordLen
		if len(msg) < off+v5RecordLen {
			return d.fail(exporter, off, fmt.Sprintf("NetFlow v5 record %d of %d cut short", i+1, count))
		}
		b := msg[off : off+v5RecordLen]
		s := &d.cur
		s.reset(d.srcID(exporter))
		r := &s.r
		r.Family = 4
		copy(r.SrcAddr[:4], b[0:4])
		copy(r.DstAddr[:4], b[4:8])
		r.Src.Pkts = uint64(binary.BigEndian.Uint32(b[16:]))
		r.Src.Bytes = uint64(binary.BigEndian.Uint32(b[20:]))
		r.StartTime = now - int64(uptime-binary.BigEndian.Uint32(b[24:]))*1e6
		r.LastTime = now - int64(uptime-binary.BigEndian.Uint32(b[28:]))*1e6
		s.hasTimes = true
		r.SrcPort = binary.BigEndian.Uint16(b[32:])
		r.DstPort = binary.BigEndian.Uint16(b[34:])
		s.srcFlags = uint16(b[37])
		r.Proto = b[38]
		r.Src.ToS = b[39]
		d.finish(s, now, emit)
	}
	return nil
}

// v9/IPFIX per-message context for the data records.
type msgContext struct {
	key      domainKey
	exportNs int64 // export time, ns since the epoch
	uptimeMs uint32
	hasUp    bool // v9: the header carries the exporter's uptime
}

func (d *Decoder) decodeV9(msg []byte, exporter netip.AddrPort, emit func(*record.Record)) error {
	if len(msg) < v9HeaderLen {
		return d.fail(exporter, len(msg), "NetFlow v9 header cut short")
	}
	mc := msgContext{
		key:      domainKey{exporter: exporter, version: 9, domain: binary.BigEndian.Uint32(msg[16:])},
		exportNs: int64(binary.BigEndian.Uint32(msg[8:])) * 1e9,
		uptimeMs: binary.BigEndian.Uint32(msg[4:]),
		hasUp:    true,
	}
	return d.decodeSets(msg, v9HeaderLen, &mc, emit)
}

func (d *Decoder) decodeIPFIX(msg []byte, exporter netip.AddrPort, emit func(*record.Record)) error {
	if len(msg) < ipfixHeader {
		return d.fail(exporter, len(msg), "IPFIX header cut short")
	}
	n := int(binary.BigEndian.Uint16(msg[2:]))
	if n < ipfixHeader {
		return d.fail(exporter, 2, fmt.Sprintf("IPFIX message length %d is shorter than its header", n))
	}
	if n > len(msg) {
		return d.fail(exporter, len(msg), fmt.Sprintf("IPFIX message cut short: header says %d bytes, got %d", n, len(msg)))
	}
	mc := msgContext{
		key:      domainKey{exporter: exporter, version: 10, domain: binary.BigEndian.Uint32(msg[12:])},
		exportNs: int64(binary.BigEndian.Uint32(msg[4:])) * 1e9,
	}
	return d.decodeSets(msg[:n], ipfixHeader, &mc, emit)
}

// Set ids: v9 uses 0 and 1 for templates and options templates, IPFIX 2 and 3.
func (d *Decoder) decodeSets(msg []byte, off int, mc *msgContext, emit func(*record.Record)) error {
	v9 := mc.key.version == 9
	for off < len(msg) {
		if len(msg)-off < 4 {
			if v9 {
				return nil // v9 exporters may pad the packet
			}
			return d.fail(mc.key.exporter, off, "set header cut short")
		}
		id := binary.BigEndian.Uint16(msg[off:])
		n := int(binary.BigEndian.Uint16(msg[off+2:]))
		if n < 4 {
			return d.fail(mc.key.exporter, off+2, fmt.Sprintf("set %d length %d is shorter than its header", id, n))
		}
		if n > len(msg)-off {
			return d.fail(mc.key.exporter, off, fmt.Sprintf("set %d cut short: length %d, %d bytes left", id, n, len(msg)-off))
		}
		body := msg[off+4 : off+n]
		var err error
		switch {
		case v9 && id == 0, !v9 && id == 2:
			err = d.readTemplates(body, off+4, mc, false)
		case v9 && id == 1, !v9 && id == 3:
			err = d.readTemplates(body, off+4, mc, true)
		case id >= 256:
			err = d.readData(body, off+4, id, mc, emit)
		default:
			d.stats.Skipped++
		}
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}

func (d *Decoder) readTemplates(b []byte, base int, mc *msgContext, options bool) error {
	v9 := mc.key.version == 9
	off := 0
	ex := mc.key.exporter
	for len(b)-off >= 4 {
		start := off
		tid := binary.BigEndian.Uint16(b[off:])
		count := int(binary.BigEndian.Uint16(b[off+2:]))
		off += 4
		if v9 && options {
			// v9 options template: template id, scope length, option length (bytes).
			scopeLen, optLen := count, 0
			if len(b)-off < 2 {
				return d.fail(ex, base+off, "options template cut short")
			}
			optLen = int(binary.BigEndian.Uint16(b[off:]))
			off += 2
			if scopeLen%4 != 0 || optLen%4 != 0 {
				return d.fail(ex, base+start, fmt.Sprintf("options template %d: scope length %d or option length %d not a multiple of 4", tid, scopeLen, optLen))
			}
			count = (scopeLen + optLen) / 4
		} else if !v9 && count == 0 {
			d.withdraw(mc.key, tid, options)
			continue
		} else if options {
			if len(b)-off < 2 {
				return d.fail(ex, base+off, "options template cut short")
			}
			scope := int(binary.BigEndian.Uint16(b[off:]))
			off += 2
			if scope == 0 || scope > count {
				return d.fail(ex, base+start, fmt.Sprintf("options template %d: scope field count %d of %d fields", tid, scope, count))
			}
		}
		if tid < 256 {
			return d.fail(ex, base+start, fmt.Sprintf("template id %d (data template ids start at 256)", tid))
		}
		if count == 0 {
			return d.fail(ex, base+start, fmt.Sprintf("template %d has no fields", tid))
		}
		fields := d.fields[:0]
		minLen := 0
		for i := 0; i < count; i++ {
			if len(b)-off < 4 {
				return d.fail(ex, base+off, fmt.Sprintf("template %d field %d of %d cut short", tid, i+1, count))
			}
			f := field{id: binary.BigEndian.Uint16(b[off:]), length: binary.BigEndian.Uint16(b[off+2:])}
			off += 4
			if !v9 && f.id&enterpriseBit != 0 {
				if len(b)-off < 4 {
					return d.fail(ex, base+off, fmt.Sprintf("template %d field %d enterprise number cut short", tid, i+1))
				}
				f.id &^= enterpriseBit
				f.pen = binary.BigEndian.Uint32(b[off:])
				off += 4
			}
			switch {
			case f.length == 0:
				// Every field must take at least one byte of a data record, so that
				// decoding a set costs no more than its size.
				return d.fail(ex, base+off-2, fmt.Sprintf("template %d field %d: length 0", tid, i+1))
			case f.length == varLen && !v9:
				minLen++
			case f.length == varLen:
				return d.fail(ex, base+off-2, fmt.Sprintf("template %d field %d: variable length in NetFlow v9", tid, i+1))
			default:
				minLen += int(f.length)
			}
			fields = append(fields, f)
		}
		d.fields = fields
		d.templates.add(mc.key, tid, fields, options, minLen)
	}
	// Fewer than 4 bytes left: set padding.
	return nil
}

// withdraw removes one template, or all of the kind when tid is the set id (RFC 7011 8.1).
func (d *Decoder) withdraw(k domainKey, tid uint16, options bool) {
	d.stats.Withdrawals++
	d.templates.withdraw(k, tid, options)
}

func (d *Decoder) readData(b []byte, base int, tid uint16, mc *msgContext, emit func(*record.Record)) error {
	t := d.templates.lookup(mc.key, tid)
	if t == nil {
		d.stats.NoTemplate++
		return nil
	}
	off := 0
	for len(b)-off >= t.minLen {
		s := &d.cur
		s.reset(d.srcID(mc.key.exporter))
		for i, f := range t.fields {
			n := int(f.length)
			if f.length == varLen {
				if off >= len(b) {
					return d.fail(mc.key.exporter, base+off, fmt.Sprintf("template %d field %d: length cut short", tid, i+1))
				}
				n = int(b[off])
				off++
				if n == 255 {
					if len(b)-off < 2 {
						return d.fail(mc.key.exporter, base+off, fmt.Sprintf("template %d field %d: length cut short", tid, i+1))
					}
					n = int(binary.BigEndian.Uint16(b[off:]))
					off += 2
				}
			}
			if len(b)-off < n {
				return d.fail(mc.key.exporter, base+off, fmt.Sprintf("template %d field %d: %d bytes, %d left in the set", tid, i+1, n, len(b)-off))
			}
			s.apply(f, b[off:off+n])
			off += n
		}
		if t.options {
			d.stats.Options++
			if s.hasSysInit {
				d.templates.setSysInit(mc.key, s.sysInit)
			}
			continue
		}
		if s.r.Family == 0 {
			d.stats.Skipped++
			continue
		}
		d.resolveTimes(s, mc)
		d.finish(s, mc.exportNs, emit)
	}
	return nil
}

// resolveTimes sets the record's start and end time from whatever the exporter sent:
// absolute times first, then times relative to its uptime, then deltas from the export
// time, and the export time itself if nothing else.
func (d *Decoder) resolveTimes(s *decodeState, mc *msgContext) {
	r := &s.r
	if s.hasTimes {
		return
	}
	switch {
	case s.hasUpStart || s.hasUpEnd:
		if mc.hasUp {
			r.StartTime = mc.exportNs - int64(mc.uptimeMs-s.upStart)*1e6
			r.LastTime = mc.exportNs - int64(mc.uptimeMs-s.upEnd)*1e6
		} else {
			init, ok := d.templates.sysInit(mc.key)
			if s.hasSysInit {
				init, ok = s.sysInit, true
			}
			if !ok {
				init = mc.exportNs / 1e6
			}
			r.StartTime = (init + int64(s.upStart)) * 1e6
			r.LastTime = (init + int64(s.upEnd)) * 1e6
		}
		if !s.hasUpStart {
			r.StartTime = r.LastTime
		}
		if !s.hasUpEnd {
			r.LastTime = r.StartTime
		}
	case s.hasDelta:
		r.StartTime = mc.exportNs - int64(s.deltaStart)*1e3
		r.LastTime = mc.exportNs - int64(s.deltaEnd)*1e3
	default:
		r.StartTime, r.LastTime = mc.exportNs, mc.exportNs
	}
}

// finish completes a decoded record (ICMP type and code, TCP state, cause, direction)
// and emits it.
func (d *Decoder) finish(s *decodeState, exportNs int64, emit func(*record.Record)) {
	r := &s.r
	if r.StartTime == 0 && r.LastTime == 0 {
		r.StartTime, r.LastTime = exportNs, exportNs
	}
	if r.LastTime < r.StartTime {
		r.LastTime = r.StartTime
	}
	if r.IsICMP() {
		switch {
		case s.hasICMP:
			r.SrcPort, r.DstPort = s.icmp>>8, s.icmp&0xff
		case r.SrcPort == 0:
			// NetFlow convention: type and code in the destination port.
			r.SrcPort, r.DstPort = r.DstPort>>8, r.DstPort&0xff
		}
	}
	r.Src.TCPFlags, r.Dst.TCPFlags = uint8(s.srcFlags), uint8(s.dstFlags)
	if r.Proto == 6 {
		r.TCPState = tcpState(s.srcFlags, s.dstFlags)
	}
	switch s.endReason {
	case endIdle:
		r.Cause = record.CauseClose
		r.Flags |= record.FlagTimeout
		if r.Proto == 6 && r.TCPState&(record.TCPReset|record.TCPClosed) == 0 {
			r.TCPState |= record.TCPTimedOut
		}
	case endActive:
		r.Cause = record.CauseStatus
	case endForced:
		r.Cause = record.CauseStop
	case endResource:
		r.Cause = record.CauseEvicted
	default:
		r.Cause = record.CauseClose
	}
	if s.biflowDir == biflowReverse {
		r.Reverse()
	}
	d.stats.Records++
	emit(r)
}

// tcpState derives Panoptes' TCP state bits from the OR of each direction's flags.
// A one-way record (NetFlow v5/v9) has only the source's flags: a SYN with an ACK
// there is read as an established connection seen from its initiator.
func tcpState(src, dst uint16) uint16 {
	var st uint16
	if src&tcpSYN != 0 {
		st |= record.TCPSawSyn
	}
	if dst&tcpSYN != 0 && dst&tcpACK != 0 {
		st |= record.TCPSawSynAck
	}
	if src&tcpSYN != 0 && src&tcpACK != 0 && (dst == 0 || dst&tcpSYN != 0) {
		st |= record.TCPEstablished
	}
	if src&tcpFIN != 0 {
		st |= record.TCPSrcFin
	}
	if dst&tcpFIN != 0 {
		st |= record.TCPDstFin
	}
	if src&tcpFIN != 0 && dst&tcpFIN != 0 {
		st |= record.TCPClosed
	}
	if (src|dst)&tcpRST != 0 {
		st |= record.TCPReset
	}
	return st
}
