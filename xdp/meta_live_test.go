package xdp

import (
	"testing"
	"time"

	"panoptes/internal/vethtest"
)

// TestMetadataOnVeth replays a capture into a veth and reads what the program wrote in
// front of each frame: a valid block on every frame, the timestamp taken in XDP within
// the replay's wall-clock window once converted, and the RSS hash from the metadata
// kfunc where the device-bound program runs (native mode; veth hashes the flow), none
// in generic mode; the program's counters agree with the socket's.
func TestMetadataOnVeth(t *testing.T) {
	vethtest.Require(t, "XDP capture (veth, network namespaces)", "tcpreplay")
	for _, mode := range []Mode{ModeAuto, ModeGeneric} {
		t.Run(string(mode), func(t *testing.T) {
			v := vethtest.New(t, "pnx", vethtest.Options{Queues: 1, MTU: 3500, NoIPv6: true})
			c, err := Open(Config{Interface: v.Here, Mode: mode, HWTS: "auto", Frames: 4096, FrameSize: 4096, RingSize: 2048},
				func(s string) { t.Log(s) })
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if wantHW := mode == ModeAuto; c.HWProgram != wantHW {
				t.Fatalf("device-bound kfunc program attached: %v, want %v (mode %s)", c.HWProgram, wantHW, c.Mode)
			}
			before := time.Now()
			v.Exec(t, "tcpreplay", "-q", "--topspeed", "-i", v.Peer, "../testdata/get.pcap") // 14 TCP frames
			after := time.Now()
			q := c.Queues[0]
			got := 0
			for deadline := time.Now().Add(3 * time.Second); got < 14 && time.Now().Before(deadline); {
				n, err := q.Receive(100 * time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				descs := q.Batch(n)
				for _, d := range descs {
					f := q.Frame(d)
					got++
					if f.Meta == nil {
						t.Errorf("frame %d: no metadata block", got)
						continue
					}
					ts := time.Unix(0, c.WallTime(f.Meta.SWTime))
					if ts.Before(before.Add(-time.Second)) || ts.After(after.Add(time.Second)) {
						t.Errorf("frame %d: XDP time %v outside the replay (%v to %v)", got, ts, before, after)
					}
					if f.Meta.HWTime != 0 {
						t.Errorf("frame %d: hardware time %d from veth, which has no clock", got, f.Meta.HWTime)
					}
					if c.HWProgram && (f.Meta.Hash == 0 || f.Meta.HashType == 0) {
						t.Errorf("frame %d: RSS hash %#x type %d, want the flow's hash from the kfunc", got, f.Meta.Hash, f.Meta.HashType)
					}
					if !c.HWProgram && (f.Meta.Hash != 0 || f.Meta.TSErr != -95) {
						t.Errorf("frame %d: plain program wrote hash %#x, timestamp result %d", got, f.Meta.Hash, f.Meta.TSErr)
					}
				}
				q.Release(descs)
			}
			qc, err := c.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if q := &qc[0]; got != 14 || q.Get("seen") != 14 || q.Get("redirected") != 14 || q.Get("received") != 14 || q.Get("meta_err") != 0 {
				t.Errorf("received %d frames, counters %+v; want 14 seen, redirected and received", got, qc[0])
			}
		})
	}
}
