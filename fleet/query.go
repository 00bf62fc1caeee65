package fleet

import (
	"panoptes/filter"
	"panoptes/index"
	"panoptes/record"
)

// runQuery runs a records query on an archive: the records whose time span intersects
// [t0, t1] and that pass flt, in start-time order.
func runQuery(a *index.Archive, flt *filter.Filter, t0, t1 int64, emit func(*record.Record) error) error {
	return a.Query(t0, t1, flt.Match, emit)
}
