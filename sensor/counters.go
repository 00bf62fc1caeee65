package sensor

// One set of counters for every report of a live capture: Snapshot reads them, and
// the management records, the exit summary and Prometheus (ops.go) are each a view of
// a Snapshot, so that they cannot disagree.

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"panoptes/capture"
	"panoptes/metrics"
	"panoptes/record"
)

// Snapshot is every counter of a live capture at one moment, cumulative since it began.
type Snapshot struct {
	Queues     []QueueSnapshot
	FlowShards []FlowShardSnapshot // reshard mode
	NICs       []NICDrops
	// RecordsWritten is the flow records written to the output.
	RecordsWritten uint64
	// OutputDrops is the flow records the output dropped (record.Dropper: a database
	// output beyond its queue's bound).
	OutputDrops uint64
}

// QueueSnapshot is one receive queue's counters: its capture source's, under the names
// the source gives them, and its shard's.
type QueueSnapshot struct {
	capture.QueueCounters
	Packets, Bytes uint64 // decoded, as the shard counted them
	ParseErrors    uint64
	Evictions      uint64
	Flows          int64 // in the shard's own table (0 in reshard mode)
	// The shard's ring of records to the writer, and the records lost on it.
	RecordRingLen, RecordRingCap int
	RecordRingDropped            uint64
	// ReshardDropped is the packets lost on the shard's rings to the flow shards.
	ReshardDropped uint64
}

// FlowShardSnapshot is one flow shard's counters (reshard mode).
type FlowShardSnapshot struct {
	Flows                        int64
	Evictions                    uint64
	RecordRingLen, RecordRingCap int
	RecordRingDropped            uint64
}

// NICDrops are an interface's driver drop counters: frames lost before any reached
// the kernel's receive path.
type NICDrops struct {
	Iface                 string
	Missed, FIFO, Overrun uint64
}

// PacketDrops is the packets the capture lost between the NIC and the flow tables: the
// sources' lost frames and the packets lost on the reshard rings.
func (s *Snapshot) PacketDrops() (n uint64) {
	for i := range s.Queues {
		n += s.Queues[i].Lost() + s.Queues[i].ReshardDropped
	}
	return n
}

// ReshardDrops is the packets lost on the rings to the flow shards.
func (s *Snapshot) ReshardDrops() (n uint64) {
	for i := range s.Queues {
		n += s.Queues[i].ReshardDropped
	}
	return n
}

// RecordDrops is the flow records lost on the rings to the writer.
func (s *Snapshot) RecordDrops() (n uint64) {
	for i := range s.Queues {
		n += s.Queues[i].RecordRingDropped
	}
	for i := range s.FlowShards {
		n += s.FlowShards[i].RecordRingDropped
	}
	return n
}

// NICDrops is the frames the NICs dropped.
func (s *Snapshot) NICDrops() (n uint64) {
	for _, d := range s.NICs {
		n += d.Missed + d.FIFO + d.Overrun
	}
	return n
}

// Evictions is the flows exported early because a table was full.
func (s *Snapshot) Evictions() (n uint64) {
	for i := range s.Queues {
		n += s.Queues[i].Evictions
	}
	for i := range s.FlowShards {
		n += s.FlowShards[i].Evictions
	}
	return n
}

// ParseErrors is the frames that failed to decode.
func (s *Snapshot) ParseErrors() (n uint64) {
	for i := range s.Queues {
		n += s.Queues[i].ParseErrors
	}
	return n
}

// manQueueField is where each source counter goes in a management record's queue
// entry (record.QueueStats, whose fields are the wire format's).
var manQueueField = map[string]func(*record.QueueStats) *uint64{
	"seen":       func(q *record.QueueStats) *uint64 { return &q.Seen },
	"redirected": func(q *record.QueueStats) *uint64 { return &q.Redirected },
	"passed":     func(q *record.QueueStats) *uint64 { return &q.Passed },
	"meta_err":   func(q *record.QueueStats) *uint64 { return &q.XDPErrors },
	"received":   func(q *record.QueueStats) *uint64 { return &q.Received },
	"rx_dropped": func(q *record.QueueStats) *uint64 { return &q.RxDropped },
	"ring_full":  func(q *record.QueueStats) *uint64 { return &q.RxRingFull },
	"fill_empty": func(q *record.QueueStats) *uint64 { return &q.FillRingEmpty },
	"invalid":    func(q *record.QueueStats) *uint64 { return &q.RxInvalid },
	"drops":      func(q *record.QueueStats) *uint64 { return &q.RxDropped }, // AF_PACKET
	"lost":       func(q *record.QueueStats) *uint64 { return &q.RxDropped }, // capturetest
}

// Management is the snapshot as a management record's counters.
func (s *Snapshot) Management() record.Management {
	m := record.Management{Drops: s.PacketDrops(), NICDrops: s.NICDrops(), RecordDrops: s.RecordDrops(),
		Evictions: s.Evictions(), ParseErrors: s.ParseErrors(), RecordsWritten: s.RecordsWritten, OutputDrops: s.OutputDrops}
	for i := range s.Queues {
		q := &s.Queues[i]
		m.PktsSeen += q.Packets
		m.BytesSeen += q.Bytes
		m.FlowsActive += uint64(max(0, q.Flows))
		qs := record.QueueStats{Name: q.Name()}
		for j, c := range q.Counters {
			if f := manQueueField[c.Name]; f != nil {
				*f(&qs) = q.Values[j]
			}
		}
		m.Queues = append(m.Queues, qs)
	}
	for _, fs := range s.FlowShards {
		m.FlowsActive += uint64(max(0, fs.Flows))
	}
	m.Queues = foldQueues(m.Queues)
	return m
}

// foldQueues keeps a management record's per-queue counters within
// record.MaxManQueues entries: the queues beyond the last but one are summed into a
// last entry named "other".
func foldQueues(qs []record.QueueStats) []record.QueueStats {
	if len(qs) <= record.MaxManQueues {
		return qs
	}
	other := record.QueueStats{Name: "other"}
	for _, q := range qs[record.MaxManQueues-1:] {
		other.Seen += q.Seen
		other.Redirected += q.Redirected
		other.Passed += q.Passed
		other.XDPErrors += q.XDPErrors
		other.Received += q.Received
		other.RxDropped += q.RxDropped
		other.RxRingFull += q.RxRingFull
		other.FillRingEmpty += q.FillRingEmpty
		other.RxInvalid += q.RxInvalid
	}
	return append(qs[:record.MaxManQueues-1], other)
}

// Metrics is the snapshot for Prometheus (the output's size and the record service's
// counters are the caller's to fill).
func (s *Snapshot) Metrics() metrics.Snapshot {
	var ms metrics.Snapshot
	for i := range s.Queues {
		q := &s.Queues[i]
		mq := metrics.Queue{Iface: q.Iface, Queue: q.Queue, Packets: q.Packets, Bytes: q.Bytes, Flows: q.Flows,
			RecordRingLen: q.RecordRingLen, RecordRingCap: q.RecordRingCap, RecordRingDropped: q.RecordRingDropped,
			ReshardDropped: q.ReshardDropped}
		for j, c := range q.Counters {
			mq.Counters = append(mq.Counters, metrics.Counter{Metric: c.Metric, Cause: c.Cause, Help: c.Help, Value: q.Values[j]})
		}
		ms.Queues = append(ms.Queues, mq)
	}
	for i, fs := range s.FlowShards {
		ms.FlowShards = append(ms.FlowShards, metrics.FlowShard{Shard: i, Flows: fs.Flows,
			RecordRingLen: fs.RecordRingLen, RecordRingCap: fs.RecordRingCap, RecordRingDropped: fs.RecordRingDropped})
	}
	for _, n := range s.NICs {
		ms.NICs = append(ms.NICs, metrics.NIC{Iface: n.Iface, Missed: n.Missed, FIFO: n.FIFO, Overrun: n.Overrun})
	}
	ms.Evictions, ms.ParseErrors, ms.RecordsWritten, ms.OutputDropped = s.Evictions(), s.ParseErrors(), s.RecordsWritten, s.OutputDrops
	ms.ArchiveBytes = -1
	return ms
}

// WriteSummary writes the loss accounting at exit: the sources' counters per queue and
// in total, then the sensor's own.
func (s *Snapshot) WriteSummary(w io.Writer) {
	qs := make([]capture.QueueCounters, len(s.Queues))
	for i := range s.Queues {
		qs[i] = s.Queues[i].QueueCounters
	}
	capture.WriteTable(w, "panoptes sensor:", qs)
	fmt.Fprintf(w, "panoptes sensor: %d flow records written, %d dropped inside the sensor (full rings), %d flows evicted early, %d packets failed to decode, %d dropped by the NIC\n",
		s.RecordsWritten, s.RecordDrops(), s.Evictions(), s.ParseErrors(), s.NICDrops())
	if r := s.ReshardDrops(); r > 0 {
		fmt.Fprintf(w, "panoptes sensor: %d packets dropped on their way to a flow shard (full reshard rings)\n", r)
	}
	if s.OutputDrops > 0 {
		fmt.Fprintf(w, "panoptes sensor: %d flow records dropped by the output (its queue was full while the database refused them)\n", s.OutputDrops)
	}
}

// LiveState is a running capture's internals: Snapshot reads its counters, while it
// runs (for metrics, handed to LiveConfig.Observe) and at the end.
type LiveState struct {
	interfaces []string
	caps       []capture.Capture
	shards     []*shard
	flowShards []*flowShard
	written    atomic.Uint64
	nicBase    [][3]uint64
	out        record.Sink // for its drops (record.Dropped); nil in tests of the counters alone
}

func newLiveState(interfaces []string, caps []capture.Capture, shards []*shard, flowShards []*flowShard) *LiveState {
	ls := &LiveState{interfaces: interfaces, caps: caps, shards: shards, flowShards: flowShards}
	for _, n := range interfaces {
		ls.nicBase = append(ls.nicBase, nicCounters(n))
	}
	return ls
}

// Snapshot reads every counter of the capture.
func (ls *LiveState) Snapshot() Snapshot {
	var s Snapshot
	var qcs []capture.QueueCounters
	for _, c := range ls.caps {
		qc, err := c.Counters()
		if err != nil {
			// The source's counters are missing from this snapshot; the shards' are not.
			qc = make([]capture.QueueCounters, len(c.Queues()))
			for i, q := range c.Queues() {
				qc[i] = capture.QueueCounters{Iface: q.Iface(), Queue: q.ID()}
			}
		}
		qcs = append(qcs, qc...)
	}
	for i, sh := range ls.shards {
		q := QueueSnapshot{QueueCounters: qcs[i], Packets: sh.packets.Load(), Bytes: sh.bytes.Load(),
			ParseErrors: sh.decodeErr.Load(), Evictions: sh.evictions.Load(), Flows: sh.flows.Load(),
			RecordRingLen: sh.ring.Len(), RecordRingCap: sh.ring.Cap(), RecordRingDropped: sh.ring.Dropped()}
		for _, r := range sh.fwd {
			q.ReshardDropped += r.Dropped()
		}
		s.Queues = append(s.Queues, q)
	}
	for _, fs := range ls.flowShards {
		s.FlowShards = append(s.FlowShards, FlowShardSnapshot{Flows: fs.flows.Load(), Evictions: fs.evictions.Load(),
			RecordRingLen: fs.ring.Len(), RecordRingCap: fs.ring.Cap(), RecordRingDropped: fs.ring.Dropped()})
	}
	for i, n := range ls.interfaces {
		c := nicCounters(n)
		d := func(j int) uint64 {
			if c[j] < ls.nicBase[i][j] {
				return 0 // the driver reset its counters
			}
			return c[j] - ls.nicBase[i][j]
		}
		s.NICs = append(s.NICs, NICDrops{Iface: n, Missed: d(0), FIFO: d(1), Overrun: d(2)})
	}
	s.RecordsWritten = ls.written.Load()
	if ls.out != nil {
		s.OutputDrops = record.Dropped(ls.out)
	}
	return s
}

// nicCounterNames are the driver drop counters read, in NICDrops' order: missed (no
// descriptor), FIFO and overrun errors. The rx_dropped counter is left out: veth counts
// AF_XDP socket drops there, which the sources' counters already report.
var nicCounterNames = [3]string{"rx_missed_errors", "rx_fifo_errors", "rx_over_errors"}

func nicCounters(iface string) [3]uint64 {
	var out [3]uint64
	for i, c := range nicCounterNames {
		b, err := os.ReadFile("/sys/class/net/" + iface + "/statistics/" + c)
		if err != nil {
			continue
		}
		out[i], _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	return out
}
