package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/filter"
	"panoptes/record"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).UnixNano()

// genRecords makes n flow records from a few sources over three hours, mostly in time
// order with some late ones, each lasting up to 5 s (a status interval), plus one
// management record spanning everything.
func genRecords(n int, seed uint64) []record.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	recs := make([]record.Record, 0, n+1)
	for i := 0; i < n; i++ {
		start := t0 + int64(i)*int64(3*time.Hour)/int64(n)
		if rng.IntN(20) == 0 {
			start -= int64(rng.IntN(600)) * int64(time.Second) // late record
		}
		r := record.Record{Kind: record.KindFlow, Cause: record.CauseStart, SrcID: uint32(rng.IntN(3)), Seq: uint32(i + 1),
			StartTime: start, LastTime: start + int64(rng.IntN(5000))*int64(time.Millisecond),
			Family: 4, Proto: 17, SrcPort: uint16(rng.IntN(65536)), DstPort: 53, Trans: 1,
			Src: record.Side{Pkts: uint64(1 + rng.IntN(100)), Bytes: uint64(rng.IntN(100000))}}
		r.SrcAddr[0], r.SrcAddr[1], r.SrcAddr[3] = 10, byte(rng.IntN(4)), byte(rng.IntN(256))
		r.DstAddr[0], r.DstAddr[3] = 192, byte(rng.IntN(256))
		recs = append(recs, r)
	}
	recs = append(recs, record.Record{Kind: record.KindMan, Cause: record.CauseStop, SrcID: 1, Seq: uint32(n + 1),
		StartTime: t0, LastTime: t0 + int64(3*time.Hour), Man: &record.Management{PktsSeen: 42}})
	return recs
}

func writeArchive(t testing.TB, dir string, recs []record.Record) {
	t.Helper()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(5 * time.Minute)
	w.blockBytes = 4 << 10 // many blocks per segment
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
}

func collect(t testing.TB, f func(fn func(*record.Record) error) error) []record.Record {
	t.Helper()
	var out []record.Record
	if err := f(func(r *record.Record) error {
		c := *r
		if r.Man != nil {
			m := *r.Man
			c.Man = &m
		}
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Query over random windows and filters returns exactly what a full scan with the same
// time test and filter returns, in the same order, and reads only part of the archive.
func TestQueryEqualsScan(t *testing.T) {
	dir := t.TempDir()
	recs := genRecords(20000, 1)
	writeArchive(t, dir, recs)
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	all := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if len(all) != len(recs) {
		t.Fatalf("scan found %d records, wrote %d", len(all), len(recs))
	}
	rng := rand.New(rand.NewPCG(2, 3))
	allBlocks, _ := a.blocksFor(-1<<62, 1<<62)
	nonEmpty := map[string]int{}
	filters := []string{"", "srcid 1", "src net 10.1.0.0/16", "src pkts gt 50 and not srcid 2", "man", "host 10.2.0.7 or src port 1-9999"}
	for i := 0; i < 200; i++ {
		lo := t0 - int64(time.Hour) + rng.Int64N(int64(5*time.Hour))
		hi := lo + rng.Int64N(int64(20*time.Minute))
		expr := filters[i%len(filters)]
		flt, err := filter.Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		var want []record.Record
		for _, r := range all {
			if r.StartTime <= hi && r.LastTime >= lo && flt.Match(&r) {
				want = append(want, r)
			}
		}
		got := collect(t, func(fn func(*record.Record) error) error { return a.Query(lo, hi, flt.Match, fn) })
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("window %d [%d, %d] -- %s: query gave %d records, scan %d", i, lo, hi, expr, len(got), len(want))
		}
		// The same with block selection by the filter (more filters: TestQueryFilterEqualsScan).
		got = collect(t, func(fn func(*record.Record) error) error { return a.QueryFilter(lo, hi, flt, fn) })
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("window %d [%d, %d] -- %s: filtered query gave %d records, scan %d", i, lo, hi, expr, len(got), len(want))
		}
		if len(want) > 0 {
			nonEmpty[expr]++
		}
		if blocks, _ := a.blocksFor(lo, hi); hi-lo < int64(time.Minute) && len(blocks) > len(allBlocks)/4 {
			t.Fatalf("a 1-minute window reads %d of %d blocks", len(blocks), len(allBlocks))
		}
	}
	for _, expr := range filters {
		if nonEmpty[expr] < 10 {
			t.Errorf("filter %q selected records in only %d windows: the comparison says little", expr, nonEmpty[expr])
		}
	}
}

func TestRebuildAndVerify(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, genRecords(3000, 4))
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("fresh archive: %v %v", d, err)
	}
	before := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	// Damage the index: drop one block's keys.
	it, _ := a.db.NewIter(nil)
	if it.SeekGE([]byte{'t'}); !it.Valid() || it.Key()[0] != 't' {
		t.Fatal("no block key in the index")
	}
	if err := a.db.Delete(append([]byte(nil), it.Key()...), nil); err != nil {
		t.Fatal(err)
	}
	it.Close()
	if d, _ := a.Verify(); len(d) == 0 {
		t.Fatal("verify found no difference after a block key was deleted")
	}
	st, err := a.Rebuild(nil)
	if err != nil || st.Records != 3001 {
		t.Fatalf("rebuild: %+v %v", st, err)
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("after rebuild: %v %v", d, err)
	}
	after := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if !reflect.DeepEqual(before, after) {
		t.Fatal("records differ after the rebuild")
	}
}

func TestCorruptBlockNamesFileAndOffset(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, genRecords(500, 5))
	var seg string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".seg") && seg == "" {
			seg = p
		}
		return nil
	})
	b, _ := os.ReadFile(seg)
	sh, _ := readSegmentHeader(mustOpen(t, seg), seg)
	b[sh.size+blockHdrSize+10] ^= 0xff // inside the first block's payload
	os.WriteFile(seg, b, 0o644)
	a, err := Open(dir, Options{ReadOnly: true, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	err = a.Scan(nil, func(*record.Record) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), seg) || !strings.Contains(err.Error(), fmt.Sprintf("byte %d", sh.size)) {
		t.Fatalf("got %v, want a corruption error naming %s and byte %d", err, seg, sh.size)
	}
	// Without Strict the block is skipped with a note naming the file, the offset and the
	// records lost.
	var notes []string
	a.strict, a.logf = false, func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }
	if err := a.Scan(nil, func(*record.Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if d := a.Damage(); len(notes) != 1 || d.Blocks != 1 || !strings.Contains(notes[0], seg) ||
		!strings.Contains(notes[0], fmt.Sprintf("byte %d", sh.size)) || !strings.Contains(notes[0], fmt.Sprintf("%d records lost", d.Records)) {
		t.Fatalf("notes %q, damage %+v: want one note naming %s, byte %d and the records lost", notes, d, seg, sh.size)
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestKilledWriter runs a writer in a child process, kills it with SIGKILL in the middle
// of writing, and reopens the archive: every block the child reported complete is there,
// the torn tail is gone, and the index agrees with the segments.
func TestKilledWriter(t *testing.T) {
	if os.Getenv("PANOPTES_WRITER_CHILD") != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriterChild$")
	cmd.Env = append(os.Environ(), "PANOPTES_WRITER_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	flushed := 0
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "flushed ")); err == nil {
			flushed = n
			if n >= 30000 {
				break
			}
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if flushed == 0 {
		t.Fatal("the child reported no flushed records")
	}
	var notes []string
	a, err := Open(dir, Options{Logf: func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if len(got) < flushed {
		t.Fatalf("%d records after recovery, the child had flushed %d", len(got), flushed)
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("index and segments disagree after recovery: %v %v", d, err)
	}
	t.Logf("child flushed %d records before SIGKILL; %d recovered; notes: %v", flushed, len(got), notes)
}

// TestWriterChild is the child of TestKilledWriter: it writes until killed, printing how
// many records are safely in the archive after each flush.
func TestWriterChild(t *testing.T) {
	dir := os.Getenv("PANOPTES_WRITER_CHILD")
	if dir == "" {
		t.Skip("runs only as TestKilledWriter's child")
	}
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(time.Minute)
	w.blockBytes = 8 << 10
	recs := genRecords(1000000, 7)
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("flushed %d\n", i+1)
		}
	}
}

// FuzzReadBlock: arbitrary bytes as a block either fail with ErrCorrupt or give records
// that decode; never a panic.
func FuzzReadBlock(f *testing.F) {
	recs := genRecords(20, 9)
	var raw []byte
	for i := range recs {
		raw = record.AppendRecord(raw, &recs[i])
	}
	info := BlockInfo{Records: 21, MinStart: recs[0].StartTime, MaxLast: recs[19].LastTime}
	f.Add(appendBlock(nil, raw, nil, &info))
	f.Add(appendSplitBlock(recs))
	f.Add([]byte("PNBK"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := readerAt(data)
		info, out, err := readBlock(r, 0, "fuzz", nil)
		if err != nil {
			if len(data) > 0 {
				namesFileAndOffset(t, err)
			}
			return
		}
		var rec record.Record
		if err := decodeRecords(out, info.Columns, nil, 0, "fuzz", &rec, func(*record.Record) error { return nil }); err != nil {
			namesFileAndOffset(t, err)
		}
	})
}

// appendSplitBlock returns recs as a block of split columns (segment version 3).
func appendSplitBlock(recs []record.Record) []byte {
	split, ends, _ := record.SplitColumns(nil, record.AppendColumns(nil, recs))
	return appendBlock(nil, split, &ends, &BlockInfo{Records: uint32(len(recs)), Columns: true})
}

// FuzzScanSegment: arbitrary bytes as a segment file, walked as recovery, rebuild and
// verify walk it (looking past damaged blocks): every error names the file and a byte
// offset, the end of the complete blocks is within the file, and nothing panics.
func FuzzScanSegment(f *testing.F) {
	recs := genRecords(40, 10)
	seg := appendSegmentHeader(nil, 7, recs[0].StartTime)
	for i := 0; i < 40; i += 10 {
		var raw []byte
		for j := i; j < i+10; j++ {
			raw = record.AppendRecord(raw, &recs[j])
		}
		info := BlockInfo{Records: 10, MinStart: recs[i].StartTime, MaxLast: recs[i+9].LastTime}
		seg = appendBlock(seg, raw, nil, &info)
	}
	f.Add(seg)
	f.Add(append(appendSegmentHeader(nil, 7, recs[0].StartTime), appendSplitBlock(recs)...))
	f.Add(seg[:len(seg)-7])
	f.Add([]byte("PNSG"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec record.Record
		end, err := scanSegmentKeeping(readerAt(data), "fuzz", func(info BlockInfo, raw []byte, wire *[256]int8) error {
			if info.Offset < 0 || info.Offset+info.Length > int64(len(data)) {
				t.Fatalf("block at %d+%d outside a %d-byte file", info.Offset, info.Length, len(data))
			}
			return decodeRecords(raw, info.Columns, wire, info.Offset, "fuzz", &rec, func(*record.Record) error { return nil })
		}, func(off, next int64, err error) {
			if next <= off || next > int64(len(data)) {
				t.Fatalf("skip from %d to %d in a %d-byte file", off, next, len(data))
			}
			namesFileAndOffset(t, err)
		})
		if err != nil {
			namesFileAndOffset(t, err)
		}
		if end < 0 || end > int64(len(data)) {
			t.Fatalf("complete blocks end at %d in a %d-byte file", end, len(data))
		}
	})
}

func namesFileAndOffset(t *testing.T, err error) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "fuzz: ") || !strings.Contains(err.Error(), "byte ") {
		t.Fatalf("error does not name the file and a byte offset: %v", err)
	}
}

type readerAt []byte

func (b readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}

// BenchmarkQuery measures a 1% time-window query against a full scan of the same
// archive: the point of the time index.
func BenchmarkQuery(b *testing.B) {
	dir := b.TempDir()
	writeArchive(b, dir, genRecords(200000, 11))
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	lo := t0 + int64(90*time.Minute)
	hi := lo + int64(3*time.Hour)/100
	b.Run("window=1%", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.Query(lo, hi, nil, func(*record.Record) error { return nil })
		}
	})
	b.Run("full-scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.Scan(nil, func(*record.Record) error { return nil })
		}
	})
}

// A writer that died in the middle of a block leaves a torn block at the end of its open
// segment: reopening logs it with the file and offset, cuts it off, keeps every complete
// block, and seals the segment.
func TestTornBlockIsTruncated(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(time.Hour)
	recs := genRecords(2000, 13)[:2000]
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var tmp string
	var end int64
	for _, s := range w.open {
		tmp, end = s.f.Name(), s.off
		// Half a block: a header whose payload never made it.
		partial := appendBlock(nil, record.AppendRecord(nil, &recs[0]), nil, &BlockInfo{Records: 1})
		s.f.WriteAt(partial[:len(partial)/2], s.off)
		break
	}
	a.closeDB() // the writer "dies": nothing sealed, nothing closed (its locks go with it)
	var notes []string
	a, err = Open(dir, Options{Logf: func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(notes) == 0 || !strings.Contains(notes[0], tmp) || !strings.Contains(notes[0], fmt.Sprintf("byte %d", end)) {
		t.Fatalf("recovery notes %q: want one naming %s and byte %d", notes, tmp, end)
	}
	got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if len(got) != len(recs) {
		t.Fatalf("%d records after recovery, %d were flushed", len(got), len(recs))
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("after recovery: %v %v", d, err)
	}
}

func TestHostsFromTheAddressIndex(t *testing.T) {
	dir := t.TempDir()
	recs := genRecords(5000, 21)
	writeArchive(t, dir, recs)
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// Brute force for 10.1.0.7 (a source address some records have).
	addr := netip.MustParseAddr("10.1.0.7")
	want := map[uint32]*HostSeen{}
	for _, r := range recs {
		if r.Kind != record.KindFlow || (r.Addr(true) != addr && r.Addr(false) != addr) {
			continue
		}
		h := want[r.SrcID]
		if h == nil {
			h = &HostSeen{First: r.StartTime, Last: r.LastTime}
			want[r.SrcID] = h
		}
		h.Records++
		h.First, h.Last = min(h.First, r.StartTime), max(h.Last, r.LastTime)
	}
	got, err := a.Host(addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("got %d sources, want %d", len(got), len(want))
	}
	for _, g := range got {
		w := want[g.SrcID]
		if g.Records != w.Records || g.First != w.First || g.Last != w.Last {
			t.Errorf("srcid %d: got %d records %d..%d, want %d %d..%d", g.SrcID, g.Records, g.First, g.Last, w.Records, w.First, w.Last)
		}
	}
	if h, _ := a.Host(netip.MustParseAddr("203.0.113.99")); len(h) != 0 {
		t.Fatalf("an address never seen: %+v", h)
	}
}

// Retention deletes the oldest segments with their index entries, never the ones being
// written, and logs what it removed.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	a.logf = func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }
	w := a.NewWriter(5 * time.Minute)
	w.SetRetention(Retention{MaxAge: time.Hour})
	recs := genRecords(6000, 23) // three hours
	for i := range recs[:6000] {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(notes) == 0 || !strings.Contains(notes[0], "retention removed") {
		t.Fatalf("no retention note: %q", notes)
	}
	segs, _ := a.segments()
	var newest, oldest int64 = 0, 1 << 62
	for _, s := range segs {
		newest, oldest = max(newest, s.span), min(oldest, s.span)
	}
	if newest-oldest > int64(time.Hour) {
		t.Fatalf("segments span %v after retention of 1h", time.Duration(newest-oldest))
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("index and segments disagree after retention: %v %v", d, err)
	}
	got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	for _, r := range got {
		if r.Kind == record.KindFlow && r.StartTime < oldest-int64(10*time.Minute) {
			t.Fatalf("a record from %v survived", time.Unix(0, r.StartTime).UTC())
		}
	}
	a.Close()
}

// Queries run while a writer writes (with retention deleting old segments): none fails,
// and each returns records in start-time order.
func TestQueriesDuringWritingAndRetention(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w := a.NewWriter(time.Minute)
	w.blockBytes = 4 << 10
	w.SetRetention(Retention{MaxAge: 30 * time.Minute})
	recs := genRecords(20000, 31)
	done := make(chan error, 1)
	go func() {
		for i := range recs {
			if err := w.Write(&recs[i]); err != nil {
				done <- err
				return
			}
		}
		done <- w.Close()
	}()
	queries := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if queries == 0 {
				t.Fatal("no query ran during the writing")
			}
			t.Logf("%d queries ran during the writing", queries)
			return
		default:
		}
		r, err := Open(dir, Options{ReadOnly: true})
		if err != nil && strings.Contains(err.Error(), "no snapshot") {
			continue // the writer has not flushed its first block yet
		}
		if err != nil {
			<-done
			t.Fatal(err)
		}
		var last int64 = -1 << 62
		err = r.Scan(nil, func(rec *record.Record) error {
			if rec.StartTime < last {
				return fmt.Errorf("records out of order")
			}
			last = rec.StartTime
			return nil
		})
		r.Close()
		if err != nil {
			<-done // let the writer finish before the archive closes
			t.Fatalf("query %d during writing: %v", queries, err)
		}
		queries++
	}
}

// TestRecoverOrphanSegments: segment files that a writer left without an index entry
// (an older panoptes created the file first) are adopted when they hold a header and
// removed when the header itself was cut short.
func TestRecoverOrphanSegments(t *testing.T) {
	dir := t.TempDir()
	recs := genRecords(300, 9)
	writeArchive(t, dir, recs)
	var seg string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".seg") && seg == "" {
			seg = p
		}
		return nil
	})
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := readSegmentHeader(mustOpen(t, seg), seg)
	orphan := filepath.Join(filepath.Dir(seg), ".23.59.00-900.seg.tmp")
	torn := filepath.Join(filepath.Dir(seg), ".23.59.00-901.seg.tmp")
	os.WriteFile(orphan, b, 0o644)
	os.WriteFile(torn, b[:sh.size-3], 0o644)
	before := collect(t, func(fn func(*record.Record) error) error {
		a, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer a.Close()
		return a.Scan(nil, fn)
	})
	var notes []string
	a, err := Open(dir, Options{Logf: func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("index and segments disagree after recovery: %v %v", d, err)
	}
	if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the segment with a torn header is still there (%v)", err)
	}
	if _, err := os.Stat(strings.Replace(orphan, ".23.59.00-900.seg.tmp", "23.59.00-900.seg", 1)); err != nil {
		t.Errorf("the orphan segment was not sealed: %v", err)
	}
	after := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if seg1 := countSegRecords(t, seg); len(after) != len(before)+seg1 {
		t.Errorf("%d records after recovery, want %d + %d adopted", len(after), len(before), seg1)
	}
	if len(notes) == 0 {
		t.Error("recovery logged nothing")
	}
}

func countSegRecords(t *testing.T, path string) int {
	n := 0
	if _, err := scanSegment(mustOpen(t, path), path, func(info BlockInfo, _ []byte, _ *[256]int8) error {
		n += int(info.Records)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// A block damaged in the middle of a sealed segment (bit rot, not a torn tail): a strict
// query that reaches it fails naming the file and offset, another skips it; `index
// rebuild` (and verify --repair) leaves only that block out of the index, keeps every
// complete block after it and records the damage, and verify then agrees and lists it.
func TestRebuildKeepsBlocksAfterDamage(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, genRecords(30000, 41))
	var seg string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".seg") && seg == "" && countBlocks(t, p) >= 3 {
			seg = p
		}
		return nil
	})
	if seg == "" {
		t.Fatal("no segment with 3 blocks")
	}
	var blocks []BlockInfo
	scanSegment(mustOpen(t, seg), seg, func(info BlockInfo, _ []byte, _ *[256]int8) error {
		blocks = append(blocks, info)
		return nil
	})
	total := countSegRecords(t, seg)
	b, _ := os.ReadFile(seg)
	b[blocks[1].Offset+blockHdrSize+5] ^= 0xff // the second block's payload
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var notes []string
	a, err := Open(dir, Options{Logf: func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	all := 0
	a.strict = true
	err = a.Scan(nil, func(*record.Record) error { all++; return nil })
	a.strict = false
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), seg) || !strings.Contains(err.Error(), fmt.Sprintf("byte %d", blocks[1].Offset)) {
		t.Fatalf("query over the damaged block: %v", err)
	}
	st, err := a.Rebuild(nil)
	if err != nil || st.Damaged != 1 || st.Truncated != 0 {
		t.Fatalf("rebuild: %+v %v", st, err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], seg) || !strings.Contains(notes[0], fmt.Sprintf("byte %d", blocks[1].Offset)) {
		t.Fatalf("rebuild notes %q: want one naming %s and byte %d", notes, seg, blocks[1].Offset)
	}
	if fi, _ := os.Stat(seg); fi.Size() != int64(len(b)) {
		t.Fatalf("the segment was cut from %d to %d bytes", len(b), fi.Size())
	}
	got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if want := 30001 - int(blocks[1].Records); len(got) != want {
		t.Fatalf("%d records after the rebuild, want %d (all but the damaged block's %d; the segment held %d)", len(got), want, blocks[1].Records, total)
	}
	d, err := a.Verify()
	if err != nil || len(d) != 0 {
		t.Fatalf("verify after the rebuild: %q %v, want agreement (the damage is recorded)", d, err)
	}
	if rd, err := a.RecordedDamage(); err != nil || len(rd) != 1 || rd[0].Offset != blocks[1].Offset || rd[0].Length != blocks[1].Length {
		t.Fatalf("recorded damage %+v %v, want the block at byte %d (%d bytes)", rd, err, blocks[1].Offset, blocks[1].Length)
	}
}

func countBlocks(t *testing.T, path string) int {
	n := 0
	scanSegment(mustOpen(t, path), path, func(BlockInfo, []byte, *[256]int8) error { n++; return nil })
	return n
}

// Retention by size while the writer goes on writing (late records keep several
// segments open): no segment being written is ever deleted or loses its index entry,
// deletions are logged while segments are open, and at the end the index agrees with
// the segments, the archive is within the bound (plus the segments still open when it
// was last applied), and the newest records are all there.
func TestRetentionSparesOpenSegments(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var notes []string
	a.logf = func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }
	w := a.NewWriter(time.Minute)
	w.blockBytes = 4 << 10
	const bound = 128 << 10
	w.SetRetention(Retention{MaxSize: bound})
	recs := genRecords(12000, 43)
	removedWhileOpen := 0
	for i := range recs {
		before := len(notes)
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
		if err := w.settle(); err != nil { // the pipeline's retention and files, for the checks below
			t.Fatal(err)
		}
		if len(notes) > before && len(w.open) > 1 {
			removedWhileOpen++
		}
		if i%50 != 0 && len(notes) == before {
			continue
		}
		for _, s := range w.open {
			if _, err := os.Stat(s.f.Name()); err != nil {
				t.Fatalf("record %d: an open segment is gone: %v (notes %q)", i, err, notes[before:])
			}
			if _, closer, err := a.db.Get(segKey(s.seg.id)); err != nil {
				t.Fatalf("record %d: the index lost open segment %s: %v", i, s.seg.path, err)
			} else {
				closer.Close()
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if removedWhileOpen == 0 {
		t.Fatalf("retention never removed a segment while others were open (%d notes)", len(notes))
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("index and segments disagree after retention: %v %v", d, err)
	}
	segs, _ := a.segments()
	var size int64
	for _, s := range segs {
		fi, err := os.Stat(a.segmentFile(s))
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}
	if size > bound+maxOpen*64<<10 {
		t.Fatalf("archive holds %d bytes of segments, bound %d", size, bound)
	}
	got := map[uint32]bool{}
	if err := a.Scan(nil, func(r *record.Record) error { got[r.Seq] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[len(recs)-200:] {
		if r.Kind == record.KindFlow && r.StartTime >= recs[len(recs)-2].StartTime-int64(time.Minute) && !got[r.Seq] {
			t.Fatalf("record %d (of the newest minute) is not in the archive", r.Seq)
		}
	}
	t.Logf("%d segments removed (%d while others were open), %d left, %d bytes", len(notes), removedWhileOpen, len(segs), size)
}

// Retention removes a damaged or vanished old segment with all its index entries
// instead of stopping: the entries are then found by scanning the index.
func TestRetentionOfDamagedSegments(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var notes []string
	a.logf = func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }
	w := a.NewWriter(5 * time.Minute)
	recs := genRecords(6000, 23) // three hours
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := a.segments()
	if err != nil || len(segs) < 4 {
		t.Fatalf("%d segments, %v", len(segs), err)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].span < segs[j].span })
	// The oldest: bytes changed in its first block; the next: its file gone.
	damaged := filepath.Join(dir, segs[0].path)
	b, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < len(b)/3+64; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(damaged, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, segs[1].path)); err != nil {
		t.Fatal(err)
	}
	if err := a.applyRetention(Retention{MaxAge: time.Hour}, nil); err != nil {
		t.Fatalf("retention stopped at a damaged segment: %v", err)
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "scanning the index") }) {
		t.Errorf("no note of the damaged segments: %q", notes)
	}
	if _, err := os.Stat(damaged); !os.IsNotExist(err) {
		t.Errorf("the damaged segment is still there: %v", err)
	}
	gone := map[uint64]bool{segs[0].id: true, segs[1].id: true}
	it, err := a.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		var id uint64
		switch {
		case k[0] == 't' && len(k) == 25:
			id = binary.BigEndian.Uint64(k[9:])
		case k[0] == 'l' && len(k) == 17:
			id = binary.BigEndian.Uint64(k[1:])
		case k[0] == 'a' && len(k) == addrKeyLen:
			id = binary.BigEndian.Uint64(k[17:])
		case k[0] == 'a' && len(k) == addrKeyLenV2:
			id = binary.BigEndian.Uint64(k[21:])
		case k[0] == 's' && len(k) == 9:
			id = binary.BigEndian.Uint64(k[1:])
		default:
			continue
		}
		if gone[id] {
			t.Errorf("index key %q still refers to removed segment %d", k, id)
		}
	}
	it.Close()
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("index and segments disagree after retention: %v %v", d, err)
	}
}

// A writer that never calls Flush (an import) killed with SIGKILL: before any writable
// open recovers the archive, a reader sees every complete block the writer left (those
// the index lists, and those after them in its unsealed segments), and verify reports
// the unsealed segments and the blocks not in the index instead of saying it agrees.
//
// Before the fix: the reader saw 176438 of the 192300 records recovery then found, and
// verify said the index agreed with the segments (no difference listed).
func TestKilledWriterReaders(t *testing.T) {
	if os.Getenv("PANOPTES_WRITER_CHILD") != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnflushedWriterChild$")
	cmd.Env = append(os.Environ(), "PANOPTES_WRITER_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "written ")); err == nil && n >= 200000 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	r.logf = func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }
	seen := collect(t, func(fn func(*record.Record) error) error { return r.Scan(nil, fn) })
	diffs, err := r.Verify()
	if err != nil || !slices.ContainsFunc(diffs, func(d string) bool { return strings.Contains(d, "unsealed") }) {
		t.Fatalf("verify of the killed writer's archive: %q %v, want the unsealed segments reported", diffs, err)
	}
	// The address index has no unsealed segment: hosts says the archive needs recovery.
	if _, err := r.Host(netip.MustParseAddr("192.0.0.1")); err != nil || len(notes) != 1 || !strings.Contains(notes[0], "recovered") {
		t.Fatalf("hosts of the killed writer's archive: %v, notes %q: want one saying the archive needs recovery", err, notes)
	}
	r.Close()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	recovered := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if len(seen) != len(recovered) {
		t.Fatalf("a reader saw %d records before recovery, %d are there after it", len(seen), len(recovered))
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("after recovery: %q %v", d, err)
	}
	t.Logf("%d records; verify before recovery: %q", len(seen), diffs)
}

// TestUnflushedWriterChild is the child of TestKilledWriterReaders: one source, records
// in time order, no Flush (blocks go out as they fill, as in an import), until killed.
func TestUnflushedWriterChild(t *testing.T) {
	dir := os.Getenv("PANOPTES_WRITER_CHILD")
	if dir == "" {
		t.Skip("runs only as TestKilledWriterReaders' child")
	}
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(5 * time.Minute)
	recs := genRecords(1000000, 7)
	for i := range recs {
		recs[i].SrcID = 1
		recs[i].StartTime = t0 + int64(i)*int64(10*time.Millisecond)
		recs[i].LastTime = recs[i].StartTime
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			fmt.Printf("written %d\n", i+1)
		}
	}
}

// Verify reads and checks the address index: an entry dropped from it, or one whose
// counts changed, is a difference, and a rebuild restores it.
//
// Before the fix: verify listed no difference for either (it read only the time index).
func TestVerifyChecksTheAddressIndex(t *testing.T) {
	for _, change := range []string{"drop", "alter"} {
		t.Run(change, func(t *testing.T) {
			dir := t.TempDir()
			writeArchive(t, dir, genRecords(2000, 51))
			a, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			it, _ := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'a'}, UpperBound: []byte{'b'}})
			if !it.First() {
				t.Fatal("no address entry")
			}
			k, v := slices.Clone(it.Key()), slices.Clone(it.Value())
			it.Close()
			if change == "drop" {
				err = a.db.Delete(k, pebble.Sync)
			} else {
				v[7]++ // one more record
				err = a.db.Set(k, v, pebble.Sync)
			}
			if err != nil {
				t.Fatal(err)
			}
			if d, err := a.Verify(); err != nil || len(d) != 1 || !strings.Contains(d[0], "address index") {
				t.Fatalf("verify after an address entry change (%s): %q %v", change, d, err)
			}
			if _, err := a.Rebuild(nil); err != nil {
				t.Fatal(err)
			}
			if d, err := a.Verify(); err != nil || len(d) != 0 {
				t.Fatalf("verify after the rebuild: %q %v", d, err)
			}
		})
	}
}

// A full scan of an archive of many segments holds a bounded number of segment files
// open (maxSegFiles), so it runs under a low file-descriptor limit.
//
// Before the fix: the scan kept every segment it had read open until its end and failed
// with "too many open files" under a limit of 128 after 113 of 300 records (one segment
// each).
func TestScanManySegmentsBoundedFiles(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(time.Second)
	const n = 300
	recs := genRecords(n, 61)[:n]
	for i := range recs {
		recs[i].SrcID, recs[i].StartTime = 1, t0+int64(i)*int64(time.Second)
		recs[i].LastTime = recs[i].StartTime
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
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = 128
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower the file limit: %v", err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := 0
	if err := r.Scan(nil, func(*record.Record) error { got++; return nil }); err != nil || got != n {
		t.Fatalf("scan of %d segments under a limit of %d files: %d records, %v", n, low.Cur, got, err)
	}
}

// A byte changed in a segment's header (its magic): rebuild keeps the segment, records
// the header as damage and indexes every block after it, and verify then agrees; a
// writable open does not remove an unsealed segment whose header is damaged but whose
// blocks are whole, it adopts them.
//
// Before the fix: rebuild stopped at the segment ("not a segment (magic ...)"), and the
// writable open removed the unsealed copy with all its records ("header was cut short").
func TestDamagedSegmentHeader(t *testing.T) {
	dir := t.TempDir()
	recs := genRecords(10000, 71)
	writeArchive(t, dir, recs)
	var seg string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".seg") && seg == "" && countBlocks(t, p) >= 2 {
			seg = p
		}
		return nil
	})
	if seg == "" {
		t.Fatal("no segment with 2 blocks")
	}
	inSeg := countSegRecords(t, seg)
	b, _ := os.ReadFile(seg)
	b[1] ^= 0x01
	// An unsealed copy under another id, as a writer that died would leave it.
	orphan := filepath.Join(filepath.Dir(seg), ".23.59.00-900.seg.tmp")
	if err := os.WriteFile(orphan, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := os.Stat(strings.Replace(orphan, ".23.59.00-900.seg.tmp", "23.59.00-900.seg", 1)); err != nil {
		t.Fatalf("the unsealed segment with a damaged header was not kept and sealed: %v", err)
	}
	st, err := a.Rebuild(nil)
	if err != nil || st.Records != len(recs)+inSeg || st.Damaged != 2 {
		t.Fatalf("rebuild: %+v %v; want %d records and 2 damaged headers", st, err, len(recs)+inSeg)
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("verify after the rebuild: %q %v", d, err)
	}
	if got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) }); len(got) != len(recs)+inSeg {
		t.Fatalf("%d records after the rebuild, want %d", len(got), len(recs)+inSeg)
	}
}

// A writer's snapshots must not pile up: each keeps, by its hard links, index files the
// writer has since compacted away. Before the fix every snapshot younger than ten
// minutes was kept (5.9 GB of them beside a 3 GB archive while building the 100 M-record
// benchmark archive), and all of them stayed after the writer closed. Now: the newest
// few, plus one a reader holds; none after the writer closes but the one still held.
func TestSnapshotsArePruned(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < snapshotsKept+5; i++ {
		if err := a.publishSnapshot(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(snapshotDirs(dir)); n != snapshotsKept {
		t.Fatalf("%d snapshots after %d published, want the newest %d", n, snapshotsKept+5, snapshotsKept)
	}
	r, err := Open(dir, Options{ReadOnly: true}) // the index is locked: a snapshot
	if err != nil {
		t.Fatal(err)
	}
	if !r.snapshot {
		t.Fatal("the reader did not open a snapshot")
	}
	held := snapshotDirs(dir)[snapshotsKept-1]
	for i := 0; i < snapshotsKept+2; i++ {
		if err := a.publishSnapshot(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(held); err != nil {
		t.Fatalf("the snapshot a reader holds was removed: %v", err)
	}
	if n := len(snapshotDirs(dir)); n != snapshotsKept+1 {
		t.Fatalf("%d snapshots, want the newest %d and the held one", n, snapshotsKept)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if s := snapshotDirs(dir); len(s) != 1 || s[0] != held {
		t.Fatalf("after the writer closed: %v, want only the held %s", s, held)
	}
	if err := r.Scan(nil, func(*record.Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	r.Close()
	b, err := Open(dir, Options{}) // the next writer's close prunes the last one
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if s := snapshotDirs(dir); len(s) != 0 {
		t.Fatalf("snapshots left: %v", s)
	}
}
