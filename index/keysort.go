package index

import (
	"slices"

	"panoptes/record"
)

// orderKeys returns the keys of recs (in keys, reused) in the order of keyCmp, and
// whether recs were in that order already; tmp is sortRecKeys' scratch (returned for
// reuse).
func orderKeys(recs []record.Record, keys, tmp []recKey) ([]recKey, []recKey, bool) {
	n := len(recs)
	keys = slices.Grow(keys[:0], n)[:n]
	descents := 0
	for i := range recs {
		r := &recs[i]
		keys[i] = recKey{start: r.StartTime, src: r.SrcID, seq: r.Seq, i: int32(i)}
		if i > 0 && keyLess(&keys[i], &keys[i-1]) {
			descents++
		}
	}
	switch {
	case descents == 0:
	case descents < n/32:
		slices.SortFunc(keys, keyCmp) // nearly sorted: pdqsort finds the runs
	default:
		tmp = sortRecKeys(keys, tmp)
	}
	return keys, tmp, descents == 0
}

// sortRecKeys sorts keys in the order of keyCmp (start, source, sequence), using tmp
// (grown as needed, returned for reuse) as scratch. It is a least-significant-digit
// radix sort on the start time, a byte at a time, skipping the bytes every key shares
// (a block spans minutes: its starts differ in their low five bytes or so), then an
// insertion sort of each run of equal starts by source and sequence. A comparison sort
// (slices.SortFunc with keyCmp) was a tenth of a full ordered scan's CPU: a call per
// comparison, and 11 rounds of them for a block of 2,500 records.
func sortRecKeys(keys, tmp []recKey) []recKey {
	n := len(keys)
	if n < 64 {
		insertionSortKeys(keys)
		return tmp
	}
	if cap(tmp) < n {
		tmp = make([]recKey, n)
	}
	tmp = tmp[:n]
	// The bytes in which the keys differ: those set in the OR of every key's XOR with
	// the first. The sign bit is flipped so that the starts order as unsigned numbers.
	first := uint64(keys[0].start)
	var diff uint64
	for i := range keys {
		diff |= uint64(keys[i].start) ^ first
	}
	src, dst := keys, tmp
	for shift := uint(0); shift < 64; shift += 8 {
		if diff>>shift&0xff == 0 {
			continue
		}
		var count [256]int
		for i := range src {
			count[byte((uint64(src[i].start)^1<<63)>>shift)]++
		}
		pos := 0
		for d := range count {
			c := count[d]
			count[d] = pos
			pos += c
		}
		for i := range src {
			d := byte((uint64(src[i].start) ^ 1<<63) >> shift)
			dst[count[d]] = src[i]
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
	// Equal starts: by source and sequence (the runs are short, usually one key).
	for i := 0; i < n; {
		j := i + 1
		for j < n && keys[j].start == keys[i].start {
			j++
		}
		if j-i > 1 {
			insertionSortKeys(keys[i:j])
		}
		i = j
	}
	return tmp
}

func insertionSortKeys(keys []recKey) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keyLess(&keys[j], &keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}
