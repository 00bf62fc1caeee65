// Package goldentest compares test output with golden files: expected output kept in
// testdata/ and reviewed like code. The test binary's -update flag, registered here once
// for every test package that imports this one, rewrites the files with what the tests
// produce instead of comparing; `git diff` then shows what changed.
package goldentest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the output of the tests")

// Check compares got with the golden file at path, byte for byte, and fails the test
// naming the file, what it got and what it wanted. With -update it writes got to path
// instead (when it differs), so a new golden file is made by running the test once.
func Check(t testing.TB, path, got string) {
	t.Helper()
	want, err := os.ReadFile(path)
	if *update {
		if err != nil || !bytes.Equal(want, []byte(got)) {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("updated %s", path)
		}
		return
	}
	if err != nil {
		t.Fatalf("%v (run %s to create it)", err, command())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run %s to accept it):\n--- got\n%s--- want\n%s", path, command(), got, want)
	}
}

// command is the go test command that rewrites this package's golden files: its
// directory relative to the module root, as the developer would type it there.
func command() string {
	dir, err := os.Getwd() // go test runs a package's tests in its directory
	if err != nil {
		return "the test with -update"
	}
	for root := dir; ; {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			rel, err := filepath.Rel(root, dir)
			if err != nil {
				break
			}
			if rel == "." {
				return "go test . -update"
			}
			return "go test ./" + filepath.ToSlash(rel) + " -update"
		}
		parent := filepath.Dir(root)
		if parent == root {
			break
		}
		root = parent
	}
	return "the test with -update"
}
