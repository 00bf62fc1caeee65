package sensor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"panoptes/capture"
	"panoptes/filter"
	"panoptes/record"
	"panoptes/ringbuf"
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
	// Open, if set, opens the capture on an interface in place of AF_XDP or AF_PACKET
	// (a fake source, for tests).
	Open func(iface string) (capture.Capture, error)
	// reshardRing is the packets buffered from each receiver to each flow shard (0:
	// reshardRing); tests make it small to force drops.
	reshardRing int
}

// LiveStats summarises a live capture run: the last counters, read once every queue
// was drained and every shard flushed.
type LiveStats struct {
	Snapshot
	// Started says every socket opened and capture began: there is something to
	// summarise. A sensor that could not start says only why.
	Started bool
}

// Live captures on the configured interfaces until ctx ends (or Duration passes), turning
// packets into flow records written to w. At the end every open flow is flushed and a
// final management record is written; nothing captured is lost.
func Live(ctx context.Context, cfg LiveConfig, w record.Sink, warn func(string)) (LiveStats, error) {
	var st LiveStats
	cfg.defaults()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	caps, shards, err := openSources(&cfg, warn)
	if err != nil {
		return st, err
	}
	defer closeSources(caps)
	var flowShards []*flowShard
	var outs []*ringbuf.Ring[record.Record]
	if cfg.Reshard || len(cfg.Interfaces) > 1 {
		flowShards = newFlowShards(&cfg, caps, shards)
		for _, fs := range flowShards {
			outs = append(outs, fs.ring)
		}
	} else {
		for _, s := range shards {
			outs = append(outs, s.ring)
		}
	}
	ls := newLiveState(cfg.Interfaces, caps, shards, flowShards)
	ls.out = w
	stop := make(chan struct{})
	var wg, fwg sync.WaitGroup
	perShard := cfg.Flow.Share(len(shards))
	for _, s := range shards {
		wg.Go(func() { s.run(perShard, stop) })
	}
	st.Started = true
	if cfg.Ready != nil {
		cfg.Ready()
	}
	for _, fs := range flowShards {
		fwg.Go(fs.run)
	}
	// The writer runs beside; shards stop when ctx ends or an interface vanishes.
	werr := make(chan error, 1)
	go func() { werr <- liveWriter(outs, ls, w, &cfg) }()
	if cfg.Observe != nil {
		defer cfg.Observe(ls)()
	}
	ifaceErr := watchInterfaces(ctx, cfg.Interfaces, warn)
	// Drain first: no frame reaches a queue after that, so the shards can take all that
	// their queues hold before they flush, and the counters read after add up (seen =
	// received + dropped). Frames the kernel had queued when the shards stopped used to
	// be counted as seen but were in no record and no drop counter.
	for _, c := range caps {
		c.Drain()
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
	err = <-werr
	if err == nil {
		err = ifaceErr
	}
	for _, s := range shards {
		if s.err != nil && err == nil {
			err = s.err
		}
	}
	st.Snapshot = ls.Snapshot()
	return st, err
}

func (cfg *LiveConfig) defaults() {
	cfg.Flow.Defaults()
	if cfg.ManInterval <= 0 {
		cfg.ManInterval = cfg.Flow.StatusInterval
	}
	if cfg.RingSize <= 0 {
		cfg.RingSize = 1 << 16
	}
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

// liveWriter drains the shards' record rings into w, writing management records with
// every counter (from the state's Snapshot) at each interval and at the end.
func liveWriter(outs []*ringbuf.Ring[record.Record], ls *LiveState, w record.Sink, cfg *LiveConfig) error {
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
				ls.written.Add(1)
			}
		}
	}
	man := func(cause record.Cause) {
		snap := ls.Snapshot()
		m := snap.Management()
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
