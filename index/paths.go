package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Segment files are named by paths relative to the archive directory, taken from the
// index or from a walk of the directory, and neither is trusted: an index entry can be
// planted ("../victim/precious.txt") and any directory or file in the archive can be a
// symlink to one elsewhere. So every segment file the archive opens, creates, renames
// or deletes goes through the functions below: the path must be a plain relative path
// to a segment file (checkSegmentPath), and each directory on the way and the file
// itself are opened with O_NOFOLLOW, so that a symlink anywhere in the path makes the
// operation fail instead of reaching outside the archive (or, inside it, a file that is
// not the segment named). Only the archive directory itself, named by the user, is
// followed.

// ErrOutside is returned for a segment path that is not a segment file inside the
// archive.
var ErrOutside = errors.New("not a segment path inside the archive")

// checkSegmentPath accepts the relative path of a segment file (sealed or being
// written): local, clean, ending in .seg or .seg.tmp, and not in the index or snapshot
// directories.
func checkSegmentPath(rel string) error {
	top, _, _ := strings.Cut(rel, string(filepath.Separator))
	if !filepath.IsLocal(rel) || filepath.Clean(rel) != rel || top == "index" || top == "snapshots" ||
		!(strings.HasSuffix(rel, ".seg") || strings.HasSuffix(rel, ".seg.tmp")) {
		return fmt.Errorf("%q: %w", rel, ErrOutside)
	}
	return nil
}

// parentDir opens the directory holding rel, walking down from the archive directory
// without following symlinks (and creating missing directories if mkdir), and returns
// its descriptor and rel's last element.
func (a *Archive) parentDir(rel string, mkdir bool) (int, string, error) {
	if err := checkSegmentPath(rel); err != nil {
		return -1, "", err
	}
	fd, err := syscall.Open(a.dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for _, p := range parts[:len(parts)-1] {
		next, err := openDirAt(fd, p, mkdir)
		syscall.Close(fd)
		if err != nil {
			return -1, "", err
		}
		fd = next
	}
	return fd, parts[len(parts)-1], nil
}

func openDirAt(fd int, name string, mkdir bool) (int, error) {
	const flags = syscall.O_RDONLY | syscall.O_DIRECTORY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	next, err := syscall.Openat(fd, name, flags, 0)
	if errors.Is(err, syscall.ENOENT) && mkdir {
		if err = syscall.Mkdirat(fd, name, 0o755); err == nil || errors.Is(err, syscall.EEXIST) {
			next, err = syscall.Openat(fd, name, flags, 0)
		}
	}
	return next, err
}

// pathErr names the file an operation on rel failed for, as the os package does, and
// says why a symlink on the way made it fail.
func (a *Archive) pathErr(op, rel string, err error) error {
	if errors.Is(err, ErrOutside) {
		return fmt.Errorf("%s %w %s", op, err, a.dir)
	}
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
		err = fmt.Errorf("%w (symlinks are not followed inside an archive)", err)
	}
	return &os.PathError{Op: op, Path: filepath.Join(a.dir, rel), Err: err}
}

// openFile opens the segment file rel (creating its directories when flag has
// O_CREATE). A symlink anywhere in rel, a file that is not a regular file (a FIFO
// would block the reader), or one opened for writing that has other hard links is an
// error.
func (a *Archive) openFile(rel string, flag int, perm uint32) (*os.File, error) {
	dirfd, name, err := a.parentDir(rel, flag&os.O_CREATE != 0)
	if err != nil {
		return nil, a.pathErr("open", rel, err)
	}
	defer syscall.Close(dirfd)
	fd, err := syscall.Openat(dirfd, name, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, perm)
	if err != nil {
		return nil, a.pathErr("open", rel, err)
	}
	if err := checkOpened(fd, flag); err != nil {
		syscall.Close(fd)
		return nil, a.pathErr("open", rel, err)
	}
	// O_NONBLOCK only kept the open from blocking on a FIFO; reads of a regular file
	// ignore it, but clear it so that the file is an ordinary blocking one.
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, a.pathErr("open", rel, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(a.dir, rel)), nil
}

// checkOpened refuses what is not a segment file of the archive's own: anything but a
// regular file, and, when opened for writing (recovery and rebuild truncate a torn
// block), a file with other hard links, which may be a file outside the archive.
func checkOpened(fd, flag int) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return errors.New("not a regular file")
	}
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 && st.Nlink > 1 {
		return fmt.Errorf("has %d hard links; a segment file written to must have one (remove the other names)", st.Nlink)
	}
	return nil
}

// statFile returns the size of the segment file rel.
func (a *Archive) statFile(rel string) (int64, error) {
	f, err := a.openFile(rel, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// removeFile deletes the segment file rel (a symlink by that name is deleted itself,
// never its target).
func (a *Archive) removeFile(rel string) error {
	dirfd, name, err := a.parentDir(rel, false)
	if err != nil {
		return a.pathErr("remove", rel, err)
	}
	defer syscall.Close(dirfd)
	if err := syscall.Unlinkat(dirfd, name); err != nil {
		return a.pathErr("remove", rel, err)
	}
	return nil
}

// renameFile renames the segment file from to to, in the same directory, and syncs the
// directory so that the new name is durable.
func (a *Archive) renameFile(from, to string) error {
	if filepath.Dir(from) != filepath.Dir(to) {
		return a.pathErr("rename", to, fmt.Errorf("not in the directory of %s", from))
	}
	if err := checkSegmentPath(to); err != nil {
		return a.pathErr("rename", to, err)
	}
	dirfd, name, err := a.parentDir(from, false)
	if err != nil {
		return a.pathErr("rename", from, err)
	}
	defer syscall.Close(dirfd)
	if err := syscall.Renameat(dirfd, name, dirfd, filepath.Base(to)); err != nil {
		return a.pathErr("rename", from, err)
	}
	syscall.Fsync(dirfd)
	return nil
}

// notSymlink refuses a directory of the archive (index, snapshots) that is a symlink:
// Pebble and snapshot pruning would delete and write in its target. A path that does
// not exist yet is fine.
func notSymlink(path string) error {
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("archive: %s is a symlink; an archive's directories must be its own (symlinks are not followed inside an archive)", path)
	}
	return nil
}
