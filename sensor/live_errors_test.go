package sensor

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"panoptes/internal/cli"
	"panoptes/internal/vethtest"
	"panoptes/record"
)

// A sensor that cannot start says only why, in one line (which main prints): no loss
// table of a capture that never ran, no bare EINVAL from the kernel for a size it
// refuses, no allocation of a mistyped ring size.
func TestSensorStartErrorIsOneLine(t *testing.T) {
	out := t.TempDir() + "/x.pnp"
	for _, tc := range []struct {
		args []string
		want string // in the error
		root bool   // the error needs root to be reached (capabilities come first)
	}{
		{[]string{"-i", "aud3none0"}, "aud3none0", true},
		{[]string{"-i", "lo", "--ring-size", "1000"}, "--ring-size 1000", false},
		{[]string{"-i", "lo", "--frame-size", "1000"}, "--frame-size 1000", false},
		{[]string{"-i", "lo", "--umem-frames", "0"}, "--umem-frames 0", false},
		{[]string{"-i", "lo", "--record-ring", "100000000000"}, "--record-ring 100000000000", false},
		{[]string{"-i", "lo", "--record-ring", "0"}, "--record-ring 0", false},
		{[]string{"-i", "lo", "--clock-skew", "soon"}, "--clock-skew", false},
		{[]string{"-i", "lo", "--clock-skew", "-1ms"}, "--clock-skew", false},
		// Before the range checks these were accepted (a negative timeout silently became
		// the default; a huge UMEM was asked of the kernel).
		{[]string{"-i", "lo", "--tcp-timeout", "-1s"}, "--tcp-timeout -1s", false},
		{[]string{"-i", "lo", "--status-interval", "-5s"}, "--status-interval -5s", false},
		{[]string{"-i", "lo", "--max-flows", "-3"}, "--max-flows -3", false},
		{[]string{"-i", "lo", "--umem-frames", "1000000000"}, "--umem-frames 1000000000", false},
		{[]string{"-i", "lo", "--ring-size", "1073741824"}, "--ring-size 1073741824", false},
		{[]string{"-i", "lo", "--duration", "-1s"}, "--duration -1s", false},
		{[]string{"-i", "lo", "--queues", "100000"}, `--queues "100000"`, false},
	} {
		var stdout, stderr bytes.Buffer
		err := SensorMain(append(tc.args, "-w", out), nil, &stdout, &stderr)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		if cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, cli.ExitCode(err), cli.ExitUsage)
		}
		if (!tc.root || os.Geteuid() == 0) && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %q does not name %q", tc.args, err, tc.want)
		}
		if strings.Contains(err.Error(), "\n") || stderr.Len() > 0 {
			t.Errorf("%v: more than one line: error %q, stderr %q", tc.args, err, stderr.String())
		}
	}
}

// An interface taken down under the sensor: the error names it and says it went down,
// in either capture mode (AF_PACKET's sockets fail first, with a vaguer error), and the
// records captured so far are written.
func TestLiveInterfaceGoesDown(t *testing.T) {
	requireLive(t)
	for _, tc := range []struct {
		name string
		cfg  LiveConfig
	}{
		{"xdp", LiveConfig{}},
		{"afpacket", LiveConfig{AFPacket: true, Queues: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVeth(t, 1)
			cfg := tc.cfg
			cfg.Interfaces = []string{v.Here}
			cfg.XDP.FrameSize, cfg.XDP.Frames, cfg.XDP.RingSize = 4096, 4096, 2048
			var buf bytes.Buffer
			w, _ := record.NewWriter(&buf)
			ready := make(chan struct{})
			cfg.Ready = func() { close(ready) }
			done := make(chan error, 1)
			go func() {
				_, err := Live(context.Background(), cfg, w, func(string) {})
				done <- err
			}()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("the sensor stopped before it was ready: %v", err)
			}
			replay(t, v, "--topspeed", "../testdata/get.pcap")
			time.Sleep(300 * time.Millisecond)
			vethtest.Run(t, "ip", "link", "set", v.Here, "down")
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), v.Here) || !strings.Contains(err.Error(), "went down") {
					t.Fatalf("got %v, want an error saying %s went down", err, v.Here)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the sensor did not stop after its interface went down")
			}
			_ = w.Flush()
			var pkts uint64
			recs := readAll(t, buf.Bytes())
			for _, r := range recs {
				if r.Kind == record.KindFlow {
					pkts += r.Pkts()
				}
			}
			if pkts != 14 {
				t.Errorf("records hold %d packets, want the 14 replayed before the interface went down", pkts)
			}
			if last := recs[len(recs)-1]; last.Kind != record.KindMan || last.Cause != record.CauseStop {
				t.Errorf("last record %v/%v, want the final management record", last.Kind, last.Cause)
			}
		})
	}
}
