package bench

// BenchmarkImport times sensor.Import, the body of `panoptes import`, on the shared
// 3 M-packet benchmark trace, with the records encoded but thrown away. It matters
// because import speed is the sensor's headline number: the goal is at least 3x
// Argus's packets/s on a 2-core machine, and bench/import.sh only times whole
// processes. This benchmark gives the same work a CPU profile (-cpuprofile) and
// allocation counts (allocs/op divided by the trace's packet count is allocations per
// packet), without process start-up or file output.
//
// Build the trace (1.3 GB; keep it out of the repository), then run:
//
//	../shared/bench/make-trace.sh /tmp/trace.pcap   # the shared corpus's script, beside the repository
//	PANOPTES_TRACE=/tmp/trace.pcap go test ./bench -run '^$' -bench Import -benchmem -cpuprofile cpu.out

import (
	"fmt"
	"io"
	"os"
	"testing"

	"panoptes/record"
	"panoptes/sensor"
)

func BenchmarkImport(b *testing.B) {
	trace := os.Getenv("PANOPTES_TRACE")
	if trace == "" {
		b.Skip("PANOPTES_TRACE is unset: build the trace with " +
			"../shared/bench/make-trace.sh TRACE.pcap and set PANOPTES_TRACE=TRACE.pcap")
	}
	fi, err := os.Stat(trace)
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(fi.Size())
			var pkts uint64
			for b.Loop() {
				w, err := record.NewWriter(io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				st, err := sensor.Import([]string{trace}, nil, w, io.Discard, sensor.ImportConfig{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				pkts = st.PktsSeen
			}
			if pkts > 0 {
				b.ReportMetric(float64(pkts)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
				b.ReportMetric(float64(pkts), "pkts/op")
			}
		})
	}
}
