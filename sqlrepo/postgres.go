package sqlrepo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"panoptes/record"
)

// pgColumns are the typed columns of a PostgreSQL table: times as timestamptz,
// addresses as inet (NULL for non-IP flows), ports and counters as integers.
var pgColumns = []string{"stime", "ltime", "srcid", "flgs", "proto", "saddr", "sport", "dir", "daddr", "dport",
	"pkts", "bytes", "spkts", "dpkts", "sbytes", "dbytes", "state"}

const pgTable = `CREATE TABLE IF NOT EXISTS "%[1]s" (stime timestamptz NOT NULL, ltime timestamptz NOT NULL,
 srcid bigint NOT NULL, flgs text, proto smallint NOT NULL, saddr inet, sport integer NOT NULL, dir text,
 daddr inet, dport integer NOT NULL, pkts bigint NOT NULL, bytes bigint NOT NULL, spkts bigint NOT NULL,
 dpkts bigint NOT NULL, sbytes bigint NOT NULL, dbytes bigint NOT NULL, state text)`

// pgIndex builds one of a table's indexes (start time, addresses, ports; named
// TABLE_COLUMN) once it is filled (see Sink); each is its own statement, so that the
// workers' connections build them side by side.
const pgIndex = `CREATE INDEX IF NOT EXISTS "%[1]s_%[2]s" ON "%[1]s" (%[2]s)`

var pgIndexed = []string{"stime", "saddr", "daddr", "sport", "dport"}

const pgMarkers = `CREATE TABLE IF NOT EXISTS panoptes_batches (writer text NOT NULL, seq bigint NOT NULL,
 at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (writer, seq))`

type pgBackend struct {
	t      *Target
	cfg    *pgx.ConnConfig
	writer string
	conns  []*pgx.Conn // per worker; nil after an error, reconnected on the next attempt
}

func pgConfig(t *Target) (*pgx.ConnConfig, error) {
	// pgx takes a libpq URL: ours without the table, parameters kept (host=/dir...).
	u := url.URL{Scheme: "postgres", Path: "/" + t.DB, RawQuery: t.Params.Encode()}
	if t.Host != "" {
		u.Host = t.Host
		if t.Port != "" {
			u.Host += ":" + t.Port
		}
	}
	if t.User != "" {
		u.User = url.User(t.User)
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// pgx's parse errors quote the string; ours holds no password, but say it
		// plainly.
		return nil, fmt.Errorf("%s: %v", t, errors.Unwrap(err))
	}
	if t.Password != "" {
		cfg.Password = t.Password
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	return cfg, nil
}

func openPostgres(ctx context.Context, t *Target, writer string, workers int) (*pgBackend, error) {
	cfg, err := pgConfig(t)
	if err != nil {
		return nil, err
	}
	p := &pgBackend{t: t, cfg: cfg, writer: writer, conns: make([]*pgx.Conn, workers)}
	c, err := p.conn(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	if _, err := c.Exec(ctx, pgMarkers); err != nil {
		p.close()
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return p, nil
}

func (p *pgBackend) conn(ctx context.Context, w int) (*pgx.Conn, error) {
	if p.conns[w] != nil {
		return p.conns[w], nil
	}
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		return nil, err
	}
	p.conns[w] = c
	return c, nil
}

func (p *pgBackend) close() {
	for i, c := range p.conns {
		if c != nil {
			c.Close(context.Background())
			p.conns[i] = nil
		}
	}
}

// dropOnError closes worker w's connection after an error (the next attempt
// reconnects): after a failed COPY or a server restart it is of no more use.
func (p *pgBackend) dropOnError(w int, err error) error {
	if err != nil && p.conns[w] != nil {
		p.conns[w].Close(context.Background())
		p.conns[w] = nil
	}
	return err
}

func (p *pgBackend) exec(ctx context.Context, w int, stmt string) error {
	c, err := p.conn(ctx, w)
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, stmt)
	return p.dropOnError(w, err)
}

func (p *pgBackend) create(ctx context.Context, w int, table string) error {
	return p.exec(ctx, w, fmt.Sprintf(pgTable, table))
}

// indexes gives every index's CREATE INDEX IF NOT EXISTS: those that exist cost a
// catalogue lookup.
func (p *pgBackend) indexes(_ context.Context, _ int, table string) ([]string, error) {
	var out []string
	for _, col := range pgIndexed {
		out = append(out, fmt.Sprintf(pgIndex, table, col))
	}
	return out, nil
}

func (p *pgBackend) insert(ctx context.Context, w int, b *batch, retry bool) error {
	return p.dropOnError(w, p.insert1(ctx, w, b, retry))
}

func (p *pgBackend) insert1(ctx context.Context, w int, b *batch, retry bool) error {
	c, err := p.conn(ctx, w)
	if err != nil {
		return err
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if retry {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM panoptes_batches WHERE writer = $1 AND seq = $2", p.writer, int64(b.seq)).Scan(&one)
		if err == nil {
			return nil // an earlier attempt committed; its answer was lost
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	}
	for i := 0; i < len(b.recs); {
		j := i + 1
		for j < len(b.recs) && b.tables[j] == b.tables[i] {
			j++
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{b.tables[i]}, pgColumns, &pgRows{recs: b.recs[i:j], k: -1}); err != nil {
			return fmt.Errorf("copying into %s: %w", b.tables[i], err)
		}
		i = j
	}
	if _, err := tx.Exec(ctx, "INSERT INTO panoptes_batches (writer, seq) VALUES ($1, $2)", p.writer, int64(b.seq)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// pgRows feeds records to COPY (pgx.CopyFromSource), reusing one row of values.
type pgRows struct {
	recs []record.Record
	k    int
	row  [17]any
	txt  []byte
}

func (s *pgRows) Next() bool { s.k++; return s.k < len(s.recs) }
func (s *pgRows) Err() error { return nil }

func (s *pgRows) Values() ([]any, error) {
	r := &s.recs[s.k]
	f := &record.DefaultFormat
	text := func(fl *record.Field) string {
		s.txt = fl.Text(s.txt[:0], r, f)
		n := len(s.txt)
		for n > 0 && s.txt[n-1] == ' ' {
			n--
		}
		return string(s.txt[:n])
	}
	addr := func(src bool) any {
		a := r.Addr(src)
		if !a.IsValid() {
			return nil
		}
		return netip.PrefixFrom(a, a.BitLen())
	}
	s.row = [17]any{time.Unix(0, r.StartTime), time.Unix(0, r.LastTime), int64(r.SrcID), text(fFlgs), int16(r.Proto),
		addr(true), int32(r.SrcPort), r.Dir(), addr(false), int32(r.DstPort),
		int64(r.Pkts()), int64(r.Bytes()), int64(r.Src.Pkts), int64(r.Dst.Pkts), int64(r.Src.Bytes), int64(r.Dst.Bytes), r.State()}
	return s.row[:], nil
}
