package outfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// An output that is a device or a FIFO (-w /dev/null) is written in place. Before this
// was handled the complete temporary file was renamed over it, which replaced the
// machine's /dev/null with a regular file (seen during a test run: every later writer
// to /dev/null filled a file, and every reader of it read that file).
func TestDeviceWrittenInPlace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod of a character device needs root")
	}
	dev := filepath.Join(t.TempDir(), "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, 1<<8|3); err != nil { // 1,3: /dev/null
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(dev), "link")
	if err := os.Symlink("null", link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dev, link} {
		f, final, err := CreateTemp(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if _, err := f.Write([]byte("records")); err != nil {
			t.Fatal(err)
		}
		if err := Sync(f); err != nil {
			t.Errorf("%s: sync: %v", path, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := Replace(f.Name(), final); err != nil {
			t.Errorf("%s: replace: %v", path, err)
		}
		os.Remove(f.Name()) // what callers do after a failure: must not remove the device
		fi, err := os.Stat(dev)
		if err != nil {
			t.Fatalf("%s: the device is gone: %v", path, err)
		}
		if fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("%s: the device became %v", path, fi.Mode())
		}
	}
}

// A regular file is still replaced whole, only after success.
func TestRegularFileReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, final, err := CreateTemp(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new"))
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("changed before Replace: %q", b)
	}
	if err := Sync(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := Replace(f.Name(), final); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("after Replace: %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 kept", fi.Mode().Perm())
	}
}
