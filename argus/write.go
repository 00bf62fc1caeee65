package argus

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	"panoptes/record"
)

// The writer's side of the mapping: what each Panoptes record becomes in an Argus
// version-3 stream. The DSRs are laid out as Argus 3.0.8's own sensor writes them
// (argus -w), so that every Argus client that reads argus's files reads ours:
//
//	transport  srcid (an integer id) and the record's sequence number
//	flow       the 5-tuple (IPv4, IPv6; ICMP type/code/id/seq), ARP, or the MAC pair
//	           and EtherType of other non-IP flows
//	time       start and last time, in nanoseconds
//	metric     packets, bytes and application bytes per direction (the narrowest
//	           counters that hold them, as argus picks)
//	net        TCP: state bits, SYN-ACK and ACK-data times, base sequence numbers,
//	           windows, flags, loss (ra's sloss/dloss), payload bytes (TCP flows only)
//	ipattr     TTL and ToS per direction (IP flows)
//	jitter     inter-packet time count, mean and standard deviation per direction
//	psize      smallest and largest frame per direction
//	mac, vlan, mpls, encaps   the link layer, when seen
//	agr        the number of records merged into this one (when more than one)
//	asn, cocode, label        what panoptes label added
//
// Multi-byte values are big-endian (64-bit counters included: ra 3.0.8 reads them so),
// except where argus 3.0.8 itself writes host order (x86: little-endian) because its
// ArgusHtoN leaves them alone: the ICMP echo id and sequence in the flow key and the
// EtherType inside the MAC DSR. A Panoptes management record becomes
// a MAR (see AppendMAR).

// Argus's record causes for the Panoptes ones.
func farCause(r *record.Record) byte {
	switch r.Cause {
	case record.CauseStart:
		return CauseStart
	case record.CauseStatus:
		return CauseStatus
	case record.CauseClose:
		if r.Flags&record.FlagTimeout != 0 {
			return CauseTimeout
		}
		return CauseStop
	case record.CauseError:
		return CauseError
	case record.CauseEvicted:
		return CauseFlush
	}
	return CauseStop
}

// MaxFARLen bounds one written flow record: every fixed-size DSR plus the longest
// label (the label DSR's length is one byte of words).
const MaxFARLen = 512 + MaxDSRLen*4

// AppendFAR appends r (a flow record) as an Argus FAR to b. It allocates nothing when b
// has room for MaxFARLen more bytes.
func AppendFAR(b []byte, r *record.Record) []byte {
	start := len(b)
	b = append(b, TypeFAR|Version3, farCause(r), 0, 0)

	// Transport: srcid as an integer, and the sequence number.
	b = append(b, DSRTransport, TransSrcID|TransSeq, TypeInt, 3)
	b = binary.BigEndian.AppendUint32(b, r.SrcID)
	b = binary.BigEndian.AppendUint32(b, r.Seq)

	b = appendFlow(b, r)

	// Time: start and last, absolute, in nanoseconds (the older layout without
	// per-direction times: Panoptes keeps one span per record).
	b = append(b, DSRTime, TimeAbsRange, TimeUTCNano, 5)
	b = appendTime(b, r.StartTime)
	b = appendTime(b, r.LastTime)

	b = appendMetric(b, &r.Src, &r.Dst)

	ip := r.Family == 4 || r.Family == 6
	if ip && r.Proto == 6 {
		b = appendTCP(b, r)
	}
	if ip && (r.Src.Pkts > 0 || r.Dst.Pkts > 0) {
		b = appendIPAttr(b, r)
	}
	if r.Src.IntN > 0 || r.Dst.IntN > 0 {
		b = appendJitter(b, r)
	}
	if r.Src.Pkts > 0 || r.Dst.Pkts > 0 {
		b = appendPSize(b, r)
	}
	if r.Src.MAC != ([6]byte{}) || r.Dst.MAC != ([6]byte{}) {
		b = append(b, DSRMAC, 0, 0, MACLen/4)
		b = append(b, r.Dst.MAC[:]...)
		b = append(b, r.Src.MAC[:]...)
		et := r.EtherType
		if ip && et == 0 {
			et = 0x0800
			if r.Family == 6 {
				et = 0x86dd
			}
		}
		b = binary.LittleEndian.AppendUint16(b, et) // host order, as argus leaves it
		b = append(b, 0, 0)
	}
	if r.Flags&record.FlagVLAN != 0 {
		var q byte
		if r.Src.Pkts > 0 {
			q |= QualSrc
		}
		if r.Dst.Pkts > 0 {
			q |= QualDst
		}
		b = append(b, DSRVLAN, 0, q, VLANLen/4)
		b = binary.BigEndian.AppendUint16(b, r.Src.VLAN)
		b = binary.BigEndian.AppendUint16(b, r.Dst.VLAN)
	}
	if r.Flags&record.FlagMPLS != 0 {
		b = appendMPLS(b, r)
	}
	if enc := encaps(r.Flags); enc != 0 {
		b = append(b, DSREncaps, 0, 0, 3)
		b = binary.BigEndian.AppendUint32(b, enc)
		if r.Dst.Pkts > 0 {
			b = binary.BigEndian.AppendUint32(b, enc)
		} else {
			b = binary.BigEndian.AppendUint32(b, 0)
		}
	}
	if r.Trans > 1 {
		b = appendAgr(b, r)
	}
	if r.SrcAS != 0 || r.DstAS != 0 {
		b = append(b, DSRASN, 0, 0, 4) // src, dst, and an intermediate node's AS (none)
		b = binary.BigEndian.AppendUint32(b, r.SrcAS)
		b = binary.BigEndian.AppendUint32(b, r.DstAS)
		b = binary.BigEndian.AppendUint32(b, 0)
	}
	if r.SrcCountry != ([2]byte{}) || r.DstCountry != ([2]byte{}) {
		b = append(b, DSRCoCode, 0, 0, CoCodeLen/4)
		b = append(b, r.SrcCountry[:]...)
		b = append(b, r.DstCountry[:]...)
	}
	if r.Label != "" {
		b = appendLabel(b, r.Label)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16((len(b)-start)/4))
	return b
}

func appendTime(b []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 { // before 1970: the fraction is still counted forward
		sec, frac = sec-1, frac+1e9
	}
	b = binary.BigEndian.AppendUint32(b, uint32(sec))
	return binary.BigEndian.AppendUint32(b, uint32(frac))
}

// appendFlow appends the flow key DSR.
func appendFlow(b []byte, r *record.Record) []byte {
	switch r.Family {
	case 4:
		b = append(b, DSRFlow, FlowClassic5Tuple, TypeIPv4, FlowIPv4Len/4)
		b = append(b, r.SrcAddr[:4]...)
		b = append(b, r.DstAddr[:4]...)
		b = append(b, r.Proto, 0)
		if r.Proto == 1 {
			// ICMP: type, code, echo id, and the echo sequence in ip_id; argus
			// leaves id and sequence in host order (little-endian) on disk.
			b = append(b, byte(r.SrcPort), byte(r.DstPort))
			b = binary.LittleEndian.AppendUint16(b, r.ICMPID)
			return binary.LittleEndian.AppendUint16(b, r.ICMPSeq)
		}
		b = binary.BigEndian.AppendUint16(b, r.SrcPort)
		b = binary.BigEndian.AppendUint16(b, r.DstPort)
		return append(b, 0, 0) // masks: none (32)
	case 6:
		b = append(b, DSRFlow, FlowClassic5Tuple, TypeIPv6, FlowIPv6Len/4)
		b = append(b, r.SrcAddr[:]...)
		b = append(b, r.DstAddr[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(r.Proto)<<24) // proto, flow label 0
		if r.Proto == 58 {                                        // ICMPv6: type, code, echo id (host order, as for ICMP)
			b = append(b, byte(r.SrcPort), byte(r.DstPort))
			return binary.LittleEndian.AppendUint16(b, r.ICMPID)
		}
		b = binary.BigEndian.AppendUint16(b, r.SrcPort)
		return binary.BigEndian.AppendUint16(b, r.DstPort)
	}
	if r.EtherType == 0x0806 {
		// hrd, pro, hln, pln, op, spa, tpa, the sender's hardware address; 7 words.
		b = append(b, DSRFlow, FlowARP, TypeARP, 7)
		b = append(b, 0, 1, 0x08, 0x00, 6, 4, 0, 1)
		b = append(b, r.SrcAddr[:4]...)
		b = append(b, r.DstAddr[:4]...)
		b = append(b, r.Src.MAC[:]...)
		return append(b, 0, 0)
	}
	b = append(b, DSRFlow, FlowClassic5Tuple, TypeEther, 5)
	b = append(b, r.Dst.MAC[:]...)
	b = append(b, r.Src.MAC[:]...)
	b = binary.BigEndian.AppendUint16(b, r.EtherType)
	return append(b, 0, 0)
}

// appendMetric appends packets, bytes and application bytes of both directions in the
// narrowest counters that hold them all (argus's choice too, so files stay small).
func appendMetric(b []byte, s, d *record.Side) []byte {
	m := max(s.Pkts, s.Bytes, s.AppBytes, d.Pkts, d.Bytes, d.AppBytes)
	switch {
	case m <= math.MaxUint16:
		b = append(b, DSRMeter, MeterPktsBytesApp, SrcDstShort, 4)
		for _, v := range [...]uint64{s.Pkts, s.Bytes, s.AppBytes, d.Pkts, d.Bytes, d.AppBytes} {
			b = binary.BigEndian.AppendUint16(b, uint16(v))
		}
	case m <= math.MaxUint32:
		b = append(b, DSRMeter, MeterPktsBytesApp, SrcDstInt, 7)
		for _, v := range [...]uint64{s.Pkts, s.Bytes, s.AppBytes, d.Pkts, d.Bytes, d.AppBytes} {
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		}
	default:
		b = append(b, DSRMeter, MeterPktsBytesApp, SrcDstLongLong, 13)
		for _, v := range [...]uint64{s.Pkts, s.Bytes, s.AppBytes, d.Pkts, d.Bytes, d.AppBytes} {
			b = binary.BigEndian.AppendUint64(b, v)
		}
	}
	return b
}

// Argus's TCP status bits for Panoptes's.
func tcpStatus(r *record.Record) uint32 {
	st := r.TCPState
	var a uint32
	if st&record.TCPSawSyn != 0 {
		a |= TCPSawSyn
	}
	if st&record.TCPSawSynAck != 0 {
		a |= TCPSawSynSent
	}
	if st&record.TCPEstablished != 0 || st&(record.TCPSawSyn|record.TCPSawSynAck) == 0 {
		// A flow joined midstream is one Panoptes (and argus) takes as connected.
		a |= TCPConEstablished
	}
	if st&(record.TCPSrcFin|record.TCPDstFin) != 0 {
		a |= TCPFin
	}
	if st&record.TCPSrcFin != 0 && st&record.TCPDstFin != 0 {
		a |= TCPFinAck
	}
	if st&record.TCPClosed != 0 {
		a |= TCPNormalClose
	}
	if st&record.TCPReset != 0 {
		a |= TCPSrcReset
	}
	if st&record.TCPSrcWinShut != 0 {
		a |= TCPSrcWindowShut
	}
	if st&record.TCPDstWinShut != 0 {
		a |= TCPDstWindowShut
	}
	if r.Src.Loss > 0 {
		a |= TCPSrcPktsRetrans
	}
	if r.Dst.Loss > 0 {
		a |= TCPDstPktsRetrans
	}
	if r.Src.OutOfOrder > 0 {
		a |= TCPSrcOutOfOrder
	}
	if r.Dst.OutOfOrder > 0 {
		a |= TCPDstOutOfOrder
	}
	return a
}

// tcpMachineState returns the BSD TCP state number argus keeps in the object's state
// field (ra reads a side's loss only when it is set) for the events Panoptes saw.
func tcpMachineState(st uint16) uint32 {
	switch {
	case st&(record.TCPClosed|record.TCPReset) != 0:
		return 10 // TIME_WAIT: closed
	case st&record.TCPSrcFin != 0 && st&record.TCPDstFin != 0:
		return 9 // FIN_WAIT_2
	case st&(record.TCPSrcFin|record.TCPDstFin) != 0:
		return 6 // FIN_WAIT_1
	case st&record.TCPEstablished != 0 || st&(record.TCPSawSyn|record.TCPSawSynAck) == 0:
		return 4 // ESTABLISHED (or joined midstream)
	case st&record.TCPSawSynAck != 0:
		return 3 // SYN_RECEIVED
	}
	return 2 // SYN_SENT
}

// appendTCP appends the TCP performance object (struct ArgusTCPObject).
func appendTCP(b []byte, r *record.Record) []byte {
	b = append(b, DSRNetwork, NetTCPPerf, 0, TCPObjectLen/4)
	b = binary.BigEndian.AppendUint32(b, tcpStatus(r))
	b = binary.BigEndian.AppendUint32(b, tcpMachineState(r.TCPState))
	var opt uint32
	if r.TCPState&record.TCPSrcEcn != 0 {
		opt |= TCPOptSrcECN
	}
	if r.TCPState&record.TCPDstEcn != 0 {
		opt |= TCPOptDstECN
	}
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, usecs(r.SynAck))
	b = binary.BigEndian.AppendUint32(b, usecs(r.AckDat))
	b = appendTCPSide(b, &r.Src, r.LastTime, TCPSrcPktsRetrans)
	return appendTCPSide(b, &r.Dst, r.LastTime, TCPDstPktsRetrans)
}

func appendTCPSide(b []byte, s *record.Side, last int64, retransBit uint32) []byte {
	if s.Pkts > 0 {
		b = appendTime(b, last)
	} else {
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	// ra's loss (sloss, dloss) is this side's retrans count, and it reads it only
	// with the side's retransmission bit set, as argus sets it. What ra calls loss is
	// Panoptes's Loss (segments missed before the sensor, seen when resent).
	var st uint32
	if s.Loss > 0 {
		st |= retransBit
	}
	b = binary.BigEndian.AppendUint32(b, st)
	b = binary.BigEndian.AppendUint32(b, s.BaseSeq)
	b = binary.BigEndian.AppendUint32(b, 0) // seq
	b = binary.BigEndian.AppendUint32(b, 0) // ack
	b = binary.BigEndian.AppendUint32(b, 0) // winnum
	b = binary.BigEndian.AppendUint32(b, sat32(s.AppBytes))
	b = binary.BigEndian.AppendUint32(b, sat32(s.Loss))
	b = binary.BigEndian.AppendUint32(b, 0) // ackbytes
	b = binary.BigEndian.AppendUint32(b, 0) // winbytes
	b = binary.BigEndian.AppendUint16(b, uint16(min(s.Win, math.MaxUint16)))
	return append(b, s.TCPFlags, 0)
}

func sat32(v uint64) uint32 { return uint32(min(v, math.MaxUint32)) }

// usecs converts ns to whole microseconds, saturating (a negative time is 0).
func usecs(ns int64) uint32 {
	if ns <= 0 {
		return 0
	}
	return sat32(uint64(ns / 1000))
}

func appendIPAttr(b []byte, r *record.Record) []byte {
	var q byte
	n := byte(1)
	if r.Src.Pkts > 0 {
		q |= IPAttrSrc
		n++
	}
	if r.Dst.Pkts > 0 {
		q |= IPAttrDst
		n++
	}
	if r.Flags&(record.FlagFragments|record.FlagFragPartial) != 0 {
		// ra's 'F' flag; the sides are not told apart by Panoptes.
		if r.Src.Pkts > 0 {
			q |= IPAttrSrcFragments
		} else {
			q |= IPAttrDstFragments
		}
	}
	b = append(b, DSRIPAttr, 0, q, n)
	if r.Src.Pkts > 0 {
		b = append(b, r.Src.TTL, r.Src.ToS, 0, 0)
	}
	if r.Dst.Pkts > 0 {
		b = append(b, r.Dst.TTL, r.Dst.ToS, 0, 0)
	}
	return b
}

// appendJitter appends the inter-packet statistics of each direction as Argus's
// "active" statistics (n, min, mean, stdev, max in microseconds, XDR floats).
// Panoptes keeps no minimum or maximum: both are written as 0.
func appendJitter(b []byte, r *record.Record) []byte {
	var q byte
	n := byte(1)
	if r.Src.IntN > 0 {
		q |= JitterSrcActive
		n += StatObjectLen / 4
	}
	if r.Dst.IntN > 0 {
		q |= JitterDstActive
		n += StatObjectLen / 4
	}
	b = append(b, DSRJitter, 0, q, n)
	for _, s := range [...]*record.Side{&r.Src, &r.Dst} {
		if s.IntN == 0 {
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(min(s.IntN, math.MaxInt32)))
		b = appendF32(b, 0)
		b = appendF32(b, s.IntMean/1e3)
		b = appendF32(b, s.Jitter()*1e3)
		b = appendF32(b, 0)
	}
	return b
}

func appendF32(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint32(b, math.Float32bits(float32(v)))
}

func appendPSize(b []byte, r *record.Record) []byte {
	var q byte
	switch {
	case r.Src.Pkts > 0 && r.Dst.Pkts > 0:
		q = SrcDstShort
	case r.Src.Pkts > 0:
		q = SrcShort
	default:
		q = DstShort
	}
	wide := max(r.Src.MaxSize, r.Dst.MaxSize) > math.MaxUint16
	if wide {
		q++ // the _INT form follows each _SHORT one
	}
	words := byte(1)
	for _, s := range [...]*record.Side{&r.Src, &r.Dst} {
		if s.Pkts == 0 {
			continue
		}
		words++
		if wide {
			words++
		}
	}
	b = append(b, DSRPSize, 0, q, words)
	for _, s := range [...]*record.Side{&r.Src, &r.Dst} {
		if s.Pkts == 0 {
			continue
		}
		if wide {
			b = binary.BigEndian.AppendUint32(b, s.MinSize)
			b = binary.BigEndian.AppendUint32(b, s.MaxSize)
		} else {
			b = binary.BigEndian.AppendUint16(b, uint16(s.MinSize))
			b = binary.BigEndian.AppendUint16(b, uint16(s.MaxSize))
		}
	}
	return b
}

// appendMPLS appends the top label of each direction that has one, as a label stack
// entry (label in the top 20 bits). The qualifier counts the entries: source in the
// high nibble, destination in the low one.
func appendMPLS(b []byte, r *record.Record) []byte {
	var sub, q byte
	n := byte(1)
	if r.Src.Pkts > 0 {
		sub |= MPLSSrcLabel
		q |= 0x10
		n++
	}
	if r.Dst.Pkts > 0 {
		sub |= MPLSDstLabel
		q |= 0x01
		n++
	}
	b = append(b, DSRMPLS, sub, q, n)
	if r.Src.Pkts > 0 {
		b = binary.BigEndian.AppendUint32(b, r.Src.MPLS<<12)
	}
	if r.Dst.Pkts > 0 {
		b = binary.BigEndian.AppendUint32(b, r.Dst.MPLS<<12)
	}
	return b
}

// encaps returns Argus's encapsulation bits for the record's flags.
func encaps(f uint32) uint32 {
	var e uint32
	if f&record.FlagEthernet != 0 {
		e |= EncapsEther
	}
	if f&record.FlagVLAN != 0 {
		e |= Encaps8021Q
	}
	if f&record.FlagMPLS != 0 {
		e |= EncapsMPLS
	}
	if f&record.FlagPPP != 0 {
		e |= EncapsPPP
	}
	if f&record.FlagSLL != 0 {
		e |= EncapsSLL
	}
	if f&record.FlagLLC != 0 {
		e |= EncapsLLC
	}
	if f&record.FlagGRE != 0 {
		e |= EncapsGRE
	}
	return e
}

// appendAgr appends the aggregation DSR as racluster writes it (subtype 0x04,
// qualifier 0x01, 20 words): how many records were merged into this one; the times
// and the active/idle statistics are left zero, as racluster leaves the times.
func appendAgr(b []byte, r *record.Record) []byte {
	const words = (4 + 4 + 16 + 2*(StatObjectLen+StatFDistLen)) / 4
	b = append(b, DSRAgr, 0x04, 0x01, words)
	b = binary.BigEndian.AppendUint32(b, r.Trans)
	return append(b, make([]byte, 16+2*(StatObjectLen+StatFDistLen))...)
}

// appendLabel appends the label text, NUL-terminated and padded to a word, cut to
// what a DSR's one-byte word count can hold.
func appendLabel(b []byte, l string) []byte {
	const maxText = (MaxDSRLen-1)*4 - 1
	if len(l) > maxText {
		l = l[:maxText]
	}
	words := 1 + (len(l)+1+3)/4
	b = append(b, DSRLabel, LabelSvc, 0, byte(words))
	b = append(b, l...)
	for pad := (words-1)*4 - len(l); pad > 0; pad-- {
		b = append(b, 0)
	}
	return b
}

// AppendMAR appends a management record. With r nil it is a stream's first MAR: the
// version-3 cookie in argusid, a record_len of -1, and now as both times, as argus
// writes when it starts a file. Otherwise r (a Panoptes management record) supplies
// the times (StartTime: when its sensor started; LastTime: when the record was made),
// the source id, and the counters Argus has places for.
func AppendMAR(b []byte, r *record.Record, now time.Time) []byte {
	start := len(b)
	b = append(b, make([]byte, MARLen)...)
	m := b[start:]
	m[0] = TypeMAR | Version3
	m[1] = CauseStart
	binary.BigEndian.PutUint16(m[2:], MARLen/4)
	m[MAROffMajor], m[MAROffMinor] = 3, 0
	be := binary.BigEndian
	if r == nil {
		be.PutUint32(m[MAROffArgusID:], CookieV3)
		t := now.UnixNano()
		putTime(m[MAROffStartSec:], t)
		putTime(m[MAROffNowSec:], t)
		be.PutUint32(m[MAROffRecordLen:], math.MaxUint32) // -1
		return b
	}
	switch r.Cause {
	case record.CauseStatus:
		m[1] = CauseStatus
	case record.CauseStop:
		m[1] = CauseStop
	case record.CauseError:
		m[1] = CauseError
	}
	be.PutUint32(m[MAROffStatus:], IDIsInt)
	be.PutUint32(m[MAROffArgusID:], r.SrcID)
	be.PutUint32(m[MAROffNextSeq:], r.Seq)
	putTime(m[MAROffStartSec:], r.StartTime)
	putTime(m[MAROffNowSec:], r.LastTime)
	be.PutUint16(m[MAROffReportIntvl:], 0)
	if mm := r.Man; mm != nil {
		be.PutUint64(m[MAROffPktsRcvd:], mm.PktsSeen)
		be.PutUint64(m[MAROffBytesRcvd:], mm.BytesSeen)
		be.PutUint32(m[MAROffRecords:], sat32(mm.RecordsWritten))
		be.PutUint32(m[MAROffFlows:], sat32(mm.FlowsActive))
		be.PutUint32(m[MAROffDropped:], sat32(mm.Drops+mm.NICDrops))
	}
	be.PutUint32(m[MAROffThisID:], r.SrcID)
	be.PutUint32(m[MAROffRecordLen:], MARLen)
	return b
}

// putTime stores ns as Argus's (seconds, microseconds) pair.
func putTime(b []byte, ns int64) {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	binary.BigEndian.PutUint32(b, uint32(sec))
	binary.BigEndian.PutUint32(b[4:], uint32(frac/1000))
}

// Writer writes an Argus record stream: a leading MAR, then one record per Write.
// It buffers; Flush or Close pushes the records out. It satisfies record.Sink.
type Writer struct {
	w   *bufio.Writer
	c   io.Closer
	buf []byte
	n   uint64
	err error
}

// NewWriter writes the stream's first MAR (stamped now) to w and returns a Writer for
// the records that follow. If w is an io.Closer, Close closes it.
func NewWriter(w io.Writer, now time.Time) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	wr := &Writer{w: bw, buf: make([]byte, 0, MaxFARLen)}
	if c, ok := w.(io.Closer); ok {
		wr.c = c
	}
	if _, err := bw.Write(AppendMAR(nil, nil, now)); err != nil {
		return nil, fmt.Errorf("writing the first argus MAR: %w", err)
	}
	return wr, nil
}

// Write writes r: a flow record as a FAR, a management record as a MAR. It allocates
// nothing.
func (w *Writer) Write(r *record.Record) error {
	if w.err != nil {
		return w.err
	}
	if r.Kind == record.KindMan {
		w.buf = AppendMAR(w.buf[:0], r, time.Time{})
	} else {
		w.buf = AppendFAR(w.buf[:0], r)
	}
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("writing argus record %d: %w", w.n, err)
		return w.err
	}
	w.n++
	return nil
}

// Count returns the number of records written (the first MAR not counted).
func (w *Writer) Count() uint64 { return w.n }

// Flush writes buffered records to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("flushing argus records: %w", err)
	}
	return w.err
}

// Close flushes and closes the underlying writer if it is a Closer.
func (w *Writer) Close() error {
	err := w.Flush()
	if w.c != nil {
		if cerr := w.c.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	return err
}
