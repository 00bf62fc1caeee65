package xdp

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The NIC stamps received frames with its own clock, the PTP hardware clock (PHC,
// /dev/ptpN): a free-running or PTP-disciplined counter in nanoseconds, on its own time
// scale (often TAI under ptp4l, anything at all without it). A record's times are Unix
// wall-clock nanoseconds, so a hardware timestamp is converted by the PHC's offset from
// CLOCK_REALTIME, measured when the capture starts and again every second while it runs
// (the two clocks drift apart unless phc2sys ties them).

// hwClock is an interface's PHC and its current offset from the wall clock.
type hwClock struct {
	dev    *os.File
	id     int32 // the dynamic POSIX clock id of dev
	offset atomic.Int64
}

// openHWClock opens the PHC behind an interface (from ETHTOOL_GET_TS_INFO).
func openHWClock(ifname string) (*hwClock, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolTsInfo(fd, ifname)
	if err != nil {
		return nil, fmt.Errorf("ethtool timestamp info: %w", err)
	}
	if info.Phc_index < 0 {
		return nil, fmt.Errorf("the driver names no PTP hardware clock")
	}
	path := fmt.Sprintf("/dev/ptp%d", info.Phc_index)
	dev, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c := &hwClock{dev: dev, id: fdToClockID(int(dev.Fd()))}
	if err := c.refresh(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// fdToClockID is the kernel's FD_TO_CLOCKID: the clock id of an open /dev/ptpN.
func fdToClockID(fd int) int32 { return int32((^fd)<<3 | 3) }

// refresh measures the PHC's offset from CLOCK_REALTIME again.
func (c *hwClock) refresh() error {
	off, err := measureOffset(func() (int64, error) {
		var ts unix.Timespec
		if err := unix.ClockGettime(c.id, &ts); err != nil {
			return 0, err
		}
		return ts.Nano(), nil
	}, func() int64 { return time.Now().UnixNano() })
	if err != nil {
		return err
	}
	c.offset.Store(off)
	return nil
}

func (c *hwClock) close() { c.dev.Close() }

// measureOffset returns wall - hw: each of a few samples reads the wall clock, the
// hardware clock, and the wall clock again, and takes the midpoint of the two wall
// readings as the moment of the hardware one; the sample with the shortest window wins
// (the one least disturbed by preemption or a slow clock read).
func measureOffset(hw func() (int64, error), wall func() int64) (int64, error) {
	best, bestWindow := int64(0), int64(-1)
	for range 7 {
		w1 := wall()
		h, err := hw()
		if err != nil {
			return 0, err
		}
		w2 := wall()
		if window := w2 - w1; window >= 0 && (bestWindow < 0 || window < bestWindow) {
			best, bestWindow = w1+window/2-h, window
		}
	}
	if bestWindow < 0 {
		return 0, fmt.Errorf("the wall clock went backwards during every reading")
	}
	return best, nil
}

// HWWallTime converts a NIC hardware timestamp to Unix ns, by the offset of the NIC's
// clock measured last (see RefreshHWClock). It is only meaningful when HWClock is true.
func (c *Capture) HWWallTime(hw uint64) int64 {
	if c.hw == nil {
		return int64(hw)
	}
	return int64(hw) + c.hw.offset.Load()
}

// HWClock says whether hardware timestamps can be converted: the NIC timestamps
// received frames and its PTP hardware clock could be read.
func (c *Capture) HWClock() bool { return c.hw != nil }

// RefreshHWClock measures the NIC clock's offset from the wall clock again; a live
// capture calls it every second. It does nothing without a hardware clock.
func (c *Capture) RefreshHWClock() error {
	if c.hw == nil {
		return nil
	}
	return c.hw.refresh()
}
