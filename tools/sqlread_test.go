package tools

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"panoptes/internal/dbtest"
)

// readLines runs read with args and returns its output lines, sorted (a database gives
// its records in start-time order, table by table, not in the file's order).
func readLines(t *testing.T, args ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := ReadMain(args, nil, &out, &errb); err != nil {
		t.Fatalf("read %q: %v\n%s", args, err, errb.String())
	}
	l := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	sort.Strings(l)
	return l
}

// checkReadBack compares `read -r URL` with `read -r FILE` (without its management
// records, which the tables do not hold) for no filter, a filter, -t, and both.
// only, when set, limits both sides to the records the tables can hold.
func checkReadBack(t *testing.T, in, plain, templ, only string, fields []string) {
	t.Helper()
	const rng = "2015/05/25.19:30:30-2015/05/25.19:31:30"
	base := append([]string{"-n", "-L", "-1", "-c", ","}, fields...)
	cases := []struct {
		time, filter string
	}{
		{"", ""},
		{"", "tcp and dst port 443"},
		{rng, ""},
		{rng, "udp or dst port 5223"},
		{"c" + rng, ""},
		{"n2015/05/25.19:30:41-2015/05/25.19:30:44", ""},
		{"x" + rng, ""},
	}
	for _, c := range cases {
		flt := "not man"
		if c.filter != "" {
			flt += " and (" + c.filter + ")"
		}
		dbflt := c.filter
		if only != "" {
			flt += " and " + only
			dbflt = only
			if c.filter != "" {
				dbflt = only + " and (" + c.filter + ")"
			}
		}
		args := base
		if c.time != "" {
			args = append(append([]string(nil), base...), "-t", c.time)
		}
		want := readLines(t, append(append([]string{"-r", in}, args...), "--", flt)...)
		if len(want) == 0 || want[0] == "" {
			t.Fatalf("-t %q %q: only %d records in %s: the test tests nothing", c.time, c.filter, len(want), in)
		}
		srcs := []string{plain}
		if c.time != "" && c.time[0] != 'x' {
			srcs = append(srcs, templ)
		}
		for _, src := range srcs {
			a := append([]string{"-r", src}, args...)
			if dbflt != "" {
				a = append(a, "--", dbflt)
			}
			got := readLines(t, a...)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("-r %s -t %q %q: %d lines, want %d; first difference: %s", src, c.time, c.filter, len(got), len(want), firstDiff(got, want))
			}
		}
	}
	// A template without -t names no tables: refused in one line.
	var out bytes.Buffer
	err := ReadMain([]string{"-r", templ}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "give -t") || strings.Contains(err.Error(), "\n") {
		t.Errorf("-r %s without -t: %v, want a one-line refusal", templ, err)
	}
}

// TestReadReadsDatabases: records written with -w mysql:// and -w postgres:// read back
// with -r give what reading the file gives, with and without a filter and -t (all -t
// modes, tables named by a template and by one name).
func TestReadReadsDatabases(t *testing.T) {
	in := "testdata/whatsapp.pnp"
	var out bytes.Buffer

	// MySQL's record column is the flow as an Argus FAR, which does not carry all a
	// Panoptes record does (a timed-out flow's TIM state reads back as CON): it is
	// compared with the same records read from an Argus file.
	far := filepath.Join(t.TempDir(), "whatsapp.argus")
	if err := ReadMain([]string{"-r", in, "-w", "argus:" + far}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	my := dbtest.StartMariaDB(t)
	myURL := "mysql://root@localhost/argus/%s?socket=" + my.Sock
	for _, tab := range []string{"flows", "argus_%Y_%m_%d"} {
		if err := ReadMain([]string{"-r", in, "-w", strings.Replace(myURL, "%s", tab, 1)}, nil, &out, &out); err != nil {
			t.Fatal(err)
		}
	}
	checkReadBack(t, far, strings.Replace(myURL, "%s", "flows", 1), strings.Replace(myURL, "%s", "argus_%Y_%m_%d", 1), "", nil)

	pg := dbtest.StartPostgres(t)
	pgURL := "postgres://postgres@/postgres/%s?host=" + pg.Sock
	for _, tab := range []string{"flows", "flows_%Y%m%d"} {
		if err := ReadMain([]string{"-r", in, "-w", strings.Replace(pgURL, "%s", tab, 1)}, nil, &out, &out); err != nil {
			t.Fatal(err)
		}
	}
	// PostgreSQL's typed columns: the IP flow key, times and counters (a non-IP flow has
	// NULL addresses and no EtherType column: it cannot be read back as it was).
	checkReadBack(t, in, strings.Replace(pgURL, "%s", "flows", 1), strings.Replace(pgURL, "%s", "flows_%Y%m%d", 1), "(ip or ipv6)",
		[]string{"-s", "stime,ltime,srcid,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes"})

	checkPushdown(t, strings.Replace(myURL, "%s", "flows", 1), pushdownExprs)
	checkPushdown(t, strings.Replace(pgURL, "%s", "flows", 1), pushdownExprs)
	checkToolsPushdown(t, far, strings.Replace(myURL, "%s", "flows", 1))
	checkSQLClause(t, far, in, strings.Replace(myURL, "%s", "argus_%Y_%m_%d", 1), strings.Replace(pgURL, "%s", "flows_%Y%m%d", 1))
	checkHybrid(t, far, in, strings.Replace(myURL, "%s", "recent_%Y_%m_%d", 1), strings.Replace(pgURL, "%s", "recent_%Y%m%d", 1))
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i+1, got[i], want[i])
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(got), len(want))
}
