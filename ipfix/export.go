package ipfix

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"time"

	"panoptes/record"
)

// ExporterOptions configures an Exporter. Zero values take the defaults.
type ExporterOptions struct {
	// MTU is the largest message on a datagram transport (default 1400 bytes, which fits
	// an Ethernet frame with IPv6 and UDP headers). Stream messages may be up to 64 KiB.
	MTU int
	// TemplateInterval and TemplateMessages: on UDP, templates are re-sent when this long
	// has passed (default 30 s) or this many messages have been sent (default 100) since
	// they were last sent, whichever comes first.
	TemplateInterval time.Duration
	TemplateMessages int
	// Nanoseconds exports flowStart/EndNanoseconds instead of flowStart/EndMilliseconds.
	Nanoseconds bool
	// Stream frames messages for a stream transport (TCP: templates once, large
	// messages). By default it is true unless conn is a *net.UDPConn or reports a
	// "udp" network.
	Stream *bool
	// MaxDelay: a message that has waited this long for more records is sent before
	// the next record is added (default 1 s), so that a slow trickle of records is not
	// held until the next Flush.
	MaxDelay time.Duration
	// Pace, on UDP, is the time between two messages on average (0: as fast as the
	// socket takes them); a message late by less than paceCatchUp is made up by
	// sending the next ones sooner. UDP has no flow control: a collector with a
	// default-sized receive buffer may drop a burst of a few hundred messages (nfcapd
	// 1.7.1 lost 7 % of the records in 160 messages sent back to back on a loaded
	// machine).
	Pace time.Duration
	// Now is the export-time clock (default time.Now).
	Now func() time.Time
}

// ExporterStats counts what an Exporter has sent.
type ExporterStats struct {
	Records  uint64 // data records sent
	Messages uint64 // IPFIX messages sent
	Bytes    uint64 // bytes of those messages
	Skipped  uint64 // records not exported: management records and non-IP flows
	Lost     uint64 // records in datagrams the socket refused (collector down: ECONNREFUSED)
}

// paceCatchUp bounds how far behind its schedule a paced exporter may be and still
// catch up (send without waiting); later than that, the schedule restarts from now.
const paceCatchUp = 2 * time.Millisecond

// Template ids the exporter uses.
const (
	TemplateIPv4 = 256
	TemplateIPv6 = 257
)

// Exporter writes records as RFC 5103 bidirectional IPFIX to a connection. It
// implements record.Sink: Write buffers a record into the current message, Flush sends
// it. It is not safe for concurrent use.
type Exporter struct {
	conn    net.Conn
	opts    ExporterOptions
	stream  bool
	mtu     int
	tmplSet []byte // the template set, ready to send
	recLen  [2]int // data record length of the IPv4 and IPv6 templates

	domains map[uint32]*domainState
	msg     []byte // the message being built
	open    bool   // msg holds a message not yet sent
	opened  time.Time
	nextAt  time.Time // with Pace: when the next message may be sent
	domain  uint32    // its observation domain
	setOff  int       // offset of the open data set's header, or -1
	setTmpl uint16
	recs    uint32 // data records in the message
	stats   ExporterStats
	err     error
}

type domainState struct {
	seq          uint32 // data records sent before the next message (RFC 7011 3.1)
	tmplSent     bool
	tmplAt       time.Time
	msgsSinceTpl int
}

// NewExporter returns an exporter that writes to conn.
func NewExporter(conn net.Conn, opts ExporterOptions) *Exporter {
	if opts.TemplateInterval <= 0 {
		opts.TemplateInterval = 30 * time.Second
	}
	if opts.TemplateMessages <= 0 {
		opts.TemplateMessages = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = time.Second
	}
	e := &Exporter{conn: conn, opts: opts, domains: map[uint32]*domainState{}, setOff: -1}
	if opts.Stream != nil {
		e.stream = *opts.Stream
	} else {
		_, udp := conn.(*net.UDPConn)
		e.stream = !udp && !strings.HasPrefix(conn.LocalAddr().Network(), "udp")
	}
	switch {
	case opts.MTU > 0:
		e.mtu = min(opts.MTU, 65535)
	case e.stream:
		e.mtu = 65535
	default:
		e.mtu = 1400
	}
	e.tmplSet, e.recLen = templateSet(opts.Nanoseconds)
	if e.mtu < ipfixHeader+len(e.tmplSet)+4+e.recLen[1] {
		e.mtu = ipfixHeader + len(e.tmplSet) + 4 + e.recLen[1]
	}
	return e
}

// Stats returns the counters so far.
func (e *Exporter) Stats() ExporterStats { return e.stats }

// spec is one field specifier of our templates.
type spec struct {
	id      uint16
	length  uint16
	reverse bool
}

func templateFields(v6, nanos bool) []spec {
	start, end := uint16(ieStartMillis), uint16(ieEndMillis)
	if nanos {
		start, end = ieStartNanos, ieEndNanos
	}
	src, dst, alen, icmp := uint16(ieSrcIPv4), uint16(ieDstIPv4), uint16(4), uint16(ieICMPTypeCode4)
	if v6 {
		src, dst, alen, icmp = ieSrcIPv6, ieDstIPv6, 16, ieICMPTypeCode6
	}
	return []spec{
		{start, 8, false}, {end, 8, false},
		{src, alen, false}, {dst, alen, false},
		{ieSrcPort, 2, false}, {ieDstPort, 2, false}, {ieProtocol, 1, false}, {icmp, 2, false},
		{ieOctetDelta, 8, false}, {iePacketDelta, 8, false},
		{ieTCPFlags, 2, false}, {ieToS, 1, false}, {ieIPTTL, 1, false}, {ieVlanID, 2, false},
		{ieSrcMAC, 6, false}, {ieDstMAC, 6, false},
		{ieOctetDelta, 8, true}, {iePacketDelta, 8, true},
		{ieTCPFlags, 2, true}, {ieToS, 1, true}, {ieIPTTL, 1, true}, {ieVlanID, 2, true},
		{ieBiflowDirection, 1, false}, {ieFlowEndReason, 1, false},
	}
}

// templateSet builds the template set announcing both templates.
func templateSet(nanos bool) ([]byte, [2]int) {
	b := []byte{0, 2, 0, 0}
	var lens [2]int
	for i, tid := range []uint16{TemplateIPv4, TemplateIPv6} {
		fs := templateFields(i == 1, nanos)
		b = binary.BigEndian.AppendUint16(b, tid)
		b = binary.BigEndian.AppendUint16(b, uint16(len(fs)))
		for _, f := range fs {
			if f.reverse {
				b = binary.BigEndian.AppendUint16(b, f.id|enterpriseBit)
				b = binary.BigEndian.AppendUint16(b, f.length)
				b = binary.BigEndian.AppendUint32(b, penReverse)
			} else {
				b = binary.BigEndian.AppendUint16(b, f.id)
				b = binary.BigEndian.AppendUint16(b, f.length)
			}
			lens[i] += int(f.length)
		}
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b, lens
}

// Write adds r to the current message, sending the message first if r does not fit or
// belongs to another observation domain (srcid).
func (e *Exporter) Write(r *record.Record) error {
	if e.err != nil {
		return e.err
	}
	if r.Kind != record.KindFlow || (r.Family != 4 && r.Family != 6) {
		e.stats.Skipped++
		return nil
	}
	tid, ti := uint16(TemplateIPv4), 0
	if r.Family == 6 {
		tid, ti = TemplateIPv6, 1
	}
	if e.open && (e.domain != r.SrcID || e.opts.Now().Sub(e.opened) >= e.opts.MaxDelay) {
		if err := e.Flush(); err != nil {
			return err
		}
	}
	need := e.recLen[ti]
	if e.setOff < 0 || e.setTmpl != tid {
		need += 4
	}
	if e.open && len(e.msg)+need > e.mtu {
		if err := e.Flush(); err != nil {
			return err
		}
	}
	if !e.open {
		e.begin(r.SrcID)
	}
	if e.setOff < 0 || e.setTmpl != tid {
		e.closeSet()
		e.setOff, e.setTmpl = len(e.msg), tid
		e.msg = append(e.msg, byte(tid>>8), byte(tid), 0, 0)
	}
	e.msg = appendRecord(e.msg, r, ti == 1, e.opts.Nanoseconds)
	e.recs++
	return nil
}

// begin starts a message for domain, with the template set when it is due.
func (e *Exporter) begin(domain uint32) {
	d := e.domains[domain]
	if d == nil {
		d = &domainState{}
		e.domains[domain] = d
	}
	e.msg = append(e.msg[:0], make([]byte, ipfixHeader)...)
	e.open, e.domain, e.setOff, e.recs = true, domain, -1, 0
	now := e.opts.Now()
	e.opened = now
	due := !d.tmplSent
	if !e.stream && !due {
		due = now.Sub(d.tmplAt) >= e.opts.TemplateInterval || d.msgsSinceTpl >= e.opts.TemplateMessages
	}
	if due {
		e.msg = append(e.msg, e.tmplSet...)
		d.tmplSent, d.tmplAt, d.msgsSinceTpl = true, now, 0
	}
}

func (e *Exporter) closeSet() {
	if e.setOff >= 0 {
		binary.BigEndian.PutUint16(e.msg[e.setOff+2:], uint16(len(e.msg)-e.setOff))
		e.setOff = -1
	}
}

// Flush sends the current message, if any. On a stream a write error is final (every
// later call returns it); on a datagram socket the message's records are counted as
// lost, the error returned, and the next message tried afresh (a collector that is not
// up yet makes the kernel refuse datagrams for a while).
func (e *Exporter) Flush() error {
	if e.err != nil {
		return e.err
	}
	if !e.open {
		return nil
	}
	e.closeSet()
	d := e.domains[e.domain]
	h := e.msg[:ipfixHeader]
	binary.BigEndian.PutUint16(h[0:], 10)
	binary.BigEndian.PutUint16(h[2:], uint16(len(e.msg)))
	binary.BigEndian.PutUint32(h[4:], uint32(e.opts.Now().Unix()))
	binary.BigEndian.PutUint32(h[8:], d.seq)
	binary.BigEndian.PutUint32(h[12:], e.domain)
	if e.opts.Pace > 0 && !e.stream {
		now := time.Now()
		if wait := e.nextAt.Sub(now); wait > 0 {
			time.Sleep(wait)
			now = e.nextAt
		} else if wait > -paceCatchUp { // (not -wait: Sub saturates at the zero time)
			// Sleeping overshoots by hundreds of µs, more than a 100 µs pace: keep to the
			// schedule by sending sooner after a late wake-up (without this, 10000
			// messages/s came out as 1,700), but never in a burst longer than paceCatchUp.
			now = e.nextAt
		}
		e.nextAt = now.Add(e.opts.Pace)
	}
	if _, err := e.conn.Write(e.msg); err != nil {
		err = fmt.Errorf("ipfix export to %s: %w", e.conn.RemoteAddr(), err)
		if e.stream {
			e.err = err
			return err
		}
		e.open = false
		e.stats.Lost += uint64(e.recs)
		if d.msgsSinceTpl == 0 {
			d.tmplSent = false // the templates may not have arrived: send them again
		}
		return err
	}
	d.seq += e.recs
	d.msgsSinceTpl++
	e.stats.Records += uint64(e.recs)
	e.stats.Messages++
	e.stats.Bytes += uint64(len(e.msg))
	e.open = false
	return nil
}

// endReason maps a record's cause to IPFIX flowEndReason.
func endReason(r *record.Record) byte {
	switch r.Cause {
	case record.CauseClose:
		if r.Flags&record.FlagTimeout != 0 || r.TCPState&record.TCPTimedOut != 0 {
			return endIdle
		}
		return endOfFlow
	case record.CauseStop, record.CauseError:
		return endForced
	case record.CauseEvicted:
		return endResource
	}
	return endActive // start and status records: the flow goes on
}

func ntpAppend(b []byte, ns int64) []byte {
	sec := ns / 1e9
	frac := ns % 1e9
	b = binary.BigEndian.AppendUint32(b, uint32(sec+ntpEpochOffset))
	// Round up so that converting back (truncating) gives the same nanosecond.
	return binary.BigEndian.AppendUint32(b, uint32((uint64(frac)<<32+1e9-1)/1e9))
}

// appendRecord appends r as a data record of the IPv4 or IPv6 template, in the order
// templateFields gives.
func appendRecord(b []byte, r *record.Record, v6, nanos bool) []byte {
	if nanos {
		b = ntpAppend(b, r.StartTime)
		b = ntpAppend(b, r.LastTime)
	} else {
		b = binary.BigEndian.AppendUint64(b, uint64(r.StartTime/1e6))
		b = binary.BigEndian.AppendUint64(b, uint64(r.LastTime/1e6))
	}
	if v6 {
		b = append(b, r.SrcAddr[:]...)
		b = append(b, r.DstAddr[:]...)
	} else {
		b = append(b, r.SrcAddr[:4]...)
		b = append(b, r.DstAddr[:4]...)
	}
	sport, dport, icmp := r.SrcPort, r.DstPort, uint16(0)
	if r.IsICMP() {
		sport, dport, icmp = 0, 0, r.SrcPort<<8|r.DstPort&0xff
	}
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = append(b, r.Proto)
	b = binary.BigEndian.AppendUint16(b, icmp)
	b = binary.BigEndian.AppendUint64(b, r.Src.Bytes)
	b = binary.BigEndian.AppendUint64(b, r.Src.Pkts)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Src.TCPFlags))
	b = append(b, r.Src.ToS, r.Src.TTL)
	b = binary.BigEndian.AppendUint16(b, r.Src.VLAN)
	b = append(b, r.Src.MAC[:]...)
	b = append(b, r.Dst.MAC[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Dst.Bytes)
	b = binary.BigEndian.AppendUint64(b, r.Dst.Pkts)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Dst.TCPFlags))
	b = append(b, r.Dst.ToS, r.Dst.TTL)
	b = binary.BigEndian.AppendUint16(b, r.Dst.VLAN)
	dir := byte(biflowArbitrary)
	if r.Proto == 6 && r.TCPState&record.TCPSawSyn != 0 {
		dir = biflowInitiator
	}
	return append(b, dir, endReason(r))
}
