package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/safchain/ethtool"

	"panoptes/internal/binarytest"
	"panoptes/internal/goldentest"
	"panoptes/internal/vethtest"
)

// The live tests run the real binary against real interfaces: a veth pair whose far end
// sits in a network namespace the test creates, its states set with ip and the ethtool
// library. They need root (CI runs as root).

// panoptesBin builds the binary once per test run (binarytest.Build).
func panoptesBin(t *testing.T) string {
	t.Helper()
	return binarytest.Build(t)
}

// doctor runs the binary and returns stdout, stderr and the exit status.
func doctor(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(panoptesBin(t), append([]string{"doctor"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// findings runs doctor --json on one interface and returns its findings by check.
func findings(t *testing.T, args ...string) (map[string]Finding, int) {
	t.Helper()
	out, errs, code := doctor(t, append(args, "--json")...)
	if code == 2 {
		t.Fatalf("exit 2: %s", errs)
	}
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	m := map[string]Finding{}
	for _, f := range r.Findings {
		m[f.Check] = f
	}
	return m, code
}

func setFeature(t *testing.T, iface, feature string, on bool) {
	t.Helper()
	e, err := ethtool.NewEthtool()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Change(iface, map[string]bool{feature: on}); err != nil {
		t.Fatalf("ethtool -K %s %s %v: %v", iface, feature, on, err)
	}
}

// TestLiveStates changes one thing at a time on a real veth and checks that doctor
// reports it, with the exit status.
func TestLiveStates(t *testing.T) {
	vethtest.Require(t, "doctor on a veth (network namespaces, ethtool changes)")
	cpus := onlineCPUs()
	iface := vethtest.New(t, "pnd", vethtest.Options{Queues: cpus}).Here
	steps := []struct {
		name   string
		setup  func()
		args   []string
		check  string
		status Status
		detail string
		exit   int
	}{
		{"promisc off", func() {}, nil, "promisc", Warn, "promiscuous mode off", 0},
		{"promisc on", func() { vethtest.Run(t, "ip", "link", "set", iface, "promisc", "on") }, nil, "promisc", OK, "on", 0},
		{"queues match CPUs", func() {}, nil, "queues", OK, fmt.Sprintf("%d channels", cpus), 0},
		{"--queues 1 of several", func() {}, []string{"--queues", "1"}, "queues", map[bool]Status{true: Fail, false: OK}[cpus > 1], "", map[bool]int{true: 1, false: 0}[cpus > 1]},
		{"rss unreadable on veth", func() {}, nil, "rss", map[bool]Status{true: Warn, false: OK}[cpus > 1], "", 0},
		{"vlan stripping on", func() { setFeature(t, iface, "rx-vlan-hw-parse", true) }, nil, "rx-vlan-offload", Warn, "lose their VLAN ids", 0},
		{"vlan stripping off", func() { setFeature(t, iface, "rx-vlan-hw-parse", false) }, nil, "rx-vlan-offload", OK, "off", 0},
		{"gro on, afpacket", func() { setFeature(t, iface, "rx-gro", true) }, []string{"--mode", "afpacket"}, "gro", Warn, "super-packets", 0},
		{"gro on, xdp", func() {}, nil, "gro", OK, "harmless for XDP", 0},
		{"gro off", func() { setFeature(t, iface, "rx-gro", false) }, []string{"--mode", "afpacket"}, "gro", OK, "rx-gro off", 0},
		{"mtu 1500", func() {}, nil, "mtu", OK, "MTU 1500", 0},
		{"mtu 9000", func() { vethtest.Run(t, "ip", "link", "set", iface, "mtu", "9000") }, nil, "mtu", Fail, "MTU 9000 allows 9018-byte frames", 1},
		{"mtu 9000, afpacket", func() {}, []string{"--mode", "afpacket"}, "mtu", OK, "AF_PACKET", 0},
		{"mtu 3000, 4096 frames", func() { vethtest.Run(t, "ip", "link", "set", iface, "mtu", "3000") }, []string{"--frame-size", "4096"}, "mtu", OK, "fits --frame-size 4096", 0},
		{"native xdp probe", func() {}, []string{"--probe-xdp", "--frame-size", "4096"}, "xdp", OK, "native XDP attach works (probed)", 0},
		{"link down", func() { vethtest.Run(t, "ip", "link", "set", iface, "down") }, []string{"--frame-size", "4096"}, "link", Fail, "administratively down", 1},
	}
	for _, st := range steps {
		st.setup()
		got, code := findings(t, append([]string{"-i", iface}, st.args...)...)
		f, ok := got[st.check]
		if !ok {
			t.Fatalf("%s: no %s finding", st.name, st.check)
		}
		if f.Status != st.status || !strings.Contains(f.Detail, st.detail) {
			t.Errorf("%s: %s is %s %q, want %s containing %q", st.name, st.check, f.Status, f.Detail, st.status, st.detail)
		}
		if code != st.exit {
			t.Errorf("%s: exit %d, want %d", st.name, code, st.exit)
		}
	}
	// The probe detached its program: nothing is left on the interface.
	got, _ := findings(t, "-i", iface, "--frame-size", "4096")
	if strings.Contains(got["xdp"].Detail, "already attached") {
		t.Errorf("the probe left a program attached: %s", got["xdp"].Detail)
	}
}

// TestLiveGolden checks the stable part of doctor's JSON for a fresh veth pair with one
// queue per CPU (check, status, fix and page; details carry counts that vary).
func TestLiveGolden(t *testing.T) {
	vethtest.Require(t, "doctor on a veth (network namespaces, ethtool changes)")
	iface := vethtest.New(t, "pnd", vethtest.Options{Queues: onlineCPUs()}).Here
	out, errs, code := doctor(t, "-i", iface, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("want one JSON line per interface, got:\n%s", out)
	}
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Interface != iface {
		t.Errorf("interface %q, want %q", r.Interface, iface)
	}
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", f.Check, f.Status, f.Page, strings.ReplaceAll(f.Fix, iface, "IFACE"))
	}
	goldentest.Check(t, "testdata/veth-json.golden", b.String())

	// Two interfaces: one line each, in order.
	out, _, _ = doctor(t, "-i", iface+",lo", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"interface":"`+iface+`"`) || !strings.Contains(lines[1], `"interface":"lo"`) {
		t.Errorf("two interfaces: got\n%s", out)
	}

	// The table: a header, every check, a summary; no colour into a pipe.
	table, _, _ := doctor(t, "-i", iface)
	for _, want := range []string{iface + "\n", "check", "promisc", "fix: ip link set " + iface + " promisc on", "see: firmware-notes/capture-access.md", iface + ": "} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "\x1b[") {
		t.Error("colour escapes in output to a pipe")
	}
}

// TestUsageErrors: bad input gives exit status 2 and one line naming it.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-i", "pndnosuch0"}, `interface "pndnosuch0" does not exist`},
		{[]string{"-i", "lo,pndnosuch1"}, `interface "pndnosuch1" does not exist`},
		{[]string{}, "no interface"},
		{[]string{"-i", "lo", "--mode", "dpdk"}, `--mode "dpdk"`},
		{[]string{"-i", "lo", "--frame-size", "3000"}, "--frame-size 3000"},
		{[]string{"-i", "lo", "--queues", "zero"}, `--queues "zero"`},
		{[]string{"-i", "lo", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"-i", "lo", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		out, errs, code := doctor(t, tc.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if out != "" {
			t.Errorf("%v: printed to stdout: %q", tc.args, out)
		}
		first, _, _ := strings.Cut(errs, "\n")
		if !strings.Contains(first, tc.want) {
			t.Errorf("%v: stderr %q, want its first line to contain %q", tc.args, errs, tc.want)
		}
		if tc.want != "unknown flag: --bogus" && strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: want one line on stderr, got %q", tc.args, errs)
		}
	}
}
