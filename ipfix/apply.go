package ipfix

import (
	"encoding/binary"

	"panoptes/record"
)

// decodeState is one data record being decoded: the record, and what its fields said
// that needs the whole record (or the message) to interpret.
type decodeState struct {
	r record.Record

	hasTimes           bool // absolute start or end time seen
	hasStart, hasEnd   bool
	hasUpStart         bool
	hasUpEnd           bool
	upStart, upEnd     uint32 // ms of exporter uptime
	hasSysInit         bool
	sysInit            int64 // ms since the epoch
	hasDelta           bool
	deltaStart         uint32 // µs before the export time
	deltaEnd           uint32
	hasICMP            bool
	icmp               uint16 // type << 8 | code
	endReason          uint8
	biflowDir          uint8
	srcFlags, dstFlags uint16
}

func (s *decodeState) reset(srcid uint32) {
	*s = decodeState{}
	s.r = record.Record{Kind: record.KindFlow, Flags: record.FlagFlowExport, SrcID: srcid, Trans: 1}
}

// uintBE reads an unsigned integer of 1 to 8 bytes (RFC 7011 reduced-size encoding);
// longer values read as their last 8 bytes.
func uintBE(v []byte) uint64 {
	if len(v) > 8 {
		v = v[len(v)-8:]
	}
	var x uint64
	for _, c := range v {
		x = x<<8 | uint64(c)
	}
	return x
}

// ntpTime converts an RFC 7011 dateTimeMicroseconds/Nanoseconds value (NTP format:
// seconds since 1900 and a binary fraction) to ns since the Unix epoch.
func ntpTime(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	sec := int64(binary.BigEndian.Uint32(v)) - ntpEpochOffset
	frac := uint64(binary.BigEndian.Uint32(v[4:]))
	return sec*1e9 + int64(frac*1e9>>32)
}

// apply sets what field f with value v says about the record.
func (s *decodeState) apply(f field, v []byte) {
	r := &s.r
	switch f.pen {
	case 0:
	case penReverse:
		s.applyReverse(f.id, v)
		return
	default:
		return // another enterprise's element: skipped
	}
	switch f.id {
	case ieOctetDelta:
		r.Src.Bytes = uintBE(v)
	case iePacketDelta:
		r.Src.Pkts = uintBE(v)
	case iePostOctetDelta:
		r.Dst.Bytes = uintBE(v)
	case iePostPacketDelta:
		r.Dst.Pkts = uintBE(v)
	case ieProtocol:
		r.Proto = uint8(uintBE(v))
	case ieToS:
		r.Src.ToS = uint8(uintBE(v))
	case ieTCPFlags:
		s.srcFlags = uint16(uintBE(v))
	case ieSrcPort:
		r.SrcPort = uint16(uintBE(v))
	case ieDstPort:
		r.DstPort = uint16(uintBE(v))
	case ieSrcIPv4, ieDstIPv4:
		if len(v) == 4 {
			r.Family = 4
			if f.id == ieSrcIPv4 {
				copy(r.SrcAddr[:4], v)
			} else {
				copy(r.DstAddr[:4], v)
			}
		}
	case ieSrcIPv6, ieDstIPv6:
		if len(v) == 16 {
			r.Family = 6
			if f.id == ieSrcIPv6 {
				copy(r.SrcAddr[:], v)
			} else {
				copy(r.DstAddr[:], v)
			}
		}
	case ieICMPTypeCode4, ieICMPTypeCode6:
		s.hasICMP, s.icmp = true, uint16(uintBE(v))
	case ieICMPType4, ieICMPType6:
		s.hasICMP, s.icmp = true, s.icmp&0xff|uint16(uintBE(v))<<8
	case ieICMPCode4, ieICMPCode6:
		s.hasICMP, s.icmp = true, s.icmp&0xff00|uint16(uintBE(v))&0xff
	case ieIPTTL:
		r.Src.TTL = uint8(uintBE(v))
	case ieMaxTTL, ieMinTTL:
		if r.Src.TTL == 0 {
			r.Src.TTL = uint8(uintBE(v))
		}
	case ieVlanID, ieDot1qVlanID:
		r.Src.VLAN = uint16(uintBE(v)) & 0xfff
	case ieSrcMAC:
		if len(v) == 6 {
			copy(r.Src.MAC[:], v)
		}
	case ieDstMAC:
		if len(v) == 6 {
			copy(r.Dst.MAC[:], v)
		}
	case ieFlowEndReason:
		s.endReason = uint8(uintBE(v))
	case ieBiflowDirection:
		s.biflowDir = uint8(uintBE(v))
	case ieStartSeconds:
		s.setStart(int64(uintBE(v)) * 1e9)
	case ieEndSeconds:
		s.setEnd(int64(uintBE(v)) * 1e9)
	case ieStartMillis:
		s.setStart(int64(uintBE(v)) * 1e6)
	case ieEndMillis:
		s.setEnd(int64(uintBE(v)) * 1e6)
	case ieStartMicros, ieStartNanos:
		s.setStart(ntpTime(v))
	case ieEndMicros, ieEndNanos:
		s.setEnd(ntpTime(v))
	case ieStartSysUpTime:
		s.hasUpStart, s.upStart = true, uint32(uintBE(v))
	case ieEndSysUpTime:
		s.hasUpEnd, s.upEnd = true, uint32(uintBE(v))
	case ieStartDeltaMicros:
		s.hasDelta, s.deltaStart = true, uint32(uintBE(v))
	case ieEndDeltaMicros:
		s.hasDelta, s.deltaEnd = true, uint32(uintBE(v))
	case ieSysInitMillis:
		s.hasSysInit, s.sysInit = true, int64(uintBE(v))
	}
}

// applyReverse sets the destination side from an RFC 5103 reverse element.
func (s *decodeState) applyReverse(id uint16, v []byte) {
	d := &s.r.Dst
	switch id {
	case ieOctetDelta:
		d.Bytes = uintBE(v)
	case iePacketDelta:
		d.Pkts = uintBE(v)
	case ieToS:
		d.ToS = uint8(uintBE(v))
	case ieTCPFlags:
		s.dstFlags = uint16(uintBE(v))
	case ieIPTTL:
		d.TTL = uint8(uintBE(v))
	case ieMaxTTL, ieMinTTL:
		if d.TTL == 0 {
			d.TTL = uint8(uintBE(v))
		}
	case ieVlanID, ieDot1qVlanID:
		d.VLAN = uint16(uintBE(v)) & 0xfff
	case ieSrcMAC:
		// The reverse direction's source is the flow's destination.
		if len(v) == 6 {
			copy(d.MAC[:], v)
		}
	}
}

func (s *decodeState) setStart(ns int64) {
	s.hasTimes, s.hasStart, s.r.StartTime = true, true, ns
	if !s.hasEnd {
		s.r.LastTime = ns
	}
}

func (s *decodeState) setEnd(ns int64) {
	s.hasTimes, s.hasEnd, s.r.LastTime = true, true, ns
	if !s.hasStart {
		s.r.StartTime = ns
	}
}
