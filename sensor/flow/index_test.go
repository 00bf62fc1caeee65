package flow

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestKeyHasNoPadding(t *testing.T) {
	var sum uintptr
	typ := reflect.TypeFor[Key]()
	for i := range typ.NumField() {
		sum += typ.Field(i).Type.Size()
	}
	if sum != typ.Size() {
		t.Fatalf("Key has %d bytes of padding: the index hashes every byte of a key, so padding would make equal keys hash differently", typ.Size()-sum)
	}
}

// TestIndexAgainstMap drives the index through random inserts and removals (with a
// small key space, so probe runs collide, wrap and shift) and checks every lookup
// against a Go map.
func TestIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tbl := NewTable(Config{}, nil)
	want := map[Key]int32{}
	keyOf := func(n int) Key {
		k := Key{Family: 4, Proto: 17, PortA: uint16(n), PortB: uint16(n >> 16)}
		k.A[0] = byte(n >> 8)
		return k
	}
	for step := range 200000 {
		k := keyOf(rng.IntN(3000))
		i, held := want[k]
		switch {
		case held && rng.IntN(2) == 0:
			tbl.remove(&k, i)
			tbl.release(i)
			delete(want, k)
		case !held:
			i = tbl.alloc()
			tbl.at(i).key = k
			tbl.insert(tbl.index.hash(&k), i)
			want[k] = i
		}
		if step%1000 == 0 || step > 199000 {
			for k, i := range want {
				if got := tbl.lookup(&k, tbl.index.hash(&k)); got != i {
					t.Fatalf("step %d: lookup %v = %d, want %d", step, k, got, i)
				}
			}
		}
		probe := keyOf(rng.IntN(3000))
		wi, ok := want[probe]
		if !ok {
			wi = nilIdx
		}
		if got := tbl.lookup(&probe, tbl.index.hash(&probe)); got != wi {
			t.Fatalf("step %d: lookup %v = %d, want %d", step, probe, got, wi)
		}
		if tbl.index.n != len(want) {
			t.Fatalf("step %d: index holds %d keys, want %d", step, tbl.index.n, len(want))
		}
	}
}
