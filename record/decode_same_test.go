package record

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"
)

// decodeBoth decodes body with DecodeRecord into got and with decodeRecordRef into want
// (each holding what the previous decode into it left) and fails unless the two agree:
// same error text, same record (also after an error), and the same reuse of the
// previous record's Man and label.
func decodeBoth(t testing.TB, body []byte, wire *[256]int8, got, want *Record) {
	t.Helper()
	gotMan, wantMan := got.Man, want.Man
	gotLabel, wantLabel := unsafe.StringData(got.Label), unsafe.StringData(want.Label)
	gerr := DecodeRecord(body, got, wire)
	werr := decodeRecordRef(body, want, wire)
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("body %x: error %v, reference %v", body, gerr, werr)
	}
	if gerr != nil && errors.Is(gerr, ErrCorrupt) != errors.Is(werr, ErrCorrupt) {
		t.Fatalf("body %x: errors.Is(%v, ErrCorrupt) differs from the reference's", body, gerr)
	}
	if !sameRecord(got, want) {
		t.Fatalf("body %x (error %v):\n got %+v\nwant %+v", body, gerr, *got, *want)
	}
	if (got.Man == gotMan) != (want.Man == wantMan) {
		t.Fatalf("body %x: Man reused %v, reference %v", body, got.Man == gotMan, want.Man == wantMan)
	}
	if got.Label != "" && (unsafe.StringData(got.Label) == gotLabel) != (unsafe.StringData(want.Label) == wantLabel) {
		t.Fatalf("body %x: label reused %v, the reference's %v", body,
			unsafe.StringData(got.Label) == gotLabel, unsafe.StringData(want.Label) == wantLabel)
	}
}

// sameRecord is reflect.DeepEqual with floats compared by their bits: a decoded NaN
// equals the same NaN.
func sameRecord(a, b *Record) bool {
	x, y := *a, *b
	for _, f := range [][2]*float64{{&x.Src.IntMean, &y.Src.IntMean}, {&x.Src.IntM2, &y.Src.IntM2},
		{&x.Dst.IntMean, &y.Dst.IntMean}, {&x.Dst.IntM2, &y.Dst.IntM2}} {
		if math.Float64bits(*f[0]) != math.Float64bits(*f[1]) {
			return false
		}
		*f[0], *f[1] = 0, 0
	}
	return reflect.DeepEqual(x, y)
}

// decodeDamaged decodes body and every prefix of it, and body with each byte changed,
// comparing with the reference each time.
func decodeDamaged(t testing.TB, body []byte, wire *[256]int8, rng *rand.Rand, got, want *Record) {
	t.Helper()
	decodeBoth(t, body, wire, got, want)
	for n := range body {
		decodeBoth(t, body[:n], wire, got, want)
	}
	b := append([]byte(nil), body...)
	for i := range b {
		old := b[i]
		for _, v := range []byte{0, 0x7f, 0x80, 0xff, byte(rng.Uint32())} {
			b[i] = v
			decodeBoth(t, b, wire, got, want)
		}
		b[i] = old
	}
}

// Every record of the streams in the repository's testdata decodes as the reference
// decodes it, with the stream's own schema and with this version's, whole and damaged.
func TestDecodeSameTestdata(t *testing.T) {
	files := []string{"testdata/stream-v1.pnpt", "../tools/testdata/whatsapp.pnp",
		"../tools/testdata/top_captures.pnp", "../filter/testdata/captures.pnp"}
	more, _ := filepath.Glob("../*/testdata/*.pnp")
	files = append(files, more...)
	rng := rand.New(rand.NewPCG(1, 17))
	seen := map[string]bool{}
	for _, name := range files {
		abs, _ := filepath.Abs(name)
		if seen[abs] {
			continue
		}
		seen[abs] = true
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := NewReader(f, name)
		if err != nil {
			t.Fatal(err)
		}
		var got, want Record
		n := 0
		for {
			body, off, err := rd.ReadRaw(nil)
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			decodeBoth(t, body, &rd.schemaAt(off).wire, &got, &want)
			decodeBoth(t, body, nil, &got, &want)
			if n%7 == 0 { // every byte of a few records: the whole set takes too long
				decodeDamaged(t, body, nil, rng, &got, &want)
			}
			n++
		}
		f.Close()
		if n == 0 {
			t.Fatalf("%s: no records", name)
		}
	}
}

// fullRecord is randomRecord with the fields randomRecord leaves zero set too: labels
// and the later management counters.
func fullRecord(rng *rand.Rand) Record {
	r := randomRecord(rng)
	if rng.IntN(2) == 0 {
		r.SrcCountry, r.DstCountry = [2]byte{'D', 'E'}, [2]byte{'U', 'S'}
		r.SrcAS, r.DstAS = rng.Uint32(), rng.Uint32()>>rng.IntN(32)
		r.Label = []string{"", "web", "dns;tor", "web"}[rng.IntN(4)]
	}
	if r.Man != nil {
		r.Man.Future, r.Man.ClientsRefused = rng.Uint64()>>rng.IntN(64), uint64(rng.IntN(3))
		r.Man.ClientDrops, r.Man.OutputDrops = rng.Uint64()>>rng.IntN(64), uint64(rng.IntN(300))
	}
	return r
}

// retyped returns this version's schema with a few field ids given another wire type
// (as a newer writer could declare) or declared though unknown here.
func retyped(rng *rand.Rand) *[256]int8 {
	w := wireTypes
	for range 1 + rng.IntN(4) {
		w[rng.IntN(256)] = int8(rng.IntN(5) - 1)
	}
	return &w
}

// Random records, whole, damaged, with extra fields appended and under re-typed
// schemas, decode as the reference decodes them.
func TestDecodeSameRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 17))
	var got, want Record
	for i := range 600 {
		r := fullRecord(rng)
		enc := AppendRecord(nil, &r)
		n, k := uvarintAt(enc)
		body := enc[k : k+n]
		decodeBoth(t, body, nil, &got, &want)
		if !reflect.DeepEqual(normalize(got), normalize(r)) {
			t.Fatalf("record %d: decoded %+v\nencoded %+v", i, got, r)
		}
		decodeBoth(t, body, retyped(rng), &got, &want)
		// Extra fields: any id, with bytes that may or may not fit its wire type.
		extra := append([]byte(nil), body...)
		for range 1 + rng.IntN(3) {
			extra = append(extra, byte(rng.IntN(256)))
			for range rng.IntN(10) {
				extra = append(extra, byte(rng.Uint32()))
			}
		}
		decodeBoth(t, extra, nil, &got, &want)
		decodeBoth(t, extra, retyped(rng), &got, &want)
		if i%20 == 0 {
			decodeDamaged(t, body, nil, rng, &got, &want)
		}
	}
}

// A record with every field set, a management record and a record with a repeated
// field (the later value wins) decode as the reference decodes them, field by field.
func TestDecodeSameEveryField(t *testing.T) {
	side := func(k uint64) Side {
		return Side{Pkts: 1 + k, Bytes: 2 + k, AppBytes: 3 + k, MinSize: 4, MaxSize: 5 + uint32(k), TTL: 6, ToS: 7,
			VLAN: 8, MPLS: 9 + uint32(k), MAC: [6]byte{1, 2, 3, 4, 5, byte(k)}, IntN: 10, IntMean: 11.5 + float64(k),
			IntM2: 12.25, TCPFlags: 13, BaseSeq: 14, Win: 15 + uint32(k), Retrans: 16, Loss: 17, OutOfOrder: 18 + k}
	}
	r := Record{Kind: KindFlow, Cause: CauseClose, Clock: ClockXDP, Flags: 3, SrcID: 4, Seq: 5,
		StartTime: -6e9, LastTime: -1e9, Family: 6, Proto: 6, EtherType: 0x86dd,
		SrcAddr: [16]byte{0x20, 1, 15: 1}, DstAddr: [16]byte{0x20, 2, 15: 2}, SrcPort: 7, DstPort: 8,
		ICMPID: 9, ICMPSeq: 10, TCPState: 11, SynAck: -12, AckDat: 13, Trans: 14, Sampling: 15,
		Inf: [16]byte{'e', 't', 'h', '0'}, Src: side(100), Dst: side(200),
		SrcCountry: [2]byte{'F', 'R'}, DstCountry: [2]byte{'J', 'P'}, SrcAS: 16, DstAS: 17, Label: "a;b"}
	m := r
	m.Kind = KindMan
	m.Man = &Management{PktsSeen: 1, BytesSeen: 2, RecordsWritten: 3, FlowsActive: 4, ParseErrors: 5,
		SkippedLink: 6, Evictions: 7, Drops: 8, NICDrops: 9, RecordDrops: 10, Future: 11, ClientsRefused: 12,
		ClientDrops: 13, OutputDrops: 14, Queues: []QueueStats{{Name: "eth0/1", Seen: 1, Redirected: 2, Passed: 3, XDPErrors: 4, Received: 5,
			RxDropped: 6, RxRingFull: 7, FillRingEmpty: 8, RxInvalid: 9}}}
	if z := zeroFields(reflect.ValueOf(m), "Record"); len(z) > 0 {
		t.Fatalf("the test record leaves %v zero: set them, so that their decoding is tested", z)
	}
	var got, want Record
	for _, r := range []Record{r, m} {
		enc := AppendRecord(nil, &r)
		n, k := uvarintAt(enc)
		body := enc[k : k+n]
		decodeBoth(t, body, nil, &got, &want)
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("decoded %+v\nencoded %+v", got, r)
		}
		// Each field again at the end with another value: the later one wins.
		again := append([]byte(nil), body...)
		for _, e := range schema {
			switch e.wire {
			case WireUvarint, WireVarint:
				again = append(again, e.id, 0x85, 0x01)
			case WireFloat:
				again = append(again, e.id, 1, 2, 3, 4, 5, 6, 7, 8)
			}
		}
		decodeBoth(t, again, nil, &got, &want)
		if got.Man != nil && got.Man.PktsSeen != 133 || got.Src.Pkts != 133 || got.Dst.OutOfOrder != 133 {
			t.Fatalf("repeated fields: %+v", got)
		}
	}
}

// zeroFields lists the fields of v (a struct, recursively through pointers, arrays of
// structs and slices) that hold their zero value.
func zeroFields(v reflect.Value, name string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{name}
		}
		return zeroFields(v.Elem(), name)
	case reflect.Struct:
		var z []string
		for i := range v.NumField() {
			z = append(z, zeroFields(v.Field(i), name+"."+v.Type().Field(i).Name)...)
		}
		return z
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{name}
		}
		return zeroFields(v.Index(0), name+"[0]")
	}
	if v.IsZero() {
		return []string{name}
	}
	return nil
}

// Every field this version writes is a number kept in a slot, a byte field or a
// management counter: a number with an id past numSlots would reach setRare, which
// would drop it.
func TestSlotsCoverSchema(t *testing.T) {
	for _, e := range schema {
		if e.wire != WireBytes && e.id < idManPktsSeen && slotWire[e.id] != int8(e.wire) {
			t.Errorf("field %d (%s): wire type %d, slot wire type %d", e.id, e.name, e.wire, slotWire[e.id])
		}
	}
}

// FuzzDecodeRecordSame: on any bytes, under this version's schema or one with a few ids
// re-typed (retype: pairs of id and wire type), DecodeRecord agrees with the reference.
func FuzzDecodeRecordSame(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 17))
	for range 8 {
		r := fullRecord(rng)
		enc := AppendRecord(nil, &r)
		n, k := uvarintAt(enc)
		f.Add(enc[k:k+n], []byte{})
		f.Add(enc[k:k+n], []byte{idPkts, WireFloat, 250, WireBytes})
	}
	f.Add([]byte{1, idSrcAddr, 3, 1, 2, 3}, []byte{})
	f.Add([]byte{2, idManQueue, 2, 1, 'x', idLabel, 1, 'a'}, []byte{})
	f.Fuzz(func(t *testing.T, body, retype []byte) {
		var wire *[256]int8
		if len(retype) > 0 {
			w := wireTypes
			for i := 0; i+1 < len(retype); i += 2 {
				w[retype[i]] = int8(retype[i+1]%6) - 1 // -1 to 4: 4 is past WireFloat
			}
			wire = &w
		}
		var got, want Record
		decodeBoth(t, body, wire, &got, &want)
		// Again into the records the first decode left: Man and label reuse.
		decodeBoth(t, body, wire, &got, &want)
	})
}

// uvarint8 agrees with binary.Uvarint on every uvarint of up to eight bytes, whatever
// bytes follow it, and declines the longer ones; uvarint agrees with binary.Uvarint on
// every input: each length, cut short, too long (more than ten bytes, or a tenth byte
// above 1).
func TestUvarint(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 17))
	for bitLen := range 65 {
		for range 200 {
			v := rng.Uint64() >> (64 - bitLen)
			if bitLen == 0 {
				v = 0
			}
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			k := binary.PutUvarint(b[:], v)
			got, n := uvarint8(binary.LittleEndian.Uint64(b[:]))
			if k > 8 && n != 0 || k <= 8 && (got != v || n != k) {
				t.Fatalf("uvarint8(%x): got %d, %d; want %d, %d", b[:k], got, n, v, k)
			}
			for end := range len(b) + 1 {
				got, n := uvarint(b[:end])
				want, wn := binary.Uvarint(b[:end])
				if got != want || n != wn {
					t.Fatalf("uvarint(%x): got %d, %d; want %d, %d", b[:end], got, n, want, wn)
				}
			}
		}
	}
	for range 2000 {
		var b [12]byte
		for i := range b {
			b[i] = byte(rng.Uint32()) | 0x80
		}
		b[rng.IntN(len(b))] &= byte(rng.IntN(3))
		got, n := uvarint(b[:])
		want, wn := binary.Uvarint(b[:])
		if got != want || n != wn {
			t.Fatalf("uvarint(%x): got %d, %d; want %d, %d", b, got, n, want, wn)
		}
	}
}
