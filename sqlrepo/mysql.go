package sqlrepo

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"panoptes/argus"
	"panoptes/record"
)

// mysqlColumns are the columns rasqlinsert makes for ra's default field list (its
// default -s), with the same types, then record: the flow as an Argus FAR, which
// Argus's rasql reads.
const mysqlColumns = "stime, flgs, proto, saddr, sport, dir, daddr, dport, pkts, bytes, state, record"

// mysqlTable is the table, as `SHOW CREATE TABLE` shows rasqlinsert's (MariaDB 10.11);
// mysqlIndexes (start time, addresses, ports) are added once it is filled (see Sink).
// InnoDB rather than rasqlinsert's MyISAM: a batch and its marker commit together,
// which is what makes a retried batch land exactly once.
const mysqlTable = "CREATE TABLE IF NOT EXISTS `%s` (" +
	"`stime` double(18,6) unsigned NOT NULL, `flgs` varchar(32) DEFAULT NULL, `proto` varchar(16) NOT NULL," +
	"`saddr` varchar(64) NOT NULL, `sport` varchar(10) NOT NULL, `dir` varchar(3) DEFAULT NULL," +
	"`daddr` varchar(64) NOT NULL, `dport` varchar(10) NOT NULL, `pkts` bigint(20) DEFAULT NULL," +
	"`bytes` bigint(20) DEFAULT NULL, `state` varchar(32) DEFAULT NULL, `record` blob DEFAULT NULL" +
	") ENGINE=InnoDB"

// mysqlIndexes are the indexes of a table, each on the column of its name.
var mysqlIndexes = []string{"stime", "saddr", "daddr", "sport", "dport"}

const mysqlMarkers = "CREATE TABLE IF NOT EXISTS `panoptes_batches` (`writer` char(16) NOT NULL, `seq` bigint unsigned NOT NULL, `at` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (`writer`, `seq`)) ENGINE=InnoDB"

type mysqlBackend struct {
	t      *Target
	db     *sql.DB
	writer string
	bufs   [][]byte // per worker: the batch's rows, as LOAD DATA or INSERT text
	// readers are the LOAD DATA LOCAL names of the workers' buffers
	// (mysql.RegisterReaderHandler: "Reader::name").
	readers []string
	// noLoad is set once the server refuses LOAD DATA LOCAL (local_infile off): batches
	// are then multi-row INSERTs.
	noLoad atomic.Bool
}

// mysqlSockets are where Debian's, and other, servers put their socket; the first that
// exists is taken for host localhost, as the mysql client does.
var mysqlSockets = []string{"/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/var/lib/mysql/mysql.sock", "/tmp/mysql.sock"}

func mysqlConfig(t *Target) *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd = t.User, t.Password
	if c.User == "" {
		c.User = os.Getenv("USER")
	}
	if t.Host == "" || t.Host == "localhost" {
		c.Net = "unix"
		c.Addr = t.Params.Get("socket")
		if c.Addr == "" {
			c.Addr = os.Getenv("MYSQL_UNIX_PORT")
		}
		if c.Addr == "" {
			c.Addr = mysqlSockets[0]
			for _, p := range mysqlSockets {
				if _, err := os.Stat(p); err == nil {
					c.Addr = p
					break
				}
			}
		}
	} else {
		c.Net = "tcp"
		port := t.Port
		if port == "" {
			port = "3306"
		}
		c.Addr = net.JoinHostPort(t.Host, port)
	}
	c.Timeout = 10 * time.Second
	c.MaxAllowedPacket = 0 // ask the server
	return c
}

func openMySQL(ctx context.Context, t *Target, writer string, workers int) (*mysqlBackend, error) {
	c := mysqlConfig(t)
	// The database may not exist yet: rasqlinsert creates it, and so do we.
	db0, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	_, err = db0.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+t.DB+"`")
	db0.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	c.DBName = t.DB
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	db.SetMaxOpenConns(workers)
	db.SetMaxIdleConns(workers)
	if _, err := db.ExecContext(ctx, mysqlMarkers); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	m := &mysqlBackend{t: t, db: db, writer: writer, bufs: make([][]byte, workers)}
	for w := range workers {
		name := fmt.Sprintf("panoptes_%s_%d", writer, w)
		mysql.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(m.bufs[w]) })
		m.readers = append(m.readers, name)
	}
	return m, nil
}

func (m *mysqlBackend) close() {
	m.db.Close()
	for _, name := range m.readers {
		mysql.DeregisterReaderHandler(name)
	}
}

func (m *mysqlBackend) create(ctx context.Context, _ int, table string) error {
	_, err := m.db.ExecContext(ctx, fmt.Sprintf(mysqlTable, table))
	return err
}

// indexes gives the ALTER TABLE that adds the indexes the table lacks, all in one
// statement (InnoDB builds them in one pass over the table).
func (m *mysqlBackend) indexes(ctx context.Context, _ int, table string) ([]string, error) {
	rows, err := m.db.QueryContext(ctx, "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		have[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	q := "ALTER TABLE `" + table + "`"
	n := 0
	for _, k := range mysqlIndexes {
		if !have[k] {
			if n > 0 {
				q += ","
			}
			q += " ADD KEY `" + k + "` (`" + k + "`)"
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	return []string{q}, nil
}

func (m *mysqlBackend) exec(ctx context.Context, _ int, stmt string) error {
	_, err := m.db.ExecContext(ctx, stmt)
	return err
}

// Server errors that say LOAD DATA LOCAL is not allowed (MariaDB and MySQL 5:
// ER_NOT_ALLOWED_COMMAND; MySQL 8: ER_CLIENT_LOCAL_FILES_DISABLED).
const (
	erNotAllowedCommand        = 1148
	erClientLocalFilesDisabled = 3948
)

func (m *mysqlBackend) insert(ctx context.Context, worker int, b *batch, retry bool) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	if retry {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM panoptes_batches WHERE writer = ? AND seq = ?", m.writer, b.seq).Scan(&one)
		if err == nil {
			return nil // an earlier attempt committed; its answer was lost
		}
		if err != sql.ErrNoRows {
			return err
		}
	}
	load := !m.noLoad.Load()
	buf := m.bufs[worker]
	for i := 0; i < len(b.recs); {
		j := i + 1
		for j < len(b.recs) && b.tables[j] == b.tables[i] {
			j++
		}
		if load {
			// LOAD DATA: tab-separated rows, the record column raw (escaped) rather than
			// in hex, and no SQL to parse: the server's cheapest way in.
			buf = buf[:0]
			for k := i; k < j; k++ {
				buf = appendLoadRow(buf, &b.recs[k])
			}
			m.bufs[worker] = buf
			_, err := tx.ExecContext(ctx, "LOAD DATA LOCAL INFILE 'Reader::"+m.readers[worker]+"' INTO TABLE `"+b.tables[i]+
				"` CHARACTER SET binary ("+mysqlColumns+")")
			if err != nil {
				var me *mysql.MySQLError
				if errors.As(err, &me) && (me.Number == erNotAllowedCommand || me.Number == erClientLocalFilesDisabled) {
					m.noLoad.Store(true) // the retry inserts
				}
				return fmt.Errorf("loading into %s: %w", b.tables[i], err)
			}
			i = j
			continue
		}
		buf = append(buf[:0], "INSERT INTO `"...)
		buf = append(buf, b.tables[i]...)
		buf = append(buf, "` ("+mysqlColumns+") VALUES "...)
		for k := i; k < j; k++ {
			if k > i {
				buf = append(buf, ',')
			}
			buf = appendMySQLRow(buf, &b.recs[k])
		}
		if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
			m.bufs[worker] = buf
			return fmt.Errorf("inserting into %s: %w", b.tables[i], err)
		}
		i = j
	}
	m.bufs[worker] = buf
	if _, err := tx.ExecContext(ctx, "INSERT INTO panoptes_batches (writer, seq) VALUES (?, ?)", m.writer, b.seq); err != nil {
		return err
	}
	return tx.Commit()
}

var (
	fFlgs, _  = record.Lookup("flgs")
	fProto, _ = record.Lookup("proto")
	fSaddr, _ = record.Lookup("saddr")
	fSport, _ = record.Lookup("sport")
	fDir, _   = record.Lookup("dir")
	fDaddr, _ = record.Lookup("daddr")
	fDport, _ = record.Lookup("dport")
	fState, _ = record.Lookup("state")
)

// appendMySQLRow appends one row's VALUES tuple, the text columns as ra prints them.
func appendMySQLRow(b []byte, r *record.Record) []byte {
	f := &record.DefaultFormat
	b = append(b, '(')
	st := max(r.StartTime, 0)
	b = strconv.AppendInt(b, st/1e9, 10)
	us := st % 1e9 / 1e3
	b = append(b, '.', byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10), byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10), ',')
	b = appendQuoted(b, fFlgs, r, f)
	b = append(b, ',')
	b = appendQuoted(b, fProto, r, f)
	b = append(b, ',')
	b = appendQuoted(b, fSaddr, r, f)
	b = append(b, ',')
	b = appendQuoted(b, fSport, r, f)
	b = append(b, ',')
	b = appendQuoted(b, fDir, r, f)
	b = append(b, ',')
	b = appendQuoted(b, fDaddr, r, f)
	b = append(b, ',')
	b = appendQuoted(b, fDport, r, f)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.Pkts(), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.Bytes(), 10)
	b = append(b, ',')
	b = appendQuoted(b, fState, r, f)
	b = append(b, ",X'"...)
	var far [argus.MaxFARLen]byte
	enc := argus.AppendFAR(far[:0], r)
	const hexd = "0123456789ABCDEF"
	for _, c := range enc {
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return append(b, "')"...)
}

// appendLoadRow appends one row for LOAD DATA's default format: fields separated by
// tabs, the row ended by a newline, backslash, tab, newline, carriage return and NUL
// escaped as \\ \t \n \r \0.
func appendLoadRow(b []byte, r *record.Record) []byte {
	f := &record.DefaultFormat
	st := max(r.StartTime, 0)
	b = strconv.AppendInt(b, st/1e9, 10)
	us := st % 1e9 / 1e3
	b = append(b, '.', byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10), byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10))
	for i, fl := range loadFields {
		b = append(b, '\t')
		switch {
		case fl != nil:
			start := len(b)
			b = fl.Text(b, r, f)
			for len(b) > start && b[len(b)-1] == ' ' {
				b = b[:len(b)-1]
			}
			b = escapeLoad(b, start)
		case i == 7:
			b = strconv.AppendUint(b, r.Pkts(), 10)
		case i == 8:
			b = strconv.AppendUint(b, r.Bytes(), 10)
		default: // record
			var far [argus.MaxFARLen]byte
			b = appendEscaped(b, argus.AppendFAR(far[:0], r))
		}
	}
	return append(b, '\n')
}

// loadFields are the text columns after stime, in mysqlColumns' order; nil for pkts,
// bytes and record.
var loadFields = []*record.Field{fFlgs, fProto, fSaddr, fSport, fDir, fDaddr, fDport, nil, nil, fState, nil}

// escapeLoad escapes, for LOAD DATA, the text appended to b from start on.
func escapeLoad(b []byte, start int) []byte {
	for i := start; i < len(b); i++ {
		switch b[i] {
		case '\\', '\t', '\n', '\r', 0:
			var tmp [64]byte
			return appendEscaped(b[:i], append(tmp[:0], b[i:]...))
		}
	}
	return b
}

// appendEscaped appends src to b escaped for LOAD DATA (src must not overlap b's
// free capacity).
func appendEscaped(b, src []byte) []byte {
	for _, c := range src {
		switch c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendQuoted appends field fl of r as a quoted SQL string (ra's text, trimmed of the
// padding ra prints; quotes and backslashes escaped).
func appendQuoted(b []byte, fl *record.Field, r *record.Record, f *record.Format) []byte {
	b = append(b, '\'')
	start := len(b)
	b = fl.Text(b, r, f)
	// Trim trailing blanks (ra pads flags); escape in place by rebuilding when needed.
	for len(b) > start && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	for i := start; i < len(b); i++ {
		if c := b[i]; c == '\'' || c == '\\' || c == 0 {
			v := append([]byte(nil), b[i:]...)
			b = b[:i]
			for _, c := range v {
				switch c {
				case '\'', '\\':
					b = append(b, '\\', c)
				case 0:
					b = append(b, '\\', '0')
				default:
					b = append(b, c)
				}
			}
			break
		}
	}
	return append(b, '\'')
}
