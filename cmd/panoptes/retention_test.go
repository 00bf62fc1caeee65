package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
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

// netflowV5 returns a NetFlow v5 datagram of n UDP flows exported at unixSecs, each
// flow lasting the 10 s before the export, with source ports from port0 on.
func netflowV5(unixSecs uint32, n int, port0 uint16) []byte {
	const uptime = 1_000_000 // ms
	b := make([]byte, 24+48*n)
	binary.BigEndian.PutUint16(b[0:], 5)
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[4:], uptime)
	binary.BigEndian.PutUint32(b[8:], unixSecs)
	for i := 0; i < n; i++ {
		r := b[24+48*i:]
		copy(r[0:], []byte{10, 0, 0, 1})
		copy(r[4:], []byte{10, 0, 0, 2})
		binary.BigEndian.PutUint32(r[16:], 1)  // packets
		binary.BigEndian.PutUint32(r[20:], 60) // bytes
		binary.BigEndian.PutUint32(r[24:], uptime-10_000)
		binary.BigEndian.PutUint32(r[28:], uptime)
		binary.BigEndian.PutUint16(r[32:], port0+uint16(i))
		binary.BigEndian.PutUint16(r[34:], 53)
		r[38] = 17
	}
	return b
}

// `relay -C ADDR -w A/ --retain-age 90d` collects flows stamped now, then one NetFlow v5
// datagram with unix_secs 0xFFFFFFFF (2106): every record stays, and the relay reports
// the record stamped in the future.
//
// Before the fix: "1 of 601 records left" (the collected flows were deleted as older
// than 90 days before 2106).
func TestRelayFutureNetFlowKeepsArchive(t *testing.T) {
	bin := binarytest.Build(t)
	arch := filepath.Join(t.TempDir(), "A") + "/"
	addr := fmt.Sprintf("127.0.0.1:%d", freeUDPPortE2E(t))
	relay := binarytest.Start(t, bin, "relay", "-C", addr, "-w", arch, "--retain-age", "90d")
	// The relay binds -C before it opens -w: once the index exists, datagrams are received.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(arch, "index")); err == nil {
			break
		}
		if relay.Exited() || time.Now().After(deadline) {
			t.Fatalf("relay -C %s did not start: %s", addr, relay.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	now := uint32(time.Now().Unix())
	want := 0
	for i := 0; i < 20; i++ {
		if _, err := c.Write(netflowV5(now, 30, uint16(1000+30*i))); err != nil {
			t.Fatal(err)
		}
		want += 30
	}
	if _, err := c.Write(netflowV5(0xFFFFFFFF, 1, 9999)); err != nil {
		t.Fatal(err)
	}
	want++
	// SIGINT makes the relay write everything that reached its socket (as in
	// TestSoftflowdToRelayCollector); "N records relayed" says it did.
	if code := relay.Interrupt(15 * time.Second); code != 0 {
		t.Fatalf("relay: exit %d after SIGINT: %s", code, relay.Stderr())
	}
	if !strings.Contains(relay.Stderr(), fmt.Sprintf("%d records relayed", want)) {
		t.Fatalf("the relay did not take every datagram (want %d records):\n%s", want, relay.Stderr())
	}
	got := 0
	for _, n := range countBySrcID(t, arch) {
		got += n
	}
	if got != want {
		t.Errorf("%d of %d records left", got, want)
	}
	if !strings.Contains(relay.Stderr(), "in the future") {
		t.Errorf("the relay did not report the record stamped in the future:\n%s", relay.Stderr())
	}
}
