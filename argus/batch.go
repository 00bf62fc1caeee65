package argus

// ReadRawBatch is ReadRaw for up to max records at once: it appends them to dst, one
// after another, with where each ends in dst and its byte offset, and returns the
// same records, counts and errors as max calls of ReadRaw. Records already in the
// read buffer are taken without a call per record (the reader goroutine of a parallel
// decode spends its time here); the first record that is not whole in the buffer,
// or whose header is not right, goes through ReadRaw, which fills the buffer or says
// what is wrong. An error (io.EOF at the end) comes with the records before it.
func (rd *Reader) ReadRawBatch(dst []byte, ends []int, offs []int64, max int) ([]byte, []int, []int64, error) {
	for len(ends) < max {
		buf, _ := rd.r.Peek(rd.r.Buffered())
		p := 0
		for len(ends) < max && len(buf)-p >= RecordHeaderLen {
			h := buf[p:]
			n := int(u16(h, 2)) * 4
			typ, vers := h[0]&TypeMask, h[0]&VersionMask
			if (vers != Version3 && vers != Version5) || n < RecordHeaderLen || (typ == TypeMAR && n < MARLen) || n > len(h) {
				break // ReadRaw's case
			}
			switch typ {
			case TypeFAR, TypeNetflow, TypeMAR:
				dst = append(dst, h[:n]...)
				ends, offs = append(ends, len(dst)), append(offs, rd.off)
			default:
				rd.SkippedRecords++
			}
			rd.off += int64(n)
			p += n
		}
		if _, err := rd.r.Discard(p); err != nil {
			return dst, ends, offs, err // cannot happen: p bytes were buffered
		}
		if len(ends) == max {
			break
		}
		var off int64
		var err error
		if dst, off, err = rd.ReadRaw(dst); err != nil {
			return dst, ends, offs, err
		}
		ends, offs = append(ends, len(dst)), append(offs, off)
	}
	return dst, ends, offs, nil
}
