package relay

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"

	"panoptes/filter"
	"panoptes/ipfix"
	"panoptes/record"
)

// TestCollectDrainsOnStop: datagrams already queued in the -C socket when the relay is
// told to stop (SIGINT) are still decoded and handed on, so that -w keeps an exporter's
// last flows. The context is cancelled before the collector even starts reading.
func TestCollectDrainsOnStop(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ex := ipfix.NewExporter(out, ipfix.ExporterOptions{})
	const n = 500 // about 20 datagrams, well within a default socket buffer
	for i := range n {
		r := mkrec(i)
		if err := ex.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := ex.Stats().Records; got != n {
		t.Fatalf("exporter sent %d records, want %d", got, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	seen := map[netip.Addr]bool{} // each record has its own source address
	newCollector(conn, nil, t.Logf).run(ctx, func(r *record.Record) { seen[r.Addr(true)] = true })
	if len(seen) != n {
		t.Fatalf("%d of %d queued records collected after the stop", len(seen), n)
	}
}

// datagramConn is a UDP-looking connection that keeps what an Exporter writes.
type datagramConn struct {
	net.Conn
	msgs [][]byte
}

func (c *datagramConn) Write(p []byte) (int, error) {
	c.msgs = append(c.msgs, append([]byte(nil), p...))
	return len(p), nil
}
func (c *datagramConn) LocalAddr() net.Addr  { return &net.UDPAddr{} }
func (c *datagramConn) RemoteAddr() net.Addr { return &net.UDPAddr{} }

// BenchmarkCollectPath is the relay's work per IPFIX datagram after the socket read:
// decoding, the filter, and writing -w (to io.Discard). bench/distribution.sh measures
// the whole path, socket included, against nfcapd.
func BenchmarkCollectPath(b *testing.B) {
	c := &datagramConn{}
	ex := ipfix.NewExporter(c, ipfix.ExporterOptions{})
	const n = 10000
	for i := range n {
		r := mkrec(i)
		if err := ex.Write(&r); err != nil {
			b.Fatal(err)
		}
	}
	if err := ex.Flush(); err != nil {
		b.Fatal(err)
	}
	flt, err := filter.Compile("")
	if err != nil {
		b.Fatal(err)
	}
	w, err := record.NewWriter(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	h := &hub{flt: flt, sink: w, fail: func() {}}
	dec := ipfix.NewDecoder(ipfix.DecoderOptions{})
	from := netip.MustParseAddrPort("127.0.0.1:4739")
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range c.msgs {
			if err := dec.Decode(m, from, h.put); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64(len(c.msgs)), "datagrams/op")
}
