package tools

import (
	"container/heap"
	"context"
	"errors"
	"sync"

	"panoptes/record"
)

// orderedSource reads one input whose records come in start-time order (a database
// table read with ORDER BY stime, day table after day table; an archive), calling fn
// with each; fn returns false to stop (the source then returns false).
type orderedSource func(fn func(*record.Record) bool) (bool, error)

// mergeBatch is how many records a source hands the merge at once.
const mergeBatch = 512

// scanMerged reads the sources at once and calls fn with their records merged in
// start-time order (ties: the earlier source first), which is what a query over the
// hybrid repository (recent days in a database, older ones in a file archive) needs to
// print one time line. Each source runs in its own goroutine a few batches ahead.
func scanMerged(srcs []orderedSource, fn func(*record.Record) bool) (bool, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		err  error
		more bool
	}
	chans := make([]chan []record.Record, len(srcs))
	results := make([]result, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		ch := make(chan []record.Record, 4)
		chans[i] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			buf := make([]record.Record, 0, mergeBatch)
			send := func() bool {
				select {
				case ch <- buf:
					buf = make([]record.Record, 0, mergeBatch)
					return true
				case <-ctx.Done():
					return false
				}
			}
			more, err := src(func(r *record.Record) bool {
				c := *r
				if r.Man != nil {
					m := *r.Man
					c.Man = &m
				}
				buf = append(buf, c)
				return len(buf) < mergeBatch || send()
			})
			if err == nil && more && len(buf) > 0 {
				more = send()
			}
			results[i] = result{err, more}
		}()
	}
	h := &mergeHeap{}
	// next takes source i's next batch; a source that ended on an error stops the merge
	// (its result is set before its channel is closed).
	next := func(i int) bool {
		if b, ok := <-chans[i]; ok {
			heap.Push(h, mergeHead{src: i, recs: b})
			return true
		}
		return results[i].err == nil
	}
	stopped := false
	for i := range srcs {
		if !next(i) {
			stopped = true
			break
		}
	}
	for !stopped && h.Len() > 0 {
		top := &(*h)[0]
		if !fn(&top.recs[0]) {
			stopped = true
			break
		}
		top.recs = top.recs[1:]
		if len(top.recs) == 0 {
			i := top.src
			heap.Pop(h)
			stopped = !next(i)
		} else {
			heap.Fix(h, 0)
		}
	}
	cancel()
	for _, ch := range chans {
		for range ch { // let the sources see the cancel and end
		}
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	return !stopped, nil
}

type mergeHead struct {
	src  int
	recs []record.Record
}

type mergeHeap []mergeHead

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	a, b := h[i].recs[0].StartTime, h[j].recs[0].StartTime
	return a < b || (a == b && h[i].src < h[j].src)
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeHead)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
