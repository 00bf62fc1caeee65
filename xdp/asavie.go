package xdp

// Where Panoptes works around github.com/asavie/xdp, each in one place, with
// TestAsavieWorkarounds checking that upstream still behaves as worked around (so that
// a fixed or changed upstream fails a test instead of a capture):
//
//   - bind flags: NewSocket takes them from the package variable DefaultSocketFlags, so
//     newSocket sets it, under a lock, for each socket;
//   - a busy queue: NewSocket wraps bind(2)'s error with %v, so EBUSY is known only by
//     its text;
//   - leaked rings: Socket.Close unmaps the UMEM but not the four rings, so unmapSocket
//     finds them in /proc/self/maps;
//   - types: the library's Desc stays out of our API (Desc, converted without a copy).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	xsk "github.com/asavie/xdp"
	"golang.org/x/sys/unix"
)

// Desc is a received frame's place in the UMEM (the kernel's struct xdp_desc): what
// Batch returns and Release takes.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// fromXSK and toXSK convert between the library's descriptors and ours in place: the
// two are the same kernel struct (TestAsavieWorkarounds checks the layouts).
func fromXSK(d []xsk.Desc) []Desc {
	if len(d) == 0 {
		return nil
	}
	return unsafe.Slice((*Desc)(unsafe.Pointer(unsafe.SliceData(d))), len(d))
}

func toXSK(d []Desc) []xsk.Desc {
	if len(d) == 0 {
		return nil
	}
	return unsafe.Slice((*xsk.Desc)(unsafe.Pointer(unsafe.SliceData(d))), len(d))
}

// socketFlagsMu guards xsk.DefaultSocketFlags from one socket's set-up to its bind.
var socketFlagsMu sync.Mutex

// newSocket binds an AF_XDP socket to queue q of the interface with the bind flags
// given (XDP_ZEROCOPY, XDP_COPY). A queue whose previous socket was just closed stays
// bound until the kernel's deferred release has run: it waits for that, briefly.
func newSocket(ifindex, q int, opts *xsk.SocketOptions, flags uint16) (*xsk.Socket, error) {
	socketFlagsMu.Lock()
	defer socketFlagsMu.Unlock()
	xsk.DefaultSocketFlags = flags
	defer func() { xsk.DefaultSocketFlags = 0 }()
	s, err := xsk.NewSocket(ifindex, q, opts)
	for wait := 0; err != nil && isBusy(err) && wait < 100; wait++ {
		time.Sleep(20 * time.Millisecond)
		s, err = xsk.NewSocket(ifindex, q, opts)
	}
	return s, err
}

// isBusy says a NewSocket error is bind(2)'s EBUSY, which the library hands over as text.
func isBusy(err error) bool { return strings.Contains(err.Error(), unix.EBUSY.Error()) }

// closeSocket closes the socket and unmaps the rings the library leaves mapped.
func closeSocket(s *xsk.Socket) error {
	var st unix.Stat_t
	ino := uint64(0)
	if unix.Fstat(s.FD(), &st) == nil {
		ino = st.Ino
	}
	err := s.Close()
	if ino != 0 {
		if uerr := unmapSocket(ino); err == nil {
			err = uerr
		}
	}
	return err
}

// unmapSocket unmaps what is still mapped from the socket with inode ino: each of the
// leaked ring mappings holds the socket, so the queue stays bound and opening it again
// in the same process fails with EBUSY (found by `panoptes bench loss`, which captures
// trial after trial).
func unmapSocket(ino uint64) error {
	maps, err := socketMappings(ino)
	if err != nil {
		return fmt.Errorf("unmapping AF_XDP rings: %w", err)
	}
	for _, m := range maps {
		if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(m[0]), uintptr(m[1]-m[0]), 0); e != 0 {
			return fmt.Errorf("unmapping AF_XDP ring at %#x: %w", m[0], e)
		}
	}
	return nil
}

// socketMappings lists the [start, end) ranges of /proc/self/maps that map the socket
// with inode ino.
func socketMappings(ino uint64) ([][2]uint64, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	want := fmt.Sprintf("socket:[%d]", ino)
	var out [][2]uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != want {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && end > start {
			out = append(out, [2]uint64{start, end})
		}
	}
	return out, nil
}
