// Package cluster is the engine of `panoptes cluster`, `bins` and `top`: it merges
// flow records whose key fields (racluster's -m) are equal, optionally also under the
// reversed key (racluster's direction correction), and marks the identifier fields on
// which the merged records disagree, so that they print empty. Address keys take a
// prefix length (saddr/24).
package cluster

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"panoptes/internal/cli"
	"panoptes/record"
)

// DefaultKeys is racluster's default flow key; with it, direction correction is on.
var DefaultKeys = []string{"saddr", "daddr", "proto", "sport", "dport"}

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

// EntrySize estimates the memory one cluster costs: the entry, its map slot
// (twice over while the map grows) and its key (tools' TestKeysMemoryPerKey measures it).
const EntrySize = int64(unsafe.Sizeof(Entry{})) + 256

// Entry is one cluster: the merged record, and which identifier fields differ.
type Entry struct {
	Rec    record.Record
	Differ uint32 // idFields bits on which the merged records disagree
}

// chunkSize entries are allocated together: growing never copies the (large) merged
// records, and entry pointers stay valid.
const chunkSize = 256

// Clusterer merges records by key. Each record's key is a byte string built in a
// reused buffer (fixed-width values, length-prefixed text), and looked up in a table
// from key to the index of its merged record (keyTable): a record that joins an
// existing entry costs no allocation.
type Clusterer struct {
	keys      []keyPart
	keyBits   uint32 // idFields bits of the key fields: never blanked
	checkBits uint32 // idFields bits that are not key fields: compared on merge
	correct   bool
	format    record.Format
	index     *keyTable
	chunks    [][]Entry // entries in order of first appearance, chunkSize per chunk
	n         int       // number of entries
	key       []byte
	rkey      []byte        // key of the reversed record
	rev       record.Record // scratch for the reversed record
	maxKeys   int           // new keys beyond this set full instead
	full      bool
}

// New returns a Clusterer keyed by the fields names (saddr/24 for a network; "none"
// for one cluster of everything); with correct, a record whose reversed key is held is
// reversed and merged into it. Unknown names are usage errors.
func New(names []string, correct bool) (*Clusterer, error) {
	c := &Clusterer{correct: correct, format: record.DefaultFormat, index: newKeyTable(), maxKeys: math.MaxInt32}
	has := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(n)
		if n == "none" {
			continue // every record in one cluster
		}
		base, bits, err := SplitMask(n)
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
		c.keyBits |= IDBit(f.Name)
	}
	// As in racluster, sport and dport imply proto: port 53 means nothing without it.
	if (has["sport"] || has["dport"]) && !has["proto"] {
		f, _ := record.Lookup("proto")
		c.keys = append(c.keys, keyPartFor(f))
		c.keyBits |= IDBit("proto")
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

// AppendKey appends r's key to b: fixed-width values and length-prefixed text, equal
// exactly when the records belong to one cluster.
func (c *Clusterer) AppendKey(b []byte, r *record.Record) []byte {
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
	if fam := AddrFamily(r); bits >= 0 && fam != 0 {
		m := *a
		MaskAddr(&m, fam, bits)
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

// Add merges r into its cluster, or starts a new one. Management records are not
// clustered.
func (c *Clusterer) Add(r *record.Record) {
	if r.Kind == record.KindMan {
		return
	}
	c.key = c.AppendKey(c.key[:0], r)
	h := c.index.hash(c.key)
	if i := c.index.find(c.key, h); i >= 0 {
		c.merge(i, r)
		return
	}
	if c.correct {
		c.rev = *r
		c.rev.Reverse()
		c.rkey = c.AppendKey(c.rkey[:0], &c.rev)
		if i := c.index.find(c.rkey, c.index.hash(c.rkey)); i >= 0 {
			c.merge(i, &c.rev)
			return
		}
	}
	if c.n >= c.maxKeys {
		c.full = true
		return
	}
	if c.n%chunkSize == 0 {
		c.chunks = append(c.chunks, make([]Entry, chunkSize))
	}
	c.index.insert(c.key, h)
	e := c.Entry(c.n)
	c.n++
	e.Rec = *r
	e.Rec.Man = nil
	e.Rec.Trans = max(e.Rec.Trans, 1)
	// A masked address key prints as its network.
	for _, k := range c.keys {
		if fam := AddrFamily(&e.Rec); k.bits >= 0 && fam != 0 {
			if k.kind == keySaddr {
				MaskAddr(&e.Rec.SrcAddr, fam, k.bits)
			} else {
				MaskAddr(&e.Rec.DstAddr, fam, k.bits)
			}
		}
	}
}

// Entry returns the i'th merged record.
func (c *Clusterer) Entry(i int) *Entry { return &c.chunks[i/chunkSize][i%chunkSize] }

func (c *Clusterer) merge(i int, r *record.Record) {
	e := c.Entry(i)
	// Only the identifier fields not yet known to differ, nor part of the key, need a
	// look: after a few merges most clusters have none left.
	if todo := c.checkBits &^ e.Differ; todo != 0 {
		e.Differ |= differ(&e.Rec, r) & todo
	}
	e.Rec.Merge(r)
}

// differ returns the idFields bits of the fields on which a and b disagree: the
// same tests as idFields' (TestDifferIsIDFields), in one pass without a call per field.
func differ(a, b *record.Record) uint32 {
	var d uint32
	ip := a.Family != 0 && b.Family != 0
	sameFam := a.Family == b.Family && (a.Family != 0 || a.EtherType == b.EtherType)
	if !sameFam || a.SrcAddr != b.SrcAddr || a.Family == 0 && a.Src.MAC != b.Src.MAC {
		d |= 1 << 0
	}
	if !sameFam || a.DstAddr != b.DstAddr || a.Family == 0 && a.Dst.MAC != b.Dst.MAC {
		d |= 1 << 1
	}
	if ip && a.Proto != b.Proto || !ip && (a.Family != b.Family || a.EtherType != b.EtherType) {
		d |= 1 << 2
	}
	if a.SrcPort != b.SrcPort {
		d |= 1 << 3
	}
	if a.DstPort != b.DstPort {
		d |= 1 << 4
	}
	if a.Src.MAC != b.Src.MAC {
		d |= 1 << 5
	}
	if a.Dst.MAC != b.Dst.MAC {
		d |= 1 << 6
	}
	if a.Src.VLAN != b.Src.VLAN {
		d |= 1 << 7
	}
	if a.Dst.VLAN != b.Dst.VLAN {
		d |= 1 << 8
	}
	if a.Src.MPLS != b.Src.MPLS {
		d |= 1 << 9
	}
	if a.Dst.MPLS != b.Dst.MPLS {
		d |= 1 << 10
	}
	if a.SrcID != b.SrcID {
		d |= 1 << 11
	}
	if a.Inf != b.Inf {
		d |= 1 << 12
	}
	return d
}

// idFields are the flow-identifier fields that cluster prints empty when the records
// merged into one disagree on them (racluster keeps a non-key field only when it is the
// same in every merged record). Their index is their blank bit.
var idFields = [...]struct {
	name string
	same func(a, b *record.Record) bool
}{
	{"saddr", func(a, b *record.Record) bool { return sameAddr(a, b, true) }},
	{"daddr", func(a, b *record.Record) bool { return sameAddr(a, b, false) }},
	{"proto", func(a, b *record.Record) bool { // as cluster's proto key: IPv4 and IPv6 alike
		if a.Family != 0 && b.Family != 0 {
			return a.Proto == b.Proto
		}
		return a.Family == b.Family && a.EtherType == b.EtherType
	}},
	{"sport", func(a, b *record.Record) bool { return a.SrcPort == b.SrcPort }},
	{"dport", func(a, b *record.Record) bool { return a.DstPort == b.DstPort }},
	{"smac", func(a, b *record.Record) bool { return a.Src.MAC == b.Src.MAC }},
	{"dmac", func(a, b *record.Record) bool { return a.Dst.MAC == b.Dst.MAC }},
	{"svlan", func(a, b *record.Record) bool { return a.Src.VLAN == b.Src.VLAN }},
	{"dvlan", func(a, b *record.Record) bool { return a.Dst.VLAN == b.Dst.VLAN }},
	{"smpls", func(a, b *record.Record) bool { return a.Src.MPLS == b.Src.MPLS }},
	{"dmpls", func(a, b *record.Record) bool { return a.Dst.MPLS == b.Dst.MPLS }},
	{"srcid", func(a, b *record.Record) bool { return a.SrcID == b.SrcID }},
	{"inf", func(a, b *record.Record) bool { return a.Inf == b.Inf }},
}

func sameAddr(a, b *record.Record, src bool) bool {
	if a.Family != b.Family || a.EtherType != b.EtherType && a.Family == 0 {
		return false
	}
	if src {
		return a.SrcAddr == b.SrcAddr && (a.Family != 0 || a.Src.MAC == b.Src.MAC)
	}
	return a.DstAddr == b.DstAddr && (a.Family != 0 || a.Dst.MAC == b.Dst.MAC)
}

// IDBit is the blank bit of the identifier field name (Entry.Differ), or 0 for a field
// that is never blanked.
func IDBit(name string) uint32 {
	for i, f := range idFields {
		if f.name == name {
			return 1 << i
		}
	}
	return 0
}

// SplitMask splits "saddr/24" into "saddr" and 24; a name without "/" gives -1.
func SplitMask(name string) (string, int, error) {
	base, l, ok := strings.Cut(name, "/")
	if !ok {
		return name, -1, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 0 || n > 128 {
		return "", 0, fmt.Errorf("bad prefix length %q (0 to 128)", l)
	}
	return base, n, nil
}

// AddrFamily is 4 or 6 for IP flows, 4 for ARP (its protocol addresses), 0 otherwise.
func AddrFamily(r *record.Record) uint8 {
	if r.Family != 0 {
		return r.Family
	}
	if r.EtherType == 0x0806 || r.EtherType == 0x8035 {
		return 4
	}
	return 0
}

// MaskAddr keeps the first bits bits of an address of family fam (4: the first 4
// bytes hold it).
func MaskAddr(a *[16]byte, fam uint8, bits int) {
	n := 16
	if fam == 4 {
		n = 4
	}
	for i := 0; i < n; i++ {
		switch {
		case bits >= 8*(i+1):
		case bits <= 8*i:
			a[i] = 0
		default:
			a[i] &= byte(0xff << (8 - (bits - 8*i)))
		}
	}
}

// Len is the number of clusters.
func (c *Clusterer) Len() int { return c.n }

// Full reports whether a record was refused because MaxKeys clusters are held.
func (c *Clusterer) Full() bool { return c.full }

// MaxKeys is the bound on clusters (math.MaxInt32 until SetMaxKeys).
func (c *Clusterer) MaxKeys() int { return c.maxKeys }

// SetMaxKeys bounds the clusters: a record with a new key beyond n is refused and Full
// becomes true.
func (c *Clusterer) SetMaxKeys(n int) { c.maxKeys = n }

// KeyFields are the key's fields, in order (proto added when a port is a key).
func (c *Clusterer) KeyFields() []*record.Field {
	fs := make([]*record.Field, len(c.keys))
	for i, k := range c.keys {
		fs[i] = k.f
	}
	return fs
}
