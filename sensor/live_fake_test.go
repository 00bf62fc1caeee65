package sensor

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"panoptes/capture"
	"panoptes/capture/capturetest"
	"panoptes/metrics"
	"panoptes/record"
)

// udpFrames returns n Ethernet/IPv4/UDP frames of distinct flows (source ports).
func udpFrames(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		f := make([]byte, 14+20+8+18)
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := f[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		copy(ip[12:], []byte{10, 0, 0, 1})
		copy(ip[16:], []byte{10, 0, 0, 2})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[j:]))
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum+sum>>16))
		udp := ip[20:]
		binary.BigEndian.PutUint16(udp[0:], uint16(1024+i%50000))
		binary.BigEndian.PutUint16(udp[2:], 53)
		binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
		out[i] = f
	}
	return out
}

// lastMan is a sink that counts flow records and keeps the last management record.
type lastMan struct {
	mu    sync.Mutex
	flows int
	man   *record.Record
}

func (s *lastMan) Write(r *record.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Kind == record.KindMan {
		c := *r
		m := *r.Man
		c.Man = &m
		s.man = &c
	} else {
		s.flows++
	}
	return nil
}
func (s *lastMan) Flush() error { return nil }

// runFake runs Live over a fake source on lo (an interface that exists and stays up)
// until the source has handed over every frame.
func runFake(t testing.TB, cfg LiveConfig, src *capturetest.Source, w record.Sink) LiveStats {
	t.Helper()
	cfg.Interfaces = []string{"lo"}
	cfg.Open = func(string) (capture.Capture, error) { return src, nil }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for !src.Done() {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	st, err := Live(ctx, cfg, w, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDropsCountedAlike checks that the final management record, the exit summary and
// Prometheus count the same drops: packets lost by the source and on the reshard rings
// (a packet drop everywhere: before the one Snapshot, the exit table and Prometheus
// counted reshard-ring drops as record drops, which this comparison catches), and
// records lost on the rings to the writer.
func TestDropsCountedAlike(t *testing.T) {
	frames := udpFrames(4000)
	src := capturetest.New("lo", [][][]byte{frames[:2000], frames[2000:]}, []uint64{7, 5}, 3, 512, time.Now())
	cfg := LiveConfig{Reshard: true, reshardRing: 64, RingSize: 2}
	cfg.Flow.StatusInterval = time.Minute
	var prom metrics.Snapshot
	cfg.Observe = func(ls *LiveState) func() {
		return func() { s := ls.Snapshot(); prom = s.Metrics() }
	}
	var w lastMan
	st := runFake(t, cfg, src, &w)
	if !src.Drained() {
		t.Error("the source was not drained before the shards stopped")
	}
	man := w.man.Man
	// Prometheus, as scraped.
	fams := gather(t, metrics.NewCollector(func() (metrics.Snapshot, bool) { return prom, true }))
	var promPackets, promRecords float64
	for _, f := range fams {
		if f.GetName() != "panoptes_drops_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch {
				case l.GetName() != "cause":
				case l.GetValue() == "record_ring_full":
					promRecords += m.GetCounter().GetValue()
				default:
					promPackets += m.GetCounter().GetValue()
				}
			}
		}
	}
	if st.ReshardDrops() == 0 || st.RecordDrops() == 0 {
		t.Fatalf("reshard drops %d, record drops %d: the tiny rings forced no loss, nothing was tested", st.ReshardDrops(), st.RecordDrops())
	}
	wantPackets := 12 + st.ReshardDrops()
	for _, c := range []struct {
		what             string
		packets, records uint64
	}{
		{"management record", man.Drops, man.RecordDrops},
		{"exit summary", st.PacketDrops(), st.RecordDrops()},
		{"prometheus", uint64(promPackets), uint64(promRecords)},
	} {
		if c.packets != wantPackets || c.records != st.RecordDrops() {
			t.Errorf("%s: %d packets and %d records dropped, want %d and %d", c.what, c.packets, c.records, wantPackets, st.RecordDrops())
		}
	}
	if man.PktsSeen != 3*4000 || man.PktsSeen != st.Queues[0].Packets+st.Queues[1].Packets {
		t.Errorf("management record: %d packets seen, want the %d handed over", man.PktsSeen, 3*4000)
	}
	var table strings.Builder
	st.WriteSummary(&table)
	if !strings.Contains(table.String(), "packets dropped on their way to a flow shard") {
		t.Errorf("exit summary says nothing of the reshard drops:\n%s", table.String())
	}
}

// BenchmarkLiveFake measures the live pipeline (decode, flow table, writer) over a fake
// source: the sensor's own cost per frame, without a kernel or root.
func BenchmarkLiveFake(b *testing.B) {
	frames := udpFrames(1024)
	src := capturetest.New("lo", [][][]byte{frames}, nil, max(1, b.N/len(frames)), 256, time.Now())
	b.ReportAllocs()
	b.SetBytes(int64(len(frames[0])))
	b.ResetTimer()
	var w lastMan
	runFake(b, LiveConfig{}, src, &w)
}
