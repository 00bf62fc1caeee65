package sflow

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/internal/peer"
	"panoptes/record"
)

// The end-to-end comparison with pmacct: pmacctd reads a capture and exports it as
// sFlow (its sfprobe plugin) to `panoptes relay -C`, which writes a record file; the
// same pmacctd run accounts the packets itself (its print plugin, aggregated by
// src_host,dst_host,src_port,dst_port,proto). Sampling 1 in 1, Panoptes' per-flow
// totals equal pmacct's; 1 in N, every record says N and the scaled totals come near
// the true ones.
//
// pmacct counts IP bytes (the IP total length), Panoptes frame bytes as Argus does; the
// capture handed to pmacctd holds only untagged Ethernet frames whose IP length is the
// frame length less the 14-byte Ethernet header (no padding), so that the two differ
// by exactly 14 bytes a packet.
//
// pmacctd reading a file hands its plugins the packets in buffers. When it exits at
// the end of the file, the last buffer may never reach sfprobe, and the print plugin
// may end before writing anything (both seen here under load). So it runs with
// pcap_savefile_wait, stays up after the file, and is stopped with SIGINT once the
// relay has the sFlow of the capture's end; it then hands the last buffer to its
// plugins twice (14 packets of testdata/get.pcap are accounted 28 times). The capture
// therefore ends with filler packets, more than a buffer holds, of a flow left out of
// the comparison: whatever happens to the last buffer happens to filler only.

// Ethernet captures of the comparison: the repository's own, and a larger one from the
// shared corpus when it is present.
func pmacctCaptures(t *testing.T) []string {
	root := peer.Root(t)
	caps := []string{filepath.Join(root, "testdata", "get.pcap"), filepath.Join(root, "testdata", "http_ipv6.pcap"), filepath.Join(root, "testdata", "icmp.pcap")}
	if dir, ok := peer.CorpusDir(t); ok {
		caps = append(caps, filepath.Join(dir, "android.pcap"))
	}
	return caps
}

var (
	fillerSrc = netip.MustParseAddr("198.51.100.1")
	fillerDst = netip.MustParseAddr("198.51.100.2")
)

const fillerPackets = 400

// writeComparisonPcap writes the captures' untagged, unpadded Ethernet IPv4/IPv6 frames
// into one pcap file, then the filler, and returns the number of frames taken.
func writeComparisonPcap(t *testing.T, path string, captures []string) int {
	t.Helper()
	out := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	out = binary.LittleEndian.AppendUint16(out, 2)
	out = binary.LittleEndian.AppendUint16(out, 4)
	out = append(out, make([]byte, 8)...)
	out = binary.LittleEndian.AppendUint32(out, 65535)
	out = binary.LittleEndian.AppendUint32(out, 1) // Ethernet
	n := 0
	var last uint32
	add := func(sec, usec uint32, frame []byte) {
		out = binary.LittleEndian.AppendUint32(out, sec)
		out = binary.LittleEndian.AppendUint32(out, usec)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(frame)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(frame)))
		out = append(out, frame...)
		last = max(last, sec)
	}
	for _, c := range captures {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
			t.Fatalf("%s: not a little-endian microsecond Ethernet pcap", c)
		}
		for off := 24; off+16 <= len(b); {
			sec, usec := binary.LittleEndian.Uint32(b[off:]), binary.LittleEndian.Uint32(b[off+4:])
			incl, orig := int(binary.LittleEndian.Uint32(b[off+8:])), int(binary.LittleEndian.Uint32(b[off+12:]))
			if off+16+incl > len(b) {
				break
			}
			f := b[off+16 : off+16+incl]
			off += 16 + incl
			if incl != orig || len(f) < 54 {
				continue
			}
			var ipLen int
			switch binary.BigEndian.Uint16(f[12:]) {
			case 0x0800:
				ipLen = int(binary.BigEndian.Uint16(f[16:]))
			case 0x86dd:
				ipLen = 40 + int(binary.BigEndian.Uint16(f[18:]))
			default:
				continue
			}
			if ipLen+14 != len(f) {
				continue
			}
			add(sec, usec, f)
			n++
		}
	}
	for i := range fillerPackets {
		f := frame(0, fillerSrc, fillerDst, 17, udpHeader(9, 9, 58), 58)
		add(last+1, uint32(i), f)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

type pmFlow struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
}

type pmCounts struct{ pkts, bytes uint64 }

// pmKey is a record's key as pmacct aggregates it: ICMP without ports.
func pmKey(src, dst netip.Addr, sport, dport uint16, proto uint8) pmFlow {
	if proto == 1 || proto == 58 {
		sport, dport = 0, 0
	}
	return pmFlow{src.Unmap(), dst.Unmap(), sport, dport, proto}
}

func (k pmFlow) filler() bool { return k.src == fillerSrc && k.dst == fillerDst }

// readPrint reads pmacct's print plugin CSV.
func readPrint(t *testing.T, path string) map[pmFlow]pmCounts {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("pmacctd's print output: %v", err)
	}
	defer f.Close()
	out := map[pmFlow]pmCounts{}
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		if line == 0 {
			continue // SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES
		}
		c := strings.Split(sc.Text(), ",")
		if len(c) != 7 {
			t.Fatalf("%s:%d: %q", path, line+1, sc.Text())
		}
		src, err1 := netip.ParseAddr(c[0])
		dst, err2 := netip.ParseAddr(c[1])
		sp, err3 := strconv.ParseUint(c[2], 10, 16)
		dp, err4 := strconv.ParseUint(c[3], 10, 16)
		pk, err5 := strconv.ParseUint(c[5], 10, 64)
		by, err6 := strconv.ParseUint(c[6], 10, 64)
		proto, ok := record.ProtoNumber(c[4])
		if n, err := strconv.ParseUint(c[4], 10, 8); err == nil {
			proto, ok = uint8(n), true
		}
		for _, err := range []error{err1, err2, err3, err4, err5, err6} {
			if err != nil {
				t.Fatalf("%s:%d: %v", path, line+1, err)
			}
		}
		if !ok {
			t.Fatalf("%s:%d: protocol %q", path, line+1, c[4])
		}
		k := pmKey(src, dst, uint16(sp), uint16(dp), proto)
		v := out[k]
		out[k] = pmCounts{v.pkts + pk, v.bytes + by}
	}
	return out
}

// scanRecords counts the complete records of a stream file being written and says
// whether one is of the filler flow.
func scanRecords(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	rd, err := record.NewReader(f, path)
	if err != nil {
		return 0, false
	}
	n, filler := 0, false
	var r record.Record
	for rd.Read(&r) == nil {
		n++
		filler = filler || pmKey(r.Addr(true), r.Addr(false), r.SrcPort, r.DstPort, r.Proto).filler()
	}
	return n, filler
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// runPmacctd exports capture as sFlow sampled 1 in rate to a relay writing a record
// file, and returns Panoptes' records (per pmacct key, filler left out) with pmacct's
// own accounting.
func runPmacctd(t *testing.T, pmacctd, bin, capture string, rate int) (map[pmFlow]pmCounts, map[pmFlow]pmCounts, []record.Record) {
	t.Helper()
	dir := t.TempDir()
	port := freeUDPPort(t)
	out := filepath.Join(dir, "sflow.pnpt")
	relay := binarytest.Start(t, bin, "relay", "-C", fmt.Sprintf("127.0.0.1:%d", port), "-w", out)
	// The relay is listening once the port is taken.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) || relay.Exited() {
			t.Fatalf("the relay did not bind -C 127.0.0.1:%d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	printed := filepath.Join(dir, "print.csv")
	conf := filepath.Join(dir, "pmacctd.conf")
	cfg := fmt.Sprintf(`daemonize: false
pcap_savefile: %s
pcap_savefile_wait: true
plugins: sfprobe[sf], print[pr]
sfprobe_receiver[sf]: 127.0.0.1:%d
sampling_rate[sf]: %d
aggregate[pr]: src_host,dst_host,src_port,dst_port,proto
print_output[pr]: csv
print_output_file[pr]: %s
print_refresh_time[pr]: 3600
`, capture, port, rate, printed)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pmacctd, "-f", conf)
	var logs binarytest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			<-done
		}
	}()
	// pmacctd has read the whole capture once the filler (its end) reaches the relay;
	// then the relay's file stops growing.
	deadline := time.Now().Add(60 * time.Second)
	for n, same, filler := -1, 0, false; !filler || same < 10; time.Sleep(100 * time.Millisecond) {
		m, f := scanRecords(out)
		if m == n {
			same++
		} else {
			n, same = m, 0
		}
		filler = filler || f
		if time.Now().After(deadline) {
			t.Fatalf("no sFlow of the capture's end reached the relay within 60s (%d records)\npmacctd:\n%s\nrelay:\n%s", m, logs.String(), relay.Stderr())
		}
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Fatalf("pmacctd: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("pmacctd did not end within 30s of SIGINT\n%s", logs.String())
	}
	if want := fmt.Sprintf("Sampling at: 1/%d", rate); !strings.Contains(logs.String(), want) {
		t.Fatalf("pmacctd's log does not say %q:\n%s", want, logs.String())
	}
	if code := relay.Interrupt(10 * time.Second); code != 0 {
		t.Fatalf("relay exit status %d:\n%s", code, relay.Stderr())
	}
	if !strings.Contains(relay.Stderr(), "-C sflow: ") {
		t.Errorf("the relay's summary does not speak of sFlow:\n%s", relay.Stderr())
	}
	t.Logf("relay: %s", relay.Stderr())

	got := map[pmFlow]pmCounts{}
	var recs []record.Record
	for _, enc := range binarytest.Records(t, out) {
		r := binarytest.Decode(t, enc)
		k := pmKey(r.Addr(true), r.Addr(false), r.SrcPort, r.DstPort, r.Proto)
		if k.filler() {
			continue
		}
		recs = append(recs, r)
		v := got[k]
		got[k] = pmCounts{v.pkts + r.Src.Pkts, v.bytes + r.Src.Bytes}
	}
	// The print plugin writes its file as it ends, which may be just after the core.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, err := os.Stat(printed); err == nil && st.Size() > 0 {
			break
		}
	}
	if _, err := os.Stat(printed); err != nil {
		t.Fatalf("pmacctd's print plugin wrote nothing: %v\npmacctd:\n%s", err, logs.String())
	}
	want := readPrint(t, printed)
	for k := range want {
		if k.filler() {
			delete(want, k)
		}
	}
	return got, want, recs
}

// TestPmacctdSFlowExact: sampled 1 in 1, Panoptes' per-flow packets and bytes are
// pmacct's own (bytes: plus the 14-byte Ethernet header of each packet), flow for flow,
// and every record says it came from a sampled source (`read -s sampling`).
func TestPmacctdSFlowExact(t *testing.T) {
	pmacctd := peer.Need(t, "pmacctd", "pmacct")
	bin := binarytest.Build(t)
	capture := filepath.Join(t.TempDir(), "compare.pcap")
	frames := writeComparisonPcap(t, capture, pmacctCaptures(t))
	got, want, recs := runPmacctd(t, pmacctd, bin, capture, 1)
	var pkts uint64
	for k, w := range want {
		g, ok := got[k]
		pkts += w.pkts
		switch {
		case !ok:
			t.Errorf("%v: pmacct counts %d packets, Panoptes has no record", k, w.pkts)
		case g.pkts != w.pkts || g.bytes != w.bytes+14*w.pkts:
			t.Errorf("%v: Panoptes %d packets %d bytes, pmacct %d packets %d IP bytes (+14 each: %d)", k, g.pkts, g.bytes, w.pkts, w.bytes, w.bytes+14*w.pkts)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%v: Panoptes has %d packets, pmacct none", k, g.pkts)
		}
	}
	if pkts != uint64(frames) || len(want) < 10 {
		t.Errorf("pmacct accounted %d packets in %d flows, the capture has %d frames", pkts, len(want), frames)
	}
	t.Logf("%d flows, %d packets: equal", len(want), pkts)
	for i := range recs {
		if recs[i].Sampling != 1 || recs[i].Src.Pkts != 1 {
			t.Fatalf("record %d: sampling %d, %d packets", i, recs[i].Sampling, recs[i].Src.Pkts)
		}
	}

	// `read -s sampling` shows the field under its name.
	var enc []byte
	enc = record.AppendHeader(enc)
	enc = record.AppendRecord(enc, &recs[0])
	file := filepath.Join(t.TempDir(), "one.pnpt")
	if err := os.WriteFile(file, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	rd := binarytest.Start(t, bin, "read", "-r", file, "-s", "saddr,pkts,sampling", "-c", ",")
	if code := rd.Wait(10 * time.Second); code != 0 {
		t.Fatalf("read: exit %d: %s", code, rd.Stderr())
	}
	lines := strings.Split(strings.TrimSpace(rd.Stdout()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], ",Sampling") || !strings.HasSuffix(lines[1], ",1,1") {
		t.Errorf("read -s saddr,pkts,sampling -c ,:\n%s", rd.Stdout())
	}
}

// TestPmacctdSFlowSampled: sampled 1 in 4, every record says 4 and counts 4 packets, its
// flow is one pmacct saw, and the scaled total is the true one within five standard
// deviations of the sampling.
func TestPmacctdSFlowSampled(t *testing.T) {
	pmacctd := peer.Need(t, "pmacctd", "pmacct")
	bin := binarytest.Build(t)
	capture := filepath.Join(t.TempDir(), "compare.pcap")
	writeComparisonPcap(t, capture, pmacctCaptures(t))
	const rate = 4
	got, want, recs := runPmacctd(t, pmacctd, bin, capture, rate)
	for i := range recs {
		if recs[i].Sampling != rate || recs[i].Src.Pkts != rate {
			t.Fatalf("record %d: sampling %d, %d packets", i, recs[i].Sampling, recs[i].Src.Pkts)
		}
	}
	var truth, estimate uint64
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%v: Panoptes has %d packets, pmacct none", k, g.pkts)
		}
		estimate += g.pkts
	}
	for _, w := range want {
		truth += w.pkts
	}
	// Samples are Binomial(truth, 1/rate): the estimate's standard deviation is
	// rate*sqrt(truth*p*(1-p)).
	p := 1.0 / rate
	sd := rate * math.Sqrt(float64(truth)*p*(1-p))
	if d := math.Abs(float64(estimate) - float64(truth)); d > 5*sd || truth == 0 {
		t.Errorf("estimated %d packets from samples, %d true: off by %.0f, more than 5 sd (%.0f)", estimate, truth, d, 5*sd)
	}
	t.Logf("1 in %d: %d packets estimated from %d samples, %d true (sd %.1f)", rate, estimate, len(recs), truth, sd)
}
