// Package afpacket is the capture source for NICs or kernels without XDP: AF_PACKET
// TPACKET_V3 sockets in a hash fanout group, behind the same capture.Capture as AF_XDP.
package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"panoptes/capture"
)

// Counters are an AF_PACKET fanout member's counters. The kernel's tp_packets counts
// every frame queued to the socket, those it dropped (tp_drops, its ring full)
// included.
var Counters = []capture.Counter{
	{Name: "packets", Metric: "afpacket_packets_total", Help: "Frames the kernel queued to an AF_PACKET fanout member, drops included."},
	{Name: "received", Metric: "socket_received_total", Help: "Frames taken from the queue's socket ring by the sensor."},
	{Name: "drops", Cause: "afpacket_ring_full", Lost: true},
	{Name: "freeze", Metric: "afpacket_freeze_total", Help: "Times the kernel froze an AF_PACKET member's ring because it was full."},
}

// Open opens members sockets (0: one per CPU) in a new hash fanout group on the
// interface.
func Open(name string, members int) (capture.Capture, error) {
	if members <= 0 {
		members = runtime.GOMAXPROCS(0)
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	group := uint16(os.Getpid()&0xffff) + uint16(groups.Add(1)-1)
	c := &source{}
	for i := range members {
		s, err := openSocket(ifc, group, i)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.socks = append(c.socks, s)
		c.queues = append(c.queues, s)
	}
	return c, nil
}

// groups numbers the fanout groups this process opened: one per interface.
var groups atomic.Uint32

type source struct {
	socks  []*socket
	queues []capture.Queue
}

func (c *source) Queues() []capture.Queue { return c.queues }
func (c *source) HardwareClock() bool     { return false }

// Drain makes the kernel queue no more frames to the sockets.
func (c *source) Drain() error {
	var errs []error
	for _, s := range c.socks {
		errs = append(errs, s.quiesce())
	}
	return errors.Join(errs...)
}

func (c *source) Counters() ([]capture.QueueCounters, error) {
	out := make([]capture.QueueCounters, len(c.socks))
	for i, s := range c.socks {
		s.stats()
		out[i] = capture.QueueCounters{Iface: s.iface.Name, Queue: s.id, Counters: Counters,
			Values: []uint64{s.packets.Load(), s.got.Load(), s.drops.Load(), s.freezes.Load()}}
	}
	return out, nil
}

func (c *source) Close() error {
	for _, s := range c.socks {
		s.close()
	}
	c.socks, c.queues = nil, nil
	return nil
}

// socket is one member of an AF_PACKET TPACKET_V3 fanout group: the capture path
// for NICs or kernels without XDP. The kernel fills blocks of a memory-mapped ring
// with frames; the reader walks a block in place and hands it back. Fanout by hash (the
// kernel's symmetric flow hash) sends every packet of a conversation to one member, so
// each member keeps its own flow table, as each AF_XDP queue does.
type socket struct {
	fd      int
	ring    []byte
	blocks  int
	bsize   int
	next    int // block to look at next
	iface   *net.Interface
	id      int
	packets atomic.Uint64 // frames the kernel queued to this socket, drops included
	drops   atomic.Uint64 // frames the kernel dropped (ring full)
	freezes atomic.Uint64 // times the kernel froze the ring
	got     atomic.Uint64 // frames handed to the flow table
	pfd     [1]unix.PollFd
	scratch []byte        // a frame with its VLAN tag put back
	frame   capture.Frame // handed to Receive's fn (kept here: it would escape)
}

const (
	afpBlockSize = 1 << 20 // 1 MiB blocks
	afpBlocks    = 64      // 64 MiB of ring per socket
	afpFrameSize = 1 << 11 // only a hint for TPACKET_V3, which packs frames
)

// openSocket opens member id of fanout group group on the interface.
func openSocket(iface *net.Interface, group uint16, id int) (*socket, error) {
	// Protocol 0: the socket receives nothing until it is bound to the interface, so no
	// frame of another interface slips in before the bind.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: AF_PACKET socket: %w", iface.Name, err)
	}
	s := &socket{fd: fd, iface: iface, id: id, blocks: afpBlocks, bsize: afpBlockSize, scratch: make([]byte, 0, 1<<16)}
	fail := func(what string, err error) (*socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: AF_PACKET %s: %w", iface.Name, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("TPACKET_V3", err)
	}
	req := unix.TpacketReq3{Block_size: afpBlockSize, Block_nr: afpBlocks, Frame_size: afpFrameSize,
		Frame_nr: afpBlockSize / afpFrameSize * afpBlocks, Retire_blk_tov: 10}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("ring", err)
	}
	ring, err := unix.Mmap(fd, 0, afpBlockSize*afpBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("mmap", err)
	}
	s.ring = ring
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: iface.Index}); err != nil {
		unix.Munmap(ring)
		return fail("bind", err)
	}
	fanout := int(group) | (unix.PACKET_FANOUT_HASH|unix.PACKET_FANOUT_FLAG_DEFRAG)<<16
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, fanout); err != nil {
		unix.Munmap(ring)
		return fail("fanout", err)
	}
	s.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR}
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// blockDesc is the header at the start of each TPACKET_V3 block.
type blockDesc struct {
	version  uint32
	toPriv   uint32
	status   uint32
	numPkts  uint32
	firstOff uint32
	blkLen   uint32
}

func (s *socket) ID() int       { return s.id }
func (s *socket) Iface() string { return s.iface.Name }

// Receive waits up to timeout for a filled block and calls fn for each frame in it (the
// frame is valid during the call), then gives the block back to the kernel.
func (s *socket) Receive(timeout time.Duration, fn func(*capture.Frame)) (int, error) {
	b := s.ring[s.next*s.bsize : (s.next+1)*s.bsize]
	bd := (*blockDesc)(unsafe.Pointer(&b[0]))
	if atomic.LoadUint32(&bd.status)&unix.TP_STATUS_USER == 0 {
		_, err := unix.Poll(s.pfd[:], int(timeout/time.Millisecond))
		if err != nil && err != unix.EINTR {
			return 0, fmt.Errorf("%s: poll: %w", s.iface.Name, err)
		}
		if s.pfd[0].Revents&unix.POLLERR != 0 {
			return 0, fmt.Errorf("%s: AF_PACKET socket error (interface gone?)", s.iface.Name)
		}
		if atomic.LoadUint32(&bd.status)&unix.TP_STATUS_USER == 0 {
			return 0, nil
		}
	}
	n := int(bd.numPkts)
	off := int(bd.firstOff)
	for i := 0; i < n; i++ {
		if off <= 0 || off+int(unsafe.Sizeof(unix.Tpacket3Hdr{})) > len(b) {
			break
		}
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&b[off]))
		start, end := off+int(h.Mac), off+int(h.Mac)+int(h.Snaplen)
		if end <= len(b) && start < end {
			frame, wireLen := b[start:end], h.Len
			if h.Status&unix.TP_STATUS_VLAN_VALID != 0 && len(frame) >= 12 {
				// The NIC (or veth) took the 802.1Q tag off into metadata: put it back,
				// as libpcap does, so the frame is what was on the wire.
				frame, wireLen = s.retag(frame, h), wireLen+4
			}
			s.frame = capture.Frame{Data: frame, WireLen: wireLen, Time: int64(h.Sec)*1e9 + int64(h.Nsec), Clock: capture.ClockSystem}
			fn(&s.frame)
		}
		if h.Next_offset == 0 {
			break
		}
		off += int(h.Next_offset)
	}
	atomic.StoreUint32(&bd.status, unix.TP_STATUS_KERNEL)
	s.next = (s.next + 1) % s.blocks
	s.got.Add(uint64(n))
	return n, nil
}

// retag returns the frame with its VLAN tag reinserted after the MAC addresses, in the
// socket's scratch buffer (valid until the next call).
func (s *socket) retag(frame []byte, h *unix.Tpacket3Hdr) []byte {
	tpid := uint16(0x8100)
	if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && h.Hv1.Vlan_tpid != 0 {
		tpid = h.Hv1.Vlan_tpid
	}
	s.scratch = append(s.scratch[:0], frame[:12]...)
	s.scratch = append(s.scratch, byte(tpid>>8), byte(tpid), byte(h.Hv1.Vlan_tci>>8), byte(h.Hv1.Vlan_tci))
	return append(s.scratch, frame[12:]...)
}

// stats folds the kernel's counters (which it resets at each read) into the totals.
func (s *socket) stats() {
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	// tp_packets already includes tp_drops.
	s.packets.Add(uint64(st.Packets))
	s.drops.Add(uint64(st.Drops))
	s.freezes.Add(uint64(st.Freeze_q_cnt))
}

// quiesce makes the kernel queue no more frames to the socket (a filter that takes
// none: the kernel neither queues nor counts what it rejects), so that what the ring
// holds can be drained and the counters then add up.
func (s *socket) quiesce() error {
	none := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	prog := unix.SockFprog{Len: uint16(len(none)), Filter: &none[0]}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("%s: AF_PACKET filter: %w", s.iface.Name, err)
	}
	return nil
}

func (s *socket) close() {
	unix.Munmap(s.ring)
	unix.Close(s.fd)
}
