package sensor

import (
	"context"
	"runtime"
	"time"

	"github.com/spf13/pflag"

	"panoptes/internal/liveout"
	"panoptes/record"
	"panoptes/recordsvc"
)

// serveFlags are the sensor's live outputs besides -w: the record service for
// `read -S` and relays (-P), and NATS JetStream (--publish), set up as the relay's are
// (package internal/liveout).
type serveFlags struct {
	liveout.Flags

	srv *recordsvc.Server // once wrap has opened it (-P; its counters feed --metrics)
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	f.RegisterService(fs, "")
	f.RegisterPublish(fs)
}

// wrap tees the records written to w into the record service and NATS, when asked
// for. Neither ever blocks the writer: slow clients and a slow broker lose records
// (counted and logged), the -w output does not. Closing the tee closes w, then them.
// On an error w is closed. infof takes the line saying where the services listen.
func (f *serveFlags) wrap(w record.SinkCloser, logf, infof func(string, ...any)) (record.SinkCloser, error) {
	if !f.Any() {
		return w, nil
	}
	out, err := f.Open(context.Background(), liveout.Options{Prog: "sensor", ReserveFDs: captureReserveFDs(), Logf: logf, Infof: infof})
	if err != nil {
		w.Close()
		return nil, err
	}
	f.srv = out.Srv
	return &teeSink{w: w, out: out}, nil
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
	w   record.SinkCloser
	out *liveout.Outputs
}

func (t *teeSink) Write(r *record.Record) error {
	if r.Man != nil && (t.out.Srv != nil || t.out.Asrv != nil) {
		r = withServiceCounters(r, t.out.ServiceStats()) // -P and --argus-port together
	}
	err := t.w.Write(r)
	t.out.Publish(r)
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

// Dropped passes on the output's drops (record.Dropper).
func (t *teeSink) Dropped() uint64 { return record.Dropped(t.w) }

func (t *teeSink) Flush() error {
	t.out.Flush()
	return t.w.Flush()
}

// Close closes the output first, so that its records are safe before clients and the
// broker are waited for.
func (t *teeSink) Close() error {
	err := t.w.Close()
	t.out.CloseService(5 * time.Second)
	if perr := t.out.ClosePublisher(); err == nil {
		err = perr
	}
	return err
}
