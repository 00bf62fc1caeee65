package fleet

import (
	"context"
	"testing"
	"time"

	"panoptes/index"
	"panoptes/internal/binarytest"
	"panoptes/record"
)

// archiveOf writes n records of two source ids into a new archive.
func archiveOf(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	a, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := a.NewWriter(time.Minute)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range n {
		r := record.Record{Kind: record.KindFlow, SrcID: uint32(i % 2), Seq: uint32(i), Family: 4, Proto: 17, DstPort: 53,
			StartTime: base + int64(i)*int64(10*time.Millisecond), Src: record.Side{Pkts: 1, Bytes: 100}}
		r.LastTime = r.StartTime + int64(time.Second)
		r.SrcAddr[0], r.SrcAddr[3] = 10, byte(i)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestFlowControl: with a window of one small batch the answer takes many batches,
// each acknowledged before the next; every record arrives once, in start-time order,
// from both sites; a query stopped early ends at the sites too (they answer the next).
func TestFlowControl(t *testing.T) {
	broker := binarytest.NATSServer(t)
	const n = 5000
	for _, site := range []string{"a", "b"} {
		tg, err := CheckServiceURL("nats://" + broker + "/" + site)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Serve(tg, archiveOf(t, n), ServiceOptions{MaxQueries: 1, ClientIdle: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	tg, err := ParseURL("nats://"+broker+"/*", "")
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Kind: KindRecords, Filter: "udp", Window: 1, Batch: 4096}
	var last int64
	got := map[string]int{}
	res, err := Query(context.Background(), tg, req, QueryOptions{Timeout: 5 * time.Second}, func(site string, r *record.Record) bool {
		if r.StartTime < last {
			t.Fatalf("record of %d after one of %d", r.StartTime, last)
		}
		last = r.StartTime
		got[site]++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != n || got["b"] != n || len(res.Failed()) > 0 {
		t.Errorf("got %v, failed %v; want %d records of each site", got, res.Failed(), n)
	}
	for range 3 { // MaxQueries 1: a stopped query that held its site would block the next
		seen := 0
		start := time.Now()
		res, err = Query(context.Background(), tg, req, QueryOptions{Timeout: 5 * time.Second}, func(string, *record.Record) bool {
			seen++
			return seen < 10
		})
		if err != nil || seen != 10 || len(res.Failed()) > 0 {
			t.Fatalf("stopped query: %d records, %v, failed %v", seen, err, res.Failed())
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("a query stopped after 10 records took %v", d)
		}
	}
}
