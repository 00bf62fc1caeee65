package index

import (
	"errors"
	"io"
	"os"
	"testing"

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
