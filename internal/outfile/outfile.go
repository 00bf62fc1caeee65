// Package outfile creates the temporary file an output is written to before it is
// renamed over its final name, so that a failed or interrupted run never leaves a
// partial file there. The new file gets the permissions of the file it will replace,
// or, for a new name, those the umask allows (as a shell's > does): an output is never
// made more readable than the user asked, and no existing file is ever chmodded.
package outfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// CreateTemp creates a temporary file beside the file path names and returns it with
// the name to rename it to when complete: path itself, or, when path is a symlink, the
// file it points to, existing or not (so that the link stays a link).
func CreateTemp(path string) (*os.File, string, error) {
	final := linkTarget(path)
	perm := os.FileMode(0o666) // less what the umask takes away
	keep := false
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() {
		perm, keep = fi.Mode().Perm(), true
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
