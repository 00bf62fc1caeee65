// Package peer finds the programs and captures tests compare Panoptes with.
//
// A missing peer (argus, ra, nats-server, softflowd, tcpreplay...) or a missing shared
// capture corpus skips a test on a developer's machine, but with the CI environment
// variable set it fails the test: CI installs every peer, so a missing one there means
// a comparison that silently stopped running.
package peer

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// InCI reports whether the tests run under CI (the CI variable is set and not "false").
func InCI() bool {
	v, ok := os.LookupEnv("CI")
	return ok && v != "" && v != "false" && v != "0"
}

// Need returns the path of program, or ends the test: a failure under CI, a skip
// elsewhere. pkg names the Debian package that provides it.
func Need(t testing.TB, program, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	Missing(t, "%s is not installed (apt-get install %s)", program, pkg)
	return ""
}

// Missing ends the test for a missing peer or file: a failure under CI, a skip elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Root returns the repository's root directory: the nearest parent of the working
// directory (a package directory, under go test) that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// CorpusDir returns the shared capture corpus (PANOPTES_CORPUS, else ../shared/pcaps
// beside the repository) and whether it is present. Tests that can run on fewer
// captures fall back to the repository's testdata/ when it is not.
func CorpusDir(t testing.TB) (string, bool) {
	t.Helper()
	dir := os.Getenv("PANOPTES_CORPUS")
	if dir == "" {
		dir = filepath.Join(Root(t), "..", "shared", "pcaps")
	}
	st, err := os.Stat(dir)
	return dir, err == nil && st.IsDir()
}

// Capture returns the path of a capture: from the shared corpus when present, else
// from the repository's testdata/, else the test ends as for a missing peer.
func Capture(t testing.TB, name string) string {
	t.Helper()
	if dir, ok := CorpusDir(t); ok {
		if p := filepath.Join(dir, name); exists(p) {
			return p
		}
	}
	if p := filepath.Join(Root(t), "testdata", name); exists(p) {
		return p
	}
	Missing(t, "capture %s is neither in the shared corpus nor in testdata/", name)
	return ""
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
