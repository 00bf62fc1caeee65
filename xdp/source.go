package xdp

import (
	"fmt"
	"sync"
	"time"

	"panoptes/capture"
)

// OpenSource opens a Capture (see Open) as a capture.Capture: the sensor's view, with
// each frame stamped by the NIC's clock, the XDP program's, or failing both the system
// clock. While it runs, the NIC's clock is measured against the wall clock every second.
func OpenSource(cfg Config, warn func(string)) (capture.Capture, error) {
	c, err := Open(cfg, warn)
	if err != nil {
		return nil, err
	}
	s := &source{c: c, done: make(chan struct{})}
	noHWTS := new(sync.Once)
	for _, q := range c.Queues {
		s.queues = append(s.queues, &sourceQueue{q: q, c: c, noHWTS: noHWTS, warn: warn, frames: make([]capture.Frame, warmGroup)})
	}
	if c.HWClock() {
		s.wg.Add(1)
		go s.refreshHWClock(warn)
	}
	return s, nil
}

type source struct {
	c        *Capture
	queues   []capture.Queue
	done     chan struct{} // closed to stop refreshHWClock
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func (s *source) Queues() []capture.Queue                    { return s.queues }
func (s *source) Counters() ([]capture.QueueCounters, error) { return s.c.Counters() }
func (s *source) HardwareClock() bool                        { return s.c.HWClock() }

// Drain stops measuring the NIC's clock and detaches the program: no frame reaches a
// socket after that.
func (s *source) Drain() error {
	s.stopRefresh()
	return s.c.Detach()
}

func (s *source) Close() error {
	s.stopRefresh()
	return s.c.Close()
}

// stopRefresh stops refreshHWClock and waits for its last measurement, so the clock
// can be closed after it.
func (s *source) stopRefresh() {
	s.stopOnce.Do(func() { close(s.done) })
	s.wg.Wait()
}

// refreshHWClock measures, every second, the offset from the wall clock of the NIC
// clock that stamps frames (it drifts unless phc2sys ties the two).
func (s *source) refreshHWClock(warn func(string)) {
	defer s.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	warned := false
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			if err := s.c.RefreshHWClock(); err != nil && !warned {
				warn(fmt.Sprintf("%s: reading the NIC's clock: %v (hardware timestamps keep the last offset measured)", s.c.Iface.Name, err))
				warned = true
			}
		}
	}
}

// sourceQueue is a Queue as a capture.Queue.
type sourceQueue struct {
	q      *Queue
	c      *Capture
	noHWTS *sync.Once // per interface: say once that it gives no hardware timestamps
	warn   func(string)
	frames []capture.Frame // a warm group's frames (kept here: handed to fn, they would escape)
	// touched keeps the cache-warming loads of Receive.
	touched byte
}

func (q *sourceQueue) ID() int       { return q.q.ID }
func (q *sourceQueue) Iface() string { return q.c.Iface.Name }

// warmGroup is how many frames Receive brings into the cache at a time.
const warmGroup = 32

// Receive waits up to timeout for a batch of frames on the queue's AF_XDP socket,
// hands each to fn with its timestamp and clock, gives the frames back to the kernel
// and returns how many there were.
func (q *sourceQueue) Receive(timeout time.Duration, fn func(*capture.Frame)) (int, error) {
	n, err := q.q.Receive(timeout)
	if err != nil || n == 0 {
		return 0, err
	}
	all := q.q.Batch(n)
	descs := all
	// Touch each frame's metadata and headers a group of frames ahead of handling them:
	// the kernel wrote them from another CPU, so the first read of each misses the
	// cache. Loads that do not depend on each other overlap, where the same misses one
	// frame at a time (each behind a frame's decoding) cost a full memory latency each:
	// about a tenth of the sensor's CPU at 700k frames/s. A group, not the whole batch:
	// a batch can be the whole ring, whose frames would leave the cache again before
	// their turn.
	var now int64 // read once per batch, and only for frames without metadata
	hw := q.c.HWProgram && q.c.HWClock()
	for len(descs) > 0 {
		group := descs[:min(len(descs), warmGroup)]
		descs = descs[len(group):]
		var metas [warmGroup]*Meta
		var touched byte
		for i, d := range group {
			f := q.q.Frame(d)
			q.frames[i].Data, metas[i] = f.Data, f.Meta
			if len(f.Data) > 0 {
				touched += f.Data[0]
			}
		}
		q.touched += touched
		for i := range group {
			f, m := &q.frames[i], metas[i]
			f.WireLen = uint32(len(f.Data))
			switch {
			case m == nil:
				if now == 0 {
					now = time.Now().UnixNano()
				}
				f.Time, f.Clock = now, capture.ClockSystem
			case m.HWTime != 0 && hw:
				f.Time, f.Clock = q.c.HWWallTime(m.HWTime), capture.ClockHardware
			default:
				f.Time, f.Clock = q.c.WallTime(m.SWTime), capture.ClockXDP
				if m.HWTime == 0 && hw {
					// The NIC accepted SIOCSHWTSTAMP but its driver hands XDP no time.
					q.noHWTS.Do(func() {
						q.warn(fmt.Sprintf("%s gives XDP no hardware receive timestamps; using timestamps taken in XDP", q.c.Iface.Name))
					})
				}
			}
			fn(f)
		}
	}
	q.q.Release(all)
	return len(all), nil
}
