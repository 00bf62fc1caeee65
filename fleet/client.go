package fleet

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"panoptes/record"
)

// QueryOptions tune Query; zero values mean the defaults.
type QueryOptions struct {
	// Timeout is how long a site may stay silent (no answer, no data, no beat) before
	// it is left out of the result; it also bounds the discovery of a pattern's sites.
	Timeout time.Duration // default DefaultTimeout
}

// DefaultTimeout is QueryOptions.Timeout's default.
const DefaultTimeout = 5 * time.Second

// SiteResult is how one site answered.
type SiteResult struct {
	Site           string
	Records        uint64     // records received
	DamagedBlocks  uint64     // damaged archive blocks the site skipped
	DamagedRecords uint64     // the records in them
	Hosts          []HostSeen // KindHosts
	Err            error      // nil: the site answered in full (or the caller stopped early)
}

// Result is the answer of every site queried, in the order of their names.
type Result struct {
	Sites []SiteResult
}

// Failed returns the sites that did not answer in full.
func (r Result) Failed() []SiteResult {
	var out []SiteResult
	for _, s := range r.Sites {
		if s.Err != nil {
			out = append(out, s)
		}
	}
	return out
}

// ErrSilent is matched by a site's error when it sent nothing for the timeout.
var ErrSilent = errors.New("did not answer")

// ErrNoSite is returned when the URL's patterns match no site that answered.
var ErrNoSite = errors.New("no archive host answered")

// Query sends req to every site t names or matches and calls fn with the records
// they send, merged in start-time order, until they have all ended or fn returns false.
// A site that fails or falls silent is left out with its error in the Result (what it
// sent before is kept); the error Query returns is for the query as a whole (no broker,
// credentials refused, no site).
func Query(ctx context.Context, t Target, req Request, o QueryOptions, fn func(site string, r *record.Record) bool) (Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	req.V = protoVer
	if err := req.check(); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, err
	}
	nc, err := connect(t, "panoptes fleet query", false, nil)
	if err != nil {
		return Result{}, err
	}
	defer nc.Close()
	sites, err := resolveSites(nc, t, o.Timeout)
	if err != nil {
		return Result{}, err
	}
	streams := make([]*siteStream, len(sites))
	for i, site := range sites {
		s := &siteStream{nc: nc, res: SiteResult{Site: site}, timeout: o.Timeout, batches: make(chan []record.Record, 2), quit: make(chan struct{})}
		streams[i] = s
		s.sub, err = nc.SubscribeSync(nc.NewRespInbox())
		if err == nil {
			err = s.sub.SetPendingLimits(-1, -1) // flow control bounds what is pending
		}
		if err == nil {
			err = nc.PublishRequest(QueryPrefix+site, s.sub.Subject, body)
		}
		if err != nil {
			for _, s := range streams[:i+1] {
				s.sub.Unsubscribe()
			}
			return Result{}, fmt.Errorf("%s: %w", t, err)
		}
	}
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.decode()
		}()
	}
	mergeStreams(ctx, streams, fn)
	for _, s := range streams {
		s.close()
	}
	wg.Wait()
	res := Result{Sites: make([]SiteResult, len(streams))}
	for i, s := range streams {
		res.Sites[i] = s.res
	}
	return res, nil
}

// resolveSites returns the sites to ask, sorted: the names given, and the sites that
// answer a discovery ping and match a pattern.
func resolveSites(nc *nats.Conn, t Target, timeout time.Duration) ([]string, error) {
	var sites, patterns []string
	for _, s := range t.Sites {
		if isPattern(s) {
			patterns = append(patterns, s)
		} else {
			sites = append(sites, s)
		}
	}
	if len(t.Sites) == 0 {
		patterns = []string{"*"}
	}
	if len(patterns) > 0 {
		found, err := discover(nc, timeout)
		if err != nil {
			return nil, fmt.Errorf("%s: discovery: %w", t, err)
		}
		matched := false
		for _, site := range found {
			for _, p := range patterns {
				if ok, _ := path.Match(p, site); ok {
					sites = append(sites, site)
					matched = true
					break
				}
			}
		}
		if !matched && len(sites) == 0 {
			return nil, fmt.Errorf("%s: %w within %s for sites %v (%d sites answered: %v)", t, ErrNoSite, timeout, patterns, len(found), found)
		}
	}
	slices.Sort(sites)
	return slices.Compact(sites), nil
}

// discover pings every archive host and collects the sites that answer. It waits for
// the first answers, then for a quiet spell (four times the first answer's delay, at
// least discoverQuiet), so that a fleet on a fast network is found in a few tens of
// milliseconds and a slow one still has its time, up to timeout.
func discover(nc *nats.Conn, timeout time.Duration) ([]string, error) {
	sub, err := nc.SubscribeSync(nc.NewRespInbox())
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	start := time.Now()
	if err := nc.PublishRequest(PingSubject, sub.Subject, nil); err != nil {
		return nil, err
	}
	deadline := start.Add(timeout)
	var sites []string
	quiet := time.Duration(0)
	last := start
	for {
		wait := time.Until(deadline)
		if quiet > 0 {
			wait = min(wait, time.Until(last.Add(quiet)))
		}
		if wait <= 0 {
			break
		}
		m, err := sub.NextMsg(wait)
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		if err != nil {
			return nil, err
		}
		var p pingReply
		if json.Unmarshal(m.Data, &p) != nil || p.Site == "" {
			continue // a no-responders status: nobody subscribes to the ping yet
		}
		last = time.Now()
		if quiet == 0 {
			quiet = max(discoverQuiet, 4*last.Sub(start))
		}
		sites = append(sites, p.Site)
	}
	slices.Sort(sites)
	return slices.Compact(sites), nil
}

const discoverQuiet = 200 * time.Millisecond

// siteStream is one site's answer: its messages as a record stream (io.Reader), decoded
// into batches by decode.
type siteStream struct {
	nc      *nats.Conn
	sub     *nats.Subscription
	timeout time.Duration
	res     SiteResult
	batches chan []record.Record // closed after the last one
	quit    chan struct{}        // closed when the merge stops early

	mu      sync.Mutex
	ctl     string // where acks and "stop" go
	cur     []byte
	rep     *endReport
	started bool
	readErr error // the error Read returned, which the record reader wraps
}

var errNoResponders = errors.New("no archive host serves this site")

// Read returns the bytes of the site's data messages, acknowledging each as it is
// taken (the decoder takes the next only when it has handed on what it decoded, so
// the acknowledgements pace the site).
func (s *siteStream) Read(p []byte) (int, error) {
	n, err := s.read(p)
	if err != nil && err != io.EOF {
		s.readErr = err
	}
	return n, err
}

func (s *siteStream) read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.rep != nil {
			return 0, io.EOF
		}
		m, err := s.sub.NextMsg(s.timeout)
		if errors.Is(err, nats.ErrTimeout) {
			if !s.started {
				return 0, fmt.Errorf("%w within %s", ErrSilent, s.timeout)
			}
			return 0, fmt.Errorf("%w within %s (it went silent mid-answer)", ErrSilent, s.timeout)
		}
		if errors.Is(err, nats.ErrNoResponders) {
			return 0, errNoResponders
		}
		if err != nil {
			return 0, err
		}
		if m.Header.Get("Status") == "503" {
			return 0, errNoResponders
		}
		switch m.Header.Get(hKind) {
		case kStart:
			s.started = true
			s.setCtl(m.Reply)
		case kBeat:
		case kData:
			s.started = true
			s.setCtl(m.Reply)
			s.cur = m.Data
			s.nc.Publish(m.Reply, []byte("ack "+m.Header.Get(hSeq)))
		case kEnd:
			var rep endReport
			if err := json.Unmarshal(m.Data, &rep); err != nil {
				return 0, fmt.Errorf("bad end message: %w", err)
			}
			s.rep = &rep
			s.res.DamagedBlocks, s.res.DamagedRecords, s.res.Hosts = rep.DamagedBlocks, rep.DamagedRecords, rep.Hosts
			if rep.Err != "" {
				return 0, errors.New(rep.Err)
			}
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

func (s *siteStream) setCtl(ctl string) {
	s.mu.Lock()
	s.ctl = ctl
	s.mu.Unlock()
}

const mergeBatch = 256

// decode reads the site's records into batches until its end, an error or quit.
func (s *siteStream) decode() {
	defer close(s.batches)
	rd, err := record.NewReader(s, "site "+s.res.Site)
	if err != nil {
		s.fail(err)
		return
	}
	for {
		b := make([]record.Record, mergeBatch)
		n := 0
		for n < len(b) {
			if err = rd.Read(&b[n]); err != nil {
				break
			}
			n++
		}
		if n > 0 {
			select {
			case s.batches <- b[:n]:
				s.res.Records += uint64(n)
			case <-s.quit:
				return
			}
		}
		if err == io.EOF {
			if s.rep != nil && s.rep.Records != s.res.Records {
				s.fail(fmt.Errorf("sent %d records, %d arrived", s.rep.Records, s.res.Records))
			}
			return
		}
		if err != nil {
			s.fail(err)
			return
		}
	}
}

func (s *siteStream) fail(err error) {
	select {
	case <-s.quit:
		return // stopped by the caller: not the site's fault
	default:
	}
	if s.readErr != nil {
		err = s.readErr // the site's own words, not the record reader's wrapping of them
	}
	s.res.Err = err
}

// close stops the site's answer if it is still running.
func (s *siteStream) close() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	s.mu.Lock()
	ctl := s.ctl
	s.mu.Unlock()
	if ctl != "" {
		s.nc.Publish(ctl, []byte(ctlStop))
	}
	s.sub.Unsubscribe()
	for range s.batches { // let decode end
	}
}

// cursor is a site's position in the merge.
type cursor struct {
	s    *siteStream
	buf  []record.Record
	i    int
	rank int // the site's position, to break ties the same way every time
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	a, b := &h[i].buf[h[i].i], &h[j].buf[h[j].i]
	if a.StartTime != b.StartTime {
		return a.StartTime < b.StartTime
	}
	return h[i].rank < h[j].rank
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// next fills c with its site's next batch; false at the site's end.
func (c *cursor) next(ctx context.Context) bool {
	select {
	case b, ok := <-c.s.batches:
		if !ok {
			return false
		}
		c.buf, c.i = b, 0
		return true
	case <-ctx.Done():
		return false
	}
}

// mergeStreams calls fn with the sites' records in start-time order (each site sends
// its own in that order), until every site has ended or fn returns false.
func mergeStreams(ctx context.Context, streams []*siteStream, fn func(string, *record.Record) bool) {
	h := make(cursorHeap, 0, len(streams))
	for i, s := range streams {
		c := &cursor{s: s, rank: i}
		if c.next(ctx) {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	for len(h) > 0 && ctx.Err() == nil {
		c := h[0]
		if !fn(c.s.res.Site, &c.buf[c.i]) {
			return
		}
		c.i++
		if c.i == len(c.buf) && !c.next(ctx) {
			heap.Pop(&h)
			continue
		}
		heap.Fix(&h, 0)
	}
}

// String names a site's error for a warning: "site B: did not answer within 5s".
func (r SiteResult) String() string {
	if r.Err == nil {
		return "site " + r.Site + ": " + strconv.FormatUint(r.Records, 10) + " records"
	}
	return "site " + r.Site + ": " + r.Err.Error()
}
