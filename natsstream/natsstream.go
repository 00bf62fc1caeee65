// Package natsstream carries flow records through NATS JetStream, for fleets where many
// sensors feed archive writers and analytics through a broker: a Publisher batches
// records into messages on a durable stream (created if absent), and Consume reads them
// back with a durable pull consumer, at the consumer's own pace, resuming where it left
// off after a restart.
//
// One message is one self-contained record stream (package record's format: the stream
// header, then the records), so any message decodes on its own. Its NATS headers say
// how many records it holds (Panoptes-Records) and give it an id (Nats-Msg-Id) that
// lets JetStream drop a batch published twice by a retry.
package natsstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"panoptes/record"
)

// Target says where records go: the server, the subject, the stream and (for
// consumers) the durable consumer's name.
type Target struct {
	URL     string // nats://HOST:PORT
	Subject string
	Stream  string
	Durable string
}

// Defaults for the parts a URL leaves out.
const (
	DefaultSubject = "panoptes.records"
	DefaultStream  = "PANOPTES"
	DefaultDurable = "panoptes-relay"
)

// ParseURL parses nats://HOST:PORT[/SUBJECT][?stream=NAME&durable=NAME].
func ParseURL(s string) (Target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("%q: %w", s, err)
	}
	if u.Scheme != "nats" && u.Scheme != "tls" || u.Host == "" {
		return Target{}, fmt.Errorf("%q: want nats://HOST:PORT[/SUBJECT]", s)
	}
	t := Target{Subject: strings.Trim(u.Path, "/"), Stream: u.Query().Get("stream"), Durable: u.Query().Get("durable")}
	u.Path, u.RawQuery = "", ""
	t.URL = u.String()
	if t.Subject == "" {
		t.Subject = DefaultSubject
	}
	if t.Stream == "" {
		t.Stream = DefaultStream
	}
	if t.Durable == "" {
		t.Durable = DefaultDurable
	}
	for _, part := range strings.Split(t.Subject, ".") {
		if part == "" || strings.ContainsAny(part, " \t*>") {
			return Target{}, fmt.Errorf("%q: bad subject %q", s, t.Subject)
		}
	}
	for _, n := range []string{t.Stream, t.Durable} {
		if strings.ContainsAny(n, " \t.*>/\\") {
			return Target{}, fmt.Errorf("%q: bad stream or consumer name %q", s, n)
		}
	}
	return t, nil
}

// connect connects to the server and makes sure the stream exists.
func connect(ctx context.Context, t Target, logf func(string, ...any)) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(t.URL, nats.Name("panoptes"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logf("NATS %s: disconnected (%v); reconnecting", t.URL, err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { logf("NATS %s: reconnected", t.URL) }))
	if err != nil {
		return nil, nil, fmt.Errorf("NATS %s: %w", t.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if _, err := js.Stream(ctx, t.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: t.Stream, Subjects: []string{t.Subject},
			Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute,
			Description: "Panoptes flow records; one message is one record stream"})
		if err == nil {
			logf("NATS %s: created stream %s for subject %s", t.URL, t.Stream, t.Subject)
		} else if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another sensor created it first
		}
		if err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("NATS %s: creating stream %s: %w", t.URL, t.Stream, err)
		}
	} else if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("NATS %s: stream %s: %w (is JetStream enabled, nats-server -js?)", t.URL, t.Stream, err)
	}
	return nc, js, nil
}

// PublisherOptions tunes a Publisher; zero values mean the defaults.
type PublisherOptions struct {
	BatchRecords int           // records per message (default 1000)
	FlushEvery   time.Duration // publish a partial batch this long after its first record (default 1 s)
	Queue        int           // full batches waiting to be published (default 64); beyond, batches are dropped and counted
	Logf         func(format string, args ...any)
}

// Publisher publishes records to a JetStream stream in batches. Write never waits for
// the network: batches go to a bounded queue that one goroutine publishes, waiting for
// each acknowledgement; when the queue is full (the server is down for long) a batch
// is dropped, counted and logged.
type Publisher struct {
	t     Target
	o     PublisherOptions
	nc    *nats.Conn
	js    jetstream.JetStream
	queue chan batch
	done  chan struct{}
	idPfx string

	mu      sync.Mutex
	cur     *record.Writer
	buf     *bytes.Buffer
	n       int
	first   time.Time
	seq     uint64
	closed  bool
	timer   *time.Timer
	dropped atomic.Uint64 // records
	sent    atomic.Uint64 // records acknowledged
}

type batch struct {
	data []byte
	n    int
	id   string
}

// NewPublisher connects to t's server, creates the stream if it is absent, and starts
// publishing.
func NewPublisher(ctx context.Context, t Target, o PublisherOptions) (*Publisher, error) {
	if o.BatchRecords <= 0 {
		o.BatchRecords = 1000
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 64
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	nc, js, err := connect(ctx, t, o.Logf)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	p := &Publisher{t: t, o: o, nc: nc, js: js, queue: make(chan batch, o.Queue), done: make(chan struct{}),
		idPfx: fmt.Sprintf("%s-%d-%d-", host, os.Getpid(), time.Now().UnixNano())}
	p.timer = time.AfterFunc(time.Hour, func() { p.Flush() })
	p.timer.Stop()
	go p.send()
	return p, nil
}

// Write adds r to the current batch; a full batch is handed to the sender.
func (p *Publisher) Write(r *record.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("NATS publisher closed")
	}
	if p.cur == nil {
		p.buf = new(bytes.Buffer)
		p.cur, _ = record.NewWriter(p.buf) // a bytes.Buffer does not fail
		p.first = time.Now()
		p.timer.Reset(p.o.FlushEvery)
	}
	p.cur.Write(r)
	p.n++
	if p.n >= p.o.BatchRecords {
		p.handOver()
	}
	return nil
}

// Flush hands the current partial batch to the sender.
func (p *Publisher) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil && !p.closed {
		p.handOver()
	}
	return nil
}

// handOver queues the current batch without waiting (p.mu held).
func (p *Publisher) handOver() {
	p.cur.Flush()
	p.seq++
	b := batch{data: p.buf.Bytes(), n: p.n, id: p.idPfx + strconv.FormatUint(p.seq, 10)}
	p.cur, p.buf, p.n = nil, nil, 0
	p.timer.Stop()
	select {
	case p.queue <- b:
	default:
		if p.dropped.Add(uint64(b.n)) == uint64(b.n) || p.seq%100 == 0 {
			p.o.Logf("NATS %s: publishing falls behind; %d records dropped so far", p.t.URL, p.dropped.Load())
		}
	}
}

// send publishes queued batches, retrying each for a while before dropping it.
func (p *Publisher) send() {
	defer close(p.done)
	for b := range p.queue {
		msg := &nats.Msg{Subject: p.t.Subject, Data: b.data, Header: nats.Header{}}
		msg.Header.Set("Panoptes-Records", strconv.Itoa(b.n))
		msg.Header.Set(jetstream.MsgIDHeader, b.id)
		var err error
		for try, wait := 0, 100*time.Millisecond; try < 8; try, wait = try+1, min(2*wait, 5*time.Second) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = p.js.PublishMsg(ctx, msg)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(wait)
		}
		if err != nil {
			p.dropped.Add(uint64(b.n))
			p.o.Logf("NATS %s: dropped a batch of %d records: %v", p.t.URL, b.n, err)
			continue
		}
		p.sent.Add(uint64(b.n))
	}
}

// Close publishes what is buffered, waits (at most timeout) for the acknowledgements,
// and disconnects.
func (p *Publisher) Close(timeout time.Duration) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	if p.cur != nil {
		p.handOver()
	}
	p.closed = true
	p.timer.Stop()
	close(p.queue)
	p.mu.Unlock()
	var err error
	select {
	case <-p.done:
	case <-time.After(timeout):
		err = fmt.Errorf("NATS %s: gave up waiting for acknowledgements after %v", p.t.URL, timeout)
	}
	p.nc.Close()
	if d := p.dropped.Load(); d > 0 && err == nil {
		err = fmt.Errorf("NATS %s: %d records could not be published", p.t.URL, d)
	}
	return err
}

// Sent is the number of records the server acknowledged; Dropped the number given up.
func (p *Publisher) Sent() uint64    { return p.sent.Load() }
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Consume reads the stream with t's durable pull consumer (created if absent, starting
// at the stream's first message) and calls fn with each record, acknowledging each
// message after its records. It returns when ctx ends (nil) or on an error it cannot
// retry. A message that does not decode is logged and terminated, not redelivered.
func Consume(ctx context.Context, t Target, logf func(string, ...any), fn func(*record.Record) error) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	nc, js, err := connect(ctx, t, logf)
	if err != nil {
		return err
	}
	defer nc.Close()
	cons, err := js.CreateOrUpdateConsumer(ctx, t.Stream, jetstream.ConsumerConfig{Durable: t.Durable,
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubject: t.Subject,
		AckWait: time.Minute, Description: "Panoptes relay"})
	if err != nil {
		return fmt.Errorf("NATS %s: consumer %s on stream %s: %w", t.URL, t.Durable, t.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("NATS %s: %w", t.URL, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	var rec record.Record
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("NATS %s: %w", t.URL, err)
		}
		name := fmt.Sprintf("NATS message %s", msg.Headers().Get(jetstream.MsgIDHeader))
		rd, err := record.NewReader(bytes.NewReader(msg.Data()), name)
		for err == nil {
			if err = rd.Read(&rec); err == nil {
				if ferr := fn(&rec); ferr != nil {
					return ferr
				}
			}
		}
		if !errors.Is(err, io.EOF) {
			logf("%v (message dropped)", err)
			msg.Term()
			continue
		}
		msg.Ack()
	}
}
