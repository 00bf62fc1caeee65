// Package vethtest gives tests that need a real interface a veth pair: one end in the
// test's own network namespace, where the code under test captures or checks, the other
// in a network namespace the test creates, from which it sends traffic. Everything it
// creates is removed at the test's cleanup. It needs root and iproute2; Require skips a
// test where they are missing (and fails it in CI, which must have them).
package vethtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"panoptes/internal/peer"
)

// debian names the package that installs a command, for the skip message.
var debian = map[string]string{"ip": "iproute2", "setpriv": "util-linux", "mergecap": "wireshark-common", "tcpprep": "tcpreplay"}

// Require skips the test unless it runs as root and ip and the given commands are
// installed; what says what needs root, e.g. "live capture (XDP, network namespaces)".
// In CI (CI set) a missing command fails the test instead: .ci/run must install it.
func Require(t testing.TB, what string, commands ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("%s needs root", what)
	}
	for _, c := range append([]string{"ip"}, commands...) {
		pkg := debian[c]
		if pkg == "" {
			pkg = c
		}
		peer.Need(t, c, pkg)
	}
}

// Run runs a command and fails the test, with the command's output, if it fails.
func Run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// Options shape a pair; the zero value is one queue each way, MTU 1500, IPv6 on.
type Options struct {
	// Queues is the number of RX and TX queues of each end (0: the kernel's default, 1).
	Queues int
	// MTU of both ends (0: 1500).
	MTU int
	// NoIPv6 turns IPv6 off on both ends before they come up, so that neighbour
	// discovery and MLD send nothing the test did not send.
	NoIPv6 bool
}

// Pair is a veth pair whose ends are up.
type Pair struct {
	NS   string // the network namespace the test created, holding Peer
	Here string // the end in the test's namespace
	Peer string // the end in NS

	prefix string
}

var seq struct {
	sync.Mutex
	n int
}

// id is unique among the pairs of all test processes running at once.
func id() string {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return fmt.Sprintf("%d%d", os.Getpid()%100000, seq.n)
}

// New creates a namespace and a veth pair from here into it. prefix (at most 4
// characters, e.g. "pnd" for doctor) starts the names of all three, so that anything
// a killed test leaves behind says which package made it. All go away at cleanup.
func New(t testing.TB, prefix string, o Options) *Pair {
	t.Helper()
	if len(prefix) > 4 {
		t.Fatalf("vethtest: prefix %q is longer than 4 characters (interface names have 15 at most)", prefix)
	}
	p := &Pair{prefix: prefix, NS: prefix + "ns" + id()}
	Run(t, "ip", "netns", "add", p.NS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.NS).Run() })
	p.create(t, o)
	return p
}

// Add creates another veth pair from here into p's namespace (as the second monitor
// port of a tap delivers the other direction); it goes away at cleanup.
func (p *Pair) Add(t testing.TB, o Options) *Pair {
	t.Helper()
	p2 := &Pair{prefix: p.prefix, NS: p.NS}
	p2.create(t, o)
	return p2
}

func (p *Pair) create(t testing.TB, o Options) {
	t.Helper()
	n := id()
	p.Here, p.Peer = p.prefix+"h"+n, p.prefix+"p"+n
	t.Cleanup(func() { exec.Command("ip", "link", "del", p.Here).Run() })
	var queues, mtu []string
	if o.Queues > 0 {
		q := fmt.Sprint(o.Queues)
		queues = []string{"numtxqueues", q, "numrxqueues", q}
	}
	if o.MTU > 0 {
		mtu = []string{"mtu", fmt.Sprint(o.MTU)}
	}
	args := append(append([]string{"link", "add", p.Here}, queues...), "type", "veth", "peer", "name", p.Peer)
	Run(t, "ip", append(append(args, queues...), "netns", p.NS)...)
	if o.NoIPv6 {
		Run(t, "sysctl", "-qw", "net.ipv6.conf."+p.Here+".disable_ipv6=1")
		p.Exec(t, "sysctl", "-qw", "net.ipv6.conf."+p.Peer+".disable_ipv6=1")
	}
	Run(t, "ip", append(append([]string{"link", "set", p.Here}, mtu...), "up")...)
	Run(t, "ip", append(append([]string{"-n", p.NS, "link", "set", p.Peer}, mtu...), "up")...)
}

// Exec runs a command in p's namespace (tcpreplay -i p.Peer, say) and fails the test
// if it fails.
func (p *Pair) Exec(t testing.TB, name string, args ...string) {
	t.Helper()
	Run(t, "ip", append([]string{"netns", "exec", p.NS, name}, args...)...)
}
