package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"panoptes/argus"
	"panoptes/internal/binarytest"
	"panoptes/internal/peer"
	"panoptes/internal/vethtest"
	"panoptes/record"
)

// Tests of Argus's live protocol (port 561) through the binaries, with the real Argus
// programs as the other side: argus -P as the server panoptes read -S argus:// reads,
// and ra -S and radium -S as the clients of panoptes relay --argus-port.

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// established counts the TCP connections established to local port.
func established(t *testing.T, port string) int {
	out, err := exec.Command("ss", "-Htn", "state", "established", "( sport = :"+port+" )").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	return strings.Count(string(out), "\n")
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// background runs a command with its output in files under dir; stop sends sig and
// waits (killing after 5 s).
type background struct {
	cmd  *exec.Cmd
	done chan struct{}
	errb bytes.Buffer
}

func startBackground(t *testing.T, stdout string, name string, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(name, args...), done: make(chan struct{})}
	if stdout != "" {
		f, err := os.Create(stdout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		b.cmd.Stdout = f
	}
	b.cmd.Stderr = &b.errb
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { b.stop(syscall.SIGKILL) })
	return b
}

func (b *background) stop(sig syscall.Signal) {
	select {
	case <-b.done:
		return
	default:
	}
	b.cmd.Process.Signal(sig)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
}

func (b *background) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v; stderr: %s", b.cmd.Path, timeout, b.errb.String())
	}
}

// runOut runs a command and returns its stdout; exit status 1 with nothing on stderr
// (ra and panoptes: nothing matched) is not an error.
func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || errb.Len() > 0 {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
		}
	}
	return out.String()
}

// liveFields are printed by ra and by panoptes read to compare what each received.
const liveFields = "stime ltime proto saddr sport daddr dport pkts spkts dpkts bytes sbytes dbytes state"

// TestArgusSensorToPanoptesRead runs argus -P capturing on a veth whose peer, in a
// network namespace of the test's, sends UDP datagrams to 24 ports; ra -S and panoptes
// read -S argus:// read the same server at once, each writing what it receives to a
// file. Both files must hold the same flow records (compared as panoptes read prints
// them, and counted by ra), and those must be the 24 flows sent.
func TestArgusSensorToPanoptesRead(t *testing.T) {
	vethtest.Require(t, "argus capturing on a veth (network namespaces)", "ss")
	argusBin := peer.Need(t, "argus", "argus-server")
	ra := peer.Need(t, "ra", "argus-client")
	bin := binarytest.Build(t)
	dir := t.TempDir()
	p := vethtest.New(t, "pna", vethtest.Options{NoIPv6: true})
	// The peer sends to an address nobody here has, through a static neighbour entry:
	// the datagrams cross the veth, and no address is added to the test's namespace.
	mac, err := net.InterfaceByName(p.Here)
	if err != nil {
		t.Fatal(err)
	}
	p.Exec(t, "ip", "addr", "add", "10.251.0.2/24", "dev", p.Peer)
	p.Exec(t, "ip", "neigh", "replace", "10.251.0.1", "lladdr", mac.HardwareAddr.String(), "dev", p.Peer)

	port := freePort(t)
	// -X: none of /etc/argus.conf (its output file); -S 1: flow status every second.
	srv := startBackground(t, "", argusBin, "-X", "-i", p.Here, "-P", port, "-B", "127.0.0.1", "-S", "1")
	waitFor(t, "argus listening on "+port, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	waitFor(t, "argus's probe connections closed", 5*time.Second, func() bool { return established(t, port) == 0 })
	raFile, pnFile := filepath.Join(dir, "ra.argus"), filepath.Join(dir, "pn.pnp")
	raProc := startBackground(t, "", ra, "-S", "127.0.0.1:"+port, "-w", raFile, "-", "udp")
	pnProc := startBackground(t, "", bin, "read", "-S", "argus://127.0.0.1:"+port, "-w", pnFile, "--", "udp")
	// A relay collects from the Argus sensor and from a Panoptes one (a relay replaying
	// a capture's records) into one archive.
	panFile := filepath.Join(dir, "panoptes.pnp")
	runOut(t, bin, "import", "-r", filepath.Join(peer.Root(t), "testdata", "dns.pcap"), "-w", panFile)
	panPort := freePort(t)
	upstream := binarytest.Start(t, bin, "relay", "-r", panFile, "-P", panPort, "--wait-clients", "1")
	upstream.WaitStderr(binarytest.ServingRE, 10*time.Second)
	archive := filepath.Join(dir, "archive") + "/"
	collector := binarytest.Start(t, bin, "relay", "-S", "argus://127.0.0.1:"+port, "-S", "127.0.0.1:"+panPort, "-w", archive, "--", "udp")
	if code := upstream.Wait(10 * time.Second); code != 0 {
		t.Fatalf("the Panoptes upstream relay: exit %d", code)
	}
	waitFor(t, "three clients connected", 10*time.Second, func() bool { return established(t, port) == 3 })
	time.Sleep(300 * time.Millisecond) // their FILTER and START reach argus
	const flows = 24
	var script strings.Builder
	for i := range flows {
		fmt.Fprintf(&script, "echo datagram%d > /dev/udp/10.251.0.1/%d\n", i, 40000+i)
	}
	p.Exec(t, "bash", "-c", script.String())
	// argus reports each flow within its status interval (1 s) of the last packet.
	time.Sleep(3 * time.Second)
	raProc.stop(syscall.SIGTERM)
	pnProc.stop(syscall.SIGINT)
	if code := collector.Interrupt(10 * time.Second); code != 0 {
		t.Errorf("collecting relay: exit %d", code)
	}
	srv.stop(syscall.SIGTERM)

	print := func(f string) []string {
		out := runOut(t, bin, "read", "-r", f, "-n", "-s", liveFields, "--", "udp")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[1:] // the title
	}
	gotRa, gotPn := print(raFile), print(pnFile)
	binarytest.Same(t, "records panoptes read -S argus:// received vs ra -S", gotPn, gotRa)
	// Every datagram sent is in some record, flows first seen: one per port.
	ports := map[string]bool{}
	re := regexp.MustCompile(`\b10\.251\.0\.1\s+(4\d{4})\b`)
	for _, l := range gotPn {
		if m := re.FindStringSubmatch(l); m != nil {
			ports[m[1]] = true
		}
	}
	if len(ports) != flows {
		t.Errorf("flows to %d ports received, want %d:\n%s", len(ports), flows, strings.Join(gotPn, "\n"))
	}
	// The archive holds the Argus sensor's records beside the Panoptes sensor's.
	archived := strings.Split(strings.TrimSpace(runOut(t, bin, "read", "-R", archive, "-n", "-s", liveFields, "--", "udp")), "\n")[1:]
	want := append(append([]string(nil), gotRa...), print(panFile)...)
	slices.Sort(archived)
	slices.Sort(want)
	binarytest.Same(t, "relay -S argus:// -S HOST:PORT -w ARCHIVE vs ra -S and the Panoptes upstream's records", archived, want)
	raCount := strings.Count(runOut(t, ra, "-r", raFile, "-n", "-N", "1000000", "-", "udp"), "\n") - 1 // the title
	if raCount == 0 || raCount != len(gotRa) {
		t.Errorf("ra -r prints %d udp records of its file, panoptes read %d", raCount, len(gotRa))
	}
}

// TestRelayServesArgusClients replays a capture's records through panoptes relay
// --argus-port with ra -S (filter "tcp") and radium -S (no filter) as the clients
// --wait-clients waits for. ra must print exactly the records panoptes read -r FILE --
// tcp selects (both printed by ra: those via panoptes read -w argus:), and radium's
// file must hold every record.
func TestRelayServesArgusClients(t *testing.T) {
	ra := peer.Need(t, "ra", "argus-client")
	radium := peer.Need(t, "radium", "argus-client")
	bin := binarytest.Build(t)
	dir := t.TempDir()
	// TCP, UDP and ICMP flows and management records: the filter has to choose.
	var args []string
	for _, c := range []string{"get.pcap", "dns.pcap", "icmp.pcap", "http_ipv6.pcap"} {
		args = append(args, "-r", filepath.Join(peer.Root(t), "testdata", c))
	}
	// Not the corpus's 1kxun.pcap: radium turns some of its TCP flows joined midstream
	// round (spkts and dpkts swapped, addresses not), which ra -r of the same records
	// does not (record/ARGUS-DIFFERENCES.md, "radium").
	file := filepath.Join(dir, "in.pnp")
	runOut(t, bin, append(append([]string{"import"}, args...), "-w", file)...)
	const filter = "tcp"
	fields := strings.Fields(liveFields)
	refTCP, refAll := filepath.Join(dir, "tcp.argus"), filepath.Join(dir, "all.argus")
	runOut(t, bin, "read", "-r", file, "-w", "argus:"+refTCP, "--", filter)
	runOut(t, bin, "read", "-r", file, "-w", "argus:"+refAll)
	raPrint := func(args ...string) []string {
		out := runOut(t, ra, append(append([]string{"-n", "-N", "1000000", "-s"}, fields...), args...)...)
		return strings.Split(strings.TrimRight(out, "\n"), "\n")
	}
	want := raPrint("-r", refTCP, "-", "not man")
	if len(want) < 10 {
		t.Fatalf("the reference holds %d lines: %q", len(want), want)
	}

	port := freePort(t)
	relay := binarytest.Start(t, bin, "relay", "-r", file, "--argus-port", port, "--wait-clients", "2")
	relay.WaitStderr(regexp.MustCompile(`serving Argus clients on`), 10*time.Second)
	radFile := filepath.Join(dir, "radium.argus")
	rad := startBackground(t, "", radium, "-S", "127.0.0.1:"+port, "-w", radFile)
	raOut := filepath.Join(dir, "ra.out")
	raProc := startBackground(t, raOut, ra, append(append([]string{"-S", "127.0.0.1:" + port, "-n", "-N", "1000000", "-s"}, fields...), "-", filter)...)
	if code := relay.Wait(15 * time.Second); code != 0 {
		t.Fatalf("relay exit %d: %s", code, relay.Stderr())
	}
	raProc.wait(t, 10*time.Second) // ra ends when the relay closes the stream
	wantAll := raPrint("-r", refAll, "-", "not man")
	// radium writes its file from a queue of its own: wait (5 s at most) until it holds
	// as many records as were sent, before SIGTERM (radium would only reconnect).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(radFile); err == nil && len(raPrint("-r", radFile, "-", "not man")) >= len(wantAll) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rad.stop(syscall.SIGTERM)
	b, err := os.ReadFile(raOut)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	binarytest.Same(t, "ra -S from relay --argus-port vs ra -r (panoptes read -r FILE -- tcp)", got, want)
	binarytest.Same(t, "radium -S from relay --argus-port vs ra -r (panoptes read -r FILE)",
		raPrint("-r", radFile, "-", "not man"), wantAll)
	st := relay.Stderr()
	for _, w := range []string{"joined, filter man or (" + filter + ")", "joined, filter (none)", "--argus-port: 0 clients refused", "0 records dropped"} {
		if !strings.Contains(st, w) {
			t.Errorf("relay's log does not say %q:\n%s", w, st)
		}
	}
}

// TestSensorServesArgusClients runs panoptes sensor --argus-port on a veth, with ra -S
// (filter "udp") connected before datagrams to 16 ports arrive from the peer's
// namespace; after SIGINT, ra must have printed exactly the udp records of the sensor's
// own -w file (both printed by ra: those via panoptes read -w argus:).
func TestSensorServesArgusClients(t *testing.T) {
	vethtest.Require(t, "a sensor capturing on a veth (network namespaces)", "ss")
	ra := peer.Need(t, "ra", "argus-client")
	bin := binarytest.Build(t)
	dir := t.TempDir()
	p := vethtest.New(t, "pns", vethtest.Options{NoIPv6: true})
	mac, err := net.InterfaceByName(p.Here)
	if err != nil {
		t.Fatal(err)
	}
	p.Exec(t, "ip", "addr", "add", "10.252.0.2/24", "dev", p.Peer)
	p.Exec(t, "ip", "neigh", "replace", "10.252.0.1", "lladdr", mac.HardwareAddr.String(), "dev", p.Peer)
	out := filepath.Join(dir, "sensor.pnp")
	port := freePort(t)
	sensor := binarytest.Start(t, bin, "sensor", "-i", p.Here, "--mode", "afpacket", "-w", out, "--argus-port", port, "--status-interval", "1s")
	sensor.WaitStderr(regexp.MustCompile(`serving Argus clients on`), 10*time.Second)
	waitArgusCapturing(t, "127.0.0.1:"+port)
	fields := strings.Fields(liveFields)
	raOut := filepath.Join(dir, "ra.out")
	raProc := startBackground(t, raOut, ra, append(append([]string{"-S", "127.0.0.1:" + port, "-n", "-N", "1000000", "-s"}, fields...), "-", "udp")...)
	waitFor(t, "ra's START taken", 10*time.Second, func() bool { return strings.Contains(sensor.Stderr(), "joined, filter man or (udp)") })
	var script strings.Builder
	for i := range 16 {
		fmt.Fprintf(&script, "echo datagram%d > /dev/udp/10.252.0.1/%d\n", i, 41000+i)
	}
	p.Exec(t, "bash", "-c", script.String())
	time.Sleep(1500 * time.Millisecond) // a status interval: the flows are written
	if code := sensor.Interrupt(15 * time.Second); code != 0 {
		t.Fatalf("sensor: exit %d", code)
	}
	raProc.wait(t, 10*time.Second) // ra ends when the sensor closes the stream
	ref := filepath.Join(dir, "ref.argus")
	runOut(t, bin, "read", "-r", out, "-w", "argus:"+ref, "--", "udp")
	want := strings.Split(strings.TrimRight(runOut(t, ra, append(append([]string{"-r", ref, "-n", "-N", "1000000", "-s"}, fields...), "-", "udp")...), "\n"), "\n")
	b, err := os.ReadFile(raOut)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(want) < 17 {
		t.Fatalf("the sensor wrote %d udp records, want the 16 flows at least:\n%s", len(want)-1, strings.Join(want, "\n"))
	}
	binarytest.Same(t, "ra -S from sensor --argus-port vs ra -r (panoptes read -r OUT -- udp)", got, want)
}

// waitArgusCapturing waits until the sensor serving Argus clients at addr sends a
// management record of its own (after the greeting's MAR): it writes them only once
// every capture socket is open, so traffic sent after it is captured.
func waitArgusCapturing(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := argus.Dial(ctx, addr, "man", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	context.AfterFunc(ctx, func() { s.Close() })
	var r record.Record
	for i := 0; i < 2; i++ { // the greeting, then the sensor's own
		if err := s.Read(&r); err != nil || r.Kind != record.KindMan {
			t.Fatalf("no management record from the sensor (record %d: kind %v, %v)", i, r.Kind, err)
		}
	}
}
