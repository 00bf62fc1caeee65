package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/ipfix"
	"panoptes/record"
)

// startCollector starts `relay -C 127.0.0.1:PORT -w OUT args...` and waits until it
// receives (it binds -C before it creates OUT).
func startCollector(t *testing.T, args ...string) (relay *binarytest.Proc, addr *net.UDPAddr, out string) {
	t.Helper()
	bin := binarytest.Build(t)
	out = filepath.Join(t.TempDir(), "collected.pnp")
	addr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: freeUDPPortE2E(t)}
	relay = binarytest.Start(t, bin, append([]string{"relay", "-C", addr.String(), "-w", out}, args...)...)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(out); err == nil {
			return relay, addr, out
		}
		if relay.Exited() || time.Now().After(deadline) {
			t.Fatalf("relay -C %s did not start: %s", addr, relay.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// udpFrom is a UDP socket bound to local (an address of 127/8, all local on Linux)
// and connected to addr.
func udpFrom(t *testing.T, local string, addr *net.UDPAddr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(local)}, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exportRecords sends n records (source addresses 10.x.y.z from first) as IPFIX over c,
// paced so that a loaded machine's relay loses none to its socket buffer.
func exportRecords(t *testing.T, c *net.UDPConn, first, n int) {
	t.Helper()
	e := ipfix.NewExporter(c, ipfix.ExporterOptions{Pace: time.Millisecond})
	for i := first; i < first+n; i++ {
		r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, SrcPort: 40000, DstPort: 53, Trans: 1,
			StartTime: 1_700_000_000e9 + int64(i)*1e6, LastTime: 1_700_000_001e9 + int64(i)*1e6}
		copy(r.SrcAddr[:], []byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		copy(r.DstAddr[:], []byte{192, 0, 2, 1})
		r.Src = record.Side{Pkts: 1, Bytes: 100}
		if err := e.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Records != uint64(n) || st.Lost != 0 {
		t.Fatalf("exporter stats %+v: want %d records sent", st, n)
	}
}

// templateFlood is an IPFIX message of observation domain dom holding 8,000 templates
// of one field each (ids 256 on).
func templateFlood(dom uint32) []byte {
	b := binary.BigEndian.AppendUint16(nil, 10)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(time.Now().Unix()))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, dom)
	b = binary.BigEndian.AppendUint16(b, 2)
	b = binary.BigEndian.AppendUint16(b, 4+8000*8)
	for i := range 8000 {
		b = binary.BigEndian.AppendUint16(b, uint16(256+i))
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint16(b, 8) // sourceIPv4Address
		b = binary.BigEndian.AppendUint16(b, 4)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// TestRelayCollectTemplateFlood: an exporter on 127.0.0.2 sends 10 datagrams of 8,000
// templates, each in a domain of its own, then the legitimate exporter on 127.0.0.1
// sends 2,000 records: `relay -C -w` stores all of them, and its exit summary counts
// the flooder's evicted templates. Before the fix: 0 of 2000 records stored (the flood
// filled the collector's 65,536-template table for good).
func TestRelayCollectTemplateFlood(t *testing.T) {
	relay, addr, out := startCollector(t)
	hostile := udpFrom(t, "127.0.0.2", addr)
	for dom := range uint32(10) {
		if _, err := hostile.Write(templateFlood(dom)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	const n = 2000
	exportRecords(t, udpFrom(t, "127.0.0.1", addr), 0, n)
	if code := relay.Interrupt(15 * time.Second); code != 0 {
		t.Fatalf("relay: exit %d after SIGINT: %s", code, relay.Stderr())
	}
	if got := binarytest.Count(out); got != n {
		t.Fatalf("%d of %d records of the legitimate exporter stored after another's template flood\n%s", got, n, relay.Stderr())
	}
	// 80,000 templates against the exporter's budget of 4,096.
	m := regexp.MustCompile(`-C exporter 127\.0\.0\.2: (\d+) templates held .*?, (\d+) evicted`).FindStringSubmatch(relay.Stderr())
	if m == nil || m[1] != fmt.Sprint(ipfix.DefaultMaxExporterTemplates) || m[2] != fmt.Sprint(80000-ipfix.DefaultMaxExporterTemplates) {
		t.Errorf("exit summary %q: want the flooder's 4096 templates held and 75904 evicted:\n%s", m, relay.Stderr())
	}
}

// TestRelayCollectAllow: with --allow 127.0.0.1/32, datagrams from 127.0.0.2 are
// dropped and counted, those from 127.0.0.1 stored. Before the fix: --allow did not
// exist (exit 2, "unknown flag: --allow"), and -C took datagrams from anyone.
func TestRelayCollectAllow(t *testing.T) {
	relay, addr, out := startCollector(t, "--allow", "127.0.0.1/32")
	exportRecords(t, udpFrom(t, "127.0.0.2", addr), 0, 100)
	exportRecords(t, udpFrom(t, "127.0.0.1", addr), 1000, 100)
	if code := relay.Interrupt(15 * time.Second); code != 0 {
		t.Fatalf("relay: exit %d after SIGINT: %s", code, relay.Stderr())
	}
	if got := binarytest.Count(out); got != 100 {
		t.Errorf("%d records stored, want the 100 of the allowed exporter", got)
	}
	m := regexp.MustCompile(`-C summary: (\d+) datagrams, (\d+) dropped from outside --allow`).FindStringSubmatch(relay.Stderr())
	if m == nil || m[2] == "0" || m[1] == m[2] {
		t.Errorf("exit summary %q: want the datagrams from 127.0.0.2 counted as dropped:\n%s", m, relay.Stderr())
	}
	if !regexp.MustCompile(`datagram from 127\.0\.0\.2:\d+ outside --allow dropped`).MatchString(relay.Stderr()) {
		t.Errorf("no log line names the dropped exporter:\n%s", relay.Stderr())
	}
}
