package index

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"panoptes/argus"
	"panoptes/record"
	"panoptes/sqlrepo"
)

// OutputOptions are what an archive output is written with; a stream output ignores them.
type OutputOptions struct {
	Retain Retention
	Span   time.Duration // the time a segment covers (0: DefaultSpan)
}

// OpenOutput opens where a writer of records (import, sensor, relay) sends them, named
// as `-w OUT` names it: Argus version-3 records for "argus:FILE" (argus:- for stdout),
// an archive when out is a directory or ends in "/" (written with
// opts), a database table for mysql:// and postgres:// URLs (package sqlrepo), stdout
// for "-", else a record stream file, appended to if it exists (see
// record.OpenAppend; an incomplete last record is cut off and reported through logf).
// Its Close flushes and closes it. Call CheckOutput first.
func OpenOutput(out string, stdout io.Writer, opts OutputOptions, logf func(string, ...any)) (record.SinkCloser, error) {
	if sqlrepo.IsURL(out) { // mysql://, postgres://: a database (see package sqlrepo)
		return sqlrepo.Open(out, sqlrepo.Options{Logf: logf})
	}
	if path, ok := argus.CutOutput(out); ok {
		return openArgusOutput(path, stdout, logf)
	}
	if out != "-" && IsArchive(out) {
		a, err := Open(out, Options{Logf: logf})
		if err != nil {
			return nil, err
		}
		w := a.NewWriter(opts.Span)
		w.SetRetention(opts.Retain)
		return record.WithClose(w, func() error {
			err := w.Close()
			if cerr := a.Close(); err == nil {
				err = cerr
			}
			return err
		}), nil
	}
	if out == "-" {
		w, err := record.NewWriter(stdout)
		if err != nil {
			return nil, err
		}
		return record.WithClose(w, w.Flush), nil // stdout is flushed, never closed
	}
	w, a, err := record.OpenAppend(out)
	if err != nil {
		return nil, err
	}
	if a.Torn > 0 && logf != nil {
		logf("warning: %s: cut off %d bytes at byte %d: an incomplete last record left by a writer that was stopped mid-write (no reader could read it); new records follow the last complete one", out, a.Torn, a.Start)
	}
	return record.WithClose(w, func() error {
		if err := w.Close(); err != nil {
			return fmt.Errorf("%s: %w", out, err)
		}
		return nil
	}), nil
}

// openArgusOutput opens -w argus:PATH: Argus version-3 records, to stdout for "-",
// else appended to the file (see argus.OpenAppend).
func openArgusOutput(path string, stdout io.Writer, logf func(string, ...any)) (record.SinkCloser, error) {
	if path == "" || path != "-" && IsArchive(path) {
		return nil, fmt.Errorf("-w %s%s: name an Argus record file (argus:FILE, or argus:- for stdout), not a directory", argus.OutputPrefix, path)
	}
	if path == "-" {
		w, err := argus.NewWriter(stdout, time.Now())
		if err != nil {
			return nil, err
		}
		return record.WithClose(w, w.Flush), nil
	}
	w, a, err := argus.OpenAppend(path, time.Now())
	if err != nil {
		return nil, err
	}
	if a.Torn > 0 && logf != nil {
		logf("warning: %s: cut off %d bytes at byte %d: an incomplete last Argus record left by a writer that was stopped mid-write; new records follow the last complete one", path, a.Torn, a.Start)
	}
	return record.WithClose(w, func() error {
		if err := w.Close(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}), nil
}

// CheckOutput checks, before anything is opened for writing, that out (a -w argument)
// is not also one of inputs (-r arguments; the same file by name, symlink or hard link),
// and that every input exists and is not a directory: so that neither a mistyped
// command nor a missing input destroys or touches the output. "-" is neither checked
// nor compared.
func CheckOutput(out string, inputs []string) error {
	var ofi os.FileInfo
	if path, ok := argus.CutOutput(out); ok {
		out = path
	}
	if out != "" && out != "-" && !sqlrepo.IsURL(out) {
		ofi, _ = os.Stat(out) // an output that does not exist yet is no input
	}
	for _, in := range inputs {
		if in == "-" || sqlrepo.IsURL(in) {
			continue
		}
		fi, err := os.Stat(in)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("%s: %w", in, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("%s: is a directory, not a file", in)
		}
		if ofi != nil && os.SameFile(fi, ofi) {
			return fmt.Errorf("-w %s: is also an input (-r %s); not writing over what is being read", out, in)
		}
	}
	return nil
}
