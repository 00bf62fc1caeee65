// Package capturetest is a capture source without a kernel: queues that hand over the
// frames a test gives them and count what the test says was lost, so that the sensor's
// pipeline is tested and benchmarked without root.
package capturetest

import (
	"sync/atomic"
	"time"

	"panoptes/capture"
)

// Counters are a fake queue's counters.
var Counters = []capture.Counter{
	{Name: "offered", Metric: "fake_offered_total", Help: "Frames a fake queue offered, lost ones included."},
	{Name: "received", Metric: "socket_received_total", Help: "Frames taken from the queue by the sensor."},
	{Name: "lost", Cause: "fake_lost", Lost: true},
}

// Source is a fake capture.Capture on one interface.
type Source struct {
	iface   string
	queues  []*Queue
	drained atomic.Bool
	closed  atomic.Bool
}

// Queue hands over Frames, Batch at a time, Loops times, then nothing.
type Queue struct {
	src    *Source
	id     int
	frames [][]byte
	loops  int
	batch  int
	lost   uint64 // counted as lost by Counters, once every frame is handed over
	// Progress, read by Counters from another goroutine.
	next      int // index of the next frame (owned by the receiving goroutine)
	loop      int
	received  atomic.Uint64
	done      atomic.Bool
	frame     capture.Frame
	startTime int64
}

// New returns a source on iface with one queue per element of frames, each handing
// its frames over loops times in batches of batch, and reporting lost[i] frames lost
// (lost may be nil). Each frame is stamped a microsecond after the one before it,
// from start.
func New(iface string, frames [][][]byte, lost []uint64, loops, batch int, start time.Time) *Source {
	s := &Source{iface: iface}
	for i, f := range frames {
		q := &Queue{src: s, id: i, frames: f, loops: max(loops, 1), batch: max(batch, 1), startTime: start.UnixNano()}
		if i < len(lost) {
			q.lost = lost[i]
		}
		s.queues = append(s.queues, q)
	}
	return s
}

// Queues returns the queues.
func (s *Source) Queues() []capture.Queue {
	out := make([]capture.Queue, len(s.queues))
	for i, q := range s.queues {
		out[i] = q
	}
	return out
}

// Drain records that the source was drained; the queues still hand over what is left.
func (s *Source) Drain() error { s.drained.Store(true); return nil }

// Drained says Drain was called.
func (s *Source) Drained() bool { return s.drained.Load() }

// Closed says Close was called.
func (s *Source) Closed() bool { return s.closed.Load() }

// HardwareClock is false: the fake stamps frames as the system clock would.
func (s *Source) HardwareClock() bool { return false }

// Close records that the source was closed.
func (s *Source) Close() error { s.closed.Store(true); return nil }

// Counters reports each queue's frames offered (received and lost), received and lost.
func (s *Source) Counters() ([]capture.QueueCounters, error) {
	out := make([]capture.QueueCounters, len(s.queues))
	for i, q := range s.queues {
		got := q.received.Load()
		var lost uint64
		if q.done.Load() {
			lost = q.lost
		}
		out[i] = capture.QueueCounters{Iface: s.iface, Queue: q.id, Counters: Counters, Values: []uint64{got + lost, got, lost}}
	}
	return out, nil
}

// Done says every queue handed over all its frames.
func (s *Source) Done() bool {
	for _, q := range s.queues {
		if !q.done.Load() {
			return false
		}
	}
	return true
}

func (q *Queue) Iface() string { return q.src.iface }
func (q *Queue) ID() int       { return q.id }

// Receive hands over the next batch; with none left it waits out the timeout (at
// most 10 ms, so that a test's capture stops quickly).
func (q *Queue) Receive(timeout time.Duration, fn func(*capture.Frame)) (int, error) {
	if q.loop >= q.loops || len(q.frames) == 0 {
		q.done.Store(true)
		time.Sleep(min(timeout, 10*time.Millisecond))
		return 0, nil
	}
	n := 0
	for ; n < q.batch && q.loop < q.loops; n++ {
		d := q.frames[q.next]
		q.frame = capture.Frame{Data: d, WireLen: uint32(len(d)), Clock: capture.ClockSystem,
			Time: q.startTime + int64(q.loop*len(q.frames)+q.next)*int64(time.Microsecond)}
		fn(&q.frame)
		if q.next++; q.next == len(q.frames) {
			q.next = 0
			q.loop++
		}
	}
	q.received.Add(uint64(n))
	return n, nil
}
