package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// randomRecord fills every field with random values (zero included) so round trips
// exercise omitted-zero and full encodings alike.
func randomRecord(rng *rand.Rand) Record {
	u := func(bits uint) uint64 {
		if rng.IntN(4) == 0 {
			return 0
		}
		return rng.Uint64() >> (64 - bits)
	}
	side := func() Side {
		s := Side{Pkts: u(40), Bytes: u(50), AppBytes: u(50), MinSize: uint32(u(16)), MaxSize: uint32(u(16)),
			TTL: uint8(u(8)), ToS: uint8(u(8)), VLAN: uint16(u(12)), MPLS: uint32(u(20)),
			IntN: u(30), TCPFlags: uint8(u(8)), BaseSeq: uint32(u(32)), Win: uint32(u(16)),
			Retrans: u(20), Loss: u(20), OutOfOrder: u(20)}
		if rng.IntN(2) == 0 {
			s.IntMean, s.IntM2 = rng.Float64()*1e9, rng.Float64()*1e18
		}
		if rng.IntN(2) == 0 {
			for i := range s.MAC {
				s.MAC[i] = byte(rng.Uint32())
			}
		}
		return s
	}
	r := Record{Kind: KindFlow, Cause: Cause(u(3)), Clock: Clock(u(2)), Flags: uint32(u(12)), SrcID: uint32(u(32)),
		Seq: uint32(u(32)), StartTime: int64(u(62)), Proto: uint8(u(8)), EtherType: uint16(u(16)),
		SrcPort: uint16(u(16)), DstPort: uint16(u(16)), ICMPID: uint16(u(16)), ICMPSeq: uint16(u(16)),
		TCPState: uint16(u(12)), SynAck: int64(u(40)), AckDat: int64(u(40)), Trans: uint32(u(20)), Sampling: uint32(u(32)),
		Src: side(), Dst: side()}
	r.LastTime = r.StartTime + int64(u(40))
	switch rng.IntN(3) {
	case 0:
		r.Family = 4
		for i := 0; i < 4; i++ {
			r.SrcAddr[i], r.DstAddr[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
	case 1:
		r.Family = 6
		for i := range r.SrcAddr {
			r.SrcAddr[i], r.DstAddr[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
	}
	if rng.IntN(3) == 0 {
		copy(r.Inf[:], "eth0")
	}
	if rng.IntN(5) == 0 {
		r.Kind = KindMan
		r.Man = &Management{PktsSeen: u(40), BytesSeen: u(50), RecordsWritten: u(30), FlowsActive: u(20),
			ParseErrors: u(20), SkippedLink: u(20), Evictions: u(20), Drops: u(20), NICDrops: u(20), RecordDrops: u(20)}
		// Up to MaxManQueues queues, with counters up to 64 bits, as a big NIC gives.
		for q := range rng.IntN(MaxManQueues + 1) {
			r.Man.Queues = append(r.Man.Queues, QueueStats{Name: fmt.Sprintf("enp175s0f%d/%d", q%2, q),
				Seen: u(64), Redirected: u(64), Passed: u(64), XDPErrors: u(64), Received: u(64),
				RxDropped: u(64), RxRingFull: u(64), FillRingEmpty: u(64), RxInvalid: u(64)})
		}
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var want []Record
	for i := 0; i < 2000; i++ {
		r := randomRecord(rng)
		want = append(want, r)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(bytes.NewReader(buf.Bytes()), "test")
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		var got Record
		if err := rd.Read(&got); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	var r Record
	if err := rd.Read(&r); err != io.EOF {
		t.Fatalf("after last record: got %v, want io.EOF", err)
	}
}

func TestReaderErrors(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	r := Record{Kind: KindFlow, Family: 4, Proto: 6, StartTime: 1e18, Src: Side{Pkts: 3, Bytes: 200}}
	_ = w.Write(&r)
	_ = w.Flush()
	full := buf.Bytes()
	hlen := len(AppendHeader(nil))
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrBadMagic},
		{"bad magic", []byte("PCAPxxxxxxxxxxxx"), ErrBadMagic},
		{"future version", append([]byte{'P', 'N', 'P', 'T', 9}, full[5:]...), ErrVersion},
		{"header cut", full[:hlen-3], ErrBadHeader},
		{"record cut", full[:len(full)-2], ErrTruncated},
		{"bad length", append(append([]byte{}, full[:hlen]...), 0xff, 0x7f), ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := NewReader(bytes.NewReader(tc.data), "f.pnp")
			if err == nil {
				var r Record
				err = rd.Read(&r)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// An unknown field declared in the header is skipped, so newer writers do not break
// older readers.
func TestSkipsUnknownFields(t *testing.T) {
	r := Record{Kind: KindFlow, Family: 4, Proto: 17, SrcPort: 53, Src: Side{Pkts: 1}}
	body := AppendRecord(nil, &r)[1:]
	// Append field 250 (a float) that this version does not know.
	body = append(body, 250, 1, 2, 3, 4, 5, 6, 7, 8)
	var wire [256]int8
	copy(wire[:], wireTypes[:])
	wire[250] = WireFloat
	var got Record
	if err := DecodeRecord(body, &got, &wire); err != nil {
		t.Fatal(err)
	}
	if got.SrcPort != 53 || got.Src.Pkts != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestEncodeAllocs(t *testing.T) {
	r := randomRecord(rand.New(rand.NewPCG(3, 4)))
	r.Kind, r.Man = KindFlow, nil
	buf := make([]byte, 0, MaxRecordLen)
	enc := AppendRecord(nil, &r)
	n, k := uvarintAt(enc)
	body := enc[k : k+n]
	var got Record
	if err := DecodeRecord(body, &got, nil); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendRecord(buf[:0], &r)
		_ = DecodeRecord(body, &got, nil)
	}); n != 0 {
		t.Fatalf("%v allocations per encode+decode, want 0", n)
	}
}

func TestMergeMatchesWhole(t *testing.T) {
	// Inter-packet statistics of two merged halves equal those of the whole series.
	var a, b, whole Side
	ivals := []int64{5, 9, 1, 400, 3, 3, 77, 12, 6}
	for i, v := range ivals {
		whole.AddInterval(v)
		if i < 4 {
			a.AddInterval(v)
		} else {
			b.AddInterval(v)
		}
	}
	a.Pkts, b.Pkts = 1, 1
	mergeSide(&a, &b)
	if a.IntN != whole.IntN || abs(a.IntMean-whole.IntMean) > 1e-9 || abs(a.IntM2-whole.IntM2) > 1e-6 {
		t.Fatalf("merged %+v, whole %+v", a, whole)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestParseFieldList(t *testing.T) {
	f, w, err := ParseFieldList([]string{"stime,saddr:20", "dport spkts"})
	if err != nil || len(f) != 4 || w[1] != 20 || f[3].Name != "spkts" {
		t.Fatalf("got %v %v %v", f, w, err)
	}
	if _, _, err := ParseFieldList([]string{"stime,nosuch"}); err == nil {
		t.Fatal("unknown field accepted")
	}
	for _, name := range []string{"stime", "ltime", "dur", "srcid", "proto", "saddr", "sport", "dir", "daddr", "dport",
		"pkts", "spkts", "dpkts", "bytes", "sbytes", "dbytes", "sappbytes", "dappbytes", "state", "flgs", "smac", "dmac",
		"svlan", "dvlan", "smpls", "dmpls", "sttl", "dttl", "stos", "dtos", "tcprtt", "synack", "ackdat", "sloss",
		"dloss", "sretrans", "dretrans", "sjit", "djit", "sintpkt", "dintpkt", "smeansz", "dmeansz", "smaxsz",
		"sminsz", "dmaxsz", "dminsz", "stcpb", "dtcpb", "cause", "inf"} {
		if _, ok := Lookup(name); !ok {
			t.Errorf("field %q missing from the registry", name)
		}
	}
}

// FuzzReader: any byte string either reads as records that re-encode to the same
// records, or fails with an error; never a panic.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 3; i++ {
		r := randomRecord(rng)
		_ = w.Write(&r)
	}
	_ = w.Flush()
	f.Add(buf.Bytes())
	f.Add(append(append([]byte(nil), buf.Bytes()...), buf.Bytes()...)) // two streams appended
	f.Add(AppendHeader(nil))
	f.Add([]byte("PNPT\x01\x00\x09\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for i := 0; i < 1000; i++ {
			var r Record
			if err := rd.Read(&r); err != nil {
				return
			}
			// Property: a record read back re-encodes and decodes to itself.
			enc := AppendRecord(nil, &r)
			var again Record
			n, k := uvarintAt(enc)
			if err := DecodeRecord(enc[k:k+n], &again, nil); err != nil {
				t.Fatalf("re-decoding %+v: %v", r, err)
			}
			if !reflect.DeepEqual(normalize(r), normalize(again)) {
				t.Fatalf("round trip differs:\n%+v\n%+v", r, again)
			}
		}
	})
}

func uvarintAt(b []byte) (int, int) {
	v, k := uint64(0), 0
	for shift := 0; ; shift += 7 {
		c := b[k]
		k++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int(v), k
		}
	}
}

// normalize clears what a decode of arbitrary bytes may set but the encoder does not
// carry (addresses of a non-IP family, negative durations).
func normalize(r Record) Record {
	if r.Family != 6 {
		clear(r.SrcAddr[4:])
		clear(r.DstAddr[4:])
	}
	if r.LastTime < r.StartTime {
		r.LastTime = r.StartTime
	}
	if i := bytes.IndexByte(r.Inf[:], 0); i >= 0 {
		clear(r.Inf[i:])
	}
	return r
}

// A stream file that several runs appended to (`-w` appends, as Argus's does) holds
// several streams one after another: a reader goes on through each new header, with
// Read and with ReadRaw/Decode alike. Before the fix: "read 2 of 9 records, then f: at
// byte 1227: unknown record kind: kind 78" (the second header's magic read as a record).
func TestConcatenatedStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var file bytes.Buffer
	var want []Record
	for run := range 3 {
		w, err := NewWriter(&file)
		if err != nil {
			t.Fatal(err)
		}
		for range run + 2 {
			r := randomRecord(rng)
			want = append(want, r)
			if err := w.Write(&r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, raw := range []bool{false, true} {
		rd, err := NewReader(bytes.NewReader(file.Bytes()), "f")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; ; n++ {
			var got Record
			if raw {
				var body []byte
				var off int64
				if body, off, err = rd.ReadRaw(nil); err == nil {
					err = rd.Decode(body, off, &got)
				}
			} else {
				err = rd.Read(&got)
			}
			if err != nil {
				break
			}
			if n < len(want) && !reflect.DeepEqual(got, want[n]) {
				t.Fatalf("raw=%v: record %d differs", raw, n)
			}
		}
		if err != io.EOF || n != len(want) {
			t.Fatalf("raw=%v: read %d of %d records, then %v", raw, n, len(want), err)
		}
	}
}

// A stream cut inside its second header is truncated there, like one cut inside a
// record: the records before it are kept.
func TestConcatenatedStreamCutHeader(t *testing.T) {
	var file bytes.Buffer
	w, _ := NewWriter(&file)
	r := Record{Kind: KindFlow, Proto: 6}
	w.Write(&r)
	w.Flush()
	end := file.Len()
	file.Write(AppendHeader(nil)[:10])
	rd, err := NewReader(bytes.NewReader(file.Bytes()), "f")
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.Read(&r); err != nil {
		t.Fatal(err)
	}
	err = rd.Read(&r)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), fmt.Sprintf("at byte %d", end)) {
		t.Fatalf("got %v, want truncated at byte %d", err, end)
	}
}

// headerWithExtra is a stream header that also declares field 250 (bytes), which this
// version does not know: a newer writer's header.
func headerWithExtra() []byte {
	h := AppendHeader(nil)
	n, k := binary.Uvarint(h[8:])
	b := append([]byte(nil), h[:8]...)
	b = binary.AppendUvarint(b, n+1)
	b = append(b, h[8+k:]...)
	b = append(b, 250, WireBytes, 1, 'x')
	binary.LittleEndian.PutUint16(b[6:], uint16(len(b)))
	return b
}

// withExtra encodes r with field 250 appended, as that newer writer would.
func withExtra(r *Record) []byte {
	enc := AppendRecord(nil, r)
	n, k := binary.Uvarint(enc)
	body := append(enc[k:k+int(n):k+int(n)], 250, 1, 0xaa)
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

// Streams with different schemas one after another: each record is decoded with its
// own stream's schema by Decode, even after the reader has moved on to the next; a
// file that changes schema more often than any writer does is refused, not held in
// memory. Before the fix, reading stopped at the second header (as in
// TestConcatenatedStreams); with every record decoded by the first schema, record 1
// (field 250 unknown to it) failed.
func TestConcatenatedSchemas(t *testing.T) {
	r := Record{Kind: KindFlow, Proto: 6, SrcPort: 80}
	file := AppendHeader(nil)
	file = AppendRecord(file, &r)
	file = append(file, headerWithExtra()...)
	file = append(file, withExtra(&r)...)
	file = append(file, AppendHeader(nil)...)
	file = AppendRecord(file, &r)
	type raw struct {
		body []byte
		off  int64
	}
	rd, err := NewReader(bytes.NewReader(file), "f")
	if err != nil {
		t.Fatal(err)
	}
	var bodies []raw // read all first: decoded after the reader has moved on
	for {
		b, off, err := rd.ReadRaw(nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, raw{b, off})
	}
	for i, b := range bodies {
		var got Record
		if err := rd.Decode(b.body, b.off, &got); err != nil || got.SrcPort != 80 {
			t.Fatalf("record %d: %v, SrcPort %d", i, err, got.SrcPort)
		}
	}
	if len(bodies) != 3 {
		t.Fatalf("read %d records, want 3", len(bodies))
	}

	var many []byte
	for i := range maxSchemaChanges + 1 {
		if i%2 == 0 {
			many = append(many, AppendHeader(nil)...)
		} else {
			many = append(many, headerWithExtra()...)
		}
		many = AppendRecord(many, &r)
	}
	rd, err = NewReader(bytes.NewReader(many), "many")
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		err = rd.Read(&r)
	}
	if !errors.Is(err, ErrBadHeader) || !strings.Contains(err.Error(), "changes of schema") {
		t.Fatalf("a file alternating schemas %d times: %v", maxSchemaChanges, err)
	}
}
