package tools

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/tools/cluster"
)

const sortUsage = "-r FILE [-r FILE]... | -R ARCHIVE [-t RANGE] [-m FIELDS] [--max-records N] [read output options] [-- FILTER]"

// descending lists the fields rasort orders largest first: counts, rates and sizes (the
// "top talkers" order), and, as rasort 3.0.8 does, proto and tos. Every other field
// sorts ascending (times, durations, addresses, ports, ttl, ids).
var descending = map[string]bool{
	"trans": true, "proto": true, "stos": true, "dtos": true,
	"pkts": true, "spkts": true, "dpkts": true, "bytes": true, "sbytes": true, "dbytes": true,
	"appbytes": true, "sappbytes": true, "dappbytes": true,
	"load": true, "sload": true, "dload": true, "rate": true, "srate": true, "drate": true,
	"loss": true, "sloss": true, "dloss": true, "ploss": true, "sretrans": true, "dretrans": true,
	"tcprtt": true, "synack": true, "ackdat": true, "stcpb": true, "dtcpb": true,
	"smeansz": true, "dmeansz": true, "smaxsz": true, "dmaxsz": true, "sminsz": true, "dminsz": true,
	"sjit": true, "djit": true,
}

// sortKey is one -m field of sort (or --sort of cluster): the field, its direction,
// and for addresses an optional prefix length ("saddr/24" sorts by network).
type sortKey struct {
	f    *record.Field
	desc bool
	bits int // address prefix length; -1 for the whole address
}

// parseSortKeys parses sort field names: comma- or space-separated registry names,
// addresses optionally with /len. flag names the option in messages.
func parseSortKeys(specs []string, flag string) ([]sortKey, error) {
	var keys []sortKey
	for _, spec := range specs {
		for _, name := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			base, bits, err := cluster.SplitMask(name)
			if err != nil {
				return nil, cli.Usagef("%s %q: %v", flag, name, err)
			}
			f, ok := record.Lookup(base)
			if !ok {
				return nil, cli.Usagef("unknown field %q in %s", base, flag)
			}
			if bits >= 0 && f.Kind != record.KindAddr {
				return nil, cli.Usagef("%s %q: only addresses take a /length", flag, name)
			}
			keys = append(keys, sortKey{f: f, desc: descending[f.Name], bits: bits})
		}
	}
	if len(keys) == 0 {
		return nil, cli.Usagef("%s: no fields", flag)
	}
	return keys, nil
}

// sorter orders records by a list of keys. It reuses two text buffers for text fields,
// so comparing allocates nothing.
type sorter struct {
	keys   []sortKey
	format record.Format
	ta, tb []byte
}

// compare returns the order of a and b under the keys (ties: 0, left to the stable
// sort).
func (s *sorter) compare(a, b *record.Record) int {
	for _, k := range s.keys {
		c := s.compareField(k, a, b)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func (s *sorter) compareField(k sortKey, a, b *record.Record) int {
	f := k.f
	switch f.Kind {
	case record.KindNumber:
		return cmp.Compare(f.Uint(a), f.Uint(b))
	case record.KindTime:
		return cmp.Compare(int64(f.Uint(a)), int64(f.Uint(b)))
	case record.KindFloat:
		return cmp.Compare(f.Float(a), f.Float(b))
	case record.KindAddr:
		src := f.Name == "saddr"
		return compareAddr(a, b, src, k.bits)
	}
	s.ta = f.Text(s.ta[:0], a, &s.format)
	s.tb = f.Text(s.tb[:0], b, &s.format)
	return bytes.Compare(s.ta, s.tb)
}

// compareAddr orders addresses: non-IP before IPv4 before IPv6, then by value (the
// network, with a prefix length).
func compareAddr(a, b *record.Record, src bool, bits int) int {
	fa, fb := cluster.AddrFamily(a), cluster.AddrFamily(b)
	if c := cmp.Compare(fa, fb); c != 0 {
		return c
	}
	x, y := addrOf(a, src), addrOf(b, src)
	if bits >= 0 {
		cluster.MaskAddr(&x, fa, bits)
		cluster.MaskAddr(&y, fb, bits)
	}
	if fa == 0 {
		ma, mb := a.Dst.MAC, b.Dst.MAC
		if src {
			ma, mb = a.Src.MAC, b.Src.MAC
		}
		return bytes.Compare(ma[:], mb[:])
	}
	return bytes.Compare(x[:], y[:])
}

func addrOf(r *record.Record, src bool) [16]byte {
	if src {
		return r.SrcAddr
	}
	return r.DstAddr
}

// recordSize is what one record held in memory costs (sort, cluster entries), for
// the memory bound.
const recordSize = int64(unsafe.Sizeof(record.Record{}))

// sortBytesPerRecord is what sort holds per record: the record in a chunk, its index in
// the order, and a margin for the last chunk's unused part and the reader's buffers
// (TestSortMemoryPerRecord measures it). Labels (label's text) come on top.
const sortBytesPerRecord = recordSize + 4 + 64

// recordChunks holds records in chunks of a fixed size. Growing never copies, so the
// memory is what the records take: a slice grown by append would hold up to twice the
// records' size, plus the old copies until the garbage collector runs.
type recordChunks struct {
	chunks [][]record.Record
	n      int
}

const recordChunkLen = 4096

func (c *recordChunks) add(r *record.Record) {
	if c.n%recordChunkLen == 0 {
		c.chunks = append(c.chunks, make([]record.Record, 0, recordChunkLen))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, *r)
	c.n++
}

func (c *recordChunks) at(i int32) *record.Record {
	return &c.chunks[i/recordChunkLen][i%recordChunkLen]
}

// defaultMaxItems bounds how many records (sort) or keys (cluster) a tool holds in
// memory: at most limit, and no more than half of the available memory at perItem
// bytes each, so that a big input stops with a clear message instead of meeting the
// OOM killer.
func defaultMaxItems(limit, perItem int64) int64 {
	if avail := memAvailable(); avail > 0 {
		return max(1000, min(limit, avail/2/perItem))
	}
	return limit
}

// memAvailable returns MemAvailable from /proc/meminfo in bytes (0 if unknown).
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// SortMain is `panoptes sort`, Argus's rasort: it reads the records that pass the
// filter and prints them (or writes them with -w) ordered by the -m fields, each in
// rasort's direction (counts, rates and sizes largest first; times, addresses and
// ports smallest first). The sort is stable: records with equal keys keep their input
// order. Management records are dropped, as rasort drops them. With no -m the order
// is stime.
//
// Records are held in memory; more than --max-records (default: 20 M, or fewer if
// half the available memory does not hold them) stops with an error saying so.
func SortMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("sort", sortUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	var keySpecs []string
	fs.StringArrayVarP(&keySpecs, "keys", "m", nil, "sort by `FIELDS` (comma- or space-separated; saddr/24 sorts by network)")
	maxRecords := fs.Int64("max-records", defaultMaxItems(20_000_000, sortBytesPerRecord), "hold at most `N` records in memory")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(keySpecs) == 0 {
		keySpecs = []string{"stime"}
	}
	keys, err := parseSortKeys(keySpecs, "-m")
	if err != nil {
		return err
	}
	// Records are ordered by int32 indices.
	if err := cli.IntRange("--max-records", *maxRecords, 1, math.MaxInt32); err != nil {
		return err
	}
	var recs recordChunks
	var tooMany bool
	c.keyFilter = flt // fn passes over the records flt rejects
	err = scan("sort", &c, stdin, stderr, func(r *record.Record) bool {
		if r.Kind == record.KindMan || !flt.Match(r) {
			return true
		}
		if int64(recs.n) >= *maxRecords {
			tooMany = true
			return false
		}
		recs.add(r)
		return true
	})
	if err != nil {
		return err
	}
	if tooMany {
		return fmt.Errorf("more than %d records to sort (--max-records; about %d MB of memory per million records): raise --max-records, or select fewer records with -t or a filter",
			*maxRecords, sortBytesPerRecord*1_000_000>>20)
	}
	s := &sorter{keys: keys, format: o.Format}
	// Sort indices, not the (large) records themselves.
	order := make([]int32, recs.n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(i, j int32) int { return s.compare(recs.at(i), recs.at(j)) })
	out, err := newSink(&c, o, stdout)
	if err != nil {
		return err
	}
	n := 0
	for _, i := range order {
		if c.count > 0 && n == c.count {
			break
		}
		if err := out.put(recs.at(i), 0); err != nil {
			out.abort()
			return err
		}
		n++
	}
	if err := out.close(); err != nil {
		return err
	}
	if n == 0 {
		return cli.ErrNoMatch
	}
	return nil
}
