package record

import (
	"runtime"
	"slices"
	"syscall"
	"testing"
	"unsafe"
)

func threadCPU() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func TestZZTime(t *testing.T) {
	b := &testing.B{}
	blocks := benchBlocks(benchRecords(b))
	n := countRecords(blocks)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var e ColumnEncoder
	var buf []byte
	var news, refs, ratios []float64
	for range 30 {
		t0 := threadCPU()
		for _, bl := range blocks {
			buf = e.Append(buf[:0], bl.recs)
		}
		t1 := threadCPU()
		for _, bl := range blocks {
			buf = appendColumnsRef(buf[:0], bl.recs)
		}
		t2 := threadCPU()
		a, r := float64(t1-t0)/float64(n), float64(t2-t1)/float64(n)
		news, refs, ratios = append(news, a), append(refs, r), append(ratios, r/a)
	}
	slices.Sort(news)
	slices.Sort(refs)
	slices.Sort(ratios)
	t.Logf("new min %.1f med %.1f; ref min %.1f med %.1f ns/record; ratio med %.2f", news[0], news[15], refs[0], refs[15], ratios[15])
}
