package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func snapshot(queues int) Snapshot {
	s := Snapshot{NICs: []NIC{{Iface: "eth1", Missed: 3}}, Evictions: 2, RecordsWritten: 10, ArchiveBytes: 4096,
		Service: &Service{Clients: 2, Refused: 5, Dropped: 7, Unoffered: 1, QueueBytes: 1 << 20}}
	for i := 0; i < queues; i++ {
		s.Queues = append(s.Queues, Queue{Iface: "eth1", Queue: i, Packets: 100, Bytes: 6400, Flows: 7, RecordRingCap: 1024, ReshardDropped: 4,
			Counters: []Counter{{Metric: "xdp_seen_total", Help: "Frames the XDP program saw on a queue.", Value: 110},
				{Metric: "socket_received_total", Help: "Frames taken.", Value: 100},
				{Cause: "socket_rx_dropped", Value: 10}, {Cause: "fill_ring_empty", Value: 10}}})
	}
	return s
}

// TestServe checks the exposition: names, types, HELP, labels, and capture_up 0 when
// the gate is clear.
func TestServe(t *testing.T) {
	var g Gate
	srv, err := Serve("127.0.0.1:0", NewCollector(g.Source()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func() string {
		resp, err := http.Get("http://" + srv.Addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := get(); !strings.Contains(body, "panoptes_capture_up 0") || strings.Contains(body, "panoptes_packets_total") {
		t.Errorf("before the capture runs:\n%s", body)
	}
	g.Set(func() Snapshot { return snapshot(2) })
	body := get()
	for _, want := range []string{
		"# TYPE panoptes_packets_total counter",
		`panoptes_packets_total{iface="eth1",queue="1"} 100`,
		"# HELP panoptes_drops_total Frames, packets or records dropped in the sensor, by cause",
		`panoptes_drops_total{cause="fill_ring_empty",iface="eth1",queue="0"} 10`,
		`panoptes_nic_drops_total{cause="missed",iface="eth1"} 3`,
		`panoptes_drops_total{cause="reshard_ring_full",iface="eth1",queue="1"} 4`,
		"# HELP panoptes_xdp_seen_total Frames the XDP program saw on a queue.",
		`panoptes_xdp_seen_total{iface="eth1",queue="0"} 110`,
		"# TYPE panoptes_flow_table_flows gauge",
		`panoptes_flow_table_flows{shard="eth1/0"} 7`,
		"panoptes_archive_size_bytes 4096",
		"panoptes_service_clients 2",
		"panoptes_service_refused_total 5",
		`panoptes_service_dropped_total{cause="client_queue"} 7`,
		`panoptes_service_dropped_total{cause="fanout"} 1`,
		"panoptes_service_queue_bytes 1.048576e+06",
		"panoptes_capture_up 1",
		"\nprocess_resident_memory_bytes", // the standard name, without our namespace
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
	g.Clear()
	if body := get(); !strings.Contains(body, "panoptes_capture_up 0") {
		t.Errorf("after Clear: %s", body)
	}
}

// BenchmarkCollect is the cost of one scrape's collection for a 16-queue sensor.
func BenchmarkCollect(b *testing.B) {
	s := snapshot(16)
	c := NewCollector(func() (Snapshot, bool) { return s, true })
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteText(io.Discard, c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConnectionBounds: connections that send nothing cannot pile up past maxConns, and
// a kept-alive connection that sends no second request is closed. Before the fix the
// kept-alive one stayed open (the read timed out after 10 s instead of EOF), and all
// 40 idle connections were accepted (peak 41 with the first), each a descriptor of
// the sensor's.
func TestConnectionBounds(t *testing.T) {
	defer func(n int, d time.Duration) { maxConns, idleTimeout = n, d }(maxConns, idleTimeout)
	maxConns, idleTimeout = 4, 200*time.Millisecond
	var g Gate
	srv, err := Serve("127.0.0.1:0", NewCollector(g.Source()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// One scrape on a kept-alive connection, then silence: the server closes it.
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle kept-alive connection: %v, want EOF (closed by the server)", err)
	}

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 40; i++ {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// Give the server time to accept them all (it does at once without a bound); with
	// the bound the peak stays at maxConns however long this takes.
	for deadline := time.Now().Add(2 * time.Second); srv.open.Load() < 40 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if p := srv.peak.Load(); p > int64(maxConns) {
		t.Fatalf("%d connections open at once, want at most %d", p, maxConns)
	}
}
