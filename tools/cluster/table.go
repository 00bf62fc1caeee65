package cluster

import "hash/maphash"

// keyTable maps cluster keys to entry numbers. It replaces a map[string]int: that map
// held a string (a pointer, and a separate allocation) per key, so that a scan of a
// large archive spent a tenth of its time in the map and the garbage collector walked
// millions of keys. Here the keys lie back to back in one byte arena, and the slots
// are open-addressed (linear probing) words holding the entry number and 32 bits of
// the key's hash: nothing holds a pointer, and a lookup touches one slot and, when the
// hash bits agree, one key.
type keyTable struct {
	seed  maphash.Seed
	slots []uint64 // hash>>32<<32 | entry+1; 0 is empty
	mask  uint64
	keys  []byte   // entry i's key is keys[ends[i-1]:ends[i]] (ends[-1] = 0)
	ends  []uint64 // end of each entry's key in keys
	// width is the length of every key so far (-1 once two differ): entry i's key is
	// then keys[i*width:], found without reading ends (a cache miss less per lookup).
	width int
}

func newKeyTable() *keyTable {
	const n = 1 << 10
	return &keyTable{seed: maphash.MakeSeed(), slots: make([]uint64, n), mask: n - 1}
}

// key returns entry i's key.
func (t *keyTable) key(i int) []byte {
	if w := t.width; w > 0 {
		return t.keys[i*w : i*w+w]
	}
	var from uint64
	if i > 0 {
		from = t.ends[i-1]
	}
	return t.keys[from:t.ends[i]]
}

// hash is the hash of key that find and insert take.
func (t *keyTable) hash(key []byte) uint64 { return maphash.Bytes(t.seed, key) }

// find returns the entry number of key (whose hash is h), or -1.
func (t *keyTable) find(key []byte, h uint64) int {
	tag := h >> 32 << 32
	for p := h & t.mask; ; p = (p + 1) & t.mask {
		s := t.slots[p]
		if s == 0 {
			return -1
		}
		if s&^0xffffffff == tag {
			if i := int(uint32(s)) - 1; string(t.key(i)) == string(key) {
				return i
			}
		}
	}
}

// insert adds key (hash h, not present) as the next entry, whose number it returns.
// Entry numbers stay below 2^32-1: Clusterer bounds them by MaxKeys (an int32).
func (t *keyTable) insert(key []byte, h uint64) int {
	i := len(t.ends)
	switch {
	case i == 0:
		t.width = len(key)
	case len(key) != t.width:
		t.width = -1
	}
	t.keys = append(t.keys, key...)
	t.ends = append(t.ends, uint64(len(t.keys)))
	if uint64(len(t.ends))*4 > uint64(len(t.slots))*3 { // load above 3/4
		t.grow()
		return i
	}
	t.place(h, i)
	return i
}

// place puts entry i (hash h) in the first free slot from its home.
func (t *keyTable) place(h uint64, i int) {
	p := h & t.mask
	for t.slots[p] != 0 {
		p = (p + 1) & t.mask
	}
	t.slots[p] = h>>32<<32 | uint64(i+1)
}

// grow doubles the slots and places every entry again (its hash computed anew from
// its key: keeping 64 bits of hash per entry would cost more than hashing again).
func (t *keyTable) grow() {
	n := uint64(len(t.slots)) * 2
	t.slots, t.mask = make([]uint64, n), n-1
	for i := range t.ends {
		t.place(t.hash(t.key(i)), i)
	}
}
