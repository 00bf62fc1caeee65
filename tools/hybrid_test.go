package tools

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"panoptes/index"
	"panoptes/record"
	"panoptes/sqlrepo"
)

// splitByStart writes the flow records of the record stream file in: those starting
// before the median start time into a new archive, the others into the database table
// url; it returns the archive's directory.
func splitByStart(t *testing.T, in, url string) string {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := record.NewReader(f, in)
	if err != nil {
		t.Fatal(err)
	}
	var rs []record.Record
	for {
		var r record.Record
		if err := rd.Read(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if r.Kind == record.KindFlow {
			rs = append(rs, r)
		}
	}
	starts := make([]int64, len(rs))
	for i := range rs {
		starts[i] = rs[i].StartTime
	}
	slices.Sort(starts)
	mid := starts[len(starts)/2]
	dir := filepath.Join(t.TempDir(), "archive") + "/"
	arch, err := index.OpenOutput(dir, nil, index.OutputOptions{}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlrepo.Open(url, sqlrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		to := record.Sink(arch)
		if rs[i].StartTime >= mid {
			to = db
		}
		if err := to.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := arch.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkHybrid: the hybrid repository, older records in a file archive and newer ones
// in daily database tables, read in one query (-R DIR -r URL -t RANGE) gives the
// records reading them all from one file gives, in start-time order. For MySQL the
// records are those of the Argus file far (what its record column holds); for
// PostgreSQL those of in, IP flows only and the fields its columns hold.
func checkHybrid(t *testing.T, far, in, my, pg string) {
	t.Helper()
	pnp := filepath.Join(t.TempDir(), "far.pnp")
	var out strings.Builder
	if err := ReadMain([]string{"-r", far, "-w", pnp}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	const rng = "2015/05/25.19:30:30-2015/05/25.19:31:30"
	cases := []struct{ src, url, ref, fields, only string }{
		{pnp, my, far, "stime,ltime,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes,state", "not man"},
		{in, pg, in, "stime,ltime,srcid,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes", "ip or ipv6"},
	}
	for _, c := range cases {
		dir := splitByStart(t, c.src, c.url)
		base := []string{"-n", "-u", "-L", "-1", "-c", ",", "-s", c.fields, "-t", rng}
		for _, flt := range []string{"", "udp or dst port 5223"} {
			ref, only := c.only, c.only
			if flt != "" {
				ref += " and (" + flt + ")"
				only += " and (" + flt + ")"
			}
			want := readLines(t, append(append([]string{"-r", c.ref}, base...), "--", ref)...)
			if len(want) < 10 {
				t.Fatalf("%s: %d records: the test tests little", ref, len(want))
			}
			var o, e strings.Builder
			if err := ReadMain(append(append([]string{"-R", dir, "-r", c.url}, base...), "--", only), nil, &o, &e); err != nil {
				t.Fatalf("-R %s -r %s: %v\n%s", dir, c.url, err, e.String())
			}
			lines := strings.Split(strings.TrimRight(o.String(), "\n"), "\n")
			last := 0.0
			for i, l := range lines {
				st, err := strconv.ParseFloat(strings.SplitN(l, ",", 2)[0], 64)
				if err != nil || st < last {
					t.Fatalf("-R -r %s: line %d %q is out of start-time order (after %f)", c.url, i+1, l, last)
				}
				last = st
			}
			slices.Sort(lines)
			if strings.Join(lines, "\n") != strings.Join(want, "\n") {
				t.Errorf("-R %s -r %s -- %s: %d lines, want %d; first difference: %s", dir, c.url, only, len(lines), len(want), firstDiff(lines, want))
			}
		}
	}
}
