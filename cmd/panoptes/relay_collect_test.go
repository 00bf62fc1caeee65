package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"panoptes/internal/peer"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
)

// TestSoftflowdToRelayCollector exports captures with softflowd 1.1.0 (NetFlow v5, v9,
// IPFIX and biflow IPFIX over UDP) into `panoptes relay -C ADDR -w OUT`, stops the relay
// with SIGINT as soon as softflowd has exited, and checks that OUT, printed by
// `panoptes read -c ,`, holds per flow direction exactly the packets and bytes softflowd
// says it exported (its -D "EXPIRED" lines). Stopping right after the last datagram
// checks that SIGINT flushes -w with everything that reached the collector socket.
func TestSoftflowdToRelayCollector(t *testing.T) {
	for _, tool := range []string{"softflowd", "softflowctl"} {
		peer.Need(t, tool, "softflowd")
	}
	bin := binarytest.Build(t)
	captures := []string{"../../testdata/get.pcap", "../../testdata/dns.pcap", "../../testdata/icmp.pcap", "../../testdata/http_ipv6.pcap"}
	if !testing.Short() {
		// A few hundred flows of a real trace, when the shared corpus is there.
		if dir, ok := peer.CorpusDir(t); ok {
			captures = append(captures, filepath.Join(dir, "1kxun.pcap"), filepath.Join(dir, "iphone.pcap"))
		}
	}
	for _, capture := range captures {
		for _, mode := range []struct {
			version string
			biflow  bool
		}{{"5", false}, {"9", false}, {"10", false}, {"10", true}} {
			name := filepath.Base(capture) + "/v" + mode.version
			if mode.biflow {
				name += "-biflow"
			}
			t.Run(name, func(t *testing.T) {
				softflowdIntoRelay(t, bin, capture, mode.version, mode.biflow)
			})
		}
	}
}

func softflowdIntoRelay(t *testing.T, bin, capture, version string, biflow bool) {
	dir := t.TempDir()
	out := filepath.Join(dir, "collected.pnp")
	port := freeUDPPortE2E(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	relay := binarytest.Start(t, bin, "relay", "-C", addr, "-w", out)
	// The relay binds -C before it creates -w: once OUT exists, datagrams are received.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(out); err == nil {
			break
		}
		if relay.Exited() || time.Now().After(deadline) {
			t.Fatalf("relay -C %s did not start: %s", addr, relay.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}

	exported := runSoftflowdInto(t, capture, addr, version, biflow)
	if code := relay.Interrupt(15 * time.Second); code != 0 {
		t.Fatalf("relay: exit %d after SIGINT: %s", code, relay.Stderr())
	}
	// The relay has no way to report a malformed datagram other than its log.
	if strings.Contains(relay.Stderr(), "-C:") {
		t.Errorf("relay reported trouble with the exports:\n%s", relay.Stderr())
	}

	want := map[flowDir]flowCounts{}
	for k, c := range exported {
		if version == "5" && k.src.Is6() {
			continue // NetFlow v5 cannot carry IPv6 flows
		}
		if biflow {
			want[k] = c
			continue
		}
		// One-way exports: each direction with packets is a record of its own.
		if c.pkts > 0 {
			want[k] = want[k].add(flowCounts{pkts: c.pkts, bytes: c.bytes})
		}
		if c.rpkts > 0 {
			want[k.reverse()] = want[k.reverse()].add(flowCounts{pkts: c.rpkts, bytes: c.rbytes})
		}
	}
	if len(want) == 0 {
		if version == "5" {
			t.Skip("no IPv4 flows: nothing NetFlow v5 can carry")
		}
		t.Fatalf("softflowd exported no flows from %s", capture)
	}

	got, rows := readCollected(t, bin, out)
	m := regexp.MustCompile(`(\d+) records relayed`).FindStringSubmatch(relay.Stderr())
	if m == nil || m[1] != strconv.Itoa(rows) {
		t.Errorf("relay says %q, OUT holds %d records", m, rows)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok && biflow {
			// softflowd may have exported the biflow from the other side.
			if rg, rok := got[k.reverse()]; rok {
				g, ok = flowCounts{rg.rpkts, rg.rbytes, rg.pkts, rg.bytes}, true
			}
		}
		if !ok {
			t.Errorf("flow %v: not in OUT; softflowd exported %+v", k, w)
		} else if g != w {
			t.Errorf("flow %v: OUT has %+v, softflowd exported %+v", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("OUT has %d flows, softflowd exported %d", len(got), len(want))
	}
	t.Logf("%d records, %d flows", rows, len(want))
}

// flowDir is one direction of a flow. ICMP type and code are left out: NetFlow carries
// them in the destination port, and softflowd keys and prints them in its own way.
type flowDir struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
}

func (k flowDir) reverse() flowDir { return flowDir{k.dst, k.src, k.dport, k.sport, k.proto} }

func newFlowDir(src, dst netip.Addr, sport, dport uint16, proto uint8) flowDir {
	if proto == 1 || proto == 58 {
		sport, dport = 0, 0
	}
	return flowDir{src.Unmap(), dst.Unmap(), sport, dport, proto}
}

// flowCounts are the packets and bytes of a flow's source side and, for a biflow, of
// its destination side (r).
type flowCounts struct{ pkts, bytes, rpkts, rbytes uint64 }

func (c flowCounts) add(d flowCounts) flowCounts {
	return flowCounts{c.pkts + d.pkts, c.bytes + d.bytes, c.rpkts + d.rpkts, c.rbytes + d.rbytes}
}

// softflowdExpired is softflowd's debug line (-D) for each flow it exports: its own
// view of the flow's two directions.
var softflowdExpired = regexp.MustCompile(`EXPIRED: seq:\d+ \[([^\]]+)\]:(\d+) <> \[([^\]]+)\]:(\d+) proto:(\d+) octets>:(\d+) packets>:(\d+) octets<:(\d+) packets<:(\d+) `)

// runSoftflowdInto replays capture through softflowd, exporting NetFlow version to the
// UDP address addr (-b: biflow IPFIX), and returns what softflowd says it exported,
// summed per flow (keyed by the side it prints first).
func runSoftflowdInto(t *testing.T, capture, addr, version string, biflow bool) map[flowDir]flowCounts {
	t.Helper()
	args := []string{"-n", addr, "-v", version}
	if biflow {
		args = append(args, "-b")
	}
	log, err := binarytest.Softflowd(t, capture, args...)
	if err != nil {
		t.Fatalf("softflowd: %v\n%s", err, log)
	}
	return parseSoftflowdLog(t, log)
}

func parseSoftflowdLog(t *testing.T, log string) map[flowDir]flowCounts {
	t.Helper()
	view := map[flowDir]flowCounts{}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		m := softflowdExpired.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n := func(i int) uint64 {
			v, err := strconv.ParseUint(m[i], 10, 64)
			if err != nil {
				t.Fatalf("softflowd line %q: %v", sc.Text(), err)
			}
			return v
		}
		a, err1 := netip.ParseAddr(m[1])
		b, err2 := netip.ParseAddr(m[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("softflowd line %q: %v %v", sc.Text(), err1, err2)
		}
		k := newFlowDir(a, b, uint16(n(2)), uint16(n(4)), uint8(n(5)))
		view[k] = view[k].add(flowCounts{pkts: n(7), bytes: n(6), rpkts: n(9), rbytes: n(8)})
	}
	return view
}

// readCollected prints the collected file with `panoptes read -c ,` and sums its
// records per flow direction; it also returns the number of records.
func readCollected(t *testing.T, bin, path string) (map[flowDir]flowCounts, int) {
	t.Helper()
	cmd := exec.Command(bin, "read", "-r", path, "-n", "-c", ",", "-s", "saddr,sport,daddr,dport,proto,spkts,dpkts,sbytes,dbytes,flgs,srcid")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	text, err := cmd.Output()
	if err != nil {
		t.Fatalf("panoptes read -r %s: %v: %s", path, err, stderr.String())
	}
	rows, err := csv.NewReader(bytes.NewReader(text)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("panoptes read -c ,: %v:\n%s", err, text)
	}
	got := map[flowDir]flowCounts{}
	for _, row := range rows[1:] {
		n := func(i int) uint64 {
			if row[i] == "" {
				return 0 // read leaves ports blank for protocols without them
			}
			v, err := strconv.ParseUint(row[i], 10, 64)
			if err != nil {
				t.Fatalf("column %s of %q: %v", rows[0][i], row, err)
			}
			return v
		}
		a, err1 := netip.ParseAddr(row[0])
		b, err2 := netip.ParseAddr(row[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("addresses of %q: %v %v", row, err1, err2)
		}
		// Every record is marked as collected from a flow export (N), with the
		// exporter's IPv4 address as its source id.
		if !strings.Contains(row[9], "N") || n(10) != 0x7f000001 {
			t.Fatalf("record %q: want flag N and srcid 127.0.0.1 (2130706433)", row)
		}
		k := newFlowDir(a, b, uint16(n(1)), uint16(n(3)), uint8(n(4)))
		got[k] = got[k].add(flowCounts{pkts: n(5), bytes: n(7), rpkts: n(6), rbytes: n(8)})
	}
	return got, len(rows) - 1
}

// freeUDPPortE2E returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPortE2E(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
