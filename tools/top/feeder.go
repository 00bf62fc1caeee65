package top

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"panoptes/filter"
	"panoptes/record"
)

// Source is where records come from: any scan-style reader.
type Source struct {
	// Read calls fn for each record in turn until fn returns false or the input ends
	// (a live source may never end). Warnings (a truncated file...) go to warn.
	Read func(warn io.Writer, fn func(*record.Record) bool) error
	// Rewind says Read can be called again to start over (files, archives): a new
	// filter then re-reads the input. Otherwise (stdin, live) a new filter applies to
	// the records still to come.
	Rewind bool
	// Name describes the input in the header ("case.pnp", "archive /srv/a").
	Name string
}

// Feeder reads a Source in its own goroutine into a Model. Every record is added under
// a mutex held only for that record, and the display takes the mutex only to copy out
// the top rows: reading is never blocked for longer than one snapshot.
type Feeder struct {
	src   Source
	clock func() time.Time

	mu          sync.Mutex
	m           *Model
	flt         *filter.Filter
	gen         uint64 // bumped by SetFilter; a rewindable scan of an older generation stops
	read        uint64 // records read (all kinds) in this generation
	started     time.Time
	ended       time.Time // when the input ended (zero while reading)
	lastArrival time.Time // wall time of the newest record
	err         error
	msgs        msgLog

	stop atomic.Bool
	done chan struct{}
}

// NewFeeder returns a feeder over src into m, selecting records with flt (nil: all).
// clock is the wall clock (nil: time.Now); msgOut, when not nil, receives warnings as
// they come (batch mode), otherwise they are kept for the display and Messages.
func NewFeeder(src Source, m *Model, flt *filter.Filter, clock func() time.Time, msgOut io.Writer) *Feeder {
	if clock == nil {
		clock = time.Now
	}
	f := &Feeder{src: src, clock: clock, m: m, flt: flt, done: make(chan struct{})}
	f.msgs.out = msgOut
	return f
}

// Start starts reading.
func (f *Feeder) Start() {
	f.mu.Lock()
	f.started = f.clock()
	done := f.done
	f.mu.Unlock()
	go f.loop(done)
}

// Done is closed when the input has ended (or failed). A new filter on a rewindable
// input reads it again, with a new Done channel.
func (f *Feeder) Done() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

// Stop asks the reading goroutine to stop at the next record.
func (f *Feeder) Stop() { f.stop.Store(true) }

// Err returns the input error, if reading failed.
func (f *Feeder) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Messages returns the warnings kept so far.
func (f *Feeder) Messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.msgs.lines...)
}

func (f *Feeder) loop(done chan struct{}) {
	defer close(done)
	for {
		f.mu.Lock()
		gen := f.gen
		f.mu.Unlock()
		warn := &lockedWriter{f: f}
		err := f.src.Read(warn, func(r *record.Record) bool {
			if f.stop.Load() {
				return false
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.gen != gen {
				if f.src.Rewind {
					return false // start over with the new filter
				}
				gen = f.gen // the new filter applies from here on
			}
			f.read++
			f.lastArrival = f.clock()
			if r.Kind != record.KindMan && f.flt.Match(r) {
				f.m.Add(r)
			}
			return true
		})
		warn.flush()
		f.mu.Lock()
		if f.gen != gen && f.src.Rewind && !f.stop.Load() {
			f.mu.Unlock()
			continue
		}
		f.err = err
		f.ended = f.clock()
		f.mu.Unlock()
		return
	}
}

// SetFilter replaces the filter and starts the counts over: a rewindable input is
// read again from the start, any other input goes on with the new filter.
func (f *Feeder) SetFilter(flt *filter.Filter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flt = flt
	f.gen++
	f.read = 0
	f.m.Reset()
	if !f.src.Rewind {
		return
	}
	f.started = f.clock()
	if !f.ended.IsZero() && !f.stop.Load() {
		// The input was read to its end: read it again under the new filter.
		f.ended, f.err = time.Time{}, nil
		f.done = make(chan struct{})
		go f.loop(f.done)
	}
}

// SetSort changes the ranking the model evicts by.
func (f *Feeder) SetSort(s Metric) {
	f.mu.Lock()
	f.m.SetSort(s)
	f.mu.Unlock()
}

// Snapshot is everything one frame shows.
type Snapshot struct {
	Source  string
	View    string
	Columns []*record.Field
	Sort    Metric
	Window  time.Duration
	Filter  string
	Rows    []Row
	Stats
	Read    uint64
	Elapsed time.Duration // wall time spent reading (up to the end of input)
	Now     time.Time
	Done    bool
	Err     error
	Message string // the newest warning
}

// Snapshot copies out the top n rows of view v by metric by, and the header numbers.
// While a window is open on a quiet live source it also lets the window slide on by
// wall time, so old traffic leaves the table.
func (f *Feeder) Snapshot(v int, by Metric, n int) *Snapshot {
	now := f.clock()
	f.mu.Lock()
	defer f.mu.Unlock()
	done := !f.ended.IsZero()
	if !done && !f.lastArrival.IsZero() && f.m.slotNs > 0 {
		if idle := now.Sub(f.lastArrival); idle > time.Duration(f.m.slotNs) {
			f.m.Advance(f.m.Clock() + int64(idle))
		}
	}
	end := now
	if done {
		end = f.ended
	}
	s := &Snapshot{
		Source: f.src.Name, View: f.m.cfg.Views[v].Name, Columns: f.m.cfg.Views[v].Columns,
		Sort: by, Window: f.m.cfg.Window, Filter: f.flt.Expr(),
		Rows: f.m.Top(v, by, n), Stats: f.m.Stats(v), Read: f.read,
		Elapsed: end.Sub(f.started), Now: now, Done: done, Err: f.err,
	}
	if k := len(f.msgs.lines); k > 0 {
		s.Message = f.msgs.lines[k-1]
	}
	return s
}

// msgLog keeps warning lines, or passes them on to out.
type msgLog struct {
	out   io.Writer
	lines []string
}

// maxMessages bounds the warnings kept: a damaged input may warn without end.
const maxMessages = 100

func (l *msgLog) add(line string) {
	if l.out != nil {
		io.WriteString(l.out, line+"\n")
		return
	}
	if len(l.lines) == maxMessages {
		l.lines = append(l.lines[:0], l.lines[1:]...)
	}
	l.lines = append(l.lines, line)
}

// lockedWriter splits what a Source writes into lines for the feeder's message log.
type lockedWriter struct {
	f   *Feeder
	buf []byte
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.put(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lockedWriter) flush() {
	if len(w.buf) > 0 {
		w.put(string(w.buf))
		w.buf = nil
	}
}

func (w *lockedWriter) put(line string) {
	line = strings.TrimRight(line, "\r")
	w.f.mu.Lock()
	w.f.msgs.add(line)
	w.f.mu.Unlock()
}
