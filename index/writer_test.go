package index

import (
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"time"

	"panoptes/record"
)

// settle waits until the writer's pipeline has done every operation sent so far, so
// that a test may look at the open segments' files and at what was logged.
func (w *Writer) settle() error {
	ch := make(chan error, 1)
	return w.send(frontMsg{wait: ch}, ch)
}

// benchRecords are the records BenchmarkWriter writes: the stream file named by
// PANOPTES_BENCH_RECORDS (the shared trace imported, for figures comparable with
// bench/FLEET-RESULTS.md), else 200,000 mixed synthetic records.
func benchRecords(b *testing.B) []record.Record {
	name := os.Getenv("PANOPTES_BENCH_RECORDS")
	if name == "" {
		return genMixed(200000, 15)
	}
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rd, err := record.NewReader(f, name)
	if err != nil {
		b.Fatal(err)
	}
	var recs []record.Record
	for {
		var r record.Record
		if err := rd.Read(&r); errors.Is(err, io.EOF) {
			return recs
		} else if err != nil {
			b.Fatal(err)
		}
		if r.Man != nil {
			m := *r.Man
			r.Man = &m
		}
		recs = append(recs, r)
	}
}

// BenchmarkWriter measures what an archive costs per record: the writer is what a relay
// storing records from NATS (issue #15's ingest goal, 1 M records/s) or an import spends
// most of its CPU on. One op writes every record into a new archive and closes it;
// ns/record is the figure to compare with bench/FLEET-RESULTS.md, allocs/op the
// allocations for all of them (per record: divide by records/op).
func BenchmarkWriter(b *testing.B) {
	recs := benchRecords(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		a, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		w := a.NewWriter(0)
		b.StartTimer()
		for i := range recs {
			if err := w.Write(&recs[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	b.ReportMetric(float64(len(recs)), "records/op")
}

// Write keeps a copy of each record for its front goroutine: a caller that reuses one
// record (and its Management, as record decoders do) for every Write must find in the
// archive what it wrote, not the last values. Fails if Write kept r, or shared r.Man.
func TestWriteCopiesReusedRecord(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w := a.NewWriter(time.Hour)
	w.blockBytes = 4 << 10
	want := genMixed(3000, 21)
	var r record.Record
	man := &record.Management{}
	for i := range want {
		r = want[i]
		if want[i].Man != nil {
			*man = *want[i].Man
			r.Man = man
		}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		r.SrcAddr, r.StartTime, man.PktsSeen = [16]byte{}, 0, 0 // the caller moves on at once
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if len(got) != len(want) {
		t.Fatalf("%d records read back, %d written", len(got), len(want))
	}
	bySeq := map[uint32]record.Record{}
	for _, g := range got {
		bySeq[g.Seq] = g
	}
	for _, wr := range want {
		if g := bySeq[wr.Seq]; !reflect.DeepEqual(g, wr) {
			t.Fatalf("record seq %d read back as %+v, written as %+v", wr.Seq, g, wr)
		}
	}
}
