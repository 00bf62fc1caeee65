package doctor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"panoptes/internal/cli"
)

// base is a healthy 8-queue NIC on an 8-CPU machine: every check passes on it, and
// each case below changes one thing.
func base() *State {
	yes := true
	return &State{
		Name: "eth1", Driver: "ice", DriverVersion: "6.18", Firmware: "4.40 0x8001c967 1.3534.0", BusInfo: "0000:3b:00.0",
		AdminUp: true, Carrier: true, OperState: "up", SpeedMbps: 25000,
		MTU: 1500, Promisc: true, RxQueues: 8, CPUs: 8,
		Channels: &Channels{Combined: 8, MaxCombined: 64},
		Features: map[string]Feature{"rx-gro": {}, "large-receive-offload": {}, "rx-vlan-hw-parse": {}, "ntuple-filters": {}},
		Ring:     &Ring{Rx: 4096, MaxRx: 4096},
		Coalesce: &Coalesce{AdaptiveRx: true, RxUsecs: 50},
		TS:       &TSInfo{SoTimestamping: sofRxHardware | sofRawHardware, RxFilters: hwtsFilterAll, PHC: 0},
		RSS:      &RSS{HFunc: rssHashToeplitz, InputXfrm: rssXfrmSymXor, Key: make([]byte, 52), IndirSize: 512},
		NUMANode: 0, NUMACPUs: []int{0, 1, 2, 3, 4, 5, 6, 7},
		IRQs:      []IRQ{{N: 40, CPUs: []int{0}}, {N: 41, CPUs: []int{1}}, {N: 42, CPUs: []int{2}}},
		NativeXDP: &yes, Kernel: "6.18.44", Drops: map[string]uint64{},
	}
}

var xdpOpts = Options{Mode: "xdp", FrameSize: 2048}

func TestHealthyNICPassesEveryCheck(t *testing.T) {
	for _, f := range Check(base(), xdpOpts) {
		if f.Status != OK {
			t.Errorf("%s: %s: %s", f.Check, f.Status, f.Detail)
		}
	}
}

// TestChecks feeds each decision function one changed state and checks the verdict,
// and that the detail and fix say the right thing.
func TestChecks(t *testing.T) {
	no := false
	tests := []struct {
		name    string
		check   string
		opts    Options
		change  func(s *State)
		status  Status
		detail  string // substring
		fix     string // substring ("" = not checked)
		fixNone bool   // no fix expected
	}{
		{"driver reported", "driver", xdpOpts, func(s *State) {}, OK, "driver ice, version 6.18, firmware 4.40 0x8001c967 1.3534.0, bus 0000:3b:00.0", "", true},
		{"no firmware", "driver", xdpOpts, func(s *State) { s.Firmware = "" }, OK, "firmware none reported", "", true},
		{"driver unreadable", "driver", xdpOpts, func(s *State) { s.DriverErr = syscall.EOPNOTSUPP }, Warn, "not readable", "ethtool -i eth1", false},
		{"link up", "link", xdpOpts, func(s *State) {}, OK, "25000 Mb/s", "", true},
		{"admin down", "link", xdpOpts, func(s *State) { s.AdminUp = false }, Fail, "administratively down", "ip link set eth1 up", false},
		{"no carrier", "link", xdpOpts, func(s *State) { s.Carrier = false; s.OperState = "down" }, Fail, "no carrier", "tap", false},
		{"promisc off", "promisc", xdpOpts, func(s *State) { s.Promisc = false }, Warn, "not addressed to its own MAC", "ip link set eth1 promisc on", false},
		{"mtu 1500", "mtu", xdpOpts, func(s *State) {}, OK, "fits --frame-size 2048", "", true},
		{"mtu 3000 at 2048", "mtu", xdpOpts, func(s *State) { s.MTU = 3000 }, Fail, "longer frames are dropped", "--frame-size 4096", false},
		{"mtu 3000 at 4096", "mtu", Options{Mode: "xdp", FrameSize: 4096}, func(s *State) { s.MTU = 3000 }, OK, "fits --frame-size 4096", "", true},
		{"mtu 9000", "mtu", xdpOpts, func(s *State) { s.MTU = 9000 }, Fail, "9018-byte frames", "--mode afpacket", false},
		{"mtu 9000 afpacket", "mtu", Options{Mode: "afpacket", FrameSize: 2048}, func(s *State) { s.MTU = 9000 }, OK, "AF_PACKET", "", true},
		{"queues = cpus", "queues", xdpOpts, func(s *State) {}, OK, "8 channels", "", true},
		{"fewer queues than cpus", "queues", xdpOpts, func(s *State) { s.Channels.Combined = 2 }, Warn, "only 2 of 8 CPUs", "ethtool -L eth1 combined 8", false},
		{"fewer queues, device max", "queues", xdpOpts, func(s *State) { s.Channels = &Channels{Combined: 2, MaxCombined: 2} }, OK, "2 channels", "", true},
		{"no channels, one queue", "queues", xdpOpts, func(s *State) { s.Channels = nil; s.RxQueues = 1 }, Warn, "no channel setting", "--mode afpacket", false},
		{"more queues than cpus", "queues", xdpOpts, func(s *State) { s.Channels.Combined = 16 }, Warn, "16 queues on 8 CPUs", "ethtool -L eth1 combined 8", false},
		{"more than the program serves", "queues", xdpOpts, func(s *State) { s.CPUs = 128; s.Channels = &Channels{Combined: 96, MaxCombined: 128} }, Fail, "at most 64 queues", "combined 64", false},
		{"--queues below queue count", "queues", Options{Mode: "xdp", FrameSize: 2048, Queues: 4}, func(s *State) {}, Fail, "captures queues 0-3 only", "ethtool -L eth1 combined 4", false},
		{"rss symmetric xfrm", "rss", xdpOpts, func(s *State) {}, OK, "symmetric-xor", "", true},
		{"rss symmetric key", "rss", xdpOpts, func(s *State) {
			s.RSS.InputXfrm = 0
			s.RSS.Key = []byte(strings.Repeat("\x6d\x5a", 26))
		}, OK, "repeats every 16 bits", "", true},
		{"rss asymmetric key", "rss", xdpOpts, func(s *State) {
			s.RSS.InputXfrm = 0
			s.RSS.Key = []byte("\x6d\x5a\x56\xda\x25\x5b\x0e\xc2\x41\x67\x25\x3d\x43\xa3\x8f\xb0")
		}, Warn, "not symmetric", "--reshard", false},
		{"rss unreadable", "rss", xdpOpts, func(s *State) { s.RSS, s.RSSErr = nil, syscall.EOPNOTSUPP }, Warn, "not readable (operation not supported)", "--reshard", false},
		{"rss one queue", "rss", xdpOpts, func(s *State) { s.RSS = nil; s.Channels = &Channels{Combined: 1, MaxCombined: 1}; s.RxQueues = 1 }, OK, "one RX queue", "", true},
		{"ntuple on", "flow-steering", xdpOpts, func(s *State) { s.Features["ntuple-filters"] = Feature{Active: true} }, OK, "ethtool -n eth1", "", true},
		{"no ntuple", "flow-steering", xdpOpts, func(s *State) { delete(s.Features, "ntuple-filters") }, OK, "no ntuple", "", true},
		{"gro on xdp", "gro", xdpOpts, func(s *State) { s.Features["rx-gro"] = Feature{Active: true} }, OK, "harmless for XDP", "", true},
		{"gro on afpacket", "gro", Options{Mode: "afpacket", FrameSize: 2048}, func(s *State) { s.Features["rx-gro"] = Feature{Active: true} }, Warn, "super-packets", "ethtool -K eth1 gro off", false},
		{"lro on", "lro", xdpOpts, func(s *State) { s.Features["large-receive-offload"] = Feature{Active: true} }, Fail, "merges TCP segments", "ethtool -K eth1 lro off", false},
		{"lro fixed on", "lro", xdpOpts, func(s *State) { s.Features["large-receive-offload"] = Feature{Active: true, Fixed: true} }, Fail, "merges", "does not let", false},
		{"lro absent", "lro", xdpOpts, func(s *State) { delete(s.Features, "large-receive-offload") }, OK, "not offered", "", true},
		{"features unreadable", "lro", xdpOpts, func(s *State) { s.Features = nil }, OK, "not readable", "", true},
		{"rxvlan on xdp", "rx-vlan-offload", xdpOpts, func(s *State) { s.Features["rx-vlan-hw-parse"] = Feature{Active: true} }, Warn, "lose their VLAN ids", "ethtool -K eth1 rxvlan off", false},
		{"rxvlan on afpacket", "rx-vlan-offload", Options{Mode: "afpacket", FrameSize: 2048}, func(s *State) { s.Features["rx-vlan-hw-parse"] = Feature{Active: true} }, OK, "puts them back", "", true},
		{"ring small", "rings", xdpOpts, func(s *State) { s.Ring.Rx = 512 }, Warn, "512 of at most 4096", "ethtool -G eth1 rx 4096", false},
		{"ring unreported", "rings", xdpOpts, func(s *State) { s.Ring = nil }, OK, "does not report", "", true},
		{"coalescing off", "coalescing", xdpOpts, func(s *State) { s.Coalesce = &Coalesce{} }, Warn, "an interrupt per packet", "ethtool -C eth1 adaptive-rx on", false},
		{"coalescing fixed", "coalescing", xdpOpts, func(s *State) { s.Coalesce = &Coalesce{RxUsecs: 20} }, OK, "rx-usecs 20", "", true},
		{"virtual device", "irq-numa", xdpOpts, func(s *State) { s.Virtual = true; s.IRQs = nil }, OK, "virtual device", "", true},
		{"irqs on one cpu", "irq-numa", xdpOpts, func(s *State) {
			s.IRQs = []IRQ{{40, []int{0}}, {41, []int{0}}, {42, []int{0}}}
		}, Warn, "pinned to one CPU", "irqbalance", false},
		{"irqs on the far node", "irq-numa", xdpOpts, func(s *State) { s.NUMACPUs = []int{0, 1}; s.NUMANode = 0 }, Warn, "outside the device's NUMA node", "numactl", false},
		{"hw timestamps all", "timestamping", xdpOpts, func(s *State) {}, OK, "/dev/ptp0", "", true},
		{"ptp-only timestamps", "timestamping", xdpOpts, func(s *State) { s.TS.RxFilters = 1 << 12 }, Warn, "only for some packets", "--hwts off", false},
		{"no hw timestamps", "timestamping", xdpOpts, func(s *State) { s.TS = &TSInfo{SoTimestamping: 1 << 3, PHC: -1} }, Warn, "no hardware receive timestamps", "PTP hardware clock", false},
		{"no phc", "timestamping", xdpOpts, func(s *State) { s.TS.PHC = -1 }, Warn, "no PTP hardware clock", "", true},
		{"native probed", "xdp", xdpOpts, func(s *State) {}, OK, "native XDP attach works (probed); AF_XDP zero-copy supported", "", true},
		{"native probe failed", "xdp", xdpOpts, func(s *State) { s.NativeXDP = &no; s.NativeErr = "operation not supported" }, Warn, "generic mode", "disable LRO", false},
		{"known driver, not probed", "xdp", xdpOpts, func(s *State) { s.NativeXDP = nil; s.Driver = "veth" }, OK, "veth supports native XDP (not probed", "", true},
		{"unknown driver", "xdp", xdpOpts, func(s *State) { s.NativeXDP = nil; s.Driver = "r8169" }, Warn, "not known to support native XDP", "--probe-xdp", false},
		{"program attached", "xdp", xdpOpts, func(s *State) {
			s.XDPProgID = 42
			s.NativeXDP = nil
			s.ProbeSkips = "XDP program 42 is already attached"
		}, Fail, "program 42 is already attached", "bpftool net show dev eth1", false},
		{"igb zero-copy too old", "xdp", xdpOpts, func(s *State) { s.Driver = "igb"; s.Kernel = "6.1.0-28-amd64" }, OK, "needs Linux 6.14", "", true},
		{"igb zero-copy", "xdp", xdpOpts, func(s *State) { s.Driver = "igb" }, OK, "zero-copy supported", "", true},
		{"afpacket mode", "xdp", Options{Mode: "afpacket", FrameSize: 2048}, func(s *State) { s.XDPProgID = 42 }, OK, "not used", "", true},
		{"no drops", "drops", xdpOpts, func(s *State) {}, OK, "no receive drops", "", true},
		{"drops", "drops", xdpOpts, func(s *State) { s.Drops = map[string]uint64{"rx_out_of_buffer": 12, "rx_missed_errors": 3} }, Warn, "rx_missed_errors=3 rx_out_of_buffer=12", "ethtool -G", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.change(s)
			var got *Finding
			for _, f := range Check(s, tc.opts) {
				if f.Check == tc.check {
					got = &f
				}
			}
			if got == nil {
				t.Fatalf("no %s finding", tc.check)
			}
			if got.Status != tc.status || !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("got %s %q, want %s containing %q", got.Status, got.Detail, tc.status, tc.detail)
			}
			if tc.fixNone && got.Fix != "" {
				t.Errorf("fix %q, want none", got.Fix)
			}
			if !strings.Contains(got.Fix, tc.fix) {
				t.Errorf("fix %q, want it to contain %q", got.Fix, tc.fix)
			}
			if got.Page == "" {
				t.Error("no page")
			}
		})
	}
}

// TestPagesExist checks that every page a finding can name is in firmware-notes/, and
// that each ends with what doctor checks and names the checks that point to it.
func TestPagesExist(t *testing.T) {
	pointsHere := map[string][]string{}
	for _, f := range Check(base(), xdpOpts) {
		pointsHere[f.Page] = append(pointsHere[f.Page], f.Check)
	}
	for _, p := range Pages {
		b, err := os.ReadFile(filepath.Join("..", "firmware-notes", p))
		if err != nil {
			t.Errorf("page %s: %v", p, err)
			continue
		}
		text := string(b)
		i := strings.LastIndex(text, "## What `panoptes doctor` checks")
		if i < 0 {
			t.Errorf("%s has no \"What `panoptes doctor` checks\" section", p)
			continue
		}
		for _, c := range pointsHere[p] {
			if !strings.Contains(text[i:], "`"+c+"`") {
				t.Errorf("%s: its doctor section does not name the check `%s`", p, c)
			}
		}
		index, _ := os.ReadFile(filepath.Join("..", "firmware-notes", "README.md"))
		if !strings.Contains(string(index), "("+p+")") {
			t.Errorf("firmware-notes/README.md does not link %s", p)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"0-3", []int{0, 1, 2, 3}},
		{"0-1,4,6-7", []int{0, 1, 4, 6, 7}},
		{"", nil},
		{"3-1", nil},
		{"x", nil},
	}
	for _, tc := range tests {
		if got := parseCPUList(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCPUList(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if tc.want != nil && cpuList(tc.want) != tc.in {
			t.Errorf("cpuList(%v) = %q, want %q", tc.want, cpuList(tc.want), tc.in)
		}
	}
}

func TestSymmetricKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{strings.Repeat("\x6d\x5a", 20), true},
		{strings.Repeat("\x00\x00", 20), true},
		{"\x6d\x5a\x56\xda\x25\x5b\x0e\xc2", false},
		{"\x6d", false},
	}
	for _, tc := range tests {
		if got := symmetricKey([]byte(tc.key)); got != tc.want {
			t.Errorf("symmetricKey(% x) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestKernelAtLeast(t *testing.T) {
	tests := []struct {
		rel  string
		v    [2]int
		want bool
	}{
		{"6.18.44", [2]int{6, 14}, true},
		{"6.1.0-28-amd64", [2]int{6, 14}, false},
		{"5.14.0", [2]int{5, 14}, true},
		{"7.0", [2]int{6, 14}, true},
		{"weird", [2]int{6, 14}, true},
	}
	for _, tc := range tests {
		if got := kernelAtLeast(tc.rel, tc.v); got != tc.want {
			t.Errorf("kernelAtLeast(%q, %v) = %v", tc.rel, tc.v, got)
		}
	}
}

func TestIsDropCounter(t *testing.T) {
	for name, want := range map[string]bool{
		"rx_missed_errors": true, "rx_out_of_buffer": true, "rx_no_buffer_count": true, "port.rx_dropped": true,
		"rx_packets": false, "tx_dropped": false, "rx_bytes": false,
	} {
		if isDropCounter(name) != want {
			t.Errorf("isDropCounter(%q) = %v", name, !want)
		}
	}
}

func TestErrFailedExitsOne(t *testing.T) {
	if cli.ExitCode(ErrFailed) != cli.ExitNoMatch {
		t.Fatal("ErrFailed does not map to exit status 1")
	}
}
