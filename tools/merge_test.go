package tools

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"panoptes/record"
)

// TestScanMerged: sources in start-time order come out as one ordered sequence holding
// every record once; stopping early stops every source; a source's error is returned.
func TestScanMerged(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 9))
	var srcs []orderedSource
	var all []int64
	for i := range 5 {
		n := []int{0, 1, 700, 1500, 3000}[i]
		starts := make([]int64, n)
		for j := range starts {
			starts[j] = rng.Int64N(10000)
		}
		slices.Sort(starts)
		all = append(all, starts...)
		srcs = append(srcs, func(fn func(*record.Record) bool) (bool, error) {
			for _, s := range starts {
				if !fn(&record.Record{StartTime: s}) {
					return false, nil
				}
			}
			return true, nil
		})
	}
	slices.Sort(all)
	var got []int64
	more, err := scanMerged(srcs, func(r *record.Record) bool { got = append(got, r.StartTime); return true })
	if err != nil || !more || !slices.Equal(got, all) {
		t.Fatalf("merged %d records (more %v, %v), want %d in order", len(got), more, err, len(all))
	}
	got = got[:0]
	more, err = scanMerged(srcs, func(r *record.Record) bool { got = append(got, r.StartTime); return len(got) < 1000 })
	if err != nil || more || !slices.Equal(got, all[:1000]) {
		t.Fatalf("stopped after %d records (more %v, %v), want the first 1000", len(got), more, err)
	}
	boom := errors.New("boom")
	srcs = append(srcs, func(fn func(*record.Record) bool) (bool, error) {
		fn(&record.Record{StartTime: 5})
		return false, boom
	})
	if _, err := scanMerged(srcs, func(*record.Record) bool { return true }); !errors.Is(err, boom) {
		t.Fatalf("a failing source: %v, want its error", err)
	}
}
