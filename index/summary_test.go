package index

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// FuzzDecodeSummary: a stored block summary ('b' value) of any bytes decodes or is an
// error, never a panic; one that decodes is made again by summaryValue into a value
// that decodes to the same block, bits and totals (with or without them: format
// versions 2-3 and 4).
func FuzzDecodeSummary(f *testing.F) {
	info := BlockInfo{Offset: 4096, Length: 9000, Records: 300, MinStart: 1e18, MaxLast: 1e18 + 5e9}
	var s blockSummary
	s.b[0] = summaryIPv4
	f.Add(summaryValue(&info, &s)) // no totals
	s.hasTot, s.tot = true, Totals{Flows: 299, SrcPkts: 1 << 40, DstPkts: 7, SrcBytes: 1e12, DstBytes: 0}
	f.Add(summaryValue(&info, &s))
	f.Add([]byte{})
	f.Fuzz(checkDecodeSummary)
}

// TestDecodeSummaryRandom runs FuzzDecodeSummary's property over random changes of
// valid summaries (the fuzzing engine is slow on this package's large binary).
func TestDecodeSummaryRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	info := BlockInfo{Offset: 4096, Length: 9000, Records: 300, MinStart: 1e18, MaxLast: 1e18 + 5e9}
	var s blockSummary
	for range 20000 {
		s.hasTot = rng.IntN(2) == 0
		s.tot = Totals{Flows: rng.Uint64N(400), SrcPkts: rng.Uint64() >> rng.IntN(64), DstPkts: rng.Uint64N(1000), SrcBytes: rng.Uint64() >> rng.IntN(64)}
		v := summaryValue(&info, &s)
		switch rng.IntN(4) {
		case 0:
			v[rng.IntN(len(v))] ^= byte(1 + rng.IntN(255))
		case 1:
			v = v[:rng.IntN(len(v)+1)]
		case 2:
			v = append(v, byte(rng.IntN(256)))
		}
		checkDecodeSummary(t, v)
	}
}

func checkDecodeSummary(t *testing.T, v []byte) {
	t.Helper()
	key := sumKey(12, 4096)
	var got BlockInfo
	var sum blockSummary
	if err := decodeSummary("fuzz", key, v, &got, &sum); err != nil {
		return
	}
	if sum.hasTot && sum.tot.Flows > uint64(got.Records) {
		t.Fatalf("%d flows in a block of %d records accepted", sum.tot.Flows, got.Records)
	}
	again := summaryValue(&got, &sum)
	var got2 BlockInfo
	var sum2 blockSummary
	if err := decodeSummary("fuzz", key, again, &got2, &sum2); err != nil {
		t.Fatalf("re-encoded summary does not decode: %v", err)
	}
	if got2 != got || sum2 != sum {
		t.Fatalf("round trip: %+v %+v, then %+v %+v", got, sum.tot, got2, sum2.tot)
	}
	if got.Offset != int64(binary.BigEndian.Uint64(key[9:])) {
		t.Fatalf("offset %d, key says %d", got.Offset, binary.BigEndian.Uint64(key[9:]))
	}
}
