package sensor

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/record"
)

// exitTotals reads the "total" row of the sensor's exit table by its header's column
// names (the capture source's: XDP's seen, received, passed, rx_dropped...; AF_PACKET's
// packets, received, drops...); nil without a table.
func exitTotals(stderr string) map[string]uint64 {
	var head []string
	for _, line := range strings.Split(stderr, "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "panoptes sensor:"))
		if len(f) > 1 && f[0] == "queue" && strings.HasPrefix(line, "panoptes sensor:") {
			head = f
		}
		if len(f) > 1 && f[0] == "total" && len(f) == len(head) {
			out := map[string]uint64{}
			for i := 1; i < len(f); i++ {
				out[head[i]], _ = strconv.ParseUint(f[i], 10, 64)
			}
			return out
		}
	}
	return nil
}

// TestStalledSensorCountsEveryDrop stops the sensor process (SIGSTOP) while traffic
// flows, so that its rings overflow, then resumes and stops it: in XDP and in AF_PACKET
// mode every frame sent is either in a record or counted as dropped, in the exit table
// and in the last management record alike — drops are counted exactly, never silent.
func TestStalledSensorCountsEveryDrop(t *testing.T) {
	requireLive(t)
	bin := binarytest.Build(t)
	const loops, perLoop = 30000, 14 // get.pcap: 14 frames; 420,000 frames outgrow every ring
	for _, mode := range []string{"xdp", "afpacket"} {
		t.Run(mode, func(t *testing.T) {
			v := newVeth(t, 1)
			out := filepath.Join(t.TempDir(), "out.pnp")
			p := binarytest.Start(t, bin, "sensor", "-i", v.Here, "--mode", mode, "--queues", "1", "-w", out)
			time.Sleep(1500 * time.Millisecond) // attached, sockets bound (AF_PACKET says nothing when ready)
			if p.Exited() {
				t.Fatalf("sensor exited: %s", p.Stderr())
			}
			if err := p.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			replay(t, v, "--topspeed", "--loop", strconv.Itoa(loops), "../testdata/get.pcap")
			if err := p.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			if code := p.Interrupt(20 * time.Second); code != 0 {
				t.Fatalf("sensor: exit %d: %s", code, p.Stderr())
			}
			n := exitTotals(p.Stderr())
			if n == nil {
				t.Fatalf("no total row in the exit table:\n%s", p.Stderr())
			}
			// XDP: seen, rx_dropped + ring_full; AF_PACKET: packets, drops.
			seen, received, passed := n["seen"]+n["packets"], n["received"], n["passed"]
			dropped := n["rx_dropped"] + n["ring_full"] + n["drops"]
			if dropped == 0 {
				t.Fatalf("no frame dropped while the sensor was stopped (seen %d, received %d): nothing was tested", seen, received)
			}
			if seen != loops*perLoop || received+dropped+passed != seen {
				t.Errorf("sent %d, seen %d, received %d + dropped %d + passed %d", loops*perLoop, seen, received, dropped, passed)
			}
			var inRecords uint64
			var last record.Record
			for _, enc := range binarytest.Records(t, out) {
				r := binarytest.Decode(t, enc)
				if r.Kind == record.KindFlow {
					inRecords += r.Pkts()
				} else {
					last = r
				}
			}
			if inRecords != received {
				t.Errorf("records hold %d packets, the sensor received %d", inRecords, received)
			}
			if last.Man == nil || last.Man.Drops != dropped || last.Man.PktsSeen != received {
				t.Errorf("last management record %+v: want %d dropped, %d received", last.Man, dropped, received)
			}
			t.Logf("%s: sent %d, received %d, dropped %d", mode, seen, received, dropped)
			if strings.Contains(p.Stderr(), "panic") {
				t.Errorf("stderr: %s", p.Stderr())
			}
		})
	}
}
