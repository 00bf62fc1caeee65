// Package metrics exposes a running sensor's counters to Prometheus. The sensor already
// counts everything in its capture path (XDP program maps, socket statistics, atomics
// each shard publishes); this package only reads them when Prometheus scrapes, through a
// custom Collector over a Snapshot, so serving metrics adds no work to the packet path.
// It writes the text exposition format itself (expose.go), with the standard go_* and
// process_* metrics (runtime.go).
//
// It imports nothing of Panoptes but the leaf internal/buildinfo: the sensor fills a Snapshot
// from its own state.
package metrics

import (
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
)

// Queue is one capture queue's counters (an AF_XDP socket's RX queue or an AF_PACKET
// fanout member), all cumulative since the sensor started.
type Queue struct {
	Iface string
	Queue int
	// Decoded packets and their wire bytes, as the shard counted them.
	Packets, Bytes uint64
	// Counters are the capture source's own (XDP program and AF_XDP socket, AF_PACKET
	// socket), under the names the source gives them.
	Counters []Counter
	// The queue's record ring to the writer, and the records lost on it.
	RecordRingLen, RecordRingCap int
	RecordRingDropped            uint64
	// ReshardDropped is the packets lost on the queue's rings to the flow shards.
	ReshardDropped uint64
	// Flow-table occupancy of the queue's own table (0 in reshard mode).
	Flows int64
}

// Counter is one of a capture source's counters: a counter named panoptes_METRIC, or
// with Cause set a cause of panoptes_drops_total.
type Counter struct {
	Metric, Cause, Help string
	Value               uint64
}

// FlowShard is one flow table fed by every queue (reshard mode).
type FlowShard struct {
	Shard                        int
	Flows                        int64
	RecordRingLen, RecordRingCap int
	RecordRingDropped            uint64
}

// NIC is an interface's driver drop counters (sysfs statistics), since the sensor started.
type NIC struct {
	Iface                 string
	Missed, FIFO, Overrun uint64
}

// Snapshot is everything exported at one scrape.
type Snapshot struct {
	Queues         []Queue
	FlowShards     []FlowShard
	NICs           []NIC
	Evictions      uint64
	ParseErrors    uint64
	RecordsWritten uint64
	// OutputDropped is the flow records the output dropped: a database output's queue
	// was full while the database refused its batches.
	OutputDropped uint64
	// ArchiveBytes is the size on disk of the output archive (or file); negative when
	// the output is not measurable (stdout).
	ArchiveBytes int64
	// Service is the record service's (-P) counters; nil without -P.
	Service *Service
}

// Service is the live record service's counters (sensor -P).
type Service struct {
	Clients    int    // clients receiving records now
	Refused    uint64 // connections turned away: busy (--max-clients, descriptors), bad hello or filter
	Dropped    uint64 // records dropped for a client: its queue or the memory budget was full
	Unoffered  uint64 // records dropped before the fan-out to clients (it fell behind the writer)
	QueueBytes int64  // bytes held by the client queues
}

// Source gives the current snapshot; ok is false when there is nothing to report (the
// sensor is starting or has stopped).
type Source func() (s Snapshot, ok bool)

func desc(name, help string, t ValueType, labels ...string) *Desc {
	return NewDesc("panoptes_"+name, help, t, labels...)
}

var qLabels = []string{"iface", "queue"}

// sensorDescs are the sensor's metric descriptions; made at the first scrape, not at
// the start of every command of the binary.
type sensorDescs struct {
	packets, bytes, drops, nicDrops, flows, ringLen, ringCap *Desc
	evictions, parseErr, written, outDrops, archive, up      *Desc
	svcClients, svcRefused, svcDropped, svcQueue             *Desc
}

var descs = sync.OnceValue(func() *sensorDescs {
	return &sensorDescs{
		packets:    desc("packets_total", "Packets decoded by the capture shard of a queue.", CounterValue, qLabels...),
		bytes:      desc("bytes_total", "Wire bytes of the packets decoded by the capture shard of a queue.", CounterValue, qLabels...),
		drops:      desc("drops_total", "Frames, packets or records dropped in the sensor, by cause: xdp_meta_error (XDP program), socket_rx_dropped, socket_ring_full, fill_ring_empty, invalid_descriptor (AF_XDP socket; fill_ring_empty is also counted in socket_rx_dropped), afpacket_ring_full (AF_PACKET socket), reshard_ring_full (packets lost between a queue and the flow shards), record_ring_full (records lost between a shard and the writer).", CounterValue, "cause", "iface", "queue"),
		nicDrops:   desc("nic_drops_total", "Frames the NIC's driver dropped before the kernel's receive path, by cause: missed, fifo, overrun.", CounterValue, "cause", "iface"),
		flows:      desc("flow_table_flows", "Flows held in a flow table (one table per capture queue, or per flow shard with --reshard or several interfaces).", GaugeValue, "shard"),
		ringLen:    desc("record_ring_occupancy", "Records waiting in a shard's ring to the writer.", GaugeValue, "shard"),
		ringCap:    desc("record_ring_capacity", "Capacity of a shard's ring to the writer, in records.", GaugeValue, "shard"),
		evictions:  desc("evictions_total", "Flows exported early because a flow table was full (--max-flows).", CounterValue),
		parseErr:   desc("parse_errors_total", "Frames that failed to decode.", CounterValue),
		written:    desc("records_written_total", "Flow records written to the output.", CounterValue),
		outDrops:   desc("output_dropped_total", "Flow records the output dropped: a database output (-w mysql://, postgres://) whose queue was full while the database refused its batches.", CounterValue),
		archive:    desc("archive_size_bytes", "Size on disk of the output archive directory or file.", GaugeValue),
		up:         desc("capture_up", "1 while the capture is running.", GaugeValue),
		svcClients: desc("service_clients", "Clients of the record service (-P) receiving records.", GaugeValue),
		svcRefused: desc("service_refused_total", "Connections the record service turned away: busy (--max-clients, file descriptors), bad hello or filter.", CounterValue),
		svcDropped: desc("service_dropped_total", "Records the record service dropped for clients, by cause: client_queue (the client's queue or --queue-memory was full), fanout (the fan-out fell behind the writer; counted once, every client is told).", CounterValue, "cause"),
		svcQueue:   desc("service_queue_bytes", "Bytes held by the record service's client queues (at most --queue-memory).", GaugeValue),
	}
})

// Collector is the sensor's Exporter: it reads a Source at each scrape.
type Collector struct {
	src Source
	mu  sync.Mutex
	// descs are the capture sources' counters' descriptions, made at first sight.
	descs map[string]*Desc
}

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector {
	return &Collector{src: src, descs: map[string]*Desc{}}
}

// sourceDesc returns the description of a capture source's counter.
func (c *Collector) sourceDesc(k Counter) *Desc {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.descs[k.Metric]
	if d == nil {
		d = desc(k.Metric, k.Help, CounterValue, qLabels...)
		c.descs[k.Metric] = d
	}
	return d
}

// Collect reads one snapshot and adds it to the scrape.
func (c *Collector) Collect(sc *Scrape) {
	d := descs()
	s, ok := c.src()
	if !ok {
		sc.Add(d.up, 0)
		return
	}
	sc.Add(d.up, 1)
	counter := func(d *Desc, v uint64, labels ...string) { sc.Add(d, float64(v), labels...) }
	gauge := sc.Add
	for _, q := range s.Queues {
		qn := strconv.Itoa(q.Queue)
		counter(d.packets, q.Packets, q.Iface, qn)
		counter(d.bytes, q.Bytes, q.Iface, qn)
		for _, k := range q.Counters {
			if k.Cause != "" {
				counter(d.drops, k.Value, k.Cause, q.Iface, qn)
			} else {
				counter(c.sourceDesc(k), k.Value, q.Iface, qn)
			}
		}
		counter(d.drops, q.RecordRingDropped, "record_ring_full", q.Iface, qn)
		counter(d.drops, q.ReshardDropped, "reshard_ring_full", q.Iface, qn)
		shard := q.Iface + "/" + qn
		gauge(d.flows, float64(q.Flows), shard)
		gauge(d.ringLen, float64(q.RecordRingLen), shard)
		gauge(d.ringCap, float64(q.RecordRingCap), shard)
	}
	for _, f := range s.FlowShards {
		shard := "flow/" + strconv.Itoa(f.Shard)
		gauge(d.flows, float64(f.Flows), shard)
		gauge(d.ringLen, float64(f.RecordRingLen), shard)
		gauge(d.ringCap, float64(f.RecordRingCap), shard)
		counter(d.drops, f.RecordRingDropped, "record_ring_full", "", shard)
	}
	for _, n := range s.NICs {
		counter(d.nicDrops, n.Missed, "missed", n.Iface)
		counter(d.nicDrops, n.FIFO, "fifo", n.Iface)
		counter(d.nicDrops, n.Overrun, "overrun", n.Iface)
	}
	counter(d.evictions, s.Evictions)
	counter(d.parseErr, s.ParseErrors)
	counter(d.written, s.RecordsWritten)
	counter(d.outDrops, s.OutputDropped)
	if s.ArchiveBytes >= 0 {
		gauge(d.archive, float64(s.ArchiveBytes))
	}
	if v := s.Service; v != nil {
		gauge(d.svcClients, float64(v.Clients))
		counter(d.svcRefused, v.Refused)
		counter(d.svcDropped, v.Dropped, "client_queue")
		counter(d.svcDropped, v.Unoffered, "fanout")
		gauge(d.svcQueue, float64(v.QueueBytes))
	}
}

// Server serves /metrics on one address.
type Server struct {
	Addr string // the address actually listened on (port 0 resolved)
	srv  *http.Server
	done chan struct{}

	open, peak atomic.Int64 // connections open now, and the most at once
}

// Bounds of the metrics server, so that scrapers (or anyone who can reach the port)
// cannot hold the sensor's file descriptors: at most maxConns connections are accepted
// at once (more wait in the kernel's backlog), and a kept-alive connection with no new
// request is closed after idleTimeout.
var (
	maxConns    = 16
	idleTimeout = 30 * time.Second
)

// track counts connections, for the bound's test.
func (s *Server) track(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		n := s.open.Add(1)
		for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
		}
	case http.StateHijacked, http.StateClosed:
		s.open.Add(-1)
	}
}

// Serve listens on addr and serves /metrics (the collector, panoptes_build_info, and the
// Go runtime's and the process's metrics under their standard go_* and process_* names)
// until Close. A listen error is returned at once.
func Serve(addr string, c *Collector) (*Server, error) { return ServeCollector(addr, c) }

// ServeCollector is Serve for any exporter (the relay's).
func ServeCollector(addr string, c Exporter) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(newBuildInfo(), c, goMetrics{}, processMetrics{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "panoptes: metrics at /metrics")
	})
	s := &Server{Addr: ln.Addr().String(), done: make(chan struct{})}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: idleTimeout, ConnState: s.track}
	ln = netutil.LimitListener(ln, maxConns)
	go func() {
		defer close(s.done)
		// Serve returns ErrServerClosed after Close, or a listener error, after which
		// there is nothing to serve: the capture goes on without metrics.
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// ContentType is that of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the exporters' metrics in the text format, gzipped for a client that
// accepts it (Prometheus does). A sample in error is left out and the others are
// served, as client_golang's handler did with ContinueOnError: the exporters' tests
// check that WriteText returns no error.
func Handler(es ...Exporter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s Scrape
		for _, e := range es {
			e.Collect(&s)
		}
		b, _ := s.appendText(nil)
		h := w.Header()
		h.Set("Content-Type", ContentType)
		h.Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Length", strconv.Itoa(len(b)))
			_, _ = w.Write(b)
			return
		}
		h.Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		_, _ = gz.Write(b)
		// An error here is the client's connection failing: there is no one to tell.
		_ = gz.Close()
	})
}

// acceptsGzip reports whether an Accept-Encoding header value accepts gzip: it names
// gzip (or *) without q=0.
func acceptsGzip(h string) bool {
	for e := range strings.SplitSeq(h, ",") {
		name, params, _ := strings.Cut(e, ";")
		if name = strings.TrimSpace(name); name != "gzip" && name != "*" {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if v, err := strconv.ParseFloat(q, 64); ok && err == nil && v == 0 {
			return false
		}
		return true
	}
	return false
}

// Close stops serving, letting a scrape in progress finish (for at most 2 s).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Gate makes a Source safe to call while its owner starts and stops: Set installs the
// function reading live state, Clear removes it and waits for a read in progress, so
// the owner can free what the function reads.
type Gate struct {
	mu  sync.Mutex
	get func() Snapshot
}

// Source returns the gate as a Source.
func (g *Gate) Source() Source {
	return func() (Snapshot, bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.get == nil {
			return Snapshot{}, false
		}
		return g.get(), true
	}
}

// Set installs get.
func (g *Gate) Set(get func() Snapshot) {
	g.mu.Lock()
	g.get = get
	g.mu.Unlock()
}

// Clear removes the function, after any read in progress.
func (g *Gate) Clear() { g.Set(nil) }
