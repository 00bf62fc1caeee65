package sensor

import (
	"errors"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"panoptes/capture"
	"panoptes/record"
	"panoptes/ringbuf"
	"panoptes/sensor/decode"
	"panoptes/sensor/flow"
)

// shard is one receive queue's capture loop with its own flow table.
type shard struct {
	q    capture.Queue
	ring *ringbuf.Ring[record.Record] // records to the writer (direct mode)
	// Reshard mode: packets go to the flow shards, fwd[i] to flow shard i.
	fwd []*ringbuf.Ring[decode.Packet]
	// Published by the shard, read by the writer.
	tableStats
	decodeErr atomic.Uint64
	packets   atomic.Uint64
	bytes     atomic.Uint64
	err       error
}

// recordClock is the record's name for the clock that stamped a frame.
var recordClock = [...]record.Clock{capture.ClockSystem: record.ClockUser, capture.ClockXDP: record.ClockXDP, capture.ClockHardware: record.ClockHardware}

// receiveTimeout is how long a shard waits for frames before it runs its timers.
const receiveTimeout = 50 * time.Millisecond

// run is a shard's capture loop, on its own OS thread: receive a batch, decode, account,
// give the frames back; run the timers on wall-clock time. At stop it takes what its
// queue still holds (the capture is drained by then) before it flushes.
func (s *shard) run(cfg flow.Config, stop <-chan struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	copy(cfg.Inf[:], s.q.Iface())
	cfg.Clock = record.ClockUser
	tbl := flow.NewTable(cfg, func(r *record.Record) { s.ring.TryPushOrDrop(r) })
	var p decode.Packet
	var pkts, bytes uint64
	// handle decodes one frame and accounts it, here or at the flow shard that owns
	// its conversation.
	handle := func(f *capture.Frame) {
		p.Timestamp, p.WireLen, p.CapLen = f.Time, max(f.WireLen, uint32(len(f.Data))), uint32(len(f.Data))
		if err := decode.Decode(decode.LinkEthernet, f.Data, &p); err != nil {
			s.decodeErr.Add(1)
			if !usable(&p) {
				return
			}
		}
		p.Clock = uint8(recordClock[f.Clock])
		pkts++
		bytes += uint64(p.WireLen)
		if s.fwd != nil {
			s.fwd[flow.ShardHash(&p)%uint32(len(s.fwd))].TryPushOrDrop(&p)
			return
		}
		tbl.Update(&p)
	}
	account := func() {
		s.packets.Add(pkts)
		s.bytes.Add(bytes)
		pkts, bytes = 0, 0
	}
	lastAdvance := time.Now().UnixNano()
	for {
		select {
		case <-stop:
			capture.DrainQueue(s.q, handle)
			account()
			tbl.Advance(time.Now().UnixNano())
			tbl.Flush()
			s.publish(tbl)
			return
		default:
		}
		if _, err := s.q.Receive(receiveTimeout, handle); err != nil && !errors.Is(err, syscall.EINTR) {
			s.err = err
			<-stop
			tbl.Flush()
			return
		}
		account()
		if now := time.Now().UnixNano(); now-lastAdvance >= int64(100*time.Millisecond) {
			tbl.Advance(now)
			lastAdvance = now
			s.publish(tbl)
		}
	}
}

// tableStats is what a goroutine owning a flow table publishes for the writer.
type tableStats struct {
	flows     atomic.Int64
	evictions atomic.Uint64
}

func (ts *tableStats) publish(tbl *flow.Table) {
	st := tbl.Stats()
	ts.flows.Store(int64(st.Active))
	ts.evictions.Store(st.Evictions)
}

// flowShard owns a flow table in reshard mode: it takes packets from every receiver's
// ring for it, so one conversation meets in one table whichever queues and interfaces
// its packets came in on.
type flowShard struct {
	cfg  flow.Config
	in   []*ringbuf.Ring[decode.Packet]
	ring *ringbuf.Ring[record.Record]
	tableStats
}

func (fs *flowShard) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cfg := fs.cfg
	cfg.Clock = record.ClockXDP
	tbl := flow.NewTable(cfg, func(r *record.Record) { fs.ring.TryPushOrDrop(r) })
	buf := make([]decode.Packet, 256)
	lastAdvance := time.Now().UnixNano()
	for {
		got, open := 0, 0
		for _, r := range fs.in {
			n := r.PopBatch(buf)
			for i := 0; i < n; i++ {
				tbl.Update(&buf[i])
			}
			got += n
			if !r.Closed() || r.Len() > 0 {
				open++
			}
		}
		if open == 0 {
			break
		}
		if now := time.Now().UnixNano(); now-lastAdvance >= int64(100*time.Millisecond) {
			tbl.Advance(now)
			lastAdvance = now
			fs.publish(tbl)
		}
		if got == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	tbl.Advance(time.Now().UnixNano())
	tbl.Flush()
	fs.publish(tbl)
}
