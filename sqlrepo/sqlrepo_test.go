package sqlrepo

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"panoptes/argus"
	"panoptes/internal/dbtest"
	"panoptes/record"
)

// testRecords makes n TCP records with distinct start times, 1 ms apart, from a local
// midnight, so that each lands in one table once.
func testRecords(n int, day time.Time) []record.Record {
	t0 := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.Local).UnixNano()
	rs := make([]record.Record, n)
	for i := range rs {
		r := &rs[i]
		r.Kind, r.Family, r.Proto = record.KindFlow, 4, 6
		r.StartTime = t0 + int64(i)*int64(time.Millisecond)
		r.LastTime = r.StartTime + int64(time.Microsecond)
		copy(r.SrcAddr[:], []byte{10, 0, byte(i >> 8), byte(i)})
		copy(r.DstAddr[:], []byte{192, 168, 1, 1})
		r.SrcPort, r.DstPort = uint16(1024+i%60000), 80
		r.Src.Pkts, r.Src.Bytes, r.Dst.Pkts, r.Dst.Bytes = 2, 120, 1, 60
		r.SrcID, r.Seq = 7, uint32(i)
	}
	return rs
}

func mysqlDB(t *testing.T, s *dbtest.Server, db string) *sql.DB {
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr, c.DBName = "root", "unix", s.Sock, db
	d, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// writeWithRestart writes rs through a Sink opened on url and restarts the server when
// a fifth of them have been inserted; nothing may be lost or doubled.
func writeWithRestart(t *testing.T, srv *dbtest.Server, url string, rs []record.Record) Stats {
	s, err := Open(url, Options{BatchSize: 1000, Queue: len(rs)/1000 + 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		for s.Stats().Written < uint64(len(rs)/5) {
			time.Sleep(time.Millisecond)
		}
		srv.Stop()
		time.Sleep(500 * time.Millisecond)
		srv.Start()
	}()
	for i := range rs {
		if err := s.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
		if i == len(rs)/2 {
			<-restarted // the second half goes in after the restart
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Written != uint64(len(rs)) || st.Dropped != 0 {
		t.Fatalf("stats %+v, want %d written, none dropped", st, len(rs))
	}
	if st.Retries == 0 {
		t.Fatalf("no batch was retried: the restart did not hit the inserts")
	}
	return st
}

func TestMySQLRestartLosesNothing(t *testing.T) {
	srv := dbtest.StartMariaDB(t)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.Local)
	rs := testRecords(60000, day)
	writeWithRestart(t, srv, "mysql://root@localhost/argus/argus_%Y_%m_%d?socket="+srv.Sock, rs)
	db := mysqlDB(t, srv, "argus")
	var n, distinct int64
	if err := db.QueryRow("SELECT count(*), count(DISTINCT stime) FROM argus_2026_03_04").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(rs)) || distinct != n {
		t.Fatalf("table holds %d rows, %d distinct; want %d once each", n, distinct, len(rs))
	}
	// One row as rasqlinsert would write it.
	var stime float64
	var flgs, proto, saddr, sport, dir, daddr, dport, state string
	var pkts, bytes int64
	var rec []byte
	err := db.QueryRow("SELECT stime, flgs, proto, saddr, sport, dir, daddr, dport, pkts, bytes, state, record FROM argus_2026_03_04 WHERE stime = ?",
		float64(rs[258].StartTime/1e3)/1e6).Scan(&stime, &flgs, &proto, &saddr, &sport, &dir, &daddr, &dport, &pkts, &bytes, &state, &rec)
	if err != nil {
		t.Fatal(err)
	}
	if proto != "tcp" || saddr != "10.0.1.2" || sport != "1282" || daddr != "192.168.1.1" || dport != "80" || pkts != 3 || bytes != 180 || len(rec) < 20 {
		t.Fatalf("row: %v %q %q %q %q %q %q %q %d %d %q %d bytes of record", stime, flgs, proto, saddr, sport, dir, daddr, dport, pkts, bytes, state, len(rec))
	}
	// The record column holds the FAR byte for byte (LOAD DATA's escaping undone).
	if want := argus.AppendFAR(nil, &rs[258]); string(rec) != string(want) {
		t.Fatalf("record column:\n%x\nwant\n%x", rec, want)
	}
	var idx int
	if err := db.QueryRow("SELECT count(DISTINCT index_name) FROM information_schema.statistics WHERE table_schema = 'argus' AND table_name = 'argus_2026_03_04'").Scan(&idx); err != nil || idx != 5 {
		t.Fatalf("table has %d indexes (%v), want 5 once the writer closed", idx, err)
	}
}

func TestPostgresRestartLosesNothing(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.Local)
	rs := testRecords(60000, day)
	writeWithRestart(t, srv, "postgres://postgres@/postgres/flows_%Y%m%d?host="+srv.Sock, rs)
	c, err := pgx.Connect(context.Background(), "postgres://postgres@/postgres?host="+srv.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n, distinct int64
	if err := c.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT stime) FROM flows_20260304").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(rs)) || distinct != n {
		t.Fatalf("table holds %d rows, %d distinct; want %d once each", n, distinct, len(rs))
	}
	var saddr string
	var sport, pkts int64
	var stime time.Time
	if err := c.QueryRow(context.Background(), "SELECT stime, host(saddr), sport, pkts FROM flows_20260304 WHERE saddr = '10.0.1.2'").Scan(&stime, &saddr, &sport, &pkts); err != nil {
		t.Fatal(err)
	}
	if !stime.Equal(time.Unix(0, rs[258].StartTime)) || saddr != "10.0.1.2" || sport != 1282 || pkts != 3 {
		t.Fatalf("row: %v %s %d %d", stime, saddr, sport, pkts)
	}
	var idx int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM pg_indexes WHERE tablename = 'flows_20260304'").Scan(&idx); err != nil || idx != 5 {
		t.Fatalf("table has %d indexes (%v), want 5 once the writer closed", idx, err)
	}
}

// TestTablesCutAtDays: a record spanning midnight is cut into the two days' tables as
// split cuts it, and the pieces' packets add up to the record's.
func TestTablesCutAtDays(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.Local)
	r := testRecords(1, day)[0]
	r.StartTime = day.Add(-time.Hour).UnixNano()
	r.LastTime = day.Add(time.Hour).UnixNano()
	r.Src.Pkts, r.Dst.Pkts = 100, 50
	s, err := Open("postgresql://postgres@/postgres/d_%Y_%m_%d?host="+srv.Sock, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(&r); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(context.Background(), "postgres://postgres@/postgres?host="+srv.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var total int64
	for _, tab := range []string{"d_2026_03_03", "d_2026_03_04"} {
		var p int64
		var last time.Time
		if err := c.QueryRow(context.Background(), "SELECT pkts, ltime FROM "+tab).Scan(&p, &last); err != nil {
			t.Fatalf("%s: %v", tab, err)
		}
		if tab == "d_2026_03_03" && !last.Equal(day) {
			t.Errorf("%s: piece ends at %v, want midnight", tab, last)
		}
		total += p
	}
	if total != 150 {
		t.Fatalf("pieces hold %d packets, want 150", total)
	}
}

// TestDropsCountedAndPasswordHidden: with the database gone for good and a queue of
// two batches, Close gives up, counts what it dropped and names the URL without its
// password; a failed Open does not print the password either.
func TestDropsCountedAndPasswordHidden(t *testing.T) {
	srv := dbtest.StartMariaDB(t)
	url := "mysql://root:sekret99@localhost/argus/t?socket=" + srv.Sock
	s, err := Open(url, Options{BatchSize: 10, Queue: 2, Workers: 1, GiveUp: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	rs := testRecords(100, time.Now())
	for i := range rs {
		s.Write(&rs[i])
	}
	err = s.Close()
	if err == nil || !strings.Contains(err.Error(), "100 records dropped") || strings.Contains(err.Error(), "sekret99") {
		t.Fatalf("Close: %v; want 100 records dropped, no password", err)
	}
	if _, err := Open(url, Options{}); err == nil || strings.Contains(err.Error(), "sekret99") || !strings.Contains(err.Error(), "root:xxx@") {
		t.Fatalf("Open with the server down: %v; want an error without the password", err)
	}
	if _, err := Parse("mysql://root:sekret99@host/onlydb"); err == nil || strings.Contains(err.Error(), "sekret99") {
		t.Fatalf("Parse: %v", err)
	}
}

// TestIndexedWhileOpen: a writer that stays open (a sensor) indexes its table once
// IndexAfter has passed, without waiting for Close; records written after that go into
// the indexed table.
func TestIndexedWhileOpen(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	s, err := Open("postgres://postgres@/postgres/live_%Y%m%d?host="+srv.Sock, Options{BatchSize: 100, IndexAfter: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := pgx.Connect(context.Background(), "postgres://postgres@/postgres?host="+srv.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rs := testRecords(1000, time.Date(2026, 3, 4, 0, 0, 0, 0, time.Local))
	idx := 0
	for i := range rs {
		s.Write(&rs[i])
		if i%100 == 99 {
			s.Flush()
			time.Sleep(20 * time.Millisecond)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); s.Stats().Written < uint64(len(rs)) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM pg_indexes WHERE tablename = 'live_20260304'").Scan(&idx); err != nil || idx != 5 {
		t.Fatalf("open writer's table has %d indexes (%v), want 5", idx, err)
	}
	var n int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM live_20260304").Scan(&n); err != nil || n != len(rs) {
		t.Fatalf("table holds %d rows (%v), want %d", n, err, len(rs))
	}
}
