package doctor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// State is what doctor read about one interface. Every part that the driver may not
// report is a pointer (nil: not reported) or carries the error, so that the checks can
// tell "off" from "unknown" and be tested with plain struct values.
type State struct {
	Name string
	// Driver information (ethtool -i).
	Driver, DriverVersion, Firmware, BusInfo string
	DriverErr                                error

	AdminUp, Carrier bool
	OperState        string
	SpeedMbps        int // -1: unknown (no link, or the driver does not say)

	MTU     int
	Promisc bool // IFF_PROMISC set on the interface (ip link set IFACE promisc on)

	RxQueues int       // RX queues the kernel created (/sys/class/net/IFACE/queues/rx-*)
	Channels *Channels // ethtool -l; nil if the driver does not report channels
	CPUs     int       // online CPUs

	Features map[string]Feature // ethtool -k by the kernel's feature names; nil if unreadable

	Ring     *Ring     // ethtool -g
	Coalesce *Coalesce // ethtool -c
	TS       *TSInfo   // ethtool -T
	RSS      *RSS      // ethtool -x (ETHTOOL_GRSSH)
	RSSErr   error

	XDPProgID  uint32 // a program already attached (0: none)
	NativeXDP  *bool  // --probe-xdp: whether a native-mode attach succeeded
	NativeErr  string // the probe's error, when it failed
	ProbeSkips string // why the probe did not run, when it was asked for

	Drops map[string]uint64 // non-zero receive drop counters, by ethtool -S or sysfs name

	NUMANode int    // the device's NUMA node; -1 if none (virtual device, single node)
	IRQs     []IRQ  // the device's MSI/MSI-X interrupts and their CPU affinity
	Virtual  bool   // no bus device behind the interface (veth, bridge, tun...)
	Kernel   string // the running kernel's release (uname -r)
	NUMACPUs []int  // CPUs of the device's NUMA node
}

// Channels are the interface's queue counts (ethtool -l).
type Channels struct {
	Rx, Combined, MaxRx, MaxCombined int
}

// Queues is the number of receive queues the channels give: combined plus RX-only.
func (c Channels) Queues() int { return c.Rx + c.Combined }

// MaxQueues is the most receive queues the device offers.
func (c Channels) MaxQueues() int { return c.MaxRx + c.MaxCombined }

// Feature is one offload's state (ethtool -k).
type Feature struct {
	Active, Fixed bool // Fixed: the driver does not let it be changed
}

// Ring is the RX descriptor ring size and its maximum (ethtool -g).
type Ring struct{ Rx, MaxRx int }

// Coalesce is the RX interrupt moderation (ethtool -c).
type Coalesce struct {
	RxUsecs, RxFrames int
	AdaptiveRx        bool
}

// TSInfo is the timestamping the device offers (ethtool -T).
type TSInfo struct {
	SoTimestamping uint32 // SOF_TIMESTAMPING_* capabilities
	RxFilters      uint32 // bit per HWTSTAMP_FILTER_*
	PHC            int    // PTP hardware clock index, -1 none
}

// RSS is the receive-side-scaling hash configuration (ethtool -x).
type RSS struct {
	HFunc     uint8 // ETH_RSS_HASH_* bit (1 Toeplitz, 2 XOR, 4 CRC32)
	InputXfrm uint8 // RXH_XFRM_* bits (1 symmetric-xor, 2 symmetric-or-xor), kernel ≥ 6.8
	Key       []byte
	IndirSize int
}

// IRQ is one interrupt of the device and the CPUs it may run on.
type IRQ struct {
	N    int
	CPUs []int
}

// Options are the sensor settings the checks compare against; they mirror
// `panoptes sensor` flags.
type Options struct {
	Mode      string // xdp or afpacket
	FrameSize int    // --frame-size
	Queues    int    // --queues; 0 = all
	ProbeXDP  bool
}

// ErrNoInterface is returned when the named interface does not exist.
var ErrNoInterface = errors.New("no such interface")

// Inspect reads an interface's state through rtnetlink, the ethtool ioctls and sysfs.
// Parts the driver does not report stay nil; only a missing interface is an error.
func Inspect(name string, opt Options) (*State, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		if _, ierr := net.InterfaceByName(name); ierr != nil {
			return nil, fmt.Errorf("interface %q: %w", name, ErrNoInterface)
		}
		return nil, fmt.Errorf("interface %s: reading it through netlink: %w", name, err)
	}
	a := link.Attrs()
	s := &State{Name: name, MTU: a.MTU, SpeedMbps: -1, NUMANode: -1, CPUs: onlineCPUs()}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		s.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	s.AdminUp = a.Flags&net.FlagUp != 0
	s.Carrier = a.RawFlags&unix.IFF_LOWER_UP != 0
	s.OperState = a.OperState.String()
	s.Promisc = a.RawFlags&unix.IFF_PROMISC != 0
	if a.Xdp != nil && a.Xdp.Attached {
		s.XDPProgID = a.Xdp.ProgId
	}
	// The link speed from sysfs: the ethtool library's link-settings call prints
	// warnings to stdout on some drivers, which would corrupt --json output.
	if b, err := os.ReadFile("/sys/class/net/" + name + "/speed"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 {
			s.SpeedMbps = v
		}
	}
	s.RxQueues = sysfsQueues(name)
	if s.RxQueues == 0 {
		s.RxQueues = a.NumRxQueues
	}
	s.Drops = map[string]uint64{}
	if st := a.Statistics; st != nil {
		for k, v := range map[string]uint64{"rx_missed_errors": st.RxMissedErrors, "rx_fifo_errors": st.RxFifoErrors, "rx_over_errors": st.RxOverErrors} {
			if v > 0 {
				s.Drops[k] = v
			}
		}
	}

	e, err := ethtool.NewEthtool()
	if err != nil {
		s.DriverErr = err
		return s, nil
	}
	defer e.Close()
	if di, err := e.DriverInfo(name); err != nil {
		s.DriverErr = err
	} else {
		s.Driver, s.DriverVersion, s.Firmware, s.BusInfo = di.Driver, di.Version, di.FwVersion, di.BusInfo
	}
	if ch, err := e.GetChannels(name); err == nil {
		s.Channels = &Channels{Rx: int(ch.RxCount), Combined: int(ch.CombinedCount), MaxRx: int(ch.MaxRx), MaxCombined: int(ch.MaxCombined)}
	}
	if fs, err := e.FeaturesWithState(name); err == nil {
		s.Features = make(map[string]Feature, len(fs))
		for k, v := range fs {
			s.Features[k] = Feature{Active: v.Active, Fixed: !v.Available}
		}
	}
	if r, err := e.GetRing(name); err == nil && r.RxMaxPending > 0 {
		s.Ring = &Ring{Rx: int(r.RxPending), MaxRx: int(r.RxMaxPending)}
	}
	if c, err := e.GetCoalesce(name); err == nil {
		s.Coalesce = &Coalesce{RxUsecs: int(c.RxCoalesceUsecs), RxFrames: int(c.RxMaxCoalescedFrames), AdaptiveRx: c.UseAdaptiveRxCoalesce != 0}
	}
	if ts, err := e.GetTimestampingInformation(name); err == nil {
		s.TS = &TSInfo{SoTimestamping: ts.SoTimestamping, RxFilters: ts.RxFilters, PHC: int(ts.PhcIndex)}
	}
	s.RSS, s.RSSErr = readRSS(name)
	if st, err := e.Stats(name); err == nil {
		for k, v := range st {
			if v > 0 && isDropCounter(k) {
				s.Drops[k] = v
			}
		}
	}
	readDevice(s)
	if opt.ProbeXDP {
		probeNative(s, link.Attrs().Index)
	}
	return s, nil
}

// dropCounters are the ethtool -S names, per driver, of frames the NIC received but
// could not hand to the host: no free descriptor, FIFO overflow, no buffer. Counters of
// frames the stack later dropped (rx_dropped) are left out: veth counts AF_XDP socket
// drops there, which the sensor reports itself.
var dropCounters = map[string]bool{
	"rx_missed_errors":    true, // ixgbe, igb, igc, e1000e; the kernel's rtnl stat
	"rx_fifo_errors":      true, // generic; i40e/ice per port
	"rx_over_errors":      true, // generic
	"rx_no_buffer_count":  true, // igb, e1000e
	"rx_no_dma_resources": true, // ixgbe
	"rx_out_of_buffer":    true, // mlx5: no receive WQE on the ring
	"rx_discards_phy":     true, // mlx5: dropped by the port for lack of buffer
	"port.rx_dropped":     true, // i40e: dropped by the port (rx_discards)
	"rx_dropped.nic":      true, // ice: the same counter
}

func isDropCounter(name string) bool {
	if dropCounters[name] {
		return true
	}
	// Per-queue and per-port variants of the generic names.
	return strings.HasSuffix(name, "_missed_errors") || strings.HasSuffix(name, "rx_no_buffer_count")
}

// sysfsQueues counts /sys/class/net/IFACE/queues/rx-*.
func sysfsQueues(name string) int {
	m, _ := filepath.Glob("/sys/class/net/" + name + "/queues/rx-*")
	return len(m)
}

func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	if c := parseCPUList(strings.TrimSpace(string(b))); len(c) > 0 {
		return len(c)
	}
	return runtime.NumCPU()
}

// maxCPUs bounds the CPU numbers parseCPUList accepts (the kernel's NR_CPUS limit is
// 8192), so a damaged list cannot make it allocate without bound.
const maxCPUs = 1 << 14

// parseCPUList parses the kernel's CPU list format: "0-3,8,10-11".
func parseCPUList(s string) []int {
	var out []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil
			}
		}
		if a < 0 || b >= maxCPUs {
			return nil
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out
}

// readDevice reads the bus device behind the interface: its NUMA node, the CPUs of
// that node, and its interrupts with their affinity.
func readDevice(s *State) {
	dev := "/sys/class/net/" + s.Name + "/device"
	if _, err := os.Stat(dev); err != nil {
		s.Virtual = true
		return
	}
	if b, err := os.ReadFile(dev + "/numa_node"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			s.NUMANode = n
		}
	}
	if s.NUMANode >= 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/node/node%d/cpulist", s.NUMANode)); err == nil {
			s.NUMACPUs = parseCPUList(strings.TrimSpace(string(b)))
		}
	}
	irqs, _ := os.ReadDir(dev + "/msi_irqs")
	for _, d := range irqs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		irq := IRQ{N: n}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/irq/%d/smp_affinity_list", n)); err == nil {
			irq.CPUs = parseCPUList(strings.TrimSpace(string(b)))
		}
		s.IRQs = append(s.IRQs, irq)
	}
	sort.Slice(s.IRQs, func(i, j int) bool { return s.IRQs[i].N < s.IRQs[j].N })
}
