package capture

import (
	"bytes"
	"strings"
	"testing"
)

var testCounters = []Counter{
	{Name: "seen"}, {Name: "received"}, {Name: "rx_dropped", Lost: true}, {Name: "ring_full", Lost: true},
	{Name: "fill_empty"}, {Name: "redirected", Hidden: true},
}

// TestWriteTable checks the exit table: the source's columns in its order, hidden ones
// left out (bench/loss.sh reads the total row by column), one row per queue, a total.
func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, "p:", []QueueCounters{
		{Iface: "eth0", Queue: 0, Counters: testCounters, Values: []uint64{10, 8, 2, 0, 2, 10}},
		{Iface: "eth0", Queue: 1, Counters: testCounters, Values: []uint64{5, 4, 0, 1, 0, 5}},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header, two queues and the total:\n%s", len(lines), b.String())
	}
	if got, want := strings.Join(strings.Fields(lines[0]), " "), "p: queue seen received rx_dropped ring_full fill_empty"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if got, want := strings.Join(strings.Fields(lines[3]), " "), "p: total 15 12 2 1 2"; got != want {
		t.Errorf("total line %q, want %q", got, want)
	}
	if f := strings.Fields(lines[2]); f[1] != "eth0/1" {
		t.Errorf("queue line %q: want the queue named eth0/1", lines[2])
	}
}

func TestGetAndLost(t *testing.T) {
	q := QueueCounters{Iface: "eth0", Queue: 3, Counters: testCounters, Values: []uint64{10, 7, 2, 1, 2, 10}}
	if q.Get("received") != 7 || q.Get("nosuch") != 0 || q.Lost() != 3 || q.Name() != "eth0/3" {
		t.Errorf("received %d, nosuch %d, lost %d (want 3: rx_dropped + ring_full), name %q", q.Get("received"), q.Get("nosuch"), q.Lost(), q.Name())
	}
}
