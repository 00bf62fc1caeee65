package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"panoptes/filter"
	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/ringbuf"
	"panoptes/sensor/decode"
	"panoptes/sensor/flow"
	"panoptes/xdp"
)

// LiveConfig configures live capture.
type LiveConfig struct {
	Interfaces []string
	Queues     int // per interface; 0 = all RX queues
	XDP        xdp.Config
	Flow       flow.Config
	// ManInterval is how often management records (with every drop counter) are
	// written; 0 means the flow status interval.
	ManInterval time.Duration
	RingSize    int           // records buffered between each shard and the writer
	Duration    time.Duration // stop after this long (0: until the context ends)
	// Reshard deals packets from every receive queue to flow shards by a symmetric flow
	// hash instead of keeping each queue's packets in its own table. It is needed when
	// one conversation arrives on several queues: on several interfaces (the two monitor
	// ports of a tap), or on a NIC whose RSS hash is not symmetric. It is on whenever
	// there is more than one interface.
	Reshard bool
	// ClockSkew is how far the clocks stamping the packets of several interfaces may
	// disagree (see flow.Config.SkewTolerance); negative: 1 ms when a NIC's hardware
	// clock stamps packets, 0 when the system clock stamps them all.
	ClockSkew time.Duration
	// AFPacket captures with AF_PACKET TPACKET_V3 sockets in a hash fanout group (Queues
	// members per interface, default one per CPU) instead of XDP.
	AFPacket bool
	// Ready, if set, is called once every socket is open and every shard is running.
	Ready func()
	// Filter, if set, selects the flow records written (the ra filter language);
	// management records are always written.
	Filter *filter.Filter
	// Observe, if set, is given the running capture's state (for metrics, read at
	// scrape time); the function it returns is called before the state goes away.
	Observe func(*LiveState) (done func())
}

// shard is one RX queue's capture loop with its own flow table.
type shard struct {
	name   string // "iface/queue"
	iface  *net.Interface
	queue  *xdp.Queue      // AF_XDP mode
	cap    *xdp.Capture    // AF_XDP mode
	afp    *afpacketSocket // AF_PACKET mode
	noHWTS *sync.Once      // per interface: say once that it gives no hardware timestamps
	warn   func(string)
	ring   *ringbuf.Ring[record.Record] // records to the writer (direct mode)
	// Reshard mode: packets go to the flow shards, fwd[i] to flow shard i.
	fwd []*ringbuf.Ring[decode.Packet]
	// Published by the shard, read by the writer.
	tableStats
	touched   byte // keeps the cache-warming loads of receiveXDP
	decodeErr atomic.Uint64
	packets   atomic.Uint64
	bytes     atomic.Uint64
	err       error
}

// LiveStats summarises a live capture run.
type LiveStats struct {
	Queues      []xdp.QueueCounters
	Records     uint64
	RingDropped uint64 // records lost because a shard's ring to the writer was full
	Evictions   uint64
	ParseErrors uint64
	NICDrops    uint64 // the NIC's own drop counters over the run (missed, FIFO, overrun)
	// Started says every socket opened and capture began: there is something to
	// summarise. A sensor that could not start says only why.
	Started bool
}

// Live captures on the configured interfaces until ctx ends (or Duration passes), turning
// packets into flow records written to w. At the end every open flow is flushed and a
// final management record is written; nothing captured is lost.
func Live(ctx context.Context, cfg LiveConfig, w record.Sink, warn func(string)) (LiveStats, error) {
	var st LiveStats
	cfg.Flow.Defaults()
	if cfg.ManInterval <= 0 {
		cfg.ManInterval = cfg.Flow.StatusInterval
	}
	if cfg.RingSize <= 0 {
		cfg.RingSize = 1 << 16
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var caps []*xdp.Capture
	defer func() {
		for _, c := range caps {
			c.Close()
		}
	}()
	var shards []*shard
	var afps []*afpacketSocket
	defer func() {
		for _, a := range afps {
			a.close()
		}
	}()
	for _, name := range cfg.Interfaces {
		if cfg.AFPacket {
			ifc, err := net.InterfaceByName(name)
			if err != nil {
				return st, fmt.Errorf("interface %s: %w", name, err)
			}
			n := cfg.Queues
			if n <= 0 {
				n = runtime.GOMAXPROCS(0)
			}
			group := fanoutGroup() + uint16(len(afps))
			for i := 0; i < n; i++ {
				a, err := openAFPacket(ifc, group, i)
				if err != nil {
					return st, err
				}
				afps = append(afps, a)
				shards = append(shards, &shard{name: fmt.Sprintf("%s/%d", name, i), iface: ifc, afp: a, warn: warn,
					ring: ringbuf.New[record.Record](cfg.RingSize)})
			}
			continue
		}
		xc := cfg.XDP
		xc.Interface, xc.Queues = name, cfg.Queues
		c, err := xdp.Open(xc, warn)
		if err != nil {
			return st, err
		}
		caps = append(caps, c)
		once := new(sync.Once)
		for _, q := range c.Queues {
			shards = append(shards, &shard{name: fmt.Sprintf("%s/%d", name, q.ID), iface: c.Iface, queue: q, cap: c, noHWTS: once, warn: warn,
				ring: ringbuf.New[record.Record](cfg.RingSize)})
		}
	}
	reshard := cfg.Reshard || len(cfg.Interfaces) > 1
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var flowShards []*flowShard
	var outs []*ringbuf.Ring[record.Record]
	if reshard {
		// One flow shard per receive queue; every receiver has a ring to every shard.
		n := len(shards)
		perShard := cfg.Flow.Share(n)
		perShard.EarliestIsSource = true
		perShard.SkewTolerance = cfg.ClockSkew
		if cfg.ClockSkew < 0 {
			perShard.SkewTolerance = 0
			for _, c := range caps {
				if c.HWClock() && len(cfg.Interfaces) > 1 {
					perShard.SkewTolerance = time.Millisecond
				}
			}
		}
		for i := 0; i < n; i++ {
			fs := &flowShard{ring: ringbuf.New[record.Record](cfg.RingSize)}
			copy(perShard.Inf[:], strings.Join(cfg.Interfaces, ","))
			fs.cfg = perShard
			flowShards = append(flowShards, fs)
			outs = append(outs, fs.ring)
		}
		for _, s := range shards {
			for _, fs := range flowShards {
				r := ringbuf.New[decode.Packet](8192)
				s.fwd = append(s.fwd, r)
				fs.in = append(fs.in, r)
			}
		}
	} else {
		for _, s := range shards {
			outs = append(outs, s.ring)
		}
	}
	perShard := cfg.Flow.Share(len(shards))
	for _, s := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(perShard, stop)
		}()
	}
	st.Started = true
	if cfg.Ready != nil {
		cfg.Ready()
	}
	var fwg sync.WaitGroup
	for _, fs := range flowShards {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			fs.run()
		}()
	}
	nicBase := make([]uint64, len(cfg.Interfaces))
	for i, n := range cfg.Interfaces {
		nicBase[i] = nicDrops(n)
	}
	counters := func() record.Management {
		m := record.Management{}
		for i, n := range cfg.Interfaces {
			if d := nicDrops(n); d >= nicBase[i] {
				m.NICDrops += d - nicBase[i]
			}
		}
		for _, q := range queueCounters(caps, afps) {
			// The kernel counts a frame dropped for an empty fill ring in both rx_dropped
			// and fill_ring_empty, and one dropped for a full RX ring in rx_ring_full
			// only: dropped frames are rx_dropped + rx_ring_full. (Invalid descriptors
			// are a program error, not lost frames.)
			m.Drops += q.RxDropped + q.RxRingFull
			m.Queues = append(m.Queues, record.QueueStats{Name: fmt.Sprintf("%s/%d", q.Iface, q.Queue),
				Seen: q.Seen, Redirected: q.Redirected, Passed: q.Passed, XDPErrors: q.MetaErrors,
				Received: q.Received, RxDropped: q.RxDropped, RxRingFull: q.RxRingFull,
				FillRingEmpty: q.FillRingEmpty, RxInvalid: q.RxInvalid})
		}
		m.Queues = foldQueues(m.Queues)
		for _, s := range shards {
			m.PktsSeen += s.packets.Load()
			m.BytesSeen += s.bytes.Load()
			m.FlowsActive += uint64(max(0, s.flows.Load()))
			m.Evictions += s.evictions.Load()
			m.ParseErrors += s.decodeErr.Load()
			m.RecordDrops += s.ring.Dropped()
			for _, r := range s.fwd {
				m.Drops += r.Dropped() // packets on their way to a flow shard
			}
		}
		for _, fs := range flowShards {
			m.FlowsActive += uint64(max(0, fs.flows.Load()))
			m.Evictions += fs.evictions.Load()
			m.RecordDrops += fs.ring.Dropped()
		}
		return m
	}
	// The writer runs beside; shards stop when ctx ends or an interface vanishes.
	werr := make(chan error, 1)
	var written atomic.Uint64
	go func() {
		werr <- liveWriter(outs, counters, w, cfg, &written)
	}()
	if cfg.Observe != nil {
		defer cfg.Observe(newLiveState(cfg.Interfaces, caps, afps, shards, flowShards, &written))()
	}
	stopRefresh := refreshHWClocks(caps, warn)
	ifaceErr := watchInterfaces(ctx, cfg.Interfaces, warn)
	stopRefresh()
	// Detach first: no frame reaches a socket after that, so the shards can take all
	// that their sockets hold before they flush, and the counters read after add up
	// (seen = received + dropped). Frames the kernel had queued when the shards stopped
	// used to be counted as seen but were in no record and no drop counter.
	for _, c := range caps {
		c.Detach()
	}
	for _, a := range afps {
		a.quiesce()
	}
	close(stop)
	wg.Wait()
	for _, s := range shards {
		s.ring.Close()
		for _, r := range s.fwd {
			r.Close()
		}
	}
	fwg.Wait()
	for _, fs := range flowShards {
		fs.ring.Close()
	}
	// A failed write comes first; then an interface that vanished or went down, which
	// also makes its shards' sockets fail, less clearly ("socket error").
	err := <-werr
	if err == nil {
		err = ifaceErr
	}
	for _, s := range shards {
		if s.err != nil && err == nil {
			err = s.err
		}
		st.RingDropped += s.ring.Dropped()
		for _, r := range s.fwd {
			st.RingDropped += r.Dropped()
		}
		st.Evictions += s.evictions.Load()
		st.ParseErrors += s.decodeErr.Load()
	}
	for _, fs := range flowShards {
		st.RingDropped += fs.ring.Dropped()
		st.Evictions += fs.evictions.Load()
	}
	st.Queues = append(st.Queues, queueCounters(caps, afps)...)
	for i, n := range cfg.Interfaces {
		if d := nicDrops(n); d >= nicBase[i] {
			st.NICDrops += d - nicBase[i]
		}
	}
	st.Records = written.Load()
	return st, err
}

// refreshHWClocks measures, every second, the offset from the wall clock of each NIC
// clock that stamps frames (it drifts unless phc2sys ties the two), until the function
// it returns is called; that waits for the last measurement to finish, so the clocks
// can be closed after it.
func refreshHWClocks(caps []*xdp.Capture, warn func(string)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range caps {
		if !c.HWClock() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			warned := false
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if err := c.RefreshHWClock(); err != nil && !warned {
						warn(fmt.Sprintf("%s: reading the NIC's clock: %v (hardware timestamps keep the last offset measured)", c.Iface.Name, err))
						warned = true
					}
				}
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
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

// queueCounters reads every capture queue's counters: AF_XDP queues' from the XDP
// program and sockets, AF_PACKET fanout members' from their sockets.
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

func queueCounters(caps []*xdp.Capture, afps []*afpacketSocket) []xdp.QueueCounters {
	var out []xdp.QueueCounters
	for _, c := range caps {
		if qc, err := c.Counters(); err == nil {
			out = append(out, qc...)
		}
	}
	for _, a := range afps {
		a.stats()
		drops := a.drops.Load()
		out = append(out, xdp.QueueCounters{Iface: a.iface.Name, Queue: a.id, Seen: a.packets.Load(),
			Redirected: a.packets.Load(), Received: a.got.Load(), RxDropped: drops})
	}
	return out
}

// nicDrops reads the drops an interface's driver counts before any frame reaches the
// kernel's receive path: missed (no descriptor), FIFO and overrun errors. The rx_dropped
// counter is left out: veth counts AF_XDP socket drops there, which the socket
// statistics already report.
func nicDrops(name string) uint64 {
	var total uint64
	for _, c := range []string{"rx_missed_errors", "rx_fifo_errors", "rx_over_errors"} {
		b, err := os.ReadFile("/sys/class/net/" + name + "/statistics/" + c)
		if err != nil {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err == nil {
			total += v
		}
	}
	return total
}

// watchInterfaces waits for ctx to end, checking every 250 ms that each interface still
// exists and is up; it returns an error naming the first that vanished or went down. A
// check the system could not make (out of file descriptors) is warned about, once
// until a check succeeds again, and the capture goes on.
func watchInterfaces(ctx context.Context, names []string, warn func(string)) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			for _, n := range names {
				ifc, err := net.InterfaceByName(n)
				if errno := syscall.Errno(0); errors.As(err, &errno) {
					// The question failed, not the interface (EMFILE, ENOBUFS...).
					if !warned {
						warn(fmt.Sprintf("cannot check interface %s: %v; capture goes on", n, err))
					}
					warned = true
					continue
				}
				if err != nil {
					return fmt.Errorf("interface %s vanished; records up to now were written", n)
				}
				warned = false
				if ifc.Flags&net.FlagUp == 0 {
					return fmt.Errorf("interface %s went down; records up to now were written", n)
				}
			}
		}
	}
}

// run is a shard's capture loop, on its own OS thread: receive a batch, decode, account,
// give the frames back; run the timers on wall-clock time.
func (s *shard) run(cfg flow.Config, stop <-chan struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	copy(cfg.Inf[:], s.iface.Name)
	emit := func(r *record.Record) { s.ring.TryPushOrDrop(r) }
	cfg.Clock = record.ClockUser
	tbl := flow.NewTable(cfg, emit)
	var p decode.Packet
	var pkts, bytes uint64
	// handle decodes one frame and accounts it, here or at the flow shard that owns
	// its conversation.
	handle := func(data []byte, wireLen uint32, ts int64, clock record.Clock) {
		p.Timestamp, p.WireLen, p.CapLen = ts, max(wireLen, uint32(len(data))), uint32(len(data))
		if err := decode.Decode(decode.LinkEthernet, data, &p); err != nil {
			s.decodeErr.Add(1)
			if !usable(&p) {
				return
			}
		}
		p.Clock = uint8(clock)
		pkts++
		bytes += uint64(p.WireLen)
		if s.fwd != nil {
			s.fwd[flow.ShardHash(&p)%uint32(len(s.fwd))].TryPushOrDrop(&p)
			return
		}
		tbl.Update(&p)
	}
	fromAFPacket := func(data []byte, wireLen uint32, ts int64) { handle(data, wireLen, ts, record.ClockUser) }
	lastAdvance := time.Now().UnixNano()
	for {
		select {
		case <-stop:
			pkts, bytes = 0, 0
			s.drain(handle, fromAFPacket)
			s.packets.Add(pkts)
			s.bytes.Add(bytes)
			tbl.Advance(time.Now().UnixNano())
			tbl.Flush()
			s.publish(tbl)
			return
		default:
		}
		pkts, bytes = 0, 0
		var err error
		if s.afp != nil {
			_, err = s.afp.poll(50*time.Millisecond, fromAFPacket)
		} else {
			_, err = s.receiveXDP(50*time.Millisecond, handle)
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			s.err = err
			<-stop
			tbl.Flush()
			return
		}
		s.packets.Add(pkts)
		s.bytes.Add(bytes)
		if now := time.Now().UnixNano(); now-lastAdvance >= int64(100*time.Millisecond) {
			tbl.Advance(now)
			lastAdvance = now
			s.publish(tbl)
		}
	}
}

// drainWait is how long a stopping shard waits for more frames before it takes its
// socket to be empty: longer than a TPACKET_V3 block's retire timeout (10 ms), after
// which the kernel hands a partly filled block to the reader.
const drainWait = 30 * time.Millisecond

// drain takes the frames the shard's socket still holds once the capture is detached
// (XDP) or quiesced (AF_PACKET): until a wait of drainWait brings nothing. The bound
// on rounds only matters if frames kept coming (a failed detach).
func (s *shard) drain(handle func([]byte, uint32, int64, record.Clock), fromAFPacket func([]byte, uint32, int64)) {
	for range 1 << 16 {
		var n int
		var err error
		if s.afp != nil {
			n, err = s.afp.poll(drainWait, fromAFPacket)
		} else {
			n, err = s.receiveXDP(drainWait, handle)
		}
		if err != nil || n == 0 {
			return
		}
	}
}

// warmGroup is how many frames receiveXDP brings into the cache at a time.
const warmGroup = 32

// receiveXDP waits up to timeout for a batch of frames on the queue's AF_XDP socket,
// hands each to handle with its timestamp and clock, gives the frames back to the
// kernel and returns how many there were.
func (s *shard) receiveXDP(timeout time.Duration, handle func(data []byte, wireLen uint32, ts int64, clock record.Clock)) (int, error) {
	n, err := s.queue.Receive(timeout)
	if err != nil || n == 0 {
		return 0, err
	}
	all := s.queue.Batch(n)
	descs := all
	// Touch each frame's metadata and headers a group of frames ahead of handling them:
	// the kernel wrote them from another CPU, so the first read of each misses the
	// cache. Loads that do not depend on each other overlap, where the same misses one
	// frame at a time (each behind a frame's decoding) cost a full memory latency each:
	// about a tenth of the sensor's CPU at 700k frames/s. A group, not the whole batch:
	// a batch can be the whole ring, whose frames would leave the cache again before
	// their turn.
	var now int64 // read once per batch, and only for frames without metadata
	for len(descs) > 0 {
		group := descs[:min(len(descs), warmGroup)]
		descs = descs[len(group):]
		var frames [warmGroup]xdp.Frame
		var touched byte
		for i, d := range group {
			frames[i] = s.queue.Frame(d)
			if f := &frames[i]; len(f.Data) > 0 {
				touched += f.Data[0]
			}
		}
		s.touched += touched
		for i := range group {
			f := &frames[i]
			var ts int64
			clock := record.ClockUser
			if f.Meta == nil {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				ts = now
			} else {
				if f.Meta.HWTime != 0 && s.cap.HWProgram && s.cap.HWClock() {
					ts, clock = s.cap.HWWallTime(f.Meta.HWTime), record.ClockHardware
				} else {
					ts, clock = s.cap.WallTime(f.Meta.SWTime), record.ClockXDP
					if f.Meta.HWTime == 0 && s.cap.HWProgram && s.cap.HWClock() {
						// The NIC accepted SIOCSHWTSTAMP but its driver hands XDP no time.
						s.noHWTS.Do(func() {
							s.warn(fmt.Sprintf("%s gives XDP no hardware receive timestamps; using timestamps taken in XDP", s.iface.Name))
						})
					}
				}
			}
			handle(f.Data, uint32(len(f.Data)), ts, clock)
		}
	}
	s.queue.Release(all)
	return len(all), nil
}

// liveWriter drains the shards' record rings into w, writing management records with
// every counter (from counters) at each interval and at the end.
func liveWriter(outs []*ringbuf.Ring[record.Record], counters func() record.Management, w record.Sink, cfg LiveConfig, written *atomic.Uint64) error {
	start := time.Now().UnixNano()
	var seq uint32
	var werr error
	write := func(r *record.Record) {
		if r.Kind == record.KindFlow && cfg.Filter != nil && !cfg.Filter.Match(r) {
			return
		}
		seq++
		r.Seq = seq
		if werr == nil {
			werr = w.Write(r)
			if r.Kind == record.KindFlow {
				written.Add(1)
			}
		}
	}
	man := func(cause record.Cause) {
		m := counters()
		m.RecordsWritten = written.Load()
		now := time.Now().UnixNano()
		// Each management record covers the interval since the previous one.
		r := record.Record{Kind: record.KindMan, Cause: cause, Clock: record.ClockUser, SrcID: cfg.Flow.SrcID, StartTime: start, LastTime: now, Man: &m}
		if cause == record.CauseStart {
			r.LastTime = start
		}
		start = r.LastTime
		write(&r)
		if werr == nil {
			werr = w.Flush()
		}
	}
	man(record.CauseStart)
	buf := make([]record.Record, 256)
	nextMan := time.Now().Add(cfg.ManInterval)
	// The writer polls the rings: it sleeps while they are empty, longer the longer they
	// stay empty (an idle sensor should cost next to nothing), at most maxIdleSleep,
	// which a ring (65,536 records by default) outlasts at a million records a second.
	const maxIdleSleep = 20 * time.Millisecond
	idleSleep := time.Millisecond
	for {
		open, got := 0, 0
		for _, ring := range outs {
			n := ring.PopBatch(buf)
			for i := 0; i < n; i++ {
				write(&buf[i])
			}
			got += n
			if !ring.Closed() || ring.Len() > 0 {
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(nextMan) {
			man(record.CauseStatus)
			nextMan = time.Now().Add(cfg.ManInterval)
		}
		if got == 0 {
			time.Sleep(idleSleep)
			idleSleep = min(2*idleSleep, maxIdleSleep)
		} else {
			idleSleep = time.Millisecond
		}
	}
	man(record.CauseStop)
	return werr
}

// SensorMain is `panoptes sensor -i IFACE[,IFACE...] -w OUT [flags]`.
func SensorMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("sensor", "-i IFACE[,IFACE...] -w OUT [flags]", stderr)
	ifaces := fs.StringP("interface", "i", "", "interfaces to capture on, comma-separated")
	out := fs.StringP("write", "w", "", "output: a record stream file, - for stdout, an archive directory (an existing directory or a path ending in /), or argus:FILE for Argus records (appended to)")
	queues := fs.String("queues", "all", "RX queues to capture per interface: all or N (queues 0..N-1)")
	mode := fs.String("mode", "xdp", "capture path: xdp (XDP + AF_XDP) or afpacket (AF_PACKET TPACKET_V3, hash fanout)")
	xdpMode := fs.String("xdp-mode", "auto", "XDP attach mode: auto (native, else generic), native, generic")
	hwts := fs.String("hwts", "auto", "hardware receive timestamps: auto, on (fail without), off")
	srcid := fs.String("srcid", "0", "source id for the records (a number or an IPv4 address)")
	flt := fs.String("filter", "", "write only the flow records this ra filter selects (e.g. \"tcp and not port 22\"); management records are always written")
	var cfg LiveConfig
	flowFlags(fs, &cfg.Flow)
	fs.IntVar(&cfg.XDP.Frames, "umem-frames", 16384, "UMEM frames per queue")
	fs.IntVar(&cfg.XDP.FrameSize, "frame-size", 2048, "UMEM frame size (2048 or 4096); frames longer than it less 288 bytes of headroom are dropped and counted")
	fs.IntVar(&cfg.XDP.RingSize, "ring-size", 8192, "AF_XDP fill and RX ring entries per queue (a power of two)")
	fs.IntVar(&cfg.RingSize, "record-ring", 1<<16, "records buffered between each queue and the writer")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (default: run until SIGINT/SIGTERM)")
	archive := index.AddArchiveFlags(fs)
	ipfixDest := ipfixFlag(fs)
	ops := addOpsFlags(fs)
	clockSkew := fs.String("clock-skew", "auto", "how far the clocks of several interfaces may disagree: an answer stamped less than this before its request stays the answer (auto: 1ms with NIC hardware clocks, 0 with the system clock)")
	fs.BoolVar(&cfg.Reshard, "reshard", false, "deal packets to flow shards by a symmetric flow hash (always on with several interfaces; for NICs without symmetric RSS)")
	var serve serveFlags // -P, --publish: sensor/serve.go
	serve.register(fs)
	rest, err := cli.ParseWithConfig(fs, args, DefaultSensorConfig)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return cli.Usagef("sensor: unexpected argument %q (a filter goes in --filter)", rest[0])
	}
	if *flt != "" {
		if cfg.Filter, err = filter.Compile(*flt); err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	if *ifaces == "" {
		return cli.Usagef("sensor: no interface: give -i IFACE")
	}
	if *out == "" {
		return cli.Usagef("sensor: no output: give -w FILE or -w -")
	}
	switch *mode {
	case "xdp":
	case "afpacket":
		cfg.AFPacket = true
	default:
		return cli.Usagef("sensor: --mode %q: want xdp or afpacket", *mode)
	}
	switch xdp.Mode(*xdpMode) {
	case xdp.ModeAuto, xdp.ModeNative, xdp.ModeGeneric:
		cfg.XDP.Mode = xdp.Mode(*xdpMode)
	default:
		return cli.Usagef("sensor: --xdp-mode %q: want auto, native or generic", *xdpMode)
	}
	cfg.ClockSkew = -1
	if *clockSkew != "auto" {
		if cfg.ClockSkew, err = time.ParseDuration(*clockSkew); err != nil || cfg.ClockSkew < 0 {
			return cli.Usagef("sensor: --clock-skew %q: want a duration (500us, 2ms) or auto", *clockSkew)
		}
	}
	switch *hwts {
	case "auto", "on", "off":
		cfg.XDP.HWTS = *hwts
	default:
		return cli.Usagef("sensor: --hwts %q: want auto, on or off", *hwts)
	}
	// The kernel takes UMEM chunks of a power of two from 2048 bytes to a page, and
	// rings of a power of two entries; it would refuse others with a bare EINVAL.
	if fs := cfg.XDP.FrameSize; fs != 2048 && fs != 4096 {
		return cli.Usagef("sensor: --frame-size %d: want 2048 or 4096", fs)
	}
	if r := cfg.XDP.RingSize; r <= 0 || r&(r-1) != 0 {
		return cli.Usagef("sensor: --ring-size %d: want a power of two (e.g. 8192)", r)
	}
	if cfg.XDP.Frames <= 0 || cfg.XDP.Frames > maxUMEMFrames {
		return cli.Usagef("sensor: --umem-frames %d: want 1 to %d", cfg.XDP.Frames, maxUMEMFrames)
	}
	if r := cfg.XDP.RingSize; r > maxXDPRing {
		return cli.Usagef("sensor: --ring-size %d: want a power of two up to %d", r, maxXDPRing)
	}
	if err := CheckFlowFlags(&cfg.Flow); err != nil {
		return err
	}
	if cfg.Duration < 0 {
		return cli.Usagef("sensor: --duration %v: must not be negative", cfg.Duration)
	}
	if cfg.RingSize <= 0 || cfg.RingSize > maxRecordRing {
		return cli.Usagef("sensor: --record-ring %d: want 1 to %d records", cfg.RingSize, maxRecordRing)
	}
	if *queues != "all" {
		n, err := strconv.Atoi(*queues)
		if err != nil || n <= 0 || n > maxQueues {
			return cli.Usagef("sensor: --queues %q: want all or 1 to %d", *queues, maxQueues)
		}
		cfg.Queues = n
	}
	if cfg.Flow.SrcID, err = ParseSrcID(*srcid); err != nil {
		return &cli.UsageError{Err: err}
	}
	cfg.Interfaces = strings.Split(*ifaces, ",")
	warn, err := ops.logger(stderr, cfg.Interfaces)
	if err != nil {
		return err
	}
	stopOps, err := ops.start(&cfg, *out, warn)
	if err != nil {
		return err
	}
	defer stopOps()
	archiveOpts, err := archive.Options()
	if err != nil {
		return err
	}
	w, closeSink, err := OpenSink(*out, stdout, archiveOpts, func(format string, args ...any) { warn(fmt.Sprintf(format, args...)) })
	if err != nil {
		return err
	}
	if w, closeSink, err = serve.wrap(w, closeSink, func(format string, args ...any) { warn(fmt.Sprintf(format, args...)) }); err != nil {
		return err
	}
	if serve.srv != nil {
		ops.service.Store(serve.srv) // its counters in --metrics
	}
	if w, closeSink, err = teeIPFIX(*ipfixDest, w, closeSink, warn); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	st, err := Live(ctx, cfg, w, warn)
	if cerr := closeSink(); err == nil && cerr != nil {
		err = cerr
	}
	if st.Started {
		ops.summary(stderr, &st)
	}
	return err
}

// maxRecordRing bounds --record-ring: each queue's ring is allocated in full at start
// (a record is a few hundred bytes), so a mistyped size must not ask for terabytes.
const maxRecordRing = 1 << 20

// maxUMEMFrames and maxXDPRing bound the per-queue UMEM (allocated and locked at start:
// 262144 frames of 4096 bytes is 1 GB a queue) and the AF_XDP rings; maxQueues the
// queues per interface (no NIC has more).
const (
	maxUMEMFrames = 1 << 18
	maxXDPRing    = 1 << 18
	maxQueues     = 1024
)

// printLiveSummary writes the loss accounting to stderr at exit: per queue and in total.
func printLiveSummary(w io.Writer, st *LiveStats) {
	xdp.WriteCounterTable(w, "panoptes sensor:", st.Queues)
	fmt.Fprintf(w, "panoptes sensor: %d flow records written, %d dropped inside the sensor (full rings), %d flows evicted early, %d packets failed to decode, %d dropped by the NIC\n",
		st.Records, st.RingDropped, st.Evictions, st.ParseErrors, st.NICDrops)
}
