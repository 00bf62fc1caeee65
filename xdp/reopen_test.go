package xdp

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestReopenSameQueue opens, closes and reopens a capture on one veth in one process:
// Close must release the queue (the rings asavie/xdp leaves mapped included).
func TestReopenSameQueue(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a veth pair and attaches XDP")
	}
	a, b := fmt.Sprintf("xre%da", os.Getpid()%100000), fmt.Sprintf("xre%db", os.Getpid()%100000)
	if out, err := exec.Command("ip", "link", "add", a, "type", "veth", "peer", "name", b).CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", a).Run() })
	for _, n := range []string{a, b} {
		if out, err := exec.Command("ip", "link", "set", n, "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set up: %v: %s", err, out)
		}
	}
	for i := 0; i < 3; i++ {
		c, err := Open(Config{Interface: a, Queues: 1, HWTS: "off", Frames: 4096, RingSize: 2048}, func(string) {})
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("close #%d: %v", i+1, err)
		}
	}
}

func TestNapFor(t *testing.T) {
	for _, tc := range []struct {
		ring int
		want time.Duration
	}{
		{8192, 174432 * time.Nanosecond}, // the default ring
		{2048, 50 * time.Microsecond},    // small rings: the floor
		{16384, 448864 * time.Nanosecond},
		{1 << 16, time.Millisecond}, // the ceiling
	} {
		ts := napFor(tc.ring)
		if got := time.Duration(ts.Nano()); got != tc.want {
			t.Errorf("napFor(%d) = %v, want %v", tc.ring, got, tc.want)
		}
	}
}
