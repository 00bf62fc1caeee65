package flow

import (
	"hash/maphash"
	"unsafe"
)

// flowIndex finds a flow's slab entry by its key: open addressing with linear probing
// over a power-of-two array of slots, at most half full, deletion by backward shift (no
// tombstones, so probe sequences never grow with churn).
//
// It replaces a Go map[Key]int32, which was the largest single cost of a packet (its
// lookup about 45 ns of the sensor's 290 ns per frame at 700k frames/s): the map hashes
// and compares the 44-byte key through generic code and probes its groups; here a slot
// holds 32 bits of the key's hash beside the entry, so a probe compares those and
// touches the entry (for the full key) only when they match; they also give the slot's
// home when the index grows or a removal shifts slots back.
//
// The hash is hash/maphash's — the runtime's own map hash, AES-based where the CPU has
// AES — with a random seed per table, so that crafted traffic cannot aim at collisions
// any better than it could with a Go map.
type flowIndex struct {
	seed  maphash.Seed
	slots []indexSlot
	mask  uint32
	n     int // keys held
}

type indexSlot struct {
	hash uint32 // the key's hash, its lower 32 bits; the slot's home is hash & mask
	ref  int32  // slab entry + 1; 0: empty
}

// keySize is the bytes of a Key that the hash reads: all of it, which has no padding
// (TestKeyHasNoPadding), so equal keys hash equally.
const keySize = int(unsafe.Sizeof(Key{}))

func (x *flowIndex) init(capacity int) {
	x.seed = maphash.MakeSeed()
	size := 16
	for size < 2*capacity {
		size *= 2
	}
	x.slots = make([]indexSlot, size)
	x.mask = uint32(size - 1)
	x.n = 0
}

func (x *flowIndex) hash(k *Key) uint32 {
	return uint32(maphash.Bytes(x.seed, unsafe.Slice((*byte)(unsafe.Pointer(k)), keySize)))
}

// lookup returns the entry of key k (hash h), or nilIdx.
func (t *Table) lookup(k *Key, h uint32) int32 {
	x := &t.index
	for pos := h & x.mask; ; pos = (pos + 1) & x.mask {
		s := x.slots[pos]
		if s.ref == 0 {
			return nilIdx
		}
		if s.hash == h && t.at(s.ref-1).key == *k {
			return s.ref - 1
		}
	}
}

// insert adds entry i under key k (hash h), which must not be in the index.
func (t *Table) insert(h uint32, i int32) {
	x := &t.index
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	pos := h & x.mask
	for x.slots[pos].ref != 0 {
		pos = (pos + 1) & x.mask
	}
	x.slots[pos] = indexSlot{hash: h, ref: i + 1}
	x.n++
}

// grow doubles the slots.
func (x *flowIndex) grow() {
	old := x.slots
	x.slots = make([]indexSlot, 2*len(old))
	x.mask = uint32(len(x.slots) - 1)
	for _, s := range old {
		if s.ref == 0 {
			continue
		}
		pos := s.hash & x.mask
		for x.slots[pos].ref != 0 {
			pos = (pos + 1) & x.mask
		}
		x.slots[pos] = s
	}
}

// remove takes entry i, held under key k, out of the index. Later slots of the same
// probe run shift back into the hole, so that lookups never need tombstones.
func (t *Table) remove(k *Key, i int32) {
	x := &t.index
	pos := x.hash(k) & x.mask
	for x.slots[pos].ref != i+1 {
		if x.slots[pos].ref == 0 {
			return // not indexed
		}
		pos = (pos + 1) & x.mask
	}
	hole := pos
	for next := (hole + 1) & x.mask; x.slots[next].ref != 0; next = (next + 1) & x.mask {
		home := x.slots[next].hash & x.mask
		// The slot at next may move into the hole only if its home is not in the
		// cyclic range (hole, next]: moving it would put it before its home.
		if (next-home)&x.mask >= (next-hole)&x.mask {
			x.slots[hole] = x.slots[next]
			hole = next
		}
	}
	x.slots[hole] = indexSlot{}
	x.n--
}
