package relay

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"panoptes/ipfix"
	"panoptes/record"
)

// TestCollectDrainsOnStop: datagrams already queued in the -C socket when the relay is
// told to stop (SIGINT) are still decoded and handed on, so that -w keeps an exporter's
// last flows. The context is cancelled before collectFlows even starts reading.
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
	collectFlows(ctx, conn, func(r *record.Record) { seen[r.Addr(true)] = true }, t.Logf)
	if len(seen) != n {
		t.Fatalf("%d of %d queued records collected after the stop", len(seen), n)
	}
}
