// Package top is the engine of `panoptes top` (Argus's ratop): a model that aggregates
// flow records continuously by one or more keys (totals, or a sliding window of record
// time) under a cap on distinct keys, a feeder that reads records in its own goroutine
// so the display never blocks reading, and two faces over it: a terminal UI (tcell) and
// a batch printer that writes the table as text once per interval, like `top -b`.
//
// The package does not know how records are read or keyed: the caller (tools/top.go)
// gives it a Source (any scan-style reader, including one that never ends) and a key
// function per view, so that top merges records exactly as `panoptes cluster` does.
package top

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"panoptes/record"
)

// Metric is what rows are ranked by, named as the Argus field it shows.
type Metric uint8

// The metrics, in the order the interactive sort key cycles through them.
const (
	Bytes Metric = iota
	Pkts
	Load // bits per second
	Rate // packets per second
	SBytes
	DBytes
	SPkts
	DPkts
	Trans // records merged
	numMetrics
)

var metricNames = [numMetrics]string{"bytes", "pkts", "load", "rate", "sbytes", "dbytes", "spkts", "dpkts", "trans"}

func (m Metric) String() string { return metricNames[m] }

// ParseMetric returns the metric with the given Argus field name.
func ParseMetric(s string) (Metric, error) {
	for i, n := range metricNames {
		if strings.EqualFold(s, n) {
			return Metric(i), nil
		}
	}
	return 0, fmt.Errorf("unknown sort key %q (have: %s)", s, strings.Join(metricNames[:], ", "))
}

// KeyFunc appends the aggregation key of r to dst: records with equal keys are merged.
type KeyFunc func(dst []byte, r *record.Record) []byte

// ViewSpec describes one way of aggregating: "flows" by 5-tuple, "hosts" by address...
type ViewSpec struct {
	Name    string
	Key     KeyFunc
	Correct bool            // also look a record up by its reversed key (racluster's correct mode)
	Columns []*record.Field // the key columns shown for a row, from the first record of the key
}

// Config sets up a Model.
type Config struct {
	Views   []ViewSpec
	Window  time.Duration // 0 keeps totals; otherwise only records that ended within the window count
	MaxKeys int           // distinct keys kept per view; the smallest are evicted beyond it
	Sort    Metric        // initial ranking, also what eviction drops the smallest of
	Format  record.Format // how key columns print
}

// windowSlots is how finely the window slides: it moves by a tenth of its length.
const windowSlots = 10

// Counts are the additive counters of a row: what a window can add and take away.
type Counts struct {
	SPkts, DPkts, SBytes, DBytes, Trans uint64
}

func (c *Counts) add(o Counts) {
	c.SPkts += o.SPkts
	c.DPkts += o.DPkts
	c.SBytes += o.SBytes
	c.DBytes += o.DBytes
	c.Trans += o.Trans
}

func (c *Counts) sub(o Counts) {
	c.SPkts -= o.SPkts
	c.DPkts -= o.DPkts
	c.SBytes -= o.SBytes
	c.DBytes -= o.DBytes
	c.Trans -= o.Trans
}

func countsOf(r *record.Record) Counts {
	return Counts{SPkts: r.Src.Pkts, DPkts: r.Dst.Pkts, SBytes: r.Src.Bytes, DBytes: r.Dst.Bytes, Trans: uint64(max(r.Trans, 1))}
}

// Model aggregates records into every view at once, so switching views loses nothing.
// It is not safe for concurrent use: Feeder serializes access.
type Model struct {
	cfg    Config
	views  []*agg
	sortBy Metric

	matched, late uint64
	first, last   int64 // record time span of the records added

	slotNs int64 // window slot length; 0 for totals
	cur    int64 // newest slot number seen (window clock)
	clock  int64 // newest record end time seen, ns
}

// NewModel returns an empty model.
func NewModel(cfg Config) *Model {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	m := &Model{cfg: cfg, sortBy: cfg.Sort}
	if cfg.Window > 0 {
		m.slotNs = max(int64(cfg.Window)/windowSlots, 1)
	}
	for i := range cfg.Views {
		m.views = append(m.views, newAgg(&m.cfg.Views[i], m))
	}
	m.Reset()
	return m
}

// Reset forgets every record (a new filter starts over).
func (m *Model) Reset() {
	for _, a := range m.views {
		a.reset()
	}
	m.matched, m.late, m.first, m.last, m.cur, m.clock = 0, 0, 0, 0, -1, 0
}

// SetSort changes the ranking eviction uses.
func (m *Model) SetSort(s Metric) { m.sortBy = s }

// Add counts a flow record in every view. Management records are ignored. In window
// mode a record that ended before the window is counted as late and otherwise dropped.
func (m *Model) Add(r *record.Record) {
	if r.Kind == record.KindMan {
		return
	}
	slot := int64(-1)
	if m.slotNs > 0 {
		slot = r.LastTime / m.slotNs
		m.advanceTo(slot)
		if slot <= m.cur-windowSlots {
			m.late++
			return
		}
	}
	m.matched++
	if m.first == 0 || r.StartTime < m.first {
		m.first = r.StartTime
	}
	m.last = max(m.last, r.LastTime)
	m.clock = max(m.clock, r.LastTime)
	for _, a := range m.views {
		a.add(r, slot)
	}
}

// Advance moves the window clock to t (ns) as if a record had ended then: a live source
// that goes quiet still sees its old traffic leave the window.
func (m *Model) Advance(t int64) {
	if m.slotNs > 0 && t > m.clock {
		m.clock = t
		m.advanceTo(t / m.slotNs)
	}
}

// Clock returns the end time of the newest record (or the time Advance moved to).
func (m *Model) Clock() int64 { return m.clock }

func (m *Model) advanceTo(slot int64) {
	if m.cur < 0 {
		m.cur = slot
		return
	}
	if slot <= m.cur {
		return
	}
	for _, a := range m.views {
		// Expire every slot that falls out of the window ending at slot.
		for i := range a.slots {
			if s := &a.slots[i]; s.n >= 0 && s.n <= slot-windowSlots {
				a.expire(s)
			}
		}
	}
	m.cur = slot
}

// Stats are the model's totals for the header line.
type Stats struct {
	Matched, Late uint64 // records counted, and (window) records too old to count
	First, Last   int64  // record time span of what was counted, ns
	Keys, MaxKeys int    // distinct keys in the view, and the cap
	Evicted       uint64 // keys dropped to stay under the cap
}

// Stats returns the header numbers, with the key counts of view v.
func (m *Model) Stats(v int) Stats {
	a := m.views[v]
	return Stats{Matched: m.matched, Late: m.late, First: m.first, Last: m.last,
		Keys: len(a.index), MaxKeys: m.cfg.MaxKeys, Evicted: a.evicted}
}

// Row is one aggregated key as displayed.
type Row struct {
	Cells  []string // the key columns' text
	Counts Counts
	Dur    float64 // seconds the rates are computed over
}

// Value returns the row's value of metric x.
func (r *Row) Value(x Metric) float64 { return metricValue(x, &r.Counts, r.Dur) }

func metricValue(x Metric, c *Counts, dur float64) float64 {
	switch x {
	case Bytes:
		return float64(c.SBytes + c.DBytes)
	case Pkts:
		return float64(c.SPkts + c.DPkts)
	case SBytes:
		return float64(c.SBytes)
	case DBytes:
		return float64(c.DBytes)
	case SPkts:
		return float64(c.SPkts)
	case DPkts:
		return float64(c.DPkts)
	case Trans:
		return float64(c.Trans)
	case Rate, Load:
		if dur <= 0 {
			return 0
		}
		if x == Rate {
			return float64(c.SPkts+c.DPkts) / dur
		}
		return 8 * float64(c.SBytes+c.DBytes) / dur
	}
	return 0
}

// Top returns the n highest rows of view v by metric by, highest first; ties go to the
// key text in ascending order, so the output is deterministic.
func (m *Model) Top(v int, by Metric, n int) []Row {
	a := m.views[v]
	h := topHeap{a: a, by: by}
	for i := range a.entries {
		if a.entries[i].key == "" {
			continue
		}
		if len(h.idx) < n {
			h.push(int32(i))
		} else if n > 0 && h.below(h.idx[0], int32(i)) {
			h.idx[0] = int32(i)
			h.down(0)
		}
	}
	slices.SortFunc(h.idx, func(x, y int32) int {
		if h.below(x, y) {
			return 1
		}
		if h.below(y, x) {
			return -1
		}
		return 0
	})
	rows := make([]Row, len(h.idx))
	for i, e := range h.idx {
		en := &a.entries[e]
		rows[i] = Row{Cells: strings.Split(en.cells, "\x00"), Counts: en.c, Dur: a.dur(en)}
	}
	return rows
}

// topHeap is a min-heap of entry indexes: the root is the lowest of the best n so far.
type topHeap struct {
	a   *agg
	by  Metric
	idx []int32
}

// below reports whether entry x ranks below entry y.
func (h *topHeap) below(x, y int32) bool { return h.a.below(h.by, x, y) }

func (h *topHeap) push(i int32) {
	h.idx = append(h.idx, i)
	for j := len(h.idx) - 1; j > 0; {
		p := (j - 1) / 2
		if !h.below(h.idx[j], h.idx[p]) {
			break
		}
		h.idx[j], h.idx[p] = h.idx[p], h.idx[j]
		j = p
	}
}

func (h *topHeap) down(j int) {
	for {
		l, low := 2*j+1, j
		if l < len(h.idx) && h.below(h.idx[l], h.idx[low]) {
			low = l
		}
		if r := l + 1; r < len(h.idx) && h.below(h.idx[r], h.idx[low]) {
			low = r
		}
		if low == j {
			return
		}
		h.idx[j], h.idx[low] = h.idx[low], h.idx[j]
		j = low
	}
}

// entry is one distinct key of a view. An empty key marks a free slot.
type entry struct {
	key         string
	cells       string // key column texts, NUL-separated, made once from the first record
	c           Counts
	first, last int64
}

// slot holds what records ending in one slot of the window added, by entry.
type slot struct {
	n int64 // slot number (time / slot length); -1 unused
	c map[int32]Counts
}

// agg is one view's aggregation: a map from key to entry, entries in a slice with a
// free list (no per-record allocation once a key exists), and for a window a ring of
// slots whose counts are taken away again as the window slides past them.
type agg struct {
	spec    *ViewSpec
	m       *Model
	index   map[string]int32
	entries []entry
	free    []int32
	evicted uint64
	slots   []slot
	key     []byte
	rkey    []byte
	rev     record.Record
	cells   []byte
}

func newAgg(spec *ViewSpec, m *Model) *agg {
	return &agg{spec: spec, m: m}
}

func (a *agg) reset() {
	a.index = make(map[string]int32)
	a.entries, a.free, a.evicted = a.entries[:0], a.free[:0], 0
	a.slots = nil
	if a.m.slotNs > 0 {
		a.slots = make([]slot, windowSlots)
		for i := range a.slots {
			a.slots[i] = slot{n: -1, c: make(map[int32]Counts)}
		}
	}
}

// dur is the time a row's rates are averaged over: the window, or in totals mode the
// span of the row's records (Argus's rate is pkts/dur too).
func (a *agg) dur(e *entry) float64 {
	if a.m.slotNs > 0 {
		return float64(a.m.cfg.Window) / 1e9
	}
	return float64(e.last-e.first) / 1e9
}

func (a *agg) below(by Metric, x, y int32) bool {
	ex, ey := &a.entries[x], &a.entries[y]
	vx, vy := metricValue(by, &ex.c, a.dur(ex)), metricValue(by, &ey.c, a.dur(ey))
	if vx != vy {
		return vx < vy
	}
	return ex.cells > ey.cells
}

func (a *agg) add(r *record.Record, slotNum int64) {
	a.key = a.spec.Key(a.key[:0], r)
	c := countsOf(r)
	i, ok := a.index[string(a.key)]
	if !ok && a.spec.Correct {
		a.rev = *r
		a.rev.Reverse()
		a.rkey = a.spec.Key(a.rkey[:0], &a.rev)
		if i, ok = a.index[string(a.rkey)]; ok {
			c = countsOf(&a.rev)
		}
	}
	if !ok {
		if len(a.index) >= a.m.cfg.MaxKeys {
			a.evict()
		}
		i = a.newEntry(r)
	}
	e := &a.entries[i]
	e.c.add(c)
	if e.first == 0 || r.StartTime < e.first {
		e.first = r.StartTime
	}
	e.last = max(e.last, r.LastTime)
	if slotNum >= 0 {
		s := &a.slots[slotNum%windowSlots]
		if s.n != slotNum {
			clear(s.c)
			s.n = slotNum
		}
		sc := s.c[i]
		sc.add(c)
		s.c[i] = sc
	}
}

func (a *agg) newEntry(r *record.Record) int32 {
	a.cells = a.cells[:0]
	for j, f := range a.spec.Columns {
		if j > 0 {
			a.cells = append(a.cells, 0)
		}
		a.cells = f.Text(a.cells, r, &a.m.cfg.Format)
	}
	var i int32
	if n := len(a.free); n > 0 {
		i, a.free = a.free[n-1], a.free[:n-1]
	} else {
		a.entries = append(a.entries, entry{})
		i = int32(len(a.entries) - 1)
	}
	key := string(a.key)
	a.entries[i] = entry{key: key, cells: string(a.cells)}
	a.index[key] = i
	return i
}

// evict drops the lowest-ranked sixteenth of the keys (by the current sort metric), so
// that the cost of ranking them is shared by the many new keys that then fit.
func (a *agg) evict() {
	live := make([]int32, 0, len(a.index))
	for _, i := range a.index {
		live = append(live, i)
	}
	slices.SortFunc(live, func(x, y int32) int {
		if a.below(a.m.sortBy, x, y) {
			return -1
		}
		if a.below(a.m.sortBy, y, x) {
			return 1
		}
		return cmp.Compare(x, y)
	})
	n := max(len(live)/16, 1)
	for _, i := range live[:n] {
		a.remove(i)
		for _, s := range a.slots {
			delete(s.c, i)
		}
	}
	a.evicted += uint64(n)
}

func (a *agg) remove(i int32) {
	delete(a.index, a.entries[i].key)
	a.entries[i] = entry{}
	a.free = append(a.free, i)
}

// expire takes slot s out of the window: its counts are subtracted, and keys left with
// nothing are dropped.
func (a *agg) expire(s *slot) {
	for i, c := range s.c {
		e := &a.entries[i]
		e.c.sub(c)
		if e.c.Trans == 0 {
			a.remove(i)
		}
	}
	clear(s.c)
	s.n = -1
}
