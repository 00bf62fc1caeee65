package index

import "github.com/cockroachdb/pebble/v2"

// withCompression sets the compression of the index's tables: zstd on the two bottom
// levels, where nearly all of an archive's index ends up, and Pebble's fast default
// above (pebble.DBCompressionGood). The address index dominates the index's size (one
// entry per address and segment: 4.5 of 4.7 bytes per record on a 100 M-record
// archive with Snappy); zstd shrinks it (bench/ARCHIVE-RESULTS.md). A reader reads
// tables of any compression, so this applies to the writers of an index only.
func withCompression(o *pebble.Options) *pebble.Options {
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionGood })
	return o
}
