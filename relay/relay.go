// Package relay is `panoptes relay`, Argus's radium: it collects records from live
// Panoptes sensors and relays (-S), NetFlow/IPFIX exporters (-C), a NATS JetStream
// stream (--subscribe) or record files (-r), and hands every record to its own clients
// (-P, each with its own filter, through package recordsvc), to a file or archive (-w)
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
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"panoptes/filter"
	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/natsstream"
	"panoptes/record"
	"panoptes/recordsvc"
)

const usage = "[-S HOST:PORT]... [-C [ADDR:]PORT] [--subscribe nats://...] [-r FILE]... [-P PORT [--listen ADDR] | -P unix:/PATH] [-w OUT] [--publish nats://...] [-- FILTER]"

// hub takes records from every input and gives each to every output, one at a time.
type hub struct {
	flt  *filter.Filter
	mu   sync.Mutex
	srv  *recordsvc.Server
	sink record.Sink
	pub  *natsstream.Publisher
	err  error // the first -w write error; the relay stops on it
	fail context.CancelFunc
	n    uint64
}

func (h *hub) put(r *record.Record) {
	if !h.flt.Match(r) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if h.srv != nil {
		h.srv.Publish(r)
	}
	if h.sink != nil && h.err == nil {
		if h.err = h.sink.Write(r); h.err != nil {
			h.fail()
		}
	}
	if h.pub != nil {
		h.pub.Write(r)
	}
}

func (h *hub) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sink != nil && h.err == nil {
		if h.err = h.sink.Flush(); h.err != nil {
			h.fail()
		}
	}
	if h.pub != nil {
		h.pub.Flush()
	}
}

// baseContext is what the relay runs under until SIGINT/SIGTERM (tests end it).
var baseContext = context.Background

// Main is `panoptes relay`.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("relay", usage, stderr)
	upstreams := fs.StringArrayP("server", "S", nil, "collect records from the Panoptes sensor or relay at `HOST:PORT` (tls://HOST:PORT for TLS); repeatable; reconnects with backoff")
	collect := fs.StringP("collect", "C", "", "collect NetFlow v5/v9 and IPFIX over UDP on `[ADDR:]PORT` (all addresses when ADDR is left out)")
	allow := fs.StringSlice("allow", nil, "with -C: take datagrams only from exporters in these `CIDR,...` (others are dropped and counted)")
	subscribe := fs.String("subscribe", "", "consume records from NATS JetStream at `URL` (nats://HOST:PORT[/SUBJECT][?stream=S&durable=D]) with a durable consumer")
	files := fs.StringArrayP("read", "r", nil, "replay the records of this stream `FILE` (once; with no other input the relay ends after it); repeatable")
	waitClients := fs.Int("wait-clients", 0, "with -r: start replaying once `N` clients are connected")
	port := fs.StringP("port", "P", "", "serve records to clients (panoptes read -S) on TCP `PORT` (on --listen), or on a Unix socket: unix:/PATH (mode 0660, group panoptes)")
	listen := fs.String("listen", "127.0.0.1", "with -P: the `ADDR` to listen on (0.0.0.0 or :: for every address)")
	cert := fs.String("tls-cert", "", "serve TLS with this certificate (PEM `FILE`); also presented to -S upstreams that ask for one")
	key := fs.String("tls-key", "", "the key of --tls-cert (PEM `FILE`)")
	clientCA := fs.String("tls-client-ca", "", "require client certificates signed by a CA in this PEM `FILE`")
	upstreamCA := fs.String("tls-ca", "", "verify TLS upstreams (-S) against the CAs in this PEM `FILE` (implies TLS)")
	clientBuffer := fs.Int("client-buffer", 4<<20, "`BYTES` of records queued per client before records are dropped for it")
	maxClients := fs.Int("max-clients", recordsvc.DefaultMaxClients, "with -P: serve at most `N` clients at once; more are answered \"busy\" and counted")
	queueMemory := fs.Int64("queue-memory", recordsvc.DefaultQueueMemory, "with -P: `BYTES` of records queued for all clients together; records beyond are dropped for the client (and reported to it)")
	out := fs.StringP("write", "w", "", "also write every record to `OUT`: a stream file, - for stdout, an archive directory, or argus:FILE (Argus records)")
	archive := index.AddArchiveFlags(fs)
	publish := fs.String("publish", "", "also publish every record to NATS JetStream at `URL` (nats://HOST:PORT[/SUBJECT][?stream=S]; the stream is created if absent)")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	text := strings.TrimSpace(strings.Join(rest, " "))
	flt, err := filter.Compile(text)
	if err != nil {
		return &cli.UsageError{Err: err}
	}
	if len(*upstreams) == 0 && *collect == "" && *subscribe == "" && len(*files) == 0 {
		return cli.Usagef("relay: no input: give -S HOST:PORT, -C PORT, --subscribe nats://... or -r FILE")
	}
	if *port == "" && *out == "" && *publish == "" {
		return cli.Usagef("relay: no output: give -P PORT, -w OUT or --publish nats://...")
	}
	if err := index.CheckOutput(*out, *files); err != nil {
		return err
	}
	for _, name := range *files {
		if err := checkStream(name); err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "panoptes relay: "+format+"\n", args...)
	}
	ctx, stop := signal.NotifyContext(baseContext(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, fail := context.WithCancel(ctx)
	defer fail()
	h := &hub{flt: flt, fail: fail}

	// Inputs are checked before outputs open, so that a usage error leaves nothing behind.
	// --tls-cert and --tls-key are the relay's own server certificate: only --tls-ca
	// makes plain HOST:PORT upstreams TLS.
	overTLS := recordsvc.TLSServers(*upstreams, *upstreamCA != "")
	var dial recordsvc.DialConfig
	useTLS := *upstreamCA != "" || slices.ContainsFunc(*upstreams, overTLS)
	for _, u := range *upstreams {
		if strings.HasPrefix(u, recordsvc.UnixPrefix) {
			continue
		}
		if _, _, err := net.SplitHostPort(strings.TrimPrefix(u, "tls://")); err != nil {
			return cli.Usagef("-S %q: want HOST:PORT or unix:/PATH", u)
		}
	}
	if useTLS {
		if dial.TLS, err = recordsvc.ClientTLS(*upstreamCA, *cert, *key); err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	col, err := openCollector(*collect, *allow, logf)
	if err != nil {
		return err
	}
	if col != nil {
		defer col.conn.Close()
	}
	var sub natsstream.Target
	if *subscribe != "" {
		if sub, err = natsstream.ParseURL(*subscribe); err != nil {
			return cli.Usagef("--subscribe: %v", err)
		}
	}
	if *port != "" {
		addr, err := recordsvc.ListenAddress(*port, *listen)
		if err != nil {
			return cli.Usagef("relay: %v", err)
		}
		if err := recordsvc.CheckLimits(*clientBuffer, *maxClients, *queueMemory); err != nil {
			return cli.Usagef("relay: %v", err)
		}
		if *waitClients < 0 || *waitClients > *maxClients {
			return cli.Usagef("relay: --wait-clients %d: want 0 to --max-clients (%d)", *waitClients, *maxClients)
		}
		cfg := recordsvc.Config{ClientBuffer: *clientBuffer, MaxClients: *maxClients, QueueMemory: *queueMemory, Logf: logf}
		if *cert != "" || *key != "" || *clientCA != "" {
			if cfg.TLS, err = recordsvc.ServerTLS(*cert, *key, *clientCA); err != nil {
				return &cli.UsageError{Err: err}
			}
		}
		h.srv, err = recordsvc.Listen(addr, cfg)
		if err != nil {
			return fmt.Errorf("-P %s: %w", *port, err)
		}
		logf("serving records on %s", h.srv.Addr())
		if w := recordsvc.ExposureWarning(h.srv.Addr(), cfg.TLS); w != "" {
			logf("warning: %s", w)
		}
		defer h.srv.Close(5 * time.Second)
	}
	if *publish != "" {
		t, err := natsstream.ParseURL(*publish)
		if err != nil {
			return cli.Usagef("--publish: %v", err)
		}
		if h.pub, err = natsstream.NewPublisher(ctx, t, natsstream.PublisherOptions{Logf: logf}); err != nil {
			return err
		}
	}
	var closeSink func() error
	if *out != "" {
		archiveOpts, err := archive.Options()
		if err != nil {
			return err
		}
		if h.sink, closeSink, err = index.OpenOutput(*out, stdout, archiveOpts, logf); err != nil {
			return err
		}
	}

	var wg sync.WaitGroup
	live := 0
	for _, u := range *upstreams {
		live++
		wg.Add(1)
		c := dial
		if !overTLS(u) {
			c.TLS = nil
		}
		go func() {
			defer wg.Done()
			follow(ctx, u, text, c, h.put, logf)
		}()
	}
	if col != nil {
		live++
		wg.Add(1)
		go func() {
			defer wg.Done()
			col.run(ctx, h.put)
		}()
	}
	var subErr error // read after wg.Wait
	if *subscribe != "" {
		live++
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Consume retries what can be retried; an error it returns (no server at
			// start, the stream deleted) stops the relay rather than leaving it idle.
			if err := natsstream.Consume(ctx, sub, logf, func(r *record.Record) error { h.put(r); return nil }); err != nil {
				subErr = fmt.Errorf("--subscribe: %w", err)
				fail()
			}
		}()
	}
	go func() { // -w and --publish see records within a second
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
	}()
	var runErr error
	if len(*files) > 0 {
		if h.srv != nil && *waitClients > 0 {
			if err := h.srv.WaitClients(ctx, *waitClients); err != nil {
				runErr = ctx.Err()
			}
		}
		if runErr == nil {
			runErr = replay(ctx, *files, h.put, logf)
		}
		if live == 0 || runErr != nil {
			fail()
		}
	}
	<-ctx.Done()
	wg.Wait()
	if col != nil {
		col.summary()
	}
	if runErr == nil {
		runErr = subErr
	}
	if h.srv != nil {
		h.srv.Close(30 * time.Second) // let clients take what is queued for them
		logf("%s", h.srv.Stats().Summary())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	err = h.err
	if h.pub != nil {
		if perr := h.pub.Close(10 * time.Second); err == nil {
			err = perr
		}
	}
	if closeSink != nil {
		if cerr := closeSink(); err == nil {
			err = cerr
		}
	}
	logf("%d records relayed", h.n)
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	if err == nil {
		err = runErr
	}
	return err
}

// follow reads from one upstream for as long as ctx lasts, reconnecting with
// exponential backoff (250 ms doubling to 30 s, with ±25 % jitter) and logging each
// outage once.
func follow(ctx context.Context, addr, filterText string, cfg recordsvc.DialConfig, put func(*record.Record), logf func(string, ...any)) {
	addr = strings.TrimPrefix(addr, "tls://")
	cfg.Drops = func(n uint64) {
		logf("upstream %s dropped %d records for this relay (it read too slowly, or the upstream fell behind; its log says which)", addr, n)
	}
	const first, most = 250 * time.Millisecond, 30 * time.Second
	backoff := first
	down := false
	var rec record.Record
	for ctx.Err() == nil {
		s, err := recordsvc.Dial(ctx, addr, filterText, cfg)
		if err != nil {
			var ref *recordsvc.RefusedError
			if errors.As(err, &ref) {
				logf("upstream %s refused the filter: %s (not retried)", addr, ref.Msg)
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
	_, err = record.NewReader(f, name)
	return err
}

// replay reads record files into the hub, in order.
func replay(ctx context.Context, files []string, put func(*record.Record), logf func(string, ...any)) error {
	var rec record.Record
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		rd, err := record.NewReader(f, name)
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
		if errors.Is(err, record.ErrTruncated) {
			logf("warning: %v (the records before it are used)", err)
		} else if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
