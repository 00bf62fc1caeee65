package main

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
)

// End-to-end tests of the live record service (-P / -S), its TLS, and NATS JetStream,
// through the built binary in separate processes: relays and readers are started,
// signalled and waited for as an operator would, and what reaches the readers is
// compared record for record with the files that went in.

// TestServiceTLS serves a record file over TLS with client certificates (relay -P), and
// reads it with read -S tls://: the right certificates get every record; a client
// without a certificate, one that trusts another CA, and a plain-TCP client each get one
// line on stderr and exit status 2, and never count as a client.
func TestServiceTLS(t *testing.T) {
	bin := binarytest.Build(t)
	pki := binarytest.NewPKI(t)
	flows := importCapture(t, "get.pcap", "dns.pcap", "icmp.pcap")
	relay := binarytest.Start(t, bin, "relay", "-r", flows, "-P", "0", "--wait-clients", "1",
		"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--tls-client-ca", pki.CA)
	addr := relay.WaitStderr(binarytest.ServingRE, 10*time.Second)[1]

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no client certificate", []string{"-S", "tls://" + addr, "--tls-ca", pki.CA}, []string{"-S " + addr, "certificate"}},
		{"server signed by an unknown CA", []string{"-S", "tls://" + addr, "--tls-ca", pki.OtherCA, "--tls-cert", pki.ClientCert, "--tls-key", pki.ClientKey}, []string{"-S " + addr, "unknown authority"}},
		{"plain TCP to a TLS service", []string{"-S", addr}, []string{"-S " + addr, "TLS"}},
		{"client key without its certificate", []string{"-S", "tls://" + addr, "--tls-ca", pki.CA, "--tls-key", pki.ClientKey}, []string{"--tls-cert"}},
		{"CA file that is not PEM", []string{"-S", "tls://" + addr, "--tls-ca", flows}, []string{"--tls-ca", flows}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.pnp")
			c := binarytest.Start(t, bin, append(append([]string{"read"}, tc.args...), "-w", out)...)
			binarytest.OneLineError(t, tc.name, c.Wait(15*time.Second), c.Stderr(), tc.want...)
			if n := strings.Count(c.Stderr(), addr); n > 1 {
				t.Errorf("%s: the address is named %d times: %s", tc.name, n, c.Stderr())
			}
		})
	}
	if strings.Contains(relay.Stderr(), "joined") {
		t.Fatalf("a refused client joined:\n%s", relay.Stderr())
	}

	// The right certificates: the relay replays the file once its client has joined,
	// then ends the stream; the reader gets every record and exits 0.
	out := filepath.Join(t.TempDir(), "out.pnp")
	c := binarytest.Start(t, bin, "read", "-S", "tls://"+addr, "--tls-ca", pki.CA, "--tls-cert", pki.ClientCert, "--tls-key", pki.ClientKey, "-w", out)
	if code := c.Wait(15 * time.Second); code != 0 {
		t.Fatalf("read -S tls://: exit %d: %s", code, c.Stderr())
	}
	if code := relay.Wait(15 * time.Second); code != 0 {
		t.Fatalf("relay: exit %d", code)
	}
	if s := c.Stderr(); s != "" {
		t.Errorf("read -S tls:// printed:\n%s", s)
	}
	binarytest.Same(t, "read -S tls://", binarytest.Records(t, out), binarytest.Records(t, flows))
}

// TestServiceTLSRelayChain: a relay reads a TLS upstream with its client certificate
// (-S tls:// --tls-ca --tls-cert --tls-key) and writes what it gets (-w); a server
// certificate flag that names no file, or a -P port in use, is one line and exit 2 for
// relay and sensor.
func TestServiceTLSRelayChain(t *testing.T) {
	bin := binarytest.Build(t)
	pki := binarytest.NewPKI(t)
	flows := importCapture(t, "get.pcap", "http_ipv6.pcap")
	upstream := binarytest.Start(t, bin, "relay", "-r", flows, "-P", "0", "--wait-clients", "1",
		"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--tls-client-ca", pki.CA)
	addr := upstream.WaitStderr(binarytest.ServingRE, 10*time.Second)[1]
	out := filepath.Join(t.TempDir(), "chain.pnp")
	down := binarytest.Start(t, bin, "relay", "-S", "tls://"+addr, "--tls-ca", pki.CA, "--tls-cert", pki.ClientCert, "--tls-key", pki.ClientKey, "-w", out)
	if code := upstream.Wait(15 * time.Second); code != 0 {
		t.Fatalf("upstream relay: exit %d: %s", code, upstream.Stderr())
	}
	// The upstream ended its stream: the downstream relay has every record and is
	// reconnecting; SIGINT ends it with the file written.
	down.WaitStderr(regexp.MustCompile(`ended its stream after \d+ records`), 10*time.Second)
	if code := down.Interrupt(10 * time.Second); code != 0 {
		t.Fatalf("downstream relay: exit %d: %s", code, down.Stderr())
	}
	binarytest.Same(t, "relay -S tls://", binarytest.Records(t, out), binarytest.Records(t, flows))

	// A port already in use: one line naming -P.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	for _, args := range [][]string{
		{"relay", "-r", flows, "-P", busyPort},
		{"sensor", "-i", "lo", "-w", filepath.Join(t.TempDir(), "x.pnp"), "-P", busyPort},
	} {
		p := binarytest.Start(t, bin, args...)
		binarytest.OneLineError(t, strings.Join(args, " "), p.Wait(10*time.Second), p.Stderr(), "-P "+busyPort, "in use")
	}
	for _, args := range [][]string{
		{"relay", "-r", flows, "-P", "0", "--tls-cert", pki.ServerCert + ".missing", "--tls-key", pki.ServerKey},
		{"relay", "-r", flows, "-P", "0", "--tls-cert", pki.ServerCert},
		{"sensor", "-i", "lo", "-w", filepath.Join(t.TempDir(), "x.pnp"), "-P", "0", "--tls-cert", pki.ServerCert + ".missing", "--tls-key", pki.ServerKey},
		{"sensor", "-i", "lo", "-w", filepath.Join(t.TempDir(), "x.pnp"), "-P", "0", "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--tls-client-ca", pki.ServerKey},
	} {
		p := binarytest.Start(t, bin, args...)
		binarytest.OneLineError(t, strings.Join(args, " "), p.Wait(10*time.Second), p.Stderr(), "--tls-")
	}
}

// subscribe runs relay --subscribe URL -w OUT until OUT holds n records (the relay
// flushes -w every second), lets it run a little longer to show that nothing more
// comes, stops it with SIGINT and returns OUT's records.
func subscribe(t *testing.T, bin, url string, n int) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sub.pnp")
	sub := binarytest.Start(t, bin, "relay", "--subscribe", url, "-w", out)
	for deadline := time.Now().Add(15 * time.Second); binarytest.Count(out) < n && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	if code := sub.Interrupt(10 * time.Second); code != 0 {
		t.Fatalf("relay --subscribe: exit %d", code)
	}
	return binarytest.Records(t, out)
}

// TestNATSThroughRelays publishes record files to a real JetStream server with relay -r
// --publish and consumes them with relay --subscribe -w: the subscriber writes exactly
// the published records, in order; run again with the same durable consumer it gets
// only what was published since; a new durable gets everything.
func TestNATSThroughRelays(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server and waits for relays (about 10 s)")
	}
	addr := binarytest.NATSServer(t)
	bin := binarytest.Build(t)
	first := importCapture(t, "get.pcap", "dns.pcap", "q-in-q.pcap")
	second := importCapture(t, "icmp.pcap", "http_ipv6.pcap")
	base := "nats://" + addr + "/panoptes.e2e?stream=E2E"
	publish := func(file string) {
		t.Helper()
		p := binarytest.Start(t, bin, "relay", "-r", file, "--publish", base)
		if code := p.Wait(20 * time.Second); code != 0 {
			t.Fatalf("relay --publish: exit %d: %s", code, p.Stderr())
		}
	}
	publish(first)
	want1, want2 := binarytest.Records(t, first), binarytest.Records(t, second)
	binarytest.Same(t, "first subscription", subscribe(t, bin, base+"&durable=archiver", len(want1)), want1)
	publish(second)
	binarytest.Same(t, "second subscription, same durable", subscribe(t, bin, base+"&durable=archiver", len(want2)), want2)
	binarytest.Same(t, "a new durable", subscribe(t, bin, base+"&durable=analytics", len(want1)+len(want2)), append(want1, want2...))

	// A malformed broker URL: one line, exit 2.
	for _, args := range [][]string{
		{"relay", "-r", first, "--publish", "http://" + addr},
		{"relay", "--subscribe", "nats://" + addr + "/a..b", "-w", filepath.Join(t.TempDir(), "x.pnp")},
	} {
		p := binarytest.Start(t, bin, args...)
		binarytest.OneLineError(t, strings.Join(args, " "), p.Wait(10*time.Second), p.Stderr(), "nats")
	}
	// No broker there: the relay stops with exit 2 and says so on its last line (after
	// its count of records relayed), instead of idling with no input.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"relay", "-r", first, "--publish", "nats://" + nobody},
		{"relay", "--subscribe", "nats://" + nobody, "-w", filepath.Join(t.TempDir(), "x.pnp")},
	} {
		p := binarytest.Start(t, bin, args...)
		code := p.Wait(15 * time.Second)
		lines := strings.Split(strings.TrimSpace(p.Stderr()), "\n")
		if last := lines[len(lines)-1]; code != 2 || !strings.Contains(last, "NATS nats://"+nobody) {
			t.Errorf("%s: exit %d, last line %q; want 2 and a line naming the server", strings.Join(args, " "), code, last)
		}
	}
}
