package binarytest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"panoptes/internal/peer"
)

// NATSServer runs a JetStream-enabled nats-server on a free loopback port with its
// store in a temporary directory, and returns its address. Without nats-server the
// test is skipped, or fails under CI (peer.Need).
func NATSServer(t testing.TB) string {
	t.Helper()
	bin := peer.Need(t, "nats-server", "nats-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", port, "-sd", t.TempDir())
	logPath := filepath.Join(t.TempDir(), "nats-server.log")
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if b, _ := os.ReadFile(logPath); t.Failed() {
			t.Logf("nats-server:\n%s", b)
		}
	})
	addr := "127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen on %s", addr)
		}
	}
}

// NATSCluster is a cluster of JetStream-enabled nats-server processes on loopback
// ports, each with its own store, for replicated streams (R3) and node failures.
type NATSCluster struct {
	t     testing.TB
	bin   string
	Addrs []string // client addresses, by node
	confs []string
	procs []*exec.Cmd
	logs  []string
}

// StartNATSCluster starts n clustered nats-server processes and waits until JetStream
// has elected its meta leader (streams can be created). Without nats-server the test
// is skipped, or fails under CI (peer.Need). The servers are killed when the test ends.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	c := &NATSCluster{t: t, bin: peer.Need(t, "nats-server", "nats-server")}
	dir := t.TempDir()
	ports := make([]int, 2*n)
	var lns []net.Listener
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	for _, ln := range lns {
		ln.Close()
	}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	for i := range n {
		conf := filepath.Join(dir, fmt.Sprintf("n%d.conf", i+1))
		body := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
cluster {
  name: panoptes-test
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, i+1, ports[i], filepath.Join(dir, fmt.Sprintf("store%d", i+1)), ports[n+i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		c.confs = append(c.confs, conf)
		c.logs = append(c.logs, filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)))
		c.Addrs = append(c.Addrs, fmt.Sprintf("127.0.0.1:%d", ports[i]))
		c.procs = append(c.procs, nil)
	}
	t.Cleanup(func() {
		for i := range c.procs {
			c.Kill(i)
		}
		if t.Failed() {
			for _, l := range c.logs {
				if b, _ := os.ReadFile(l); len(b) > 0 {
					t.Logf("%s (last 4 kB):\n%s", filepath.Base(l), b[max(0, len(b)-4096):])
				}
			}
		}
	})
	for i := range n {
		c.Start(i)
	}
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the NATS cluster has no JetStream meta leader after 30 s: %v", err)
		}
	}
}

// URL is nats://ADDR1,ADDR2,... (every node).
func (c *NATSCluster) URL() string { return "nats://" + strings.Join(c.Addrs, ",") }

// Start starts node i (again, with its store), and waits until it listens.
func (c *NATSCluster) Start(i int) {
	c.t.Helper()
	logs, err := os.OpenFile(c.logs[i], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logs.Close()
	cmd := exec.Command(c.bin, "-c", c.confs[i])
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[i] = cmd
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err := net.Dial("tcp", c.Addrs[i]); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats-server n%d did not listen on %s", i+1, c.Addrs[i])
		}
	}
}

// Kill kills node i (SIGKILL: no goodbye to the cluster) and waits for it to exit.
func (c *NATSCluster) Kill(i int) {
	if p := c.procs[i]; p != nil {
		p.Process.Kill()
		p.Wait()
		c.procs[i] = nil
	}
}

// Node returns the index of the node named name (n1, n2, ...), or -1.
func (c *NATSCluster) Node(name string) int {
	var i int
	if _, err := fmt.Sscanf(name, "n%d", &i); err != nil || i < 1 || i > len(c.Addrs) {
		return -1
	}
	return i - 1
}
