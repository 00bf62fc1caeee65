package top

import (
	"bufio"
	"io"
	"time"
)

// BatchOptions set up batch output.
type BatchOptions struct {
	View     int
	Sort     Metric
	Interval time.Duration // a table every interval while reading; 0: only at the end
	Rows     int
}

// RunBatch prints the table as text, like `top -b`: once per interval while the input
// is read, and once more when it ends, frames separated by a blank line. It returns the
// last snapshot (the caller decides the exit status from it) and any write error. For
// an input that never ends it runs until the process is stopped.
func RunBatch(w io.Writer, f *Feeder, o BatchOptions) (*Snapshot, error) {
	bw := bufio.NewWriter(w)
	frames := 0
	print := func() (*Snapshot, error) {
		s := f.Snapshot(o.View, o.Sort, o.Rows)
		fr := s.Frame(0, false, false)
		if frames > 0 {
			bw.WriteByte('\n')
		}
		frames++
		for _, l := range fr.Lines() {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
		return s, bw.Flush()
	}
	var tick <-chan time.Time
	if o.Interval > 0 {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			if _, err := print(); err != nil {
				f.Stop()
				return nil, err
			}
		case <-f.Done():
			return print()
		}
	}
}
