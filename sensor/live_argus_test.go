package sensor

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/internal/peer"
)

// TestLiveSensorWritesArgus runs `panoptes sensor -w argus:FILE` on a veth while
// get.pcap is replayed into it, stops it, and checks that ra reads the file: the
// leading MAR and the sensor's start and stop MARs, and the one TCP flow of the capture
// with its packet counts per direction (14 frames: 7 each way).
func TestLiveSensorWritesArgus(t *testing.T) {
	requireLive(t)
	peer.Need(t, "ra", "argus-client")
	bin := binarytest.Build(t)
	v := newVeth(t, 1)
	out := filepath.Join(t.TempDir(), "sensor.argus")
	p := binarytest.Start(t, bin, "sensor", "-i", v.Here, "--queues", "1", "-w", "argus:"+out)
	waitAttached(t, v.Here)
	time.Sleep(500 * time.Millisecond) // sockets bound
	replay(t, v, "../testdata/get.pcap")
	time.Sleep(300 * time.Millisecond)
	if rc := p.Interrupt(10 * time.Second); rc != 0 {
		t.Fatalf("sensor exited %d: %s", rc, p.Stderr())
	}
	flows, err := exec.Command("ra", "-r", out, "-n", "-c", ",", "-L", "-1", "-s", "saddr,sport,daddr,dport,spkts,dpkts", "-", "tcp").Output()
	if err != nil {
		t.Fatalf("ra -r %s: %v", out, err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(flows)), "\n") {
		got = append(got, strings.Join(strings.Fields(strings.ReplaceAll(l, ",", " ")), ","))
	}
	if want := "141.142.228.5,59856,192.150.187.43,80,7,7"; len(got) != 1 || got[0] != want {
		t.Errorf("ra reads the TCP flows %q, want [%s]", got, want)
	}
	mans, err := exec.Command("ra", "-r", out, "-c", ",", "-L", "-1", "-s", "state", "-", "man").Output()
	if err != nil {
		t.Fatalf("ra -r %s - man: %v", out, err)
	}
	if m := strings.Fields(strings.ReplaceAll(string(mans), ",", " ")); len(m) < 3 || m[0] != "STA" || m[len(m)-1] != "STP" {
		t.Errorf("ra reads the management records %q, want the file's MAR, the sensor's start ... stop", m)
	}
}
