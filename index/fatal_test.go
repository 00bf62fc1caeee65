package index

import (
	"errors"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

// TestPebbleFatalIsAnError: where Pebble calls its logger's Fatalf (a commit to the
// index that failed halfway, a file of the index that vanished under a reader), the
// archive's operations return ErrIndexFailed, one line naming the archive and Pebble's
// reason, and every later operation returns it too; the process goes on. Before the
// fix, a writer's Fatalf wrote to stderr and called os.Exit(2) (this test binary ended)
// and a reader's panicked. The call stands for Pebble's: no file system fault makes
// Pebble reach it on demand.
func TestPebbleFatalIsAnError(t *testing.T) {
	dir := t.TempDir()
	recs := genRecords(2000, 5)
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(5 * time.Minute)
	w.blockBytes = 4 << 10
	for i := range recs[:1000] {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	a.fatal.Fatalf("pebble: fatal commit error: %v\n(more detail)", errors.New("write index/000004.log: no space left on device"))
	checkFailed := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrIndexFailed) {
			t.Fatalf("%s: want ErrIndexFailed, got %v", what, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, dir) || !strings.Contains(msg, "no space left on device") {
			t.Fatalf("%s: want one line naming %s and Pebble's reason, got %q", what, dir, msg)
		}
	}
	checkFailed("write", w.Write(&recs[1000]))
	checkFailed("flush", w.Flush())
	checkFailed("query", a.Scan(nil, func(*record.Record) error { return nil }))
	_, err = a.Verify()
	checkFailed("verify", err)
	checkFailed("writer close", w.Close())
	checkFailed("close", a.Close())

	// The next open recovers what the writer left: every flushed record is there.
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if len(got) < 1000 {
		t.Fatalf("%d records after reopening, 1000 were flushed", len(got))
	}
	a.Close()

	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r.fatal.Fatalf("file %s does not exist", "index/000012.sst")
	err = r.Scan(nil, func(*record.Record) error { return nil })
	if !errors.Is(err, ErrIndexFailed) || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("reader: want ErrIndexFailed saying the index could not be read, got %v", err)
	}
	if _, err := r.Host(recs[0].Addr(true)); !errors.Is(err, ErrIndexFailed) {
		t.Fatalf("host: want ErrIndexFailed, got %v", err)
	}
	r.Close()
}
