package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
)

// TestServiceUnixSocket: -P unix:PATH serves on a Unix socket of mode 0660 (only the
// owner and group panoptes may connect; other local users get EACCES from the kernel),
// and read -S unix:PATH gets every record. Before the fix -P took only a port number
// (relay: `-P "unix:…": want a port number`, exit 2), so records could be served only
// over TCP, to every local user.
func TestServiceUnixSocket(t *testing.T) {
	bin := binarytest.Build(t)
	flows := importCapture(t, "get.pcap", "dns.pcap", "icmp.pcap")
	sock := filepath.Join(t.TempDir(), "records.sock")
	relay := binarytest.Start(t, bin, "relay", "-r", flows, "-P", "unix:"+sock, "--wait-clients", "1")
	addr := relay.WaitStderr(binarytest.ServingRE, 10*time.Second)[1]
	if addr != "unix:"+sock {
		t.Fatalf("serving on %q, want unix:%s", addr, sock)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("%s: mode %v, want a socket of mode 0660", sock, fi.Mode())
	}
	out := filepath.Join(t.TempDir(), "out.pnp")
	c := binarytest.Start(t, bin, "read", "-S", addr, "-w", out)
	if code := c.Wait(15 * time.Second); code != 0 {
		t.Fatalf("read -S %s: exit %d: %s", addr, code, c.Stderr())
	}
	if code := relay.Wait(15 * time.Second); code != 0 {
		t.Fatalf("relay: exit %d: %s", code, relay.Stderr())
	}
	binarytest.Same(t, "read -S unix:", binarytest.Records(t, out), binarytest.Records(t, flows))
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("%s left behind after the relay ended (%v)", sock, err)
	}

	// A path that is not a socket is never replaced: one line, and the file stays.
	plain := filepath.Join(t.TempDir(), "not-a-socket")
	os.WriteFile(plain, []byte("keep"), 0o644)
	p := binarytest.Start(t, bin, "relay", "-r", flows, "-P", "unix:"+plain)
	binarytest.OneLineError(t, "-P unix: on a plain file", p.Wait(10*time.Second), p.Stderr(), plain, "not a socket")
	if b, _ := os.ReadFile(plain); string(b) != "keep" {
		t.Fatalf("%s was replaced", plain)
	}
}

// TestServiceExposureWarning: plain TCP -P on every address warns at start that any
// host reaching it reads every record; on loopback (the default) it does not. Before
// the fix there was no warning.
func TestServiceExposureWarning(t *testing.T) {
	bin := binarytest.Build(t)
	flows := importCapture(t, "get.pcap")
	warnRE := regexp.MustCompile(`warning: -P \S+ is plain TCP on every address`)
	for _, tc := range []struct {
		listen string
		warn   bool
	}{{"0.0.0.0", true}, {"127.0.0.1", false}} {
		r := binarytest.Start(t, bin, "relay", "-r", flows, "-P", "0", "--listen", tc.listen, "--wait-clients", "1")
		r.WaitStderr(binarytest.ServingRE, 10*time.Second)
		r.Interrupt(10 * time.Second)
		if got := warnRE.MatchString(r.Stderr()); got != tc.warn {
			t.Errorf("--listen %s: warned %v, want %v:\n%s", tc.listen, got, tc.warn, r.Stderr())
		}
		if tc.warn && strings.Count(r.Stderr(), "warning") != 1 {
			t.Errorf("--listen %s: want one warning:\n%s", tc.listen, r.Stderr())
		}
	}
}
