// Package capture is what the sensor sees of a capture source: a set of receive queues,
// each handing over batches of frames, and the source's own counters. The two real
// sources are AF_XDP (package xdp) and AF_PACKET (package afpacket); capturetest is a
// fake one, so that the sensor's pipeline is tested and benchmarked without root.
//
// It imports nothing of Panoptes: the sources import it, and the sensor uses it.
package capture

import (
	"fmt"
	"io"
	"time"
)

// Clock says what stamped a frame.
type Clock uint8

const (
	// ClockSystem: the kernel's system clock, when the frame reached the socket (AF_PACKET)
	// or when the sensor took it (AF_XDP frames without metadata).
	ClockSystem   Clock = iota
	ClockXDP            // the system clock, read by the XDP program
	ClockHardware       // the NIC's clock, converted to the wall clock
)

// Frame is one received frame. Data is valid only during the call it is handed to.
type Frame struct {
	Data    []byte
	WireLen uint32 // length on the wire (at least len(Data))
	Time    int64  // Unix ns
	Clock   Clock
}

// Queue is one receive queue: an AF_XDP socket, an AF_PACKET fanout member. Its methods
// are called from one goroutine at a time.
type Queue interface {
	// Iface is the interface the queue receives on; ID the queue's number on it.
	Iface() string
	ID() int
	// Receive waits up to timeout for a batch of frames, calls fn for each, gives the
	// batch back to the kernel and returns how many frames there were.
	Receive(timeout time.Duration, fn func(*Frame)) (int, error)
}

// Capture is one source of frames on one interface: its queues and its counters.
type Capture interface {
	Queues() []Queue
	// Drain makes the kernel give the queues no more frames: what they hold can still
	// be received (until Receive returns 0 after a DrainWait), and the counters then
	// add up. Draining twice does nothing.
	Drain() error
	// Counters reads every queue's counters, cumulative since the capture opened.
	Counters() ([]QueueCounters, error)
	// HardwareClock says the frames are stamped by the NIC's clock (so the clocks of
	// several interfaces may disagree by more than the system clock's do).
	HardwareClock() bool
	Close() error
}

// DrainWait is how long a drained queue waits for more frames before it is taken to be
// empty: longer than a TPACKET_V3 block's retire timeout (10 ms), after which the
// kernel hands a partly filled block to the reader.
const DrainWait = 30 * time.Millisecond

// DrainQueue receives what a drained queue still holds: until a wait of DrainWait
// brings nothing. The bound on rounds only matters if frames kept coming (a failed
// Drain).
func DrainQueue(q Queue, fn func(*Frame)) {
	for range 1 << 16 {
		n, err := q.Receive(DrainWait, fn)
		if err != nil || n == 0 {
			return
		}
	}
}

// Counter describes one of a source's per-queue counters, under the name the source
// gives it.
type Counter struct {
	Name string // table column and log key, e.g. "rx_dropped"
	// Metric is the Prometheus name (without the panoptes_ prefix) of a counter that is
	// not a drop; Cause the cause label of panoptes_drops_total for one that is.
	Metric, Cause string
	Help          string
	// Lost says the counter counts frames lost to the capture, each once: the queue's
	// drops are the sum of its Lost counters.
	Lost bool
	// Hidden leaves the counter out of the exit table, whose columns scripts read.
	Hidden bool
}

// QueueCounters are one queue's counters: Values[i] is the count of Counters[i].
type QueueCounters struct {
	Iface    string
	Queue    int
	Counters []Counter // the source's descriptions (shared, never modified)
	Values   []uint64
}

// Name is "iface/queue".
func (q *QueueCounters) Name() string { return fmt.Sprintf("%s/%d", q.Iface, q.Queue) }

// Get returns the counter named name, 0 if the source has none of that name.
func (q *QueueCounters) Get(name string) uint64 {
	for i, c := range q.Counters {
		if c.Name == name {
			return q.Values[i]
		}
	}
	return 0
}

// Lost is the frames the queue lost: the sum of its Lost counters.
func (q *QueueCounters) Lost() uint64 {
	var n uint64
	for i, c := range q.Counters {
		if c.Lost {
			n += q.Values[i]
		}
	}
	return n
}

// WriteTable writes the per-queue counters as an aligned table, each line starting with
// prefix, then a total line: the exit summary of `panoptes sensor` and of bench/rawxsk,
// which bench/loss.sh reads (the "total" line, by column). The columns are the first
// queue's source's counters, in its order.
func WriteTable(w io.Writer, prefix string, qs []QueueCounters) {
	if len(qs) == 0 {
		return
	}
	var cols []Counter
	for _, c := range qs[0].Counters {
		if !c.Hidden {
			cols = append(cols, c)
		}
	}
	fmt.Fprintf(w, "%s %-14s", prefix, "queue")
	for _, c := range cols {
		fmt.Fprintf(w, " %10s", c.Name)
	}
	fmt.Fprintln(w)
	tot := make([]uint64, len(cols))
	row := func(name string, vals []uint64) {
		fmt.Fprintf(w, "%s %-14s", prefix, name)
		for _, v := range vals {
			fmt.Fprintf(w, " %10d", v)
		}
		fmt.Fprintln(w)
	}
	for i := range qs {
		q := &qs[i]
		vals := make([]uint64, len(cols))
		for j, c := range cols {
			vals[j] = q.Get(c.Name)
			tot[j] += vals[j]
		}
		row(q.Name(), vals)
	}
	row("total", tot)
}
