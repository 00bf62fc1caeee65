package argus

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

// checkDecodeRecord: DecodeRecord on one value agrees with the stream reader on a
// stream of a MAR then that value: both decode it to the same record, or both refuse it
// (DecodeRecord with one line, wrapping ErrDamaged, for a value the reader finds
// damaged).
func checkDecodeRecord(t *testing.T, b []byte) {
	t.Helper()
	var got record.Record
	err := DecodeRecord(b, "row 1", &got)
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Fatalf("error of more than one line: %q", err)
	}
	stream := append(AppendMAR(nil, nil, time.Unix(1700000000, 0)), b...)
	rd, rerr := NewReader(bytes.NewReader(stream), "s")
	if rerr != nil {
		t.Fatal(rerr)
	}
	var want record.Record
	if rerr = rd.Read(&want); rerr != nil {
		t.Fatalf("reading the MAR: %v", rerr)
	}
	rerr = rd.Read(&want)
	whole := len(b) >= RecordHeaderLen && int(u16(b, 2))*4 == len(b)
	switch {
	case rerr == nil && whole:
		if err != nil {
			t.Fatalf("reader decodes %x, DecodeRecord: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%x: DecodeRecord %+v, reader %+v", b, got, want)
		}
	case rerr == nil, errors.Is(rerr, io.EOF):
		// Not one whole FAR or MAR (a skipped type, or more than one record).
		if err == nil {
			t.Fatalf("%x: DecodeRecord took a value the reader does not read as one record", b)
		}
	default:
		if err == nil {
			t.Fatalf("%x: reader: %v, DecodeRecord took it", b, rerr)
		}
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("%x: %v does not wrap ErrDamaged", b, err)
		}
	}
}

func TestDecodeRecord(t *testing.T) {
	r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 6, StartTime: 1432582222253233000, LastTime: 1432582223191773000,
		SrcAddr: [16]byte{192, 168, 2, 4}, DstAddr: [16]byte{17, 172, 100, 70}, SrcPort: 49199, DstPort: 993}
	r.Src.Pkts, r.Src.Bytes = 9, 1130
	far := AppendFAR(nil, &r)
	checkDecodeRecord(t, far)
	var got record.Record
	if err := DecodeRecord(far, "x", &got); err != nil || got.SrcPort != 49199 || got.Src.Bytes != 1130 || got.StartTime != r.StartTime {
		t.Fatalf("%+v, %v", got, err)
	}
	for _, b := range [][]byte{nil, far[:3], far[:len(far)-4], append(far[:len(far):len(far)], 0, 0, 0, 0)} {
		checkDecodeRecord(t, b)
		if err := DecodeRecord(b, "x", &got); err == nil {
			t.Errorf("%x: no error", b)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	// Seeds: the records of Argus's own files and random ones, one by one.
	for _, s := range decodeKeyInputs(f) {
		rd, err := NewReader(bytes.NewReader(s), "seed")
		if err != nil {
			f.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			b, _, err := rd.ReadRaw(nil)
			if err != nil {
				break
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeRecord(t, b) })
}
