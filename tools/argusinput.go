package tools

import (
	"fmt"
	"io"
	"runtime"
	"sync"

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
	var more bool
	if runtime.GOMAXPROCS(0) > 1 {
		more, err = scanArgusDecoded(rd, fn)
	} else {
		more, err = scanArgus(rd, rec, fn)
	}
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

// scanArgusDecoded is scanDecoded for Argus files: one goroutine reads raw records in
// batches, others decode them, and fn sees them in file order on this one.
func scanArgusDecoded(rd *argus.Reader, fn func(r *record.Record) bool) (more bool, err error) {
	ordered := make(chan *decodedBatch, batchesInFlow)
	work := make(chan *decodedBatch, batchesInFlow)
	free := make(chan *decodedBatch, batchesInFlow)
	for range batchesInFlow {
		free <- &decodedBatch{recs: make([]record.Record, batchRecords)}
	}
	stop := make(chan struct{})
	go func() { // the reader
		defer close(ordered)
		defer close(work)
		for {
			var b *decodedBatch
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b.raw, b.ends, b.offs, b.err = b.raw[:0], b.ends[:0], b.offs[:0], nil
			b.ready = make(chan struct{})
			for len(b.ends) < batchRecords {
				var off int64
				if b.raw, off, b.err = rd.ReadRaw(b.raw); b.err != nil {
					break
				}
				b.ends, b.offs = append(b.ends, len(b.raw)), append(b.offs, off)
			}
			ordered <- b
			work <- b
			if b.err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range min(runtime.GOMAXPROCS(0), 4) { // the decoders
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := rd.NewDecoder()
			for b := range work {
				start := 0
				for i, end := range b.ends {
					if err := d.Decode(b.raw[start:end], b.offs[i], &b.recs[i]); err != nil {
						b.ends, b.err = b.ends[:i], err
						break
					}
					start = end
				}
				close(b.ready)
			}
			mu.Lock()
			rd.AddSkipped(d)
			mu.Unlock()
		}()
	}
	defer func() {
		close(stop)
		for range ordered { // let the reader finish before the file is closed
		}
		wg.Wait() // the skipped counts are complete
	}()
	for b := range ordered {
		<-b.ready
		for i := range b.ends {
			if !fn(&b.recs[i]) {
				return false, nil
			}
		}
		if b.err == io.EOF {
			return true, nil
		}
		if b.err != nil {
			return false, b.err
		}
		free <- b
	}
	return true, nil
}
