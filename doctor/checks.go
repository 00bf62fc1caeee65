package doctor

import (
	"fmt"
	"sort"
	"strings"
)

// Status is a finding's verdict.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn" // capture works, but loses accuracy, speed or packets under load
	Fail Status = "fail" // capture will lose or misreport traffic as configured
)

// Finding is one check's result for one interface.
type Finding struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	Page   string `json:"page"` // the firmware-notes page that explains it
}

// The firmware-notes pages the findings point to (relative to firmware-notes/).
const (
	pageAccess   = "capture-access.md"
	pageQueues   = "rss-queues.md"
	pageSteering = "flow-steering.md"
	pageOffloads = "offloads.md"
	pageRings    = "rings.md"
	pageIRQ      = "interrupts-numa.md"
	pageTS       = "timestamping.md"
	pageXDP      = "xdp-drivers.md"
	pageFirmware = "firmware.md"
	pageDrops    = "drop-counters.md"
)

// Pages lists every page a finding can name; a test checks that each exists.
var Pages = []string{pageAccess, pageQueues, pageSteering, pageOffloads, pageRings, pageIRQ, pageTS, pageXDP, pageFirmware, pageDrops}

// xdpFrameHeadroom is what the sensor's AF_XDP frames keep in front of the packet: the
// kernel's XDP_PACKET_HEADROOM (256) and the 32-byte metadata block (xdp.MetaSize). A
// frame longer than --frame-size less this is dropped.
const xdpFrameHeadroom = 256 + 32

// maxXDPQueues is the most RX queues the sensor's XDP program serves (its XSKMAP size).
const maxXDPQueues = 64

// Check runs every check on one interface's state, in a fixed order.
func Check(s *State, o Options) []Finding {
	return []Finding{
		checkDriver(s),
		checkLink(s),
		checkPromisc(s),
		checkMTU(s, o),
		checkQueues(s, o),
		checkRSS(s),
		checkSteering(s),
		checkOffload(s, o, "gro"),
		checkOffload(s, o, "lro"),
		checkOffload(s, o, "rx-vlan-offload"),
		checkRings(s),
		checkCoalesce(s),
		checkIRQ(s),
		checkTimestamping(s),
		checkXDP(s, o),
		checkDrops(s),
	}
}

func checkDriver(s *State) Finding {
	f := Finding{Check: "driver", Status: OK, Page: pageFirmware}
	if s.DriverErr != nil {
		f.Status = Warn
		f.Detail = fmt.Sprintf("driver information not readable: %v", s.DriverErr)
		f.Fix = "check `ethtool -i " + s.Name + "`"
		return f
	}
	parts := []string{"driver " + s.Driver}
	if s.DriverVersion != "" {
		parts = append(parts, "version "+s.DriverVersion)
	}
	fw := s.Firmware
	if fw == "" || fw == "N/A" {
		fw = "none reported"
	}
	parts = append(parts, "firmware "+fw)
	if s.BusInfo != "" {
		parts = append(parts, "bus "+s.BusInfo)
	}
	f.Detail = strings.Join(parts, ", ")
	return f
}

func checkLink(s *State) Finding {
	f := Finding{Check: "link", Page: pageAccess}
	speed := "speed unknown"
	if s.SpeedMbps > 0 {
		speed = fmt.Sprintf("%d Mb/s", s.SpeedMbps)
	}
	switch {
	case !s.AdminUp:
		f.Status, f.Detail = Fail, "interface is administratively down"
		f.Fix = "ip link set " + s.Name + " up"
	case !s.Carrier:
		f.Status, f.Detail = Fail, "no carrier (operstate "+s.OperState+"): nothing is plugged in or the tap/SPAN port is not sending"
		f.Fix = "check the cable, the tap's monitor port or the switch's SPAN session"
	default:
		f.Status, f.Detail = OK, "up, carrier, "+speed
	}
	return f
}

func checkPromisc(s *State) Finding {
	f := Finding{Check: "promisc", Page: pageAccess}
	if s.Promisc {
		f.Status, f.Detail = OK, "promiscuous mode on"
		return f
	}
	f.Status = Warn
	f.Detail = "promiscuous mode off: the NIC drops frames not addressed to its own MAC, which is most of what a tap or SPAN port delivers"
	f.Fix = "ip link set " + s.Name + " promisc on"
	return f
}

func checkMTU(s *State, o Options) Finding {
	f := Finding{Check: "mtu", Page: pageXDP}
	// The longest frame the link delivers: MTU plus Ethernet header and one VLAN tag.
	frame := s.MTU + 14 + 4
	if o.Mode == "afpacket" {
		f.Status, f.Detail = OK, fmt.Sprintf("MTU %d; AF_PACKET takes frames of any length", s.MTU)
		return f
	}
	room := o.FrameSize - xdpFrameHeadroom
	if frame <= room {
		f.Status = OK
		f.Detail = fmt.Sprintf("MTU %d (frames up to %d bytes) fits --frame-size %d (%d bytes after headroom)", s.MTU, frame, o.FrameSize, room)
		return f
	}
	f.Status = Fail
	f.Detail = fmt.Sprintf("MTU %d allows %d-byte frames, but --frame-size %d holds %d after headroom: longer frames are dropped", s.MTU, frame, o.FrameSize, room)
	if frame <= 4096-xdpFrameHeadroom {
		f.Fix = "run the sensor with --frame-size 4096"
	} else {
		f.Fix = fmt.Sprintf("AF_XDP frames are at most a page (4096): lower the MTU to %d (ip link set %s mtu %d) and use --frame-size 4096, or capture with --mode afpacket",
			4096-xdpFrameHeadroom-18, s.Name, 4096-xdpFrameHeadroom-18)
	}
	return f
}

func checkQueues(s *State, o Options) Finding {
	f := Finding{Check: "queues", Status: OK, Page: pageQueues}
	q := s.RxQueues
	src := "RX queue(s)"
	if s.Channels != nil && s.Channels.Queues() > 0 {
		q = s.Channels.Queues()
		src = fmt.Sprintf("channels (rx %d, combined %d; max %d)", s.Channels.Rx, s.Channels.Combined, s.Channels.MaxQueues())
	}
	f.Detail = fmt.Sprintf("%d %s, %d online CPUs", q, src, s.CPUs)
	if o.Mode == "afpacket" {
		f.Detail += "; AF_PACKET fanout uses one socket per CPU whatever the queue count"
	}
	var warns, fixes []string
	if o.Mode != "afpacket" {
		if q > maxXDPQueues {
			f.Status = Fail
			warns = append(warns, fmt.Sprintf("the sensor's XDP program serves at most %d queues", maxXDPQueues))
			fixes = append(fixes, fmt.Sprintf("ethtool -L %s combined %d", s.Name, min(s.CPUs, maxXDPQueues)))
		}
		if o.Queues > 0 && o.Queues < q {
			f.Status = Fail
			warns = append(warns, fmt.Sprintf("--queues %d captures queues 0-%d only; RSS spreads traffic over all %d, the rest is not captured", o.Queues, o.Queues-1, q))
			fixes = append(fixes, fmt.Sprintf("ethtool -L %s combined %d, or --queues all", s.Name, o.Queues))
		}
	}
	if q < s.CPUs && o.Mode != "afpacket" {
		switch {
		case s.Channels == nil:
			warns = append(warns, fmt.Sprintf("one capture shard per queue: only %d of %d CPUs will capture, and the driver offers no channel setting", q, s.CPUs))
			fixes = append(fixes, "capture with --mode afpacket (one socket per CPU) or on a multi-queue NIC")
		case s.Channels.MaxQueues() > q:
			warns = append(warns, fmt.Sprintf("one capture shard per queue: only %d of %d CPUs will capture", q, s.CPUs))
			fixes = append(fixes, fmt.Sprintf("ethtool -L %s combined %d", s.Name, min(s.CPUs, s.Channels.MaxQueues())))
		}
		if len(warns) > 0 && f.Status == OK {
			f.Status = Warn
		}
	}
	if q > s.CPUs {
		if f.Status == OK {
			f.Status = Warn
		}
		warns = append(warns, fmt.Sprintf("%d queues on %d CPUs: shards share CPUs and busy-poll against each other", q, s.CPUs))
		fixes = append(fixes, fmt.Sprintf("ethtool -L %s combined %d", s.Name, s.CPUs))
	}
	if len(warns) > 0 {
		f.Detail += "; " + strings.Join(warns, "; ")
		f.Fix = strings.Join(fixes, "; ")
	}
	return f
}

// symmetricKey says whether a Toeplitz key gives both directions of a flow the same
// hash: true when the key repeats with a 16-bit period (such as 6d:5a repeated), since
// swapping the source and destination address and port then shifts the input by a
// multiple of the period.
func symmetricKey(key []byte) bool {
	if len(key) < 4 {
		return false
	}
	for i := 2; i < len(key); i++ {
		if key[i] != key[i-2] {
			return false
		}
	}
	return true
}

const (
	rssHashToeplitz = 1 << 0 // ETH_RSS_HASH_TOP
	rssXfrmSymXor   = 1 << 0 // RXH_XFRM_SYM_XOR
	rssXfrmSymOrXor = 1 << 1 // RXH_XFRM_SYM_OR_XOR
)

func checkRSS(s *State) Finding {
	f := Finding{Check: "rss", Page: pageQueues}
	q := s.RxQueues
	if s.Channels != nil && s.Channels.Queues() > 0 {
		q = s.Channels.Queues()
	}
	if q <= 1 {
		f.Status, f.Detail = OK, "one RX queue: both directions of every flow arrive on it"
		return f
	}
	const advice = "run the sensor with --reshard (packets are re-dealt by a symmetric flow hash)"
	switch {
	case s.RSS == nil:
		f.Status = Warn
		f.Detail = fmt.Sprintf("RSS hash configuration not readable (%v): the two directions of a flow may land on different queues and be reported as two flows", s.RSSErr)
		f.Fix = advice
	case s.RSS.InputXfrm&(rssXfrmSymXor|rssXfrmSymOrXor) != 0:
		f.Status, f.Detail = OK, "RSS input transform is symmetric (symmetric-xor): both directions of a flow hash to one queue"
	case s.RSS.HFunc&rssHashToeplitz != 0 && symmetricKey(s.RSS.Key):
		f.Status, f.Detail = OK, "Toeplitz RSS key repeats every 16 bits: both directions of a flow hash to one queue"
	default:
		f.Status = Warn
		f.Detail = fmt.Sprintf("RSS hash (function %#x, key %d bytes) is not symmetric: the two directions of a flow can land on different queues", s.RSS.HFunc, len(s.RSS.Key))
		f.Fix = advice + ", or make the hash symmetric: ethtool -X " + s.Name + " hkey " + strings.TrimSuffix(strings.Repeat("6d:5a:", max(len(s.RSS.Key), 40)/2), ":") + " (or `xfrm symmetric-xor` where driver and ethtool support it)"
	}
	return f
}

func checkSteering(s *State) Finding {
	f := Finding{Check: "flow-steering", Status: OK, Page: pageSteering}
	nt, ok := s.Features["ntuple-filters"]
	switch {
	case !ok || nt.Fixed && !nt.Active:
		f.Detail = "no ntuple flow steering on this device: RSS alone places packets"
	case nt.Active:
		f.Detail = "ntuple steering enabled: rules (ethtool -n " + s.Name + ") override RSS for the flows they match; the sensor captures every queue, so this only moves load"
	default:
		f.Detail = "ntuple steering available and off: RSS alone places packets"
	}
	return f
}

// offloads maps the names doctor uses to the kernel's feature strings and the
// `ethtool -K` keyword.
var offloads = map[string]struct{ feature, keyword string }{
	"gro":             {"rx-gro", "gro"},
	"lro":             {"large-receive-offload", "lro"},
	"rx-vlan-offload": {"rx-vlan-hw-parse", "rxvlan"},
}

func checkOffload(s *State, o Options, name string) Finding {
	off := offloads[name]
	f := Finding{Check: name, Status: OK, Page: pageOffloads}
	ft, ok := s.Features[off.feature]
	if !ok {
		f.Detail = off.feature + " not offered by the driver"
		if s.Features == nil {
			f.Detail = "offload features not readable"
		}
		return f
	}
	if !ft.Active {
		f.Detail = off.feature + " off"
		return f
	}
	fix := fmt.Sprintf("ethtool -K %s %s off", s.Name, off.keyword)
	if ft.Fixed {
		fix = "the driver does not let " + off.feature + " be changed; capture another way or on another NIC"
	}
	switch name {
	case "gro":
		if o.Mode != "afpacket" {
			f.Detail = "rx-gro on: harmless for XDP capture (XDP runs before GRO), but AF_PACKET (--mode afpacket) would see merged super-packets"
			return f
		}
		f.Status = Warn
		f.Detail = "rx-gro on: AF_PACKET sees merged super-packets, so packet counts and sizes are wrong"
	case "lro":
		f.Status = Fail
		f.Detail = "large-receive-offload on: the NIC merges TCP segments before anyone sees them (packet counts, sizes and retransmissions are lost), and some drivers refuse native XDP while it is on"
	case "rx-vlan-offload":
		if o.Mode == "afpacket" {
			f.Detail = "rx-vlan-hw-parse on: the NIC strips VLAN tags; AF_PACKET puts them back from the metadata"
			return f
		}
		f.Status = Warn
		f.Detail = "rx-vlan-hw-parse on: the NIC strips 802.1Q tags before XDP sees the frame, so records lose their VLAN ids"
	}
	f.Fix = fix
	return f
}

func checkRings(s *State) Finding {
	f := Finding{Check: "rings", Status: OK, Page: pageRings}
	switch {
	case s.Ring == nil:
		f.Detail = "the driver does not report RX ring sizes"
	case s.Ring.Rx < s.Ring.MaxRx:
		f.Status = Warn
		f.Detail = fmt.Sprintf("RX ring %d of at most %d descriptors: a smaller ring absorbs shorter bursts before the NIC drops (rx_missed)", s.Ring.Rx, s.Ring.MaxRx)
		f.Fix = fmt.Sprintf("ethtool -G %s rx %d", s.Name, s.Ring.MaxRx)
	default:
		f.Detail = fmt.Sprintf("RX ring at its maximum, %d descriptors", s.Ring.MaxRx)
	}
	return f
}

func checkCoalesce(s *State) Finding {
	f := Finding{Check: "coalescing", Status: OK, Page: pageIRQ}
	c := s.Coalesce
	switch {
	case c == nil:
		f.Detail = "the driver does not report interrupt coalescing"
	case c.AdaptiveRx:
		f.Detail = fmt.Sprintf("adaptive RX coalescing on (rx-usecs %d)", c.RxUsecs)
	case c.RxUsecs == 0 && c.RxFrames <= 1:
		f.Status = Warn
		f.Detail = "RX interrupt coalescing off: an interrupt per packet costs CPU that capture needs at high packet rates"
		f.Fix = fmt.Sprintf("ethtool -C %s adaptive-rx on (or rx-usecs 50)", s.Name)
	default:
		f.Detail = fmt.Sprintf("rx-usecs %d, rx-frames %d", c.RxUsecs, c.RxFrames)
	}
	return f
}

func checkIRQ(s *State) Finding {
	f := Finding{Check: "irq-numa", Status: OK, Page: pageIRQ}
	if s.Virtual {
		f.Detail = "virtual device: no interrupts or NUMA node of its own"
		return f
	}
	var parts []string
	if s.NUMANode >= 0 {
		parts = append(parts, fmt.Sprintf("NUMA node %d (CPUs %s)", s.NUMANode, cpuList(s.NUMACPUs)))
	} else {
		parts = append(parts, "no NUMA node (single-node machine)")
	}
	if len(s.IRQs) == 0 {
		parts = append(parts, "no MSI interrupts listed")
		f.Detail = strings.Join(parts, "; ")
		return f
	}
	cpus := map[int]bool{}
	remote := 0
	for _, irq := range s.IRQs {
		if len(irq.CPUs) == 1 {
			cpus[irq.CPUs[0]] = true
		}
		if len(s.NUMACPUs) > 0 && len(irq.CPUs) > 0 && !contains(s.NUMACPUs, irq.CPUs[0]) {
			remote++
		}
	}
	parts = append(parts, fmt.Sprintf("%d interrupts", len(s.IRQs)))
	f.Detail = strings.Join(parts, "; ")
	if len(s.IRQs) > 2 && len(cpus) == 1 {
		f.Status = Warn
		f.Detail += "; every queue interrupt is pinned to one CPU"
		f.Fix = "spread them: run irqbalance, or write one CPU per IRQ to /proc/irq/N/smp_affinity_list (the driver's set_irq_affinity script)"
	}
	if remote > 0 {
		f.Status = Warn
		f.Detail += fmt.Sprintf("; %d interrupts run on CPUs outside the device's NUMA node", remote)
		f.Fix = "pin the queue interrupts and the sensor (taskset/numactl) to CPUs of the device's node"
	}
	return f
}

// Timestamping capability bits (linux/net_tstamp.h).
const (
	sofRxHardware  = 1 << 2 // SOF_TIMESTAMPING_RX_HARDWARE
	sofRawHardware = 1 << 6 // SOF_TIMESTAMPING_RAW_HARDWARE
	hwtsFilterAll  = 1 << 1 // bit for HWTSTAMP_FILTER_ALL in rx_filters
)

func checkTimestamping(s *State) Finding {
	f := Finding{Check: "timestamping", Page: pageTS}
	t := s.TS
	switch {
	case t == nil || t.SoTimestamping&(sofRxHardware|sofRawHardware) == 0:
		f.Status = Warn
		f.Detail = "no hardware receive timestamps: records are stamped in XDP, after interrupt and batching delay"
		f.Fix = "use a NIC with a PTP hardware clock for capture (igb, igc, ixgbe, i40e, ice, mlx5 have one)"
	case t.RxFilters&hwtsFilterAll == 0:
		f.Status = Warn
		f.Detail = fmt.Sprintf("hardware RX timestamps only for some packets (rx_filters %#x, no 'all'): the sensor's SIOCSHWTSTAMP all-packets request will be refused or narrowed", t.RxFilters)
		f.Fix = "check `ethtool -T " + s.Name + "`; some NICs timestamp only PTP packets, use software timestamps (--hwts off)"
	case t.PHC < 0:
		f.Status = Warn
		f.Detail = "hardware RX timestamps for all packets, but no PTP hardware clock: the NIC's time cannot be synchronised"
	default:
		f.Status = OK
		f.Detail = fmt.Sprintf("hardware RX timestamps for all packets, PTP clock /dev/ptp%d: keep it synchronised (ptp4l, phc2sys)", t.PHC)
	}
	return f
}

// xdpDrivers is what the kernel's drivers are known to support (see xdp-drivers.md for
// the sources): native XDP, and the kernel release from which AF_XDP zero-copy is in the
// driver ({0, 0}: not known to have it).
var xdpDrivers = map[string]struct {
	native        bool
	zeroCopySince [2]int
}{
	"ixgbe": {true, [2]int{4, 20}}, "i40e": {true, [2]int{4, 20}}, "ice": {true, [2]int{5, 5}},
	"mlx5_core": {true, [2]int{5, 3}}, "igc": {true, [2]int{5, 14}}, "igb": {true, [2]int{6, 14}},
	"veth": {true, [2]int{}}, "virtio_net": {true, [2]int{}}, "mlx4_en": {true, [2]int{}},
	"bnxt_en": {true, [2]int{}}, "ena": {true, [2]int{}}, "tun": {true, [2]int{}},
}

func checkXDP(s *State, o Options) Finding {
	f := Finding{Check: "xdp", Status: OK, Page: pageXDP}
	if o.Mode == "afpacket" {
		f.Detail = "not used: --mode afpacket"
		return f
	}
	known, listed := xdpDrivers[s.Driver]
	driver := s.Driver
	if driver == "" {
		driver = "(unknown)"
	}
	var parts []string
	if s.XDPProgID != 0 {
		f.Status = Fail
		parts = append(parts, fmt.Sprintf("XDP program %d is already attached: the sensor cannot attach its own", s.XDPProgID))
		f.Fix = "find its owner (bpftool net show dev " + s.Name + ") and detach it"
	}
	switch {
	case s.NativeXDP != nil && *s.NativeXDP:
		parts = append(parts, "native XDP attach works (probed)")
	case s.NativeXDP != nil:
		if f.Status == OK {
			f.Status = Warn
		}
		parts = append(parts, "native XDP attach failed ("+s.NativeErr+"): the sensor falls back to generic mode, which is slower")
		if f.Fix == "" {
			f.Fix = "check the driver (ethtool -i), disable LRO, and see xdp-drivers.md for its limits (MTU, queues)"
		}
	case s.ProbeSkips != "":
		parts = append(parts, "native XDP not probed: "+s.ProbeSkips)
	case listed && known.native:
		parts = append(parts, "driver "+driver+" supports native XDP (not probed; --probe-xdp checks)")
	default:
		if f.Status == OK {
			f.Status = Warn
		}
		parts = append(parts, "driver "+driver+" is not known to support native XDP: the sensor may fall back to generic mode")
		if f.Fix == "" {
			f.Fix = "check with `panoptes doctor --probe-xdp -i " + s.Name + "` (briefly attaches a program), or capture with --mode afpacket"
		}
	}
	zc := known.zeroCopySince
	switch {
	case listed && zc[0] > 0 && !kernelAtLeast(s.Kernel, zc):
		parts = append(parts, fmt.Sprintf("AF_XDP zero-copy needs Linux %d.%d for %s (this is %s): copy mode", zc[0], zc[1], s.Driver, s.Kernel))
	case listed && zc[0] > 0:
		parts = append(parts, "AF_XDP zero-copy supported")
	default:
		parts = append(parts, "AF_XDP zero-copy not known for this driver: the sensor tries it and falls back to copy mode")
	}
	f.Detail = strings.Join(parts, "; ")
	return f
}

func checkDrops(s *State) Finding {
	f := Finding{Check: "drops", Status: OK, Page: pageDrops}
	if len(s.Drops) == 0 {
		f.Detail = "no receive drops counted by the NIC"
		return f
	}
	names := make([]string, 0, len(s.Drops))
	for n := range s.Drops {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s=%d", n, s.Drops[n]))
	}
	f.Status = Warn
	f.Detail = "the NIC dropped frames before the host saw them (since the driver loaded): " + strings.Join(parts, " ")
	f.Fix = "raise the RX ring (ethtool -G), spread queues over CPUs (ethtool -L), and watch whether the counters still grow during capture"
	return f
}

// kernelAtLeast compares a release string ("6.18.44-generic") with major.minor.
func kernelAtLeast(release string, v [2]int) bool {
	var major, minor int
	if n, _ := fmt.Sscanf(release, "%d.%d", &major, &minor); n < 2 {
		return true // unknown: do not claim it is too old
	}
	return major > v[0] || major == v[0] && minor >= v[1]
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// cpuList prints CPUs in the kernel's list format, compressing runs ("0-3,8").
func cpuList(cpus []int) string {
	if len(cpus) == 0 {
		return "none"
	}
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", cpus[i], cpus[j])
		} else {
			fmt.Fprintf(&b, "%d", cpus[i])
		}
		i = j + 1
	}
	return b.String()
}
