// Package outfile creates the temporary file an output is written to before it is
// renamed over its final name, so that a failed or interrupted run never leaves a
// partial file there. The new file gets the permissions of the file it will replace,
// or, for a new name, those the umask allows (as a shell's > does): an output is never
// made more readable than the user asked, and no existing file is ever chmodded.
//
// A file that a writer is appending to (a sensor, import or relay: they hold their -w
// file locked with flock) is never replaced: the writer's later records would go to the
// old file, which no name leads to any more.
package outfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
)

// CreateTemp creates a temporary file beside the file path names and returns it with
// the name to rename it to when complete: path itself, or, when path is a symlink, the
// file it points to, existing or not (so that the link stays a link). A device or FIFO
// is not replaced but written in place: the file returned is then that device, with no
// name, which Replace and os.Remove leave alone.
func CreateTemp(path string) (*os.File, string, error) {
	final := linkTarget(path)
	if err := notLocked(final); err != nil {
		return nil, "", err
	}
	perm := os.FileMode(0o666) // less what the umask takes away
	keep := false
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() {
		perm, keep = fi.Mode().Perm(), true
	} else if err == nil && !fi.IsDir() { // -w /dev/null, a named pipe
		f, err := inPlace(final)
		return f, final, err
	}
	for range 100 {
		tmp := filepath.Join(filepath.Dir(final), fmt.Sprintf(".%s.tmp-%d", filepath.Base(final), rand.Uint32()))
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if keep { // exactly the replaced file's mode, whatever the umask
			if err := f.Chmod(perm); err != nil {
				f.Close()
				os.Remove(tmp)
				return nil, "", err
			}
		}
		return f, final, nil
	}
	return nil, "", fmt.Errorf("%s: no free temporary name beside it", path)
}

// linkTarget follows path's symlinks, the last of which may point to nothing yet.
func linkTarget(path string) string {
	for range 40 { // as the kernel's limit on nested links
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return path
		}
		l, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(l) {
			l = filepath.Join(filepath.Dir(path), l)
		}
		path = l
	}
	return path
}

// ErrLocked is returned for a file that a writer holds locked.
var ErrLocked = errors.New("another writer has it open (locked); not replacing it")

// Replace renames the complete temporary file tmp over final (as CreateTemp returned
// them), unless a writer holds final locked (ErrLocked). The lock is held across the rename, so
// that no writer takes the old file between the check and the rename.
func Replace(tmp, final string) error {
	if tmp == "" { // a device written in place: nothing to rename
		return nil
	}
	f, err := os.Open(final)
	if err == nil {
		defer f.Close() // releases the lock, after the rename
		if err := lock(f); err != nil {
			return err
		}
	}
	return os.Rename(tmp, final)
}

// notLocked returns ErrLocked if a writer holds path locked, so that a tool refuses before its work.
func notLocked(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // nothing there to replace, or a failure the create will report
	}
	defer f.Close()
	return lock(f)
}

// lock takes f's flock, exclusively; only a lock held by another is an error (a file
// system without flock does not stop the output).
func lock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return nil
}

// Sync flushes f to stable storage. A device or FIFO written in place has no storage
// to flush (fsync says EINVAL), which is no error for an output.
func Sync(f *os.File) error {
	err := f.Sync()
	if errors.Is(err, syscall.EINVAL) && f.Name() == "" {
		return nil
	}
	return err
}

// inPlace opens a device or FIFO for writing in place, nameless: callers remove a
// failed output's temporary file by its name, and Replace renames by it; both must
// leave a device node alone (renaming over /dev/null replaces it with a file).
func inPlace(path string) (*os.File, error) {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), ""), nil
}
