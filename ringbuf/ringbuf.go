// Package ringbuf is the bounded single-producer, single-consumer queue between the
// goroutines of live capture: a capture shard hands finished flow records to the
// writer, and, when the NIC's queues are resharded, a capture goroutine hands decoded
// packets to a flow shard (sensor/live.go). No locks and no allocation after New: a
// producer hands over an element with two atomic operations and a copy, and never waits
// for the consumer.
//
// The ring is bounded on purpose. If the consumer falls behind, TryPushOrDrop refuses
// the element and counts it in Dropped: a slow disk shows up as a counted loss in the
// shard's statistics, never as a capture thread blocked on the writer (which would only
// move the loss to the NIC, where nobody counts it for us).
//
// The consumer polls (PopBatch, then Closed): the sensor's writer drains every shard's
// ring in turn and sleeps a little when all are empty, so no consumer ever blocks on
// one ring, and the producer's push pays for no wake-up protocol. (An earlier Wait that
// parked the consumer on a channel made every push load a "parked" flag, for a
// consumer no production code had.)
//
// The file import does not use rings: it hands records between goroutines in recycled
// batches (sensor/pipeline.go).
//
// # Layout
//
//	buf:  [0] [1] [2] ... [cap-1]        cap is a power of two; slot = index & mask
//	            ^head           ^tail     head, tail count up forever (uint64, no wrap
//	            consumer         producer  in practice); Len = tail - head
//
// The producer owns tail and the consumer owns head; each keeps a private copy of the
// other's index (cachedHead, cachedTail) and reloads it only when its copy says the
// ring is full (producer) or empty (consumer), so in the steady state each side does
// one atomic load of its own line and one atomic store per element. The two indices,
// the two caches and the rarely written closed flag sit on separate 64-byte cache lines
// so that the producer's stores do not invalidate the consumer's line and vice versa.
package ringbuf

import "sync/atomic"

// cacheLine is the false-sharing unit on amd64 and arm64 (the targets we capture on).
const cacheLine = 64

// Ring is a bounded single-producer, single-consumer queue of T. One goroutine may call
// the producer methods (TryPush, TryPushOrDrop, Close), one other goroutine the
// consumer methods (TryPop, PopBatch). Len, Cap, Closed and Dropped may be called from
// anywhere.
//
// Elements are copied in and out. A popped slot keeps its old value until the producer
// overwrites it, so a T holding pointers keeps up to Cap stale referents alive; flow
// records hold none.
//
// # Memory ordering
//
// Go's sync/atomic operations are sequentially consistent, and an atomic store
// happens before any atomic load that observes it. The argument, side by side:
//
//   - Publishing an element: the producer writes buf[t&mask] with a plain store, then
//     tail.Store(t+1). The consumer reads the slot only after a tail.Load() that
//     returned more than t, so the slot write happens before the slot read.
//   - Reusing a slot: the consumer reads buf[h&mask], then head.Store(h+1). The producer
//     writes that slot again (as index h+cap) only after a head.Load() returned more
//     than h, so the consumer's read happens before the producer's overwrite.
//   - The cached indices are plain fields, each touched by one goroutine only. A stale
//     cache only understates how much room (producer) or data (consumer) there is, since
//     both indices only grow, so acting on it is safe; it is refreshed before giving up.
//   - Close: the producer's last tail.Store precedes closed.Store(true) in its program
//     order, so a consumer that sees Closed()==true and then loads tail sees every
//     element ever pushed: Closed() true, then a PopBatch that finds the ring empty, is
//     the end of the stream.
type Ring[T any] struct {
	_ [cacheLine]byte // keep the hot lines away from whatever precedes the Ring

	// Read-only after New.
	buf  []T
	mask uint64
	_    [cacheLine - 24 - 8]byte

	// Producer's line.
	tail       atomic.Uint64 // next index to write
	cachedHead uint64        // producer's last view of head
	dropped    atomic.Uint64 // written by the producer only; read rarely by anyone
	_          [cacheLine - 8 - 8 - 8]byte

	// Consumer's line.
	head       atomic.Uint64 // next index to read
	cachedTail uint64        // consumer's last view of tail
	_          [cacheLine - 8 - 8]byte

	// Rarely written, read by the producer on every push: kept apart from head so the
	// consumer's per-element stores do not bounce the line the producer reads.
	closed atomic.Bool
	_      [cacheLine - 1]byte
}

// New returns an empty ring holding up to capacity elements, rounded up to a power of
// two and to at least 2. All of the ring's memory is allocated here.
func New[T any](capacity int) *Ring[T] {
	n := 2
	for n < capacity {
		if n > (1<<62)/2 {
			panic("ringbuf: capacity too large")
		}
		n <<= 1
	}
	return &Ring[T]{buf: make([]T, n), mask: uint64(n - 1)}
}

// TryPush copies *v into the ring. It returns false, without blocking or allocating, if
// the ring is full or closed. Producer only.
func (r *Ring[T]) TryPush(v *T) bool {
	if r.closed.Load() {
		return false
	}
	return r.push(v)
}

// TryPushOrDrop is TryPush that counts a refusal for lack of room in Dropped. A push
// after Close is refused but not counted: it is a bug in the caller, not a loss.
// Producer only.
func (r *Ring[T]) TryPushOrDrop(v *T) bool {
	if r.closed.Load() {
		return false
	}
	if r.push(v) {
		return true
	}
	r.dropped.Add(1)
	return false
}

func (r *Ring[T]) push(v *T) bool {
	t := r.tail.Load() // our own index: never contended for writing
	if t-r.cachedHead > r.mask {
		r.cachedHead = r.head.Load()
		if t-r.cachedHead > r.mask {
			return false
		}
	}
	r.buf[t&r.mask] = *v
	r.tail.Store(t + 1)
	return true
}

// TryPop copies the oldest element into *v and removes it. It returns false if the ring
// is empty. Consumer only.
func (r *Ring[T]) TryPop(v *T) bool {
	h := r.head.Load()
	if h == r.cachedTail {
		r.cachedTail = r.tail.Load()
		if h == r.cachedTail {
			return false
		}
	}
	*v = r.buf[h&r.mask]
	r.head.Store(h + 1)
	return true
}

// PopBatch copies up to len(dst) of the oldest elements into dst, removes them and
// returns how many it copied (0 if the ring is empty). One head update covers the whole
// batch. Consumer only.
func (r *Ring[T]) PopBatch(dst []T) int {
	h := r.head.Load()
	avail := r.cachedTail - h
	if avail < uint64(len(dst)) {
		r.cachedTail = r.tail.Load()
		avail = r.cachedTail - h
	}
	n := min(avail, uint64(len(dst)))
	if n == 0 {
		return 0
	}
	// At most two runs: from the head slot to the end of buf, then from the start.
	start := h & r.mask
	c := copy(dst[:n], r.buf[start:])
	if uint64(c) < n {
		copy(dst[c:n], r.buf)
	}
	r.head.Store(h + n)
	return int(n)
}

// Len returns the number of elements in the ring. While the producer or consumer is
// running the answer is already stale when it returns; it is meant for statistics.
func (r *Ring[T]) Len() int {
	h := r.head.Load() // head first: tail never falls behind a head loaded earlier
	t := r.tail.Load()
	return int(min(t-h, r.mask+1))
}

// Cap returns the number of elements the ring holds when full.
func (r *Ring[T]) Cap() int { return len(r.buf) }

// Close marks the end of the producer's stream: no more pushes will succeed. The
// consumer still receives everything pushed before Close: a PopBatch that finds the
// ring empty after Closed returned true ends the stream. Producer only; closing twice
// is harmless.
func (r *Ring[T]) Close() { r.closed.Store(true) }

// Closed reports whether Close has been called.
func (r *Ring[T]) Closed() bool { return r.closed.Load() }

// Dropped returns how many TryPushOrDrop calls were refused because the ring was full.
func (r *Ring[T]) Dropped() uint64 { return r.dropped.Load() }
