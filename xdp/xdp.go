// Package xdp is the kernel side of live capture: the XDP program (bpf/*.c, compiled by
// bpf2go into the committed capture*_bpfel.{go,o}) that redirects each frame to the
// AF_XDP socket of its RX queue with a metadata block in front of it, the loader that
// attaches it (native mode first, generic as fallback), one AF_XDP socket per queue
// (github.com/asavie/xdp), and the program's per-queue counters.
//
// Lifetimes: closing a Capture detaches the program and closes the sockets; the kernel
// also detaches it if the process dies, because the attachment is a bpf_link held by a
// file descriptor.
package xdp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
	"unsafe"

	xsk "github.com/asavie/xdp"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
	"panoptes/capture"
)

// Mode is the XDP attach mode.
type Mode string

const (
	ModeAuto    Mode = "auto"    // native if the driver supports it, else generic
	ModeNative  Mode = "native"  // in the driver (fastest; veth, ixgbe, i40e, ice, mlx5...)
	ModeGeneric Mode = "generic" // in the kernel's generic path (any driver, slower)
)

// Config says how to capture on one interface.
type Config struct {
	Interface string
	Queues    int  // sockets for queues 0..Queues-1; 0 = every RX queue of the interface
	Mode      Mode // attach mode
	HWTS      string
	// UMEM and rings, per socket. Zero values take the defaults (16384 frames of 2048
	// bytes, 8192-entry fill and RX rings): small rings drop frames whenever the
	// consumer is descheduled (see ../shared/notes/xdp-feasibility.md).
	Frames    int
	FrameSize int
	RingSize  int
}

// MetaSize is the size of the metadata block in front of each frame (struct pkt_meta).
const MetaSize = 32

const metaMagic = 0x504e4f50

// Meta is the metadata block the XDP program writes in front of each frame.
type Meta struct {
	SWTime   uint64 // CLOCK_TAI ns when the program ran
	HWTime   uint64 // NIC hardware timestamp, 0 if none
	Hash     uint32 // RSS hash, 0 if none
	HashType uint32
	Magic    uint32
	TSErr    int32
}

// Counter slots of the program's per-queue counters (bpf/capture.h).
const (
	CntSeen = iota
	CntRedirected
	CntPassed
	CntMetaErr
	numCounters
)

// Counters are an AF_XDP queue's counters, in the exit table's column order (which
// bench/loss.sh reads): the XDP program's (summed over CPUs), then the socket's.
// A frame dropped for an empty fill ring is counted in both rx_dropped and
// fill_empty, one dropped for a full RX ring in ring_full only: the frames lost are
// rx_dropped + ring_full. Invalid descriptors are a program error, not lost frames.
var Counters = []capture.Counter{
	{Name: "seen", Metric: "xdp_seen_total", Help: "Frames the XDP program saw on a queue."},
	{Name: "received", Metric: "socket_received_total", Help: "Frames taken from the queue's socket ring by the sensor."},
	{Name: "passed", Metric: "xdp_passed_total", Help: "Frames the XDP program passed to the kernel stack (no socket for the queue)."},
	{Name: "rx_dropped", Cause: "socket_rx_dropped", Lost: true},
	{Name: "ring_full", Cause: "socket_ring_full", Lost: true},
	{Name: "fill_empty", Cause: "fill_ring_empty"},
	{Name: "invalid", Cause: "invalid_descriptor"},
	{Name: "meta_err", Cause: "xdp_meta_error"},
	{Name: "redirected", Metric: "xdp_redirected_total", Help: "Frames the XDP program redirected to the queue's AF_XDP socket.", Hidden: true},
}

// Indexes of Counters.
const (
	cSeen = iota
	cReceived
	cPassed
	cRxDropped
	cRingFull
	cFillEmpty
	cInvalid
	cMetaErr
	cRedirected
)

// Queue is one RX queue's AF_XDP socket.
type Queue struct {
	ID        int
	sock      *xsk.Socket
	opts      xsk.SocketOptions
	lastBatch int           // frames the last Receive found; see Receive
	nap       unix.Timespec // see Receive
	// offsetMask gives a frame's offset in its UMEM chunk: the kernel takes only
	// power-of-two chunk sizes in aligned mode, so a mask does what a division would.
	offsetMask uint64
}

// Capture is an XDP program attached to one interface with its sockets.
type Capture struct {
	Iface     *net.Interface
	Queues    []*Queue
	Mode      Mode // the mode actually attached
	HWProgram bool // the device-bound program with the hardware-timestamp kfuncs
	// HWTimestamping says the NIC was told to timestamp every received packet.
	HWTimestamping bool
	ZeroCopy       bool // the sockets are bound in zero-copy mode
	link           link.Link
	xsks           *ebpf.Map
	counters       *ebpf.Map
	prog           *ebpf.Program
	taiOffset      int64    // CLOCK_TAI - CLOCK_REALTIME, ns
	hw             *hwClock // the NIC's clock, when hardware timestamps are on and it can be read
}

// Open loads and attaches the capture program to cfg.Interface and binds one AF_XDP
// socket per queue. warn receives one-line notes about fallbacks (generic mode, no
// hardware timestamps).
func Open(cfg Config, warn func(string)) (*Capture, error) {
	ifc, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", cfg.Interface, err)
	}
	rxq, err := rxQueues(ifc.Name)
	if err != nil {
		return nil, err
	}
	queues := cfg.Queues
	if queues <= 0 || queues > rxq {
		if cfg.Queues > rxq {
			warn(fmt.Sprintf("%s has %d RX queues; capturing on %d, not %d", ifc.Name, rxq, rxq, cfg.Queues))
		}
		queues = rxq
	}
	if queues > 64 {
		return nil, fmt.Errorf("%s: %d queues; the capture program handles at most 64", ifc.Name, queues)
	}
	c := &Capture{Iface: ifc}
	if cfg.HWTS != "off" {
		if err := EnableRXTimestamps(ifc.Name); err != nil {
			if cfg.HWTS == "on" {
				return nil, fmt.Errorf("%s: enabling hardware receive timestamps (--hwts on): %w", ifc.Name, err)
			}
			warn(fmt.Sprintf("%s: no hardware receive timestamping (%v); records use timestamps taken in XDP", ifc.Name, err))
		} else {
			c.HWTimestamping = true
			warn(fmt.Sprintf("%s: hardware receive timestamping enabled (SIOCSHWTSTAMP, all packets)", ifc.Name))
			// Hardware timestamps are on the NIC's clock: without reading that clock they
			// cannot be put on the wall clock, and timestamps taken in XDP are used.
			hw, err := openHWClock(ifc.Name)
			if err != nil {
				if cfg.HWTS == "on" {
					return nil, fmt.Errorf("%s: reading the NIC's clock for hardware timestamps (--hwts on): %w", ifc.Name, err)
				}
				warn(fmt.Sprintf("%s: hardware timestamps cannot be converted to wall-clock time (%v); records use timestamps taken in XDP", ifc.Name, err))
			} else {
				c.hw = hw
			}
		}
	}
	if err := c.attach(cfg, warn); err != nil {
		if c.hw != nil {
			c.hw.close()
		}
		return nil, err
	}
	if c.taiOffset, err = taiOffset(); err != nil {
		c.Close()
		return nil, err
	}
	opts := xsk.SocketOptions{NumFrames: def(cfg.Frames, 16384), FrameSize: def(cfg.FrameSize, 2048),
		FillRingNumDescs: def(cfg.RingSize, 8192), CompletionRingNumDescs: 64,
		RxRingNumDescs: def(cfg.RingSize, 8192), TxRingNumDescs: 64}
	// Zero-copy first (the NIC writes frames straight into the UMEM: i40e, ice, mlx5,
	// ixgbe...); drivers without it (veth, generic mode) refuse the bind, and copy mode
	// works everywhere.
	flags := uint16(unix.XDP_ZEROCOPY)
	if c.Mode == ModeGeneric {
		flags = unix.XDP_COPY
	}
	for q := 0; q < queues; q++ {
		s, err := newSocket(ifc.Index, q, &opts, flags)
		if err != nil && flags == unix.XDP_ZEROCOPY {
			flags = unix.XDP_COPY
			s, err = newSocket(ifc.Index, q, &opts, flags)
			if err == nil {
				warn(fmt.Sprintf("%s: the driver does not do AF_XDP zero-copy; using copy mode", ifc.Name))
			}
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s queue %d: AF_XDP socket: %w", ifc.Name, q, err)
		}
		c.ZeroCopy = flags == unix.XDP_ZEROCOPY
		if err := c.xsks.Put(uint32(q), uint32(s.FD())); err != nil {
			closeSocket(s)
			c.Close()
			return nil, fmt.Errorf("%s queue %d: registering the socket: %w", ifc.Name, q, err)
		}
		qu := &Queue{ID: q, sock: s, opts: opts, nap: napFor(opts.RxRingNumDescs), offsetMask: uint64(opts.FrameSize - 1)}
		s.Fill(s.GetDescs(s.NumFreeFillSlots()))
		c.Queues = append(c.Queues, qu)
	}
	return c, nil
}

func def(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// attach loads the program and attaches it: the device-bound hardware-timestamp
// program in native mode when asked for (or auto), else the plain program, native first.
func (c *Capture) attach(cfg Config, warn func(string)) error {
	mode := cfg.Mode
	if mode == "" {
		mode = ModeAuto
	}
	if cfg.HWTS != "off" && mode != ModeGeneric {
		err := c.attachHW()
		if err == nil {
			c.Mode, c.HWProgram = ModeNative, true
			return nil
		}
		if cfg.HWTS == "on" {
			return fmt.Errorf("%s: hardware timestamps (--hwts on): %w", c.Iface.Name, err)
		}
		warn(fmt.Sprintf("%s: no hardware-timestamp program (%v); timestamps are taken in XDP", c.Iface.Name, err))
	}
	var objs captureObjects
	if err := loadCaptureObjects(&objs, nil); err != nil {
		return fmt.Errorf("loading the XDP program: %w", err)
	}
	c.prog, c.xsks, c.counters = objs.XdpCapture, objs.Xsks, objs.Counters
	try := []Mode{mode}
	if mode == ModeAuto {
		try = []Mode{ModeNative, ModeGeneric}
	}
	var err error
	for _, m := range try {
		flags := link.XDPDriverMode
		if m == ModeGeneric {
			flags = link.XDPGenericMode
		}
		c.link, err = link.AttachXDP(link.XDPOptions{Program: c.prog, Interface: c.Iface.Index, Flags: flags})
		if err == nil {
			c.Mode = m
			if m == ModeGeneric && mode == ModeAuto {
				warn(fmt.Sprintf("%s: native XDP failed; attached in generic mode (slower)", c.Iface.Name))
			}
			return nil
		}
	}
	c.closeObjects()
	return fmt.Errorf("%s: attaching the XDP program (%s mode): %w", c.Iface.Name, mode, err)
}

// attachHW loads the device-bound program with the metadata kfuncs and attaches it in
// native mode.
func (c *Capture) attachHW() error {
	spec, err := loadCaptureHW()
	if err != nil {
		return err
	}
	ps := spec.Programs["xdp_capture_hw"]
	ps.Ifindex = uint32(c.Iface.Index)
	ps.Flags |= unix.BPF_F_XDP_DEV_BOUND_ONLY
	var objs captureHWObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return err
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: objs.XdpCaptureHw, Interface: c.Iface.Index, Flags: link.XDPDriverMode})
	if err != nil {
		objs.Close()
		return err
	}
	c.link, c.prog, c.xsks, c.counters = l, objs.XdpCaptureHw, objs.Xsks, objs.Counters
	return nil
}

func (c *Capture) closeObjects() {
	for _, cl := range []interface{ Close() error }{c.prog, c.xsks, c.counters} {
		if cl != nil && !isNil(cl) {
			cl.Close()
		}
	}
}

func isNil(v interface{ Close() error }) bool {
	switch x := v.(type) {
	case *ebpf.Program:
		return x == nil
	case *ebpf.Map:
		return x == nil
	}
	return false
}

// Detach detaches the program from the interface, so that no more frames reach the
// sockets; what they already hold can still be received, and the counters still read.
// Closing the capture detaches it too; detaching twice does nothing.
func (c *Capture) Detach() error {
	if c.link == nil {
		return nil
	}
	err := c.link.Close()
	c.link = nil
	return err
}

// Close detaches the program and closes the sockets.
func (c *Capture) Close() error {
	errs := []error{c.Detach()}
	for _, q := range c.Queues {
		errs = append(errs, closeSocket(q.sock))
	}
	c.closeObjects()
	if c.hw != nil {
		c.hw.close()
	}
	return errors.Join(errs...)
}

// WallTime converts a CLOCK_TAI timestamp from the XDP program to Unix ns.
func (c *Capture) WallTime(tai uint64) int64 { return int64(tai) - c.taiOffset }

// taiOffset measures CLOCK_TAI - CLOCK_REALTIME (37 s where the kernel knows the leap
// seconds, 0 where nothing told it).
func taiOffset() (int64, error) {
	var tai, real unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &real); err != nil {
		return 0, fmt.Errorf("clock_gettime: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_TAI, &tai); err != nil {
		return 0, fmt.Errorf("clock_gettime: %w", err)
	}
	off := tai.Nano() - real.Nano()
	// Round to whole seconds: the offset is a leap-second count; the rest is the time
	// between the two calls.
	return (off + int64(time.Second/2)) / int64(time.Second) * int64(time.Second), nil
}

// Counters reads every queue's counters.
func (c *Capture) Counters() ([]capture.QueueCounters, error) {
	out := make([]capture.QueueCounters, len(c.Queues))
	var vals []uint64
	for i, q := range c.Queues {
		v := make([]uint64, len(Counters))
		out[i] = capture.QueueCounters{Iface: c.Iface.Name, Queue: q.ID, Counters: Counters, Values: v}
		for slot := 0; slot < numCounters; slot++ {
			key := uint32(q.ID*numCounters + slot)
			if err := c.counters.Lookup(key, &vals); err != nil {
				return nil, fmt.Errorf("reading XDP counters: %w", err)
			}
			var sum uint64
			for _, x := range vals {
				sum += x
			}
			v[[numCounters]int{CntSeen: cSeen, CntRedirected: cRedirected, CntPassed: cPassed, CntMetaErr: cMetaErr}[slot]] = sum
		}
		st, err := q.sock.Stats()
		if err != nil {
			return nil, fmt.Errorf("queue %d socket statistics: %w", q.ID, err)
		}
		v[cReceived] = st.Received
		v[cRxDropped] = st.KernelStats.Rx_dropped
		v[cInvalid] = st.KernelStats.Rx_invalid_descs
		v[cRingFull] = st.KernelStats.Rx_ring_full
		v[cFillEmpty] = st.KernelStats.Rx_fill_ring_empty_descs
	}
	return out, nil
}

// Frame is one received frame: its bytes (in the UMEM, valid until the batch is
// released) and the metadata in front of it.
type Frame struct {
	Data []byte
	Meta *Meta // nil when the metadata block is missing or invalid
}

// Receive waits up to timeout for frames on the queue and returns how many are ready.
// Call Batch to take them, Frame for each, then Release to give them back to the kernel.
//
// When the last batch was small the consumer is faster than the traffic, and a poll
// wake-up for every frame or two would cost more than handling them (it was two thirds
// of the sensor's CPU at 150k frames/s): Receive first naps so that frames gather into
// a batch. A nap only follows a batch of fewer than napBelow frames, and lasts what
// napFor gives for the RX ring's size: far less than the ring takes to fill even at
// 10GbE line rate, so a burst that starts during a nap still fits. Timestamps are
// unaffected: they are taken in XDP.
func (q *Queue) Receive(timeout time.Duration) (int, error) {
	n := q.sock.NumReceived()
	if n == 0 && q.lastBatch > 0 && q.lastBatch < napBelow {
		// A raw nanosleep: the runtime does not see a syscall, so its monitor does not
		// hand this thread's P to another thread for the nap and take it back after
		// (with one P per shard, that wake-up of an idle thread cost more CPU than the nap).
		unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&q.nap)), 0, 0)
		n = q.sock.NumReceived()
	}
	if n == 0 {
		var err error
		n, _, err = q.sock.Poll(int(timeout / time.Millisecond))
		if err != nil {
			return 0, fmt.Errorf("queue %d: poll: %w", q.ID, err)
		}
	}
	q.lastBatch = n
	return n, nil
}

const napBelow = 64

// napFor returns the nap for an RX ring of ringSize frames: the time the ring takes to
// fill with 64-byte frames at 10GbE line rate (67 ns each), halved, less 100 µs for the
// sleep's overshoot (timer slack, wake-up; about 80 µs measured on a VM), within 50 µs
// to 1 ms. The default 8192-entry ring naps 175 µs. On the VM this was measured on, each
// nap costs about 54 µs of CPU (timer programming), so a longer one saves CPU at rates
// where naps happen at all.
func napFor(ringSize int) unix.Timespec {
	d := time.Duration(ringSize)*67*time.Nanosecond/2 - 100*time.Microsecond
	return unix.NsecToTimespec(int64(min(max(d, 50*time.Microsecond), time.Millisecond)))
}

// Batch takes up to n received frames off the RX ring. Frames are valid until Release.
func (q *Queue) Batch(n int) []Desc { return fromXSK(q.sock.Receive(n)) }

// Frame returns a received frame and its metadata.
func (q *Queue) Frame(d Desc) Frame {
	data := q.sock.GetFrame(xsk.Desc(d))
	f := Frame{Data: data}
	// The metadata block sits in the headroom just before the frame, inside the same
	// UMEM chunk; the UMEM is mmap'ed memory, so stepping back from the frame is safe
	// when the frame starts at least MetaSize into its chunk.
	if len(data) > 0 && d.Addr&q.offsetMask >= MetaSize {
		m := (*Meta)(unsafe.Add(unsafe.Pointer(&data[0]), -MetaSize))
		if m.Magic == metaMagic {
			f.Meta = m
		}
	}
	return f
}

// Release gives received frames back to the kernel's fill ring.
func (q *Queue) Release(descs []Desc) { q.sock.Fill(toXSK(descs)) }

// rxQueues reads the interface's RX queue count from sysfs.
func rxQueues(name string) (int, error) {
	ents, err := readDirNames("/sys/class/net/" + name + "/queues")
	if err != nil {
		return 0, fmt.Errorf("interface %s: reading its queues: %w", name, err)
	}
	n := 0
	for _, e := range ents {
		if len(e) > 3 && e[:3] == "rx-" {
			n++
		}
	}
	if n == 0 {
		n = 1
	}
	return n, nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// EnableRXTimestamps asks the NIC to timestamp every received packet (SIOCSHWTSTAMP with
// HWTSTAMP_FILTER_ALL), which the XDP metadata kfunc then reads. Drivers without a
// hardware clock (veth, lo) answer EOPNOTSUPP or EINVAL.
func EnableRXTimestamps(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	cfg := unix.HwTstampConfig{Tx_type: unix.HWTSTAMP_TX_OFF, Rx_filter: unix.HWTSTAMP_FILTER_ALL}
	return unix.IoctlSetHwTstamp(fd, ifname, &cfg)
}
