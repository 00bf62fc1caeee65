package ipfix

import (
	"container/heap"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Template budgets. A template's cost is what it holds on the heap: 8 bytes per field
// and templateOverhead for the rest (its struct and map entry); an observation domain
// with templates costs domainOverhead more. Exporters are told apart by address alone,
// so that an exporter's restarts (a new UDP port each time) and a flood from many
// ports of one host draw on one budget.
const (
	DefaultMaxTemplates             = 1 << 16
	DefaultMaxTemplateBytes         = 64 << 20
	DefaultMaxExporterTemplates     = 4096
	DefaultMaxExporterTemplateBytes = 2 << 20
	// DefaultTemplateLifetime is how long a UDP template lives without being sent again
	// or used (RFC 7011 8.4 leaves the value to the collector; 30 minutes is common).
	DefaultTemplateLifetime = 30 * time.Minute

	fieldCost        = 8
	templateOverhead = 160
	domainOverhead   = 256
)

// ExporterTemplates is one exporter's template state and what was refused it.
type ExporterTemplates struct {
	Exporter      netip.Addr
	Templates     int    // templates held now
	TemplateBytes int    // their cost, as counted against the budgets
	Learnt        uint64 // template records accepted
	Evicted       uint64 // templates dropped, oldest first, to keep a budget
	Refused       uint64 // templates larger than the exporter's whole byte budget
	Expired       uint64 // templates neither sent again nor used for their lifetime
	NoTemplate    uint64 // data sets skipped because their template is not held
}

// exporter is one exporter address's templates, oldest (least recently sent or used)
// first, and its counters.
type exporter struct {
	ExporterTemplates
	oldest, newest *template
	index          int  // in the store's heap
	idle           bool // kept without templates for its counters
}

// domain is one exporter port's templates of one version and observation domain.
type domain struct {
	key        domainKey
	ex         *exporter
	templates  map[uint16]*template
	options    int // options templates among them
	hasSysInit bool
	sysInit    int64 // IPFIX systemInitTimeMilliseconds, from options data
}

type template struct {
	fields     []field
	options    bool
	minLen     int // the smallest encoding of one data record (a variable-length field: 1 byte)
	id         uint16
	cost       int
	seen       time.Duration // since the decoder started: when last sent or used
	dom        *domain
	prev, next *template
}

// exporterHeap orders exporters by template bytes, the largest first: over the total
// budget, templates are evicted from the largest exporter, so a flood costs the flooder
// and not the exporters that stay within their share.
type exporterHeap []*exporter

func (h exporterHeap) Len() int           { return len(h) }
func (h exporterHeap) Less(i, j int) bool { return h[i].TemplateBytes > h[j].TemplateBytes }
func (h exporterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *exporterHeap) Push(x any) {
	e := x.(*exporter)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *exporterHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// store is a decoder's templates within its budgets.
type store struct {
	opts      DecoderOptions
	start     time.Time
	now       time.Duration // since start, set at each message
	lastSweep time.Duration
	domains   map[domainKey]*domain
	exporters map[netip.Addr]*exporter
	heap      exporterHeap
	held      int
	heldBytes int
	idle      int // exporters kept without templates
	stats     *Stats
}

func newStore(opts DecoderOptions, stats *Stats) store {
	return store{opts: opts, start: opts.Now(), domains: map[domainKey]*domain{}, exporters: map[netip.Addr]*exporter{}, stats: stats}
}

// tick sets the time of the message being decoded and expires templates past their
// lifetime. It sweeps at most once per quarter lifetime or minute, whichever is
// shorter, so a template outlives its lifetime by at most that (and an exporter left
// without templates is forgotten then).
func (s *store) tick() {
	s.now = s.opts.Now().Sub(s.start)
	if s.opts.TemplateLifetime < 0 {
		return
	}
	if every := min(s.opts.TemplateLifetime/4, time.Minute); s.now-s.lastSweep < every {
		return
	}
	s.lastSweep = s.now
	for _, e := range s.exporters {
		for e.oldest != nil && s.now-e.oldest.seen > s.opts.TemplateLifetime {
			e.Expired++
			s.stats.TemplatesExpired++
			s.remove(e.oldest)
		}
		if e.Templates == 0 {
			s.forget(e)
		}
	}
}

// lookup returns the template tid of the domain k, refreshing it, or nil.
func (s *store) lookup(k domainKey, tid uint16) *template {
	dm := s.domains[k]
	if dm == nil {
		if e := s.exporters[k.exporter.Addr()]; e != nil {
			e.NoTemplate++
		}
		return nil
	}
	t := dm.templates[tid]
	if t == nil {
		dm.ex.NoTemplate++
		return nil
	}
	s.refresh(t)
	return t
}

// sysInit returns the domain's systemInitTimeMilliseconds, if options data gave one.
func (s *store) sysInit(k domainKey) (int64, bool) {
	if dm := s.domains[k]; dm != nil && dm.hasSysInit {
		return dm.sysInit, true
	}
	return 0, false
}

// setSysInit keeps a domain's systemInitTimeMilliseconds; it lives as long as the
// domain has templates (options data cannot come without its options template).
func (s *store) setSysInit(k domainKey, ms int64) {
	if dm := s.domains[k]; dm != nil {
		dm.hasSysInit, dm.sysInit = true, ms
	}
}

// add keeps a new template (or a new definition of one), evicting the oldest templates
// of its exporter, or over the total budget those of the largest exporter, to make
// room. A template that does not fit the exporter's whole byte budget is refused.
func (s *store) add(k domainKey, tid uint16, fields []field, options bool, minLen int) {
	cost := templateOverhead + fieldCost*len(fields)
	if cost+domainOverhead > min(s.opts.MaxExporterTemplateBytes, s.opts.MaxTemplateBytes) {
		s.refuse(k.exporter.Addr())
		return
	}
	e := s.exporter(k.exporter.Addr())
	if dm := s.domains[k]; dm != nil && dm.templates[tid] != nil {
		s.remove(dm.templates[tid])
	}
	s.makeRoom(e, k, cost)
	dm := s.domain(k, e)
	t := &template{fields: slices.Clone(fields), options: options, minLen: minLen, id: tid, cost: cost, seen: s.now, dom: dm}
	dm.templates[tid] = t
	if options {
		dm.options++
	}
	s.charge(e, 1, cost)
	s.link(t)
	e.Learnt++
	s.stats.Templates++
}

// refuse counts a refused template, on its exporter too when that is tracked or there
// is room to track it without templates.
func (s *store) refuse(a netip.Addr) {
	s.stats.TemplatesRefused++
	e := s.exporters[a]
	if e == nil && s.idle < maxIdleExporters {
		e = s.exporter(a)
		e.idle = true
		s.idle++
	}
	if e != nil {
		e.Refused++
	}
}

// makeRoom evicts until a template of cost fits in domain k of exporter e.
func (s *store) makeRoom(e *exporter, k domainKey, cost int) {
	for {
		need := cost
		if s.domains[k] == nil {
			need += domainOverhead
		}
		victim := e
		switch {
		case e.Templates+1 > s.opts.MaxExporterTemplates || e.TemplateBytes+need > s.opts.MaxExporterTemplateBytes:
		case s.held+1 > s.opts.MaxTemplates || s.heldBytes+need > s.opts.MaxTemplateBytes:
			victim = s.heap[0]
		default:
			return
		}
		if victim.oldest == nil {
			return // cannot happen: over a budget means some exporter holds templates
		}
		victim.Evicted++
		s.stats.TemplatesEvicted++
		s.remove(victim.oldest)
		if victim != e {
			s.release(victim)
		}
	}
}

// maxIdleExporters bounds the exporters kept, for their counters, without templates
// (until the next expiry sweep): spoofed source addresses cannot grow the map.
const maxIdleExporters = 1024

// exporter returns the state of the exporter address a, made if new.
func (s *store) exporter(a netip.Addr) *exporter {
	e := s.exporters[a]
	if e == nil {
		e = &exporter{ExporterTemplates: ExporterTemplates{Exporter: a}}
		s.exporters[a] = e
		heap.Push(&s.heap, e)
	}
	if e.idle {
		e.idle = false
		s.idle--
	}
	return e
}

// release forgets an exporter that holds no templates, unless it has refusals to show
// and there is room to keep it until the next sweep.
func (s *store) release(e *exporter) {
	if e.Templates > 0 || e.idle {
		return
	}
	if (e.Evicted > 0 || e.Expired > 0 || e.Refused > 0) && s.idle < maxIdleExporters {
		e.idle = true
		s.idle++
		return
	}
	s.forget(e)
}

func (s *store) forget(e *exporter) {
	if e.idle {
		s.idle--
	}
	heap.Remove(&s.heap, e.index)
	delete(s.exporters, e.Exporter)
}

// domain returns domain k, made (and charged to e) if new.
func (s *store) domain(k domainKey, e *exporter) *domain {
	dm := s.domains[k]
	if dm == nil {
		dm = &domain{key: k, ex: e, templates: map[uint16]*template{}}
		s.domains[k] = dm
		s.charge(e, 0, domainOverhead)
	}
	return dm
}

// charge adds templates and bytes to an exporter and the totals.
func (s *store) charge(e *exporter, templates, bytes int) {
	e.Templates += templates
	e.TemplateBytes += bytes
	s.held += templates
	s.heldBytes += bytes
	heap.Fix(&s.heap, e.index)
}

// remove drops one template, and its domain when that was the domain's last.
func (s *store) remove(t *template) {
	dm := t.dom
	e := dm.ex
	delete(dm.templates, t.id)
	if t.options {
		dm.options--
	}
	s.unlink(t)
	s.charge(e, -1, -t.cost)
	if len(dm.templates) == 0 {
		delete(s.domains, dm.key)
		s.charge(e, 0, -domainOverhead)
	}
}

// withdraw removes template tid of domain k, or every template of the kind when tid is
// the kind's set id (RFC 7011 8.1).
func (s *store) withdraw(k domainKey, tid uint16, options bool) {
	dm := s.domains[k]
	if dm == nil {
		return
	}
	if tid != 2 && tid != 3 {
		if t := dm.templates[tid]; t != nil {
			s.remove(t)
			s.release(dm.ex)
		}
		return
	}
	if (tid == 3) != options {
		return
	}
	// Counting the kind first makes a repeated withdrawal of all cost nothing.
	if n := dm.options; n == 0 && options || n == len(dm.templates) && !options {
		return
	}
	e := dm.ex
	for _, t := range dm.templates {
		if t.options == options {
			s.remove(t)
		}
	}
	s.release(e)
}

// refresh marks t sent or used now: the newest of its exporter.
func (s *store) refresh(t *template) {
	t.seen = s.now
	if t.dom.ex.newest != t {
		s.unlink(t)
		s.link(t)
	}
}

func (s *store) link(t *template) {
	e := t.dom.ex
	t.prev, t.next = e.newest, nil
	if e.newest != nil {
		e.newest.next = t
	} else {
		e.oldest = t
	}
	e.newest = t
}

func (s *store) unlink(t *template) {
	e := t.dom.ex
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		e.oldest = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		e.newest = t.prev
	}
	t.prev, t.next = nil, nil
}

// check verifies the budgets and that the counted state matches what is held (for the
// tests and fuzz targets).
func (s *store) check() error {
	held, bytes := 0, 0
	for a, e := range s.exporters {
		n, b := 0, 0
		for t := e.oldest; t != nil; t = t.next {
			n, b = n+1, b+t.cost
		}
		for _, dm := range s.domains {
			if dm.ex == e {
				b += domainOverhead
			}
		}
		if n != e.Templates || b != e.TemplateBytes {
			return fmt.Errorf("exporter %s: counted %d templates, %d bytes; holds %d, %d", a, e.Templates, e.TemplateBytes, n, b)
		}
		if n > s.opts.MaxExporterTemplates || b > s.opts.MaxExporterTemplateBytes {
			return fmt.Errorf("exporter %s: %d templates, %d bytes over its budget of %d, %d", a, n, b, s.opts.MaxExporterTemplates, s.opts.MaxExporterTemplateBytes)
		}
		held, bytes = held+n, bytes+b
	}
	if held != s.held || bytes != s.heldBytes {
		return fmt.Errorf("counted %d templates, %d bytes in all; holds %d, %d", s.held, s.heldBytes, held, bytes)
	}
	if held > s.opts.MaxTemplates || bytes > s.opts.MaxTemplateBytes {
		return fmt.Errorf("%d templates, %d bytes over the budget of %d, %d", held, bytes, s.opts.MaxTemplates, s.opts.MaxTemplateBytes)
	}
	return nil
}
