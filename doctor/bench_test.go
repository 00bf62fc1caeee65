package doctor

import "testing"

// BenchmarkCheck measures judging one interface's state: doctor may run from a
// monitoring loop over many interfaces, so the checks should cost microseconds.
func BenchmarkCheck(b *testing.B) {
	s := base()
	b.ReportAllocs()
	for b.Loop() {
		Check(s, xdpOpts)
	}
}

// BenchmarkInspect measures reading an interface's state (rtnetlink, the ethtool ioctls,
// sysfs) on the loopback device: the cost of one doctor run per interface.
func BenchmarkInspect(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inspect("lo", xdpOpts); err != nil {
			b.Fatal(err)
		}
	}
}
