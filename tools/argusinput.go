package tools

import (
	"fmt"
	"io"
	"net/netip"
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
	key, addrs := argusKeyFilter(pre)
	var more bool
	if key == nil && runtime.GOMAXPROCS(0) > 1 {
		more, err = scanArgusDecoded(rd, fn)
	} else {
		// A key filter reads on this goroutine: the key and the filter cost less per
		// record than handing blocks between goroutines did (the parallel version of
		// this loop took 30 % more CPU time and more wall time on 2 CPUs, for the 1
		// million records of bench/ARGUS-RESULTS.md).
		more, err = scanArgus(rd, rec, key, addrs, fn)
	}
	if s := rd.SkippedSummary(); s != "" {
		fmt.Fprintf(stderr, "panoptes %s: warning: %s: skipped %s that Panoptes does not model\n", prog, name, s)
	}
	return more, err
}

// argusKeyFilter returns the filter to run on a record's key alone (pre, if it reads
// only the key; else nil) and the addresses it requires (nil if none: keyAddrs).
func argusKeyFilter(pre *filter.Filter) (*filter.Filter, *argus.AddrSet) {
	if pre.String() == "" || !pre.FlowKeyOnly() {
		return nil, nil
	}
	if ps, ok := keyAddrs(pre.KeyCond()); ok {
		return pre, argus.NewAddrSet(ps)
	}
	return pre, nil
}

// keyAddrs returns prefixes one of which holds an address of every record that
// satisfies c, and true; or false if c does not require any address. A record with
// neither address in them fails the filter c comes from, whatever its other fields:
// DecodeKeyIn tells them apart on the raw key, and most records of a filter that
// names a host are those. The sides are ignored (either address will do): a
// necessary condition, weaker than c.
func keyAddrs(c filter.KeyCond) ([]netip.Prefix, bool) {
	switch c.Op {
	case filter.KeyAddr:
		return []netip.Prefix{c.Prefix}, true
	case filter.KeyAnd:
		// Any conjunct's addresses are required; the first that requires some.
		for _, a := range c.Args {
			if ps, ok := keyAddrs(a); ok {
				return ps, true
			}
		}
	case filter.KeyOr:
		// Each alternative must require addresses; the union is then required.
		var all []netip.Prefix
		for _, a := range c.Args {
			ps, ok := keyAddrs(a)
			if !ok {
				return nil, false
			}
			all = append(all, ps...)
		}
		return all, true
	}
	return nil, false
}

// scanArgus reads an Argus file's records in order, in blocks as scanArgusDecoded
// does, on this goroutine; with a key filter, only those it selects (addrs, if not
// nil, the addresses it requires: keyAddrs).
func scanArgus(rd *argus.Reader, rec *record.Record, key *filter.Filter, addrs *argus.AddrSet, fn func(r *record.Record) bool) (bool, error) {
	d := rd.NewDecoder()
	defer rd.AddSkipped(d)
	buf := make([]byte, 0, argus.BlockLen)
	var raws [][]byte
	var offs []int64
	var k record.Record
	for {
		var rerr error
		buf, raws, offs, rerr = rd.ReadBlock(buf, raws[:0], offs[:0])
		for i, raw := range raws {
			var err error
			if key != nil {
				if in, ok := d.DecodeKeyIn(raw, &k, addrs); ok && (!in || !key.Match(&k)) {
					continue
				}
				err = d.DecodeRest(raw, offs[i], rec)
			} else {
				err = d.Decode(raw, offs[i], rec)
			}
			if err != nil {
				return false, err
			}
			if !fn(rec) {
				return false, nil
			}
		}
		if rerr == io.EOF {
			return true, nil
		}
		if rerr != nil {
			return false, rerr
		}
	}
}

// argusBlocksInFlow bounds the blocks read ahead of fn: each holds BlockLen bytes of
// records (about 2,000) and the records decoded from them. Few and small, because each
// new page of memory costs a page fault, and each block's memory a share of a garbage
// collection.
const argusBlocksInFlow = 4

// argusBlock is a block of an Argus file read, and its records decoded, by one of
// scanArgusDecoded's workers.
type argusBlock struct {
	buf   []byte          // what ReadBlock read
	raw   [][]byte        // the records, slices of buf
	offs  []int64         // their byte offsets
	recs  []record.Record // recs[:n]: the records decoded
	n     int
	err   error // the error after the records (io.EOF at the end), if any
	ready chan struct{}
}

// scanArgusDecoded is scanDecoded for Argus files. Each worker goroutine reads the
// next block of the file (ReadBlock: one read call, the records not copied again),
// the workers taking turns, and decodes it while the others read and decode theirs;
// fn sees the records in file order on this goroutine. A block is decoded by the
// goroutine that read it, on the core whose cache the read has just filled. It is the
// read without a key filter, where decoding every record whole is worth sharing out.
func scanArgusDecoded(rd *argus.Reader, fn func(r *record.Record) bool) (more bool, err error) {
	// ordered holds every block there is, so that a worker never waits on it while it
	// has the reader.
	ordered := make(chan *argusBlock, argusBlocksInFlow)
	free := make(chan *argusBlock, argusBlocksInFlow)
	for range argusBlocksInFlow {
		// Room for the records of a block of typical ones (120 bytes or so); more
		// grow the slices once.
		n := argus.BlockLen / 64
		free <- &argusBlock{buf: make([]byte, 0, argus.BlockLen), raw: make([][]byte, 0, n), offs: make([]int64, 0, n)}
	}
	stop := make(chan struct{})
	var reading sync.Mutex // held while a worker reads: the blocks are read in turn
	ended := false         // the stream's end or error was read (under reading)
	var wg sync.WaitGroup
	var counts sync.Mutex
	for range min(runtime.GOMAXPROCS(0), 4) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := rd.NewDecoder()
			defer func() {
				counts.Lock()
				rd.AddSkipped(d)
				counts.Unlock()
			}()
			for {
				var b *argusBlock
				select {
				case b = <-free:
				case <-stop:
					return
				}
				reading.Lock()
				if ended {
					reading.Unlock()
					return
				}
				b.ready = make(chan struct{})
				b.buf, b.raw, b.offs, b.err = rd.ReadBlock(b.buf, b.raw[:0], b.offs[:0])
				ordered <- b
				if b.err != nil {
					ended = true
					close(ordered)
				}
				reading.Unlock()
				b.n = 0
				for i, raw := range b.raw {
					if b.n == len(b.recs) {
						b.recs = append(b.recs, record.Record{})
					}
					if err := d.Decode(raw, b.offs[i], &b.recs[b.n]); err != nil {
						b.err = err
						break
					}
					b.n++
				}
				close(b.ready)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait() // no read after the file is closed, and the skipped counts are complete
	}()
	for b := range ordered {
		<-b.ready
		for i := range b.n {
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
