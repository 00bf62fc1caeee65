package xdp

import (
	"testing"
	"time"

	"panoptes/internal/vethtest"
)

// TestReopenSameQueue opens, closes and reopens a capture on one veth in one process:
// Close must release the queue (the rings asavie/xdp leaves mapped included).
func TestReopenSameQueue(t *testing.T) {
	vethtest.Require(t, "XDP on a veth pair")
	a := vethtest.New(t, "xre", vethtest.Options{}).Here
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
