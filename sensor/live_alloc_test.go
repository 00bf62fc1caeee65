package sensor

import (
	"runtime"
	"testing"
)

// TestLiveAllocatesNothingPerPacket captures 140,000 frames of the same few
// conversations through the real XDP program and AF_XDP socket, and counts the heap
// allocations of the whole process while the frames flow: the packet path (receive,
// decode, flow table) must allocate nothing per packet, so what is left is set-up and
// the records, a few hundred at most. (testing.AllocsPerRun cannot reach a socket
// loop; the decoder and the flow table also have AllocsPerRun tests of their own.)
func TestLiveAllocatesNothingPerPacket(t *testing.T) {
	requireLive(t)
	v := newVeth(t, 1)
	const loops, perLoop = 10000, 14 // get.pcap: 14 frames, one TCP conversation and DNS
	var before, after runtime.MemStats
	_, st, err := liveCapture(t, v, LiveConfig{}, func() {
		// The first loop creates the flows (and their table entries); the rest only
		// update them.
		replay(t, v, "--topspeed", "--loop", "1", "../testdata/get.pcap")
		runtime.ReadMemStats(&before)
		replay(t, v, "--topspeed", "--loop", "10000", "../testdata/get.pcap")
		runtime.ReadMemStats(&after)
	})
	if err != nil {
		t.Fatal(err)
	}
	var received uint64
	for _, q := range st.Queues {
		received += q.Get("received")
	}
	if received < loops*perLoop/2 {
		t.Fatalf("the sensor received %d frames of %d sent: too few to measure", received, (loops+1)*perLoop)
	}
	mallocs := after.Mallocs - before.Mallocs
	t.Logf("%d heap allocations in the whole process while %d frames were sent (%.5f per frame)", mallocs, loops*perLoop, float64(mallocs)/float64(loops*perLoop))
	if mallocs > loops*perLoop/100 {
		t.Errorf("%d heap allocations while %d frames were captured: the packet path allocates", mallocs, loops*perLoop)
	}
}
