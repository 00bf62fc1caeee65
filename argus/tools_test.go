package argus_test

import (
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestToolsReadArgusFiles: -r takes Argus files by their magic, plain or gzipped, mixed
// with Panoptes streams, in order; import refuses one with a pointer to read.
func TestToolsReadArgusFiles(t *testing.T) {
	bin := panoptesBin(t)
	dir := t.TempDir()
	argusFile := "testdata/443-curl.argus"
	// A gzipped copy of the other Argus file.
	raw, err := os.ReadFile("testdata/5-pings.argus")
	if err != nil {
		t.Fatal(err)
	}
	gzFile := filepath.Join(dir, "pings.argus.gz")
	f, _ := os.Create(gzFile)
	zw := gzip.NewWriter(f)
	zw.Write(raw)
	zw.Close()
	f.Close()
	// A Panoptes stream of the same Argus records (read -w).
	pnp := filepath.Join(dir, "curl.pnp")
	if out, err := exec.Command(bin, "read", "-r", argusFile, "-w", pnp).CombinedOutput(); err != nil {
		t.Fatalf("read -w: %v %s", err, out)
	}
	out, err := exec.Command(bin, "read", "-r", argusFile, "-r", gzFile, "-r", pnp, "-n", "-L", "-1", "-c", ",", "-s", "proto,saddr,daddr,spkts,dpkts").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(string(out))
	lines := strings.Split(got, "\n")
	if len(lines) != 3+7+3 {
		t.Fatalf("%d records, want 13 (3 + 7 + 3):\n%s", len(lines), got)
	}
	if lines[1] != "6,192.168.1.13,178.62.197.130,51,58" || lines[11] != lines[1] {
		t.Errorf("records:\n%s", got)
	}
	// count and the filter read Argus records like any others.
	out, err = exec.Command(bin, "read", "-r", gzFile, "-n", "-L", "-1", "-s", "proto", "--", "icmp").Output()
	if err != nil || strings.Count(string(out), "\n") != 5 {
		t.Errorf("filter icmp on the gzipped file: %v\n%s", err, out)
	}
	// import points to read.
	msg, err := exec.Command(bin, "import", "-r", argusFile, "-w", filepath.Join(dir, "x.pnp")).CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "panoptes read -r") {
		t.Errorf("import of an Argus file: %v %s", err, msg)
	}
}

// TestDamagedFileWarns: a cut file gives its records and one warning naming the file
// and the byte offset.
func TestDamagedFileWarns(t *testing.T) {
	bin := panoptesBin(t)
	raw, _ := os.ReadFile("testdata/443-curl.argus")
	cut := filepath.Join(t.TempDir(), "cut.argus")
	os.WriteFile(cut, raw[:300], 0o644)
	cmd := exec.Command(bin, "read", "-r", cut, "-L", "-1", "-s", "spkts")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v %s", err, stderr.String())
	}
	if n := strings.Count(string(out), "\n"); n != 1 {
		t.Errorf("%d records before the cut, want 1 (the MAR)", n)
	}
	if w := stderr.String(); strings.Count(w, "warning") != 1 || !strings.Contains(w, "cut.argus") || !strings.Contains(w, "at byte 128") {
		t.Errorf("warning: %q", w)
	}
}
