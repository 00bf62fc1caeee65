package argus

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

type rawRead struct {
	recs    [][]byte
	offs    []int64
	skipped uint64
	err     string
}

// readRawAll reads b with ReadRaw (max 0) or ReadRawBatch (batches of max records).
func readRawAll(b []byte, max int) rawRead {
	var out rawRead
	rd, err := NewReader(bytes.NewReader(b), "t.argus")
	if err != nil {
		return rawRead{err: err.Error()}
	}
	for {
		var err error
		if max == 0 {
			var raw []byte
			var off int64
			if raw, off, err = rd.ReadRaw(nil); err == nil {
				out.recs, out.offs = append(out.recs, raw), append(out.offs, off)
			}
		} else {
			var raw []byte
			var ends []int
			var offs []int64
			raw, ends, offs, err = rd.ReadRawBatch(nil, nil, nil, max)
			if len(ends) > max {
				panic("batch overflows")
			}
			start := 0
			for i, e := range ends {
				out.recs, out.offs = append(out.recs, raw[start:e]), append(out.offs, offs[i])
				start = e
			}
		}
		if err != nil {
			out.err = err.Error()
			out.skipped = rd.SkippedRecords
			return out
		}
	}
}

func checkBatch(t *testing.T, b []byte) {
	t.Helper()
	want := readRawAll(b, 0)
	for _, max := range []int{1, 3, 512} {
		if got := readRawAll(b, max); !reflect.DeepEqual(got, want) {
			t.Fatalf("batches of %d: %d records, %d skipped, %q; ReadRaw: %d, %d, %q", max, len(got.recs), got.skipped, got.err, len(want.recs), want.skipped, want.err)
		}
	}
}

// TestReadRawBatch: ReadRawBatch returns the records, offsets, skipped-record counts
// and errors of as many ReadRaw calls, on whole, cut and damaged streams and on
// streams with records of other types.
func TestReadRawBatch(t *testing.T) {
	for i, b := range decodeKeyInputs(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkBatch(t, b)
			for cut := 0; cut < len(b); cut += 1 + len(b)/97 {
				checkBatch(t, b[:cut])
			}
			m := bytes.Clone(b)
			for _, at := range []int{MARLen, MARLen + 1, MARLen + 2, MARLen + 3, len(b) / 2} {
				for _, x := range []byte{0x10, 0x20, 0x40, 0xff} {
					m[at] ^= x
					checkBatch(t, m)
					m[at] ^= x
				}
			}
		})
	}
}

// FuzzReadRawBatch: on any input, ReadRawBatch reads what ReadRaw reads.
func FuzzReadRawBatch(f *testing.F) {
	for _, b := range decodeKeyInputs(f) {
		f.Add(b[:min(len(b), 3000)])
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkBatch(t, b) })
}
