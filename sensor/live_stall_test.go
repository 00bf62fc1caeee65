package sensor

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/record"
)

// totalRow matches the "total" row of the sensor's exit table: seen, received, passed,
// rx_dropped, ring_full, fill_empty, invalid, meta_err.
var totalRow = regexp.MustCompile(`panoptes sensor: total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`)

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
			m := totalRow.FindStringSubmatch(p.Stderr())
			if m == nil {
				t.Fatalf("no total row in the exit table:\n%s", p.Stderr())
			}
			n := make([]uint64, 9)
			for i := 1; i <= 8; i++ {
				n[i], _ = strconv.ParseUint(m[i], 10, 64)
			}
			seen, received, passed, rxDropped, ringFull := n[1], n[2], n[3], n[4], n[5]
			dropped := rxDropped + ringFull
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
