package index

import (
	"fmt"
	"io"
	"os"

	"panoptes/record"
)

// OpenOutput opens where a writer of records (import, sensor, relay) sends them, named
// as `-w OUT` names it: an archive when out is a directory or ends in "/" (with the
// given retention), stdout for "-", else a record stream file. close flushes and closes
// it.
func OpenOutput(out string, stdout io.Writer, retain Retention, logf func(string, ...any)) (record.Sink, func() error, error) {
	if out != "-" && IsArchive(out) {
		a, err := Open(out, Options{Logf: logf})
		if err != nil {
			return nil, nil, err
		}
		w := a.NewWriter(0)
		w.SetRetention(retain)
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
