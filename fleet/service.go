package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"panoptes/filter"
	"panoptes/index"
	"panoptes/record"
)

// ServiceOptions tune a Service; zero values mean the defaults.
type ServiceOptions struct {
	MaxQueries int           // queries run at once (default 4); more wait their turn, beating
	ClientIdle time.Duration // how long a client may leave its window full before the query is dropped (default 60 s)
	Logf       func(format string, args ...any)
}

// Service answers the fleet's queries for one site from one archive directory.
type Service struct {
	t    Target
	site string
	dir  string
	o    ServiceOptions
	nc   *nats.Conn
	subs []*nats.Subscription
	sem  chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// Compiled at first use, not at the start of every command of the binary.
var notSiteChar = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9_-]+`) })

// DefaultSite is the site an archive host answers for when its URL names none: the
// host name, with the characters a site name may not hold turned into "-".
func DefaultSite() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "panoptes"
	}
	h, _, _ = strings.Cut(h, ".")
	h = strings.Trim(notSiteChar().ReplaceAllString(h, "-"), "-_")
	if h == "" {
		return "panoptes"
	}
	return h
}

// CheckServiceURL parses a --query-service URL (nats://HOST:PORT[/SITE]): one site
// name, no pattern.
func CheckServiceURL(s string) (Target, error) {
	t, err := ParseURL(s, DefaultSite())
	if err != nil {
		return t, err
	}
	if len(t.Sites) != 1 || isPattern(t.Sites[0]) || !siteName().MatchString(t.Sites[0]) {
		return t, fmt.Errorf("%s: an archive host answers for one site, named with letters, digits, - and _ (not %q)", t, strings.Join(t.Sites, ","))
	}
	return t, nil
}

// Serve connects to the broker and answers queries for t's site from the archive in
// dir until Close. The connection reconnects for as long as the service runs.
func Serve(t Target, dir string, o ServiceOptions) (*Service, error) {
	if len(t.Sites) != 1 || isPattern(t.Sites[0]) {
		return nil, fmt.Errorf("%s: an archive host answers for one site", t)
	}
	if o.MaxQueries <= 0 {
		o.MaxQueries = 4
	}
	if o.ClientIdle <= 0 {
		o.ClientIdle = 60 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	nc, err := connect(t, "panoptes query service "+t.Sites[0], true, o.Logf)
	if err != nil {
		return nil, err
	}
	s := &Service{t: t, site: t.Sites[0], dir: dir, o: o, nc: nc, sem: make(chan struct{}, o.MaxQueries), done: make(chan struct{})}
	sub, err := nc.QueueSubscribe(QueryPrefix+s.site, queueGroup, s.answer)
	if err == nil {
		s.subs = append(s.subs, sub)
		sub, err = nc.Subscribe(PingSubject, s.ping)
		s.subs = append(s.subs, sub)
	}
	if err == nil {
		err = nc.Flush() // the subscriptions are in place when Serve returns
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: subscribing: %w", t, err)
	}
	return s, nil
}

// Site returns the site the service answers for.
func (s *Service) Site() string { return s.site }

// Close stops answering, ends the queries running (their clients see an error) and
// closes the connection.
func (s *Service) Close() error {
	if s == nil {
		return nil
	}
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	close(s.done)
	s.wg.Wait()
	s.nc.Close()
	return nil
}

func (s *Service) ping(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	b, _ := json.Marshal(pingReply{Site: s.site})
	m.Respond(b)
}

// answer runs one query on its own goroutine: the subscription's callback must return
// for the next message (an ack of another query) to be delivered.
func (s *Service) answer(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		q := &query{s: s, inbox: m.Reply, ack: make(chan struct{}, 1), stop: make(chan struct{})}
		q.run(m.Data)
	}()
}

// query is one query being answered.
type query struct {
	s        *Service
	inbox    string
	ctl      string
	req      Request
	sent     uint64 // data messages sent
	acked    atomic.Uint64
	ack      chan struct{} // a new ack arrived
	stop     chan struct{} // closed on the client's "stop"
	stopOnce sync.Once
	lastSend atomic.Int64 // unix ns of the last message sent, for the beats
	pubMu    sync.Mutex
}

var (
	errStopped    = errors.New("the client stopped the query")
	errClientGone = errors.New("the client acknowledged nothing for too long")
	errClosing    = errors.New("the archive host is shutting down")
)

func (q *query) publish(kind string, data []byte, withCtl bool) error {
	m := nats.NewMsg(q.inbox)
	m.Header.Set(hKind, kind)
	m.Header.Set(hSite, q.s.site)
	if kind == kData {
		m.Header.Set(hSeq, strconv.FormatUint(q.sent, 10))
	}
	if withCtl {
		m.Reply = q.ctl
	}
	m.Data = data
	q.pubMu.Lock()
	defer q.pubMu.Unlock()
	q.lastSend.Store(time.Now().UnixNano())
	return q.s.nc.PublishMsg(m)
}

func (q *query) control(m *nats.Msg) {
	body := string(m.Data)
	if body == ctlStop {
		q.stopOnce.Do(func() { close(q.stop) })
		return
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(body, "ack "), 10, 64); err == nil {
		for {
			old := q.acked.Load()
			if n <= old || q.acked.CompareAndSwap(old, n) {
				break
			}
		}
		select {
		case q.ack <- struct{}{}:
		default:
		}
	}
}

func (q *query) run(reqData []byte) {
	s := q.s
	q.ctl = s.nc.NewRespInbox()
	sub, err := s.nc.Subscribe(q.ctl, q.control)
	if err != nil {
		s.o.Logf("query service %s: %v", s.site, err)
		return
	}
	defer sub.Unsubscribe()
	if err := q.publish(kStart, nil, true); err != nil {
		return
	}
	// Beats tell the client the site is alive while it scans without finding.
	beatDone := make(chan struct{})
	var beats sync.WaitGroup
	beats.Add(1)
	go func() {
		defer beats.Done()
		t := time.NewTicker(beatEvery / 2)
		defer t.Stop()
		for {
			select {
			case <-beatDone:
				return
			case <-t.C:
				if time.Since(time.Unix(0, q.lastSend.Load())) >= beatEvery {
					q.publish(kBeat, nil, false)
				}
			}
		}
	}()
	rep := q.answer(reqData)
	close(beatDone)
	beats.Wait()
	if rep.Err != "" && rep.Err != errStopped.Error() {
		s.o.Logf("query service %s: query %q: %s", s.site, q.req.Filter, rep.Err)
	}
	b, _ := json.Marshal(rep)
	q.publish(kEnd, b, false)
}

// beatEvery is how often a site that has found nothing to send says it is alive.
const beatEvery = time.Second

// answer runs the query and returns what the end message reports.
func (q *query) answer(reqData []byte) (rep endReport) {
	req, err := decodeRequest(reqData)
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	q.req = req
	select { // wait for a turn; beats go on meanwhile
	case q.s.sem <- struct{}{}:
		defer func() { <-q.s.sem }()
	case <-q.stop:
		rep.Err = errStopped.Error()
		return rep
	case <-q.s.done:
		rep.Err = errClosing.Error()
		return rep
	}
	a, err := index.Open(q.s.dir, index.Options{ReadOnly: true, Strict: req.Strict})
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	defer a.Close()
	if req.Kind == KindHosts {
		rep.Hosts, err = hostsOf(a, req.Addrs)
		if err == nil {
			// An empty record stream, so that every answer is one: the client reads
			// the stream's header before the end.
			q.sent++
			err = q.publish(kData, record.AppendHeader(nil), true)
		}
		if err != nil {
			rep.Err = err.Error()
		}
		return rep
	}
	flt, err := filter.Compile(req.Filter)
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	buf := record.AppendHeader(make([]byte, 0, req.Batch+record.MaxRecordLen))
	inBatch := 0
	flush := func() error {
		if inBatch == 0 && q.sent > 0 {
			return nil
		}
		if err := q.waitCredit(); err != nil {
			return err
		}
		q.sent++
		if err := q.publish(kData, buf, true); err != nil {
			return err
		}
		buf, inBatch = buf[:0], 0
		return nil
	}
	emit := func(r *record.Record) error {
		buf = record.AppendRecord(buf, r)
		inBatch++
		rep.Records++
		if len(buf) >= req.Batch {
			return flush()
		}
		return nil
	}
	t0, t1 := int64(-1<<62), int64(1<<62)
	if req.Time {
		t0, t1 = req.T0, req.T1
	}
	err = runQuery(a, flt, t0, t1, emit)
	if err == nil && (inBatch > 0 || q.sent == 0) {
		err = flush() // the first batch carries the stream header even with no record
	}
	if err == nil {
		// The end follows the last batch at once; wait for the client to take them all
		// so that a stop racing the end is not lost.
		err = q.waitAll()
	}
	d := a.Damage()
	rep.DamagedBlocks, rep.DamagedRecords = uint64(d.Blocks), d.Records
	if err != nil {
		rep.Err = err.Error()
	}
	return rep
}

// waitCredit waits until fewer than Window batches are unacknowledged.
func (q *query) waitCredit() error {
	return q.waitUntil(func() bool { return q.sent-q.acked.Load() < uint64(q.req.Window) })
}

func (q *query) waitAll() error {
	return q.waitUntil(func() bool { return q.acked.Load() >= q.sent })
}

func (q *query) waitUntil(ok func() bool) error {
	var idle *time.Timer
	for !ok() {
		if idle == nil {
			idle = time.NewTimer(q.s.o.ClientIdle)
			defer idle.Stop()
		}
		select {
		case <-q.ack:
		case <-q.stop:
			return errStopped
		case <-q.s.done:
			return errClosing
		case <-idle.C:
			return errClientGone
		}
	}
	return nil
}

// hostsOf answers a hosts query from the address index.
func hostsOf(a *index.Archive, addrs []string) ([]HostSeen, error) {
	var out []HostSeen
	for _, s := range addrs {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", s, err)
		}
		seen, err := a.Host(addr)
		if err != nil {
			return nil, err
		}
		for _, h := range seen {
			out = append(out, HostSeen{Addr: h.Addr, SrcID: h.SrcID, First: h.First, Last: h.Last, Records: h.Records, Segments: h.Segments})
		}
	}
	return out, nil
}

// ServiceFlagUsage is the help of the --query-service flag of the sensor and the relay.
const ServiceFlagUsage = "answer fleet queries (tools' -R nats://BROKER/SITES) from the -w archive, for the site in `URL` (nats://[USER:PASS@]HOST:PORT[/SITE]; the host name when no SITE)"

// CheckService checks a --query-service URL and that out, the -w output, is an
// archive directory; "" is no service.
func CheckService(url, out string) error {
	if url == "" {
		return nil
	}
	if _, err := CheckServiceURL(url); err != nil {
		return fmt.Errorf("--query-service %w", err)
	}
	if out == "" || !index.IsArchive(out) {
		return fmt.Errorf("--query-service answers from an archive: give -w DIR/ (not %q)", out)
	}
	return nil
}

// Start starts the service a checked --query-service URL asks for, over the archive
// dir, and logs what it answers for; "" starts nothing (a nil Service, whose Close
// does nothing).
func Start(url, dir string, logf func(string, ...any)) (*Service, error) {
	if url == "" {
		return nil, nil
	}
	t, err := CheckServiceURL(url)
	if err != nil {
		return nil, fmt.Errorf("--query-service %w", err)
	}
	s, err := Serve(t, dir, ServiceOptions{Logf: logf})
	if err != nil {
		return nil, fmt.Errorf("--query-service %w", err)
	}
	logf("query service: answering for site %s on %s from %s", s.site, t, dir)
	return s, nil
}
