package sensor

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/pflag"

	"panoptes/internal/cli"
	"panoptes/natsstream"
	"panoptes/record"
	"panoptes/recordsvc"
)

// serveFlags are the sensor's live outputs besides -w: the record service for
// `read -S` and relays (-P), Argus's clients (--argus-port), and NATS JetStream
// (--publish).
type serveFlags struct {
	port, listen        string
	argusPort           string
	cert, key, clientCA string
	publish             string
	clientBuffer        int
	maxClients          int
	queueMemory         int64

	srv  *recordsvc.Server // once wrap has opened it
	asrv *recordsvc.Server // --argus-port, likewise
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.port, "port", "P", "", "serve records live to clients (panoptes read -S, panoptes relay -S) on TCP `PORT` (on --listen), or on a Unix socket: unix:/PATH (mode 0660, group panoptes)")
	fs.StringVar(&f.argusPort, "argus-port", "", "serve records live to Argus clients (ra -S, radium -S, rasqlinsert -S) with Argus's protocol on TCP `PORT` (on --listen; plain, no SASL); each client's filter, queue and drops as on -P")
	fs.StringVar(&f.listen, "listen", "127.0.0.1", "with -P PORT and --argus-port: the `ADDR` to listen on (0.0.0.0 or :: for every address: a warning unless --tls-client-ca)")
	fs.StringVar(&f.cert, "tls-cert", "", "with -P: serve TLS with this certificate (PEM `FILE`)")
	fs.StringVar(&f.key, "tls-key", "", "with -P: the key of --tls-cert (PEM `FILE`)")
	fs.StringVar(&f.clientCA, "tls-client-ca", "", "with -P: require client certificates signed by a CA in this PEM `FILE`")
	fs.IntVar(&f.clientBuffer, "client-buffer", 4<<20, "with -P: `BYTES` of records queued per client; records beyond are dropped for that client (and reported to it)")
	fs.IntVar(&f.maxClients, "max-clients", recordsvc.DefaultMaxClients, "with -P: serve at most `N` clients at once; more are answered \"busy\" and counted")
	fs.Int64Var(&f.queueMemory, "queue-memory", recordsvc.DefaultQueueMemory, "with -P: `BYTES` of records queued for all clients together; records beyond are dropped for the client (and reported to it)")
	fs.StringVar(&f.publish, "publish", "", "also publish records to NATS JetStream at `URL` (nats://HOST:PORT[/SUBJECT][?stream=S]; the stream is created if absent)")
}

// wrap tees the records written to w into the record service and NATS, when asked
// for. Neither ever blocks the writer: slow clients and a slow broker lose records
// (counted and logged), the -w output does not. closeAll closes them, then closeW.
func (f *serveFlags) wrap(w record.Sink, closeW func() error, logf func(string, ...any)) (record.Sink, func() error, error) {
	if f.port == "" && f.argusPort == "" && f.publish == "" {
		return w, closeW, nil
	}
	t, err := f.open(w, logf)
	if err != nil {
		closeW()
		return nil, nil, err
	}
	f.srv, f.asrv = t.srv, t.asrv
	return t, func() error {
		err := closeW()
		t.closeService()
		if t.pub != nil {
			if perr := t.pub.Close(10 * time.Second); err == nil {
				err = perr
			}
		}
		return err
	}, nil
}

func (f *serveFlags) open(w record.Sink, logf func(string, ...any)) (*teeSink, error) {
	t := &teeSink{w: w, logf: logf}
	if f.port != "" {
		addr, err := recordsvc.ListenAddress(f.port, f.listen)
		if err != nil {
			return nil, cli.Usagef("sensor: %v", err)
		}
		if err := recordsvc.CheckLimits(f.clientBuffer, f.maxClients, f.queueMemory); err != nil {
			return nil, cli.Usagef("sensor: %v", err)
		}
		cfg := recordsvc.Config{ClientBuffer: f.clientBuffer, MaxClients: f.maxClients, QueueMemory: f.queueMemory,
			ReserveFDs: captureReserveFDs(), Logf: logf}
		if f.cert != "" || f.key != "" || f.clientCA != "" {
			if cfg.TLS, err = recordsvc.ServerTLS(f.cert, f.key, f.clientCA); err != nil {
				return nil, &cli.UsageError{Err: err}
			}
		}
		if t.srv, err = recordsvc.Listen(addr, cfg); err != nil {
			return nil, fmt.Errorf("-P %s: %w", f.port, err)
		}
		logf("serving records on %s", t.srv.Addr())
		if w := recordsvc.ExposureWarning(t.srv.Addr(), cfg.TLS); w != "" {
			logf("warning: %s", w)
		}
	}
	if f.argusPort != "" {
		addr, err := recordsvc.ListenAddress(f.argusPort, f.listen)
		if err != nil {
			t.closeService()
			return nil, cli.Usagef("sensor: --argus-port: %v", err)
		}
		if err := recordsvc.CheckLimits(f.clientBuffer, f.maxClients, f.queueMemory); err != nil {
			t.closeService()
			return nil, cli.Usagef("sensor: %v", err)
		}
		cfg := recordsvc.Config{ClientBuffer: f.clientBuffer, MaxClients: f.maxClients, QueueMemory: f.queueMemory,
			ReserveFDs: captureReserveFDs(), Logf: logf}
		if t.asrv, err = recordsvc.ListenArgus(addr, cfg); err != nil {
			t.closeService()
			return nil, fmt.Errorf("--argus-port %s: %w", f.argusPort, err)
		}
		logf("serving Argus clients on %s", t.asrv.Addr())
		if w := recordsvc.ExposureWarning(t.asrv.Addr(), nil); w != "" {
			logf("warning: %s", w)
		}
	}
	if f.publish != "" {
		tg, err := natsstream.ParseURL(f.publish)
		if err != nil {
			t.closeService()
			return nil, cli.Usagef("sensor: --publish: %v", err)
		}
		if t.pub, err = natsstream.NewPublisher(context.Background(), tg, natsstream.PublisherOptions{Logf: logf}); err != nil {
			t.closeService()
			return nil, err
		}
	}
	return t, nil
}

// captureReserveFDs is how many descriptors -P leaves to the rest of the sensor. The
// service starts before the capture opens its sockets (an AF_PACKET or AF_XDP socket per
// queue, queues at most one per CPU per interface, plus the XDP program's maps), so
// besides the archive's files these must stay free of clients.
func captureReserveFDs() int {
	return recordsvc.DefaultReserveFDs + 8*runtime.NumCPU()
}

// teeSink writes to the sensor's output and offers each record to the service and NATS.
type teeSink struct {
	logf func(string, ...any)
	w    record.Sink
	srv  *recordsvc.Server
	asrv *recordsvc.Server // --argus-port
	pub  *natsstream.Publisher
}

func (t *teeSink) Write(r *record.Record) error {
	if r.Man != nil && (t.srv != nil || t.asrv != nil) {
		r = withServiceCounters(r, t.serviceStats())
	}
	err := t.w.Write(r)
	if t.srv != nil {
		t.srv.Publish(r)
	}
	if t.asrv != nil {
		t.asrv.Publish(r)
	}
	if t.pub != nil {
		t.pub.Write(r)
	}
	return err
}

// withServiceCounters returns a copy of the management record r carrying the record
// service's refusals and drops, so that they are where the capture's own drops are.
func withServiceCounters(r *record.Record, st recordsvc.Stats) *record.Record {
	c, m := *r, *r.Man
	m.ClientsRefused, m.ClientDrops = st.Refused, st.Dropped+st.Unoffered
	c.Man = &m
	return &c
}

func (t *teeSink) Flush() error {
	if t.pub != nil {
		t.pub.Flush()
	}
	return t.w.Flush()
}

// serviceStats adds up the counters of -P and --argus-port.
func (t *teeSink) serviceStats() recordsvc.Stats {
	var st recordsvc.Stats
	for _, srv := range []*recordsvc.Server{t.srv, t.asrv} {
		if srv != nil {
			s := srv.Stats()
			st.Clients += s.Clients
			st.Refused += s.Refused
			st.Dropped += s.Dropped
			st.Unoffered += s.Unoffered
			st.QueueBytes += s.QueueBytes
		}
	}
	return st
}

func (t *teeSink) closeService() {
	for _, srv := range []*recordsvc.Server{t.srv, t.asrv} {
		if srv != nil {
			srv.Close(5 * time.Second)
			t.logf("%s", srv.Stats().Summary())
		}
	}
}
