// Package prometheus stands in for github.com/prometheus/client_golang/prometheus in
// the Panoptes binary (the replace directive in its go.mod). Panoptes writes its own
// metrics (panoptes/metrics); the one importer left was Pebble, the archive index, whose
// write-ahead log records its fsync latencies in client_golang histograms that nothing in
// Panoptes reads. Linking the real package cost every command its initialisers (a
// default registry with Go and process collectors, procfs, protobuf descriptors): about
// a third of the start of `panoptes read`.
//
// It has only what Pebble uses, with client_golang's signatures, so that a new importer
// that needs more fails to build instead of getting something it did not ask for.
package prometheus

import "math"

// Histogram is what Pebble records latencies in.
type Histogram interface {
	// Observe adds a single observation to the histogram.
	Observe(float64)
}

// HistogramOpts are the options of NewHistogram: only the bucket bounds, the one field
// Pebble sets.
type HistogramOpts struct {
	Buckets []float64
}

// NewHistogram returns a histogram that keeps nothing: no part of Panoptes exports or
// reads Pebble's histograms, so recording into them would be work on the write path
// that nobody sees.
func NewHistogram(HistogramOpts) Histogram { return discard{} }

type discard struct{}

func (discard) Observe(float64) {}

// LinearBuckets returns count buckets, width wide, the lowest's upper bound start, as
// client_golang's LinearBuckets. It panics if count is less than 1, as that one does.
func LinearBuckets(start, width float64, count int) []float64 {
	if count < 1 {
		panic("LinearBuckets needs a positive count")
	}
	b := make([]float64, count)
	for i := range b {
		b[i] = start
		start += width
	}
	return b
}

// ExponentialBucketsRange returns count buckets from minBucket to maxBucket, each a
// constant factor larger than the last, as client_golang's ExponentialBucketsRange. It
// panics if count is less than 1 or minBucket not positive, as that one does.
func ExponentialBucketsRange(minBucket, maxBucket float64, count int) []float64 {
	if count < 1 {
		panic("ExponentialBucketsRange count needs a positive count")
	}
	if minBucket <= 0 {
		panic("ExponentialBucketsRange min needs to be greater than 0")
	}
	// maxBucket = minBucket * growth^(count-1).
	growth := math.Pow(maxBucket/minBucket, 1.0/float64(count-1))
	b := make([]float64, count)
	for i := range b {
		b[i] = minBucket * math.Pow(growth, float64(i))
	}
	return b
}
