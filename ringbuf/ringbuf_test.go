package ringbuf

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"
)

func TestNewCapacity(t *testing.T) {
	for _, tc := range []struct {
		name      string
		capacity  int
		wantCap   int
		wantSlots int
	}{
		{"negative", -5, 2, 2},
		{"zero", 0, 2, 2},
		{"one", 1, 2, 2},
		{"two", 2, 2, 2},
		{"three", 3, 4, 4},
		{"power of two", 64, 64, 64},
		{"just above", 65, 128, 128},
		{"large", 1000, 1024, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New[int](tc.capacity)
			if got := r.Cap(); got != tc.wantCap {
				t.Errorf("New(%d).Cap() = %d, want %d", tc.capacity, got, tc.wantCap)
			}
			// The ring really holds Cap elements: exactly that many pushes succeed.
			n := 0
			for v := 0; r.TryPush(&v); v++ {
				n++
			}
			if n != tc.wantSlots {
				t.Errorf("New(%d) took %d pushes before full, want %d", tc.capacity, n, tc.wantSlots)
			}
		})
	}
}

// TestLayout checks the padding: the producer's and consumer's hot fields must not share
// a cache line with each other or with the flags the producer reads on every push.
func TestLayout(t *testing.T) {
	var r Ring[[3]uint64]
	offs := []struct {
		name string
		off  uintptr
	}{
		{"buf", unsafe.Offsetof(r.buf)},
		{"tail", unsafe.Offsetof(r.tail)},
		{"head", unsafe.Offsetof(r.head)},
		{"closed", unsafe.Offsetof(r.closed)},
	}
	for i := 1; i < len(offs); i++ {
		if d := offs[i].off - offs[i-1].off; d < cacheLine {
			t.Errorf("%s is %d bytes after %s, want >= %d", offs[i].name, d, offs[i-1].name, cacheLine)
		}
	}
	if offs[0].off < cacheLine {
		t.Errorf("buf at offset %d, want >= %d (leading pad)", offs[0].off, cacheLine)
	}
	if tail := unsafe.Sizeof(r) - unsafe.Offsetof(r.closed); tail < cacheLine {
		t.Errorf("only %d bytes from closed to the end of Ring, want trailing pad", tail)
	}
}

// op is one step of a scripted single-goroutine run.
type op struct {
	do   string // push, pushdrop, pop, batch, close
	v    int    // value to push; for batch, len(dst)
	ok   bool   // wanted result of push/pushdrop/pop
	want []int  // wanted value (pop) or values (batch)
}

func TestScript(t *testing.T) {
	for _, tc := range []struct {
		name        string
		capacity    int
		ops         []op
		wantLen     int
		wantDropped uint64
	}{
		{
			name:     "fifo order",
			capacity: 4,
			ops: []op{
				{do: "push", v: 1, ok: true}, {do: "push", v: 2, ok: true}, {do: "push", v: 3, ok: true},
				{do: "pop", ok: true, want: []int{1}}, {do: "pop", ok: true, want: []int{2}},
				{do: "pop", ok: true, want: []int{3}},
			},
		},
		{
			name:     "empty pop",
			capacity: 4,
			ops: []op{
				{do: "pop", ok: false},
				{do: "push", v: 7, ok: true}, {do: "pop", ok: true, want: []int{7}},
				{do: "pop", ok: false},
			},
		},
		{
			name:     "full push refused, then room again",
			capacity: 2,
			ops: []op{
				{do: "push", v: 1, ok: true}, {do: "push", v: 2, ok: true},
				{do: "push", v: 3, ok: false},
				{do: "pop", ok: true, want: []int{1}},
				{do: "push", v: 4, ok: true},
				{do: "pop", ok: true, want: []int{2}}, {do: "pop", ok: true, want: []int{4}},
			},
		},
		{
			name:     "wrap around many times",
			capacity: 2,
			ops: func() []op {
				var ops []op
				for i := range 10 {
					ops = append(ops, op{do: "push", v: i, ok: true}, op{do: "pop", ok: true, want: []int{i}})
				}
				return ops
			}(),
		},
		{
			name:     "batch of everything",
			capacity: 4,
			ops: []op{
				{do: "push", v: 1, ok: true}, {do: "push", v: 2, ok: true}, {do: "push", v: 3, ok: true},
				{do: "batch", v: 8, want: []int{1, 2, 3}},
				{do: "batch", v: 8, want: []int{}},
			},
		},
		{
			name:     "batch smaller than contents",
			capacity: 8,
			ops: []op{
				{do: "push", v: 1, ok: true}, {do: "push", v: 2, ok: true}, {do: "push", v: 3, ok: true},
				{do: "batch", v: 2, want: []int{1, 2}},
				{do: "batch", v: 2, want: []int{3}},
			},
			wantLen: 0,
		},
		{
			name:     "batch into empty dst",
			capacity: 4,
			ops: []op{
				{do: "push", v: 1, ok: true},
				{do: "batch", v: 0, want: []int{}},
			},
			wantLen: 1,
		},
		{
			name:     "batch across the wrap",
			capacity: 4,
			ops: []op{
				{do: "push", v: 1, ok: true}, {do: "push", v: 2, ok: true}, {do: "push", v: 3, ok: true},
				{do: "pop", ok: true, want: []int{1}}, {do: "pop", ok: true, want: []int{2}},
				{do: "push", v: 4, ok: true}, {do: "push", v: 5, ok: true}, {do: "push", v: 6, ok: true},
				{do: "push", v: 7, ok: false},
				{do: "batch", v: 4, want: []int{3, 4, 5, 6}},
			},
		},
		{
			name:     "dropped counts only full refusals by TryPushOrDrop",
			capacity: 2,
			ops: []op{
				{do: "pushdrop", v: 1, ok: true}, {do: "pushdrop", v: 2, ok: true},
				{do: "pushdrop", v: 3, ok: false}, {do: "pushdrop", v: 4, ok: false},
				{do: "push", v: 5, ok: false}, // plain TryPush is not counted
				{do: "pop", ok: true, want: []int{1}},
				{do: "pushdrop", v: 6, ok: true},
			},
			wantLen:     2,
			wantDropped: 2,
		},
		{
			name:     "push after close refused, not counted",
			capacity: 4,
			ops: []op{
				{do: "push", v: 1, ok: true}, {do: "close"},
				{do: "push", v: 2, ok: false}, {do: "pushdrop", v: 3, ok: false},
				{do: "pop", ok: true, want: []int{1}}, {do: "pop", ok: false},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New[int](tc.capacity)
			for i, o := range tc.ops {
				switch o.do {
				case "push", "pushdrop":
					v := o.v
					var ok bool
					if o.do == "push" {
						ok = r.TryPush(&v)
					} else {
						ok = r.TryPushOrDrop(&v)
					}
					if ok != o.ok {
						t.Fatalf("op %d: %s(%d) = %v, want %v", i, o.do, o.v, ok, o.ok)
					}
				case "pop":
					v := -1
					ok := r.TryPop(&v)
					if ok != o.ok {
						t.Fatalf("op %d: TryPop = %v, want %v", i, ok, o.ok)
					}
					if ok && v != o.want[0] {
						t.Fatalf("op %d: TryPop got %d, want %d", i, v, o.want[0])
					}
				case "batch":
					dst := make([]int, o.v)
					n := r.PopBatch(dst)
					if fmt.Sprint(dst[:n]) != fmt.Sprint(o.want) {
						t.Fatalf("op %d: PopBatch(len %d) got %v, want %v", i, o.v, dst[:n], o.want)
					}
				case "close":
					r.Close()
				default:
					t.Fatalf("op %d: unknown op %q", i, o.do)
				}
			}
			if got := r.Len(); got != tc.wantLen {
				t.Errorf("Len() = %d, want %d", got, tc.wantLen)
			}
			if got := r.Dropped(); got != tc.wantDropped {
				t.Errorf("Dropped() = %d, want %d", got, tc.wantDropped)
			}
		})
	}
}

func TestLen(t *testing.T) {
	r := New[int](4)
	for i := range 4 {
		if got := r.Len(); got != i {
			t.Fatalf("after %d pushes Len() = %d", i, got)
		}
		r.TryPush(&i)
	}
	if got := r.Len(); got != 4 {
		t.Fatalf("full Len() = %d, want 4", got)
	}
	var v int
	r.TryPop(&v)
	if got := r.Len(); got != 3 {
		t.Fatalf("after one pop Len() = %d, want 3", got)
	}
}

// pollAll drains r as a polling consumer does (the sensor's writer): PopBatch until
// Closed was true before a pop that found nothing. It calls got with each element.
func pollAll[T any](r *Ring[T], dst []T, got func(T)) {
	for {
		closed := r.Closed()
		n := r.PopBatch(dst)
		for _, v := range dst[:n] {
			got(v)
		}
		if n == 0 {
			if closed {
				return
			}
			runtime.Gosched()
		}
	}
}

func TestCloseDrain(t *testing.T) {
	r := New[int](8)
	for i := range 3 {
		r.TryPush(&i)
	}
	if r.Closed() {
		t.Fatal("Closed() before Close")
	}
	r.Close()
	r.Close() // harmless
	if !r.Closed() {
		t.Fatal("Closed() = false after Close")
	}
	if v := 9; r.TryPush(&v) || r.TryPushOrDrop(&v) || r.Dropped() != 0 {
		t.Fatal("a push after Close was taken, or counted as a drop")
	}
	var got []int
	pollAll(r, make([]int, 2), func(v int) { got = append(got, v) })
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("drained %v, want [0 1 2]", got)
	}
}

// TestConcurrentSequence streams sequence numbers from one producer to one consumer and
// checks that each arrives exactly once and in order. Under -race it also checks that
// the atomics order the plain slot accesses.
func TestConcurrentSequence(t *testing.T) {
	const n = 1_000_000
	type rec struct {
		seq uint64
		pad [5]uint64 // a record bigger than a word, so torn copies would show
	}
	r := New[rec](1024)
	go func() {
		for i := range uint64(n) {
			v := rec{seq: i}
			for j := range v.pad {
				v.pad[j] = i
			}
			for !r.TryPush(&v) {
				runtime.Gosched()
			}
		}
		r.Close()
	}()

	var next uint64
	pollAll(r, make([]rec, 128), func(v rec) {
		if v.seq != next {
			t.Fatalf("got sequence %d, want %d", v.seq, next)
		}
		for _, p := range v.pad {
			if p != v.seq {
				t.Fatalf("record %d carries %d: torn copy", v.seq, p)
			}
		}
		next++
	})
	if next != n {
		t.Fatalf("received %d records, want %d", next, n)
	}
	if r.Dropped() != 0 {
		t.Fatalf("Dropped() = %d with TryPush only", r.Dropped())
	}
}

func TestZeroAllocs(t *testing.T) {
	type record struct{ b [300]byte }
	r := New[record](16)
	var in, out record
	in.b[0] = 1
	allocs := testing.AllocsPerRun(1000, func() {
		if !r.TryPush(&in) || !r.TryPop(&out) {
			t.Fatal("push/pop failed")
		}
		r.TryPushOrDrop(&in)
		r.PopBatch(make([]record, 0)) // zero-length: no allocation
		r.TryPop(&out)
	})
	if allocs != 0 {
		t.Fatalf("TryPush+TryPop allocates %v times per run, want 0", allocs)
	}
}

// Benchmark elements: only their size matters.
type elem8 struct{ _ uint64 }

type elem352 struct {
	_ uint64
	_ [344]byte
}

// BenchmarkRing measures the per-record hand-off between a capture shard and the writer.
// Every flow record a shard finishes crosses one of these rings, so its cost is a floor
// under per-record work on the capture thread; it must stay allocation-free (an
// allocation per record would put GC work on the packet path). 352 bytes is a flow
// record with room to spare; 8 bytes shows the fixed cost. "single" pushes and pops on
// one goroutine (no cache-line transfer); "spsc" runs a producer and a consumer on two
// goroutines, as shard and writer do.
func BenchmarkRing(b *testing.B) {
	b.Run("size=8", func(b *testing.B) { benchRing[elem8](b) })
	b.Run("size=352", func(b *testing.B) { benchRing[elem352](b) })
}

func benchRing[T any](b *testing.B) {
	size := int64(unsafe.Sizeof(*new(T)))
	b.Run("single", func(b *testing.B) {
		r := New[T](1024)
		var in, out T
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			r.TryPush(&in)
			r.TryPop(&out)
		}
	})
	b.Run("spsc", func(b *testing.B) {
		r := New[T](4096)
		var in T
		dst := make([]T, 256)
		done := make(chan int)
		go func() {
			// The consumer polls, as the sensor's writer does (it drains many rings).
			got := 0
			for {
				closed := r.Closed() // before the pop: closed and then empty is the end
				n := r.PopBatch(dst)
				got += n
				if n == 0 {
					if closed {
						break
					}
					runtime.Gosched()
				}
			}
			done <- got
		}()
		b.ReportAllocs()
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			for !r.TryPush(&in) {
				runtime.Gosched()
			}
		}
		r.Close()
		got := <-done
		b.StopTimer()
		if got != b.N {
			b.Fatalf("consumer got %d, want %d", got, b.N)
		}
	})
}
