package natsstream

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"panoptes/internal/peer"
	"panoptes/record"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Target
		bad  bool
	}{
		{in: "nats://127.0.0.1:4222", want: Target{URL: "nats://127.0.0.1:4222", Subject: DefaultSubject, Stream: DefaultStream, Durable: DefaultDurable}},
		{in: "nats://broker:4222/site1.records?stream=SITE1&durable=archiver", want: Target{URL: "nats://broker:4222", Subject: "site1.records", Stream: "SITE1", Durable: "archiver"}},
		{in: "http://broker:4222", bad: true},
		{in: "nats:///x", bad: true},
		{in: "nats://b:1/a..b", bad: true},
		{in: "nats://b:1/a.*", bad: true},
		{in: "nats://b:1/x?stream=A.B", bad: true},
	} {
		got, err := ParseURL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: accepted as %+v", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// startNATS runs a JetStream-enabled nats-server on a free loopback port with its
// store in a temporary directory, and returns its URL.
func startNATS(t testing.TB) string {
	t.Helper()
	bin := peer.Need(t, "nats-server", "nats-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nats-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "nats://" + addr
}

func mkrec(i int) record.Record {
	return record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, SrcPort: 5353, DstPort: 53, Seq: uint32(i),
		StartTime: 1_700_000_000e9 + int64(i), LastTime: 1_700_000_001e9 + int64(i), Src: record.Side{Pkts: 1, Bytes: 80}}
}

// consumeN reads n records with the target's durable consumer and returns their seqs.
func consumeN(t *testing.T, tg Target, n int) []uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var seqs []uint32
	err := Consume(ctx, tg, t.Logf, func(r *record.Record) error {
		seqs = append(seqs, r.Seq)
		if len(seqs) == n {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) < n {
		t.Fatalf("consumed %d records, want %d", len(seqs), n)
	}
	return seqs
}

// TestPublishConsume: batches published to a stream that did not exist are consumed in
// order by a durable consumer, which resumes after the last acknowledged message.
func TestPublishConsume(t *testing.T) {
	url := startNATS(t)
	tg, err := ParseURL(url + "/test.records?durable=archiver")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		p, err := NewPublisher(context.Background(), tg, PublisherOptions{BatchRecords: 1000, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			r := mkrec(i)
			p.Write(&r)
		}
		if err := p.Close(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if p.Sent() != uint64(to-from) {
			t.Fatalf("sent %d, want %d", p.Sent(), to-from)
		}
	}
	publish(0, 2500)
	seqs := consumeN(t, tg, 2500)
	for i, s := range seqs[:2500] {
		if s != uint32(i) {
			t.Fatalf("record %d has seq %d", i, s)
		}
	}
	publish(2500, 2600)
	seqs = consumeN(t, tg, 100)
	if len(seqs) != 100 || seqs[0] != 2500 || seqs[99] != 2599 {
		t.Fatalf("after resuming: %d records from %d", len(seqs), seqs[0])
	}
}

// TestFlushEvery: a partial batch is published after FlushEvery without a Flush.
func TestFlushEvery(t *testing.T) {
	url := startNATS(t)
	tg, _ := ParseURL(url)
	p, err := NewPublisher(context.Background(), tg, PublisherOptions{FlushEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(time.Second)
	r := mkrec(7)
	p.Write(&r)
	if seqs := consumeN(t, tg, 1); seqs[0] != 7 {
		t.Fatalf("got seq %d", seqs[0])
	}
}

func TestNoServer(t *testing.T) {
	tg, _ := ParseURL("nats://127.0.0.1:1")
	if _, err := NewPublisher(context.Background(), tg, PublisherOptions{}); err == nil {
		t.Fatal("connected to nothing")
	}
}
