package tools

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"panoptes/record"
	"panoptes/tools/cluster"
)

// benchRecords returns n TCP records spread over flows 5-tuples, a quarter of them in
// the reverse direction, as an archive of status records looks to cluster.
func benchRecords(n, flows int) []record.Record {
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]record.Record, n)
	for i := range recs {
		f := rng.IntN(flows)
		r := mkflow(fmt.Sprintf("10.%d.%d.1", f>>8&255, f&255), uint16(30000+f%30000), "192.0.2.80", 443, 6, at(int64(i)), at(int64(i)+5))
		r.Src = record.Side{Pkts: 10, Bytes: 1000, TTL: 64}
		r.Dst = record.Side{Pkts: 8, Bytes: 9000, TTL: 60}
		if rng.IntN(4) == 0 {
			r.Reverse()
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkCluster measures merging records into clusters, the per-record work of
// `panoptes cluster` over a day of status records. The default 5-tuple key with
// direction correction is the common case; a record that joins an existing cluster
// must not allocate, so allocs/op should stay near flows/records.
func BenchmarkCluster(b *testing.B) {
	const n = 100_000
	for _, bc := range []struct {
		name  string
		keys  []string
		flows int
	}{
		{"5tuple/flows=1k", cluster.DefaultKeys, 1000},
		{"5tuple/flows=50k", cluster.DefaultKeys, 50_000},
		{"saddr/flows=50k", []string{"saddr"}, 50_000},
	} {
		recs := benchRecords(n, bc.flows)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cl, err := cluster.New(bc.keys, len(bc.keys) == len(cluster.DefaultKeys))
				if err != nil {
					b.Fatal(err)
				}
				for i := range recs {
					cl.Add(&recs[i])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}

// BenchmarkPrint measures formatting one record as a text line with the default
// columns: read's output path, which bounds how fast `panoptes read` scans an archive.
func BenchmarkPrint(b *testing.B) {
	recs := fixture()
	f, _, _ := parseFields(nil)
	p := NewPrinter(discard{}, Output{Fields: f, Format: record.DefaultFormat, Header: -1})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Print(&recs[1+i%(len(recs)-1)])
	}
}
