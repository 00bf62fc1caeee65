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
	Logf      func(string, ...any)
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
type backend interface {
	insert(ctx context.Context, worker int, b *batch, retry bool) error
	close()
}

// Sink writes flow records into a database on a bounded queue (record.Sink). Write
// cuts records at table bounds and batches them; workers insert batches, retrying with
// backoff while the database refuses them. While the database is failing and the queue
// is full, new batches are dropped and counted; otherwise Write waits for room.
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
	var id [8]byte
	_, _ = rand.Read(id[:])
	s := &Sink{t: t, opts: opts, size: t.binSize(), writer: hex.EncodeToString(id[:]), q: make(chan *batch, opts.Queue)}
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
		err := s.be.insert(ctx, worker, b, attempt > 0)
		cancel()
		if err == nil {
			s.written.Add(uint64(len(b.recs)))
			s.failing.Store(false)
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
	return nil
}
