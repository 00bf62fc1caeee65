package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/internal/binarytest"
)

// copyDir copies a directory tree of regular files.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// run runs the binary (a separate process: a panic or an os.Exit in a library must not
// end the test) and returns stdout, stderr and the exit status.
func runBinary(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

// One byte changed in any file of an archive's index (its tables, manifest, log): no
// command panics or prints more than one line of error; `index verify` reports the
// damage whenever `hosts` or `read` answer differently from the undamaged archive
// (it reads the address index too); and `index rebuild` recreates an index that agrees
// with the segments and answers as before.
//
// Before the fix: hosts, read and verify panicked ("on-disk corruption: ...000011.sst",
// Pebble's fatal log path), and a change the address index alone held went unnoticed by
// verify.
func TestDamagedIndexFile(t *testing.T) {
	bin := binarytest.Build(t)
	clean := filepath.Join(t.TempDir(), "arch")
	for i, c := range []string{"http_ipv6.pcap", "get.pcap"} {
		if _, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", c), "--srcid", fmt.Sprint(i+1), "-w", clean+"/"); code != 0 {
			t.Fatalf("import %s: exit %d: %s", c, code, errs)
		}
	}
	hosts := []string{"hosts", "-R", "ARCH", "141.142.228.5", "2001:6f8:102d:0:2d0:9ff:fee3:e8de"}
	read := []string{"read", "-R", "ARCH", "-n", "-s", "stime,saddr,daddr,pkts,srcid"}
	answer := func(dir string, args []string) (string, string, int) {
		a := append([]string(nil), args...)
		a[2] = dir
		return runBinary(t, bin, a...)
	}
	wantHosts, _, _ := answer(clean, hosts)
	wantRead, _, _ := answer(clean, read)
	files, _ := filepath.Glob(filepath.Join(clean, "index", "*"))
	cases := 0
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || fi.Size() == 0 || strings.HasPrefix(filepath.Base(f), "LOCK") {
			continue
		}
		n := fi.Size()
		offs := []int64{n / 2}
		if strings.HasSuffix(f, ".sst") { // most of the index: its start, middle and end
			offs = []int64{0, n / 3, 2 * n / 3, n - 1}
		}
		for _, off := range offs {
			name := fmt.Sprintf("%s@%d", filepath.Base(f), off)
			dir := filepath.Join(t.TempDir(), "arch")
			copyDir(t, clean, dir)
			b, _ := os.ReadFile(filepath.Join(dir, "index", filepath.Base(f)))
			b[off] ^= 0x01
			os.WriteFile(filepath.Join(dir, "index", filepath.Base(f)), b, 0o644)
			cases++
			changed := false
			for _, args := range [][]string{hosts, read} {
				out, errs, code := answer(dir, args)
				noPanic(t, name+" "+args[0], code, errs)
				want := map[string]string{"hosts": wantHosts, "read": wantRead}[args[0]]
				changed = changed || out != want || code != 0
			}
			vout, verrs, vcode := runBinary(t, bin, "index", "verify", dir)
			noPanic(t, name+" verify", vcode, verrs)
			if changed && vcode == 0 {
				t.Errorf("%s: hosts or read answer differently, and verify says:\n%s", name, vout)
			}
			rout, rerrs, rcode := runBinary(t, bin, "index", "rebuild", dir)
			noPanic(t, name+" rebuild", rcode, rerrs)
			if rcode != 0 {
				t.Errorf("%s: rebuild: exit %d: %s%s", name, rcode, rout, rerrs)
				continue
			}
			if out, errs, code := runBinary(t, bin, "index", "verify", dir); code != 0 {
				t.Errorf("%s: verify after rebuild: exit %d: %s%s", name, code, out, errs)
			}
			if out, _, _ := answer(dir, hosts); out != wantHosts {
				t.Errorf("%s: hosts after rebuild:\n%s\nwant\n%s", name, out, wantHosts)
			}
			if out, _, _ := answer(dir, read); out != wantRead {
				t.Errorf("%s: read after rebuild differs", name)
			}
		}
	}
	if cases < 8 {
		t.Fatalf("only %d damaged files tried", cases)
	}
}

// noPanic fails the test if a command panicked, died of a signal, or printed more than
// one line of error.
func noPanic(t *testing.T, what string, code int, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") || code < 0 || code > 2 {
		t.Errorf("%s: exit %d, stderr:\n%.600s", what, code, stderr)
		return
	}
	if lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n"); code == 2 && len(lines) != 1 {
		t.Errorf("%s: exit 2 with %d lines of error:\n%.600s", what, len(lines), stderr)
	}
}
