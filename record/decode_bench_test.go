package record

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// BenchmarkReadStream reads a whole record stream (PANOPTES_BENCH_STREAM, e.g. the
// shared trace imported by bench/cluster.sh); it is skipped without one.
func BenchmarkReadStream(b *testing.B) {
	path := os.Getenv("PANOPTES_BENCH_STREAM")
	if path == "" {
		b.Skip("set PANOPTES_BENCH_STREAM to a record stream file")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var n int
	for b.Loop() {
		rd, err := NewReader(bytes.NewReader(data), path)
		if err != nil {
			b.Fatal(err)
		}
		var r Record
		n = 0
		for {
			if err := rd.Read(&r); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
}
