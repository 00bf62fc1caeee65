package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/internal/waitfor"
	"panoptes/ipfix"
	"panoptes/record"
	"panoptes/recordsvc"
)

// startRelay runs Main with args until the test ends it with the returned stop
// function (which returns Main's error). It waits for "serving records on ADDR" when
// args have -P, and returns ADDR.
func startRelay(t *testing.T, args ...string) (addr string, stderr *binarytest.SyncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	baseContext = func() context.Context { return ctx }
	t.Cleanup(func() { baseContext = context.Background })
	stderr = &binarytest.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Main(args, nil, io.Discard, stderr) }()
	serving := regexp.MustCompile(`serving records on (\S+)`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if m := serving.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			break
		}
		if !strings.Contains(strings.Join(args, " "), "-P") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay did not start: %s", stderr)
		}
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return addr, stderr, stop
}

func mkrec(i int) record.Record {
	r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 6, SrcPort: 40000, DstPort: 443, Seq: uint32(i),
		StartTime: 1_700_000_000e9 + int64(i)*1e6, LastTime: 1_700_000_001e9 + int64(i)*1e6, Trans: 1}
	if i%2 == 1 {
		r.Proto, r.DstPort = 17, 53
	}
	copy(r.SrcAddr[:], []byte{10, 0, byte(i >> 8), byte(i)})
	copy(r.DstAddr[:], []byte{192, 0, 2, 1})
	r.Src = record.Side{Pkts: 2, Bytes: 200}
	return r
}

type client struct {
	s     *recordsvc.Stream
	seqs  []uint32
	drops atomic.Uint64
	n     atomic.Int64
	err   error
	done  chan struct{}
}

func dial(t *testing.T, addr, flt string) *client {
	t.Helper()
	c := &client{done: make(chan struct{})}
	var err error
	c.s, err = recordsvc.Dial(context.Background(), addr, flt, recordsvc.DialConfig{Drops: func(n uint64) { c.drops.Add(n) }})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.s.Close() })
	return c
}

func (c *client) read() {
	defer close(c.done)
	var r record.Record
	for {
		if err := c.s.Read(&r); err != nil {
			if err != io.EOF {
				c.err = err
			}
			return
		}
		c.seqs = append(c.seqs, r.Seq)
		c.n.Add(1)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) { t.Helper(); waitfor.Cond(t, what, cond) }

// TestRelayFanOut: sensor (a server) -> relay -> three clients with different
// filters, one of which stalls. The others get every record they selected; the
// stalled one gets drop notices that account for every record it missed.
func TestRelayFanOut(t *testing.T) {
	up, err := recordsvc.Listen("127.0.0.1:0", recordsvc.Config{ClientBuffer: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close(time.Second)
	addr, stderr, stop := startRelay(t, "-S", up.Addr().String(), "-P", "0", "--client-buffer", "65536")
	waitFor(t, "the relay to connect upstream", func() bool { return up.Clients() == 1 })
	tcp, udp, stalled := dial(t, addr, "tcp"), dial(t, addr, "udp"), dial(t, addr, "")
	go tcp.read()
	go udp.read()
	const total = 200_000
	for i := 0; i < total; i++ {
		r := mkrec(i)
		up.Publish(&r)
		if i%2000 == 1999 {
			want := int64(i+1) / 2
			waitFor(t, "clients to catch up", func() bool { return tcp.n.Load() >= want && udp.n.Load() >= want })
		}
	}
	go stalled.read()
	if err := stop(); err != nil { // the relay drains its clients and ends their streams
		t.Fatal(err)
	}
	for _, c := range []*client{tcp, udp, stalled} {
		<-c.done
		if c.err != nil {
			t.Fatal(c.err)
		}
	}
	for name, c := range map[string]*client{"tcp": tcp, "udp": udp} {
		if len(c.seqs) != total/2 || c.drops.Load() != 0 {
			t.Fatalf("%s client: %d records, %d dropped", name, len(c.seqs), c.drops.Load())
		}
	}
	if got, d := uint64(len(stalled.seqs)), stalled.drops.Load(); d == 0 || got+d != total {
		t.Fatalf("stalled client: %d records + %d dropped, want a drop and %d", got, d, total)
	}
	if !strings.Contains(stderr.String(), "dropped for reading too slowly") {
		t.Fatalf("relay log does not report the drops:\n%s", stderr)
	}
}

// TestRelayUpstreamRestart: the upstream goes away (abruptly, then cleanly) and comes
// back on the same port; the relay reconnects and its client gets every record, and
// each outage is logged once.
func TestRelayUpstreamRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upAddr := ln.Addr().String()
	up := recordsvc.Serve(ln, recordsvc.Config{})
	addr, stderr, stop := startRelay(t, "-S", upAddr, "-P", "0")
	waitFor(t, "upstream client", func() bool { return up.Clients() == 1 })
	c := dial(t, addr, "")
	go c.read()
	for i := 0; i < 100; i++ {
		r := mkrec(i)
		up.Publish(&r)
	}
	waitFor(t, "first 100", func() bool { return c.n.Load() == 100 })
	up.Close(time.Second)
	time.Sleep(1500 * time.Millisecond) // several reconnect attempts against nothing
	ln, err = net.Listen("tcp", upAddr)
	if err != nil {
		t.Fatal(err)
	}
	up = recordsvc.Serve(ln, recordsvc.Config{})
	defer up.Close(time.Second)
	waitFor(t, "the relay to reconnect", func() bool { return up.Clients() == 1 })
	for i := 100; i < 200; i++ {
		r := mkrec(i)
		up.Publish(&r)
	}
	waitFor(t, "all 200", func() bool { return c.n.Load() == 200 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	<-c.done
	log := stderr.String()
	if n := strings.Count(log, "retrying with backoff") + strings.Count(log, "reconnecting"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, log)
	}
	if n := strings.Count(log, "upstream "+upAddr+": connected"); n != 2 {
		t.Fatalf("%d connections logged, want 2:\n%s", n, log)
	}
}

// TestRelayCollectIPFIX: IPFIX from an exporter to -C comes out of -P as records.
func TestRelayCollectIPFIX(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().String()
	pc.Close()
	addr, _, stop := startRelay(t, "-C", port, "-P", "0")
	c := dial(t, addr, "udp")
	go c.read()
	conn, err := net.Dial("udp", port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ex := ipfix.NewExporter(conn, ipfix.ExporterOptions{})
	for i := 0; i < 50; i++ {
		r := mkrec(i)
		r.Family = 4
		if err := ex.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "25 UDP records from IPFIX", func() bool { return c.n.Load() == 25 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	<-c.done
	if c.err != nil || len(c.seqs) != 25 {
		t.Fatalf("%d records, %v", len(c.seqs), c.err)
	}
}

// TestRelayBadFlags: usage errors name the flag.
func TestRelayBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-P", "0"}, "no input"},
		{[]string{"-S", "x:1"}, "no output"},
		{[]string{"-S", "nohost", "-P", "0"}, `-S "nohost"`},
		{[]string{"-S", "x:1", "-P", "0", "--", "tcp and"}, "filter"},
		{[]string{"-S", "x:1", "-P", "port"}, `-P "port"`},
		{[]string{"-S", "x:1", "--publish", "http://x"}, "--publish"},
		{[]string{"-S", "x:1", "-P", "0", "--tls-cert", "/nonexistent"}, "tls"},
	} {
		err := Main(tc.args, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line with %q", tc.args, err, tc.want)
		}
	}
}

// TestEndToEnd runs the binary: `panoptes import` makes records from a capture, `panoptes
// relay -r FILE -P PORT` serves them, and two `panoptes read -S` with different filters
// print what `panoptes read -r FILE` prints with the same filters.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := binarytest.Build(t)
	pnp := filepath.Join(dir, "case.pnp")
	if out, err := exec.Command(bin, "import", "-r", "../testdata/dns.pcap", "-r", "../testdata/get.pcap", "-w", pnp).CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	relay := exec.Command(bin, "relay", "-r", pnp, "-P", "0", "--wait-clients", "2")
	var relayErr binarytest.SyncBuffer
	relay.Stderr = &relayErr
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	defer relay.Process.Kill()
	var addr string
	waitFor(t, "the relay to listen", func() bool {
		m := regexp.MustCompile(`serving records on (\S+)`).FindStringSubmatch(relayErr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	filters := []string{"udp", "tcp and dst port 80"}
	outs := make([][]byte, len(filters))
	var wg sync.WaitGroup
	for i, f := range filters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(bin, "read", "-S", addr, "-s", "stime,saddr,sport,daddr,dport,proto,pkts,bytes,state", "--", f).Output()
			if err != nil {
				out = append(out, fmt.Sprintf("read -S: %v", err)...)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	if err := relay.Wait(); err != nil {
		t.Fatalf("relay: %v\n%s", err, relayErr.String())
	}
	for i, f := range filters {
		want, err := exec.Command(bin, "read", "-r", pnp, "-s", "stime,saddr,sport,daddr,dport,proto,pkts,bytes,state", "--", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(outs[i], want) || len(want) == 0 {
			t.Fatalf("filter %q: read -S printed\n%s\nread -r printed\n%s", f, outs[i], want)
		}
	}
}
