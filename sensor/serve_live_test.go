package sensor

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/record"
	"panoptes/recordsvc"
)

// TestSensorServesLiveClients runs `panoptes sensor -P` on a veth (AF_PACKET and XDP),
// connects two `panoptes read -S` clients with different filters, replays real traffic
// into the veth slowly enough that flows outlive the status interval, stops the sensor
// with SIGINT, and checks what each client received against the sensor's own -w file:
//
//   - a client receives every record the sensor writes while it is connected, in order:
//     its output is exactly the tail of `read -r OUT -- FILTER`;
//   - what it missed (the head of that) was written before it joined: management
//     records only, all stamped before it joined; and it received nothing stamped
//     before it started connecting.
func TestSensorServesLiveClients(t *testing.T) {
	requireLive(t)
	if testing.Short() {
		t.Skip("replays traffic for several seconds per capture mode")
	}
	bin := binarytest.Build(t)
	t.Run("afpacket", func(t *testing.T) { checkServeLive(t, bin, serveLive{mode: "afpacket", queues: 1}) })
	t.Run("xdp", func(t *testing.T) { checkServeLive(t, bin, serveLive{mode: "xdp", queues: 2}) })
}

// TestSensorServesTLSAndPublishes is the same with TLS and client certificates (the
// clients read -S tls://; one without a certificate is refused), and with --publish to
// NATS: a subscriber afterwards gets exactly the records the sensor wrote to -w.
func TestSensorServesTLSAndPublishes(t *testing.T) {
	requireLive(t)
	if testing.Short() {
		t.Skip("replays traffic for several seconds")
	}
	bin := binarytest.Build(t)
	o := serveLive{mode: "afpacket", queues: 1, pki: binarytest.NewPKI(t)}
	o.nats = binarytest.NATSServer(t) // fails under CI without nats-server, as --publish must be tested
	checkServeLive(t, bin, o)
}

type serveLive struct {
	mode   string
	queues int
	pki    *binarytest.PKI // serve TLS, requiring client certificates
	nats   string          // nats-server address: --publish there
}

func checkServeLive(t *testing.T, bin string, o serveLive) {
	v := newVeth(t, o.queues)
	dir := t.TempDir()
	out := filepath.Join(dir, "sensor.pnp")
	args := []string{"sensor", "-i", v.Here, "--mode", o.mode, "-P", "0", "-w", out,
		"--status-interval", "1s", "--frame-size", "4096", "--umem-frames", "4096", "--ring-size", "2048"}
	var clientArgs []string // -S and TLS flags
	var dial recordsvc.DialConfig
	if o.pki != nil {
		args = append(args, "--tls-cert", o.pki.ServerCert, "--tls-key", o.pki.ServerKey, "--tls-client-ca", o.pki.CA)
		var err error
		if dial.TLS, err = recordsvc.ClientTLS(o.pki.CA, o.pki.ClientCert, o.pki.ClientKey); err != nil {
			t.Fatal(err)
		}
	}
	subject := "nats://" + o.nats + "/panoptes.sensortest?stream=SENSORTEST"
	if o.nats != "" {
		args = append(args, "--publish", subject)
	}
	sensor := binarytest.Start(t, bin, args...)
	addr := sensor.WaitStderr(binarytest.ServingRE, 10*time.Second)[1]
	clientArgs = []string{"-S", addr}
	if o.pki != nil {
		clientArgs = []string{"-S", "tls://" + addr, "--tls-ca", o.pki.CA, "--tls-cert", o.pki.ClientCert, "--tls-key", o.pki.ClientKey}
		// Without a client certificate: refused, one line, exit 2.
		p := binarytest.Start(t, bin, "read", "-S", "tls://"+addr, "--tls-ca", o.pki.CA)
		binarytest.OneLineError(t, "read -S tls:// without a client certificate", p.Wait(10*time.Second), p.Stderr(), "certificate")
	}
	waitCapturing(t, addr, dial)

	type client struct {
		filter, out string
		proc        *binarytest.Proc
		before      time.Time // just before it started
		joined      time.Time // just after the sensor said it joined
	}
	clients := []*client{{filter: "udp"}, {filter: "tcp or icmp or man"}}
	for i, c := range clients {
		c.out = filepath.Join(dir, "client"+string(rune('a'+i))+".pnp")
		c.before = time.Now()
		c.proc = binarytest.Start(t, bin, append(append([]string{"read"}, clientArgs...), "-w", c.out, "--", c.filter)...)
		sensor.WaitStderr(regexp.MustCompile(`client \S+ joined, filter `+regexp.QuoteMeta(c.filter)+`\n`), 10*time.Second)
		c.joined = time.Now()
	}

	// The TCP connection's 14 packets at 8 a second outlast the 1 s status interval, so
	// a status record is written mid-flow, while the clients read; then UDP and ICMP.
	replay(t, v, "--pps", "8", "../testdata/get.pcap")
	replay(t, v, "--pps", "40", manyFlows(t, 8), "../testdata/dns.pcap", "../testdata/icmp.pcap")
	time.Sleep(1500 * time.Millisecond)
	if code := sensor.Interrupt(15 * time.Second); code != 0 {
		t.Fatalf("sensor: exit %d after SIGINT", code)
	}

	// The TCP connection is reported mid-flow (status interval) and at its close.
	tcp := 0
	for _, enc := range binarytest.Records(t, out) {
		if r := binarytest.Decode(t, enc); r.Kind == record.KindFlow && r.Proto == 6 {
			tcp++
		}
	}
	if tcp < 2 {
		t.Errorf("the TCP connection is in %d records, want a status record and its close", tcp)
	}
	for _, c := range clients {
		if code := c.proc.Wait(10 * time.Second); code != 0 {
			t.Fatalf("read -S -- %s: exit %d", c.filter, code)
		}
		if s := c.proc.Stderr(); s != "" {
			t.Errorf("read -S -- %s: stderr %q (drops or a lost connection?)", c.filter, s)
		}
		ref := filepath.Join(dir, "ref.pnp")
		p := binarytest.Start(t, bin, "read", "-r", out, "-w", ref, "--", c.filter)
		if code := p.Wait(10 * time.Second); code != 0 {
			t.Fatalf("read -r OUT -- %s: exit %d", c.filter, code)
		}
		want, got := binarytest.Records(t, ref), binarytest.Records(t, c.out)
		if len(got) > len(want) {
			t.Fatalf("-- %s: the client got %d records, the sensor wrote %d", c.filter, len(got), len(want))
		}
		missed := len(want) - len(got)
		binarytest.Same(t, "read -S -- "+c.filter+" against the tail of read -r OUT", got, want[missed:])
		flows := 0
		for i, enc := range want {
			r := binarytest.Decode(t, enc)
			switch {
			case i < missed && (r.Kind != record.KindMan || time.Unix(0, r.LastTime).After(c.joined)):
				t.Errorf("-- %s: record %d (%v/%v, last %v) is not in the client's output, yet it was written after the client joined at %v",
					c.filter, i, r.Kind, r.Cause, time.Unix(0, r.LastTime), c.joined)
			case i >= missed && r.Kind == record.KindMan && time.Unix(0, r.LastTime).Before(c.before):
				t.Errorf("-- %s: the client got a management record of %v, before it connected at %v", c.filter, time.Unix(0, r.LastTime), c.before)
			case r.Kind == record.KindFlow:
				flows++
			}
		}
		if flows == 0 {
			t.Errorf("-- %s: no flow records", c.filter)
		}
		t.Logf("-- %s: %d records received, %d flow records; %d written before the client joined", c.filter, len(got), flows, missed)
		os.Remove(ref)
	}
	if o.nats != "" {
		// The sensor published every record it wrote (it waits for the broker's
		// acknowledgements before it exits): a new durable consumer gets them all.
		want := binarytest.Records(t, out)
		got := filepath.Join(dir, "nats.pnp")
		sub := binarytest.Start(t, bin, "relay", "--subscribe", subject+"&durable=check", "-w", got)
		for deadline := time.Now().Add(10 * time.Second); binarytest.Count(got) < len(want) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(1200 * time.Millisecond) // nothing more comes
		if code := sub.Interrupt(10 * time.Second); code != 0 {
			t.Fatalf("relay --subscribe: exit %d", code)
		}
		binarytest.Same(t, "sensor --publish, then relay --subscribe", binarytest.Records(t, got), want)
	}
}

// waitCapturing waits until the sensor at addr serves a management record: it writes
// them only once every capture socket is open, so traffic sent after it is captured.
func waitCapturing(t *testing.T, addr string, cfg recordsvc.DialConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := recordsvc.Dial(ctx, addr, "man", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	context.AfterFunc(ctx, func() { s.Close() })
	var r record.Record
	if err := s.Read(&r); err != nil {
		t.Fatalf("no management record from the sensor: %v", err)
	}
}
