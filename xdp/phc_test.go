package xdp

import (
	"errors"
	"os"
	"strings"
	"testing"

	"panoptes/internal/vethtest"
)

// measureOffset takes the reading with the narrowest wall-clock window and puts the
// hardware reading at its middle.
func TestMeasureOffset(t *testing.T) {
	// Wall readings come in pairs around each hardware reading; the third pair is the
	// tightest (10 ns), its midpoint 2005 while the NIC clock read 1000: offset 1005.
	walls := []int64{0, 100, 500, 540, 2000, 2010, 3000, 3050, 4000, 4100, 5000, 5200, 6000, 6030}
	hws := []int64{9, 9, 1000, 9, 9, 9, 9}
	w, h := 0, 0
	off, err := measureOffset(func() (int64, error) { h++; return hws[h-1], nil }, func() int64 { w++; return walls[w-1] })
	if err != nil || off != 1005 {
		t.Fatalf("offset %d, %v; want 1005", off, err)
	}
	if _, err := measureOffset(func() (int64, error) { return 0, errors.New("no clock") }, func() int64 { return 0 }); err == nil {
		t.Fatal("a failing hardware clock gave an offset")
	}
	back := int64(100)
	if _, err := measureOffset(func() (int64, error) { return 0, nil }, func() int64 { back -= 10; return back }); err == nil {
		t.Fatal("a wall clock going backwards gave an offset")
	}
}

// A veth has no PTP hardware clock: openHWClock asks its driver (the ethtool
// timestamping query works on a veth) and says so in one line naming the cause, which
// is what the sensor prints when --hwts needs a clock the NIC does not have. A missing
// interface is an error of its own kind.
func TestHWClockOnVethHasNone(t *testing.T) {
	vethtest.Require(t, "a veth pair")
	veth := vethtest.New(t, "xph", vethtest.Options{}).Here
	_, err := openHWClock(veth)
	if err == nil || !strings.Contains(err.Error(), "names no PTP hardware clock") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s: got %v, want one line saying the driver names no PTP hardware clock", veth, err)
	}
	if _, err := openHWClock("nosuch0"); err == nil || strings.Contains(err.Error(), "names no PTP") {
		t.Fatalf("a missing interface: got %v, want the ethtool query's error", err)
	}
}

// fdToClockID gives a clock id the kernel accepts for an open /dev/ptpN; tested where
// one exists.
func TestFDToClockID(t *testing.T) {
	dev, err := os.Open("/dev/ptp0")
	if err != nil {
		t.Skip("no PTP hardware clock on this machine (/dev/ptp0): nothing to read")
	}
	defer dev.Close()
	c := &hwClock{dev: dev, id: fdToClockID(int(dev.Fd()))}
	if err := c.refresh(); err != nil {
		t.Fatalf("reading /dev/ptp0: %v", err)
	}
	t.Logf("/dev/ptp0 is %v ahead of the wall clock", -c.offset.Load())
}
