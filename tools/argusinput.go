package tools

import (
	"fmt"
	"io"
	"runtime"
	"sync"

	"panoptes/argus"
	"panoptes/filter"
	"panoptes/record"
)

// scanInput reads one -r input: a Panoptes record stream, or an Argus record file
// (recognised by its magic), either of them plain or gzip-compressed. pre, if not nil,
// is a filter whose rejects fn ignores (common.prefilter): when it reads only the flow
// key (filter.FlowKeyOnly), an Argus file's records are decoded key first, and only
// those pre selects are decoded whole and given to fn. fn sees the same records, in the
// same order, and the warnings and errors are the same; it is faster because most
// records of a filtered read fail the filter, and their key is a small part of them.
func scanInput(prog string, src io.Reader, name string, rec *record.Record, pre *filter.Filter, stderr io.Writer, fn func(r *record.Record) bool) (bool, error) {
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
	var key *filter.Filter // the filter to run on the key alone
	if pre.String() != "" && pre.FlowKeyOnly() {
		key = pre
	}
	var more bool
	if runtime.GOMAXPROCS(0) > 1 {
		more, err = scanArgusDecoded(rd, key, fn)
	} else {
		more, err = scanArgus(rd, rec, key, fn)
	}
	if s := rd.SkippedSummary(); s != "" {
		fmt.Fprintf(stderr, "panoptes %s: warning: %s: skipped %s that Panoptes does not model\n", prog, name, s)
	}
	return more, err
}

// scanArgus reads an Argus file's records in order; with a key filter, only those it
// selects.
func scanArgus(rd *argus.Reader, rec *record.Record, key *filter.Filter, fn func(r *record.Record) bool) (bool, error) {
	if key != nil {
		d := rd.NewDecoder()
		defer rd.AddSkipped(d)
		var raw []byte
		var k record.Record
		for {
			var off int64
			var err error
			if raw, off, err = rd.ReadRaw(raw[:0]); err != nil {
				if err == io.EOF {
					return true, nil
				}
				return false, err
			}
			if d.DecodeKey(raw, &k) && !key.Match(&k) {
				continue
			}
			if err := d.DecodeRest(raw, off, rec); err != nil {
				return false, err
			}
			if !fn(rec) {
				return false, nil
			}
		}
	}
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
// batches, others decode them, and fn sees them in file order on this one. With a key
// filter the decoders decode each record's key, and the rest only of those it selects
// (the others are marked dropped in their batch).
func scanArgusDecoded(rd *argus.Reader, key *filter.Filter, fn func(r *record.Record) bool) (more bool, err error) {
	type argusBatch struct {
		decodedBatch
		drop []bool // the records key rejected
	}
	ordered := make(chan *argusBatch, batchesInFlow)
	work := make(chan *argusBatch, batchesInFlow)
	free := make(chan *argusBatch, batchesInFlow)
	for range batchesInFlow {
		free <- &argusBatch{decodedBatch{recs: make([]record.Record, batchRecords)}, make([]bool, batchRecords)}
	}
	stop := make(chan struct{})
	go func() { // the reader
		defer close(ordered)
		defer close(work)
		for {
			var b *argusBatch
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b.ready = make(chan struct{})
			b.raw, b.ends, b.offs, b.err = rd.ReadRawBatch(b.raw[:0], b.ends[:0], b.offs[:0], batchRecords)
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
			var k record.Record
			for b := range work {
				start := 0
				for i, end := range b.ends {
					raw := b.raw[start:end]
					var err error
					if key != nil {
						if b.drop[i] = d.DecodeKey(raw, &k) && !key.Match(&k); !b.drop[i] {
							err = d.DecodeRest(raw, b.offs[i], &b.recs[i])
						}
					} else {
						err = d.Decode(raw, b.offs[i], &b.recs[i])
					}
					if err != nil {
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
			if b.drop[i] {
				continue
			}
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
