package sensor

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"panoptes/record"
	"panoptes/xdp"
)

// TestLiveStopAccountsEveryFrame stops the sensor while a replay is still sending, in
// both capture modes, and checks that every frame the kernel handed to the capture is
// accounted for: per queue, seen = received + dropped (+ passed), the records hold
// every frame received, and the final management record says so. Before the capture
// was detached ahead of the shards' last read, the frames that arrived while the
// sensor stopped were counted as seen and were in neither a record nor a drop counter.
func TestLiveStopAccountsEveryFrame(t *testing.T) {
	requireLive(t)
	for _, tc := range []struct {
		name   string
		queues int
		cfg    LiveConfig
	}{
		{"xdp", 2, LiveConfig{}},
		{"xdp-generic", 2, LiveConfig{XDP: xdp.Config{Mode: xdp.ModeGeneric}}},
		{"afpacket", 1, LiveConfig{AFPacket: true, Queues: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVeth(t, tc.queues)
			var replay *exec.Cmd
			recs, st, err := liveCapture(t, v, tc.cfg, func() {
				// 280,000 frames at 50,000 a second: still sending when the sensor stops.
				replay = exec.Command("ip", "netns", "exec", v.NS, "tcpreplay", "-q", "-i", v.Peer, "--pps", "50000", "--loop", "20000", "../testdata/get.pcap")
				if err := replay.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(700 * time.Millisecond)
			})
			stillSending := replay.Process.Signal(syscall.Signal(0)) == nil
			replay.Process.Kill()
			replay.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if !stillSending {
				t.Fatal("the replay ended before the sensor stopped: nothing was tested")
			}
			var seen, received, dropped uint64
			for _, q := range st.Queues {
				// XDP's seen, AF_PACKET's packets: every frame offered to the queue.
				offered := q.Get("seen") + q.Get("packets")
				if offered != q.Get("received")+q.Lost()+q.Get("passed") {
					t.Errorf("%s: seen %d != received %d + lost %d + passed %d (%v)",
						q.Name(), offered, q.Get("received"), q.Lost(), q.Get("passed"), q.Values)
				}
				seen += offered
				received += q.Get("received")
				dropped += q.Lost()
			}
			var inRecords uint64
			for _, r := range recs {
				if r.Kind == record.KindFlow {
					inRecords += r.Pkts()
				}
			}
			if received == 0 || inRecords != received {
				t.Errorf("records hold %d packets, sockets received %d", inRecords, received)
			}
			last := recs[len(recs)-1]
			if last.Kind != record.KindMan || last.Cause != record.CauseStop {
				t.Fatalf("last record %v/%v, want the final management record", last.Kind, last.Cause)
			}
			if last.Man.PktsSeen != received || last.Man.Drops != dropped {
				t.Errorf("final management record: %d packets, %d drops; the sockets received %d and dropped %d",
					last.Man.PktsSeen, last.Man.Drops, received, dropped)
			}
			t.Logf("seen %d, received %d, dropped %d", seen, received, dropped)
		})
	}
}
