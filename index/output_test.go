package index

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"panoptes/record"
)

// writeOutput opens out with OpenOutput, writes n flow records numbered from first
// (in SrcPort) and closes it; the lines OpenOutput logged are returned.
func writeOutput(t *testing.T, out string, first, n int) []string {
	t.Helper()
	var logged []string
	sink, err := OpenOutput(out, io.Discard, OutputOptions{}, func(f string, a ...any) {
		logged = append(logged, fmt.Sprintf(f, a...))
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := record.Record{Kind: record.KindFlow, Proto: 17, SrcPort: uint16(first + i)}
		if err := sink.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return logged
}

// ports reads a stream file and returns its records' SrcPort values and the error
// that ended it (nil at a clean end).
func ports(t *testing.T, path string) ([]int, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := record.NewReader(f, path)
	if err != nil {
		return nil, err
	}
	var got []int
	var r record.Record
	for {
		if err := rd.Read(&r); err != nil {
			if err == io.EOF {
				err = nil
			}
			return got, err
		}
		got = append(got, int(r.SrcPort))
	}
}

func wantPorts(t *testing.T, path string, want []int) {
	t.Helper()
	got, err := ports(t, path)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s holds %v (then %v), want %v", filepath.Base(path), got, err, want)
	}
}

// A sensor restarted with the same -w (and import, relay) opens it with OpenOutput: an
// existing stream file is appended to. Before the fix the second open truncated it:
// [3 4], want [1 2 3 4].
func TestOpenOutputAppends(t *testing.T) {
	out := filepath.Join(t.TempDir(), "flows.pnp")
	writeOutput(t, out, 1, 2)
	writeOutput(t, out, 3, 2)
	wantPorts(t, out, []int{1, 2, 3, 4})
}

// A writer killed mid-record leaves an incomplete record at the end of the file; no
// reader can read it, and records appended after it would be unreadable too. The
// next writer cuts it off (reporting it) and appends after the last complete record.
// Before the fix the file was truncated: [4 5], want [1 2 4 5].
func TestOpenOutputTornTail(t *testing.T) {
	out := filepath.Join(t.TempDir(), "flows.pnp")
	writeOutput(t, out, 1, 3)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(out, fi.Size()-2); err != nil { // record 3 torn
		t.Fatal(err)
	}
	logged := writeOutput(t, out, 4, 2)
	wantPorts(t, out, []int{1, 2, 4, 5})
	if len(logged) != 1 || !strings.Contains(logged[0], "incomplete last record") {
		t.Fatalf("logged %q, want one warning about the incomplete record", logged)
	}
}

// A -w file that is not a record stream, or that another writer holds, is refused and
// left as it was. Before the fix notes.txt was emptied, and the second writer was let
// in and truncated held.pnp: [3], want [1 2 3].
func TestOpenOutputRefuses(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not records\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOutput(text, io.Discard, OutputOptions{}, nil); !errors.Is(err, record.ErrBadMagic) ||
		!strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("-w notes.txt: %v, want a bad-magic error naming it", err)
	}
	if b, _ := os.ReadFile(text); string(b) != "not records\n" {
		t.Errorf("notes.txt now holds %q", b)
	}

	held := filepath.Join(dir, "held.pnp")
	writeOutput(t, held, 1, 2)
	sink, err := OpenOutput(held, io.Discard, OutputOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOutput(held, io.Discard, OutputOptions{}, nil); !errors.Is(err, record.ErrLocked) {
		t.Errorf("a second writer of held.pnp: %v, want ErrLocked", err)
	}
	r := record.Record{Kind: record.KindFlow, SrcPort: 3}
	sink.Write(&r)
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	wantPorts(t, held, []int{1, 2, 3})
}

// A new output file gets the permissions the umask allows; an existing one keeps its
// own (a 0600 file is never opened up). This passed before the fix too (os.Create
// kept both rules); it keeps OpenAppend to them.
func TestOpenOutputPermissions(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	dir := t.TempDir()
	fresh := filepath.Join(dir, "new.pnp")
	writeOutput(t, fresh, 1, 1)
	private := filepath.Join(dir, "private.pnp")
	writeOutput(t, private, 1, 1)
	if err := os.Chmod(private, 0o600); err != nil {
		t.Fatal(err)
	}
	writeOutput(t, private, 2, 1)
	for path, want := range map[string]os.FileMode{fresh: 0o640, private: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", filepath.Base(path), fi.Mode().Perm(), err, want)
		}
	}
}
