package record

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"unsafe"
)

// sameColumns fails unless AppendColumns and a reused ColumnEncoder give recs the bytes
// the reference encoder (columns_encref_test.go) gives, after a prefix in dst.
func sameColumns(t testing.TB, e *ColumnEncoder, recs []Record) {
	t.Helper()
	want := appendColumnsRef([]byte("prefix"), recs)
	if got := AppendColumns([]byte("prefix"), recs); !bytes.Equal(got, want) {
		t.Fatalf("%d records: AppendColumns differs from the reference at byte %d (%d bytes, want %d)",
			len(recs), firstDiff(got, want), len(got), len(want))
	}
	if got := e.Append([]byte("prefix"), recs); !bytes.Equal(got, want) {
		t.Fatalf("%d records: ColumnEncoder.Append differs from the reference at byte %d (%d bytes, want %d)",
			len(recs), firstDiff(got, want), len(got), len(want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// setNum stores v into number column f of r (truncated to the field's size).
func setNum(r *Record, f *colField, v uint64) {
	p := unsafe.Add(unsafe.Pointer(r), f.off)
	switch f.size {
	case 1:
		*(*uint8)(p) = uint8(v)
	case 2:
		*(*uint16)(p) = uint16(v)
	case 4:
		*(*uint32)(p) = uint32(v)
	default:
		*(*uint64)(p) = v
	}
}

// shapeBlock gives each number column of recs a random shape: as it was, absent, rare,
// nearly always present, narrow, constant, negative (signed), so that the blocks cover
// both presence modes, fixed and varint widths and their limits.
func shapeBlock(rng *rand.Rand, recs []Record) {
	for _, id := range colOrder {
		f := &colFields[id]
		if f.class != fNum || id == idKind {
			continue
		}
		shape := rng.IntN(10)
		c := rng.Uint64() >> rng.IntN(64)
		for i := range recs {
			r := &recs[i]
			v := colNumRef(r, f)
			switch shape {
			case 1:
				v = 0
			case 2: // rare
				if rng.IntN(20) != 0 {
					v = 0
				}
			case 3: // mostly present
				if rng.IntN(20) == 0 {
					v = 0
				}
			case 4:
				v &= 0x7f
			case 5:
				v &= 0xff
			case 6:
				v = c
			case 7:
				v >>= rng.IntN(64)
			case 8:
				if f.float {
					v = [...]uint64{0, 1 << 63, math.Float64bits(math.NaN()), math.Float64bits(1)}[rng.IntN(4)]
				} else if f.signed {
					v = uint64(-int64(rng.IntN(300)))
				}
			}
			setNum(r, f, v)
		}
	}
	switch rng.IntN(4) {
	case 0: // times close together, some absent
		t := int64(1_700_000_000_000_000_000)
		for i := range recs {
			t += int64(rng.IntN(1e6))
			recs[i].StartTime = t
			if rng.IntN(10) == 0 {
				recs[i].StartTime = 0
			}
			recs[i].LastTime = recs[i].StartTime + int64(rng.IntN(1e9)) - 1e8
		}
	case 1: // the first rows without a time
		for i := range recs[:min(len(recs), rng.IntN(5))] {
			recs[i].StartTime = 0
		}
	}
	// Byte columns: families, MACs, interface names, labels of a few kinds.
	if rng.IntN(3) == 0 {
		fam := [...]uint8{0, 4, 6}[rng.IntN(3)]
		for i := range recs {
			if rng.IntN(4) != 0 {
				recs[i].Family = fam
			}
			if rng.IntN(8) == 0 {
				recs[i].SrcAddr, recs[i].DstAddr = [16]byte{}, [16]byte{}
			}
		}
	}
	if rng.IntN(3) == 0 {
		for i := range recs {
			switch rng.IntN(4) {
			case 0:
				recs[i].Inf = [16]byte{}
			case 1:
				recs[i].Inf = [16]byte{'e', 't', 'h', byte('0' + rng.IntN(3))}
			case 2:
				copy(recs[i].Inf[:], "0123456789abcdef")
			}
			if rng.IntN(3) == 0 {
				recs[i].Src.MAC = [6]byte{}
			}
			if rng.IntN(2) == 0 {
				recs[i].SrcCountry, recs[i].Label = [2]byte{}, ""
			}
		}
	}
	// Kinds: management records without their Management, flow records with one.
	if rng.IntN(5) == 0 {
		for i := range recs {
			switch rng.IntN(8) {
			case 0:
				recs[i].Kind = KindMan
			case 1:
				recs[i].Kind = KindFlow
			case 2:
				recs[i].Kind = Kind(rng.IntN(256))
			}
		}
	}
}

// Random blocks of every size and shape, and the blocks of every testdata stream,
// encode to the reference's bytes.
func TestAppendColumnsSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 3))
	var e ColumnEncoder
	sameColumns(t, &e, nil)
	sameColumns(t, &e, []Record{})
	sameColumns(t, &e, []Record{{}})
	sameColumns(t, &e, make([]Record, 300))
	for i := range 400 {
		n := []int{1, 2, 7, 8, 9, 63, 64, 65, 127, 128, 129, 200, 1000}[rng.IntN(13)]
		if i%100 == 99 {
			n = 10000
		}
		recs := colBlock(rng, n)
		if i%4 != 0 {
			shapeBlock(rng, recs)
		}
		sameColumns(t, &e, recs)
	}
	// Times far apart in the rows: StartTime's chains across many chunks without one.
	for _, at := range [][]int{{}, {0}, {4999}, {70, 4000}, {1, 63, 64, 65, 3000, 4999}} {
		recs := colBlock(rng, 5000)
		for i := range recs {
			recs[i].StartTime = 0
		}
		for _, i := range at {
			recs[i].StartTime = int64(rng.Uint64() >> 1)
		}
		sameColumns(t, &e, recs)
	}
	// Flow-only blocks, management-only blocks, and one management record among flows.
	for range 30 {
		recs := colBlock(rng, 1+rng.IntN(300))
		flows := recs[:0:0]
		mans := recs[:0:0]
		for _, r := range recs {
			if r.Kind == KindMan {
				mans = append(mans, r)
			} else {
				flows = append(flows, r)
			}
		}
		sameColumns(t, &e, flows)
		sameColumns(t, &e, mans)
		if len(mans) > 0 && len(flows) > 0 {
			one := append(flows, mans[0])
			rng.Shuffle(len(one), func(i, j int) { one[i], one[j] = one[j], one[i] })
			sameColumns(t, &e, one)
		}
	}

	files := []string{"testdata/stream-v1.pnpt", "../tools/testdata/whatsapp.pnp",
		"../tools/testdata/top_captures.pnp", "../filter/testdata/captures.pnp"}
	more, _ := filepath.Glob("../*/testdata/*.pnp")
	more2, _ := filepath.Glob("../testdata/*.pnp")
	seen := map[string]bool{}
	for _, name := range append(append(files, more...), more2...) {
		abs, _ := filepath.Abs(name)
		if seen[abs] {
			continue
		}
		seen[abs] = true
		recs := readStream(t, name, 100000)
		for lo := 0; lo < len(recs); lo += 2500 {
			sameColumns(t, &e, recs[lo:min(lo+2500, len(recs))])
		}
		for range 5 { // blocks cut anywhere
			lo := rng.IntN(len(recs))
			sameColumns(t, &e, recs[lo:min(len(recs), lo+rng.IntN(3000))])
		}
	}
}

// fuzzRecords builds records from data: a row count, then each row's plain fields
// (those before Label) taken from data's bytes in turn, a byte choosing which of them
// to clear (so that columns have absent values), and management counters, queues and
// labels from the bytes too.
func fuzzRecords(data []byte) []Record {
	if len(data) < 2 {
		return nil
	}
	n := int(data[0])%80 + int(data[1]&1)*int(data[0])*4
	data = data[2:]
	if len(data) == 0 {
		return make([]Record, n)
	}
	recs := make([]Record, n)
	p := 0
	next := func() byte {
		b := data[p%len(data)]
		p++
		return b
	}
	for i := range recs {
		r := &recs[i]
		plain := (*[plainLen]byte)(unsafe.Pointer(r))
		sel := next()
		for j := range plain {
			plain[j] = next()
		}
		// Clear some of the columns, so that their presence varies by row.
		for k, id := range colOrder {
			f := &colFields[id]
			if f.class == fNum && id != idKind && (uint(sel)+uint(k))%8 < uint(sel>>5) {
				setNum(r, f, 0)
			}
		}
		if sel&3 == 0 {
			r.Kind = KindFlow
		}
		if sel&0x18 == 0x18 {
			r.Label = string(data[:min(len(data), int(next())*5)])
		}
		if sel&0x3 == 2 {
			m := &Management{}
			mp := (*[unsafe.Offsetof(Management{}.Queues)]byte)(unsafe.Pointer(m))
			for j := range mp {
				if sel&0x80 != 0 {
					a := next() // two bytes ANDed: mostly zero fields
					mp[j] = a & next()
				} else {
					mp[j] = next()
				}
			}
			for range int(next() % 40) {
				q := QueueStats{Name: string(data[:min(len(data), int(next()%64))])}
				qp := (*[9]uint64)(unsafe.Pointer(&q.Seen))
				for j := range qp {
					qp[j] = uint64(next()) << (next() % 64)
				}
				m.Queues = append(m.Queues, q)
			}
			r.Man = m
			if sel&4 != 0 {
				r.Kind = KindMan
			}
		}
	}
	return recs
}

// FuzzAppendColumnsSame: records built from any bytes encode to the reference's bytes.
func FuzzAppendColumnsSame(f *testing.F) {
	rng := rand.New(rand.NewPCG(8, 9))
	f.Add([]byte{})
	f.Add([]byte{3, 0})
	f.Add([]byte{5, 0, 0xff, 1, 2, 3})
	for range 6 {
		recs := colBlock(rng, 1+rng.IntN(4))
		data := []byte{byte(len(recs)), 0}
		for i := range recs {
			data = append(data, byte(rng.IntN(256)))
			data = append(data, (*[plainLen]byte)(unsafe.Pointer(&recs[i]))[:]...)
		}
		f.Add(data)
	}
	var e ColumnEncoder
	f.Fuzz(func(t *testing.T, data []byte) {
		sameColumns(t, &e, fuzzRecords(data))
	})
}

// Once warm, the encoder allocates nothing.
func TestColumnEncoderAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector")
	}
	rng := rand.New(rand.NewPCG(4, 4))
	recs := colBlock(rng, 2000)
	var e ColumnEncoder
	buf := e.Append(nil, recs)
	if a := testing.AllocsPerRun(10, func() { buf = e.Append(buf[:0], recs) }); a != 0 {
		t.Fatalf("%v allocations per block", a)
	}
}

// BenchmarkAppendColumnsRef is BenchmarkAppendColumns with the reference encoder: the
// previous encoder's cost, measured beside the new one's.
func BenchmarkAppendColumnsRef(b *testing.B) { benchAppend(b, appendColumnsRef) }
