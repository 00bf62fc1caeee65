package index

import (
	"fmt"
	"io"
	"os"
	"time"

	"panoptes/record"
)

// OutputOptions are what an archive output is written with; a stream output ignores them.
type OutputOptions struct {
	Retain Retention
	Span   time.Duration // the time a segment covers (0: DefaultSpan)
}

// OpenOutput opens where a writer of records (import, sensor, relay) sends them, named
// as `-w OUT` names it: an archive when out is a directory or ends in "/" (written with
// opts), stdout for "-", else a record stream file. close flushes and closes it.
func OpenOutput(out string, stdout io.Writer, opts OutputOptions, logf func(string, ...any)) (record.Sink, func() error, error) {
	if out != "-" && IsArchive(out) {
		a, err := Open(out, Options{Logf: logf})
		if err != nil {
			return nil, nil, err
		}
		w := a.NewWriter(opts.Span)
		w.SetRetention(opts.Retain)
		return w, func() error {
			err := w.Close()
			if cerr := a.Close(); err == nil {
				err = cerr
			}
			return err
		}, nil
	}
	var dst io.Writer = stdout
	var f *os.File
	if out != "-" {
		var err error
		if f, err = os.Create(out); err != nil {
			return nil, nil, err
		}
		dst = f
	}
	w, err := record.NewWriter(dst)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, nil, err
	}
	return w, func() error {
		err := w.Flush()
		if f != nil {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("%s: %w", out, cerr)
			}
		}
		return err
	}, nil
}
