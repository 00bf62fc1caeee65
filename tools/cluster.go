package tools

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"unsafe"

	"panoptes/internal/cli"
	"panoptes/record"
)

const clusterUsage = "-r FILE [-r FILE]... [-m KEYS] [-M correct|nocorrect|rmon] [--top N] [--sort FIELDS] [--max-keys N] [read output options] [-- FILTER]"

// defaultKeys is racluster's default flow key; with it, direction correction is on.
var defaultKeys = []string{"saddr", "daddr", "proto", "sport", "dport"}

// ClusterMain is `panoptes cluster`, Argus's racluster: records that pass the filter
// are merged when their key fields (-m) are equal, and the merged records are printed
// (or written with -w) in order of first appearance. Management records are dropped.
//
// With the default key (saddr daddr proto sport dport), a record whose reversed key is
// already present is reversed and merged into it, as racluster's "correct" mode does;
// -M nocorrect turns that off, and -M correct turns it on for an explicit -m. When the
// records merged into one disagree on a flow-key field that is not part of -m (say
// daddr under -m saddr), that column prints empty.
//
// Address keys take a prefix length (-m saddr/24, daddr/16, saddr/64 for IPv6): records
// merge per network, and the network prints as the address, as racluster prints it.
//
// -M rmon is racluster's RMON mode: each record counts once for its source and once,
// reversed, for its destination, so that with -m saddr every address gets one row
// whose "s" counters are what it sent (OutPkts, OutBytes) and "d" counters what it
// received (InPkts, InBytes); saddr prints as Host.
//
// --top N prints the N largest clusters by --sort (default bytes; sort's field
// orders), --sort alone orders every cluster. Clusters are held in memory: more than
// --max-keys distinct keys (default 20 M, or fewer if half the available memory does
// not hold them) stops with an error saying how to raise the bound.
func ClusterMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("cluster", clusterUsage, stderr)
	var c common
	c.register(fs)
	var keySpecs, modes []string
	fs.StringArrayVarP(&keySpecs, "keys", "m", nil, "merge records with equal `KEYS` (comma- or space-separated field names, or none)")
	fs.StringArrayVarP(&modes, "mode", "M", nil, "`MODE`: correct (also try the reversed key), nocorrect, or rmon (per-address in/out totals)")
	top := fs.Int("top", 0, "print only the `N` largest clusters by --sort")
	var sortSpecs []string
	fs.StringArrayVar(&sortSpecs, "sort", nil, "order clusters by `FIELDS` (as sort -m; default bytes with --top)")
	maxKeys := fs.Int64("max-keys", defaultMaxItems(20_000_000, clusterEntrySize), "hold at most `N` clusters in memory")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if *top < 0 {
		return cli.Usagef("--top %d: must not be negative", *top)
	}
	if err := cli.IntRange("--max-keys", *maxKeys, 1, math.MaxInt32); err != nil {
		return err
	}
	var order *sorter
	if len(sortSpecs) > 0 || *top > 0 {
		if len(sortSpecs) == 0 {
			sortSpecs = []string{"bytes"}
		}
		keys, err := parseSortKeys(sortSpecs, "--sort")
		if err != nil {
			return err
		}
		order = &sorter{keys: keys, format: o.Format}
	}
	names := defaultKeys
	correct := true
	if fs.Changed("keys") {
		names, correct = nil, false
		for _, s := range keySpecs {
			names = append(names, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
		}
	}
	rmon := false
	for _, s := range modes {
		for _, m := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			switch m {
			case "correct":
				correct = true
			case "nocorrect":
				correct = false
			case "rmon":
				rmon = true
			default:
				return cli.Usagef("unsupported -M mode %q (have: correct, nocorrect, rmon)", m)
			}
		}
	}
	if rmon {
		// Both halves are added with the object as the source: correcting would fold
		// them back together.
		correct = false
		o.Fields = rmonLabels(o.Fields)
	}
	cl, err := newClusterer(names, correct)
	if err != nil {
		return err
	}
	cl.maxKeys = int(*maxKeys)
	var rev record.Record
	err = scan("cluster", &c, stdin, stderr, func(r *record.Record) bool {
		if !flt.Match(r) || r.Kind == record.KindMan {
			return true
		}
		cl.add(r)
		if rmon {
			rev = *r
			rev.Reverse()
			cl.add(&rev)
		}
		return !cl.full
	})
	if err != nil {
		return err
	}
	if cl.full {
		return fmt.Errorf("more than %d distinct keys (--max-keys; about %d MB of memory per million keys): raise --max-keys, use fewer or coarser -m keys (saddr/24), or select fewer records with -t or a filter",
			cl.maxKeys, clusterEntrySize*1_000_000>>20)
	}
	out, err := newSink(&c, o, stdout)
	if err != nil {
		return err
	}
	idx := make([]int32, cl.n)
	for i := range idx {
		idx[i] = int32(i)
	}
	if order != nil {
		slices.SortStableFunc(idx, func(i, j int32) int { return order.compare(&cl.entry(int(i)).rec, &cl.entry(int(j)).rec) })
		if *top > 0 && len(idx) > *top {
			idx = idx[:*top]
		}
	}
	n := 0
	for _, i := range idx {
		if c.count > 0 && n == c.count {
			break
		}
		e := cl.entry(int(i))
		if err := out.put(&e.rec, e.differ); err != nil {
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

type keyKind uint8

const (
	keySaddr keyKind = iota
	keyDaddr
	keyProto
	keyUint
	keyFloat
	keyText
)

type keyPart struct {
	kind keyKind
	f    *record.Field
	bits int // saddr/daddr: prefix length, -1 for the whole address
}

// clusterEntrySize estimates the memory one cluster costs: the entry, its map slot
// (twice over while the map grows) and its key (TestKeysMemoryPerKey measures it).
const clusterEntrySize = int64(unsafe.Sizeof(clusterEntry{})) + 256

// rmonLabels relabels the columns whose meaning -M rmon changes: the source address
// is the object (Host), and the source and destination counters are what it sent and
// received.
func rmonLabels(fields []*record.Field) []*record.Field {
	labels := map[string]string{"saddr": "Host", "spkts": "OutPkts", "dpkts": "InPkts", "sbytes": "OutBytes", "dbytes": "InBytes"}
	out := make([]*record.Field, len(fields))
	for i, f := range fields {
		out[i] = f
		if l, ok := labels[f.Name]; ok {
			g := *f
			g.Label = l
			out[i] = &g
		}
	}
	return out
}

type clusterEntry struct {
	rec    record.Record
	differ uint32 // idFields bits on which the merged records disagree
}

// chunkSize entries are allocated together: growing never copies the (large) merged
// records, and entry pointers stay valid.
const chunkSize = 256

// clusterer merges records by key. Each record's key is a byte string built in a
// reused buffer (fixed-width values, length-prefixed text), and looked up in a map
// from key to the index of its merged record: a record that joins an existing entry
// costs no allocation.
type clusterer struct {
	keys      []keyPart
	keyBits   uint32 // idFields bits of the key fields: never blanked
	checkBits uint32 // idFields bits that are not key fields: compared on merge
	correct   bool
	format    record.Format
	index     map[string]int
	chunks    [][]clusterEntry // entries in order of first appearance, chunkSize per chunk
	n         int              // number of entries
	key       []byte
	rkey      []byte        // key of the reversed record
	rev       record.Record // scratch for the reversed record
	maxKeys   int           // new keys beyond this set full instead
	full      bool
}

func newClusterer(names []string, correct bool) (*clusterer, error) {
	c := &clusterer{correct: correct, format: record.DefaultFormat, index: make(map[string]int), maxKeys: math.MaxInt32}
	has := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(n)
		if n == "none" {
			continue // every record in one cluster
		}
		base, bits, err := splitMask(n)
		if err != nil {
			return nil, cli.Usagef("-m %q: %v", n, err)
		}
		f, ok := record.Lookup(base)
		if !ok {
			return nil, cli.Usagef("unknown field %q in -m", base)
		}
		k := keyPartFor(f)
		if bits >= 0 {
			if k.kind != keySaddr && k.kind != keyDaddr {
				return nil, cli.Usagef("-m %q: only saddr and daddr take a /length", n)
			}
			k.bits = bits
		}
		has[f.Name] = true
		c.keys = append(c.keys, k)
		c.keyBits |= idBit(f.Name)
	}
	// As in racluster, sport and dport imply proto: port 53 means nothing without it.
	if (has["sport"] || has["dport"]) && !has["proto"] {
		f, _ := record.Lookup("proto")
		c.keys = append(c.keys, keyPartFor(f))
		c.keyBits |= idBit("proto")
	}
	c.checkBits = (1<<len(idFields) - 1) &^ c.keyBits
	return c, nil
}

func keyPartFor(f *record.Field) keyPart {
	switch {
	case f.Name == "saddr":
		return keyPart{keySaddr, f, -1}
	case f.Name == "daddr":
		return keyPart{keyDaddr, f, -1}
	case f.Name == "proto":
		return keyPart{keyProto, f, -1}
	case f.Uint != nil:
		return keyPart{keyUint, f, -1}
	case f.Float != nil:
		return keyPart{keyFloat, f, -1}
	}
	return keyPart{keyText, f, -1}
}

func (c *clusterer) appendKey(b []byte, r *record.Record) []byte {
	for _, k := range c.keys {
		switch k.kind {
		case keySaddr:
			b = appendAddrKey(b, r, &r.SrcAddr, &r.Src, k.bits)
		case keyDaddr:
			b = appendAddrKey(b, r, &r.DstAddr, &r.Dst, k.bits)
		case keyProto:
			// IPv4 and IPv6 flows of one protocol cluster together; non-IP flows by
			// EtherType.
			if r.Family != 0 {
				b = append(b, 1, r.Proto)
			} else {
				b = binary.BigEndian.AppendUint16(append(b, 0), r.EtherType)
			}
		case keyUint:
			b = binary.BigEndian.AppendUint64(b, k.f.Uint(r))
		case keyFloat:
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(k.f.Float(r)))
		case keyText:
			n := len(b)
			b = k.f.Text(append(b, 0, 0), r, &c.format)
			binary.BigEndian.PutUint16(b[n:], uint16(len(b)-n-2))
		}
	}
	return b
}

// appendAddrKey appends an address key: the family, then the IP address, or for
// non-IP flows the EtherType and the address ra prints (ARP's IPv4 address, else MAC).
func appendAddrKey(b []byte, r *record.Record, a *[16]byte, s *record.Side, bits int) []byte {
	b = append(b, r.Family)
	if fam := addrFamily(r); bits >= 0 && fam != 0 {
		m := *a
		maskAddr(&m, fam, bits)
		a = &m
		if r.Family == 0 {
			// ARP by network: the MACs are not part of the key.
			return append(binary.BigEndian.AppendUint16(b, r.EtherType), a[:4]...)
		}
	}
	switch r.Family {
	case 4:
		return append(b, a[:4]...)
	case 6:
		return append(b, a[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, r.EtherType)
	return append(append(b, a[:4]...), s.MAC[:]...)
}

// add merges r into its cluster, or starts a new one. Management records are not
// clustered.
func (c *clusterer) add(r *record.Record) {
	if r.Kind == record.KindMan {
		return
	}
	c.key = c.appendKey(c.key[:0], r)
	if i, ok := c.index[string(c.key)]; ok {
		c.merge(i, r)
		return
	}
	if c.correct {
		c.rev = *r
		c.rev.Reverse()
		c.rkey = c.appendKey(c.rkey[:0], &c.rev)
		if i, ok := c.index[string(c.rkey)]; ok {
			c.merge(i, &c.rev)
			return
		}
	}
	if c.n >= c.maxKeys {
		c.full = true
		return
	}
	if c.n%chunkSize == 0 {
		c.chunks = append(c.chunks, make([]clusterEntry, chunkSize))
	}
	c.index[string(c.key)] = c.n
	e := c.entry(c.n)
	c.n++
	e.rec = *r
	e.rec.Man = nil
	e.rec.Trans = max(e.rec.Trans, 1)
	// A masked address key prints as its network.
	for _, k := range c.keys {
		if fam := addrFamily(&e.rec); k.bits >= 0 && fam != 0 {
			if k.kind == keySaddr {
				maskAddr(&e.rec.SrcAddr, fam, k.bits)
			} else {
				maskAddr(&e.rec.DstAddr, fam, k.bits)
			}
		}
	}
}

// entry returns the i'th merged record.
func (c *clusterer) entry(i int) *clusterEntry { return &c.chunks[i/chunkSize][i%chunkSize] }

func (c *clusterer) merge(i int, r *record.Record) {
	e := c.entry(i)
	// Only the identifier fields not yet known to differ, nor part of the key, need a
	// look: after a few merges most clusters have none left.
	for todo := c.checkBits &^ e.differ; todo != 0; todo &= todo - 1 {
		j := bits.TrailingZeros32(todo)
		if !idFields[j].same(&e.rec, r) {
			e.differ |= 1 << j
		}
	}
	e.rec.Merge(r)
}
