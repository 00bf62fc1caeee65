package main

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"panoptes/internal/binarytest"
)

// TestServiceMixedTLSAndPlain: with several -S servers, only those written tls://
// are reached over TLS; the others stay plain TCP, though a TLS flag is given (it was
// once that one tls:// server switched every -S of the command to TLS). Both read and
// relay take every record of a TLS relay and of a plain one.
func TestServiceMixedTLSAndPlain(t *testing.T) {
	bin := binarytest.Build(t)
	pki := binarytest.NewPKI(t)
	flowsTLS := importCapture(t, "get.pcap", "dns.pcap")
	flowsPlain := importCapture(t, "icmp.pcap", "http_ipv6.pcap")
	want := append(binarytest.Records(t, flowsTLS), binarytest.Records(t, flowsPlain)...)
	slices.Sort(want)
	for _, reader := range []string{"read", "relay"} {
		t.Run(reader, func(t *testing.T) {
			secure := binarytest.Start(t, bin, "relay", "-r", flowsTLS, "-P", "0", "--wait-clients", "1",
				"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey)
			secureAddr := secure.WaitStderr(binarytest.ServingRE, 10*time.Second)[1]
			plain := binarytest.Start(t, bin, "relay", "-r", flowsPlain, "-P", "0", "--wait-clients", "1")
			plainAddr := plain.WaitStderr(binarytest.ServingRE, 10*time.Second)[1]
			out := filepath.Join(t.TempDir(), "out.pnp")
			c := binarytest.Start(t, bin, reader, "-S", "tls://"+secureAddr, "-S", plainAddr, "--tls-ca", pki.CA, "-w", out)
			for name, p := range map[string]*binarytest.Proc{"TLS relay": secure, "plain relay": plain} {
				if code := p.Wait(15 * time.Second); code != 0 {
					t.Fatalf("%s: exit %d: %s", name, code, p.Stderr())
				}
			}
			if reader == "relay" {
				// A relay keeps reconnecting to upstreams that ended: SIGINT ends it.
				time.Sleep(1500 * time.Millisecond)
				if code := c.Interrupt(10 * time.Second); code != 0 {
					t.Fatalf("relay: exit %d: %s", code, c.Stderr())
				}
			} else if code := c.Wait(15 * time.Second); code != 0 {
				t.Fatalf("read: exit %d: %s", code, c.Stderr())
			}
			got := binarytest.Records(t, out)
			slices.Sort(got)
			binarytest.Same(t, reader+" -S tls://A -S B", got, want)
		})
	}
}
