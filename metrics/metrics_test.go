package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func snapshot(queues int) Snapshot {
	s := Snapshot{NICs: []NIC{{Iface: "eth1", Missed: 3}}, Evictions: 2, RecordsWritten: 10, ArchiveBytes: 4096}
	for i := 0; i < queues; i++ {
		s.Queues = append(s.Queues, Queue{Iface: "eth1", Queue: i, Packets: 100, Bytes: 6400, Seen: 110, Received: 100, RxDropped: 10, FillRingEmpty: 10, Flows: 7, RecordRingCap: 1024})
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
		"# HELP panoptes_drops_total Frames or records dropped, by cause",
		`panoptes_drops_total{cause="fill_ring_empty",iface="eth1",queue="0"} 10`,
		`panoptes_drops_total{cause="nic_missed",iface="eth1",queue=""} 3`,
		"# TYPE panoptes_flow_table_flows gauge",
		`panoptes_flow_table_flows{shard="eth1/0"} 7`,
		"panoptes_archive_size_bytes 4096",
		"panoptes_capture_up 1",
		"panoptes_process_resident_memory_bytes",
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() (Snapshot, bool) { return s, true }))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
