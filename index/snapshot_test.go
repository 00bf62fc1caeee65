package index

import (
	"testing"
	"time"

	"panoptes/record"
)

// TestSnapshotAfterWritesStop: a reader of an archive whose writer has stopped writing
// (but runs on, flushing) sees every record flushed, within snapshotEvery. Before
// Flush published snapshots, the blocks written after the last snapshot stayed
// invisible to readers until the next block was written, which for a relay that had
// replayed its files and idled, answering fleet queries, was never.
func TestSnapshotAfterWritesStop(t *testing.T) {
	defer func(d time.Duration) { snapshotEvery = d }(snapshotEvery)
	snapshotEvery = time.Hour // while writing: the first snapshot only
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w := a.NewWriter(5 * time.Minute)
	// Records of one hour, then of a year later: the later ones seal the first
	// segments (publishing a snapshot) and go to a segment created after it.
	recs := genRecords(300, 7)
	recs = recs[:len(recs)-1]
	for i := range 300 {
		r := recs[i]
		r.StartTime += int64(365 * 24 * time.Hour)
		r.LastTime += int64(365 * 24 * time.Hour)
		recs = append(recs, r)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	snapshotEvery = time.Millisecond // ... and now the last one is old
	time.Sleep(2 * snapshotEvery)
	if err := w.Flush(); err != nil { // no new record: the relay's flush each second
		t.Fatal(err)
	}
	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.snapshot {
		t.Fatal("the reader did not open a snapshot: the test does not test it")
	}
	n := 0
	if err := r.Scan(nil, func(*record.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(recs) {
		t.Errorf("a reader sees %d of the %d records flushed", n, len(recs))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotOfANewWriter: a writer that reopens an archive and writes nothing (a
// relay answering fleet queries from it) still gives readers the whole archive, not
// the last snapshot of the writer before it, which predates that one's sealing.
func TestSnapshotOfANewWriter(t *testing.T) {
	defer func(d time.Duration) { snapshotEvery = d }(snapshotEvery)
	snapshotEvery = time.Hour
	dir := t.TempDir()
	recs := genRecords(3000, 9)
	writeArchive(t, dir, recs) // publishes its first snapshot only
	snapshotEvery = time.Millisecond
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w := a.NewWriter(5 * time.Minute)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	if err := r.Scan(nil, func(*record.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(recs) {
		t.Errorf("a reader sees %d of the %d records", n, len(recs))
	}
	w.Close()
}

// TestConcurrentReaders: two readers of an archive no writer holds both read it (Pebble
// locks the index for one process, reader or writer; the second reader used to fail
// with "no snapshot of the index yet"), and while either reads, no writer or rebuild
// starts, which could remove index files under the second, which reads without
// Pebble's lock.
func TestConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	recs := genRecords(2000, 11)
	writeArchive(t, dir, recs)
	count := func(a *Archive) int {
		t.Helper()
		n := 0
		if err := a.Scan(nil, func(*record.Record) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	first, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	if second.snapshot {
		t.Fatal("the second reader read a snapshot")
	}
	if n, m := count(first), count(second); n != len(recs) || m != len(recs) {
		t.Fatalf("the readers see %d and %d records, want %d", n, m, len(recs))
	}
	refused := func(stage string) {
		t.Helper()
		if w, err := Open(dir, Options{}); err == nil {
			w.Close()
			t.Fatalf("%s: a writer opened the archive", stage)
		}
		if _, err := RebuildIndex(dir, Options{}, nil); err == nil {
			t.Fatalf("%s: a rebuild ran", stage)
		}
	}
	refused("both readers open")
	first.Close()
	refused("the second reader open") // it holds no Pebble lock
	if n := count(second); n != len(recs) {
		t.Fatalf("the second reader sees %d records after the refusals, want %d", n, len(recs))
	}
	second.Close()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("a writer after the readers closed: %v", err)
	}
	// And while it writes, a reader reads a snapshot, not the index beside it.
	r, err := Open(dir, Options{ReadOnly: true})
	if err == nil {
		if !r.snapshot {
			t.Error("a reader opened the index a writer holds")
		}
		r.Close()
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}
