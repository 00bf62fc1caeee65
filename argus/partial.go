package argus

import "panoptes/record"

// modeledDSR lists the DSR types decode maps (its switch's cases); the others are
// counted as skipped. DecodeKey walks a record's DSRs without decoding most of them
// and counts the skipped ones from this table, so the two must agree (FuzzDecodeKey
// checks they do).
var modeledDSR = func() (m [256]bool) {
	for _, t := range []uint8{DSRTransport, DSRFlow, DSRTime, DSRMeter, DSRPSize, DSRNetwork,
		DSRIPAttr, DSRJitter, DSRMAC, DSRVLAN, DSRMPLS, DSREncaps, DSRAgr, DSRCoCode,
		DSRLabel, DSRASN} {
		m[t] = true
	}
	return m
}()

// DecodeKey decodes only the flow key of a record that ReadRaw returned: it sets r's
// Kind, Family, EtherType, Proto, SrcAddr, DstAddr, SrcPort and DstPort to the values
// Decode gives them (the flow DSR, turned round as Decode turns it), and leaves the
// other fields as they were, or partly set: it does not clear the whole record, which
// took a fifth of its time. It is the cheap first pass of a reader whose filter
// reads only those fields (filter.FlowKeyOnly): most records fail the filter and are
// never decoded whole.
//
// DecodeKey counts the skipped DSRs as Decode does; a record that then needs decoding
// whole goes through DecodeRest, which does not count them again. It returns false if
// the record is damaged: DecodeRest returns the error, and the counts are those Decode
// would have made.
func (d *Decoder) DecodeKey(b []byte, r *record.Record) bool {
	r.Family, r.EtherType, r.Proto = 0, 0, 0
	r.SrcAddr, r.DstAddr = [16]byte{}, [16]byte{}
	r.SrcPort, r.DstPort = 0, 0
	if b[0]&TypeMask == TypeMAR {
		r.Kind = record.KindMan
		return true
	}
	r.Kind = record.KindFlow
	skipped := &d.Skipped
	var tcpStatus uint32
	reverse := false
	p := RecordHeaderLen
	for p < len(b) {
		if len(b)-p < DSRHeaderLen {
			return false
		}
		t, n := dsrAt(b, p)
		if t&ImmediateData != 0 {
			skipped[t&0x7F]++
			p += n
			continue
		}
		if n < DSRHeaderLen || p+n > len(b) {
			return false
		}
		dsr := b[p : p+n]
		p += n
		switch t {
		case DSRFlow:
			if !decodeFlow(dsr, r) {
				skipped[t]++
			}
			reverse = dsr[1]&FlowDirectionBit != 0
		case DSRNetwork:
			// decodeNet's status word, without the rest.
			switch dsr[1] {
			case NetTCPPerf:
				if n >= TCPObjectLen {
					tcpStatus = u32(dsr, TCPOffStatus)
				}
			case NetTCPInit:
				if n >= 20 {
					tcpStatus = u32(dsr, 4)
				}
			case NetTCPStatus:
				if n >= 12 {
					tcpStatus = u32(dsr, 4)
				}
			}
		default:
			if !modeledDSR[t] {
				skipped[t&0x7F]++
			}
		}
	}
	// decode's turns, on the key alone.
	if reverse {
		r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
		if r.Proto == 6 || r.Proto == 17 {
			r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
		}
	}
	if r.Family != 0 && r.Proto == 6 && tcpStatus&TCPSawSyn == 0 && r.SrcPort < r.DstPort {
		r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
		r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
	}
	return true
}

// DecodeRest decodes a record whose key DecodeKey decoded (at byte offset off) whole
// into r, as Decode, without counting its skipped DSRs a second time.
func (d *Decoder) DecodeRest(b []byte, off int64, r *record.Record) error {
	var uncounted [128]uint64
	return d.rd.decode(b, off, r, &uncounted, &d.lastLabel)
}
