package xdp

import (
	"fmt"
	"io"
)

// WriteCounterTable writes the per-queue loss accounting as an aligned table, each line
// starting with prefix, then a total line: the exit summary of `panoptes sensor` and of
// bench/rawxsk, which bench/loss.sh reads (the "total" line, by column).
func WriteCounterTable(w io.Writer, prefix string, qs []QueueCounters) {
	fmt.Fprintf(w, "%s %-14s %10s %10s %8s %10s %9s %9s %9s %9s\n", prefix, "queue", "seen", "received", "passed", "rx_dropped", "ring_full", "fill_empty", "invalid", "meta_err")
	var tot QueueCounters
	row := func(name string, q *QueueCounters) {
		fmt.Fprintf(w, "%s %-14s %10d %10d %8d %10d %9d %9d %9d %9d\n", prefix, name, q.Seen, q.Received, q.Passed, q.RxDropped, q.RxRingFull, q.FillRingEmpty, q.RxInvalid, q.MetaErrors)
	}
	for i := range qs {
		q := &qs[i]
		row(fmt.Sprintf("%s/%d", q.Iface, q.Queue), q)
		tot.Seen += q.Seen
		tot.Received += q.Received
		tot.Passed += q.Passed
		tot.RxDropped += q.RxDropped
		tot.RxRingFull += q.RxRingFull
		tot.FillRingEmpty += q.FillRingEmpty
		tot.RxInvalid += q.RxInvalid
		tot.MetaErrors += q.MetaErrors
	}
	row("total", &tot)
}
