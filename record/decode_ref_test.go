package record

import (
	"encoding/binary"
	"fmt"
	"math"
)

// decodeRecordRef is DecodeRecord as it was before its loop was reshaped for speed
// (commit e6a2478), kept unchanged as the reference the differential tests compare the
// decoder with: same record, same error text, for every input.
//
// decodeRecordRef decodes one record body (without its length prefix) into r, which is
// reset first. wire gives the wire type of each id as declared by the stream's header,
// so that fields unknown to this version are skipped; pass nil to use this version's
// own schema. A management record's counters are written into r.Man, which is
// allocated only if nil.
func decodeRecordRef(body []byte, r *Record, wire *[256]int8) error {
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
		if err := setFieldRef(r, id, u, bs, &dur); err != nil {
			return fmt.Errorf("%w: field %d: %w", ErrCorrupt, id, err)
		}
	}
	r.LastTime = r.StartTime + int64(dur)
	return nil
}

func setFieldRef(r *Record, id uint8, u uint64, bs []byte, dur *uint64) error {
	if id >= idPkts && id < idSideEnd+sideDst {
		s := &r.Src
		if id >= idPkts+sideDst {
			s, id = &r.Dst, id-sideDst
		}
		return setSideRef(s, id, u, bs)
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

func setSideRef(s *Side, id uint8, u uint64, bs []byte) error {
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
