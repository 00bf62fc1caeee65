package sqlrepo

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"panoptes/argus"
	"panoptes/record"
)

// mysqlColumns are the columns rasqlinsert makes for ra's default field list (its
// default -s), with the same types, then record: the flow as an Argus FAR, which
// Argus's rasql reads.
const mysqlColumns = "stime, flgs, proto, saddr, sport, dir, daddr, dport, pkts, bytes, state, record"

// mysqlTable is the table, as `SHOW CREATE TABLE` shows rasqlinsert's (MariaDB 10.11),
// plus indexes on start time, addresses and ports. InnoDB rather than rasqlinsert's
// MyISAM: a batch and its marker commit together, which is what makes a retried batch
// land exactly once.
const mysqlTable = "CREATE TABLE IF NOT EXISTS `%s` (" +
	"`stime` double(18,6) unsigned NOT NULL, `flgs` varchar(32) DEFAULT NULL, `proto` varchar(16) NOT NULL," +
	"`saddr` varchar(64) NOT NULL, `sport` varchar(10) NOT NULL, `dir` varchar(3) DEFAULT NULL," +
	"`daddr` varchar(64) NOT NULL, `dport` varchar(10) NOT NULL, `pkts` bigint(20) DEFAULT NULL," +
	"`bytes` bigint(20) DEFAULT NULL, `state` varchar(32) DEFAULT NULL, `record` blob DEFAULT NULL," +
	"KEY `stime` (`stime`), KEY `saddr` (`saddr`), KEY `daddr` (`daddr`), KEY `sport` (`sport`), KEY `dport` (`dport`)" +
	") ENGINE=InnoDB"

const mysqlMarkers = "CREATE TABLE IF NOT EXISTS `panoptes_batches` (`writer` char(16) NOT NULL, `seq` bigint unsigned NOT NULL, `at` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (`writer`, `seq`)) ENGINE=InnoDB"

type mysqlBackend struct {
	t      *Target
	db     *sql.DB
	writer string
	mu     sync.Mutex
	made   map[string]bool
	bufs   [][]byte // per worker
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
	return &mysqlBackend{t: t, db: db, writer: writer, made: map[string]bool{}, bufs: make([][]byte, workers)}, nil
}

func (m *mysqlBackend) close() { m.db.Close() }

func (m *mysqlBackend) ensure(ctx context.Context, table string) error {
	m.mu.Lock()
	done := m.made[table]
	m.mu.Unlock()
	if done {
		return nil
	}
	if _, err := m.db.ExecContext(ctx, fmt.Sprintf(mysqlTable, table)); err != nil {
		return fmt.Errorf("creating table %s: %w", table, err)
	}
	m.mu.Lock()
	m.made[table] = true
	m.mu.Unlock()
	return nil
}

func (m *mysqlBackend) insert(ctx context.Context, worker int, b *batch, retry bool) error {
	// Tables first: CREATE TABLE commits implicitly, so it stays out of the batch's
	// transaction.
	for i, tab := range b.tables {
		if i == 0 || tab != b.tables[i-1] {
			if err := m.ensure(ctx, tab); err != nil {
				return err
			}
		}
	}
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
	buf := m.bufs[worker]
	for i := 0; i < len(b.recs); {
		j := i + 1
		for j < len(b.recs) && b.tables[j] == b.tables[i] {
			j++
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
