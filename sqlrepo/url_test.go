package sqlrepo

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Setenv("MYSQL_PWD", "")
	for _, c := range []struct {
		in                                string
		kind                              Kind
		user, pass, host, port, db, table string
	}{
		{"mysql://root@localhost/argus/argus_%Y_%m_%d", MySQL, "root", "", "localhost", "", "argus", "argus_%Y_%m_%d"},
		{"mysql://u:p%40ss@db.example:3307/a/t", MySQL, "u", "p@ss", "db.example", "3307", "a", "t"},
		{"postgres://pg@/flows/f_%Y%m%d?host=/var/run/postgresql", Postgres, "pg", "", "", "", "flows", "f_%Y%m%d"},
		{"postgresql://pg@h/flows/t", Postgres, "pg", "", "h", "", "flows", "t"},
	} {
		tg, err := Parse(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if tg.Kind != c.kind || tg.User != c.user || tg.Password != c.pass || tg.Host != c.host || tg.Port != c.port || tg.DB != c.db || tg.Table != c.table {
			t.Errorf("%s: got %+v", c.in, *tg)
		}
	}
	for _, bad := range []string{"mysql://root@localhost/argus", "mysql://h/db/t;drop", "mysql://h/db/a/b", "oracle://h/d/t", "mysql://h/d/t%Q"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	t.Setenv("MYSQL_PWD", "fromenv")
	if tg, _ := Parse("mysql://root@localhost/a/t"); tg.Password != "fromenv" {
		t.Errorf("MYSQL_PWD not taken: %q", tg.Password)
	}
}

func TestTableName(t *testing.T) {
	tg, err := Parse("mysql://root@localhost/a/argus_%Y_%m_%d_%H")
	if err != nil {
		t.Fatal(err)
	}
	ns := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local).UnixNano()
	if got := string(tg.tableName(nil, ns)); got != "argus_2026_01_02_03" {
		t.Fatalf("got %s", got)
	}
	if tg.binSize() != time.Hour {
		t.Fatalf("bin %v", tg.binSize())
	}
}

// FuzzParse: Parse never panics; a password in the URL never appears in its error or
// its printed form; what it accepts has a database and a table of safe characters.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"mysql://root:pw@localhost/argus/argus_%Y_%m_%d", "postgres://u:secret@/db/t?host=/tmp", "mysql://a:b@c/d", "mysql://a:b@c:x/d/e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := Parse(s)
		pw := ""
		if u, uerr := url.Parse(strings.NewReplacer("%Y", "%25Y", "%m", "%25m", "%d", "%25d", "%H", "%25H").Replace(s)); uerr == nil && u.User != nil {
			pw, _ = u.User.Password()
		}
		if err != nil {
			if len(pw) >= 4 && strings.Contains(err.Error(), ":"+pw+"@") {
				t.Fatalf("error shows the password: %v", err)
			}
			return
		}
		if len(pw) >= 4 && strings.Contains(tg.String(), ":"+pw+"@") {
			t.Fatalf("String shows the password: %s", tg)
		}
		if checkIdent(tg.DB) != nil || tg.Table == "" {
			t.Fatalf("accepted %q: db %q table %q", s, tg.DB, tg.Table)
		}
		for _, c := range []byte(tg.Table) {
			if c == '`' || c == '"' || c == '\'' || c == ' ' || c == ';' {
				t.Fatalf("accepted table %q", tg.Table)
			}
		}
	})
}
