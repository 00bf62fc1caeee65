package loss

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"panoptes/internal/binarytest"
	"panoptes/internal/cli"
	"panoptes/internal/vethtest"
	"panoptes/xdp"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "want `panoptes bench loss"},
		{[]string{"speed"}, "want `panoptes bench loss"},
		{[]string{"loss"}, "give --rx IFACE and --tx IFACE"},
		{[]string{"loss", "--rate", "fast", "--demo"}, `--rate "fast"`},
		{[]string{"loss", "--rate", "-5", "--demo"}, `--rate "-5"`},
		{[]string{"loss", "--mode", "pcap", "--demo"}, `--mode "pcap"`},
		{[]string{"loss", "--size", "32", "--demo"}, "--size 32: want 64 to 1518"},
		// Before the range checks these reached the --rx check (and, with --demo, a
		// veth pair of a billion queues would have been asked for).
		{[]string{"loss", "--demo-queues", "1000000000"}, "--demo-queues 1000000000: want 1 to"},
		{[]string{"loss", "--iterations", "1000000"}, "--iterations 1000000: want 0 to"},
		{[]string{"loss", "--queues", "-1"}, "--queues -1: want 0 to"},
		{[]string{"loss", "--umem-frames", "0"}, "--umem-frames 0: want 1 to"},
		{[]string{"loss", "--ring-size", "1073741824"}, "--ring-size 1073741824: want 1 to"},
		{[]string{"loss", "--demo", "--rx", "eth0"}, "--demo creates its own interfaces"},
		{[]string{"loss", "--rx", "nosuchif0", "--tx", "nosuchif1"}, "--rx nosuchif0"},
		{[]string{"loss", "extra"}, `unexpected argument "extra"`},
	} {
		err := BenchMain(tc.args, nil, io.Discard, io.Discard)
		if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want exit 2 and %q", tc.args, err, tc.want)
		}
	}
}

// TestDemoAccounting runs short trials on a demo veth pair with `panoptes sensor` built
// from this tree, with rings small enough to lose frames, and checks that every frame
// sent was received or dropped at a counter: sent = received + counted drops.
func TestDemoAccounting(t *testing.T) {
	vethtest.Require(t, "the loss trials (XDP, network namespaces)")
	bin := binarytest.Build(t)
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"xdp small rings", Options{Frames: 100000, Size: 60, Iterations: 1, XDP: xdpRings(64, 128)}},
		{"xdp paced", Options{Frames: 50000, Size: 60, Rate: 50000, XDP: xdpRings(8192, 16384)}},
		{"afpacket", Options{Frames: 50000, Size: 60, Rate: 50000, AFPacket: true, Queues: 1, XDP: xdpRings(8192, 16384)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Sensor = []string{bin, "sensor"}
			cleanup, err := demoPair(&o, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			var out bytes.Buffer
			trials, _, err := Run(context.Background(), &o, &out, func(s string) { t.Log(s) })
			t.Logf("\n%s", out.String())
			if err != nil {
				t.Fatal(err)
			}
			if len(trials) == 0 {
				t.Fatal("no trials")
			}
			for i, tr := range trials {
				if tr.Sent != o.Frames {
					t.Errorf("trial %d: sent %d, want %d", i+1, tr.Sent, o.Frames)
				}
				if tr.Sent != tr.Received+tr.Accounted() || tr.Unaccounted() != 0 {
					t.Errorf("trial %d: sent %d != received %d + counted drops %d (%s)", i+1, tr.Sent, tr.Received, tr.Accounted(), tr.Where())
				}
			}
			if tc.o.Rate == 0 && trials[0].Lost() == 0 {
				t.Errorf("64-entry rings at full speed lost nothing: the accounting was not exercised")
			}
		})
	}
}

// xdpRings is the AF_XDP ring and UMEM sizes of a trial.
func xdpRings(ring, frames int) xdp.Config { return xdp.Config{RingSize: ring, Frames: frames} }
