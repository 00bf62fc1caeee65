package argus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
)

type rawRead struct {
	recs    [][]byte
	offs    []int64
	skipped uint64
	err     string
}

// failAfter gives the bytes of b in reads of at most step bytes (all of them if step is
// 0), then fails with err: a disk error, or io.EOF for the plain end.
type failAfter struct {
	b    []byte
	step int
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, f.err
	}
	if f.step > 0 && len(p) > f.step {
		p = p[:f.step]
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// blockBuf is readRawAll's block, made once: zeroing a new one for each of the many
// reads of the tests took most of their time.
var blockBuf = make([]byte, BlockLen)

// readRawAll reads b with ReadRaw (block false) or ReadBlock, from a reader that gives
// step bytes at a time (0: as many as asked) and then fails with end.
func readRawAll(b []byte, block bool, step int, end error) rawRead {
	var out rawRead
	rd, err := NewReader(&failAfter{b, step, end}, "t.argus")
	if err != nil {
		return rawRead{err: err.Error()}
	}
	buf := blockBuf[:0]
	for {
		var err error
		if !block {
			var raw []byte
			var off int64
			if raw, off, err = rd.ReadRaw(nil); err == nil {
				out.recs, out.offs = append(out.recs, raw), append(out.offs, off)
			}
		} else {
			var recs [][]byte
			var offs []int64
			buf, recs, offs, err = rd.ReadBlock(buf, nil, nil)
			for i, r := range recs {
				out.recs, out.offs = append(out.recs, bytes.Clone(r)), append(out.offs, offs[i])
			}
		}
		if err != nil {
			out.err = err.Error()
			out.skipped = rd.SkippedRecords
			return out
		}
	}
}

// checkBatch compares ReadBlock with ReadRaw on b, ending with a plain end, gzip's
// unexpected end and a read error, with reads of any size and short ones.
func checkBatch(t *testing.T, b []byte) {
	t.Helper()
	checkBatchReads(t, b, []error{io.EOF, io.ErrUnexpectedEOF, errors.New("disk on fire")}, []int{0, 1, 7, 4096})
}

func checkBatchReads(t *testing.T, b []byte, ends []error, steps []int) {
	t.Helper()
	for _, end := range ends {
		want := readRawAll(b, false, 0, end)
		for _, step := range steps {
			if got := readRawAll(b, true, step, end); !reflect.DeepEqual(got, want) {
				t.Fatalf("ReadBlock (reads of %d, then %v): %d records, %d skipped, %q; ReadRaw: %d, %d, %q", step, end, len(got.recs), got.skipped, got.err, len(want.recs), want.skipped, want.err)
			}
		}
	}
}

// TestReadBlock: ReadBlock returns the records, offsets, skipped-record counts and
// errors of as many ReadRaw calls, on whole, cut and damaged streams, on streams with
// records of other types, and whatever the sizes of the reads under it.
func TestReadBlock(t *testing.T) {
	for i, b := range decodeKeyInputs(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkBatch(t, b)
			for cut := 0; cut < len(b); cut += 1 + len(b)/97 {
				checkBatchReads(t, b[:cut], []error{io.EOF}, []int{0, 7})
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

// FuzzReadBlock: on any input, ReadBlock reads what ReadRaw reads.
func FuzzReadBlock(f *testing.F) {
	for _, b := range decodeKeyInputs(f) {
		f.Add(b[:min(len(b), 3000)])
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkBatch(t, b) })
}

// TestReadBlockLarge: a stream of several blocks, whose records straddle the blocks'
// ends and are carried over, reads as with ReadRaw, with a whole block read at a time
// and with short reads.
func TestReadBlockLarge(t *testing.T) {
	b := randomStream(t, rand.New(rand.NewPCG(7, 9)), 3*BlockLen/100)
	if len(b) < 2*BlockLen {
		t.Fatalf("stream of %d bytes: want more than two blocks", len(b))
	}
	want := readRawAll(b, false, 0, io.EOF)
	for _, step := range []int{0, 1000} {
		if got := readRawAll(b, true, step, io.EOF); !reflect.DeepEqual(got, want) {
			t.Fatalf("ReadBlock (reads of %d): %d records, %q; ReadRaw: %d, %q", step, len(got.recs), got.err, len(want.recs), want.err)
		}
	}
	if got := readRawAll(b[:len(b)-5], true, 0, io.EOF); got.err != readRawAll(b[:len(b)-5], false, 0, io.EOF).err {
		t.Fatalf("cut stream: ReadBlock error %q", got.err)
	}
}

// TestReadBlockHugeRecord: a record larger than a block (Argus allows 256 KiB) grows
// the block, whole or cut, read at once or in short reads.
func TestReadBlockHugeRecord(t *testing.T) {
	b := randomStream(t, rand.New(rand.NewPCG(3, 4)), 200)
	huge := make([]byte, 3*BlockLen/2)
	huge[0] = TypeEvent | Version3
	huge[2], huge[3] = byte(len(huge)/4>>8), byte(len(huge)/4)
	s := append(append(append([]byte{}, b[:MARLen]...), huge...), b[MARLen:]...)
	for _, in := range [][]byte{s, s[:MARLen+BlockLen+10]} {
		want := readRawAll(in, false, 0, io.EOF)
		for _, step := range []int{0, 5000} {
			if got := readRawAll(in, true, step, io.EOF); !reflect.DeepEqual(got, want) {
				t.Fatalf("ReadBlock (reads of %d): %d records, %d skipped, %q; ReadRaw: %d, %d, %q", step, len(got.recs), got.skipped, got.err, len(want.recs), want.skipped, want.err)
			}
		}
		if want.skipped != 1 && len(in) == len(s) {
			t.Fatalf("ReadRaw skipped %d records, want the huge one", want.skipped)
		}
	}
}
