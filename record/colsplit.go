package record

import "fmt"

// FrontFields are the field groups SplitColumns moves to the front of a block, with the
// flow key and the times: what a count, a key filter, a cluster of addresses that
// prints its counters, or ra's default columns read. An archive compresses the front
// and the rest of a block apart, so that a reader that needs no other field
// (ColumnDecoder.SetFields) decompresses only the front.
const FrontFields = FieldsCounts | FieldsMAC | FieldsStatus

// inFront reports whether a column of field id goes in a block's front: the key, the
// times and FrontFields. A column this version does not know goes behind.
func inFront(id uint8) bool {
	f := colFields[id]
	return f.class != fNone && f.group&^FrontFields == 0
}

// SplitColumns appends to dst the columnar block block with its columns reordered: the
// block's header and the columns of the front (FrontFields, the flow key and the
// times), then the others, each group in its order in block. It returns the new block
// and the length of its front. The front alone is a block of its own: decoded, it gives
// the rows with only the front's fields (the others zero), as a decoder told
// SetFields(FrontFields) gives them from the whole. The block is as valid as before
// (columns may come in any order). An error (ErrCorrupt) if block's column headers do
// not parse; the columns' contents are not checked.
func SplitColumns(dst, block []byte) ([]byte, int, error) {
	if len(block) == 0 {
		return dst, 0, fmt.Errorf("%w: empty columnar block", ErrCorrupt)
	}
	_, k := uvarint(block[1:])
	if k <= 0 {
		return dst, 0, fmt.Errorf("%w: columnar block: bad row count at byte 1", ErrCorrupt)
	}
	start := len(dst)
	dst = append(dst, block[:1+k]...)
	split := 0
	for pass := range 2 {
		front := pass == 0
		for p := 1 + k; p < len(block); {
			end, err := columnEnd(block, p)
			if err != nil {
				return dst[:start], 0, err
			}
			if inFront(block[p]) == front {
				dst = append(dst, block[p:end]...)
			}
			p = end
		}
		if front {
			split = len(dst) - start
		}
	}
	return dst, split, nil
}

// columnEnd returns where the column whose header is at p ends.
func columnEnd(block []byte, p int) (int, error) {
	at := p
	if len(block)-p < 3 {
		return 0, fmt.Errorf("%w: column header at byte %d: truncated", ErrCorrupt, at)
	}
	tag := block[p+1]
	p += 2
	if tag&tagFixed != 0 {
		_, k := uvarint(block[p:])
		if k <= 0 {
			return 0, fmt.Errorf("%w: column %d at byte %d: bad width", ErrCorrupt, block[at], at)
		}
		p += k
	}
	l, k := uvarint(block[p:])
	if k <= 0 || l > uint64(len(block)-p-k) {
		return 0, fmt.Errorf("%w: column %d at byte %d: bad length", ErrCorrupt, block[at], at)
	}
	return p + k + int(l), nil
}
