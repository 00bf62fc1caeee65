package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/internal/peer"
)

// TestManPages generates the man pages as `make man` does and renders each with groff
// and man, as lintian does: no warning from either. Every command has its page, with its
// flags.
func TestManPages(t *testing.T) {
	peer.Need(t, "groff", "groff-base")
	peer.Need(t, "man", "man-db")
	dir := t.TempDir()
	if err := manPages(dir); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join("man1", "panoptes.1"), filepath.Join("man7", "panoptes-filter.7")}
	for _, n := range names() {
		want = append(want, filepath.Join("man1", "panoptes-"+n+".1"))
	}
	for _, p := range want {
		path := filepath.Join(dir, p)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("no page %s: %v", p, err)
			continue
		}
		for _, argv := range [][]string{
			{"groff", "-man", "-Tutf8", "-ww", "-z", path},
			{"man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path},
		} {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=80")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("%s: %v: %s", strings.Join(argv, " "), err, stderr.String())
			}
		}
	}
	// The page says what --help says: read's flags and their descriptions.
	cmd := exec.Command("man", "-l", filepath.Join(dir, "man1", "panoptes-read.1"))
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=200")
	page, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"panoptes-read - read, filter and print flow records (ra)", "-s, --fields FIELDS", "print one JSON object per record", "(default: 6)", "panoptes-filter(7)"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("panoptes-read(1) lacks %q:\n%s", s, page)
		}
	}
}
