package sflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"panoptes/record"
	"panoptes/sensor/decode"
)

// Options configures a Decoder.
type Options struct {
	// SrcID, when not zero, is the srcid of every record; otherwise it is derived from
	// the agent address (see the package documentation).
	SrcID uint32
	// Now stamps the records (nil: time.Now): sFlow samples carry no time of their own.
	Now func() time.Time
}

// Stats counts what a Decoder has seen.
type Stats struct {
	Datagrams      uint64 // datagrams read without error
	Malformed      uint64 // datagrams cut short or malformed (each returned an error)
	FlowSamples    uint64 // flow samples, compact and expanded
	CounterSamples uint64 // counter samples, compact and expanded: counted, not decoded
	UnknownSamples uint64 // samples of other formats or enterprises: skipped
	SkippedRecords uint64 // flow records of formats not decoded, or whose header protocol is not: skipped
	NoFlow         uint64 // flow samples without a record that says which flow (no record made)
	BadRecords     uint64 // flow records too short for their format (the sample is still used if it can be)
	Records        uint64 // flow records emitted
	// LostDatagrams is the sum of the gaps in each agent's (and sub-agent's) datagram
	// sequence numbers: datagrams lost on the way, or by the agent. A sequence that
	// goes back (the agent restarted, or a datagram came late) starts over uncounted.
	LostDatagrams uint64
}

// Add adds o's counters to s.
func (s *Stats) Add(o Stats) {
	s.Datagrams += o.Datagrams
	s.Malformed += o.Malformed
	s.FlowSamples += o.FlowSamples
	s.CounterSamples += o.CounterSamples
	s.UnknownSamples += o.UnknownSamples
	s.SkippedRecords += o.SkippedRecords
	s.NoFlow += o.NoFlow
	s.BadRecords += o.BadRecords
	s.Records += o.Records
	s.LostDatagrams += o.LostDatagrams
}

// DecodeError is a malformed or truncated datagram: it names the sender and the byte
// offset where reading stopped. It wraps ErrMalformed.
type DecodeError struct {
	Exporter netip.AddrPort
	Offset   int
	Reason   string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("sflow from %s: byte %d: %s", e.Exporter, e.Offset, e.Reason)
}

func (e *DecodeError) Unwrap() error { return ErrMalformed }

// Decoder turns sFlow v5 datagrams into records. It is safe for use by several
// goroutines; between datagrams it keeps its counters and each agent's last datagram
// sequence number (for LostDatagrams), at most maxAgents of them.
type Decoder struct {
	opts Options

	mu    sync.Mutex
	stats Stats
	last  map[agentKey]uint32 // the last datagram sequence number of each agent
	dg    Datagram
	pkt   decode.Packet
	r     record.Record
}

// NewDecoder returns a decoder.
func NewDecoder(opts Options) *Decoder {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Decoder{opts: opts}
}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// IsSFlow reports whether msg looks like an sFlow v5 datagram: its first 32-bit word is
// 5. NetFlow and IPFIX messages start with a 16-bit version (5, 9, 10), never 0, so one
// socket takes both.
func IsSFlow(msg []byte) bool {
	return len(msg) >= 4 && binary.BigEndian.Uint32(msg) == 5
}

// Decode reads one datagram from exporter and calls emit for each flow record made
// from its flow samples (emit must not keep the record; it is reused). A malformed
// datagram gives a *DecodeError; nothing is emitted from it.
func (d *Decoder) Decode(msg []byte, exporter netip.AddrPort, emit func(*record.Record)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := Unmarshal(msg, &d.dg); err != nil {
		d.stats.Malformed++
		var we *WireError
		if errors.As(err, &we) {
			return &DecodeError{Exporter: exporter, Offset: we.Offset, Reason: we.Reason}
		}
		return &DecodeError{Exporter: exporter, Reason: err.Error()}
	}
	d.stats.Datagrams++
	d.sequence(agentKey{d.dg.Agent, d.dg.SubAgent, exporter.Addr()}, d.dg.Seq)
	now := d.opts.Now().UnixNano()
	srcid := d.srcID(d.dg.Agent, exporter)
	for i := range d.dg.Samples {
		s := &d.dg.Samples[i]
		switch {
		case s.IsFlow():
			d.stats.FlowSamples++
			if d.flowRecord(s, srcid, now) {
				d.stats.Records++
				emit(&d.r)
			} else {
				d.stats.NoFlow++
			}
		case s.IsCounter():
			d.stats.CounterSamples++
		default:
			d.stats.UnknownSamples++
		}
	}
	return nil
}

// agentKey names a sequence of datagrams: the agent and sub-agent, and the sender
// (an agent of unknown address is told apart by it).
type agentKey struct {
	agent    netip.Addr
	subAgent uint32
	sender   netip.Addr
}

// maxAgents bounds the sequence numbers kept: beyond it they are forgotten and
// counting starts over (a gap of the first datagrams after is not seen).
const maxAgents = 1 << 16

// sequence counts the datagrams missing before seq in k's sequence.
func (d *Decoder) sequence(k agentKey, seq uint32) {
	last, ok := d.last[k]
	if ok && seq > last {
		d.stats.LostDatagrams += uint64(seq - last - 1)
	}
	if d.last == nil || !ok && len(d.last) >= maxAgents {
		d.last = make(map[agentKey]uint32)
	}
	d.last[k] = seq
}

// srcID is the srcid of records from an agent: its IPv4 address as a big-endian
// uint32, or the FNV-1a hash of its IPv6 address, as the NetFlow/IPFIX decoder derives
// it from the exporter's; the datagram's sender when the agent address is unknown.
func (d *Decoder) srcID(agent netip.Addr, exporter netip.AddrPort) uint32 {
	if d.opts.SrcID != 0 {
		return d.opts.SrcID
	}
	a := agent.Unmap()
	if !a.IsValid() {
		a = exporter.Addr().Unmap()
	}
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	h := uint32(2166136261)
	for _, c := range a.As16() {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// flowRecord fills d.r from a flow sample: from its raw packet header when it has one,
// else from its sampled IPv4/IPv6 record; Ethernet and extended switch records add what
// the header does not say. Counts are scaled by the sampling rate. It reports whether
// the sample said which flow it was.
func (d *Decoder) flowRecord(s *Sample, srcid uint32, now int64) bool {
	rate := max(s.Rate, 1) // 0 is not a rate; the packet was still seen once
	r := &d.r
	*r = record.Record{Kind: record.KindFlow, Cause: record.CauseStatus, Clock: record.ClockUser,
		Flags: record.FlagFlowExport, SrcID: srcid, StartTime: now, LastTime: now, Trans: 1, Sampling: rate}
	var have, haveHeader, haveVLAN bool
	var frameLen uint32
	for _, rec := range s.Records {
		if rec.Enterprise != 0 {
			d.stats.SkippedRecords++
			continue
		}
		switch rec.Format {
		case RecordRawHeader:
			if haveHeader {
				d.stats.SkippedRecords++
				continue
			}
			ok, known := d.fromHeader(rec.Data, &frameLen)
			switch {
			case !known:
				d.stats.SkippedRecords++
			case !ok:
				d.stats.BadRecords++
			default:
				have, haveHeader = true, true
				haveVLAN = r.Src.VLAN != 0
			}
		case RecordIPv4, RecordIPv6:
			if haveHeader {
				continue // the header said it all
			}
			if !fromSampledIP(rec.Format, rec.Data, r, &frameLen) {
				d.stats.BadRecords++
				continue
			}
			have = true
		case RecordEthernet:
			if len(rec.Data) < 24 {
				d.stats.BadRecords++
				continue
			}
			if !haveHeader {
				copy(r.Src.MAC[:], rec.Data[4:10])
				copy(r.Dst.MAC[:], rec.Data[12:18])
				r.Flags |= record.FlagEthernet
				if r.EtherType == 0 {
					r.EtherType = uint16(binary.BigEndian.Uint32(rec.Data[20:]))
				}
			}
		case RecordExtendedSwitch:
			if len(rec.Data) < 16 {
				d.stats.BadRecords++
				continue
			}
			if !haveVLAN {
				if v := binary.BigEndian.Uint32(rec.Data) & 0xfff; v != 0 {
					r.Src.VLAN, r.Dst.VLAN = uint16(v), uint16(binary.BigEndian.Uint32(rec.Data[8:])&0xfff)
					haveVLAN = true
				}
			}
		default:
			d.stats.SkippedRecords++
		}
	}
	if !have {
		return false
	}
	r.Src.Pkts = uint64(rate)
	r.Src.Bytes = uint64(frameLen) * uint64(rate)
	r.Src.AppBytes *= uint64(rate)
	r.Src.MinSize, r.Src.MaxSize = frameLen, frameLen
	return true
}

// fromHeader fills d.r from a sampled_header record with the sensor's own packet
// decoder, so that a sampled packet gives the same flow key as a captured one. known is
// false for a header protocol it does not read; ok is false for a record too short.
func (d *Decoder) fromHeader(b []byte, frameLen *uint32) (ok, known bool) {
	if len(b) < 16 {
		return false, true
	}
	proto := binary.BigEndian.Uint32(b)
	flen, stripped := binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
	hlen := binary.BigEndian.Uint32(b[12:])
	if uint64(hlen) > uint64(len(b)-16) {
		return false, true
	}
	var lt decode.LinkType
	switch proto {
	case HeaderEthernet:
		lt = decode.LinkEthernet
	case HeaderPPP:
		lt = decode.LinkPPP
	case HeaderIPv4:
		lt = decode.LinkIPv4
	case HeaderIPv6:
		lt = decode.LinkIPv6
	default:
		return false, false
	}
	hdr := b[16 : 16+hlen]
	p := &d.pkt
	// frame_length counts what the agent removed before taking the header (the FCS,
	// usually: 4 bytes) and the header does not: the frame as a capture sees it is the
	// difference, the bytes Argus counts.
	wire := flen
	if stripped < flen {
		wire = flen - stripped
	}
	p.WireLen, p.CapLen = wire, uint32(len(hdr))
	err := decode.Decode(lt, hdr, p)
	if err != nil && !errors.Is(err, decode.ErrTruncated) && !errors.Is(err, decode.ErrMalformed) {
		return false, false
	}
	if p.Net == decode.NetNone && !p.HasMAC {
		return false, true // not even the link layer: no flow to name
	}
	if !addrsKnown(p, hdr) {
		return false, true // an IP header cut before its addresses: no flow to name
	}
	r := &d.r
	if p.LinkHdrLen > 0 && uint32(p.LinkHdrLen) < wire {
		wire -= uint32(p.LinkHdrLen) // as the sensor counts bytes on such links
	}
	*frameLen = wire
	r.Flags |= encapFlags(p)
	if p.Fragment {
		r.Flags |= record.FlagFragments
	}
	r.EtherType = p.EtherType
	if p.HasMAC {
		r.Src.MAC, r.Dst.MAC = p.SrcMAC, p.DstMAC
	}
	r.Src.VLAN, r.Src.MPLS = p.VLAN, p.MPLS
	switch p.Net {
	case decode.NetIPv4, decode.NetIPv6:
		r.Family = p.Net
		r.SrcAddr, r.DstAddr = p.SrcAddr, p.DstAddr
		r.Proto = p.Proto
		r.Src.TTL, r.Src.ToS = p.TTL, p.ToS
		r.SrcPort, r.DstPort = p.SrcPort, p.DstPort
		r.ICMPID, r.ICMPSeq = p.ICMPID, p.ICMPSeq
		r.Src.AppBytes = uint64(p.AppLen)
		if !p.L4 && !p.Fragment && (p.Proto == decode.ProtoTCP || p.Proto == decode.ProtoUDP) {
			r.Flags |= record.FlagTruncated
		}
		if p.Proto == decode.ProtoTCP && p.L4 {
			r.Src.TCPFlags = p.TCPFlags
			r.Src.Win = uint32(p.TCPWin)
			r.TCPState = tcpState(p.TCPFlags)
		}
	case decode.NetARP:
		r.SrcAddr, r.DstAddr = p.SrcAddr, p.DstAddr
	}
	return true, true
}

// addrsKnown reports whether Decode read the IP addresses of an IPv4 or IPv6 packet (it
// marks the network layer before it checks that the header is there).
func addrsKnown(p *decode.Packet, hdr []byte) bool {
	switch p.Net {
	case decode.NetIPv4:
		return p.IPHdrLen != 0 // set with the addresses, after the header's checks
	case decode.NetIPv6:
		l3 := int(p.L3Offset)
		return len(hdr)-l3 >= 40 && hdr[l3]>>4 == 6
	}
	return true
}

// tcpState is what one sampled segment says of its connection, from its sender's side.
func tcpState(flags uint8) uint16 {
	const fin, syn, rst, ack = 0x01, 0x02, 0x04, 0x10
	var st uint16
	if flags&syn != 0 && flags&ack == 0 {
		st |= record.TCPSawSyn
	}
	if flags&fin != 0 {
		st |= record.TCPSrcFin
	}
	if flags&rst != 0 {
		st |= record.TCPReset
	}
	return st
}

// encapToFlag maps the packet decoder's encapsulations to the record's flag bits, as
// the sensor does.
var encapToFlag = [...]struct {
	enc  uint16
	flag uint32
}{
	{decode.EncapEthernet, record.FlagEthernet}, {decode.EncapVLAN, record.FlagVLAN},
	{decode.EncapMPLS, record.FlagMPLS}, {decode.EncapPPP, record.FlagPPP},
	{decode.EncapLLC, record.FlagLLC}, {decode.EncapGRE, record.FlagGRE},
}

func encapFlags(p *decode.Packet) uint32 {
	var f uint32
	for _, m := range encapToFlag {
		if p.Encaps&m.enc != 0 {
			f |= m.flag
		}
	}
	return f
}

// fromSampledIP fills r from a sampled_ipv4 or sampled_ipv6 record: the 5-tuple, TCP
// flags and ToS; its length is the IP packet's (no link layer is known).
func fromSampledIP(format uint32, b []byte, r *record.Record, frameLen *uint32) bool {
	alen, fam := 4, uint8(4)
	if format == RecordIPv6 {
		alen, fam = 16, 6
	}
	if len(b) < 8+2*alen+16 {
		return false
	}
	*frameLen = binary.BigEndian.Uint32(b)
	r.Family = fam
	r.Proto = uint8(binary.BigEndian.Uint32(b[4:]))
	copy(r.SrcAddr[:], b[8:8+alen])
	copy(r.DstAddr[:], b[8+alen:8+2*alen])
	o := 8 + 2*alen
	r.SrcPort = uint16(binary.BigEndian.Uint32(b[o:]))
	r.DstPort = uint16(binary.BigEndian.Uint32(b[o+4:]))
	flags := uint8(binary.BigEndian.Uint32(b[o+8:]))
	r.Src.ToS = uint8(binary.BigEndian.Uint32(b[o+12:]))
	r.EtherType = 0x0800
	if fam == 6 {
		r.EtherType = 0x86dd
	}
	if r.Proto == 6 {
		r.Src.TCPFlags = flags
		r.TCPState = tcpState(flags)
	}
	return true
}
