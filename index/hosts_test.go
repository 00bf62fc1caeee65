package index

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzParseAddrEntry: an address entry of any bytes decodes or errors, never panics;
// an entry written by addrKey and addrValue decodes to what was written, and its block
// list to the offsets written.
func FuzzParseAddrEntry(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint32(7), uint64(42), uint64(3), int64(1_767_225_600_000_000_000), uint64(5e9), []byte{0x80, 0x20, 0x90, 0x10})
	f.Add([]byte{}, uint32(0), uint64(0), uint64(0), int64(-1), uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, raw []byte, srcid uint32, segid, records uint64, first int64, span uint64, blocks []byte) {
		// Any bytes, as either layout.
		for _, k := range [][]byte{append([]byte{'a'}, make([]byte, addrKeyLen-1)...), append([]byte{'a'}, make([]byte, addrKeyLenV2-1)...), raw} {
			parseAddrEntry(k, raw) //nolint:errcheck // must not panic
		}
		var addr [16]byte
		copy(addr[:], raw)
		span %= 1 << 62
		st := &addrStat{records: records, first: first, last: first + int64(span)}
		var offs []int64
		var off int64
		for p := 0; p < len(blocks) && len(offs) < 64; p++ {
			off += int64(blocks[p]) + 1
			offs = append(offs, off)
			d := off
			if len(offs) > 1 {
				d = off - offs[len(offs)-2]
			}
			st.blocks = binary.AppendUvarint(st.blocks, uint64(d))
		}
		e, err := parseAddrEntry(addrKey(addr, segid), addrValue(srcid, st))
		if err != nil {
			t.Fatal(err)
		}
		if e.addr != addr || e.srcid != srcid || e.segid != segid || e.records != records || e.first != first || e.last != st.last || !bytes.Equal(e.blocks, st.blocks) {
			t.Fatalf("round trip: got %+v, want addr %x srcid %d segid %d records %d first %d last %d", e, addr, srcid, segid, records, first, st.last)
		}
		var got []int64
		if err := addrBlocks(e.blocks, func(o int64) { got = append(got, o) }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(offs) {
			t.Fatalf("block list: %v, want %v", got, offs)
		}
		for i := range got {
			if got[i] != offs[i] {
				t.Fatalf("block list: %v, want %v", got, offs)
			}
		}
	})
}
