package relay

import (
	"fmt"
	"io"
	"os"

	"panoptes/index"
	"panoptes/record"
)

// openSink opens -w OUT as the sensor does (sensor.OpenSink, which the relay does not
// import to stay apart from capture code): an archive when OUT is a directory or ends
// in "/", stdout for "-", else a stream file. close flushes and closes it.
func openSink(out string, stdout io.Writer, logf func(string, ...any)) (record.Sink, func() error, error) {
	if out != "-" && index.IsArchive(out) {
		a, err := index.Open(out, index.Options{Logf: logf})
		if err != nil {
			return nil, nil, err
		}
		w := a.NewWriter(0)
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
