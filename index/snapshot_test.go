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
