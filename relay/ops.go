package relay

// Operations around `panoptes relay` as a service: the configuration file (--config,
// parsed by internal/cli), log lines for journald and log shippers (--log-format), and
// Prometheus metrics (--metrics): records in per source, out per output, the filter,
// queue depths, drops and the NATS consumers' lag. The counters are atomics bumped on
// the record path; everything else is read only when Prometheus scrapes.

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"panoptes/internal/cli"
	"panoptes/metrics"
)

// DefaultRelayConfig is the configuration file `panoptes relay` reads when it exists
// and --config does not name another.
const DefaultRelayConfig = "/etc/panoptes/relay.conf"

// newLogger returns the relay's log function in the chosen format: plain lines
// ("panoptes relay: ..."), or one logfmt or JSON event per line (level WARN for lines
// that report a loss, a failure or a warning, INFO for the others).
func newLogger(format string, stderr io.Writer) (func(string, ...any), error) {
	var h slog.Handler
	switch format {
	case "plain":
		lw := &lineWriter{w: stderr}
		return func(f string, args ...any) { fmt.Fprintf(lw, "panoptes relay: "+f+"\n", args...) }, nil
	case "logfmt":
		h = slog.NewTextHandler(&lineWriter{w: stderr}, nil)
	case "json":
		h = slog.NewJSONHandler(&lineWriter{w: stderr}, nil)
	default:
		return nil, cli.Usagef("relay: --log-format %q: want plain, logfmt or json", format)
	}
	log := slog.New(h).With("cmd", "relay")
	return func(f string, args ...any) {
		msg := fmt.Sprintf(f, args...)
		if isWarning(msg) {
			log.Warn(msg)
		} else {
			log.Info(msg)
		}
	}, nil
}

func isWarning(msg string) bool {
	for _, w := range []string{"warning", "dropped", "error", "refused", "disconnected", "could not", "retrying", "reconnecting", "gave up", "falls behind"} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

// lineWriter writes each log line with one Write call, so that lines from several
// goroutines never interleave on stderr.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// sources counts the records each input gave, and each NATS subscription's lag.
type sources struct {
	mu  sync.Mutex
	in  []*sourceCount
	lag []*sourceCount
}

type sourceCount struct {
	name string
	n    atomic.Uint64
}

// add registers an input named name and returns its counter.
func (s *sources) add(name string) *atomic.Uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &sourceCount{name: name}
	s.in = append(s.in, c)
	return &c.n
}

// addLag registers a NATS subscription and returns the gauge of its pending messages.
func (s *sources) addLag(name string) *atomic.Uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &sourceCount{name: name}
	s.lag = append(s.lag, c)
	return &c.n
}

func rdesc(name, help string, t metrics.ValueType, labels ...string) *metrics.Desc {
	return metrics.NewDesc("panoptes_relay_"+name, help, t, labels...)
}

var (
	dIn       = rdesc("records_in_total", "Records an input gave the relay, by source: -S upstream, -C collector, --subscribe subject, -r file.", metrics.CounterValue, "source")
	dFiltered = rdesc("records_filtered_total", "Records the relay's filter left out.", metrics.CounterValue)
	dOut      = rdesc("records_out_total", "Records handed to an output: archive (-w, written), service (-P and --argus-port, offered to the clients' queues), publish (--publish, acknowledged by JetStream).", metrics.CounterValue, "output")
	dDrops    = rdesc("drops_total", "Records lost, by cause: client_queue (a -P client's queue or --queue-memory was full), fanout (the record service's fan-out fell behind), publish (--publish gave a batch up).", metrics.CounterValue, "cause")
	dQueue    = rdesc("queue_depth", "Work waiting, by queue: publish_batches (batches of up to 1000 records waiting for JetStream), service_bytes (bytes in the -P clients' queues).", metrics.GaugeValue, "queue")
	dLag      = rdesc("nats_pending_messages", "Messages in the stream that the --subscribe consumer has not yet received (its lag; JetStream's count as of the last message received).", metrics.GaugeValue, "subscription")
	dClients  = rdesc("service_clients", "Clients of -P and --argus-port receiving records.", metrics.GaugeValue)

	dColDatagrams = rdesc("collector_datagrams_total", "Datagrams -C received, by result: decoded, denied (exporter outside --allow, dropped), malformed (dropped from where decoding stopped).", metrics.CounterValue, "result")
	dColRecords   = rdesc("collector_records_total", "Records -C made, by protocol: ipfix (NetFlow v5/v9 and IPFIX), sflow (flow samples, counts scaled by the sampling rate).", metrics.CounterValue, "protocol")
	dColLost      = rdesc("collector_lost_total", "What -C received and could not turn into records, by cause: template_evicted, template_refused, template_expired (templates lost to the budgets), no_template (data sets whose template was not known), sflow_unknown_sample, sflow_skipped_record (formats not decoded), sflow_bad_record (too short), sflow_no_flow (flow samples saying no flow), sflow_datagram_gap (datagrams missing from an agent's sequence numbers: lost before they came).", metrics.CounterValue, "cause")
	dColTemplates = rdesc("collector_templates", "NetFlow v9/IPFIX templates -C holds.", metrics.GaugeValue)
)

// relayMetrics is the relay's metrics.Exporter.
type relayMetrics struct {
	h   *hub
	src *sources
	col *collector // nil without -C
}

func (c *relayMetrics) Collect(s *metrics.Scrape) {
	counter := func(d *metrics.Desc, v uint64, labels ...string) { s.Add(d, float64(v), labels...) }
	gauge := s.Add
	c.src.mu.Lock()
	for _, s := range c.src.in {
		counter(dIn, s.n.Load(), s.name)
	}
	for _, s := range c.src.lag {
		gauge(dLag, float64(s.n.Load()), s.name)
	}
	c.src.mu.Unlock()
	if col := c.col; col != nil {
		n, denied, bad := col.datagrams.Load(), col.denied.Load(), col.malformed.Load()
		counter(dColDatagrams, n-min(n, denied+bad), "decoded")
		counter(dColDatagrams, denied, "denied")
		counter(dColDatagrams, bad, "malformed")
		st, sf := col.dec.Stats(), col.sfl.Stats()
		counter(dColRecords, st.Records, "ipfix")
		counter(dColRecords, sf.Records, "sflow")
		for _, l := range []struct {
			cause string
			n     uint64
		}{{"template_evicted", st.TemplatesEvicted}, {"template_refused", st.TemplatesRefused}, {"template_expired", st.TemplatesExpired},
			{"no_template", st.NoTemplate}, {"sflow_unknown_sample", sf.UnknownSamples}, {"sflow_skipped_record", sf.SkippedRecords},
			{"sflow_bad_record", sf.BadRecords}, {"sflow_no_flow", sf.NoFlow}, {"sflow_datagram_gap", sf.LostDatagrams}} {
			counter(dColLost, l.n, l.cause)
		}
		gauge(dColTemplates, float64(st.TemplatesHeld))
	}
	h := c.h
	counter(dFiltered, h.filtered.Load())
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sink != nil {
		counter(dOut, h.written, "archive")
	}
	if o := h.out; o != nil {
		if o.Srv != nil || o.Asrv != nil {
			st := o.ServiceStats()
			counter(dOut, h.n, "service")
			counter(dDrops, st.Dropped, "client_queue")
			counter(dDrops, st.Unoffered, "fanout")
			gauge(dQueue, float64(st.QueueBytes), "service_bytes")
			gauge(dClients, float64(st.Clients))
		}
		if o.Pub != nil {
			counter(dOut, o.Pub.Sent(), "publish")
			counter(dDrops, o.Pub.Dropped(), "publish")
			gauge(dQueue, float64(o.Pub.Queued()), "publish_batches")
		}
	}
}
