package ipfix

import (
	"testing"
	"time"
)

// BenchmarkExportPace sends one-record messages paced at 10,000 a second (read
// --ipfix-rate's default) and reports the rate achieved: a sleep overshoots a 100 µs
// pace by far, so the exporter has to keep its schedule rather than wait a full pace
// after each late wake-up (which gave about 1,700 messages/s).
func BenchmarkExportPace(b *testing.B) {
	const pace = 100 * time.Microsecond
	c := &msgConn{network: "udp"}
	e := NewExporter(c, ExporterOptions{Pace: pace})
	in := sampleRecords()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Write(&in[0]); err != nil {
			b.Fatal(err)
		}
		if err := e.Flush(); err != nil {
			b.Fatal(err)
		}
		if len(c.msgs) > 1024 {
			c.msgs = c.msgs[:0]
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "messages/s")
	b.ReportMetric(float64(time.Second/pace), "asked/s")
}
