package loss

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sender is the traffic generator: an AF_PACKET socket on the sending interface (in
// another network namespace if asked), writing UDP frames straight to the driver
// (PACKET_QDISC_BYPASS) in batches of sendmmsg, paced to a rate.
type sender struct {
	fd     int
	iface  string
	netns  string
	frames [][]byte
	msgs   []unix.Mmsghdr
	iovs   []unix.Iovec
}

const batch = 64

// flows is how many UDP source ports the frames cycle through, so that RSS (or the
// fanout hash) spreads them over queues.
const flows = 256

// newSender opens the socket on iface inside netns ("" = this one) and builds frames of
// size bytes (without FCS) addressed to dstMAC.
func newSender(iface, netns string, size int, dstMAC net.HardwareAddr) (*sender, error) {
	s := &sender{iface: iface, netns: netns}
	var srcMAC net.HardwareAddr
	err := inNetns(netns, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("--tx %s: %w", iface, err)
		}
		srcMAC = ifc.HardwareAddr
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fmt.Errorf("--tx %s: AF_PACKET socket: %w", iface, err)
		}
		s.fd = fd
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("--tx %s: bind: %w", iface, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	size = max(size, 60)
	for i := 0; i < flows; i++ {
		s.frames = append(s.frames, udpFrame(srcMAC, dstMAC, uint16(10000+i), size))
	}
	s.msgs = make([]unix.Mmsghdr, batch)
	s.iovs = make([]unix.Iovec, batch)
	return s, nil
}

// udpFrame builds an Ethernet/IPv4/UDP frame of size bytes, 10.201.0.1:sport ->
// 10.201.0.2:9000, with a correct IPv4 header checksum.
func udpFrame(src, dst net.HardwareAddr, sport uint16, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	copy(ip[12:16], []byte{10, 201, 0, 1})
	copy(ip[16:20], []byte{10, 201, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], 9000)
	binary.BigEndian.PutUint16(udp[4:], uint16(size-34))
	return f
}

// send sends n frames at rate frames/s (0: as fast as the socket takes them) and returns
// how many the kernel accepted and how long it took.
func (s *sender) send(n uint64, rate float64) (sent uint64, took time.Duration, err error) {
	start := time.Now()
	k := 0
	for sent < n {
		m := int(min(uint64(batch), n-sent))
		for i := 0; i < m; i++ {
			fr := s.frames[k%len(s.frames)]
			k++
			s.iovs[i] = unix.Iovec{Base: &fr[0]}
			s.iovs[i].SetLen(len(fr))
			s.msgs[i].Hdr = unix.Msghdr{Iov: &s.iovs[i], Iovlen: 1}
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msgs[0])), uintptr(m), 0, 0, 0)
		if e != 0 {
			if e == unix.ENOBUFS || e == unix.EAGAIN || e == unix.EINTR {
				// The driver queue is full: this is the generator's limit, not loss.
				k -= m
				runtime.Gosched()
				continue
			}
			return sent, time.Since(start), fmt.Errorf("--tx %s: sendmmsg: %w", s.iface, e)
		}
		k -= m - int(r)
		sent += uint64(r)
		if rate > 0 {
			due := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
			if d := time.Until(due); d > 50*time.Microsecond {
				time.Sleep(d)
			}
		}
	}
	return sent, time.Since(start), nil
}

// txCounters reads the sending interface's tx_packets and tx_dropped (/proc/net/dev of
// its namespace).
func (s *sender) txCounters() (packets, dropped uint64, err error) {
	err = inNetns(s.netns, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, rest, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(name) != s.iface {
				continue
			}
			f := strings.Fields(rest)
			if len(f) < 12 {
				break
			}
			packets, _ = strconv.ParseUint(f[9], 10, 64)
			dropped, _ = strconv.ParseUint(f[11], 10, 64)
			return nil
		}
		return fmt.Errorf("--tx %s: not in /proc/net/dev", s.iface)
	})
	return packets, dropped, err
}

func (s *sender) close() { unix.Close(s.fd) }

// inNetns runs fn on an OS thread that has joined the named network namespace ("" runs
// it here). The thread is thrown away afterwards (the goroutine exits locked), so no
// other goroutine ever runs in that namespace.
func inNetns(netns string, fn func() error) error {
	if netns == "" {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread ends with the goroutine.
		fd, err := unix.Open("/var/run/netns/"+netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("--netns %s: %w", netns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("--netns %s: setns: %w", netns, err)
			return
		}
		done <- fn()
	}()
	return <-done
}
