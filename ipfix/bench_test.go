package ipfix

import (
	"net"
	"testing"

	"panoptes/record"
)

// discardConn is a datagram net.Conn that drops what it is given.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }
func (discardConn) LocalAddr() net.Addr         { return fakeAddr("udp") }
func (discardConn) RemoteAddr() net.Addr        { return fakeAddr("udp") }

// BenchmarkExport encodes records into MTU-sized UDP messages (IPv4 and IPv6 mixed).
func BenchmarkExport(b *testing.B) {
	in := sampleRecords()
	e := NewExporter(discardConn{}, ExporterOptions{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.Write(&in[i%len(in)]); err != nil {
			b.Fatal(err)
		}
	}
	e.Flush()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecode decodes the exporter's messages (templates known after the first).
func BenchmarkDecode(b *testing.B) {
	c := &msgConn{network: "udp"}
	e := NewExporter(c, ExporterOptions{TemplateMessages: 1 << 30})
	in := sampleRecords()
	for i := 0; i < 2000; i++ {
		e.Write(&in[i%len(in)])
	}
	e.Flush()
	d := NewDecoder(DecoderOptions{})
	n := 0
	emit := func(*record.Record) { n++ }
	d.Decode(c.msgs[0], exporterAddr, emit) // templates
	msgs := c.msgs[1:]
	n = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(msgs[i%len(msgs)], exporterAddr, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
