// Package relay is `panoptes relay`, Argus's radium: it collects records from live
// Panoptes sensors and relays and from Argus sensors and radium (-S), NetFlow/IPFIX exporters (-C), a NATS JetStream
// stream (--subscribe) or record files (-r), and hands every record to its own clients
// (-P, each with its own filter, through package recordsvc; Argus clients on
// --argus-port), to a file or archive (-w)
// and to NATS (--publish). Upstreams that go away are reconnected with exponential
// backoff and jitter.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"panoptes/argus"
	"panoptes/filter"
	"panoptes/fleet"
	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/internal/liveout"
	"panoptes/metrics"
	"panoptes/natsstream"
	"panoptes/record"
	"panoptes/recordsvc"
)

const usage = "[-S HOST:PORT | -S argus://HOST[:PORT]]... [-C [ADDR:]PORT] [--subscribe nats://...]... [-r FILE]... [-P PORT [--listen ADDR] | -P unix:/PATH] [--argus-port PORT] [-w OUT] [--publish nats://...] [--metrics ADDR] [--log-format plain|logfmt|json] [--config FILE] [-- FILTER]"

// hub takes records from every input and gives each to every output, one at a time.
type hub struct {
	flt  *filter.Filter
	mu   sync.Mutex
	out  *liveout.Outputs // -P and --publish; nil when neither is asked for
	sink record.SinkCloser
	err  error // the first -w write error; the relay stops on it
	fail context.CancelFunc
	n    uint64 // records that passed the filter
	// written is the records written to -w; filtered those the filter left out.
	written  uint64
	filtered atomic.Uint64
}

func (h *hub) put(r *record.Record) {
	if !h.flt.Match(r) {
		h.filtered.Add(1)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if r.Man != nil && h.sink != nil {
		r = withOutputDrops(r, record.Dropped(h.sink))
	}
	if h.sink != nil && h.err == nil {
		if h.err = h.sink.Write(r); h.err != nil {
			h.fail()
		} else {
			h.written++
		}
	}
	if h.out != nil {
		h.out.Publish(r)
	}
}

// withOutputDrops returns r, a management record, or a copy of it whose OutputDrops
// counts the relay's own -w drops (n) besides those of the sensor or relays before, so
// that clients of the relay see records lost on the way to its database.
func withOutputDrops(r *record.Record, n uint64) *record.Record {
	if n == 0 {
		return r
	}
	c, m := *r, *r.Man
	m.OutputDrops += n
	c.Man = &m
	return &c
}

func (h *hub) flush() {
	h.sync()
}

// sync flushes -w and --publish and returns the -w error, if any: what a NATS
// subscription acknowledges must be on disk (or handed to the OS) first.
func (h *hub) sync() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sink != nil && h.err == nil {
		if h.err = h.sink.Flush(); h.err != nil {
			h.fail()
		}
	}
	if h.out != nil {
		h.out.Flush()
	}
	return h.err
}

// baseContext is what the relay runs under until SIGINT/SIGTERM (tests end it).
var baseContext = context.Background

// config is the relay's command line.
type config struct {
	upstreams   []string
	collect     string
	allow       []string
	subscribe   []string
	filterFlag  string
	metricsAddr string
	logFormat   string
	files       []string
	waitClients int
	upstreamCA  string
	out         string
	archive     *index.ArchiveFlags
	live        liveout.Flags // -P, TLS, client limits, --publish: as the sensor's
	filterText  string
	flt         *filter.Filter
	queries     string // --query-service
}

// parseFlags reads the command line and checks that it names an input and an output.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	var c config
	fs := cli.NewFlagSet("relay", usage, stderr)
	fs.StringArrayVarP(&c.upstreams, "server", "S", nil, "collect records from the Panoptes sensor or relay at `HOST:PORT` (tls://HOST:PORT for TLS), or from the Argus sensor or radium at argus://HOST[:PORT] (port 561 by default); repeatable; reconnects with backoff")
	fs.StringVarP(&c.collect, "collect", "C", "", "collect NetFlow v5/v9, IPFIX and sFlow v5 over UDP on `[ADDR:]PORT` (all addresses when ADDR is left out)")
	fs.StringSliceVar(&c.allow, "allow", nil, "with -C: take datagrams only from exporters in these `CIDR,...` (others are dropped and counted)")
	fs.StringArrayVar(&c.subscribe, "subscribe", nil, "consume records from NATS JetStream at `URL`: nats://HOST:PORT[/SUBJECT] (servers: HOST:PORT,HOST:PORT; parameters: ?stream=S&durable=D) with a durable consumer; SUBJECT may hold wildcards (panoptes.> when left out); repeatable, each with its own durable=")
	fs.StringArrayVarP(&c.files, "read", "r", nil, "replay the records of this stream `FILE` (once; with no other input the relay ends after it); repeatable")
	fs.IntVar(&c.waitClients, "wait-clients", 0, "with -r: start replaying once `N` clients are connected (-P and --argus-port clients together)")
	c.live.RegisterService(fs, "; also presented to -S upstreams that ask for one")
	fs.StringVar(&c.upstreamCA, "tls-ca", "", "verify TLS upstreams (-S) against the CAs in this PEM `FILE` (implies TLS)")
	fs.StringVarP(&c.out, "write", "w", "", "also write every record to `OUT`: a stream file, - for stdout, an archive directory, or argus:FILE (Argus records)")
	c.archive = index.AddArchiveFlags(fs)
	c.live.RegisterPublish(fs)
	fs.StringVar(&c.filterFlag, "filter", "", "relay only the records this ra filter selects (as a filter after --; for the configuration file)")
	fs.StringVar(&c.metricsAddr, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (e.g. 127.0.0.1:9561)")
	fs.StringVar(&c.logFormat, "log-format", "plain", "stderr lines: plain (\"panoptes relay: ...\"), logfmt (time=... level=... msg=..., for journald and log shippers) or json")
	fs.StringVar(&c.queries, "query-service", "", fleet.ServiceFlagUsage+"; the relay then runs until stopped")
	rest, err := cli.ParseWithConfig(fs, args, DefaultRelayConfig)
	if err != nil {
		return nil, err
	}
	c.filterText = strings.TrimSpace(strings.Join(rest, " "))
	if c.filterFlag != "" {
		if c.filterText != "" {
			return nil, cli.Usagef("relay: a filter both in --filter and after --: give one")
		}
		c.filterText = c.filterFlag
	}
	if c.flt, err = filter.Compile(c.filterText); err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	if len(c.upstreams) == 0 && c.collect == "" && len(c.subscribe) == 0 && len(c.files) == 0 {
		return nil, cli.Usagef("relay: no input: give -S HOST:PORT, -C PORT, --subscribe nats://... or -r FILE")
	}
	if !c.live.Any() && c.out == "" {
		return nil, cli.Usagef("relay: no output: give -P PORT, --argus-port PORT, -w OUT or --publish nats://...")
	}
	if err := index.CheckOutput(c.out, c.files); err != nil {
		return nil, err
	}
	if err := fleet.CheckService(c.queries, c.out); err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	for _, name := range c.files {
		if err := checkStream(name); err != nil {
			return nil, &cli.UsageError{Err: err}
		}
	}
	return &c, nil
}

// inputs are the relay's opened inputs besides the -r files.
type inputs struct {
	dial    recordsvc.DialConfig // for the -S upstreams that use TLS
	overTLS func(string) bool    // whether an -S upstream uses TLS
	col     *collector           // -C, or nil
	subs    []natsstream.Target  // --subscribe
}

// openInputs checks -S and --subscribe and binds -C. Inputs are checked before outputs
// open, so that a usage error leaves nothing behind. --tls-cert and --tls-key are the
// relay's own server certificate: only --tls-ca makes plain HOST:PORT upstreams TLS.
func openInputs(c *config, logf func(string, ...any)) (*inputs, error) {
	in := &inputs{overTLS: recordsvc.TLSServers(c.upstreams, c.upstreamCA != "")}
	useTLS := c.upstreamCA != "" || slices.ContainsFunc(c.upstreams, in.overTLS)
	for _, u := range c.upstreams {
		if strings.HasPrefix(u, recordsvc.UnixPrefix) {
			continue
		}
		if argus.IsURL(u) {
			if _, err := argus.ServerAddr(u); err != nil {
				return nil, cli.Usagef("-S %v", err)
			}
			continue
		}
		if _, _, err := net.SplitHostPort(strings.TrimPrefix(u, "tls://")); err != nil {
			return nil, cli.Usagef("-S %q: want HOST:PORT or unix:/PATH", u)
		}
	}
	if useTLS {
		var err error
		if in.dial.TLS, err = recordsvc.ClientTLS(c.upstreamCA, c.live.Cert, c.live.Key); err != nil {
			return nil, &cli.UsageError{Err: err}
		}
	}
	col, err := openCollector(c.collect, c.allow, logf)
	if err != nil {
		return nil, err
	}
	in.col = col
	durables := map[[3]string]string{}
	for _, u := range c.subscribe {
		t, err := natsstream.ParseURL(u)
		if err != nil {
			in.close()
			return nil, cli.Usagef("--subscribe: %v", err)
		}
		// One durable consumer has one position and one subject: two subscriptions
		// sharing it would take records from each other.
		key := [3]string{t.URL, t.Stream, t.Durable}
		if prev, ok := durables[key]; ok {
			in.close()
			return nil, cli.Usagef("--subscribe %s and %s use the same durable consumer %s: give each its own ?durable=", redactURL(prev), redactURL(u), t.Durable)
		}
		durables[key] = u
		in.subs = append(in.subs, t)
	}
	return in, nil
}

func (in *inputs) close() {
	if in.col != nil {
		in.col.conn.Close()
	}
}

// openOutputs opens -P, --publish and -w into h.
func openOutputs(ctx context.Context, c *config, h *hub, stdout io.Writer, logf func(string, ...any)) error {
	if err := c.live.Check("relay"); err != nil {
		return err
	}
	if n := c.live.Services(); n > 0 && (c.waitClients < 0 || c.waitClients > n*c.live.MaxClients) {
		return cli.Usagef("relay: --wait-clients %d: want 0 to --max-clients (%d) for each of -P and --argus-port", c.waitClients, c.live.MaxClients)
	}
	if c.live.Any() {
		// Files and JetStream wait for a slow broker; live upstreams and exporters
		// cannot, so their records are dropped (and counted) instead.
		wait := len(c.upstreams) == 0 && c.collect == ""
		out, err := c.live.Open(ctx, liveout.Options{Prog: "relay", Logf: logf, PublishWait: wait})
		if err != nil {
			return err
		}
		h.out = out
	}
	if c.out != "" {
		archiveOpts, err := c.archive.Options()
		if err != nil {
			return err
		}
		if h.sink, err = index.OpenOutput(c.out, stdout, archiveOpts, logf); err != nil {
			return err
		}
	}
	return nil
}

// Main is `panoptes relay`.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logf, err := newLogger(c.logFormat, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(baseContext(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, fail := context.WithCancel(ctx)
	defer fail()
	h := &hub{flt: c.flt, fail: fail}
	in, err := openInputs(c, logf)
	if err != nil {
		return err
	}
	defer in.close()
	err = openOutputs(ctx, c, h, stdout, logf)
	defer h.closeOnError()
	if err != nil {
		return err
	}
	src := &sources{}
	if c.metricsAddr != "" {
		srv, err := metrics.ServeCollector(c.metricsAddr, &relayMetrics{h: h, src: src, col: in.col})
		if err != nil {
			return cli.Usagef("relay: %v", err)
		}
		defer srv.Close()
		logf("metrics at http://%s/metrics", srv.Addr)
	}
	svc, err := fleet.Start(c.queries, c.out, logf)
	if err != nil {
		return err
	}
	runErr := run(ctx, fail, c, in, h, src, logf)
	svc.Close()
	if in.col != nil {
		in.col.summary()
	}
	err = h.close()
	logf("%d records relayed", h.n)
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	if err == nil {
		err = runErr
	}
	return err
}

// run reads every input into h until ctx ends (or, with only -r files, until they are
// replayed), and returns the error that ended it.
func run(ctx context.Context, fail context.CancelFunc, c *config, in *inputs, h *hub, src *sources, logf func(string, ...any)) error {
	var wg sync.WaitGroup
	live := 0
	for _, u := range c.upstreams {
		live++
		wg.Add(1)
		d := in.dial
		if !in.overTLS(u) {
			d.TLS = nil
		}
		put := h.counted(src.add("-S " + u))
		go func() {
			defer wg.Done()
			follow(ctx, u, c.filterText, d, put, logf)
		}()
	}
	if in.col != nil {
		live++
		wg.Add(1)
		put := h.counted(src.add("-C " + c.collect))
		go func() {
			defer wg.Done()
			in.col.run(ctx, put)
		}()
	}
	var subMu sync.Mutex
	var subErr error // the first --subscribe error
	states := map[string]bool{}
	for i, t := range in.subs {
		live++
		wg.Add(1)
		name := redactURL(c.subscribe[i])
		n, lag := src.add("--subscribe "+name), src.addLag(name)
		opts := natsstream.ConsumeOptions{Logf: logf, Sync: h.sync, Lag: lag.Store}
		if c.out != "-" && index.IsArchive(c.out) {
			// Into an archive each record goes once, also across restarts: the
			// sequences given are kept beside it (see ConsumeOptions.StatePath).
			file := "nats-" + t.Durable
			if states[file] { // the same durable name on another broker
				file += "-" + strconv.Itoa(i+1)
			}
			states[file] = true
			opts.StatePath = filepath.Join(c.out, file+".given")
		}
		go func() {
			defer wg.Done()
			// Consume retries what can be retried; an error it returns (no server at
			// start, the stream deleted) stops the relay rather than leaving it idle.
			err := natsstream.Consume(ctx, t, opts, func(r *record.Record) error {
				n.Add(1)
				h.put(r)
				return nil
			})
			if err != nil {
				subMu.Lock()
				if subErr == nil {
					subErr = fmt.Errorf("--subscribe: %w", err)
				}
				subMu.Unlock()
				fail()
			}
		}()
	}
	go h.flushEverySecond(ctx)
	var runErr error
	if len(c.files) > 0 {
		runErr = h.replay(ctx, c, h.counted(src.add("-r")), logf)
		if live == 0 && c.queries == "" || runErr != nil {
			fail()
		}
	}
	<-ctx.Done()
	wg.Wait()
	if runErr == nil {
		runErr = subErr
	}
	return runErr
}

// replay replays the -r files, once --wait-clients clients are there.
func (h *hub) replay(ctx context.Context, c *config, put func(*record.Record), logf func(string, ...any)) error {
	if h.out != nil && c.waitClients > 0 && (h.out.Srv != nil || h.out.Asrv != nil) {
		if err := h.out.WaitClients(ctx, c.waitClients); err != nil {
			return ctx.Err()
		}
	}
	return replay(ctx, c.files, put, logf)
}

// counted returns h.put that also counts the records in n.
func (h *hub) counted(n *atomic.Uint64) func(*record.Record) {
	return func(r *record.Record) {
		n.Add(1)
		h.put(r)
	}
}

// redactURL is u without a password, for logs and metrics.
func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		if pw, ok := p.User.Password(); ok {
			return strings.Replace(u, ":"+pw+"@", ":xxxxx@", 1)
		}
	}
	return u
}

// flushEverySecond lets -w and --publish see records within a second.
func (h *hub) flushEverySecond(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.flush()
		}
	}
}

// close closes the outputs once the inputs are done: the clients get up to 30 s to
// take what is queued for them, NATS what the publisher holds, and -w is closed. It
// returns the first -w error, else the first error closing.
func (h *hub) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.err
	if h.out != nil {
		h.out.CloseService(30 * time.Second)
		if perr := h.out.ClosePublisher(); err == nil {
			err = perr
		}
	}
	if h.sink != nil {
		if cerr := h.sink.Close(); err == nil {
			err = cerr
		}
		h.sink = nil
	}
	return err
}

// closeOnError closes what close has not: the outputs opened before an error stopped
// the relay.
func (h *hub) closeOnError() {
	if h.out != nil {
		h.out.CloseService(5 * time.Second)
	}
}

// upstream is a connection to a Panoptes record service or an Argus server.
type upstream interface {
	Read(*record.Record) error
	Close() error
	Count() uint64
}

// follow reads from one upstream for as long as ctx lasts, reconnecting with
// exponential backoff (250 ms doubling to 30 s, with ±25 % jitter) and logging each
// outage once.
func follow(ctx context.Context, addr, filterText string, cfg recordsvc.DialConfig, put func(*record.Record), logf func(string, ...any)) {
	addr = strings.TrimPrefix(addr, "tls://")
	isArgus := argus.IsURL(addr)
	if isArgus {
		addr, _ = argus.ServerAddr(addr) // checked by Main
	}
	cfg.Drops = func(n uint64) {
		logf("upstream %s dropped %d records for this relay (it read too slowly, or the upstream fell behind; its log says which)", addr, n)
	}
	const first, most = 250 * time.Millisecond, 30 * time.Second
	backoff := first
	down := false
	var rec record.Record
	for ctx.Err() == nil {
		var s upstream
		var err error
		if isArgus {
			s, err = argus.Dial(ctx, addr, filterText, 0)
		} else {
			s, err = recordsvc.Dial(ctx, addr, filterText, cfg)
		}
		if err != nil {
			var ref *recordsvc.RefusedError
			if errors.As(err, &ref) {
				logf("upstream %s refused the filter: %s (not retried)", addr, ref.Msg)
				return
			}
			var aref *argus.RefusedError
			if errors.As(err, &aref) {
				logf("upstream %v (not retried)", err)
				return
			}
			if !down && ctx.Err() == nil {
				logf("upstream %v; retrying with backoff", err) // Dial's errors start with the address
				down = true
			}
		} else {
			logf("upstream %s: connected", addr)
			down, backoff = false, first
			stop := context.AfterFunc(ctx, func() { s.Close() })
			for {
				if err = s.Read(&rec); err != nil {
					break
				}
				put(&rec)
			}
			stop()
			s.Close()
			if ctx.Err() != nil {
				return
			}
			if err == io.EOF {
				logf("upstream %s ended its stream after %d records; reconnecting", addr, s.Count())
			} else {
				logf("upstream %v; reconnecting", err)
			}
			down = true
		}
		wait := time.Duration(float64(backoff) * (0.75 + 0.5*rand.Float64()))
		backoff = min(2*backoff, most)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// openCollector binds -C (all addresses when addr has no ADDR:); nil without -C.
func openCollector(addr string, allow []string, logf func(string, ...any)) (*collector, error) {
	if addr == "" {
		if len(allow) > 0 {
			return nil, cli.Usagef("--allow needs -C")
		}
		return nil, nil
	}
	prefixes, err := parseAllow(allow)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	bind := addr
	if !strings.Contains(bind, ":") {
		bind = ":" + bind
	}
	ua, err := net.ResolveUDPAddr("udp", bind)
	if err != nil {
		return nil, cli.Usagef("-C %q: %v", addr, err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("-C %s: %w", addr, err)
	}
	// Exports come in bursts (a router's cache flush, softflowd at exit): the default
	// 208 KB receive buffer lost half of a 3,300-datagram burst that 4 MiB held
	// whole (bench/RESULTS.md). The kernel caps it at net.core.rmem_max.
	udp.SetReadBuffer(4 << 20)
	return newCollector(udp, prefixes, logf), nil
}

// checkStream reads the header of the stream file name, so that a file that is not one
// fails before any output is opened.
func checkStream(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	in, isArgus, err := argus.Sniff(f, name)
	if err != nil {
		return err
	}
	if isArgus {
		_, err = argus.NewReader(in, name)
		return err
	}
	_, err = record.NewReader(in, name)
	return err
}

// recordReader reads one record file: a Panoptes stream or an Argus record file
// (recognised by its magic), either plain or gzip-compressed.
type recordReader interface {
	Read(*record.Record) error
}

func openRecords(f *os.File, name string) (recordReader, error) {
	in, isArgus, err := argus.Sniff(f, name)
	if err != nil {
		return nil, err
	}
	if isArgus {
		return argus.NewReader(in, name)
	}
	return record.NewReader(in, name)
}

// replay reads record files into the hub, in order.
func replay(ctx context.Context, files []string, put func(*record.Record), logf func(string, ...any)) error {
	var rec record.Record
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		rd, err := openRecords(f, name)
		if err != nil {
			f.Close()
			return &cli.UsageError{Err: err}
		}
		for ctx.Err() == nil {
			if err = rd.Read(&rec); err != nil {
				break
			}
			put(&rec)
		}
		f.Close()
		if a, ok := rd.(*argus.Reader); ok {
			if sk := a.SkippedSummary(); sk != "" {
				logf("warning: %s: skipped %s that Panoptes does not model", name, sk)
			}
		}
		if errors.Is(err, record.ErrTruncated) {
			logf("warning: %v (the records before it are used)", err)
		} else if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
