package index

import (
	"errors"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"panoptes/record"
)

// A full scan gives every record written, in order of start time, then source, then
// sequence number, however many workers decode the blocks (the merge, not the order in
// which workers finish, decides the order).
func TestParallelScanOrder(t *testing.T) {
	dir := t.TempDir()
	recs := genRecords(20000, 5)
	writeArchive(t, dir, recs)
	want := slices.Clone(recs)
	slices.SortStableFunc(want, func(a, b record.Record) int {
		x := recKey{start: a.StartTime, src: a.SrcID, seq: a.Seq}
		y := recKey{start: b.StartTime, src: b.SrcID, seq: b.Seq}
		return keyCmp(x, y)
	})
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, procs := range []int{1, 2, 7} {
		prev := runtime.GOMAXPROCS(procs)
		got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
		runtime.GOMAXPROCS(prev)
		if len(got) != len(want) {
			t.Fatalf("GOMAXPROCS %d: scan gave %d records, wrote %d", procs, len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("GOMAXPROCS %d: record %d is %+v, want %+v", procs, i, got[i], want[i])
			}
		}
	}
}

// A query that fn ends returns fn's error, and leaves no goroutine behind (the
// dispatcher and the workers stop, the files are closed).
func TestParallelScanStops(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, genRecords(20000, 6))
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	before := runtime.NumGoroutine()
	stop := errors.New("enough")
	for _, after := range []int{0, 1, 5000} {
		n := 0
		err := a.Scan(nil, func(*record.Record) error {
			if n == after {
				return stop
			}
			n++
			return nil
		})
		if !errors.Is(err, stop) || n != after {
			t.Fatalf("stopping after %d records: %d records, error %v", after, n, err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the queries, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A scan allocates per query (the index iterators, the segment files and their headers,
// a few batches that grow to the blocks' size), not per record: the records are decoded
// into reused storage. Before the parallel reader every record was copied onto the
// heap, and this failed.
func TestParallelScanAllocations(t *testing.T) {
	dir := t.TempDir()
	const n = 20000
	// One segment per source: a segment costs its header's parse, some dozens of
	// allocations.
	recs := genRecords(n, 7)
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(24 * time.Hour)
	w.blockBytes = 4 << 10
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a, err = Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	blocks, err := a.blocksFor(-1<<62, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(3, func() {
		if err := a.Scan(nil, func(*record.Record) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > n/20 {
		t.Errorf("a scan of %d records in %d blocks made %.0f allocations", n, len(blocks), allocs)
	}
	t.Logf("%d records, %d blocks: %.0f allocations per scan", n, len(blocks), allocs)
}

// QueryUnordered gives the records Query gives, in some order.
func TestQueryUnorderedSameRecords(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, genRecords(20000, 8))
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	byKey := func(x, y record.Record) int {
		return keyCmp(recKey{start: x.StartTime, src: x.SrcID, seq: x.Seq}, recKey{start: y.StartTime, src: y.SrcID, seq: y.Seq})
	}
	odd := func(r *record.Record) bool { return r.Seq%2 == 1 }
	for _, w := range [][2]int64{{-1 << 62, 1 << 62}, {t0 + int64(time.Hour), t0 + int64(time.Hour+10*time.Minute)}, {0, 1}} {
		want := collect(t, func(fn func(*record.Record) error) error { return a.Query(w[0], w[1], odd, fn) })
		got := collect(t, func(fn func(*record.Record) error) error { return a.QueryUnordered(w[0], w[1], odd, fn) })
		slices.SortFunc(got, byKey)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("window %v: unordered query gave %d records, query %d (or others)", w, len(got), len(want))
		}
	}
}
