package record

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// rowTrip returns what the row format's round trip gives for r: what a columnar block
// must decode r to.
func rowTrip(t testing.TB, r *Record) Record {
	t.Helper()
	enc := AppendRecord(nil, r)
	n, k := uvarintAt(enc)
	var out Record
	if err := DecodeRecord(enc[k:k+n], &out, nil); err != nil {
		t.Fatalf("row format round trip of %+v: %v", *r, err)
	}
	return out
}

// colRecord is fullRecord with variants a block of real records has: all IPv4 (the
// address columns' fast path), non-IP flows with protocol addresses, long labels,
// times close together.
func colRecord(rng *rand.Rand, variant int) Record {
	r := fullRecord(rng)
	switch variant {
	case 1: // IPv4 only, times a few ms apart
		r.Family = 4
		clear(r.SrcAddr[4:])
		clear(r.DstAddr[4:])
		r.StartTime = 1_700_000_000_000_000_000 + int64(rng.IntN(1e9))
		r.LastTime = r.StartTime + int64(rng.IntN(1e10))
	case 2: // odd ones
		switch rng.IntN(4) {
		case 0:
			r.Family = 0
			r.SrcAddr, r.DstAddr = [16]byte{1, 2, 3, 4, 5}, [16]byte{9: 1}
		case 1:
			r.Label = string(bytes.Repeat([]byte("x;"), 700+rng.IntN(100)))
		case 2:
			r.StartTime, r.LastTime = -int64(rng.Uint64()>>2), -5
		case 3:
			copy(r.Inf[:], "0123456789abcdef")
		}
	}
	return r
}

func colBlock(rng *rand.Rand, n int) []Record {
	variant := rng.IntN(3)
	recs := make([]Record, n)
	for i := range recs {
		v := variant
		if rng.IntN(50) == 0 {
			v = 2
		}
		recs[i] = colRecord(rng, v)
	}
	return recs
}

// checkColumns encodes recs, decodes them into into (a slice reused or nil) and fails
// unless each decodes as the row format's round trip gives it. It returns the block.
func checkColumns(t testing.TB, d *ColumnDecoder, recs, into []Record) ([]byte, []Record) {
	t.Helper()
	block := AppendColumns(nil, recs)
	got, err := d.Decode(block, into, nil)
	if err != nil {
		t.Fatalf("%d records: %v", len(recs), err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records decoded, %d encoded", len(got), len(recs))
	}
	for i := range recs {
		if want := rowTrip(t, &recs[i]); !sameRecord(&got[i], &want) {
			t.Fatalf("record %d of %d:\n got %+v\nwant %+v", i, len(recs), got[i], want)
		}
	}
	return block, got
}

// Random blocks (empty, one row, small, 10,000 rows) decode as the row format's round
// trip decodes each record, into a fresh slice and into one a previous block left.
func TestColumnsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 1))
	var d ColumnDecoder
	var reused []Record
	sizes := []int{0, 1, 1, 2, 10000}
	for range 150 {
		sizes = append(sizes, rng.IntN(400))
	}
	for _, n := range sizes {
		recs := colBlock(rng, n)
		checkColumns(t, &d, recs, nil)
		_, reused = checkColumns(t, &d, recs, reused)
	}
}

// A block decoded into the records a previous block left gives what a fresh decode
// gives: nothing of the old contents leaks (labels, Man, addresses, queues).
func TestColumnsReuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 1))
	var d ColumnDecoder
	for range 100 {
		a, b := colBlock(rng, rng.IntN(300)), colBlock(rng, rng.IntN(300))
		ba, bb := AppendColumns(nil, a), AppendColumns(nil, b)
		s, err := d.Decode(ba, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err = d.Decode(bb, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := new(ColumnDecoder).Decode(bb, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, s, fresh)
		// With keep too: rows kept into a slice full of the other block's records.
		s, _ = d.Decode(ba, s, nil)
		keep := keyPredicate(rng)
		s, err = d.Decode(bb, s, keep)
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, s, filterRecords(fresh, keep))
	}
}

func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !sameRecord(&got[i], &want[i]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// keyPredicate returns a random keep function of the key fields only.
func keyPredicate(rng *rand.Rand) func(*Record) bool {
	m, lim, salt := uint64(1+rng.IntN(1000)), uint64(rng.IntN(1001)), rng.Uint64()
	switch rng.IntN(4) {
	case 0:
		return func(*Record) bool { return true }
	case 1:
		return func(*Record) bool { return false }
	}
	return func(r *Record) bool {
		h := salt ^ uint64(r.Kind) ^ uint64(r.Family)<<8 ^ uint64(r.Proto)<<16 ^ uint64(r.EtherType)<<24 ^
			uint64(r.SrcPort)<<32 ^ uint64(r.DstPort)<<48 ^ uint64(r.SrcID)*7 ^ uint64(r.StartTime)*3
		for _, b := range r.SrcAddr {
			h = h*31 + uint64(b)
		}
		for _, b := range r.DstAddr {
			h = h*37 + uint64(b)
		}
		h ^= h >> 29
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 32
		return h%m < lim
	}
}

func filterRecords(recs []Record, keep func(*Record) bool) []Record {
	var out []Record
	for i := range recs {
		r := recs[i]
		if keep(&r) {
			out = append(out, r)
		}
	}
	return out
}

// With keep, the rows kept are those of the full decode that keep accepts, in order,
// whole.
func TestColumnsKeep(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 1))
	var d ColumnDecoder
	var reused []Record
	for _, n := range append([]int{0, 1, 5000}, rng.Perm(400)[:100]...) {
		recs := colBlock(rng, n)
		block := AppendColumns(nil, recs)
		full, err := new(ColumnDecoder).Decode(block, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			keep := keyPredicate(rng)
			seen := 0
			count := func(r *Record) bool { seen++; return keep(r) }
			reused, err = d.Decode(block, reused, count)
			if err != nil {
				t.Fatal(err)
			}
			if seen != n {
				t.Fatalf("keep called %d times for %d rows", seen, n)
			}
			sameRecords(t, reused, filterRecords(full, keep))
		}
	}
}

// Every record of the streams in the repository's testdata decodes from blocks as the
// row format gives it, and with a selective keep as the filtered full decode.
func TestColumnsTestdata(t *testing.T) {
	files := []string{"testdata/stream-v1.pnpt", "../tools/testdata/whatsapp.pnp",
		"../tools/testdata/top_captures.pnp", "../filter/testdata/captures.pnp"}
	more, _ := filepath.Glob("../*/testdata/*.pnp")
	more2, _ := filepath.Glob("../testdata/*.pnp")
	files = append(append(files, more...), more2...)
	seen := map[string]bool{}
	rng := rand.New(rand.NewPCG(24, 1))
	var d ColumnDecoder
	var reused []Record
	for _, name := range files {
		abs, _ := filepath.Abs(name)
		if seen[abs] {
			continue
		}
		seen[abs] = true
		recs := readStream(t, name, 100000)
		for lo := 0; lo < len(recs); lo += 2500 {
			blk := recs[lo:min(lo+2500, len(recs))]
			var block []byte
			block, reused = checkColumns(t, &d, blk, reused)
			keep := keyPredicate(rng)
			got, err := d.Decode(block, nil, keep)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, filterRecords(reused, keep))
		}
	}
}

// readStream reads up to max records of the stream file name.
func readStream(t testing.TB, name string, max int) []Record {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f, name)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for len(recs) < max {
		var r Record
		if err := rd.Read(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		t.Fatalf("%s: no records", name)
	}
	return recs
}

// Every field the row format writes has a column.
func TestColumnsCoverSchema(t *testing.T) {
	for _, e := range schema {
		f := colFields[e.id]
		if f.class == fNone || f.wire != e.wire {
			t.Errorf("field %d (%s): no column of wire type %d", e.id, e.name, e.wire)
		}
	}
}

// A column a newer version writes (an id unknown here, or a known id with another
// wire type) is skipped.
func TestColumnsUnknownColumn(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 1))
	recs := colBlock(rng, 50)
	block := AppendColumns(nil, recs)
	want, err := new(ColumnDecoder).Decode(block, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range [][]byte{{200, WireUvarint, 3, 1, 2, 3}, {250, WireBytes | tagFixed, 2, 4, 9, 9, 9, 9}} {
		got, err := new(ColumnDecoder).Decode(append(bytes.Clone(block), col...), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, got, want)
	}
}

// Every IPv4 address appears verbatim in the block, as the archive's block search
// needs.
func TestColumnsAddressesVerbatim(t *testing.T) {
	rng := rand.New(rand.NewPCG(26, 1))
	for range 20 {
		recs := colBlock(rng, 200)
		block := AppendColumns(nil, recs)
		for i := range recs {
			r := &recs[i]
			if n := addrLen(r.Family); r.Family == 4 || r.Family == 6 {
				if !bytes.Contains(block, r.SrcAddr[:n]) || !bytes.Contains(block, r.DstAddr[:n]) {
					t.Fatalf("record %d: addresses %x %x not in the block", i, r.SrcAddr[:n], r.DstAddr[:n])
				}
			}
		}
	}
}

// decodeDamagedColumns decodes block (full and with keep) and checks what a damaged
// block may give: an error wrapping ErrCorrupt (or ErrVersion), or records, never more
// rows than the block's length allows.
func decodeDamagedColumns(t testing.TB, d *ColumnDecoder, block []byte, recs []Record) []Record {
	for _, keep := range []func(*Record) bool{nil, func(r *Record) bool { return r.SrcPort&1 == 0 }} {
		var err error
		recs, err = d.Decode(block, recs, keep)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("error %v wraps neither ErrCorrupt nor ErrVersion", err)
		}
		if len(recs) > len(block) || cap(recs) > 2*len(block)+128 {
			t.Fatalf("%d records (capacity %d) from %d bytes", len(recs), cap(recs), len(block))
		}
	}
	return recs
}

// Random byte changes and truncations of valid blocks give an error or records, never
// a panic.
func TestColumnsDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 1))
	var d ColumnDecoder
	var recs []Record
	for range 60 {
		block := AppendColumns(nil, colBlock(rng, 1+rng.IntN(40)))
		for range 200 {
			b := bytes.Clone(block)
			switch rng.IntN(3) {
			case 0:
				b = b[:rng.IntN(len(b))]
			case 1:
				for range 1 + rng.IntN(3) {
					b[rng.IntN(len(b))] = byte(rng.Uint32())
				}
			case 2:
				b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
			}
			recs = decodeDamagedColumns(t, &d, b, recs[:0])
		}
	}
}

// FuzzDecodeColumns: any bytes give an error or records, never a panic or an
// allocation beyond what the input's length allows; a block that decodes whole
// decodes with only the counters (SetFields) to the same records' projections.
func FuzzDecodeColumns(f *testing.F) {
	rng := rand.New(rand.NewPCG(28, 1))
	for _, n := range []int{0, 1, 3, 20} {
		f.Add(AppendColumns(nil, colBlock(rng, n)))
	}
	f.Fuzz(func(t *testing.T, block []byte) {
		var d ColumnDecoder
		recs := decodeDamagedColumns(t, &d, block, nil)
		decodeDamagedColumns(t, &d, block, recs)
		whole, err := new(ColumnDecoder).Decode(block, nil, nil)
		if err != nil {
			return
		}
		d.SetFields(FieldsCounts)
		got, err := d.Decode(block, nil, nil)
		if err != nil {
			t.Fatalf("decodes whole but not its counters: %v", err)
		}
		for i := range whole {
			whole[i] = project(whole[i], FieldsCounts)
		}
		sameRecords(t, got, whole)
	})
}

// resetRow clears the fields before Label as plain memory: they must hold no pointers,
// and Label and Man must be the only fields after them.
func TestColumnsResetLayout(t *testing.T) {
	typ := reflect.TypeFor[Record]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch {
		case f.Offset < plainLen && hasPointers(f.Type):
			t.Errorf("field %s before Label holds pointers", f.Name)
		case f.Offset >= plainLen && f.Name != "Label" && f.Name != "Man":
			t.Errorf("field %s after Label: resetRow does not clear it", f.Name)
		}
	}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// project returns r with only the fields of f (and the key and times, always): what a
// decoder told SetFields(f) must give for it.
func project(r Record, f Fields) Record {
	p := Record{Kind: r.Kind, Family: r.Family, Proto: r.Proto, EtherType: r.EtherType,
		SrcAddr: r.SrcAddr, DstAddr: r.DstAddr, SrcPort: r.SrcPort, DstPort: r.DstPort,
		SrcID: r.SrcID, StartTime: r.StartTime, LastTime: r.LastTime}
	if f&FieldsCounts != 0 {
		p.Src.Pkts, p.Src.Bytes, p.Dst.Pkts, p.Dst.Bytes = r.Src.Pkts, r.Src.Bytes, r.Dst.Pkts, r.Dst.Bytes
	}
	if f&FieldsMAC != 0 {
		p.Src.MAC, p.Dst.MAC = r.Src.MAC, r.Dst.MAC
	}
	if f&FieldsStatus != 0 {
		p.Flags, p.TCPState, p.Cause = r.Flags, r.TCPState, r.Cause
		p.Src.Retrans, p.Src.Loss, p.Src.OutOfOrder = r.Src.Retrans, r.Src.Loss, r.Src.OutOfOrder
		p.Dst.Retrans, p.Dst.Loss, p.Dst.OutOfOrder = r.Dst.Retrans, r.Dst.Loss, r.Dst.OutOfOrder
	}
	if r.Man != nil {
		p.Man = new(Management)
	}
	if f == AllFields {
		return r
	}
	return p
}

// A decoder told SetFields decodes the fields asked for as a full decode does, the
// others as zero, with and without keep, into fresh and reused records; AllFields
// restores full decoding.
func TestColumnsSetFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 1))
	var full, d ColumnDecoder
	var reused []Record
	for i := range 200 {
		recs := colBlock(rng, rng.IntN(400))
		block := AppendColumns(nil, recs)
		want, err := full.Decode(block, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		f := []Fields{FieldsKey, FieldsCounts, FieldsMAC, FieldsStatus, FrontFields, AllFields}[i%6]
		d.SetFields(f)
		proj := make([]Record, len(want))
		for j := range want {
			proj[j] = project(want[j], f)
		}
		if reused, err = d.Decode(block, reused, nil); err != nil {
			t.Fatal(err)
		}
		sameRecords(t, reused, proj)
		keep := keyPredicate(rng)
		if reused, err = d.Decode(block, reused, keep); err != nil {
			t.Fatal(err)
		}
		sameRecords(t, reused, filterRecords(proj, keep))
	}
}

// A block split (SplitColumns) decodes whole as before, its first part alone to the
// rows' CoreFields and key, its first two to their FrontFields and key, and is the same
// bytes reordered.
func TestSplitColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 1))
	var d ColumnDecoder
	for range 200 {
		recs := colBlock(rng, rng.IntN(400))
		block := AppendColumns(nil, recs)
		want, err := new(ColumnDecoder).Decode(block, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		split, ends, err := SplitColumns([]byte("prefix"), block)
		if err != nil {
			t.Fatal(err)
		}
		if string(split[:6]) != "prefix" || len(split)-6 != len(block) || ends[0] > ends[1] || ends[1] > len(block) {
			t.Fatalf("split of %d bytes: %d bytes, parts end at %v", len(block), len(split)-6, ends)
		}
		split = split[6:]
		a, b := slices.Clone(split), slices.Clone(block)
		slices.Sort(a)
		slices.Sort(b)
		if !bytes.Equal(a, b) {
			t.Fatal("the split block's bytes are not the block's")
		}
		got, err := d.Decode(split, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, got, want)
		for part, f := range []Fields{CoreFields, FrontFields} {
			if PartsFor(f) != part+1 {
				t.Fatalf("PartsFor(%x) = %d, want %d", f, PartsFor(f), part+1)
			}
			front, err := d.Decode(split[:ends[part]], nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			proj := make([]Record, len(want))
			for i := range want {
				proj[i] = project(want[i], f)
			}
			sameRecords(t, front, proj)
		}
	}
}

// FuzzSplitColumns: any bytes split or give an error, never a panic; a block that
// decodes decodes the same split.
func FuzzSplitColumns(f *testing.F) {
	rng := rand.New(rand.NewPCG(31, 1))
	for _, n := range []int{0, 1, 3, 20} {
		f.Add(AppendColumns(nil, colBlock(rng, n)))
	}
	f.Fuzz(func(t *testing.T, block []byte) {
		split, ends, err := SplitColumns(nil, block)
		if err != nil {
			return
		}
		if len(split) != len(block) || ends[0] > ends[1] || ends[1] > len(split) {
			t.Fatalf("split of %d bytes: %d, parts end at %v", len(block), len(split), ends)
		}
		want, err := new(ColumnDecoder).Decode(block, nil, nil)
		if err != nil {
			return
		}
		got, err := new(ColumnDecoder).Decode(split, nil, nil)
		if err != nil {
			t.Fatalf("decodes, but not split: %v", err)
		}
		sameRecords(t, got, want)
	})
}

// Every field whose Reads is not AllFields gives the same value, text and JSON for a
// record as for the record with only the key, the times and those groups (what a
// decoder told SetFields(f.Reads()) gives), on random records of every kind.
func TestFieldReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 1))
	formats := []Format{DefaultFormat, {Precision: 3, Numeric: true, Epoch: true}}
	checked := 0
	for _, f := range Registry {
		reads := f.Reads()
		if reads == AllFields {
			continue
		}
		checked++
		for i := range 3000 {
			r := colRecord(rng, i%3)
			if i%5 == 0 {
				r.Family, r.EtherType = 0, []uint16{0x0806, 0x8035, 0x88cc}[i%3]
			}
			p := project(r, reads)
			for _, fm := range formats {
				if a, b := f.Text(nil, &r, &fm), f.Text(nil, &p, &fm); !bytes.Equal(a, b) {
					t.Fatalf("%s: text %q of %+v, %q with only %x", f.Name, a, r, b, reads)
				}
			}
			if f.Uint != nil && f.Uint(&r) != f.Uint(&p) {
				t.Fatalf("%s: value %d of %+v, %d with only %x", f.Name, f.Uint(&r), r, f.Uint(&p), reads)
			}
			if f.Float != nil && f.Float(&r) != f.Float(&p) {
				t.Fatalf("%s: value %v of %+v, %v with only %x", f.Name, f.Float(&r), r, f.Float(&p), reads)
			}
			if f.JSON != nil {
				if a, b := f.JSON(nil, &r), f.JSON(nil, &p); !bytes.Equal(a, b) {
					t.Fatalf("%s: JSON %s of %+v, %s with only %x", f.Name, a, r, b, reads)
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("%d fields read fewer than every field", checked)
	}
}
