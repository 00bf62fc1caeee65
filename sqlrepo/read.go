package sqlrepo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"panoptes/argus"
	"panoptes/filter"
	"panoptes/record"
)

// Window is the time range a reader pushes into the SQL WHERE clause, in ns since the
// epoch: the records wanted overlap [Start, End) (Intersects), lie within it
// (Contained) or cover it (Includes). The zero Window selects everything. The bounds
// are widened to whole microseconds (the tables' precision), so the caller still
// filters the records it gets: the WHERE only spares reading what cannot match.
type Window struct {
	Start, End int64
	Mode       WindowMode
	Set        bool
}

// WindowMode mirrors the -t modes.
type WindowMode uint8

const (
	Intersects WindowMode = iota
	Includes
	Contained
)

// Tables lists the tables of t a read over w visits: t's one table, or, for a template
// with %Y %m %d %H, the names of the bins w overlaps (local time, as the writer names
// them). A template without a window is an error: the tables could only be guessed.
func (t *Target) Tables(w Window) ([]string, error) {
	bin := t.binSize()
	if bin == 0 {
		return []string{t.Table}, nil
	}
	if !w.Set {
		return nil, fmt.Errorf("%s: the table name holds %%Y %%m %%d %%H: give -t to say which tables to read", t)
	}
	var names []string
	lt := time.Unix(0, w.Start)
	at := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, time.Local)
	if bin == time.Hour {
		at = lt.Truncate(time.Hour)
	}
	for at.UnixNano() < w.End {
		n := string(t.tableName(nil, at.UnixNano()))
		if len(names) == 0 || names[len(names)-1] != n {
			names = append(names, n)
		}
		if bin == time.Hour {
			at = at.Add(time.Hour)
		} else {
			at = at.AddDate(0, 0, 1)
		}
		if len(names) > 100000 {
			return nil, fmt.Errorf("%s: -t spans more than 100000 tables", t)
		}
	}
	return names, nil
}

const slack = 1000 // ns

// usec formats ns as seconds with six decimals, rounded down (up with ceil).
func usec(ns int64, ceil bool) string {
	us := ns / 1000
	if ns%1000 != 0 && (ns > 0) == ceil {
		if ceil {
			us++
		} else {
			us--
		}
	}
	neg := us < 0
	if neg {
		us = -us
	}
	s := strconv.FormatInt(us/1e6, 10) + "." + fmt.Sprintf("%06d", us%1e6)
	if neg {
		s = "-" + s
	}
	return s
}

// Query is what a read asks of the tables: the time window, the filter whose flow-key
// terms are pushed into the WHERE (filter.KeyCond; nil: none), and Where, a clause in
// the tables' own SQL ANDed to the WHERE (rasql's -M sql='clause'). What the WHERE lets
// through is a superset of the filter's matches: the caller still applies the filter
// (and the -t test) to the records it gets.
type Query struct {
	Window
	Filter *filter.Filter
	Where  string
}

// Scan reads the records of t's tables that w may select (ScanQuery without a filter).
func Scan(ctx context.Context, t *Target, w Window, fn func(*record.Record) bool) (bool, error) {
	return ScanQuery(ctx, t, Query{Window: w}, fn)
}

// ScanQuery reads the records of t's tables that q may select, each table in
// start-time order, and calls fn with each; fn returns false to stop (ScanQuery then
// returns false). A table of a template that does not exist is skipped (no records were
// written in its bin); a named table that does not exist is an error.
func ScanQuery(ctx context.Context, t *Target, q Query, fn func(*record.Record) bool) (bool, error) {
	tables, err := t.Tables(q.Window)
	if err != nil {
		return false, err
	}
	templ := t.binSize() != 0
	switch t.Kind {
	case MySQL:
		return scanMySQL(ctx, t, tables, templ, q, fn)
	case Postgres:
		return scanPostgres(ctx, t, tables, templ, q, fn)
	}
	return false, fmt.Errorf("%s: unknown database", t)
}

// whereClause joins the conditions that are not empty into a WHERE clause; the user's
// clause is parenthesized, so that an OR in it does not escape the time window.
func whereClause(conds ...string) string {
	var parts []string
	for _, c := range conds {
		if c != "" {
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(parts, " AND ")
}

func userClause(q Query) string {
	if strings.TrimSpace(q.Where) == "" {
		return ""
	}
	return "(" + q.Where + ")"
}

// MySQLWhere and PostgresWhere return the WHERE clause (with its leading " WHERE ", or
// "") a read of q sends, for EXPLAIN and for the curious; PostgreSQL's time bounds are
// the parameters $1 and $2.
func MySQLWhere(q Query) string {
	return whereClause(mysqlTimeCond(q.Window), keyWhere(q.Filter.KeyCond(), dialectMySQL), userClause(q))
}

func PostgresWhere(q Query) string {
	tc, _ := pgTimeCond(q.Window)
	return whereClause(tc, keyWhere(q.Filter.KeyCond(), dialectPostgres), userClause(q))
}

// mysqlTimeCond is the condition on stime for w. stime is a double: at today's times its
// last digit is not exact, so the bounds are widened by a microsecond more. Only stime
// is a column: the end of a flow is in the record, so only the bounds on the start are
// pushed down.
func mysqlTimeCond(w Window) string {
	if !w.Set {
		return ""
	}
	switch w.Mode {
	case Contained:
		return "stime >= " + usec(w.Start-slack, false) + " AND stime < " + usec(w.End+slack, true)
	case Includes:
		return "stime <= " + usec(w.Start+slack, true)
	}
	return "stime < " + usec(w.End+slack, true)
}

func scanMySQL(ctx context.Context, t *Target, tables []string, templ bool, q Query, fn func(*record.Record) bool) (bool, error) {
	c := mysqlConfig(t)
	c.DBName = t.DB
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return false, fmt.Errorf("%s: %w", t, err)
	}
	defer db.Close()
	where := MySQLWhere(q)
	var rec record.Record
	for _, tab := range tables {
		rows, err := db.QueryContext(ctx, "SELECT record FROM `"+tab+"`"+where+" ORDER BY stime")
		if err != nil {
			var me *mysql.MySQLError
			if templ && errors.As(err, &me) && me.Number == 1146 { // no such table
				continue
			}
			return false, fmt.Errorf("%s: table %s: %w", t, tab, err)
		}
		var b []byte
		n := 0
		for rows.Next() {
			n++
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return false, fmt.Errorf("%s: table %s: %w", t, tab, err)
			}
			if b == nil {
				rows.Close()
				return false, fmt.Errorf("%s: table %s: row %d: record is NULL (a table without Argus records cannot be read back)", t, tab, n)
			}
			if err := argus.DecodeRecord(b, fmt.Sprintf("%s: table %s: row %d", t, tab, n), &rec); err != nil {
				rows.Close()
				return false, err
			}
			if !fn(&rec) {
				rows.Close()
				return false, nil
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return false, fmt.Errorf("%s: table %s: %w", t, tab, err)
		}
	}
	return true, nil
}

// pgTimeCond is the condition on stime and ltime for w, with its parameters.
// timestamptz holds microseconds: bounds rounded outwards.
func pgTimeCond(w Window) (string, []any) {
	if !w.Set {
		return "", nil
	}
	lo := time.Unix(0, w.Start).Truncate(time.Microsecond).Add(-time.Microsecond)
	hi := time.Unix(0, w.End).Add(time.Microsecond)
	switch w.Mode {
	case Contained:
		return "stime >= $1 AND ltime < $2", []any{lo, hi}
	case Includes:
		return "stime <= $1 AND ltime >= $2", []any{time.Unix(0, w.Start).Add(time.Microsecond), time.Unix(0, w.End-1).Truncate(time.Microsecond).Add(-time.Microsecond)}
	}
	return "stime < $2 AND ltime >= $1", []any{lo, hi}
}

func scanPostgres(ctx context.Context, t *Target, tables []string, templ bool, q Query, fn func(*record.Record) bool) (bool, error) {
	cfg, err := pgConfig(t)
	if err != nil {
		return false, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("%s: %w", t, err)
	}
	defer conn.Close(context.Background())
	_, args := pgTimeCond(q.Window)
	where := PostgresWhere(q)
	var rec record.Record
	for _, tab := range tables {
		rows, err := conn.Query(ctx, `SELECT `+strings.Join(pgColumns, ", ")+` FROM "`+tab+`"`+where+" ORDER BY stime", args...)
		if err == nil {
			// pgx reports a missing table at the first Next.
			if !rows.Next() {
				rows.Close()
				err = rows.Err()
				if err == nil {
					continue
				}
			} else {
				more, err := pgRowsTo(rows, &rec, fn)
				rows.Close()
				if err == nil {
					err = rows.Err()
				}
				if err != nil {
					return false, fmt.Errorf("%s: table %s: %w", t, tab, err)
				}
				if !more {
					return false, nil
				}
				continue
			}
		}
		var pe *pgconn.PgError
		if templ && errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
			continue
		}
		return false, fmt.Errorf("%s: table %s: %w", t, tab, err)
	}
	return true, nil
}

// pgRowsTo turns the typed columns of rows (positioned on a first row) into records.
// The columns hold the flow's key, times and counters; its TCP state, flags and
// direction text are not read back (see README "Reading").
func pgRowsTo(rows pgx.Rows, rec *record.Record, fn func(*record.Record) bool) (bool, error) {
	var (
		stime, ltime                              time.Time
		srcid                                     int64
		flgs, dir, state                          *string
		proto                                     int16
		saddr, daddr                              *netip.Prefix
		sport, dport                              int32
		pkts, bytes, spkts, dpkts, sbytes, dbytes int64
	)
	for {
		if err := rows.Scan(&stime, &ltime, &srcid, &flgs, &proto, &saddr, &sport, &dir, &daddr, &dport,
			&pkts, &bytes, &spkts, &dpkts, &sbytes, &dbytes, &state); err != nil {
			return false, err
		}
		*rec = record.Record{Kind: record.KindFlow, Clock: record.ClockFile, Trans: 1,
			SrcID: uint32(srcid), StartTime: stime.UnixNano(), LastTime: ltime.UnixNano(),
			Proto: uint8(proto), SrcPort: uint16(sport), DstPort: uint16(dport)}
		if saddr != nil && daddr != nil {
			s, d := saddr.Addr(), daddr.Addr()
			if s.Is4() && d.Is4() {
				rec.Family = 4
				a4, b4 := s.As4(), d.As4()
				copy(rec.SrcAddr[:], a4[:])
				copy(rec.DstAddr[:], b4[:])
			} else {
				rec.Family = 6
				rec.SrcAddr, rec.DstAddr = s.As16(), d.As16()
			}
		}
		rec.Src.Pkts, rec.Dst.Pkts = uint64(spkts), uint64(dpkts)
		rec.Src.Bytes, rec.Dst.Bytes = uint64(sbytes), uint64(dbytes)
		if !fn(rec) {
			return false, nil
		}
		if !rows.Next() {
			return true, nil
		}
	}
}
