package prometheus

import (
	"slices"
	"testing"
)

// TestBuckets: the bounds client_golang v1.25.0 gives for the same arguments (Pebble's
// FsyncLatencyBuckets are made of these two).
func TestBuckets(t *testing.T) {
	if got, want := LinearBuckets(0, 100e3, 4), []float64{0, 100e3, 200e3, 300e3}; !slices.Equal(got, want) {
		t.Errorf("LinearBuckets: %v, want %v", got, want)
	}
	if got, want := ExponentialBucketsRange(1, 1000, 4), []float64{1, 9.999999999999998, 99.99999999999997, 999.9999999999995}; !slices.Equal(got, want) {
		t.Errorf("ExponentialBucketsRange: %v, want %v", got, want)
	}
}
