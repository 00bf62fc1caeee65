package index

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// An index entry planted to name a file outside the archive ("../victim/precious.txt",
// sealed, span 1970) is not deleted by retention, and retention goes on with the
// segments that are the archive's.
//
// Before the fix: retention deleted ../victim/precious.txt ("victim: stat ...: no such
// file or directory").
func TestRetentionStaysInsideArchive(t *testing.T) {
	root := t.TempDir()
	victim := filepath.Join(root, "victim", "precious.txt")
	if err := os.MkdirAll(filepath.Dir(victim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Open(filepath.Join(root, "arch"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var notes []string
	a.logf = func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }
	planted := segment{id: 1 << 40, srcid: 4, span: 0, sealed: true, path: "../victim/precious.txt"}
	if err := a.db.Set(segKey(planted.id), encodeSegment(&planted), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(5 * time.Minute)
	w.SetRetention(Retention{MaxAge: time.Hour})
	now := time.Now().UnixNano()
	writeEvery(t, w, 4, now-int64(3*time.Hour), now, 10*time.Second)
	if err := w.Close(); err != nil {
		t.Fatalf("the writer stopped: %v", err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("victim: %v", err)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "retention removed") {
		t.Errorf("retention removed none of the archive's own old segments: %q", notes)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "precious.txt") {
		t.Errorf("no note of the index entry naming a file outside the archive: %q", notes)
	}
}

// A segment path from the index that leaves the archive is refused by a query, with one
// line naming it, and nothing outside is read.
//
// Before the fix: "query through a path outside the archive: <nil>" (it read the file).
func TestQueryRefusesPathOutsideArchive(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, genRecords(200, 5))
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	segs, err := a.segments()
	if err != nil || len(segs) == 0 {
		t.Fatalf("%d segments, %v", len(segs), err)
	}
	s := segs[0]
	s.path = filepath.Join("..", filepath.Base(dir), s.path) // the same file, reached from outside
	if err := a.db.Set(segKey(s.id), encodeSegment(&s), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	err = a.Scan(nil, func(*record.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), s.path) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("query through a path outside the archive: %v", err)
	}
	t.Log(err)
}

// makeTornCopy copies a sealed segment of dir to dst with junk appended (a torn block
// that a rebuild would cut off) and returns the copy's contents.
func makeTornCopy(t *testing.T, dir, dst string) []byte {
	t.Helper()
	var seg string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && seg == "" && strings.HasSuffix(p, ".seg") {
			seg = p
		}
		return nil
	})
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, bytes.Repeat([]byte{0xAB}, 100)...)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// `index rebuild` meets a symlink named like a segment being written
// (".HH.MM.SS-ID.seg.tmp") that points at a file outside the archive: it leaves the
// target alone (as root it truncated it) and rebuilds from the archive's own segments.
//
// Before the fix: "the symlink's target was changed: 966 bytes, was 1066".
func TestRebuildDoesNotFollowSymlinks(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "arch")
	writeArchive(t, dir, genRecords(300, 7))
	target := filepath.Join(root, "victim.bin")
	want := makeTornCopy(t, dir, target)
	link := filepath.Join(dir, "1", "2026", "11", "27", ".10.00.00-999.seg.tmp")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Rebuild(nil); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, want) {
		t.Fatalf("the symlink's target was changed: %d bytes, was %d", len(got), len(want))
	}
	segs, _ := a.segments()
	for _, s := range segs {
		if s.id == 999 {
			t.Errorf("the rebuilt index lists the symlink as segment %s", s.path)
		}
	}
}

// A directory of the archive replaced by a symlink to a directory outside: the writer
// does not create its segment there.
//
// Before the fix: "a segment was created outside the archive: .../outside/11/27/10.00.00-1.seg".
func TestWriterDoesNotFollowSymlinkedDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "arch")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{filepath.Join(dir, "1"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "1", "2026")); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w := a.NewWriter(5 * time.Minute)
	recs := genRecords(50, 3)
	for i := range recs {
		recs[i].SrcID = 1
		if w.Write(&recs[i]) != nil {
			break
		}
	}
	err = w.Close()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "1", "2026")) || strings.Contains(err.Error(), "\n") {
		t.Errorf("writing through a symlinked directory: %v; want one line naming it", err)
	}
	t.Log(err)
	filepath.WalkDir(outside, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Fatalf("a segment was created outside the archive: %s", p)
		}
		return nil
	})
}

// An unsealed index entry planted to name a file outside the archive does not stop the
// archive from opening, and the file is neither truncated nor renamed.
//
// Before the fix: "the planted entry's file was changed: 0 bytes, was 953" (recovery
// cut its torn tail and renamed it to ../victim.seg).
func TestRecoverLeavesPathOutsideArchive(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "arch")
	writeArchive(t, dir, genRecords(100, 11))
	target := filepath.Join(root, ".victim.seg.tmp")
	want := makeTornCopy(t, dir, target)
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	planted := segment{id: 1 << 40, srcid: 4, span: 0, path: "../victim.seg"}
	err = a.db.Set(segKey(planted.id), encodeSegment(&planted), pebble.Sync)
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	if a, err = Open(dir, Options{}); err != nil {
		t.Fatalf("open with a planted index entry: %v", err)
	}
	a.Close()
	if got, _ := os.ReadFile(target); !bytes.Equal(got, want) {
		t.Fatalf("the planted entry's file was changed: %d bytes, was %d", len(got), len(want))
	}
}

// The archive's snapshots directory replaced by a symlink to a directory elsewhere: the
// writer neither prunes (deletes) what is there nor stops writing.
//
// Before the fix: "outside/00000000000000000001 was deleted" (pruned as an old snapshot).
func TestSnapshotsSymlinkIsNotPruned(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "arch")
	outside := filepath.Join(root, "outside")
	old := time.Now().Add(-time.Hour)
	var victims []string
	for i := 1; i <= 5; i++ {
		v := filepath.Join(outside, fmt.Sprintf("%020d", i))
		if err := os.MkdirAll(v, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(v, old, old)
		victims = append(victims, v)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "snapshots")); err != nil {
		t.Fatal(err)
	}
	var notes []string
	a, err := Open(dir, Options{Logf: func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w := a.NewWriter(5 * time.Minute)
	w.blockBytes = 1 << 10
	recs := genRecords(200, 13)
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatalf("the writer stopped: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("the writer stopped: %v", err)
	}
	for _, v := range victims {
		if _, err := os.Stat(v); err != nil {
			t.Fatalf("%s was deleted: %v", v, err)
		}
	}
	if !strings.Contains(strings.Join(notes, "\n"), "snapshots") {
		t.Errorf("no note of the symlinked snapshots directory: %q", notes)
	}
}

// The archive's index directory replaced by a symlink: opening the archive fails with
// one line naming it, and nothing is written through the symlink.
//
// Before the fix: the archive opened and Pebble wrote its files into the symlink's
// target ("outside holds 8 files").
func TestIndexSymlinkIsRefused(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "arch")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir, Options{})
	if err == nil {
		a.Close()
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("outside holds %d files", len(ents))
	}
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "index")) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("open with a symlinked index: %v; want one line naming it", err)
	}
	t.Log(err)
}

// A file outside the archive hard-linked in as a segment being written: opening the
// archive for writing (which recovers unsealed segments) and `index rebuild` refuse to
// truncate it, with one line naming it, instead of cutting the shared file.
//
// Before the fix: "the hard link's other name was changed: 966 bytes, was 1066".
func TestRebuildDoesNotTruncateHardLinks(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "arch")
	writeArchive(t, dir, genRecords(300, 7))
	target := filepath.Join(root, "victim.bin")
	want := makeTornCopy(t, dir, target)
	link := filepath.Join(dir, "1", "2026", "11", "27", ".10.00.00-999.seg.tmp")
	if err := os.Link(target, link); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	// Opening for writing recovers unsealed segments (and would cut the torn block);
	// rebuild scans them again.
	a, err := Open(dir, Options{})
	if err == nil {
		_, err = a.Rebuild(nil)
		a.Close()
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, want) {
		t.Fatalf("the hard link's other name was changed: %d bytes, was %d", len(got), len(want))
	}
	if err == nil || !strings.Contains(err.Error(), link) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("rebuild: %v; want one line naming %s", err, link)
	}
	t.Log(err)
}
