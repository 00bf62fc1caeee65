package recordsvc

import (
	"context"
	"testing"
	"time"

	"panoptes/record"
)

// BenchmarkServeRecords measures records/s from Publish through the server, loopback
// TCP and the client's decoder, with one client selecting everything.
func BenchmarkServeRecords(b *testing.B) {
	b.ReportAllocs()
	srv, err := Listen("127.0.0.1:0", Config{ClientBuffer: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	var drops uint64
	s, err := Dial(context.Background(), srv.Addr().String(), "", DialConfig{Drops: func(n uint64) { drops += n }})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan uint64)
	go func() {
		var r record.Record
		var n uint64
		for s.Read(&r) == nil {
			n++
		}
		done <- n
	}()
	for srv.Clients() != 1 {
		time.Sleep(time.Millisecond)
	}
	recs := make([]record.Record, 1024)
	for i := range recs {
		recs[i] = mkrec(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srv.Publish(&recs[i%len(recs)])
		if i%4096 == 4095 {
			// Keep the queue from overflowing: this measures throughput, not drops.
			for queued(srv) > 8<<20 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	srv.Close(time.Minute)
	n := <-done
	b.StopTimer()
	if n+drops != uint64(b.N) {
		b.Fatalf("%d records received + %d dropped, want %d", n, drops, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func queued(s *Server) int {
	n := 0
	for _, c := range *s.clients.Load() {
		c.mu.Lock()
		n += len(c.pending)
		c.mu.Unlock()
	}
	return n
}
