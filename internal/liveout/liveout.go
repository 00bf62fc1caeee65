// Package liveout is the live outputs that the sensor and the relay share besides -w:
// the record service for `read -S` and relays (-P, with --listen, TLS and client
// limits), the same service in Argus's protocol for ra, radium and rasqlinsert
// (--argus-port) and NATS JetStream (--publish). It registers their flags, checks them and
// opens them, so that both commands take the same flags the same way.
//
// Neither output ever blocks the writer: slow clients and a slow broker lose records
// (counted and logged), never the records written to -w.
package liveout

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"panoptes/internal/cli"
	"panoptes/natsstream"
	"panoptes/record"
	"panoptes/recordsvc"
)

// Flags are the live outputs' flags.
type Flags struct {
	Port, Listen        string
	ArgusPort           string
	Cert, Key, ClientCA string
	Publish             string
	ClientBuffer        int
	MaxClients          int
	QueueMemory         int64
}

// RegisterService adds -P and the flags that shape the record service; certNote ends
// --tls-cert's description (the relay also presents it to its upstreams).
func (f *Flags) RegisterService(fs *pflag.FlagSet, certNote string) {
	fs.StringVarP(&f.Port, "port", "P", "", "serve records live to clients (panoptes read -S, panoptes relay -S) on TCP `PORT` (on --listen), or on a Unix socket: unix:/PATH (mode 0660, group panoptes)")
	fs.StringVar(&f.ArgusPort, "argus-port", "", "serve records live to Argus clients (ra -S, radium -S, rasqlinsert -S) with Argus's protocol on TCP `PORT` (on --listen; plain, no SASL); each client's filter, queue and drops as on -P")
	fs.StringVar(&f.Listen, "listen", "127.0.0.1", "with -P PORT and --argus-port: the `ADDR` to listen on (0.0.0.0 or :: for every address: a warning unless --tls-client-ca)")
	fs.StringVar(&f.Cert, "tls-cert", "", "with -P: serve TLS with this certificate (PEM `FILE`)"+certNote)
	fs.StringVar(&f.Key, "tls-key", "", "with -P: the key of --tls-cert (PEM `FILE`)")
	fs.StringVar(&f.ClientCA, "tls-client-ca", "", "with -P: require client certificates signed by a CA in this PEM `FILE`")
	fs.IntVar(&f.ClientBuffer, "client-buffer", 4<<20, "with -P: `BYTES` of records queued per client; records beyond are dropped for that client (and reported to it)")
	fs.IntVar(&f.MaxClients, "max-clients", recordsvc.DefaultMaxClients, "with -P: serve at most `N` clients at once; more are answered \"busy\" and counted")
	fs.Int64Var(&f.QueueMemory, "queue-memory", recordsvc.DefaultQueueMemory, "with -P: `BYTES` of records queued for all clients together; records beyond are dropped for the client (and reported to it)")
}

// RegisterPublish adds --publish.
func (f *Flags) RegisterPublish(fs *pflag.FlagSet) {
	fs.StringVar(&f.Publish, "publish", "", "also publish every record to NATS JetStream at `URL`: nats://HOST:PORT[,HOST:PORT...][/SUBJECT][?PARAMS] with SUBJECT panoptes.SITE.SRCID and PARAMS stream=S, replicas=N, max_age=DUR, max_bytes=SIZE, discard=old or new (joined by &); a stream capturing panoptes.> is created if none captures the subject")
}

// Any reports whether any live output is asked for.
func (f *Flags) Any() bool { return f.Port != "" || f.ArgusPort != "" || f.Publish != "" }

// Services is how many record services (-P, --argus-port) are asked for.
func (f *Flags) Services() int {
	n := 0
	for _, p := range []string{f.Port, f.ArgusPort} {
		if p != "" {
			n++
		}
	}
	return n
}

// Check checks -P's address and the client limits without opening anything; prog
// ("sensor", "relay") starts its usage errors.
func (f *Flags) Check(prog string) error {
	if f.Port == "" && f.ArgusPort == "" {
		return nil
	}
	if f.Port != "" {
		if _, err := recordsvc.ListenAddress(f.Port, f.Listen); err != nil {
			return cli.Usagef("%s: %v", prog, err)
		}
	}
	if f.ArgusPort != "" {
		if _, err := recordsvc.ListenAddress(f.ArgusPort, f.Listen); err != nil {
			return cli.Usagef("%s: --argus-port: %v", prog, err)
		}
	}
	if err := recordsvc.CheckLimits(f.ClientBuffer, f.MaxClients, f.QueueMemory); err != nil {
		return cli.Usagef("%s: %v", prog, err)
	}
	return nil
}

// Options are what Open needs besides the flags.
type Options struct {
	Prog       string // "sensor", "relay": starts usage errors
	ReserveFDs int    // descriptors the service leaves to the rest of the process (0: recordsvc's default)
	Logf       func(string, ...any)
	// PublishWait makes --publish wait for JetStream rather than drop records, for
	// inputs that can wait (record files, a NATS subscription).
	PublishWait bool
	// Infof, if set, takes the start-up line naming where the services listen (an
	// information, where Logf's lines are warnings in the sensor's log); else Logf.
	Infof func(string, ...any)
}

func (o Options) infof(format string, args ...any) {
	if o.Infof != nil {
		o.Infof(format, args...)
		return
	}
	o.Logf(format, args...)
}

// Outputs are the opened live outputs; any may be nil.
type Outputs struct {
	Srv  *recordsvc.Server
	Asrv *recordsvc.Server // --argus-port
	Pub  *natsstream.Publisher
	logf func(string, ...any)
}

// Open checks the flags and opens the record service (-P) and the NATS publisher
// (--publish), those asked for; the publisher lives until Close or until ctx ends. On
// an error nothing is left open.
func (f *Flags) Open(ctx context.Context, o Options) (*Outputs, error) {
	if err := f.Check(o.Prog); err != nil {
		return nil, err
	}
	out := &Outputs{logf: o.Logf}
	if f.Port != "" {
		srv, err := f.listen(o)
		if err != nil {
			return nil, err
		}
		out.Srv = srv
	}
	if f.ArgusPort != "" {
		asrv, err := f.listenArgus(o)
		if err != nil {
			out.CloseService(5 * time.Second)
			return nil, err
		}
		out.Asrv = asrv
	}
	if f.Publish != "" {
		t, err := natsstream.ParseURL(f.Publish)
		if err == nil {
			err = t.CheckPublish()
		}
		if err != nil {
			out.CloseService(5 * time.Second)
			return nil, cli.Usagef("%s: --publish: %v", o.Prog, err)
		}
		if out.Pub, err = natsstream.NewPublisher(ctx, t, natsstream.PublisherOptions{Logf: o.Logf, Wait: o.PublishWait}); err != nil {
			out.CloseService(5 * time.Second)
			return nil, err
		}
	}
	return out, nil
}

// listen opens the record service; the flags are checked.
func (f *Flags) listen(o Options) (*recordsvc.Server, error) {
	addr, _ := recordsvc.ListenAddress(f.Port, f.Listen)
	cfg := recordsvc.Config{ClientBuffer: f.ClientBuffer, MaxClients: f.MaxClients, QueueMemory: f.QueueMemory,
		ReserveFDs: o.ReserveFDs, Logf: o.Logf}
	if f.Cert != "" || f.Key != "" || f.ClientCA != "" {
		var err error
		if cfg.TLS, err = recordsvc.ServerTLS(f.Cert, f.Key, f.ClientCA); err != nil {
			return nil, &cli.UsageError{Err: err}
		}
	}
	srv, err := recordsvc.Listen(addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("-P %s: %w", f.Port, err)
	}
	o.infof("serving records on %s", srv.Addr())
	if w := recordsvc.ExposureWarning(srv.Addr(), cfg.TLS); w != "" {
		o.Logf("warning: %s", w)
	}
	return srv, nil
}

// listenArgus opens the Argus service; the flags are checked. Argus's protocol has no
// TLS: a warning says so when it listens beyond loopback.
func (f *Flags) listenArgus(o Options) (*recordsvc.Server, error) {
	addr, _ := recordsvc.ListenAddress(f.ArgusPort, f.Listen)
	cfg := recordsvc.Config{ClientBuffer: f.ClientBuffer, MaxClients: f.MaxClients, QueueMemory: f.QueueMemory,
		ReserveFDs: o.ReserveFDs, Logf: o.Logf}
	srv, err := recordsvc.ListenArgus(addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("--argus-port %s: %w", f.ArgusPort, err)
	}
	o.infof("serving Argus clients on %s", srv.Addr())
	if w := recordsvc.ExposureWarning(srv.Addr(), nil); w != "" {
		o.Logf("warning: %s", w)
	}
	return srv, nil
}

// Clients is how many clients the services (-P, --argus-port) serve together.
func (o *Outputs) Clients() int {
	n := 0
	for _, srv := range []*recordsvc.Server{o.Srv, o.Asrv} {
		if srv != nil {
			n += srv.Clients()
		}
	}
	return n
}

// WaitClients waits until the services together serve at least n clients, or ctx ends.
func (o *Outputs) WaitClients(ctx context.Context, n int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for o.Clients() < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// ServiceStats adds up the counters of -P and --argus-port.
func (o *Outputs) ServiceStats() recordsvc.Stats {
	var st recordsvc.Stats
	for _, srv := range []*recordsvc.Server{o.Srv, o.Asrv} {
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

// Publish offers r to the clients and to NATS.
func (o *Outputs) Publish(r *record.Record) {
	if o.Srv != nil {
		o.Srv.Publish(r)
	}
	if o.Asrv != nil {
		o.Asrv.Publish(r)
	}
	if o.Pub != nil {
		o.Pub.Write(r)
	}
}

// Flush hands what the publisher holds to NATS (the service sends as it goes).
func (o *Outputs) Flush() {
	if o.Pub != nil {
		o.Pub.Flush()
	}
}

// CloseService closes the record services, giving clients up to grace to take what is
// queued for them, and logs their summaries. It may be called more than once.
func (o *Outputs) CloseService(grace time.Duration) {
	for _, srv := range []**recordsvc.Server{&o.Srv, &o.Asrv} {
		if *srv != nil {
			(*srv).Close(grace)
			o.logf("%s", (*srv).Stats().Summary())
			*srv = nil
		}
	}
}

// ClosePublisher sends what the publisher holds (for up to 10 s) and closes it.
func (o *Outputs) ClosePublisher() error {
	if o.Pub == nil {
		return nil
	}
	err := o.Pub.Close(10 * time.Second)
	o.Pub = nil
	return err
}
