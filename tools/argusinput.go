package tools

import (
	"fmt"
	"io"

	"panoptes/argus"
	"panoptes/record"
)

// scanInput reads one -r input: a Panoptes record stream, or an Argus record file
// (recognised by its magic), either of them plain or gzip-compressed.
func scanInput(prog string, src io.Reader, name string, rec *record.Record, stderr io.Writer, fn func(r *record.Record) bool) (bool, error) {
	in, isArgus, err := argus.Sniff(src, name)
	if err != nil {
		return false, err
	}
	if !isArgus {
		return scanOne(in, name, rec, fn)
	}
	rd, err := argus.NewReader(in, name)
	if err != nil {
		return false, err
	}
	more, err := scanArgus(rd, rec, fn)
	if s := rd.SkippedSummary(); s != "" {
		fmt.Fprintf(stderr, "panoptes %s: warning: %s: skipped %s that Panoptes does not model\n", prog, name, s)
	}
	return more, err
}

// scanArgus reads an Argus file's records in order.
func scanArgus(rd *argus.Reader, rec *record.Record, fn func(r *record.Record) bool) (bool, error) {
	for {
		if err := rd.Read(rec); err != nil {
			if err == io.EOF {
				return true, nil
			}
			return false, err
		}
		if !fn(rec) {
			return false, nil
		}
	}
}
