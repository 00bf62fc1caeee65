package xdp

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteCounterTable(t *testing.T) {
	var b bytes.Buffer
	WriteCounterTable(&b, "p:", []QueueCounters{
		{Iface: "eth0", Queue: 0, Seen: 10, Received: 8, RxDropped: 2, FillRingEmpty: 2},
		{Iface: "eth0", Queue: 1, Seen: 5, Received: 4, Passed: 1, MetaErrors: 3},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header, two queues and the total:\n%s", len(lines), b.String())
	}
	want := []string{"p:", "total", "15", "12", "1", "2", "0", "2", "0", "3"}
	if got := strings.Fields(lines[3]); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("total line %q, want %q", got, want)
	}
	if f := strings.Fields(lines[2]); f[1] != "eth0/1" {
		t.Errorf("queue line %q: want the queue named eth0/1", lines[2])
	}
}
