package sqlrepo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"panoptes/record"
)

// Options tune a Sink; zero values take the defaults.
type Options struct {
	BatchSize int           // records per INSERT / COPY (default 5000)
	Queue     int           // batches held while the database is slow or away (default 64)
	Workers   int           // connections inserting at once (default 2)
	GiveUp    time.Duration // at Close, how long to keep retrying what is queued (default 60s)
	// IndexAfter is how long a table goes without its secondary indexes (start time,
	// addresses, ports) after this writer first writes to it (default 1 minute): see
	// Sink. Negative: build them after its first batch.
	IndexAfter time.Duration
	Logf       func(string, ...any)
}

// batch is what one transaction inserts. seq identifies it in the panoptes_batches
// table, written in the same transaction, so that a batch whose COMMIT's answer was lost
// (the server went away after committing) is not inserted twice when retried.
type batch struct {
	seq    uint64
	recs   []record.Record
	tables []string // table of each record
}

// backend is one database's way of inserting a batch. retry says an earlier attempt of
// the same batch failed: it may have committed, so the backend checks the marker first.
// create makes a table, if it does not exist, without its secondary indexes;
// indexes gives the statements that build those the table lacks, which exec runs.
type backend interface {
	create(ctx context.Context, worker int, table string) error
	indexes(ctx context.Context, worker int, table string) ([]string, error)
	exec(ctx context.Context, worker int, stmt string) error
	insert(ctx context.Context, worker int, b *batch, retry bool) error
	close()
}

// Sink writes flow records into a database on a bounded queue (record.Sink). Write
// cuts records at table bounds and batches them; workers insert batches, retrying with
// backoff while the database refuses them. While the database is failing and the queue
// is full, new batches are dropped and counted; otherwise Write waits for room.
//
// A table's secondary indexes are built once the writer is done with it, in one sorted
// pass per index (keeping five indexes up to date row by row was the servers' main
// cost: loading then indexing took between a third and a half of the time in
// PostgreSQL, see bench/SQL-RESULTS.md): at Close, or IndexAfter after the writer first wrote to it,
// whichever comes first. So a bulk load (import, read -w) fills its tables and then
// indexes them, and a sensor's current table is indexed a minute into it and kept
// indexed from then on. A table without them (left by a writer that died, or made by
// rasqlinsert) gets them from the next writer that writes to it.
type Sink struct {
	t       *Target
	be      backend
	opts    Options
	size    time.Duration
	writer  string // this writer's id in panoptes_batches
	cur     *batch
	nextSeq uint64
	q       chan *batch
	wg      sync.WaitGroup
	name    []byte
	closing atomic.Int64 // unix ns of Close, 0 before
	failing atomic.Bool

	written, dropped, retries atomic.Uint64
	mu                        sync.Mutex
	lastErr                   error
	closed                    bool

	tabMu     sync.Mutex
	ready     map[string]bool      // tables created (or found) by this writer
	unindexed map[string]time.Time // of those, the ones whose indexes are to be built, since when
}

// Open connects to the database named by url (see Parse), creating the database (MySQL)
// and the batch-marker table, and starts the inserting workers.
func Open(url string, opts Options) (*Sink, error) {
	t, err := Parse(url)
	if err != nil {
		return nil, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
	}
	if opts.Queue <= 0 {
		opts.Queue = 64
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.GiveUp <= 0 {
		opts.GiveUp = 60 * time.Second
	}
	if opts.IndexAfter == 0 {
		opts.IndexAfter = time.Minute
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s := &Sink{t: t, opts: opts, size: t.binSize(), writer: hex.EncodeToString(id[:]), q: make(chan *batch, opts.Queue),
		ready: map[string]bool{}, unindexed: map[string]time.Time{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch t.Kind {
	case MySQL:
		s.be, err = openMySQL(ctx, t, s.writer, opts.Workers)
	case Postgres:
		s.be, err = openPostgres(ctx, t, s.writer, opts.Workers)
	}
	if err != nil {
		return nil, err
	}
	for i := 0; i < opts.Workers; i++ {
		s.wg.Add(1)
		go s.work(i)
	}
	return s, nil
}

// Write queues r (flow records only: management records describe a sensor, not a
// table's span, as split leaves them out too).
func (s *Sink) Write(r *record.Record) error {
	if r.Kind != record.KindFlow {
		return nil
	}
	if s.size == 0 {
		s.add(r, 0)
		return nil
	}
	record.SplitAtBins(r, s.size, func(p *record.Record) { s.add(p, record.BinStart(p.StartTime, s.size)) })
	return nil
}

func (s *Sink) add(r *record.Record, bin int64) {
	if s.cur == nil {
		s.cur = &batch{recs: make([]record.Record, 0, s.opts.BatchSize), tables: make([]string, 0, s.opts.BatchSize)}
	}
	s.name = s.t.tableName(s.name[:0], bin)
	tab := string(s.name)
	if n := len(s.cur.tables); n > 0 && s.cur.tables[n-1] == tab {
		tab = s.cur.tables[n-1] // share the string
	}
	s.cur.recs = append(s.cur.recs, *r)
	s.cur.tables = append(s.cur.tables, tab)
	if len(s.cur.recs) >= s.opts.BatchSize {
		s.send()
	}
}

func (s *Sink) send() {
	b := s.cur
	s.cur = nil
	if b == nil || len(b.recs) == 0 {
		return
	}
	s.nextSeq++
	b.seq = s.nextSeq
	for {
		select {
		case s.q <- b:
			return
		default:
		}
		// The queue is full: wait while the database takes batches, drop while it
		// refuses them (the workers hold the queue for when it is back).
		if s.failing.Load() {
			s.dropped.Add(uint64(len(b.recs)))
			return
		}
		select {
		case s.q <- b:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Flush hands the records batched so far to the workers (it does not wait for them).
func (s *Sink) Flush() error {
	s.send()
	return nil
}

func (s *Sink) work(i int) {
	defer s.wg.Done()
	for b := range s.q {
		s.run(i, b)
	}
}

func (s *Sink) run(worker int, b *batch) {
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := s.prepare(ctx, worker, b)
		if err == nil {
			err = s.be.insert(ctx, worker, b, attempt > 0)
		}
		cancel()
		if err == nil {
			s.written.Add(uint64(len(b.recs)))
			s.failing.Store(false)
			s.indexDue(worker)
			return
		}
		s.failing.Store(true)
		s.retries.Add(1)
		s.mu.Lock()
		if s.lastErr == nil || s.lastErr.Error() != err.Error() {
			if s.opts.Logf != nil {
				s.opts.Logf("%s: %v (retrying with backoff; records are queued)", s.t, err)
			}
		}
		s.lastErr = err
		s.mu.Unlock()
		if c := s.closing.Load(); c != 0 && time.Since(time.Unix(0, c)) > s.opts.GiveUp {
			s.dropped.Add(uint64(len(b.recs)))
			return
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Dropped is the records dropped so far (record.Dropper): the sensor's management
// records and metrics count them.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// prepare creates the tables of b that this writer has not seen yet (outside the
// batch's transaction: CREATE TABLE commits implicitly in MySQL), leaving their
// indexes to be built later. Creators are serialized: a table is created once.
func (s *Sink) prepare(ctx context.Context, worker int, b *batch) error {
	for i, tab := range b.tables {
		if i > 0 && tab == b.tables[i-1] {
			continue
		}
		s.tabMu.Lock()
		if s.ready[tab] {
			s.tabMu.Unlock()
			continue
		}
		err := s.be.create(ctx, worker, tab)
		if err == nil {
			s.ready[tab] = true
			s.unindexed[tab] = time.Now()
		}
		s.tabMu.Unlock()
		if err != nil {
			return fmt.Errorf("creating table %s: %w", tab, err)
		}
	}
	return nil
}

// indexDue builds the indexes of the tables left unindexed longer than IndexAfter.
func (s *Sink) indexDue(worker int) {
	var due []string
	s.tabMu.Lock()
	for tab, since := range s.unindexed {
		if time.Since(since) >= s.opts.IndexAfter {
			due = append(due, tab)
			delete(s.unindexed, tab)
		}
	}
	s.tabMu.Unlock()
	for _, tab := range due {
		if err := s.index(worker, tab); err != nil {
			s.logf("%s: %v (retried later)", s.t, err)
			s.tabMu.Lock()
			s.unindexed[tab] = time.Now()
			s.tabMu.Unlock()
		}
	}
}

func (s *Sink) index(worker int, tab string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	stmts, err := s.be.indexes(ctx, worker, tab)
	if err != nil {
		return fmt.Errorf("indexing table %s: %w", tab, err)
	}
	for _, q := range stmts {
		if err := s.be.exec(ctx, worker, q); err != nil {
			return fmt.Errorf("indexing table %s: %w", tab, err)
		}
	}
	return nil
}

// indexAll builds the indexes still to be built, the workers' connections sharing the
// statements (PostgreSQL builds several indexes of a table at once; a MySQL table's
// come in one ALTER TABLE). A statement that fails is retried with backoff until the
// give-up time.
func (s *Sink) indexAll() error {
	s.tabMu.Lock()
	tabs := make([]string, 0, len(s.unindexed))
	for tab := range s.unindexed {
		tabs = append(tabs, tab)
	}
	clear(s.unindexed)
	s.tabMu.Unlock()
	if len(tabs) == 0 {
		return nil
	}
	deadline := time.Unix(0, s.closing.Load()).Add(s.opts.GiveUp)
	retry := func(f func() error) error {
		backoff := 100 * time.Millisecond
		for {
			err := f()
			if err == nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(backoff)
			backoff = min(backoff*2, 5*time.Second)
		}
	}
	type job struct{ tab, stmt string }
	var jobs []job
	for _, tab := range tabs {
		err := retry(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stmts, err := s.be.indexes(ctx, 0, tab)
			for _, q := range stmts {
				jobs = append(jobs, job{tab, q})
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: indexing table %s: %w (its records are in; the next writer to it builds them)", s.t, tab, err)
		}
	}
	ch := make(chan job)
	var wg sync.WaitGroup
	var emu sync.Mutex
	var first error
	for w := 0; w < min(s.opts.Workers, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				err := retry(func() error {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
					defer cancel()
					return s.be.exec(ctx, w, j.stmt)
				})
				if err != nil {
					emu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: indexing table %s: %w (its records are in; the next writer to it builds them)", s.t, j.tab, err)
					}
					emu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return first
}

func (s *Sink) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Stats are a Sink's counts so far.
type Stats struct {
	Written, Dropped, Retries uint64
}

// Stats returns the records written and dropped so far, and the failed attempts.
func (s *Sink) Stats() Stats {
	return Stats{Written: s.written.Load(), Dropped: s.dropped.Load(), Retries: s.retries.Load()}
}

// Close inserts what is queued (retrying for up to Options.GiveUp if the database is
// away), closes the connections and reports records dropped as an error.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.send()
	s.closing.Store(time.Now().UnixNano())
	close(s.q)
	s.wg.Wait()
	ierr := s.indexAll()
	s.be.close()
	st := s.Stats()
	if s.opts.Logf != nil && st.Retries > 0 {
		s.opts.Logf("%s: %d records written, %d dropped, %d batch attempts retried", s.t, st.Written, st.Dropped, st.Retries)
	}
	if st.Dropped > 0 {
		s.mu.Lock()
		err := s.lastErr
		s.mu.Unlock()
		if err == nil {
			err = errors.New("the queue was full while the database failed")
		}
		return fmt.Errorf("%s: %d records dropped, %d written: %w", s.t, st.Dropped, st.Written, err)
	}
	return ierr
}
