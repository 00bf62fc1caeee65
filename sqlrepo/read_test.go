package sqlrepo

import (
	"strings"
	"testing"
	"time"
)

// TestTables: a template names the tables of the days (hours) the window overlaps, in
// local time, each once; no window, no tables.
func TestTables(t *testing.T) {
	at := func(s string) int64 {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	cases := []struct {
		table, from, to string
		want            string
	}{
		{"flows", "2026-12-04 10:00", "2026-12-04 11:00", "flows"},
		{"f_%Y%m%d", "2026-12-04 23:30", "2026-12-06 00:00", "f_20261204 f_20261205"},
		{"f_%Y%m%d", "2026-12-04 23:30", "2026-12-06 00:01", "f_20261204 f_20261205 f_20261206"},
		{"f_%Y_%m", "2026-11-30 12:00", "2026-12-02 00:00", "f_2026_11 f_2026_12"},
		{"f_%d_%H", "2026-12-04 22:59", "2026-12-05 00:00", "f_04_22 f_04_23"},
	}
	for _, c := range cases {
		tg, err := Parse("mysql://u@localhost/db/" + c.table)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tg.Tables(Window{Start: at(c.from), End: at(c.to), Set: true})
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("%s %s-%s: %v, %v; want %s", c.table, c.from, c.to, got, err, c.want)
		}
	}
	tg, _ := Parse("mysql://u@localhost/db/f_%Y%m%d")
	if _, err := tg.Tables(Window{}); err == nil || !strings.Contains(err.Error(), "give -t") {
		t.Errorf("template without a window: %v", err)
	}
}

func TestUsec(t *testing.T) {
	for _, c := range []struct {
		ns         int64
		floor, cei string
	}{
		{1432582222253233000, "1432582222.253233", "1432582222.253233"},
		{1432582222253233001, "1432582222.253233", "1432582222.253234"},
		{0, "0.000000", "0.000000"},
		{-1, "-0.000001", "0.000000"},
	} {
		if f, ce := usec(c.ns, false), usec(c.ns, true); f != c.floor || ce != c.cei {
			t.Errorf("usec(%d) = %s, %s; want %s, %s", c.ns, f, ce, c.floor, c.cei)
		}
	}
}
