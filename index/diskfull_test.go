package index

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"panoptes/internal/tmpfstest"
	"panoptes/record"
)

// Disk full: "a clear error, the archive stays readable, nothing acknowledged is lost."
// The tests mount a small tmpfs, so they need root (CI runs as root); the writer runs in
// a child process so that a child that hangs is killed by the parent's deadline instead
// of hanging the test (Pebble's fatal errors are ErrIndexFailed, returned by the writer).

// childTimeout bounds a disk-full writer: past it, the writer is taken to hang.
const childTimeout = 20 * time.Second

// runDiskFullChild runs TestDiskFullWriterChild on dir, leaving leave bytes free after
// opening, and returns what the child reported flushed, its error line and its exit.
func runDiskFullChild(t *testing.T, dir string, c diskFullCase) (flushed []int, stdout, stderr string, exitCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDiskFullWriterChild$", "-test.v")
	cmd.Env = append(os.Environ(), "PANOPTES_DISKFULL_CHILD="+dir, "PANOPTES_DISKFULL_LEAVE="+strconv.FormatInt(c.leave, 10),
		"PANOPTES_DISKFULL_SPAN="+c.span.String(), "PANOPTES_DISKFULL_BLOCK="+strconv.Itoa(c.blockBytes))
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var outb strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		outb.WriteString(line + "\n")
		if n, err := strconv.Atoi(strings.TrimPrefix(line, "flushed ")); err == nil {
			flushed = append(flushed, n)
		}
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the writer hung on a full disk (killed after %v); stdout:\n%s\nstderr:\n%s", childTimeout, tail(outb.String()), tail(errb.String()))
	}
	exitCode = cmd.ProcessState.ExitCode()
	_ = err
	return flushed, outb.String(), errb.String(), exitCode
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// TestDiskFullWriterChild is the child of the disk-full tests: it opens the archive
// (with room), fills the disk but for PANOPTES_DISKFULL_LEAVE bytes, and writes records
// until the archive refuses one, printing after each Flush that succeeded how many
// records are acknowledged; then it closes as the CLI does and exits with the CLI's
// status for the error.
func TestDiskFullWriterChild(t *testing.T) {
	dir := os.Getenv("PANOPTES_DISKFULL_CHILD")
	if dir == "" {
		t.Skip("runs only as a child of the disk-full tests")
	}
	leave, _ := strconv.ParseInt(os.Getenv("PANOPTES_DISKFULL_LEAVE"), 10, 64)
	a, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	tmpfstest.Fill(t, filepath.Dir(dir), leave)
	span, _ := time.ParseDuration(os.Getenv("PANOPTES_DISKFULL_SPAN"))
	w := a.NewWriter(span)
	w.blockBytes, _ = strconv.Atoi(os.Getenv("PANOPTES_DISKFULL_BLOCK"))
	recs := genRecords(400000, 11)
	fail := func(err error) {
		fmt.Printf("error %v\n", err)
		if cerr := w.Close(); cerr != nil {
			fmt.Printf("close %v\n", cerr)
		}
		if cerr := a.Close(); cerr != nil {
			fmt.Printf("close index %v\n", cerr)
		}
		os.Exit(2)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			fail(err)
		}
		if i%500 == 499 {
			if err := w.Flush(); err != nil {
				fail(err)
			}
			fmt.Printf("flushed %d\n", i+1)
		}
	}
	fmt.Println("never ran out of space")
	os.Exit(4)
}

// TestDiskFullWriter fills the disk under a writer at several points (before the first
// segment header, after a few blocks, after many) and checks the archive issue's
// promise: the writer stops with one clear error naming the archive or file and "no
// space left on device" (exit status 2, no panic, no hang); once space is freed the
// archive opens, the index agrees with the segments, every record of every Flush that
// returned nil is there (and nothing else), and writing appends again.
func TestDiskFullWriter(t *testing.T) {
	for _, tc := range diskFullCases {
		t.Run(tc.name, func(t *testing.T) {
			mnt := tmpfstest.Mount(t, 80<<20)
			dir := filepath.Join(mnt, "archive")
			flushed, out, errs, code := runDiskFullChild(t, dir, tc)
			if code != 2 {
				t.Fatalf("the writer exited with status %d, want 2; stdout:\n%s\nstderr:\n%s", code, tail(out), tail(errs))
			}
			if strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine ") {
				t.Fatalf("the writer panicked on a full disk:\n%s", tail(errs))
			}
			// The first error is what the user sees: the writer's (the CLI prints it),
			// ErrIndexFailed if Pebble gave up first.
			first := firstError(out, errs)
			if !strings.Contains(first, "no space left on device") || !strings.Contains(first, dir) || strings.Contains(first, "\n") {
				t.Fatalf("want one line naming %s and \"no space left on device\", got %q", dir, first)
			}
			acked := 0
			if len(flushed) > 0 {
				acked = flushed[len(flushed)-1]
			}
			t.Logf("%d records acknowledged before: %s", acked, first)

			os.Remove(filepath.Join(mnt, "ballast"))
			checkAfterDiskFull(t, dir, acked)
		})
	}
}

// diskFullCase is where a disk-full writer runs out of space.
type diskFullCase struct {
	name       string
	leave      int64         // bytes left free after the writer opened the archive
	span       time.Duration // segment span
	blockBytes int           // records per block, in bytes
}

var diskFullCases = []diskFullCase{
	// Where each runs out (on a tmpfs, which allocates whole pages): the first segment's
	// header; a block, after tens of flushes; Pebble's log, after a few (the writer returns
	// ErrIndexFailed).
	{"no-room-for-a-segment", 0, time.Minute, 8 << 10},
	{"full-in-a-block", 1 << 20, time.Hour, 256 << 10},
	{"full-in-the-index", 1 << 20, time.Minute, 8 << 10},
	{"full-after-many-segments", 3 << 20, time.Minute, 8 << 10},
}

// firstError returns the first error line the disk-full child printed (the library
// prints nothing itself: stderr holds only what the test framework wrote).
func firstError(stdout, _ string) string {
	for _, l := range strings.Split(stdout, "\n") {
		if e, ok := strings.CutPrefix(l, "error "); ok {
			return e
		}
	}
	return ""
}

// checkAfterDiskFull checks an archive whose writer ran out of space, once space is
// free again: readable as it is (as `index verify` and queries open it), recovered by
// the next writer, with every acknowledged record and no other, and appendable.
func checkAfterDiskFull(t *testing.T, dir string, acked int) {
	t.Helper()
	recs := genRecords(400000, 11) // what the child wrote, in order; Seq is the position + 1
	check := func(a *Archive, stage string) int {
		t.Helper()
		// Before recovery verify reports what the stopped writer left unsealed (and any
		// block it wrote but did not index), and nothing else.
		d, err := a.Verify()
		if err != nil || slices.ContainsFunc(d, func(l string) bool { return !strings.Contains(l, "unsealed") }) ||
			!a.readOnly && len(d) != 0 {
			t.Fatalf("%s: the index and the segments disagree: %v %v", stage, d, err)
		}
		got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
		seen := map[uint32]bool{}
		for i := range got {
			r := &got[i]
			if r.SrcID >= 100 {
				continue // appended after the disk was full again
			}
			if seen[r.Seq] || r.Seq == 0 || int(r.Seq) > len(recs) || !reflect.DeepEqual(*r, recs[r.Seq-1]) {
				t.Fatalf("%s: record seq %d is not one the writer wrote, or twice: %+v", stage, r.Seq, *r)
			}
			seen[r.Seq] = true
		}
		for seq := 1; seq <= acked; seq++ {
			if !seen[uint32(seq)] {
				t.Fatalf("%s: record %d was acknowledged (flushed) before the disk filled, and is missing; %d of %d there",
					stage, seq, len(seen), acked)
			}
		}
		return len(got)
	}

	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("opening for reading after the disk was full: %v", err)
	}
	closeRO := closeLater(t, ro)
	check(ro, "read-only, before recovery")
	if err := closeRO(); err != nil {
		t.Fatal(err)
	}

	var notes []string
	a, err := Open(dir, Options{Logf: func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }})
	if err != nil {
		t.Fatalf("reopening for writing after space was freed: %v", err)
	}
	closeA := closeLater(t, a)
	before := check(a, "reopened for writing")
	more := genRecords(2000, 12)
	w := a.NewWriter(time.Minute)
	for i := range more {
		more[i].SrcID += 100
		if err := w.Write(&more[i]); err != nil {
			t.Fatalf("appending after space was freed: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("appending after space was freed: %v", err)
	}
	after := check(a, "after appending")
	if after != before+len(more) {
		t.Fatalf("appending %d records took the archive from %d to %d", len(more), before, after)
	}
	if err := closeA(); err != nil {
		t.Fatal(err)
	}
	t.Logf("recovery notes: %q", notes)
}

// closeLater returns a's Close, which the test calls, and also runs if the test ends
// first (a failed check), so that the tmpfs under a can be unmounted.
func closeLater(t *testing.T, a *Archive) func() error {
	closed := false
	closeOnce := func() error {
		if closed {
			return nil
		}
		closed = true
		return a.Close()
	}
	t.Cleanup(func() { closeOnce() })
	return closeOnce
}

// TestNearlyFullDiskRefused: opening an archive for writing on a file system with less
// than minFreeToWrite free is refused up front with one line naming the archive (Pebble
// would retry its writes forever); reading it still works.
func TestNearlyFullDiskRefused(t *testing.T) {
	mnt := tmpfstest.Mount(t, 80<<20)
	dir := filepath.Join(mnt, "archive")
	writeArchive(t, dir, genRecords(1000, 13))
	tmpfstest.Fill(t, mnt, minFreeToWrite/2)
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "archive "+dir+": only ") || !strings.Contains(err.Error(), "writing needs at least") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("opening for writing with %d bytes free: want a one-line refusal naming %s, got %v", tmpfstest.Free(t, mnt), dir, err)
	}
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("reading a full archive: %v", err)
	}
	defer a.Close()
	if got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) }); len(got) != 1001 {
		t.Fatalf("read %d records from a full archive, wrote 1001", len(got))
	}
}
