package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrLocked is returned by OpenAppend when another writer holds the file.
var ErrLocked = errors.New("another writer has it open (locked)")

// Appended says where OpenAppend starts the new stream in an existing file.
type Appended struct {
	Start int64 // byte offset of the new stream: the end of the last complete record
	Torn  int64 // bytes after Start that were cut off: an incomplete last record
}

// OpenAppend opens the stream file path for a Writer that adds a stream after the
// records already in it, as Argus's -w does (readers read concatenated streams), or
// creates it with the permissions the umask allows; an existing file's permissions are
// left alone. Nothing a reader can read is ever removed:
//
//   - The file is locked (flock) for the Writer's life; a second writer is refused with
//     ErrLocked, so two writers never interleave or cut each other's tails.
//   - The file is read to its end first. If it is not a stream, or a record in it does
//     not decode, nothing is written and the error says where.
//   - If it ends inside a record (its writer was stopped mid-write: the record's length
//     runs past the end of the file), every reader stops there, and records appended
//     after those bytes would be unreadable too. That incomplete record is cut off
//     (Appended.Torn bytes): with the lock held, no Panoptes writer is still
//     completing it.
//
// A file that is not a regular file (/dev/null, a FIFO) is written as it is. Close the
// Writer to flush, close the file and release the lock.
func OpenAppend(path string) (*Writer, Appended, error) {
	var a Appended
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, a, err
	}
	w, a, err := appendTo(f, path)
	if err != nil {
		f.Close()
		return nil, a, err
	}
	return w, a, nil
}

func appendTo(f *os.File, path string) (*Writer, Appended, error) {
	var a Appended
	fi, err := f.Stat()
	if err != nil {
		return nil, a, err
	}
	if fi.Mode().IsRegular() {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if errors.Is(err, syscall.EWOULDBLOCK) {
				err = ErrLocked
			}
			return nil, a, fmt.Errorf("%s: %w", path, err)
		}
		if a.Start, err = streamEnd(f, path, fi.Size()); err != nil {
			return nil, a, fmt.Errorf("%w: not appending to it", err)
		}
		if a.Torn = fi.Size() - a.Start; a.Torn > 0 {
			if err := f.Truncate(a.Start); err != nil {
				return nil, a, err
			}
		}
		if _, err := f.Seek(a.Start, io.SeekStart); err != nil {
			return nil, a, err
		}
	}
	w, err := NewWriter(f)
	return w, a, err
}

// streamEnd reads the stream in f (size bytes) and returns the offset after its last
// complete record. Any error but a stream that ends inside a record is returned.
func streamEnd(f *os.File, name string, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	if hdr := AppendHeader(nil); size < int64(len(hdr)) {
		// A first header cut short: the file holds no record at all.
		b := make([]byte, size)
		if _, err := f.ReadAt(b, 0); err == nil && bytes.HasPrefix(hdr, b) {
			return 0, nil
		}
	}
	rd, err := NewReader(io.NewSectionReader(f, 0, size), name)
	if err != nil {
		return 0, err
	}
	var r Record
	for {
		switch err := rd.Read(&r); {
		case err == io.EOF, errors.Is(err, ErrTruncated):
			return rd.Offset(), nil
		case err != nil:
			return 0, err
		}
	}
}
