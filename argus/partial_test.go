package argus

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"testing"
	"time"

	"panoptes/record"
)

// checkDecodeKey reads the Argus stream b record by record and checks DecodeKey
// against Decode on each: the same flow key fields, the same skipped-DSR counts, false
// exactly when Decode fails, and DecodeRest giving Decode's record or error. It
// returns the number of records checked.
func checkDecodeKey(t *testing.T, b []byte) int {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(b), "test.argus")
	if err != nil {
		return 0
	}
	fast, full := rd.NewDecoder(), rd.NewDecoder()
	var raw []byte
	n := 0
	for {
		var off int64
		raw, off, err = rd.ReadRaw(raw[:0])
		if err != nil {
			return n
		}
		n++
		checkRecord(t, fast, full, raw, off)
		checkKeyIn(t, rd, raw, off)
	}
}

// checkRecord checks DecodeKey against Decode on one record that ReadRaw returned.
func checkRecord(t *testing.T, fast, full *Decoder, raw []byte, off int64) {
	t.Helper()
	var key, want, got record.Record
	// DecodeKey reuses the record it is given: it must set every key field, whatever
	// the record held before.
	key.Kind, key.Family, key.EtherType, key.Proto = 99, 6, 0xffff, 0xff
	for i := range key.SrcAddr {
		key.SrcAddr[i], key.DstAddr[i] = 0xee, 0xdd
	}
	key.SrcPort, key.DstPort = 0xffff, 0xfffe
	ok := fast.DecodeKey(raw, &key)
	werr := full.Decode(raw, off, &want)
	if ok != (werr == nil) {
		t.Fatalf("record at %d: DecodeKey ok=%v, Decode error %v", off, ok, werr)
	}
	if fast.Skipped != full.Skipped {
		t.Fatalf("record at %d: DecodeKey counted skipped DSRs %v, Decode %v", off, nonzero(fast.Skipped), nonzero(full.Skipped))
	}
	gerr := fast.DecodeRest(raw, off, &got)
	if fast.Skipped != full.Skipped {
		t.Fatalf("record at %d: DecodeRest counted skipped DSRs again", off)
	}
	if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
		t.Fatalf("record at %d: DecodeRest error %v, Decode error %v", off, gerr, werr)
	}
	if werr != nil {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("record at %d: DecodeRest\n%+v\nDecode\n%+v", off, got, want)
	}
	if key.Kind != want.Kind || key.Family != want.Family || key.EtherType != want.EtherType ||
		key.Proto != want.Proto || key.SrcAddr != want.SrcAddr || key.DstAddr != want.DstAddr ||
		key.SrcPort != want.SrcPort || key.DstPort != want.DstPort {
		t.Fatalf("record at %d: key\n%+v\nDecode\n%+v", off, key, want)
	}
}

// checkKeyIn checks DecodeKeyIn against Decode on one record, with address sets that
// hold one of its addresses, none of them, and every address: the same ok and skipped
// counts as Decode; in false only for an IPv4 or IPv6 record neither of whose
// addresses is in the set, and otherwise DecodeKey's key.
func checkKeyIn(t *testing.T, rd *Reader, raw []byte, off int64) {
	t.Helper()
	var want record.Record
	ref := rd.NewDecoder()
	werr := ref.Decode(raw, off, &want)
	addr := func(a [16]byte) netip.Addr {
		if want.Family == 6 {
			return netip.AddrFrom16(a)
		}
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	sets := [][]netip.Prefix{
		nil,
		{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
		{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
	}
	if want.Family == 4 || want.Family == 6 {
		s, d := addr(want.SrcAddr), addr(want.DstAddr)
		sets = append(sets, []netip.Prefix{netip.PrefixFrom(s, s.BitLen())}, []netip.Prefix{netip.PrefixFrom(d, d.BitLen()-7).Masked()})
	}
	for _, ps := range sets {
		pre := rd.NewDecoder()
		var key record.Record
		in, ok := pre.DecodeKeyIn(raw, &key, NewAddrSet(ps))
		if ok != (werr == nil) {
			t.Fatalf("record at %d, set %v: DecodeKeyIn ok=%v, Decode error %v", off, ps, ok, werr)
		}
		if pre.Skipped != ref.Skipped {
			t.Fatalf("record at %d, set %v: DecodeKeyIn counted skipped DSRs %v, Decode %v", off, ps, nonzero(pre.Skipped), nonzero(ref.Skipped))
		}
		if werr != nil {
			continue
		}
		inSet := func(a [16]byte) bool {
			for _, p := range ps {
				if p.Contains(addr(a)) {
					return true
				}
			}
			return false
		}
		if !in {
			if want.Kind != record.KindFlow || (want.Family != 4 && want.Family != 6) || inSet(want.SrcAddr) || inSet(want.DstAddr) {
				t.Fatalf("record at %d, set %v: DecodeKeyIn says not in the set; Decode %+v", off, ps, want)
			}
			continue
		}
		if key.Kind != want.Kind || key.Family != want.Family || key.EtherType != want.EtherType ||
			key.Proto != want.Proto || key.SrcAddr != want.SrcAddr || key.DstAddr != want.DstAddr ||
			key.SrcPort != want.SrcPort || key.DstPort != want.DstPort {
			t.Fatalf("record at %d, set %v: key\n%+v\nDecode\n%+v", off, ps, key, want)
		}
		if (want.Family == 4 || want.Family == 6) && want.Kind == record.KindFlow && !inSet(want.SrcAddr) && !inSet(want.DstAddr) && flowKeyIsIP(raw) {
			t.Fatalf("record at %d, set %v: DecodeKeyIn decoded a key with no address in the set", off, ps)
		}
	}
}

// flowKeyIsIP reports whether the record's one flow DSR is an IPv4 or IPv6 key that
// decodeFlow maps: the records DecodeKeyIn must test, not decode.
func flowKeyIsIP(b []byte) bool {
	n := 0
	var fam uint8
	for p := RecordHeaderLen; p+DSRHeaderLen <= len(b); {
		t, l := dsrAt(b, p)
		if l < DSRHeaderLen || p+l > len(b) {
			return false
		}
		if t == DSRFlow {
			n++
			_, _, fam = flowAddrs(b[p : p+l])
		}
		p += l
	}
	return n == 1 && fam != 0
}

func nonzero(s [128]uint64) map[int]uint64 {
	m := map[int]uint64{}
	for i, n := range s {
		if n > 0 {
			m[i] = n
		}
	}
	return m
}

// randomStream writes n random records (IPv4, IPv6, ARP and other non-IP flows, TCP
// with and without a SYN seen, management records) as an Argus stream.
func randomStream(t testing.TB, rng *rand.Rand, n int) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	protos := []uint8{1, 6, 6, 6, 17, 17, 47, 58, 132}
	for range n {
		var r record.Record
		r.Kind = record.KindFlow
		r.Cause = record.CauseClose
		r.StartTime = 1_700_000_000e9 + rng.Int64N(1e12)
		r.LastTime = r.StartTime + rng.Int64N(1e10)
		switch rng.IntN(10) {
		case 0:
			r.Kind = record.KindMan
			r.Man = &record.Management{PktsSeen: rng.Uint64N(1000)}
		case 1:
			r.EtherType = []uint16{0x0806, 0x88cc}[rng.IntN(2)]
		case 2, 3:
			r.Family, r.EtherType = 6, 0x86DD
		default:
			r.Family, r.EtherType = 4, 0x0800
		}
		for i := range 16 {
			r.SrcAddr[i], r.DstAddr[i] = byte(rng.IntN(4)), byte(rng.IntN(4))
		}
		if r.Family != 0 {
			r.Proto = protos[rng.IntN(len(protos))]
			r.SrcPort, r.DstPort = uint16(rng.IntN(1000)), uint16(rng.IntN(1000))
		}
		r.TCPState = uint16(rng.IntN(1 << 12))
		r.Src = record.Side{Pkts: rng.Uint64N(100), Bytes: rng.Uint64N(1 << 20), TTL: uint8(rng.IntN(256))}
		r.Dst = record.Side{Pkts: rng.Uint64N(3), Bytes: rng.Uint64N(1 << 40)}
		r.SrcID = rng.Uint32N(4)
		if rng.IntN(4) == 0 {
			r.Label = "l" + string(rune('a'+rng.IntN(3)))
		}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeKeyInputs(t testing.TB) [][]byte {
	var in [][]byte
	for _, n := range []string{"testdata/443-curl.argus", "testdata/5-pings.argus"} {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, b)
	}
	return append(in, randomStream(t, rand.New(rand.NewPCG(1, 2)), 400))
}

// TestDecodeKeyMatchesDecode checks DecodeKey against Decode on Argus's own records, on
// random records, and on every one-byte change of Argus's records and of some random
// ones (a flipped reverse bit, a damaged DSR length, an unknown DSR type).
func TestDecodeKeyMatchesDecode(t *testing.T) {
	in := decodeKeyInputs(t)
	total := 0
	for _, b := range in {
		total += checkDecodeKey(t, b)
	}
	if total < 400 {
		t.Fatalf("checked only %d records", total)
	}
	// Every one-byte change of every record of Argus's files, but for the type byte
	// (ReadRaw vouches for a management record's length by its type).
	// The random records (the first 30: no user data, so DecodeKeyIn keeps their
	// layouts, and a changed one is compared with the layout of the record unchanged).
	for n, b := range in {
		rd, err := NewReader(bytes.NewReader(b), "test.argus")
		if err != nil {
			t.Fatal(err)
		}
		fast, full := rd.NewDecoder(), rd.NewDecoder()
		for k := 0; n < 2 || k < 30; k++ {
			raw, off, err := rd.ReadRaw(nil)
			if err != nil {
				break
			}
			for i := 1; i < len(raw); i++ {
				for _, x := range []byte{0x01, 0x02, 0x40, 0x80, 0xff} {
					raw[i] ^= x
					checkRecord(t, fast, full, raw, off)
					checkKeyIn(t, rd, raw, off)
					raw[i] ^= x
				}
			}
		}
	}
}

// FuzzDecodeKey: on any input, DecodeKey agrees with Decode (checkDecodeKey).
func FuzzDecodeKey(f *testing.F) {
	for _, b := range decodeKeyInputs(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeKey(t, b)
	})
}
