package fleet

import (
	"context"
	"testing"

	"panoptes/record"
)

// mergeInput returns sites streams of n records each, in batches of mergeBatch, whose
// start times interleave.
func mergeInput(sites, n int) []*siteStream {
	streams := make([]*siteStream, sites)
	for s := range streams {
		st := &siteStream{res: SiteResult{Site: string(rune('a' + s))}, batches: make(chan []record.Record, n/mergeBatch+1)}
		for i := 0; i < n; i += mergeBatch {
			b := make([]record.Record, min(mergeBatch, n-i))
			for j := range b {
				b[j].StartTime = int64((i+j)*sites + s)
			}
			st.batches <- b
		}
		close(st.batches)
		streams[s] = st
	}
	return streams
}

// TestMergeOrder: the merge of interleaved streams is in start-time order and
// complete, and stops when asked.
func TestMergeOrder(t *testing.T) {
	var got []int64
	mergeStreams(context.Background(), mergeInput(3, 1000), func(_ string, r *record.Record) bool {
		got = append(got, r.StartTime)
		return true
	})
	if len(got) != 3000 {
		t.Fatalf("%d records, want 3000", len(got))
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("record %d has start %d", i, v)
		}
	}
	n := 0
	mergeStreams(context.Background(), mergeInput(3, 1000), func(string, *record.Record) bool { n++; return n < 10 })
	if n != 10 {
		t.Errorf("stopped merge passed %d records, want 10", n)
	}
}

// BenchmarkMerge: the client's merge of three sites' records is on the path of every
// fleet read; it must cost little beside the sites' scans (no allocation per record).
func BenchmarkMerge(b *testing.B) {
	const n = 100_000
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		in := mergeInput(3, n)
		b.StartTimer()
		mergeStreams(context.Background(), in, func(string, *record.Record) bool { return true })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*3*n), "ns/record")
}
