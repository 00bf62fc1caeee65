package sqlrepo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"panoptes/filter"
	"panoptes/internal/dbtest"
	"panoptes/record"
)

// mixedRecords makes n records over days days from day, from small pools of IPv4 and
// IPv6 addresses, ports and protocols (TCP, UDP, ICMP, GRE, SCTP, ARP), so that random
// filters over the same pools match some of them. Start times are distinct: they name
// the records.
func mixedRecords(n, days int, day time.Time, rng *rand.Rand) []record.Record {
	t0 := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.Local).UnixNano()
	span := int64(days) * int64(24*time.Hour)
	a4 := []string{"10.0.0.1", "10.0.0.2", "10.0.1.7", "10.1.16.9", "192.168.1.10", "8.8.8.8"}
	a6 := []string{"2001:db8::1", "2001:db8::2", "fe80::1"}
	ports := []uint16{22, 53, 80, 443, 5000, 40000}
	protos := []uint8{6, 6, 6, 17, 17, 1, 47, 132}
	rs := make([]record.Record, n)
	used := map[int64]bool{}
	for i := range rs {
		r := &rs[i]
		r.Kind, r.Family, r.SrcID = record.KindFlow, 4, 1
		for {
			r.StartTime = t0 + rng.Int64N(span)/1000*1000
			if !used[r.StartTime] {
				used[r.StartTime] = true
				break
			}
		}
		r.LastTime = r.StartTime + rng.Int64N(int64(time.Second))/1000*1000
		pool := a4
		switch k := rng.IntN(10); {
		case k < 2:
			r.Family, pool = 6, a6
		case k == 2:
			r.Family, r.EtherType = 0, 0x0806
		}
		for _, a := range []*[16]byte{&r.SrcAddr, &r.DstAddr} {
			ad := netip.MustParseAddr(pool[rng.IntN(len(pool))])
			if ad.Is4() {
				b := ad.As4()
				copy(a[:], b[:])
			} else {
				*a = ad.As16()
			}
		}
		if r.Family != 0 {
			r.Proto = protos[rng.IntN(len(protos))]
			if r.Family == 6 && r.Proto == 1 {
				r.Proto = 58
			}
			if r.HasPorts() {
				r.SrcPort, r.DstPort = ports[rng.IntN(len(ports))], ports[rng.IntN(len(ports))]
			}
		}
		r.Src.Pkts, r.Src.Bytes = uint64(1+rng.IntN(20)), uint64(60+rng.IntN(3000))
		if rng.IntN(3) > 0 {
			r.Dst.Pkts, r.Dst.Bytes = uint64(1+rng.IntN(20)), uint64(60+rng.IntN(3000))
		}
	}
	return rs
}

var pushTerms = []string{
	"host 10.0.0.1", "src host 10.0.0.2", "dst host 8.8.8.8", "host 2001:db8::1", "src host fe80::1",
	"net 10.0.0.0/16", "dst net 10.1.16.0/20", "src and dst net 10.0.0.0/8", "net 2001:db8::/32", "net 0.0.0.0/0",
	"port 53", "src port 22-80", "dst port 443", "src and dst port 5000", "port 1-10000", "src or dst port 40000",
	"tcp", "udp", "icmp", "ipv6-icmp", "ip proto 47", "sctp", "ipv4 and tcp", "ipv6 proto 17",
	"pkts gt 10", "dst pkts eq 0", "bytes lt 1000", "arp", "ip",
}

func randomFilter(rng *rand.Rand, d int) string {
	if d == 0 || rng.IntN(3) == 0 {
		return pushTerms[rng.IntN(len(pushTerms))]
	}
	switch rng.IntN(6) {
	case 0, 1, 2:
		return "(" + randomFilter(rng, d-1) + ") and (" + randomFilter(rng, d-1) + ")"
	case 3, 4:
		return "(" + randomFilter(rng, d-1) + ") or (" + randomFilter(rng, d-1) + ")"
	}
	return "not (" + randomFilter(rng, d-1) + ")"
}

func writeAll(t *testing.T, url string, rs []record.Record) {
	t.Helper()
	s, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if err := s.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// scanTimes reads q from url and returns the start times of the records flt matches,
// and how many records the query returned.
func scanTimes(t *testing.T, url string, q Query, flt *filter.Filter) ([]int64, int) {
	t.Helper()
	tg, err := Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	rows := 0
	if _, err := ScanQuery(context.Background(), tg, q, func(r *record.Record) bool {
		rows++
		if flt.Match(r) {
			got = append(got, r.StartTime)
		}
		return true
	}); err != nil {
		t.Fatalf("%q: %v", flt.Expr(), err)
	}
	return got, rows
}

// TestPushdown runs the pushdown tests on one MariaDB and one PostgreSQL server.
func TestPushdown(t *testing.T) {
	my := dbtest.StartMariaDB(t)
	pg := dbtest.StartPostgres(t)
	t.Run("KeepsMatches", func(t *testing.T) { testPushdownKeepsMatches(t, my, pg) })
	t.Run("UsesIndexes", func(t *testing.T) { testPushdownUsesIndexes(t, my, pg) })
}

// testPushdownKeepsMatches (property): over daily tables in MariaDB and PostgreSQL,
// random filters (address, port and protocol terms mixed with counters, under
// and/or/not) select the same records with their key terms pushed into the WHERE as
// without; and the pushdown does cut the rows read (the test would pass vacuously if
// nothing were pushed).
func testPushdownKeepsMatches(t *testing.T, my, pg *dbtest.Server) {
	day := time.Date(2026, 2, 1, 0, 0, 0, 0, time.Local)
	rng := rand.New(rand.NewPCG(21, 4))
	rs := mixedRecords(3000, 3, day, rng)
	w := Window{Start: day.UnixNano(), End: day.AddDate(0, 0, 3).UnixNano(), Set: true}

	urls := []string{"mysql://root@localhost/argus/flows_%Y%m%d?socket=" + my.Sock,
		"postgres://postgres@/postgres/flows_%Y%m%d?host=" + pg.Sock}
	for _, url := range urls {
		writeAll(t, url, rs)
		// The records as read back without pushdown: the reference.
		tg, _ := Parse(url)
		var all []record.Record
		if _, err := ScanQuery(context.Background(), tg, Query{Window: w}, func(r *record.Record) bool {
			all = append(all, *r)
			return true
		}); err != nil || len(all) != len(rs) {
			t.Fatalf("%s: read %d records back, wrote %d (%v)", url, len(all), len(rs), err)
		}
		cut, nonEmpty := 0, 0
		for i := range 100 {
			e := randomFilter(rng, 3)
			if i < len(pushTerms) {
				e = pushTerms[i]
			}
			flt := filter.MustCompile(e)
			var want []int64
			for j := range all {
				if flt.Match(&all[j]) {
					want = append(want, all[j].StartTime)
				}
			}
			got, rows := scanTimes(t, url, Query{Window: w, Filter: flt}, flt)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %q: %d records with pushdown, %d without (WHERE%s)", url, e, len(got), len(want), whereOf(url, Query{Window: w, Filter: flt}))
			}
			if rows < len(rs) {
				cut++
			}
			if len(want) > 0 {
				nonEmpty++
			}
		}
		if cut < 40 || nonEmpty < 40 {
			t.Errorf("%s: the WHERE cut the rows read for %d filters and %d filters matched records: too few for the test to tell", url, cut, nonEmpty)
		}
	}
}

func whereOf(url string, q Query) string {
	if strings.HasPrefix(url, "mysql") {
		return MySQLWhere(q)
	}
	return PostgresWhere(q)
}

// testPushdownUsesIndexes: `host X` over a month of daily tables is an index lookup in
// every table (EXPLAIN shows no full table scan), in MariaDB and in PostgreSQL.
func testPushdownUsesIndexes(t *testing.T, my, pg *dbtest.Server) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.Local)
	var rs []record.Record
	for d := range 31 {
		rs = append(rs, testRecords(400, day.AddDate(0, 0, d))...)
	}
	host := "10.0.1.44" // one record a day (testRecords' sources are 10.0.i>>8.i)
	w := Window{Start: day.UnixNano(), End: day.AddDate(0, 1, 0).UnixNano(), Set: true}
	q := Query{Window: w, Filter: filter.MustCompile("host " + host)}
	ctx := context.Background()

	myURL := "mysql://root@localhost/argus/argus_%Y_%m_%d?socket=" + my.Sock
	writeAll(t, myURL, rs)
	tg, _ := Parse(myURL)
	tables, err := tg.Tables(w)
	if err != nil || len(tables) != 31 {
		t.Fatalf("tables %v, %v", tables, err)
	}
	db := mysqlDB(t, my, "argus")
	for _, tab := range tables {
		rows, err := db.QueryContext(ctx, "EXPLAIN SELECT record FROM `"+tab+"`"+MySQLWhere(q)+" ORDER BY stime")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			plan := map[string]string{}
			for i, c := range cols {
				if b, ok := vals[i].([]byte); ok {
					plan[c] = string(b)
				} else {
					plan[c] = fmt.Sprint(vals[i])
				}
			}
			if tab == tables[0] {
				t.Logf("MariaDB %s: %v", tab, plan)
			}
			if typ := plan["type"]; typ == "ALL" || typ == "index" || !strings.Contains(plan["key"], "addr") {
				t.Errorf("MariaDB %s: plan %v: not an index lookup on the addresses", tab, plan)
			}
		}
		rows.Close()
	}
	if got, _ := scanTimes(t, myURL, q, q.Filter); len(got) != 31 {
		t.Errorf("MariaDB: host %s: %d records, want 31", host, len(got))
	}

	pgURL := "postgres://postgres@/postgres/argus_%Y_%m_%d?host=" + pg.Sock
	writeAll(t, pgURL, rs)
	c, err := pgx.Connect(ctx, "postgres://postgres@/postgres?host="+pg.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "ANALYZE"); err != nil { // as autovacuum does after a load
		t.Fatal(err)
	}
	_, args := pgTimeCond(w)
	for _, tab := range tables {
		rows, err := c.Query(ctx, `EXPLAIN SELECT stime FROM "`+tab+`"`+PostgresWhere(q)+" ORDER BY stime", args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, l)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if tab == tables[0] {
			t.Logf("PostgreSQL %s:\n%s", tab, p)
		}
		if strings.Contains(p, "Seq Scan") || !strings.Contains(p, "addr") {
			t.Errorf("PostgreSQL %s: not an index lookup on the addresses:\n%s", tab, p)
		}
	}
	if got, _ := scanTimes(t, pgURL, q, q.Filter); len(got) != 31 {
		t.Errorf("PostgreSQL: host %s: %d records, want 31", host, len(got))
	}
}
