package index

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/internal/cli"
)

// `index rebuild` recreates a lost index from the segments, but refuses a directory
// that holds neither an index nor a segment, rather than making an archive of it.
func TestMainRebuildNeedsAnArchive(t *testing.T) {
	empty := t.TempDir()
	var out, errb bytes.Buffer
	err := Main([]string{"rebuild", empty}, nil, &out, &errb)
	var usage *cli.UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "not an archive directory") {
		t.Fatalf("rebuild of an empty directory: %v, want a usage error", err)
	}
	if _, err := os.Stat(filepath.Join(empty, "index")); !os.IsNotExist(err) {
		t.Fatalf("rebuild of an empty directory created an index there (%v)", err)
	}

	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(0)
	recs := genRecords(100, 5)
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	if err := Main([]string{"rebuild", dir}, nil, &out, &errb); err != nil {
		t.Fatalf("rebuild of an archive without its index: %v", err)
	}
	if err := Main([]string{"verify", dir}, nil, &out, &errb); err != nil {
		t.Fatalf("verify after rebuild: %v\n%s", err, errb.String())
	}
}
