package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countBySrcID prints an archive with `read -R ARCH -s srcid` and counts its records
// per source id.
func countBySrcID(t *testing.T, arch string) map[string]int {
	t.Helper()
	out, errs, code := panoptes(t, nil, "read", "-R", arch, "-n", "-c", ",", "-s", "srcid")
	if code != 0 {
		t.Fatalf("read -R %s: exit %d: %s", arch, code, errs)
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		got[strings.TrimSpace(line)]++
	}
	return got
}

// futurePcap writes a capture of one UDP packet stamped 2106-02-07 (ts_sec 0xFFFFFFFF)
// and returns its path.
func futurePcap(t *testing.T) string {
	t.Helper()
	pkt := make([]byte, 14+20+8+4)
	pkt[12], pkt[13] = 0x08, 0x00 // IPv4
	ip := pkt[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{192, 0, 2, 1})
	copy(ip[16:], []byte{192, 0, 2, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], 12)
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1) // Ethernet
	b = binary.LittleEndian.AppendUint32(b, 0xFFFFFFFF)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
	path := filepath.Join(t.TempDir(), "2106.pcap")
	if err := os.WriteFile(path, append(b, pkt...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// An import of a capture holding one packet stamped 2106, under another source id,
// into an archive with --retain-age 90d: it is stored and reported, and the case
// already there (2013) keeps every record.
//
// Before the fix: "source id 1: 0 of 3 records left" (age was measured back from 2106
// for the whole archive).
func TestImportFutureCaptureKeepsOtherSources(t *testing.T) {
	arch := filepath.Join(t.TempDir(), "arch") + "/"
	if _, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", "get.pcap"), "--srcid", "1", "-w", arch, "--retain-age", "90d"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	before := countBySrcID(t, arch)["1"]
	if before == 0 {
		t.Fatal("the first import wrote no records")
	}
	_, errs, code := panoptes(t, nil, "import", "-r", futurePcap(t), "--srcid", "2", "-w", arch, "--retain-age", "90d")
	if code != 0 {
		t.Fatalf("import of the 2106 capture: exit %d: %s", code, errs)
	}
	got := countBySrcID(t, arch)
	if got["1"] != before {
		t.Errorf("source id 1: %d of %d records left", got["1"], before)
	}
	if got["2"] == 0 {
		t.Errorf("the 2106 capture's records were not stored: %v", got)
	}
	if !strings.Contains(errs, "in the future") {
		t.Errorf("import did not report the records stamped in the future:\n%s", errs)
	}
}
