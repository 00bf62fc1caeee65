package sensor

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"panoptes/record"
	"panoptes/sensor/flow"
)

// orphanFragsPcap writes a pcap of n IPv6 fragments within one second, each of its own
// datagram (distinct IDs) and none the first fragment: each waits for a first fragment
// that never comes.
func orphanFragsPcap(t *testing.T, n int) string {
	t.Helper()
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	b := hdr
	for i := 0; i < n; i++ {
		frame := make([]byte, 14+40+8+16)
		binary.BigEndian.PutUint16(frame[12:], 0x86dd)
		ip := frame[14:]
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], 8+16)
		ip[6], ip[7] = 44, 64 // next header: fragment
		ip[8+15], ip[24+15] = 1, 2
		fh := ip[40:]
		fh[0] = 17                                 // UDP inside
		binary.BigEndian.PutUint16(fh[2:], 8<<3|1) // offset 64 bytes, more fragments
		binary.BigEndian.PutUint32(fh[4:], uint32(i))
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], 1000)
		binary.LittleEndian.PutUint32(rec[4:], uint32(i*(1000000/n)))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		b = append(append(b, rec...), frame...)
	}
	name := filepath.Join(t.TempDir(), "frags.pcap")
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestImportOrphanFragmentsBounded: 20000 orphan IPv6 fragments within one second,
// imported with --max-frags 100 and the default --max-flows. The fragment state is
// bounded by --max-frags, apart from the flows: the oldest waiting datagrams are
// reported early and counted as evictions in the management record, and every
// fragment is in a record.
// Before the fix: 0 evictions (all 20000 datagrams held until the end); then bounded
// by --max-flows only, which let 1 M orphan fragments take 2.4 GB at its default.
func TestImportOrphanFragmentsBounded(t *testing.T) {
	const n = 20000
	b, _, _, err := importBytes(t, []string{orphanFragsPcap(t, n)}, ImportConfig{Workers: 2, Flow: flow.Config{MaxFrags: 100}})
	if err != nil {
		t.Fatal(err)
	}
	var pkts uint64
	var last record.Record
	for _, r := range readAll(t, b) {
		if r.Kind == record.KindMan {
			last = r
			continue
		}
		pkts += r.Pkts()
	}
	if last.Man == nil || last.Man.Evictions < n-100 || pkts != n {
		t.Fatalf("stop record %+v; %d fragments in records; want at least %d evictions and %d fragments", last.Man, pkts, n-100, n)
	}
}
