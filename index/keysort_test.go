package index

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// randKeys returns n keys whose starts spread over span ns (ties included when span is
// small), in a random order or, with nearly, mostly ascending.
func randKeys(rng *rand.Rand, n int, span int64, nearly bool) []recKey {
	keys := make([]recKey, n)
	base := rng.Int64N(1<<62) - 1<<61 // negative starts too
	for i := range keys {
		s := base + rng.Int64N(span+1)
		if nearly {
			// As a sensor's blocks: in order of the flows' ends, so that a fifth of the
			// starts come before the one they follow.
			s = base + int64(i)*span/int64(n)
			if rng.IntN(5) == 0 {
				s -= rng.Int64N(span/20 + 1)
			}
		}
		keys[i] = recKey{start: s, src: uint32(rng.IntN(3)), seq: uint32(rng.IntN(1000)), i: int32(i)}
	}
	return keys
}

// sortRecKeys orders keys as slices.SortFunc with keyCmp does, on random key sets of
// every size, with starts that tie, spread over a few ns or over the whole range.
func TestSortRecKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var tmp []recKey
	for range 3000 {
		n := rng.IntN(3000)
		if rng.IntN(4) == 0 {
			n = rng.IntN(70)
		}
		span := []int64{0, 5, 1000, 1 << 40, 1<<62 - 1}[rng.IntN(5)]
		keys := randKeys(rng, n, span, rng.IntN(2) == 0)
		want := slices.Clone(keys)
		slices.SortStableFunc(want, keyCmp)
		tmp = sortRecKeys(keys, tmp)
		for i := range keys {
			if keyCmp(keys[i], want[i]) != 0 {
				t.Fatalf("n %d span %d: key %d is %+v, want %+v", n, span, i, keys[i], want[i])
			}
		}
		// Same multiset: every original index once.
		seen := make([]bool, n)
		for _, k := range keys {
			if seen[k.i] {
				t.Fatalf("n %d: index %d twice", n, k.i)
			}
			seen[k.i] = true
		}
	}
}

// BenchmarkSortRecKeys: a block's keys (2,500, starts over 5 minutes, a sixth of them
// before the one they follow, as in the benchmark archive's blocks: 430 of 2,235), and
// keys in random order, by sortRecKeys and by slices.SortFunc.
func BenchmarkSortRecKeys(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, nearly := range []bool{true, false} {
		keys := randKeys(rng, 2500, 300e9, nearly)
		name := "random"
		if nearly {
			name = "nearly"
		}
		b.Run(name, func(b *testing.B) { benchSortRecKeys(b, keys) })
	}
}

func benchSortRecKeys(b *testing.B, keys []recKey) {
	work := make([]recKey, len(keys))
	var tmp []recKey
	b.Run("radix", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			copy(work, keys)
			tmp = sortRecKeys(work, tmp)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
	})
	b.Run("sortfunc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			copy(work, keys)
			slices.SortFunc(work, keyCmp)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
	})
}
