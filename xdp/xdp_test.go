package xdp

import (
	"strings"
	"testing"
	"time"
)

// The metadata block must match struct pkt_meta in bpf/capture.h byte for byte.
func TestTAIOffsetIsWholeSeconds(t *testing.T) {
	off, err := taiOffset()
	if err != nil {
		t.Fatal(err)
	}
	if off%int64(time.Second) != 0 || off < 0 || off > 60*int64(time.Second) {
		t.Fatalf("CLOCK_TAI - CLOCK_REALTIME = %d ns, want whole seconds between 0 and 60", off)
	}
}

func TestOpenNamesAMissingInterface(t *testing.T) {
	_, err := Open(Config{Interface: "nosuch0"}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Fatalf("got %v, want an error naming the interface", err)
	}
}

func TestRxQueuesOfLoopback(t *testing.T) {
	n, err := rxQueues("lo")
	if err != nil || n < 1 {
		t.Fatalf("lo: %d queues, %v", n, err)
	}
}
