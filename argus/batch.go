package argus

import (
	"errors"
	"fmt"
	"io"
)

// BlockLen is the least size of the buffer ReadBlock reads into: room for the largest
// record (a record carried over from the block before is the start of a record that
// fits). It is small on purpose: the blocks are reused, and each new page of memory a
// read touches costs a page fault, which is as dear as reading the page from the
// file (a third of a filtered read of a large file took such faults with 1 MiB blocks).
const BlockLen = MaxRecordLen

// ReadBlock reads the next records into buf (its capacity, which must be at least
// BlockLen) in one read call where the input allows (a file), and returns the FAR and
// MAR among them appended to recs, as slices of buf, with their byte offsets appended
// to offs. buf is read into, not copied from: the records stay valid until buf is
// given to ReadBlock again. A record cut by the end of buf is carried over to the next
// call.
//
// It returns the records ReadRaw calls would return, with the same skipped counts and
// errors: io.EOF at the end, an error wrapping ErrDamaged naming the offset of a
// damaged or cut record, a read error; each comes with the records before it, and
// nothing after it is read. A reader is read either with ReadBlock or with ReadRaw and
// Read, not both.
//
// It is the reader side of a parallel decode: the one copy of the file's bytes is the
// read into buf, and finding the records in it walks their 4-byte headers only.
func (rd *Reader) ReadBlock(buf []byte, recs [][]byte, offs []int64) ([]byte, [][]byte, []int64, error) {
	if cap(buf) < BlockLen {
		return buf, recs, offs, errors.New("argus: ReadBlock: a block of less than BlockLen bytes")
	}
	buf = buf[:cap(buf)]
	n := copy(buf, rd.carry)
	rd.carry = rd.carry[:0]
	p := 0 // the next record's start in buf[:n]
	for {
		// Take the whole records in buf[p:n].
		for n-p >= RecordHeaderLen {
			h := buf[p : p+RecordHeaderLen]
			l, typ := recordLen(h), h[0]&TypeMask
			if v := h[0] & VersionMask; (v != Version3 && v != Version5) || l < RecordHeaderLen || (typ == TypeMAR && l < MARLen) {
				_, _, err := rd.checkHeader(h) // says what is wrong
				return buf[:n], recs, offs, err
			}
			if l > n-p {
				break
			}
			switch typ {
			case TypeFAR, TypeNetflow, TypeMAR:
				recs, offs = append(recs, buf[p:p+l:p+l]), append(offs, rd.off)
			default:
				rd.SkippedRecords++
			}
			rd.off += int64(l)
			p += l
		}
		if rd.rerr != nil {
			// ReadRaw's answers: a header cut by the end, a record cut by the end (or
			// by gzip's unexpected end), the end, or the read error.
			eof := errors.Is(rd.rerr, io.EOF)
			switch tail := n - p; {
			case tail == 0 && eof:
				return buf[:n], recs, offs, io.EOF
			case tail > 0 && tail < RecordHeaderLen && eof:
				return buf[:n], recs, offs, rd.headerCut()
			case tail >= RecordHeaderLen && (eof || errors.Is(rd.rerr, io.ErrUnexpectedEOF)):
				return buf[:n], recs, offs, rd.recordCut(recordLen(buf[p:n]), tail)
			}
			return buf[:n], recs, offs, fmt.Errorf("%s: reading at byte %d: %w", rd.name, rd.off, rd.rerr)
		}
		// Stop at the first read that gave whole records (a pipe's reads are short,
		// and its records wait for nothing), or when buf cannot take more.
		if p > 0 || n == len(buf) {
			break
		}
		k, err := rd.r.Read(buf[n:])
		n += k
		if err != nil {
			rd.rerr = err
		}
	}
	rd.carry = append(rd.carry, buf[p:n]...)
	return buf[:n], recs, offs, nil
}

func recordLen(h []byte) int { return int(u16(h, 2)) * 4 }
