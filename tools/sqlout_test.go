package tools

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"panoptes/internal/dbtest"
)

// TestReadWritesDatabases: `read -w mysql://...` and `-w postgres://...` put every flow
// record of a file into the databases' tables, with the addresses `read` prints.
func TestReadWritesDatabases(t *testing.T) {
	in := "testdata/whatsapp.pnp"
	var out bytes.Buffer
	if err := ReadMain([]string{"-r", in, "-n", "-c", ",", "-s", "saddr", "-L", "-1", "--", "not man"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(out.String())
	if len(want) == 0 {
		t.Fatal("no records in", in)
	}
	my := dbtest.StartMariaDB(t)
	if err := ReadMain([]string{"-r", in, "-w", "mysql://root@localhost/argus/argus_%Y_%m_%d?socket=" + my.Sock}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr, c.DBName = "root", "unix", my.Sock, "argus"
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query("SHOW TABLES LIKE 'argus\\_%'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	got := map[string]int{}
	for _, tab := range tables {
		rs, err := db.Query("SELECT saddr FROM " + tab)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var a string
			rs.Scan(&a)
			got[a]++
		}
		rs.Close()
	}
	for _, a := range want {
		got[a]--
	}
	for a, n := range got {
		if n != 0 {
			t.Errorf("mysql: address %s: %+d rows against read's output", a, n)
		}
	}

	pg := dbtest.StartPostgres(t)
	if err := ReadMain([]string{"-r", in, "-w", "postgres://postgres@/postgres/flows_%Y%m%d?host=" + pg.Sock}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), "postgres://postgres@/postgres?host="+pg.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'flows\\_%'").Scan(&n); err != nil || n == 0 {
		t.Fatalf("postgres: %d tables, %v", n, err)
	}
	var total int
	trs, _ := conn.Query(context.Background(), "SELECT tablename FROM pg_tables WHERE tablename LIKE 'flows\\_%'")
	var names []string
	for trs.Next() {
		var s string
		trs.Scan(&s)
		names = append(names, s)
	}
	trs.Close()
	for _, tab := range names {
		var k int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+tab).Scan(&k); err != nil {
			t.Fatal(err)
		}
		total += k
	}
	if total != len(want) {
		t.Fatalf("postgres: %d rows, read prints %d records", total, len(want))
	}
}
