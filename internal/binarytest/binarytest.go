// Package binarytest runs the panoptes binary in end-to-end tests: it builds it once per
// test binary, starts commands as separate processes (so that they can be signalled and
// can serve each other over the network, as in production), waits for their stderr to
// say something, and reads record files back for exact comparison.
package binarytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"panoptes/record"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// Build builds panoptes/cmd/panoptes, once per test binary, and returns its path. The
// binary is kept at one path per test package under the temporary directory, replaced
// atomically by each build, so that test runs leave one binary behind, not one each.
func Build(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.path, build.err = buildOnce() })
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func buildOnce() (string, error) {
	dir := filepath.Join(os.TempDir(), "panoptes-e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "panoptes")
	if out, err := exec.Command("go", "build", "-o", built, "panoptes/cmd/panoptes").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build panoptes/cmd/panoptes: %v: %s", err, out)
	}
	path := filepath.Join(dir, "panoptes-for-"+filepath.Base(os.Args[0]))
	return path, os.Rename(built, path)
}

// Proc is a panoptes process a test started.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdout SyncBuffer
	stderr SyncBuffer
	done   chan struct{}
	code   int
}

// SyncBuffer is a bytes.Buffer that one goroutine (a process's output copier, a
// command's logger) writes while the test reads it. The zero value is ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what has been written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs bin with args. A process still running at cleanup is killed; a failed
// test logs its stderr.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: "panoptes " + args[0], cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "RARC=") // the tools never read the developer's ~/.rarc
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %s\nstderr:\n%s", p.name, strings.Join(args[1:], " "), p.stderr.String())
		}
	})
	return p
}

// Wait waits for the process to exit and returns its exit status; a process that
// does not exit in time is killed and fails the test.
func (p *Proc) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	return -1
}

// Interrupt sends SIGINT, as Ctrl-C or a service manager would, and waits for the exit.
func (p *Proc) Interrupt(timeout time.Duration) int {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	return p.Wait(timeout)
}

// Signal sends sig to the process (SIGSTOP and SIGCONT stall and resume it).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stdout and Stderr are what the process printed so far.
func (p *Proc) Stdout() string { return p.stdout.String() }
func (p *Proc) Stderr() string { return p.stderr.String() }

// WaitStderr waits until the process's stderr matches re and returns the submatches.
func (p *Proc) WaitStderr(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		if p.Exited() {
			p.t.Fatalf("%s exited (status %d) before its stderr matched %q", p.name, p.code, re)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: stderr did not match %q within %v", p.name, re, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ServingRE matches the line a sensor or relay prints once -P listens; [1] is HOST:PORT.
var ServingRE = regexp.MustCompile(`serving records on (\S+)`)

// OneLineError checks that a command failed with exit status 2 and printed exactly one
// line, containing each of want.
func OneLineError(t testing.TB, what string, code int, stderr string, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if code != 2 || len(lines) != 1 {
		t.Errorf("%s: exit %d with %d stderr lines, want 2 and one line:\n%s", what, code, len(lines), stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("%s: %q does not say %q", what, lines[0], w)
		}
	}
}

// Records reads a record stream file and returns each record's encoding, so that two
// streams compare exactly, field for field, and records can be located in another
// stream. A file that does not end cleanly fails the test.
func Records(t testing.TB, path string) []string {
	t.Helper()
	recs, err := readRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Count counts the complete records in a stream file that may still be being written
// (0 if it does not exist yet).
func Count(path string) int {
	recs, _ := readRecords(path)
	return len(recs)
}

func readRecords(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := record.NewReader(f, path)
	if err != nil {
		return nil, err
	}
	var out []string
	var r record.Record
	for {
		err := rd.Read(&r)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(record.AppendRecord(nil, &r)))
	}
}

// Decode turns an encoding from Records back into a record.
func Decode(t testing.TB, enc string) record.Record {
	t.Helper()
	rd, err := record.NewReader(bytes.NewReader(append(record.AppendHeader(nil), enc...)), "record")
	if err != nil {
		t.Fatal(err)
	}
	var r record.Record
	if err := rd.Read(&r); err != nil {
		t.Fatal(err)
	}
	if r.Man != nil { // the reader reuses its management counters
		m := *r.Man
		r.Man = &m
	}
	return r
}

// Same fails the test unless got and want are the same non-empty list of records.
func Same(t testing.TB, what string, got, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the reference has no records", what)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d of %d differs from the reference:\n got  %s\n want %s", what, i, len(got), got[i], want[i])
		}
	}
}
