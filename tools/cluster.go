package tools

import (
	"encoding/binary"
	"io"
	"math"
	"strings"

	"panoptes/internal/cli"
	"panoptes/record"
)

const clusterUsage = "-r FILE [-r FILE]... [-m KEYS] [-M correct|nocorrect] [read output options] [-- FILTER]"

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
func ClusterMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("cluster", clusterUsage, stderr)
	var c common
	c.register(fs)
	var keySpecs, modes []string
	fs.StringArrayVarP(&keySpecs, "keys", "m", nil, "merge records with equal `KEYS` (comma- or space-separated field names, or none)")
	fs.StringArrayVarP(&modes, "mode", "M", nil, "`MODE`: correct (also try the reversed key) or nocorrect")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	names := defaultKeys
	correct := true
	if fs.Changed("keys") {
		names, correct = nil, false
		for _, s := range keySpecs {
			names = append(names, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
		}
	}
	for _, s := range modes {
		for _, m := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			switch m {
			case "correct":
				correct = true
			case "nocorrect":
				correct = false
			default:
				return cli.Usagef("unsupported -M mode %q (have: correct, nocorrect)", m)
			}
		}
	}
	cl, err := newClusterer(names, correct)
	if err != nil {
		return err
	}
	err = scan("cluster", &c, stdin, stderr, func(r *record.Record) bool {
		if flt.Match(r) {
			cl.add(r)
		}
		return true
	})
	if err != nil {
		return err
	}
	out, err := newSink(&c, o, stdout)
	if err != nil {
		return err
	}
	n := 0
	for i := 0; i < cl.n; i++ {
		if c.count > 0 && n == c.count {
			break
		}
		e := cl.entry(i)
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
	keys    []keyPart
	keyBits uint32 // idFields bits of the key fields: never blanked
	correct bool
	format  record.Format
	index   map[string]int
	chunks  [][]clusterEntry // entries in order of first appearance, chunkSize per chunk
	n       int              // number of entries
	key     []byte
	rkey    []byte        // key of the reversed record
	rev     record.Record // scratch for the reversed record
}

func newClusterer(names []string, correct bool) (*clusterer, error) {
	c := &clusterer{correct: correct, format: record.DefaultFormat, index: make(map[string]int)}
	has := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(n)
		if n == "none" {
			continue // every record in one cluster
		}
		f, ok := record.Lookup(n)
		if !ok {
			return nil, cli.Usagef("unknown field %q in -m", n)
		}
		has[f.Name] = true
		c.keys = append(c.keys, keyPartFor(f))
		c.keyBits |= idBit(f.Name)
	}
	// As in racluster, sport and dport imply proto: port 53 means nothing without it.
	if (has["sport"] || has["dport"]) && !has["proto"] {
		f, _ := record.Lookup("proto")
		c.keys = append(c.keys, keyPartFor(f))
		c.keyBits |= idBit("proto")
	}
	return c, nil
}

func keyPartFor(f *record.Field) keyPart {
	switch {
	case f.Name == "saddr":
		return keyPart{keySaddr, f}
	case f.Name == "daddr":
		return keyPart{keyDaddr, f}
	case f.Name == "proto":
		return keyPart{keyProto, f}
	case f.Uint != nil:
		return keyPart{keyUint, f}
	case f.Float != nil:
		return keyPart{keyFloat, f}
	}
	return keyPart{keyText, f}
}

func (c *clusterer) appendKey(b []byte, r *record.Record) []byte {
	for _, k := range c.keys {
		switch k.kind {
		case keySaddr:
			b = appendAddrKey(b, r, &r.SrcAddr, &r.Src)
		case keyDaddr:
			b = appendAddrKey(b, r, &r.DstAddr, &r.Dst)
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
func appendAddrKey(b []byte, r *record.Record, a *[16]byte, s *record.Side) []byte {
	b = append(b, r.Family)
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
	if c.n%chunkSize == 0 {
		c.chunks = append(c.chunks, make([]clusterEntry, chunkSize))
	}
	c.index[string(c.key)] = c.n
	e := c.entry(c.n)
	c.n++
	e.rec = *r
	e.rec.Man = nil
	e.rec.Trans = max(e.rec.Trans, 1)
}

// entry returns the i'th merged record.
func (c *clusterer) entry(i int) *clusterEntry { return &c.chunks[i/chunkSize][i%chunkSize] }

func (c *clusterer) merge(i int, r *record.Record) {
	e := c.entry(i)
	for j, id := range idFields {
		if bit := uint32(1) << j; (e.differ|c.keyBits)&bit == 0 && !id.same(&e.rec, r) {
			e.differ |= bit
		}
	}
	e.rec.Merge(r)
}
