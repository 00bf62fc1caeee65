package index

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

// retentionWriter opens an archive in a new directory with a writer that applies r and
// seals a segment of the same source once a record comes two spans later.
func retentionWriter(t *testing.T, r Retention) (*Archive, *Writer, *[]string) {
	t.Helper()
	a, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	notes := &[]string{}
	a.logf = func(f string, args ...any) { *notes = append(*notes, fmt.Sprintf(f, args...)) }
	w := a.NewWriter(5 * time.Minute)
	w.SetRetention(r)
	return a, w, notes
}

// writeEvery writes one flow record of srcid every step from `from` to `to` (ns) and
// returns how many it wrote.
func writeEvery(t *testing.T, w *Writer, srcid uint32, from, to int64, step time.Duration) int {
	t.Helper()
	n := 0
	for ts := from; ts <= to; ts += int64(step) {
		r := record.Record{Kind: record.KindFlow, Cause: record.CauseStart, SrcID: srcid, Seq: uint32(n + 1),
			StartTime: ts, LastTime: ts + int64(time.Second), Family: 4, Proto: 17, DstPort: 53,
			Src: record.Side{Pkts: 1, Bytes: 60}}
		r.SrcAddr[0], r.SrcAddr[3] = 10, byte(n)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// countBySource scans the archive and counts its records per source id.
func countBySource(t *testing.T, a *Archive) map[uint32]int {
	t.Helper()
	got := map[uint32]int{}
	for _, r := range collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) }) {
		got[r.SrcID]++
	}
	return got
}

// One record stamped far in the future (NetFlow v5 unix_secs 0xFFFFFFFF, a pcap packet
// of 2106) is stored and counted, and it is not the "now" that age retention measures
// back from: neither its own source's records nor any other source's are deleted.
//
// Before the fix retention measured back from the newest segment of the whole archive,
// 2106, and the test showed "source 7: 1 of 590 records left", "source 8: 50 of 101"
// (the counts vary with where the clock falls in a segment span).
func TestRetentionFutureRecordIsNotNow(t *testing.T) {
	a, w, notes := retentionWriter(t, Retention{MaxAge: time.Hour})
	now := time.Now().UnixNano()
	want := map[uint32]int{
		7: writeEvery(t, w, 7, now-int64(50*time.Minute), now-int64(time.Minute), 5*time.Second),
		8: writeEvery(t, w, 8, now-int64(30*time.Minute), now-int64(20*time.Minute), 6*time.Second),
	}
	far := int64(0xFFFFFFFF) * 1e9 // 2106-02-07
	want[7] += writeEvery(t, w, 7, far, far, time.Second)
	want[9] = writeEvery(t, w, 9, far, far, time.Second)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := countBySource(t, a)
	for src, n := range want {
		if got[src] != n {
			t.Errorf("source %d: %d of %d records left", src, got[src], n)
		}
	}
	if st := w.Stats(); st.Future != 2 {
		t.Errorf("writer counted %d records stamped in the future, want 2", st.Future)
	}
	if !strings.Contains(strings.Join(*notes, "\n"), "in the future") {
		t.Errorf("no note of the records stamped in the future: %q", *notes)
	}
}

// Each source id ages on its own: an old imported case (2009) keeps the last MaxAge of
// its own data although a live source writes today, and the live source's old data
// goes.
//
// Before the fix age was measured from the newest segment of any source, and the test
// showed "source 2: 0 records left" (the 2009 case).
func TestRetentionPerSourceID(t *testing.T) {
	a, w, _ := retentionWriter(t, Retention{MaxAge: time.Hour})
	now := time.Now().UnixNano()
	old := time.Date(2009, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	writeEvery(t, w, 2, old, old+int64(3*time.Hour), 10*time.Second)
	writeEvery(t, w, 1, now-int64(3*time.Hour), now, 10*time.Second)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	first := map[uint32]int64{}
	last := map[uint32]int64{}
	for _, r := range collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) }) {
		if _, ok := first[r.SrcID]; !ok {
			first[r.SrcID] = r.StartTime
		}
		last[r.SrcID] = r.StartTime
	}
	for src, newest := range map[uint32]int64{1: now, 2: old + int64(3*time.Hour)} {
		if _, ok := last[src]; !ok {
			t.Errorf("source %d: 0 records left", src)
			continue
		}
		if last[src] != newest {
			t.Errorf("source %d: newest record %v, want %v", src, time.Unix(0, last[src]).UTC(), time.Unix(0, newest).UTC())
		}
		// Age is measured per segment (5 min) from the newest segment's start.
		if kept := time.Duration(last[src] - first[src]); kept > time.Hour+10*time.Minute || kept < time.Hour-5*time.Minute {
			t.Errorf("source %d: %v of data kept, want about 1h", src, kept)
		}
	}
}

// A forward clock step on a sensor: for a while its records were stamped 200 days
// ahead, then the clock was corrected. The records stamped while the clock was wrong
// are kept and counted, and they do not make the source's correctly stamped records of
// the last hour look old; its records older than the hour still go.
//
// Before the fix the test showed "source 5: 241 of 723 records left": everything but
// the records stamped in the future and the segment being written was deleted.
func TestRetentionAfterClockStep(t *testing.T) {
	a, w, _ := retentionWriter(t, Retention{MaxAge: time.Hour})
	now := time.Now().UnixNano()
	ahead := now + int64(200*24*time.Hour)
	writeEvery(t, w, 5, now-int64(3*time.Hour), now-int64(2*time.Hour), 30*time.Second) // older than the hour: goes
	n := writeEvery(t, w, 5, now-int64(50*time.Minute), now-int64(30*time.Minute), 5*time.Second)
	wrong := writeEvery(t, w, 5, ahead, ahead+int64(20*time.Minute), 5*time.Second)
	n += wrong
	n += writeEvery(t, w, 5, now-int64(20*time.Minute), now, 5*time.Second)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := countBySource(t, a)[5]; got != n {
		t.Errorf("source 5: %d of %d records left", got, n)
	}
	if st := w.Stats(); st.Future != uint64(wrong) {
		t.Errorf("writer counted %d records stamped in the future, want %d", st.Future, wrong)
	}
}

// The wall clock steps 200 days forward while the archive is open, and the sensor
// stamps its records with it: those records are counted as stamped in the future, and
// the source's records from before the step are not aged by the wrong clock.
//
// Before the fix (retention trusting the wall clock alone; checked by making
// trustedClock return wall()): "source 5: 121 of 362 records left" and "writer counted
// 1 records stamped in the future, want 121".
func TestRetentionClockStepWhileOpen(t *testing.T) {
	a, w, _ := retentionWriter(t, Retention{MaxAge: time.Hour})
	step := 200 * 24 * time.Hour
	a.now = trustedClock(time.Now(), func() time.Time { return time.Now().Add(step) })
	now := time.Now().UnixNano()
	n := writeEvery(t, w, 5, now-int64(40*time.Minute), now-int64(20*time.Minute), 5*time.Second)
	stepped := writeEvery(t, w, 5, now+int64(step), now+int64(step+10*time.Minute), 5*time.Second)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := countBySource(t, a)[5]; got != n+stepped {
		t.Errorf("source 5: %d of %d records left", got, n+stepped)
	}
	if st := w.Stats(); st.Future != uint64(stepped) {
		t.Errorf("writer counted %d records stamped in the future, want %d", st.Future, stepped)
	}
}

// A record stamped in the future is stored flagged (record.FlagFuture, the filter word
// "future"), the caller's record is left as it was, and a management record written
// after it carries the writer's count (read -s future -- man). Before the flag existed
// the record was stored unmarked and no management record said so.
func TestFutureRecordFlaggedAndCounted(t *testing.T) {
	a, w, _ := retentionWriter(t, Retention{})
	now := time.Now().UnixNano()
	writeEvery(t, w, 3, now, now, time.Second)
	far := record.Record{Kind: record.KindFlow, SrcID: 3, Seq: 2, StartTime: int64(0xFFFFFFFF) * 1e9,
		LastTime: int64(0xFFFFFFFF) * 1e9, Family: 4, Proto: 17}
	if err := w.Write(&far); err != nil {
		t.Fatal(err)
	}
	if far.Flags&record.FlagFuture != 0 {
		t.Error("the caller's record was changed")
	}
	man := record.Record{Kind: record.KindMan, SrcID: 3, Seq: 3, StartTime: now, LastTime: now, Man: &record.Management{PktsSeen: 9}}
	if err := w.Write(&man); err != nil {
		t.Fatal(err)
	}
	if man.Man.Future != 0 {
		t.Error("the caller's management record was changed")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var flagged, plain, future uint64
	for _, r := range collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) }) {
		switch {
		case r.Man != nil:
			future = r.Man.Future
		case r.Flags&record.FlagFuture != 0:
			flagged++
		default:
			plain++
		}
	}
	if flagged != 1 || plain != 1 || future != 1 {
		t.Errorf("%d flagged, %d plain, management record's count %d; want 1, 1, 1", flagged, plain, future)
	}
}
