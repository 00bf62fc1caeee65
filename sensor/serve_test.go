package sensor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"panoptes/internal/liveout"
	"panoptes/record"
	"panoptes/recordsvc"
)

// TestServeTee: with -P, what the sensor writes also reaches a live client (with its
// filter applied by the service), and the -w output is unchanged.
func TestServeTee(t *testing.T) {
	var file bytes.Buffer
	w, _ := record.NewWriter(&file)
	f := serveFlags{Flags: liveout.Flags{Port: "0", Listen: "127.0.0.1", ClientBuffer: 1 << 20, MaxClients: 8, QueueMemory: 64 << 20}}
	sink, err := f.wrap(record.WithClose(w, w.Flush), func(format string, args ...any) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tee := sink.(*teeSink)
	c, err := recordsvc.Dial(context.Background(), tee.out.Srv.Addr().String(), "udp", recordsvc.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for tee.out.Srv.Clients() != 1 {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 6, Seq: uint32(i)}
		if i%2 == 1 {
			r.Proto = 17
		}
		sink.Write(&r)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	var got []uint32
	var r record.Record
	for {
		err := c.Read(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Seq)
	}
	if len(got) != 5 || got[0] != 1 || got[4] != 9 {
		t.Fatalf("client got seqs %v, want the 5 UDP records", got)
	}
	rd, err := record.NewReader(&file, "out")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rd.Read(&r) == nil {
		n++
	}
	if n != 10 {
		t.Fatalf("-w output has %d records, want 10", n)
	}
}

func TestServeFlagsBad(t *testing.T) {
	w, _ := record.NewWriter(io.Discard)
	for _, f := range []liveout.Flags{{Port: "x"}, {Port: "0", Cert: "/nonexistent"}, {Publish: "http://x"}} {
		if _, err := (&serveFlags{Flags: f}).wrap(record.WithClose(w, w.Flush), func(string, ...any) {}, nil); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}

// TestServeCountersInMetrics: the record service's refusals reach the sensor's
// Prometheus snapshot. Before the fix the snapshot had no service counters at all.
func TestServeCountersInMetrics(t *testing.T) {
	w, _ := record.NewWriter(io.Discard)
	f := serveFlags{Flags: liveout.Flags{Port: "0", Listen: "127.0.0.1", ClientBuffer: 1 << 20, MaxClients: 1, QueueMemory: 64 << 20}}
	sink, err := f.wrap(record.WithClose(w, w.Flush), func(string, ...any) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	var ops sensorOps
	ops.service.Store(f.srv)
	addr := f.srv.Addr().String()
	c, err := recordsvc.Dial(context.Background(), addr, "", recordsvc.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := recordsvc.Dial(context.Background(), addr, "", recordsvc.DialConfig{}); !errors.Is(err, recordsvc.ErrBusy) {
		t.Fatalf("second client: %v, want busy", err)
	}
	if m := ops.serviceCounters(); m == nil || m.Refused != 1 || m.Clients != 1 {
		t.Fatalf("metrics %+v, want 1 client, 1 refused", m)
	}
}

// The record service's refusals reach the management records the sensor writes
// (read -s crefused,cdrops -- man), beside the capture's own drops; before, they were
// only in the metrics and the exit line.
func TestServeCountersInManagementRecords(t *testing.T) {
	var buf bytes.Buffer
	w, _ := record.NewWriter(&buf)
	f := serveFlags{Flags: liveout.Flags{Port: "0", Listen: "127.0.0.1", ClientBuffer: 1 << 20, MaxClients: 1, QueueMemory: 64 << 20}}
	sink, err := f.wrap(record.WithClose(w, w.Flush), func(string, ...any) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := f.srv.Addr().String()
	c, err := recordsvc.Dial(context.Background(), addr, "", recordsvc.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := recordsvc.Dial(context.Background(), addr, "", recordsvc.DialConfig{}); !errors.Is(err, recordsvc.ErrBusy) {
		t.Fatalf("second client: %v, want busy", err)
	}
	man := &record.Record{Kind: record.KindMan, Man: &record.Management{PktsSeen: 5}}
	if err := sink.Write(man); err != nil {
		t.Fatal(err)
	}
	if man.Man.ClientsRefused != 0 {
		t.Error("the caller's management record was changed")
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	rd, err := record.NewReader(&buf, "out")
	if err != nil {
		t.Fatal(err)
	}
	var r record.Record
	if err := rd.Read(&r); err != nil {
		t.Fatal(err)
	}
	if r.Man == nil || r.Man.ClientsRefused != 1 || r.Man.PktsSeen != 5 {
		t.Fatalf("management record %+v, want 1 client refused", r.Man)
	}
}
