package tools

import (
	"bytes"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"panoptes/record"
)

// peakHeap runs fn and returns the most heap memory in use while it ran, above what
// was in use before (sampled every millisecond, and the heap's retained size at the
// end, which only shrinks when the runtime returns pages to the system).
func peakHeap(fn func()) int64 {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	return peakOf(func() int64 {
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapSys - ms.HeapReleased)
	}, fn)
}

// goalPeakHeap runs fn and returns the peak of the garbage collector's heap goal while
// it ran (twice the live heap at the last collection, GOGC=100) above the goal before:
// what a collector keeping pace holds the heap to. peakHeap's heap size also counts
// how far a collector starved of CPU fell behind: in CI, with other packages' tests
// running, hosts took 330 bytes a pair and ports 283 an entry there, where quiet runs
// take 233 and 174, three times in a row.
func goalPeakHeap(fn func()) int64 {
	sample := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	return peakOf(func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}, fn)
}

// peakOf runs fn after a collection and returns the most measure gave while it ran
// (sampled every millisecond) above what it gave before.
func peakOf(measure func() int64, fn func()) int64 {
	runtime.GC()
	before := measure()
	peak := before
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			peak = max(peak, measure())
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak - before
}

// TestSortMemoryPerRecord sorts 200000 records and compares the heap it needed with
// what sort's --max-records bound and its error message assume a record costs
// (sortBytesPerRecord). Before the fix: 1384 bytes a record, where the message promised
// 404 (the record slice grown by append is up to twice the records' size and leaves
// its old copies to the garbage collector); the binary's peak RSS for 1 M records was
// 1.47 GB, after it 413 MB.
func TestSortMemoryPerRecord(t *testing.T) {
	const n = 200_000
	recs := fixture()[1:]
	var stderr bytes.Buffer
	big := make([]record.Record, 0, n)
	for i := 0; len(big) < n; i++ {
		r := recs[i%len(recs)]
		r.StartTime += int64(n - i)
		big = append(big, r)
	}
	path := writeStream(t, big)
	big = nil
	var err error
	peak := peakHeap(func() { err = SortMain([]string{"-r", path, "-w", "-"}, bytes.NewReader(nil), io.Discard, &stderr) })
	if err != nil {
		t.Fatal(err)
	}
	per := peak / n
	t.Logf("%d bytes a record (bound assumes %d)", per, sortBytesPerRecord)
	if per > sortBytesPerRecord {
		t.Errorf("sort used %d bytes a record, its bound and message assume %d", per, sortBytesPerRecord)
	}
}
