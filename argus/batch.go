package argus

import (
	"errors"
	"fmt"
	"io"
)

// BlockLen is the size of block ReadBlock is meant to read into. It is small on
// purpose: the blocks are reused, and each new page of memory a read touches costs a
// page fault, which is as dear as reading the page from the file, and adds to the
// next garbage collection's work. A record larger than the block (Argus allows 256
// KiB) grows it.
const BlockLen = 128 << 10

// ReadBlock reads the next records into buf (its capacity: BlockLen is meant) in one
// read call where the input allows (a file), and returns the FAR and MAR among them
// appended to recs, as slices of buf, with their byte offsets appended to offs. It
// returns buf, which it replaces by a larger one for a record that does not fit in
// it. buf is read into, not copied from: the records stay valid until buf is given to
// ReadBlock again. A record cut by the end of buf is carried over to the next call.
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
	if cap(buf) < len(rd.carry) || cap(buf) < RecordHeaderLen {
		buf = make([]byte, max(len(rd.carry), BlockLen))
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
		// and its records wait for nothing).
		if p > 0 {
			break
		}
		if n == len(buf) {
			// The record at the start (its header checked above) is larger than buf.
			b := make([]byte, recordLen(buf))
			copy(b, buf[:n])
			buf = b
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
