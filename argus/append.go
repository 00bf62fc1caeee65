package argus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// OutputPrefix marks a -w argument that names an Argus record file: -w argus:PATH.
const OutputPrefix = "argus:"

// CutOutput returns the path of an "argus:PATH" output, and whether out has the prefix.
func CutOutput(out string) (string, bool) { return strings.CutPrefix(out, OutputPrefix) }

// ErrLocked is returned by OpenAppend when another writer holds the file.
var ErrLocked = errors.New("another writer has it open (locked)")

// Appended says where OpenAppend starts writing in an existing file.
type Appended struct {
	Start int64 // byte offset of the new records: the end of the last complete record
	Torn  int64 // bytes after Start that were cut off: an incomplete last record
}

// OpenAppend opens the Argus record file path for a Writer that adds records after
// the ones already in it, as argus -w and ra -w do (the new run starts with its own
// MAR, which Argus readers take in their stride), or creates it with the permissions
// the umask allows. The rules are those of record.OpenAppend:
//
//   - The file is locked (flock) for the Writer's life; a second writer is refused
//     with ErrLocked.
//   - The file is read to its end first, record header by record header. If it does
//     not start with an Argus MAR (ErrNotArgus), or a record's length is impossible,
//     nothing is written and the error says where.
//   - If it ends inside a record (its writer was stopped mid-write), that incomplete
//     record is cut off (Appended.Torn bytes): readers stop there, so records
//     appended after it would be lost to them.
//
// A file that is not a regular file (/dev/null, a FIFO) is written as it is. Close the
// Writer to flush, close the file and release the lock.
func OpenAppend(path string, now time.Time) (*Writer, Appended, error) {
	var a Appended
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, a, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() {
		a, err = prepareAppend(f, path, fi.Size())
	}
	if err != nil {
		f.Close()
		return nil, a, err
	}
	w, err := NewWriter(f, now)
	if err != nil {
		f.Close()
		return nil, a, err
	}
	return w, a, nil
}

func prepareAppend(f *os.File, path string, size int64) (Appended, error) {
	var a Appended
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			err = ErrLocked
		}
		return a, fmt.Errorf("%s: %w", path, err)
	}
	end, err := StreamEnd(io.NewSectionReader(f, 0, size), path)
	if err != nil {
		return a, fmt.Errorf("%w: not appending to it", err)
	}
	a.Start, a.Torn = end, size-end
	if a.Torn > 0 {
		if err := f.Truncate(end); err != nil {
			return a, err
		}
	}
	_, err = f.Seek(end, io.SeekStart)
	return a, err
}

// StreamEnd walks the Argus records in r by their headers and returns the offset
// after the last complete one. An empty stream, or one cut inside its first MAR, ends
// at 0. A stream that does not start with a version-3 MAR, or holds a record whose
// length is below one word or above MaxRecordLen, is an error naming the offset.
func StreamEnd(r io.Reader, name string) (int64, error) {
	var hdr [MAROffArgusID + 4]byte
	n, err := io.ReadFull(r, hdr[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return 0, nil
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if n < len(hdr) && hdr[0] == TypeMAR|Version3 {
		return 0, nil // the first MAR cut short: nothing a reader can read
	}
	if hdr[0] != TypeMAR|Version3 || binary.BigEndian.Uint32(hdr[MAROffArgusID:]) != CookieV3 && binary.BigEndian.Uint32(hdr[MAROffArgusID:]) != CookieV5 {
		return 0, fmt.Errorf("%s: %w", name, ErrNotArgus)
	}
	// Walk the records: skip each body after reading its header.
	var off int64
	buf := hdr[:]
	have := len(hdr)
	skip := make([]byte, 64<<10)
	for {
		if have < 4 {
			k, err := io.ReadFull(r, buf[have:4])
			have += k
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return off, nil // clean end (have 0) or a header cut short
				}
				return 0, fmt.Errorf("%s: at byte %d: %w", name, off, err)
			}
		}
		words := int64(binary.BigEndian.Uint16(buf[2:4]))
		l := words * 4
		if words < 1 || l > MaxRecordLen {
			return 0, fmt.Errorf("%s: %w at byte %d: record length %d words", name, ErrDamaged, off, words)
		}
		rest := l - int64(have)
		for rest > 0 {
			k, err := r.Read(skip[:min(rest, int64(len(skip)))])
			rest -= int64(k)
			if err != nil && rest > 0 {
				if errors.Is(err, io.EOF) {
					return off, nil // the record runs past the end: torn
				}
				return 0, fmt.Errorf("%s: at byte %d: %w", name, off, err)
			}
		}
		if rest < 0 { // the first header read more than this record (a MAR is 128 bytes)
			return 0, fmt.Errorf("%s: %w at byte %d: record length %d words", name, ErrDamaged, off, words)
		}
		off += l
		have = 0
	}
}

// CopyExisting copies the complete records of the Argus file at path (if there is one)
// to dst, so that a tool that writes its output under a temporary name and renames it
// into place adds to the file, as ra -w does, without touching it before the new file
// is complete. It returns the bytes copied and the bytes of an incomplete last record
// left behind. A path that does not exist copies nothing; a file that is not an Argus
// record file is ErrNotArgus.
func CopyExisting(dst io.Writer, path string) (copied, torn int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, 0, nil // a device or FIFO: written in place, nothing to keep
	}
	end, err := StreamEnd(io.NewSectionReader(f, 0, fi.Size()), path)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: not appending to it", err)
	}
	n, err := io.Copy(dst, io.NewSectionReader(f, 0, end))
	if err != nil {
		return n, 0, fmt.Errorf("copying %s: %w", path, err)
	}
	return n, fi.Size() - end, nil
}
