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
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"panoptes/record"
)

// Target says where records go: the servers, the subject, the stream and (for
// consumers) the durable consumer's name, and the settings of a stream created for it.
type Target struct {
	URL      string // nats://HOST:PORT, or several servers: nats://H1:PORT,H2:PORT (credentials kept)
	Subject  string // literal for a publisher; a consumer's may hold * and > wildcards
	Stream   string // "": the stream that captures Subject, else DefaultStream
	Durable  string
	Settings StreamSettings // stream= settings, used when Panoptes creates the stream
}

// StreamSettings are the settings of a stream Panoptes creates (URL query parameters
// replicas=, max_age=, max_bytes=, discard=); zero values are the server's defaults (one
// replica, no age or size limit, discard old).
type StreamSettings struct {
	Replicas int
	MaxAge   time.Duration
	MaxBytes int64
	Discard  string // "", "old" or "new"
}

// Defaults for the parts a URL leaves out.
const (
	// DefaultSubject is a publisher's subject when the URL names none, and
	// FleetSubjects what a consumer reads then: every subject of the fleet hierarchy
	// panoptes.SITE.SRCID.
	DefaultSubject = "panoptes.records"
	FleetSubjects  = "panoptes.>"
	DefaultStream  = "PANOPTES"
	DefaultDurable = "panoptes-relay"
)

// ParseURL parses nats://HOST:PORT[,HOST:PORT...][/SUBJECT][?stream=NAME&durable=NAME
// &replicas=N&max_age=DUR&max_bytes=SIZE&discard=old|new]. The subject may hold NATS
// wildcards (a consumer's); NewPublisher refuses them. A URL without a subject means
// DefaultSubject to a publisher and FleetSubjects to a consumer: Subject is left empty.
func ParseURL(s string) (Target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("%q: %w", s, err)
	}
	if u.Scheme != "nats" && u.Scheme != "tls" || u.Host == "" {
		return Target{}, fmt.Errorf("%q: want nats://HOST:PORT[,HOST:PORT...][/SUBJECT]", redact(s))
	}
	for _, h := range strings.Split(u.Host, ",") {
		if h == "" || strings.ContainsAny(h, "/@") {
			return Target{}, fmt.Errorf("%q: bad server %q in the list", redact(s), h)
		}
	}
	q := u.Query()
	t := Target{Subject: strings.Trim(u.Path, "/"), Stream: q.Get("stream"), Durable: q.Get("durable")}
	for k, v := range q {
		if len(v) > 1 {
			return Target{}, fmt.Errorf("%q: %s given %d times", redact(s), k, len(v))
		}
		switch k {
		case "stream", "durable":
		case "replicas":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 || n > 5 {
				return Target{}, fmt.Errorf("%q: replicas=%s: want 1 to 5 (JetStream's limit)", redact(s), v[0])
			}
			t.Settings.Replicas = n
		case "max_age":
			if t.Settings.MaxAge, err = parseAge(v[0]); err != nil {
				return Target{}, fmt.Errorf("%q: max_age: %w", redact(s), err)
			}
		case "max_bytes":
			if t.Settings.MaxBytes, err = parseSize(v[0]); err != nil {
				return Target{}, fmt.Errorf("%q: max_bytes: %w", redact(s), err)
			}
		case "discard":
			if v[0] != "old" && v[0] != "new" {
				return Target{}, fmt.Errorf("%q: discard=%s: want old or new", redact(s), v[0])
			}
			t.Settings.Discard = v[0]
		default:
			return Target{}, fmt.Errorf("%q: unknown parameter %q (want stream, durable, replicas, max_age, max_bytes, discard)", redact(s), k)
		}
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = "", "", "", "", "", false
	t.URL = u.String()
	if t.Durable == "" {
		t.Durable = DefaultDurable
	}
	if t.Subject != "" {
		if err := checkSubject(t.Subject); err != nil {
			return Target{}, fmt.Errorf("%q: %w", redact(s), err)
		}
	}
	for _, n := range []string{t.Stream, t.Durable} {
		if strings.ContainsAny(n, " \t.*>/\\") {
			return Target{}, fmt.Errorf("%q: bad stream or consumer name %q", redact(s), n)
		}
	}
	return t, nil
}

// checkSubject checks a subject's syntax: dot-separated non-empty tokens without
// blanks; * only as a whole token, > only as the whole last token.
func checkSubject(subj string) error {
	toks := strings.Split(subj, ".")
	for i, tok := range toks {
		switch {
		case tok == "" || strings.ContainsAny(tok, " \t\r\n"):
			return fmt.Errorf("bad subject %q: empty token or blank", subj)
		case tok == ">" && i != len(toks)-1:
			return fmt.Errorf("bad subject %q: > must be the last token", subj)
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("bad subject %q: a wildcard must be a whole token", subj)
		}
	}
	return nil
}

// Wildcard reports whether subj holds a wildcard token.
func Wildcard(subj string) bool {
	for _, tok := range strings.Split(subj, ".") {
		if tok == "*" || tok == ">" {
			return true
		}
	}
	return false
}

// SubjectIn reports whether every subject subj matches is matched by pattern, NATS's
// subset rule: * in pattern takes any one token (a * in subj too), > takes one or more.
func SubjectIn(subj, pattern string) bool {
	st, pt := strings.Split(subj, "."), strings.Split(pattern, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) {
			return false
		}
		switch {
		case st[i] == ">":
			return false
		case p == "*":
		case p != st[i]:
			return false
		}
	}
	return len(st) == len(pt)
}

// CheckPublish says whether records can be published to t: one literal subject.
func (t Target) CheckPublish() error {
	if Wildcard(t.Subject) {
		return fmt.Errorf("%s: subject %q has a wildcard: publish to one subject (panoptes.SITE.SRCID)", t.display(), t.Subject)
	}
	return nil
}

// servers is t.URL in nats.Connect's form: each server of the list as its own URL,
// with the first one's scheme and credentials.
func (t Target) servers() string {
	u, err := url.Parse(t.URL)
	if err != nil || !strings.Contains(u.Host, ",") {
		return t.URL
	}
	var out []string
	for _, h := range strings.Split(u.Host, ",") {
		v := *u
		v.Host = h
		out = append(out, v.String())
	}
	return strings.Join(out, ",")
}

// display is t.URL for messages: without a password.
func (t Target) display() string { return "NATS " + redact(t.URL) }

func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return strings.Replace(s, ":"+pw+"@", ":xxxxx@", 1)
		}
	}
	return s
}

// parseAge parses a Go duration or a number of days (90d) or weeks (2w).
func parseAge(s string) (time.Duration, error) {
	bad := fmt.Errorf("bad age %q: want a number of days (90d), weeks (2w) or a duration (36h)", s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 || v > 1e5 {
				return 0, bad
			}
			return time.Duration(v * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}

// parseSize parses bytes with an optional K, M, G or T suffix (powers of 1024).
func parseSize(s string) (int64, error) {
	bad := fmt.Errorf("bad size %q: want bytes with an optional K, M, G or T suffix (500G)", s)
	mult := 1.0
	if s != "" {
		if i := strings.IndexByte("KMGT", s[len(s)-1]&^0x20); i >= 0 {
			mult = float64(int64(1) << (10 * (i + 1)))
			s = s[:len(s)-1]
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, bad
	}
	return int64(v * mult), nil
}

// connect connects to the servers and finds the stream that captures subj: the one
// named in the URL, else the one whose subjects cover subj, else a new one (see
// ensureStream). It returns the stream's name.
func connect(ctx context.Context, t Target, subj string, logf func(string, ...any)) (*nats.Conn, jetstream.JetStream, streamID, error) {
	nc, err := nats.Connect(t.servers(), nats.Name("panoptes"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logf("%s: disconnected (%v); reconnecting", t.display(), err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logf("%s: reconnected to %s", t.display(), redact(c.ConnectedUrl())) }))
	if err != nil {
		return nil, nil, streamID{}, fmt.Errorf("%s: %w", t.display(), err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*pubWindow))
	if err != nil {
		nc.Close()
		return nil, nil, streamID{}, err
	}
	// While a cluster elects a new leader (a node just failed) JetStream's API does not
	// answer: wait for it rather than fail a sensor or relay starting then.
	var stream streamID
	for wait, start, logged := 250*time.Millisecond, time.Now(), false; ; wait = min(2*wait, 4*time.Second) {
		stream, err = ensureStream(ctx, js, t, subj, logf)
		if err == nil || !transient(err) || time.Since(start) > startWait || ctx.Err() != nil {
			break
		}
		if !logged {
			logf("%v; retrying for up to %v", err, startWait)
			logged = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		nc.Close()
		return nil, nil, streamID{}, err
	}
	return nc, js, stream, nil
}

// startWait bounds how long connect waits for JetStream to answer: a cluster's
// leader election takes seconds.
const startWait = 30 * time.Second

// transient reports whether a JetStream API error may go away by itself: no answer
// in time, no responder (a server still starting JetStream; one without JetStream
// answers so for 30 s too), or "temporarily unavailable" (a cluster without a leader).
func transient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.As(err, &apiErr) && apiErr.Code == 503
}

// ensureStream returns the name (and creation time) of the stream that captures subj. A stream named in
// the URL is used as it is; else the one stream whose subjects overlap subj. When
// there is none, the stream (the URL's, else DefaultStream) is created with t's
// settings, capturing FleetSubjects if subj is under it, else subj alone. A subject no
// stream captures is an error naming it, found here rather than as a publish that
// is never acknowledged.
func ensureStream(ctx context.Context, js jetstream.JetStream, t Target, subj string, logf func(string, ...any)) (streamID, error) {
	name := t.Stream
	if name == "" {
		lister := js.StreamNames(ctx, jetstream.WithStreamListSubject(subj))
		var names []string
		for n := range lister.Name() {
			names = append(names, n)
		}
		if err := lister.Err(); err != nil {
			return streamID{}, fmt.Errorf("%s: looking for the stream of %s: %w (is JetStream enabled, nats-server -js?)", t.display(), subj, err)
		}
		switch len(names) {
		case 0:
			name = DefaultStream
		case 1:
			name = names[0]
		default:
			return streamID{}, fmt.Errorf("%s: subject %s spans streams %s: name one with ?stream=", t.display(), subj, strings.Join(names, ", "))
		}
	}
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		cfg := t.Settings.config(name, subj)
		st, err = js.CreateStream(ctx, cfg)
		if err == nil {
			logf("%s: created stream %s for subjects %s (replicas %d)", t.display(), name, strings.Join(cfg.Subjects, ", "), cfg.Replicas)
		} else if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = js.Stream(ctx, name) // another sensor created it first
		} else {
			return streamID{}, fmt.Errorf("%s: creating stream %s for subjects %s: %w", t.display(), name, strings.Join(cfg.Subjects, ", "), err)
		}
	}
	if err != nil {
		return streamID{}, fmt.Errorf("%s: stream %s: %w (is JetStream enabled, nats-server -js?)", t.display(), name, err)
	}
	cfg := st.CachedInfo().Config
	if !slices.ContainsFunc(cfg.Subjects, func(p string) bool { return SubjectIn(subj, p) }) {
		return streamID{}, fmt.Errorf("%s: no stream captures subject %s: stream %s captures %s (fleet subjects are panoptes.SITE.SRCID; name another stream with ?stream=)",
			t.display(), subj, name, strings.Join(cfg.Subjects, ", "))
	}
	if d := t.Settings.differs(cfg); d != "" {
		logf("%s: stream %s exists with %s; the URL's settings apply only to a stream Panoptes creates (change it with `nats stream edit %s`)", t.display(), name, d, name)
	}
	return streamID{name, st.CachedInfo().Created}, nil
}

// config is the configuration of a stream created for subj.
func (s StreamSettings) config(name, subj string) jetstream.StreamConfig {
	subjects := []string{FleetSubjects}
	if !SubjectIn(subj, FleetSubjects) {
		subjects = []string{subj}
	}
	cfg := jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage,
		Duplicates: dupWindow, Replicas: max(s.Replicas, 1), MaxAge: s.MaxAge, MaxBytes: s.MaxBytes,
		Description: "Panoptes flow records; one message is one record stream"}
	if s.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	if s.Discard == "new" {
		cfg.Discard = jetstream.DiscardNew
	}
	return cfg
}

// differs names the settings given in the URL that an existing stream does not have.
func (s StreamSettings) differs(c jetstream.StreamConfig) string {
	var d []string
	if s.Replicas != 0 && s.Replicas != max(c.Replicas, 1) {
		d = append(d, fmt.Sprintf("replicas %d, not %d", max(c.Replicas, 1), s.Replicas))
	}
	if s.MaxAge != 0 && s.MaxAge != c.MaxAge {
		d = append(d, fmt.Sprintf("max_age %v, not %v", c.MaxAge, s.MaxAge))
	}
	if s.MaxBytes != 0 && s.MaxBytes != c.MaxBytes {
		d = append(d, fmt.Sprintf("max_bytes %d, not %d", c.MaxBytes, s.MaxBytes))
	}
	if s.Discard != "" && (s.Discard == "new") != (c.Discard == jetstream.DiscardNew) {
		d = append(d, fmt.Sprintf("discard %v, not %s", c.Discard, s.Discard))
	}
	return strings.Join(d, ", ")
}

// dupWindow is how long JetStream remembers message ids: a publisher's retries of one
// batch (at most about 20 s, see send) fall well within it.
const dupWindow = 2 * time.Minute

// PublisherOptions tunes a Publisher; zero values mean the defaults.
type PublisherOptions struct {
	BatchRecords int           // records per message (default 1000)
	FlushEvery   time.Duration // publish a partial batch this long after its first record (default 1 s)
	Queue        int           // full batches waiting to be published (default 64); beyond, batches are dropped and counted
	// Wait makes Write wait for room in the queue instead of dropping: for sources
	// that can wait (a file replayed, another stream), not for live capture.
	Wait bool
	Logf func(format string, args ...any)
}

// Publisher publishes records to a JetStream stream in batches. Write never waits for
// the network (unless Wait): batches go to a bounded queue that one goroutine
// publishes, up to pubWindow batches ahead of their acknowledgements; when the queue
// is full (the server is down for long) a batch is dropped, counted and logged.
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
	if t.Subject == "" {
		t.Subject = DefaultSubject
	}
	if err := t.CheckPublish(); err != nil {
		return nil, err
	}
	nc, js, stream, err := connect(ctx, t, t.Subject, o.Logf)
	if err != nil {
		return nil, err
	}
	t.Stream = stream.name
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
	if p.o.Wait {
		p.queue <- b // send never waits for p.mu: this ends
		return
	}
	select {
	case p.queue <- b:
	default:
		if p.dropped.Add(uint64(b.n)) == uint64(b.n) || p.seq%100 == 0 {
			p.o.Logf("%s: publishing falls behind; %d records dropped so far", p.t.display(), p.dropped.Load())
		}
	}
}

// send publishes queued batches, retrying each for a while before dropping it.
func (p *Publisher) send() {
	defer close(p.done)
	type inflight struct {
		b   batch
		fut jetstream.PubAckFuture
	}
	var pending []inflight
	// settle waits for the oldest acknowledgements: all, or down to the window. A
	// batch not acknowledged is published again, synchronously, with its id (JetStream
	// drops it if the first copy was stored after all).
	settle := func(all bool) {
		for len(pending) > 0 && (all || len(pending) >= pubWindow) {
			f := pending[0]
			pending[0] = inflight{}
			pending = pending[1:]
			select {
			case <-f.fut.Ok():
				p.sent.Add(uint64(f.b.n))
			case err := <-f.fut.Err():
				p.publishSync(f.b, err)
			case <-time.After(5 * time.Second):
				p.publishSync(f.b, errors.New("no acknowledgement in 5 s"))
			}
		}
	}
	for {
		var b batch
		var ok bool
		select {
		case b, ok = <-p.queue:
		default:
			settle(true) // nothing more to send now: collect every acknowledgement
			b, ok = <-p.queue
		}
		if !ok {
			settle(true)
			return
		}
		fut, err := p.js.PublishMsgAsync(p.msg(b))
		if err != nil {
			settle(true)
			p.publishSync(b, err)
			continue
		}
		pending = append(pending, inflight{b, fut})
		settle(false)
	}
}

// pubWindow is how many batches a Publisher has unacknowledged at once: waiting for
// each acknowledgement before the next batch held a publisher to one batch per round
// trip (bench/FLEET-RESULTS.md).
const pubWindow = 32

func (p *Publisher) msg(b batch) *nats.Msg {
	msg := &nats.Msg{Subject: p.t.Subject, Data: b.data, Header: nats.Header{}}
	msg.Header.Set("Panoptes-Records", strconv.Itoa(b.n))
	msg.Header.Set(jetstream.MsgIDHeader, b.id)
	return msg
}

// publishSync publishes b again until it is acknowledged, for a while (about 50 s:
// through a cluster's leader election), before dropping it.
func (p *Publisher) publishSync(b batch, err error) {
	msg := p.msg(b)
	for try, wait := 0, 100*time.Millisecond; try < 8; try, wait = try+1, min(2*wait, 5*time.Second) {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = p.js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			p.sent.Add(uint64(b.n))
			return
		}
	}
	p.dropped.Add(uint64(b.n))
	p.o.Logf("%s: dropped a batch of %d records to %s: %v", p.t.display(), b.n, p.t.Subject, err)
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
		err = fmt.Errorf("%s: gave up waiting for acknowledgements of %s after %v", p.t.display(), p.t.Subject, timeout)
	}
	p.nc.Close()
	if d := p.dropped.Load(); d > 0 && err == nil {
		err = fmt.Errorf("%s: %d records could not be published to %s", p.t.display(), d, p.t.Subject)
	}
	return err
}

// Queued is the number of full batches waiting to be published.
func (p *Publisher) Queued() int { return len(p.queue) }

// Sent is the number of records the server acknowledged; Dropped the number given up.
func (p *Publisher) Sent() uint64    { return p.sent.Load() }
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// ConsumeOptions tune Consume; zero values mean the defaults.
type ConsumeOptions struct {
	Logf func(string, ...any)
	// Sync, if set, makes the records fn was given durable (the relay flushes its
	// outputs). Messages are acknowledged only after it returns nil: a relay stopped
	// or killed before has them delivered again, none is lost.
	Sync func() error
	// Lag, if set, is told after each message how many more wait in the stream for
	// this consumer (JetStream's count in the message's metadata).
	Lag func(pending uint64)
	// Batch is how many messages are pulled ahead (default 256: a quarter of a
	// million records of the sensor's default batches).
	Batch int
	// StatePath, if set, is a file where Consume keeps which stream sequences it gave
	// (saved after Sync, before the acknowledgement): a relay restarted after a
	// cluster node failed with acknowledgements not yet replicated gets those messages
	// again, and recognises them (TestNATSClusterFailover). Without it, only the
	// running Consume recognises them.
	StatePath string
}

// ackEvery and ackWithin bound the messages and time between acknowledgements (and
// Sync calls): a relay acknowledges in groups rather than flushing per message. The
// consumer's MaxAckPending is above ackEvery, or JetStream would stop delivering.
const (
	// An archive's flush writes a block per open segment and syncs its index: every
	// 128 messages it held a relay to a fifth of its rate (bench/FLEET-RESULTS.md).
	ackEvery  = 1024
	ackWithin = time.Second
	// pullExpiry bounds a pull request: with it the missing heartbeats of a pull left
	// on a dead cluster node are noticed within 5 s (the default, 30 s, left a relay
	// idle for a minute after a node failure).
	pullExpiry = 5 * time.Second
)

// Consume reads the stream with t's durable pull consumer (created if absent, starting
// at the stream's first message, on t's subject, FleetSubjects when the URL names
// none) and calls fn with each record, acknowledging messages in groups after their
// records (and o.Sync). It returns when ctx ends (nil) or on an error it cannot retry.
// A message that does not decode is logged and terminated, not redelivered.
//
// Redeliveries that JetStream makes while the consumer runs (an acknowledgement lost
// with a cluster node, a consumer leader moving) are recognised by their stream
// sequence and acknowledged without calling fn again, so each record is given once.
// After a clean stop (ctx ended) every record given was acknowledged; after a crash,
// the records since the last acknowledgement come again.
func Consume(ctx context.Context, t Target, o ConsumeOptions, fn func(*record.Record) error) error {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if t.Subject == "" {
		t.Subject = FleetSubjects
	}
	nc, js, stream, err := connect(ctx, t, t.Subject, logf)
	if err != nil {
		return err
	}
	defer nc.Close()
	cons, err := js.CreateOrUpdateConsumer(ctx, stream.name, jetstream.ConsumerConfig{Durable: t.Durable,
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubject: t.Subject,
		AckWait: time.Minute, MaxAckPending: 2*ackEvery + 4*max(o.Batch, 256), Description: "Panoptes relay"})
	if err != nil {
		return fmt.Errorf("%s: consumer %s on stream %s for %s: %w", t.display(), t.Durable, stream.name, t.Subject, err)
	}
	batch := o.Batch
	if batch <= 0 {
		batch = 256
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(batch), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return fmt.Errorf("%s: %w", t.display(), err)
	}
	defer it.Stop()
	c := consumer{logf: logf, sync: o.Sync, seen: &givenSet{}, nc: nc, inbox: nats.NewInbox(), replies: make(chan *nats.Msg, 4*ackEvery)}
	ackSub, err := nc.ChanSubscribe(c.inbox+".>", c.replies)
	if err != nil {
		return fmt.Errorf("%s: %w", t.display(), err)
	}
	defer ackSub.Unsubscribe()
	if o.StatePath != "" {
		c.seen = loadGiven(o.StatePath, stream, logf)
		c.state, c.stream = o.StatePath, stream
	}
	// A clean stop acknowledges what was given and waits until the server confirms
	// it, so that a restarted relay does not get them again.
	defer func() {
		if c.ack() == nil && len(c.pending) > 0 {
			logf("%s: %d messages' acknowledgements not confirmed: their records may come again", t.display(), len(c.pending))
		}
	}()
	for {
		msg, err := it.Next(jetstream.NextMaxWait(ackWithin))
		if errors.Is(err, nats.ErrTimeout) {
			if err := c.ack(); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("%s: %w", t.display(), err)
		}
		md, err := msg.Metadata()
		if err != nil { // not a JetStream message: cannot be acknowledged
			logf("%s: %v (message skipped)", t.display(), err)
			continue
		}
		if o.Lag != nil {
			o.Lag(md.NumPending)
		}
		// Not only when NumDelivered > 1: a consumer leader that failed before its
		// followers knew of the delivery leaves a new leader counting it as the first.
		if c.seen.has(md.Sequence.Stream) {
			c.pending = append(c.pending, msg) // given before: only its acknowledgement was lost
		} else if err := c.decode(msg, md.Sequence.Stream, fn); err != nil {
			return err
		}
		if len(c.pending) >= ackEvery || time.Since(c.since) > ackWithin {
			if err := c.ack(); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// consumer is Consume's state between acknowledgements.
type consumer struct {
	logf    func(string, ...any)
	sync    func() error
	pending []jetstream.Msg // given to fn, not yet acknowledged
	since   time.Time       // when the first of pending came
	seen    *givenSet
	state   string   // ConsumeOptions.StatePath
	stream  streamID // the stream seen's sequences number
	saveErr bool     // saving state failed (logged once)
	dec     msgDecoder
	// Acknowledgements are confirmed: each goes with a reply subject INBOX.ROUND.I,
	// whose answers come to replies.
	nc      *nats.Conn
	inbox   string
	round   int
	replies chan *nats.Msg
	rec     record.Record
}

// decode gives msg's records to fn and queues its acknowledgement.
func (c *consumer) decode(msg jetstream.Msg, seq uint64, fn func(*record.Record) error) error {
	if err := c.dec.decode(msg.Data(), &c.rec, fn); err != nil {
		var ferr fnError
		if errors.As(err, &ferr) {
			return ferr.err
		}
		c.logf("NATS message %s (stream sequence %d): %v (message dropped)", msg.Headers().Get(jetstream.MsgIDHeader), seq, err)
		msg.Term()
		return nil
	}
	c.seen.add(seq)
	if len(c.pending) == 0 {
		c.since = time.Now()
	}
	c.pending = append(c.pending, msg)
	return nil
}

// fnError carries the callback's own error through decode.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// msgDecoder decodes a message's record stream in place: record.Reader's result
// without its buffers (a quarter of a megabyte each), which per message would cost
// more than the records. The parsed header is kept while messages repeat it.
type msgDecoder struct {
	hdr  []byte
	wire *[256]int8
}

// decode calls fn with each record of the record stream b (record's format: a header,
// then length-prefixed records; a header may recur at a record boundary). fn's error
// comes back as a fnError; any other error names the byte offset.
func (d *msgDecoder) decode(b []byte, rec *record.Record, fn func(*record.Record) error) error {
	off := 0
	var wire *[256]int8 // each message starts with its own header
	for off < len(b) {
		if len(b)-off >= len(record.Magic) && [4]byte(b[off:off+4]) == record.Magic {
			if len(b)-off < 8 {
				return fmt.Errorf("at byte %d: %w: header cut short", off, record.ErrTruncated)
			}
			hlen := int(binary.LittleEndian.Uint16(b[off+6:]))
			if hlen < 9 || hlen > len(b)-off {
				return fmt.Errorf("at byte %d: %w: header length %d of %d bytes", off, record.ErrBadHeader, hlen, len(b)-off)
			}
			if h := b[off : off+hlen]; !bytes.Equal(h, d.hdr) {
				wire, err := record.ParseHeader(h)
				if err != nil {
					return fmt.Errorf("at byte %d: %w", off, err)
				}
				d.hdr, d.wire = append(d.hdr[:0], h...), wire
			}
			wire = d.wire
			off += hlen
			continue
		}
		if wire == nil {
			return fmt.Errorf("at byte 0: %w", record.ErrBadMagic)
		}
		n, k := binary.Uvarint(b[off:])
		if k <= 0 || n == 0 || n > record.MaxRecordLen {
			return fmt.Errorf("at byte %d: %w: record length", off, record.ErrCorrupt)
		}
		if uint64(len(b)-off-k) < n {
			return fmt.Errorf("at byte %d: %w", off, record.ErrTruncated)
		}
		if err := record.DecodeRecord(b[off+k:off+k+int(n)], rec, wire); err != nil {
			return fmt.Errorf("at byte %d: %w", off, err)
		}
		if err := fn(rec); err != nil {
			return fnError{err}
		}
		off += k + int(n)
	}
	if wire == nil {
		return fmt.Errorf("empty message: %w", record.ErrBadMagic)
	}
	return nil
}

// ack makes the given records durable (Sync) and acknowledges their messages.
func (c *consumer) ack() error {
	if len(c.pending) == 0 {
		return nil
	}
	if c.sync != nil {
		if err := c.sync(); err != nil {
			return err
		}
	}
	if c.state != "" {
		// Saved only now, when every record given is durable: a sequence in the file
		// is one whose records the output has.
		if err := saveGiven(c.state, c.stream, c.seen); err != nil && !c.saveErr {
			c.logf("warning: keeping the NATS sequences given: %v; after a restart, records whose acknowledgement was lost may be stored twice", err)
			c.saveErr = true
		}
	}
	c.pending = c.confirm(c.pending)
	c.since = time.Now() // what is left waits for the next round, not the next message
	return nil
}

// confirm acknowledges msgs and waits (at most 5 s) for the server to confirm each
// acknowledgement, and returns those it did not confirm, to acknowledge again at the
// next round. A plain acknowledgement is fire-and-forget: one sent while a cluster
// elects the consumer's new leader (a node failed) was lost, and its messages came
// again to the next relay (TestNATSClusterFailover). The server answers an
// acknowledgement of a message it no longer holds too, so a retry always ends.
func (c *consumer) confirm(msgs []jetstream.Msg) []jetstream.Msg {
	c.round++
	prefix := c.inbox + "." + strconv.Itoa(c.round) + "."
	for i, m := range msgs {
		c.nc.PublishRequest(m.Reply(), prefix+strconv.Itoa(i), ackBody)
	}
	done := make([]bool, len(msgs))
	left := len(msgs)
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for left > 0 {
		select {
		case r := <-c.replies:
			if i, err := strconv.Atoi(strings.TrimPrefix(r.Subject, prefix)); err == nil && strings.HasPrefix(r.Subject, prefix) && i < len(done) && !done[i] {
				done[i] = true
				left--
			}
		case <-timeout.C:
			if left == len(msgs) {
				c.logf("NATS: no confirmation of %d acknowledgements in 5 s; retrying", left)
			}
			left = 0 // the rest at the next round
		}
	}
	out := msgs[:0]
	for i, m := range msgs {
		if !done[i] {
			out = append(out, m)
		}
	}
	clear(msgs[len(out):])
	return out
}

var ackBody = []byte("+ACK")
