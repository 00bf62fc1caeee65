package record

import "fmt"

// A block split by SplitColumns has three parts, each compressed apart by the archive,
// so that a reader decompresses only the parts that hold the fields it needs
// (ColumnDecoder.SetFields):
//
//	part 0: the block's header and the columns of the flow key, the times and
//	        CoreFields (the counters): what a count or a key filter reads
//	part 1: the columns of the rest of FrontFields (the MACs, and the status fields
//	        ra's flgs, dir and state print): what ra's default columns and a cluster of
//	        addresses read, with part 0
//	part 2: every other column
//
// On a real trace's blocks, part 0 is 34 of 78 raw bytes a record.
const (
	// CoreFields are the field groups of part 0, beside the flow key and times.
	CoreFields = FieldsCounts
	// FrontFields are those of parts 0 and 1.
	FrontFields = FieldsCounts | FieldsMAC | FieldsStatus
	// SplitParts is the number of parts of a split block.
	SplitParts = 3
)

// columnPart returns the part of a split block the column of field id goes in. A
// column this version does not know goes in the last.
func columnPart(id uint8) int {
	f := colFields[id]
	switch {
	case f.class == fNone:
		return SplitParts - 1
	case f.group&^CoreFields == 0:
		return 0
	case f.group&^FrontFields == 0:
		return 1
	}
	return SplitParts - 1
}

// PartsFor returns how many parts of a split block hold the fields of f (and the flow
// key and times): 1, 2 or SplitParts.
func PartsFor(f Fields) int {
	switch {
	case f&^CoreFields == 0:
		return 1
	case f&^FrontFields == 0:
		return 2
	}
	return SplitParts
}

// SplitColumns appends to dst the columnar block block with its columns reordered into
// the parts above, each part's columns in their order in block, and returns the new
// block and where its first two parts end (relative to the new block's start). The
// parts before each end are a block of their own: decoded, they give the rows with
// only those parts' fields (the others zero), as a decoder told SetFields gives them
// from the whole. The block is as valid as before (columns may come in any order). An
// error (ErrCorrupt) if block's column headers do not parse; the columns' contents are
// not checked.
func SplitColumns(dst, block []byte) ([]byte, [SplitParts - 1]int, error) {
	var ends [SplitParts - 1]int
	if len(block) == 0 {
		return dst, ends, fmt.Errorf("%w: empty columnar block", ErrCorrupt)
	}
	_, k := uvarint(block[1:])
	if k <= 0 {
		return dst, ends, fmt.Errorf("%w: columnar block: bad row count at byte 1", ErrCorrupt)
	}
	start := len(dst)
	dst = append(dst, block[:1+k]...)
	for part := range SplitParts {
		for p := 1 + k; p < len(block); {
			end, err := columnEnd(block, p)
			if err != nil {
				return dst[:start], ends, err
			}
			if columnPart(block[p]) == part {
				dst = append(dst, block[p:end]...)
			}
			p = end
		}
		if part < len(ends) {
			ends[part] = len(dst) - start
		}
	}
	return dst, ends, nil
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
