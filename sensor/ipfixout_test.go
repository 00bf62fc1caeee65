package sensor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/internal/cli"
	"panoptes/ipfix"
	"panoptes/record"
)

// collectUDP decodes every IPFIX datagram that arrives at a loopback socket until stop
// is called, which returns the records.
func collectUDP(t *testing.T) (addr string, stop func() []record.Record) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var recs []record.Record
	var errs []error
	done := make(chan struct{})
	d := ipfix.NewDecoder(ipfix.DecoderOptions{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			if err := d.Decode(buf[:n], from.(*net.UDPAddr).AddrPort(), func(r *record.Record) { recs = append(recs, *r) }); err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		}
	}()
	return pc.LocalAddr().String(), func() []record.Record {
		time.Sleep(200 * time.Millisecond)
		pc.Close()
		<-done
		if len(errs) > 0 {
			t.Fatalf("decoding the sensor's IPFIX: %v", errs)
		}
		return recs
	}
}

// TestSensorIPFIX captures live with --ipfix and checks that the collector received
// every flow record the sensor wrote, with its counters and the sensor's srcid as the
// observation domain.
func TestSensorIPFIX(t *testing.T) {
	requireLive(t)
	v := newVeth(t, 1)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.pnp")
	addr, stop := collectUDP(t)
	var stderr binarytest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- SensorMain([]string{"-i", v.Here, "--mode", "afpacket", "--queues", "1", "-w", out, "--srcid", "7",
			"--duration", "3s", "--log-format", "logfmt", "--ipfix", addr}, nil, io.Discard, &stderr)
	}()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "msg=capturing"); {
		select {
		case err := <-done:
			t.Fatalf("sensor ended before capturing: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sensor not capturing after 5 s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	replay(t, v, "--topspeed", "../testdata/get.pcap", "../testdata/http_ipv6.pcap")
	if err := <-done; err != nil {
		t.Fatalf("sensor: %v\n%s", err, stderr.String())
	}
	got := stop()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var want []record.Record
	for _, r := range readAll(t, b) {
		if r.Kind == record.KindFlow && r.Family != 0 {
			want = append(want, r)
		}
	}
	if len(want) == 0 {
		t.Fatalf("the sensor wrote no IP flow records:\n%s", stderr.String())
	}
	if len(got) != len(want) {
		t.Fatalf("collector got %d records, the sensor wrote %d\n%s", len(got), len(want), stderr.String())
	}
	for i, w := range want {
		g := got[i]
		if g.Addr(true) != w.Addr(true) || g.Addr(false) != w.Addr(false) || g.SrcPort != w.SrcPort || g.DstPort != w.DstPort ||
			g.Src.Pkts != w.Src.Pkts || g.Dst.Pkts != w.Dst.Pkts || g.Src.Bytes != w.Src.Bytes || g.Dst.Bytes != w.Dst.Bytes ||
			g.StartTime/1e6 != w.StartTime/1e6 || g.State() != w.State() {
			t.Errorf("record %d: collected %s:%d -> %s:%d %d/%d pkts %d/%d bytes %s; wrote %s:%d -> %s:%d %d/%d pkts %d/%d bytes %s", i,
				g.Addr(true), g.SrcPort, g.Addr(false), g.DstPort, g.Src.Pkts, g.Dst.Pkts, g.Src.Bytes, g.Dst.Bytes, g.State(),
				w.Addr(true), w.SrcPort, w.Addr(false), w.DstPort, w.Src.Pkts, w.Dst.Pkts, w.Src.Bytes, w.Dst.Bytes, w.State())
		}
	}
	t.Logf("%d flow records written and collected", len(want))
	if !strings.Contains(stderr.String(), fmt.Sprintf("%d records in", len(want))) {
		t.Errorf("no export summary in:\n%s", stderr.String())
	}
}

// memSink is a record.Sink that keeps what it is given.
type memSink struct{ recs []record.Record }

func (m *memSink) Write(r *record.Record) error { m.recs = append(m.recs, *r); return nil }
func (m *memSink) Flush() error                 { return nil }

// TestIPFIXTeeKeepsRecords: with no collector listening, the records still reach the
// sensor's own output, the export loss is reported once and counted.
func TestIPFIXTeeKeepsRecords(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close() // nobody listens: the kernel refuses the datagrams
	var mem memSink
	var warns []string
	closed := false
	w, err := teeIPFIX(dead, record.WithClose(&mem, func() error { closed = true; return nil }), func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, SrcPort: uint16(i), StartTime: 1, LastTime: 2}
		r.Src.Pkts = 1
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if err := w.Close(); err != nil || !closed {
		t.Fatalf("close: %v (output closed: %v)", err, closed)
	}
	if len(mem.recs) != 50 {
		t.Errorf("output got %d records, want 50", len(mem.recs))
	}
	refused := 0
	for _, s := range warns {
		if strings.Contains(s, "connection refused") {
			refused++
		}
	}
	if refused != 1 || !strings.Contains(warns[len(warns)-1], "lost") {
		t.Errorf("warnings %q: want one about the refused export and a summary", warns)
	}

	// A bad destination is a usage error and closes the output.
	closed = false
	_, err = teeIPFIX("sctp://127.0.0.1:1", record.WithClose(&mem, func() error { closed = true; return nil }), func(string) {})
	var ue *cli.UsageError
	if !errors.As(err, &ue) || !closed {
		t.Errorf("bad destination: %v (output closed: %v)", err, closed)
	}
}
