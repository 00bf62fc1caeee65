package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"panoptes/record"
)

// firstSegment returns the path of the first sealed segment file under dir.
func firstSegment(t *testing.T, dir string) string {
	t.Helper()
	var seg string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && seg == "" && strings.HasSuffix(p, ".seg") {
			seg = p
		}
		return nil
	})
	if seg == "" {
		t.Fatal("no segment written")
	}
	return seg
}

// newerSegment returns a copy of segment b claiming a segment version one past ours.
func newerSegment(b []byte) []byte {
	c := bytes.Clone(b)
	c[4] = segVersion + 1
	return c
}

// newerStreamHeader returns a copy of segment b whose record stream header (after the
// segment's own) claims a stream version one past ours.
func newerStreamHeader(b []byte) []byte {
	c := bytes.Clone(b)
	c[segHeaderSize+4] = record.Version + 1
	return c
}

// TestNewerSegmentIsNeverDamage: a segment written by a newer panoptes (a version byte
// past ours) is refused with one line naming it and both versions, and no repair path
// treats it as damage: recovery of an unsealed or orphan segment, a rebuild and a
// verify --repair leave its bytes as they were. Before the fix, recovery removed it
// (its header "did not read" and no block of ours followed) or truncated it to byte 0,
// and a rebuild truncated it at byte 0.
func TestNewerSegmentIsNeverDamage(t *testing.T) {
	cases := []struct {
		name string
		// plant puts the newer segment into the archive and returns its path.
		plant func(t *testing.T, dir, seg string, newer []byte) string
		// run is the repair (or read) path.
		run func(dir string) error
		// newer makes the newer segment from one of ours.
		newer func([]byte) []byte
	}{
		{"unsealed-recovered-on-open", plantTmp, openWritable, newerSegment},
		{"orphan-recovered-on-open", plantOrphan, openWritable, newerSegment},
		{"sealed-rebuild", plantSealed, rebuild, newerSegment},
		{"unsealed-rebuild", plantTmp, rebuild, newerSegment},
		{"sealed-verify-repair", plantSealed, verifyRepair, newerSegment},
		{"sealed-query", plantSealed, scanReadOnly, newerSegment},
		{"unsealed-query", plantTmp, scanReadOnly, newerSegment},
		{"stream-header-recovered-on-open", plantTmp, openWritable, newerStreamHeader},
		{"stream-header-rebuild", plantSealed, rebuild, newerStreamHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeArchive(t, dir, genRecords(300, 21))
			seg := firstSegment(t, dir)
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			newer := tc.newer(b)
			ours := segVersion // the version the message must name, and the one past it
			if strings.HasPrefix(tc.name, "stream-header") {
				ours = record.Version
			}
			path := tc.plant(t, dir, seg, newer)
			err = tc.run(dir)
			if !errors.Is(err, ErrNewer) {
				t.Errorf("want ErrNewer, got %v", err)
			} else if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, filepath.Base(path)) ||
				!strings.Contains(msg, fmt.Sprintf("version %d", ours+1)) || !strings.Contains(msg, fmt.Sprintf("reads up to %d", ours)) {
				t.Errorf("want one line naming %s and both versions, got %q", filepath.Base(path), msg)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("the newer segment is gone: %v", err)
			}
			if !bytes.Equal(got, newer) {
				t.Fatalf("the newer segment changed: %d bytes, was %d", len(got), len(newer))
			}
		})
	}
}

func plantSealed(t *testing.T, dir, seg string, newer []byte) string {
	if err := os.WriteFile(seg, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	return seg
}

// plantTmp leaves the segment unsealed in the index and on disk, as a writer that died.
func plantTmp(t *testing.T, dir, seg string, newer []byte) string {
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	segs, err := a.segments()
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(dir, seg)
	var s segment
	for _, x := range segs {
		if x.path == rel {
			s = x
		}
	}
	s.sealed = false
	if err := a.db.Set(segKey(s.id), encodeSegment(&s), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	a.Close()
	tmp := filepath.Join(dir, tmpPath(rel))
	os.Remove(seg)
	if err := os.WriteFile(tmp, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	return tmp
}

// plantOrphan adds an unsealed segment file the index does not list.
func plantOrphan(t *testing.T, dir, seg string, newer []byte) string {
	p := filepath.Join(filepath.Dir(seg), ".23.59.00-900.seg.tmp")
	if err := os.WriteFile(p, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openWritable(dir string) error {
	a, err := Open(dir, Options{})
	if err == nil {
		a.Close()
	}
	return err
}

func scanReadOnly(dir string) error {
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Scan(nil, func(*record.Record) error { return nil })
}

func rebuild(dir string) error {
	_, err := RebuildIndex(dir, Options{}, nil)
	return err
}

func verifyRepair(dir string) error {
	var out strings.Builder
	return Main([]string{"verify", "--repair", dir}, nil, &out, &out)
}

// TestNewerIndexRefused: an index whose format version is past ours is refused, by
// readers and writers, with one line naming the index and both versions; and a writer
// does not overwrite the version (before the fix, Open wrote its own version over it).
func TestNewerIndexRefused(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, genRecords(50, 3))
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.db.Set([]byte("mversion"), binary.BigEndian.AppendUint32(nil, indexVersion+1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	a.Close()
	for _, ro := range []bool{true, false} {
		_, err := Open(dir, Options{ReadOnly: ro})
		if !errors.Is(err, ErrNewer) {
			t.Fatalf("read-only %v: want ErrNewer, got %v", ro, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, filepath.Join(dir, "index")) ||
			!strings.Contains(msg, fmt.Sprintf("version %d", indexVersion+1)) || !strings.Contains(msg, fmt.Sprintf("reads up to %d", indexVersion)) {
			t.Errorf("want one line naming the index and both versions, got %q", msg)
		}
	}
}
