package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"panoptes/internal/binarytest"
	"panoptes/record"
	"panoptes/recordsvc"
)

// seqRecord is flow record number i (its seq).
func seqRecord(i int) record.Record {
	r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 6, SrcPort: uint16(i), DstPort: 443, Seq: uint32(i), Trans: 1,
		StartTime: 1_700_000_000e9 + int64(i)*1e5, LastTime: 1_700_000_000e9 + int64(i)*1e5 + 1e6, Src: record.Side{Pkts: 3, Bytes: 300}}
	copy(r.SrcAddr[:], []byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	copy(r.DstAddr[:], []byte{192, 0, 2, 1})
	return r
}

// TestNATSClusterFailover runs a fleet on a real three-node JetStream cluster (R3
// stream) through the binary. Three sensors (record services fed by the test at a
// steady pace) are published by three `relay -S SENSOR --publish
// nats://N1,N2,N3/panoptes.SITE.tap1?replicas=3` (one per site), and an archive relay
// (`relay --subscribe nats://N1,N2,N3/panoptes.>?durable=archive -w DIR/`) writes
// what it consumes. A third of the way in, the stream's leader node is killed; two
// thirds of the way in, the archive relay is stopped (SIGINT) and started again. In
// the end the archive holds every record exactly once: publishers' retries across
// the failover are removed by their message ids, redeliveries by the consumer, and
// the restarted relay resumes where its durable consumer stood.
func TestNATSClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node nats-server cluster through a node failure (about 30 s)")
	}
	cl := binarytest.StartNATSCluster(t, 3)
	bin := binarytest.Build(t)
	sites := []string{"berlin", "paris", "rome"}
	const steps, perStep = 90, 500 // each sensor: 500 records every 30 ms
	total := len(sites) * steps * perStep
	var sensors []*recordsvc.Server
	var pubs []*binarytest.Proc
	for _, site := range sites {
		up, err := recordsvc.Listen("127.0.0.1:0", recordsvc.Config{ClientBuffer: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer up.Close(time.Second)
		sensors = append(sensors, up)
		pubs = append(pubs, binarytest.Start(t, bin, "relay", "--config", "", "-S", up.Addr().String(), "--publish",
			cl.URL()+"/panoptes."+site+".tap1?replicas=3&max_age=1h"))
	}
	for i, up := range sensors {
		for deadline := time.Now().Add(30 * time.Second); up.Clients() == 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) || pubs[i].Exited() {
				t.Fatalf("publisher %d did not connect to its sensor:\n%s", i, pubs[i].Stderr())
			}
		}
	}
	archive := filepath.Join(t.TempDir(), "archive") + "/"
	startRelay := func() *binarytest.Proc {
		return binarytest.Start(t, bin, "relay", "--config", "", "--subscribe", cl.URL()+"/panoptes.>?durable=archive", "-w", archive)
	}
	relay := startRelay()

	nc, err := nats.Connect(cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	info := func() *jetstream.StreamInfo {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "PANOPTES")
		if err != nil {
			return nil
		}
		in, err := st.Info(ctx)
		if err != nil {
			return nil
		}
		return in
	}
	for step := range steps {
		for i, up := range sensors {
			for k := range perStep {
				r := seqRecord((i*steps+step)*perStep + k)
				up.Publish(&r)
			}
		}
		time.Sleep(30 * time.Millisecond)
		switch step {
		case steps / 3:
			in := info()
			if in == nil || in.Cluster == nil || cl.Node(in.Cluster.Leader) < 0 || in.Config.Replicas != 3 {
				t.Fatalf("stream PANOPTES: %+v", in)
			}
			cl.Kill(cl.Node(in.Cluster.Leader))
			t.Logf("killed the stream leader %s with %d messages stored", in.Cluster.Leader, in.State.Msgs)
		case 2 * steps / 3:
			if code := relay.Interrupt(30 * time.Second); code != 0 {
				t.Fatalf("relay: exit %d\n%s", code, relay.Stderr())
			}
			t.Logf("first relay run:\n%s", relay.Stderr())
			relay = startRelay()
		}
	}
	for i, p := range pubs {
		if code := p.Interrupt(90 * time.Second); code != 0 {
			t.Fatalf("publisher %d: exit %d\n%s", i, code, p.Stderr())
		}
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if relay.Exited() {
			t.Fatalf("relay ended:\n%s", relay.Stderr())
		}
		if in := info(); in != nil {
			if ci, err := js.Consumer(context.Background(), "PANOPTES", "archive"); err == nil {
				if c := ci.CachedInfo(); c.NumPending == 0 && c.NumAckPending == 0 && c.Delivered.Stream == in.State.LastSeq {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted relay did not catch up in 60 s:\n%s", relay.Stderr())
		}
	}
	if code := relay.Interrupt(30 * time.Second); code != 0 {
		t.Fatalf("restarted relay: exit %d\n%s", code, relay.Stderr())
	}
	t.Logf("second relay run:\n%s", relay.Stderr())

	out, errs, code := panoptes(t, nil, "read", "-R", archive, "-L", "-1", "-s", "seq", "--", "tcp")
	if code != 0 {
		t.Fatalf("read -R: exit %d: %s", code, errs)
	}
	seen := make([]int, total)
	for _, l := range strings.Fields(out) {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || n >= total {
			t.Fatalf("read -R printed %q", l)
		}
		seen[n]++
	}
	var missing, dup int
	for _, c := range seen {
		if c == 0 {
			missing++
		} else if c > 1 {
			dup++
		}
	}
	if missing > 0 || dup > 0 {
		t.Fatalf("archive: %d of %d records missing, %d more than once", missing, total, dup)
	}
}
