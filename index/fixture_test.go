package index

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/filter"
	"panoptes/record"
)

// updateFixtures rewrites the archive fixture. Only for a new format version, and then
// as a new directory beside the old one: a fixture of a version panoptes still reads is
// never rewritten, or the test that reads it could no longer fail.
var updateFixtures = flag.Bool("update-fixtures", false, "write the archive fixture under testdata/ (see TestArchiveFixtureV1)")

// TestArchiveFixtureV1 reads an archive of format version 1 (segment version 1, index
// version 1) committed under testdata/archive-v1 and compares its records with the
// expected ones (testdata/archive-v1.json, one record a line): a change of the segment
// or index format, the index keys or the record encoding that would make old archives
// read wrong fails here. The fixture was made once, by
//
//	go test ./index -run TestArchiveFixtureV1 -update-fixtures
//
// The test works on a copy: a reader, verify, a writer's open (recovery and the version
// check, where the migration to version 2 runs) and a rebuild all see the same records.
// Filtered queries (QueryFilter) equal scans with the filter at every stage: selected by
// time only until the rebuild summarizes the segments (index format version 2: block
// summaries and block lists), and by the filter after it.
func TestArchiveFixtureV1(t *testing.T) { testArchiveFixture(t, 1) }

// TestArchiveFixtureV2 is TestArchiveFixtureV1 for an archive of index format version 2
// (block summaries, block lists in the address entries), of mixed records (genMixed),
// written once by
//
//	go test ./index -run TestArchiveFixtureV2 -update-fixtures
//
// Its blocks are selected by the filter at every stage.
func TestArchiveFixtureV2(t *testing.T) { testArchiveFixture(t, 2) }

// TestArchiveFixtureV3 is TestArchiveFixtureV2 for index format version 3 (address
// entries without the source id in the key, varints in the value), written once by
//
//	go test ./index -run TestArchiveFixtureV3 -update-fixtures
func TestArchiveFixtureV3(t *testing.T) { testArchiveFixture(t, 3) }

// TestArchiveFixtureV4 is TestArchiveFixtureV3 for index format version 4 (block
// summaries end with the block's totals), written once by
//
//	go test ./index -run TestArchiveFixtureV4 -update-fixtures
func TestArchiveFixtureV4(t *testing.T) { testArchiveFixture(t, 4) }

// TestArchiveFixtureV5 is TestArchiveFixtureV4 for index format version 5, whose
// segments are of segment format version 2 (blocks of columns), written once by
//
//	go test ./index -run TestArchiveFixtureV5 -update-fixtures
func TestArchiveFixtureV5(t *testing.T) { testArchiveFixture(t, 5) }

// TestArchiveFixtureV6 is TestArchiveFixtureV5 for index format version 6, whose
// segments are of segment format version 3 (blocks of columns split into a front and a
// rest), written once by
//
//	go test ./index -run TestArchiveFixtureV6 -update-fixtures
func TestArchiveFixtureV6(t *testing.T) { testArchiveFixture(t, 6) }

// testArchiveFixture reads the fixture of index format version v. -update-fixtures
// rewrites only the current version's fixture.
func testArchiveFixture(t *testing.T, v int) {
	fixture, want := filepath.Join("testdata", fmt.Sprintf("archive-v%d", v)), filepath.Join("testdata", fmt.Sprintf("archive-v%d.json", v))
	if *updateFixtures && v == indexVersion {
		recs := genMixed(600, 1616)
		writeFixture(t, fixture, want, recs)
	}
	summarized := v >= 2
	expected := fixtureRecords(t, want)
	dir := filepath.Join(t.TempDir(), "archive")
	if err := os.CopyFS(dir, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	check := func(stage string, a *Archive, summarized bool) {
		t.Helper()
		checkFixtureFilters(t, stage, a, expected, summarized)
		got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
		if len(got) != len(expected) {
			t.Fatalf("%s: %d records, want %d", stage, len(got), len(expected))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], expected[i]) {
				t.Fatalf("%s: record %d:\n got %+v\nwant %+v", stage, i, got[i], expected[i])
			}
		}
		// A window: the time index ('t' and 'l' keys) finds exactly the records a scan does.
		lo, hi := t0+int64(time.Hour), t0+int64(90*time.Minute)
		var inWindow int
		for _, r := range expected {
			if r.StartTime <= hi && r.LastTime >= lo {
				inWindow++
			}
		}
		n := 0
		if err := a.Query(lo, hi, nil, func(*record.Record) error { n++; return nil }); err != nil || n != inWindow {
			t.Fatalf("%s: query of a window: %d records (%v), want %d", stage, n, err, inWindow)
		}
		// Totals (QueryTotals): those of the blocks inside the range from the index
		// (format version 4) plus those of the records read give the flows' sums.
		for _, w := range [][2]int64{{-1 << 62, 1 << 62}, {lo, hi}} {
			var want Totals
			for _, r := range expected {
				if r.Kind == record.KindFlow && r.StartTime <= w[1] && r.LastTime >= w[0] {
					want.Add(Totals{Flows: 1, SrcPkts: r.Src.Pkts, DstPkts: r.Dst.Pkts, SrcBytes: r.Src.Bytes, DstBytes: r.Dst.Bytes})
				}
			}
			var read Totals
			got, err := a.QueryTotals(w[0], w[1], func(r *record.Record) error {
				if r.Kind == record.KindFlow {
					read.Add(Totals{Flows: 1, SrcPkts: r.Src.Pkts, DstPkts: r.Dst.Pkts, SrcBytes: r.Src.Bytes, DstBytes: r.Dst.Bytes})
				}
				return nil
			})
			got.Add(read)
			if err != nil || got != want {
				t.Fatalf("%s: totals of [%d, %d]: %+v (%v), want %+v", stage, w[0], w[1], got, err, want)
			}
		}
		// The address index ('a' keys): one source address's records.
		addr := expected[0].Addr(true)
		var recs uint64
		for _, r := range expected {
			if r.Kind != record.KindFlow {
				continue
			}
			// Counted per side: a record with the address on both counts twice.
			if r.Addr(true) == addr {
				recs++
			}
			if r.Addr(false) == addr {
				recs++
			}
		}
		seen, err := a.Host(addr)
		var sum uint64
		for _, s := range seen {
			sum += s.Records
		}
		if err != nil || sum != recs {
			t.Fatalf("%s: host %v: %d records (%v), want %d", stage, addr, sum, err, recs)
		}
	}
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("verify: %v %v", d, err)
	}
	check("reader", a, summarized)
	// Index format 5 came with segment format 2, 6 with 3; no stage rewrites a segment.
	wantSeg := byte(segVersionRow)
	switch {
	case v >= 6:
		wantSeg = 3
	case v == 5:
		wantSeg = 2
	}
	checkSegmentVersions(t, dir, wantSeg)
	if n, withTot := summaryTotals(t, a); (v < 4) != (withTot == 0) || v >= 4 && withTot != n {
		t.Fatalf("index format version %d: %d of %d block summaries have totals", v, withTot, n)
	}
	a.Close()
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check("writer", a, summarized)
	if v, closer, err := a.db.Get([]byte("mversion")); err != nil || binary.BigEndian.Uint32(v) != indexVersion {
		t.Fatalf("writer: the index was not migrated to version %d (%v)", indexVersion, err)
	} else {
		closer.Close()
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("verify after migration: %v %v", d, err)
	}
	a.Close()
	if _, err := RebuildIndex(dir, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	a, err = Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("verify after rebuild: %v %v", d, err)
	}
	check("rebuilt", a, true)
	checkSegmentVersions(t, dir, wantSeg)
	if n, withTot := summaryTotals(t, a); n == 0 || withTot != n {
		t.Fatalf("after rebuild: %d of %d block summaries have totals", withTot, n)
	}
	if n, old := addrLayouts(t, a); n == 0 || old != 0 {
		t.Fatalf("after rebuild: %d address entries, %d of them of the layout before version 3", n, old)
	}
	a.Close()
}

// fixtureRecords reads a fixture's expected records (one JSON record a line).
func fixtureRecords(t *testing.T, want string) []record.Record {
	t.Helper()
	js, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	var expected []record.Record
	for i, l := range bytes.Split(bytes.TrimSpace(js), []byte("\n")) {
		var r record.Record
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("%s: line %d: %v", want, i+1, err)
		}
		expected = append(expected, r)
	}
	return expected
}

// TestMixedSegmentVersions: an archive of version 1 segments (rows; the version 4
// fixture), or of version 2 ones (columns in one frame; the version 5 fixture), to
// which this version writes segments of split columns over the same hours reads as one
// archive: a scan gives both sets of records, in order, filtered queries equal scans
// with the filter, and verify and a rebuild find nothing wrong.
func TestMixedSegmentVersions(t *testing.T) {
	for _, base := range []struct {
		fixture string
		seg     byte
	}{{"archive-v4", segVersionRow}, {"archive-v5", 2}} {
		t.Run(base.fixture, func(t *testing.T) { testMixedSegmentVersions(t, base.fixture, base.seg) })
	}
}

func testMixedSegmentVersions(t *testing.T, fixture string, oldSeg byte) {
	dir := filepath.Join(t.TempDir(), "archive")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", fixture))); err != nil {
		t.Fatal(err)
	}
	old := fixtureRecords(t, filepath.Join("testdata", fixture+".json"))
	added := genMixed(500, 4242)
	writeArchive(t, dir, added)
	want := append(slices.Clone(old), added...)
	versions := map[byte]int{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".seg") {
			b, _ := os.ReadFile(p)
			versions[b[4]]++
		}
		return nil
	})
	if versions[oldSeg] == 0 || versions[segVersion] == 0 || len(versions) != 2 {
		t.Fatalf("segments by version %v: want %d and %d", versions, oldSeg, segVersion)
	}
	for _, stage := range []string{"written", "rebuilt"} {
		if stage == "rebuilt" {
			if _, err := RebuildIndex(dir, Options{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		a, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if d, err := a.Verify(); err != nil || len(d) != 0 {
			t.Fatalf("%s: verify: %v %v", stage, d, err)
		}
		got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
		if !sameRecordSet(got, want) {
			t.Fatalf("%s: the scan gave %d records, not the %d of the fixture and the %d written", stage, len(got), len(old), len(added))
		}
		for i := 1; i < len(got); i++ {
			if got[i].StartTime < got[i-1].StartTime {
				t.Fatalf("%s: record %d starts before record %d", stage, i, i-1)
			}
		}
		checkFixtureFilters(t, stage, a, got, true) // the scan's order, checked above
		a.Close()
	}
}

// sameRecordSet says whether a and b hold the same records, in any order.
func sameRecordSet(a, b []record.Record) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(r record.Record) string {
		var m record.Management
		if r.Man != nil {
			m = *r.Man
		}
		r.Man = nil
		return fmt.Sprintf("%+v %+v", r, m)
	}
	n := map[string]int{}
	for i := range a {
		n[key(a[i])]++
		n[key(b[i])]--
	}
	for _, c := range n {
		if c != 0 {
			return false
		}
	}
	return true
}

// checkSegmentVersions checks that every segment of the archive in dir is of segment
// format version v, and that its blocks hold columns exactly when v is 2 or more, split
// exactly when it is 3, and then their records in the order of an ordered query.
func checkSegmentVersions(t *testing.T, dir string, v byte) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".seg") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if b[4] != v {
			t.Errorf("%s: segment format version %d, want %d", p, b[4], v)
		}
		_, err = scanSegment(bytes.NewReader(b), p, func(info BlockInfo, raw []byte, wire *[256]int8) error {
			if n++; info.Columns != (v >= 2) {
				t.Errorf("%s: block at byte %d: columns %v in a segment of version %d", p, info.Offset, info.Columns, v)
			}
			if split := binary.LittleEndian.Uint32(b[info.Offset+8:])&rawSplit != 0; split != (v == 3) {
				t.Errorf("%s: block at byte %d: split %v in a segment of version %d", p, info.Offset, split, v)
			}
			if v < 3 {
				return nil
			}
			var prev recKey
			i := 0
			var rec record.Record
			return decodeRecords(raw, info.Columns, wire, info.Offset, p, &rec, func(r *record.Record) error {
				k := recKey{start: r.StartTime, src: r.SrcID, seq: r.Seq}
				if i > 0 && keyLess(&k, &prev) {
					t.Errorf("%s: block at byte %d: record %d before the one before it", p, info.Offset, i)
				}
				prev, i = k, i+1
				return nil
			})
		})
		return err
	})
	if err != nil || n == 0 {
		t.Fatalf("segments of %s: %d blocks (%v)", dir, n, err)
	}
}

// summaryTotals counts the block summaries and those with totals (format version 4).
func summaryTotals(t *testing.T, a *Archive) (n, withTot int) {
	t.Helper()
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'b'}, UpperBound: []byte{'c'}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var info BlockInfo
	var sum blockSummary
	for it.First(); it.Valid(); it.Next() {
		if err := decodeSummary(a.dir, it.Key(), it.Value(), &info, &sum); err != nil {
			t.Fatal(err)
		}
		n++
		if sum.hasTot {
			withTot++
		}
	}
	return n, withTot
}

// addrLayouts counts the address entries and those of versions 1 and 2's key layout.
func addrLayouts(t *testing.T, a *Archive) (n, old int) {
	t.Helper()
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'a'}, UpperBound: []byte{'b'}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		n++
		if len(it.Key()) == addrKeyLenV2 {
			old++
		}
	}
	return n, old
}

// checkFixtureFilters compares filtered queries of the fixture with the expected records
// matched by the same filters; summarized says whether block selection may pass over
// blocks (after a rebuild) or must select by time only (version 1's segments).
func checkFixtureFilters(t *testing.T, stage string, a *Archive, expected []record.Record, summarized bool) {
	t.Helper()
	var some record.Record
	for _, r := range expected {
		if r.Kind == record.KindFlow {
			some = r
			break
		}
	}
	host := some.Addr(true).String()
	total, err := a.blocksFor(-1<<62, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range expected {
		if r.Kind == record.KindFlow && r.Addr(false).String() == rare4 {
			host = rare4 // a host in few blocks (the v2 fixture's mixed records)
		}
	}
	for _, expr := range []string{"host " + host, "src net 10.1.0.0/16 and port 53", "man", "tcp", "not udp",
		"dst port 53 or host " + host, "src port 1-1023", "host 198.51.100.1"} {
		flt := filter.MustCompile(expr)
		var want []record.Record
		for _, r := range expected {
			if flt.Match(&r) {
				want = append(want, r)
			}
		}
		got := collect(t, func(fn func(*record.Record) error) error { return a.ScanFilter(flt, fn) })
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("%s: -- %s: %d records, want %d", stage, expr, len(got), len(want))
		}
		st := a.LastSelect()
		if flt.Terms().Kind == filter.TermAny {
			continue
		}
		if !summarized && st.Selected != st.Candidates {
			t.Fatalf("%s: -- %s: %d of %d blocks selected; without summaries every block is", stage, expr, st.Selected, st.Candidates)
		}
		if summarized && (expr == "host "+host && st.Selected >= len(total)/2 || len(want) == 0 && st.Selected != 0) {
			t.Fatalf("%s: -- %s: %d of %d blocks selected", stage, expr, st.Selected, st.Candidates)
		}
	}
}

// writeFixture writes the archive fixture: a few sources over three hours in one-hour
// segments of several blocks each, and the expected records.
func writeFixture(t *testing.T, fixture, want string, recs []record.Record) {
	tmp := t.TempDir()
	a, err := Open(tmp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(time.Hour)
	w.blockBytes = 2 << 10
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The expected records, in the order a scan gives them.
	a, err = Open(tmp, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	a.Close()
	if len(got) != len(recs) {
		t.Fatalf("%d records written, %d read", len(recs), len(got))
	}
	var js []byte
	for i := range got {
		l, err := json.Marshal(&got[i])
		if err != nil {
			t.Fatal(err)
		}
		js = append(append(js, l...), '\n')
	}
	os.RemoveAll(filepath.Join(tmp, "snapshots")) // a writer's, for queries while it runs
	if err := os.RemoveAll(fixture); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(fixture, os.DirFS(tmp)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, js, 0o644); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(fixture, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".seg") {
			t.Logf("index file %s", p)
		}
		return nil
	})
}

// TestMixedAddrLayouts: a version 2 archive that a writer of version 3 opens and adds
// segments to holds address entries of both key layouts (the migration rewrites
// nothing). Host, filtered queries and Verify read both, and
// a rebuild leaves only version 3's.
func TestMixedAddrLayouts(t *testing.T) {
	js, err := os.ReadFile(filepath.Join("testdata", "archive-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var old []record.Record
	for _, l := range bytes.Split(bytes.TrimSpace(js), []byte("\n")) {
		var r record.Record
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		old = append(old, r)
	}
	dir := filepath.Join(t.TempDir(), "archive")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "archive-v2"))); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The same records a day later: every address gets an entry of each layout.
	w := a.NewWriter(time.Hour)
	all := slices.Clone(old)
	for _, r := range old {
		r.StartTime += int64(24 * time.Hour)
		r.LastTime += int64(24 * time.Hour)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	n, v2 := addrLayouts(t, a)
	if v2 == 0 || v2 == n {
		t.Fatalf("%d address entries, %d of version 2's layout: want both layouts", n, v2)
	}
	check := func(stage string) {
		t.Helper()
		if d, err := a.Verify(); err != nil || len(d) != 0 {
			t.Fatalf("%s: verify: %v %v", stage, d, err)
		}
		sort.SliceStable(all, func(i, j int) bool { return all[i].StartTime < all[j].StartTime })
		for _, host := range []string{rare4, all[0].Addr(true).String()} {
			flt := filter.MustCompile("host " + host)
			want := 0
			var recs uint64
			for _, r := range all {
				if flt.Match(&r) {
					want++
				}
				if r.Kind == record.KindFlow {
					for _, src := range []bool{true, false} {
						if r.Addr(src).String() == host {
							recs++
						}
					}
				}
			}
			got := collect(t, func(fn func(*record.Record) error) error { return a.ScanFilter(flt, fn) })
			if len(got) != want || want == 0 {
				t.Fatalf("%s: host %s: %d records, want %d", stage, host, len(got), want)
			}
			seen, err := a.Host(netip.MustParseAddr(host))
			var sum uint64
			segs := 0
			for _, s := range seen {
				sum += s.Records
				segs += s.Segments
			}
			if err != nil || sum != recs || segs < 2 {
				t.Fatalf("%s: Host(%s): %d records in %d segments (%v), want %d in 2 or more", stage, host, sum, segs, err, recs)
			}
		}
	}
	check("mixed")
	a.Close()
	if _, err := RebuildIndex(dir, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	if a, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	check("rebuilt")
	if n, v2 := addrLayouts(t, a); n == 0 || v2 != 0 {
		t.Fatalf("after rebuild: %d address entries, %d of version 2's layout", n, v2)
	}
}
