package record

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// benchRecords returns the records of the benchmarks: the first 65,536 of the stream
// PANOPTES_BENCH_STREAM names, else synthetic ones (syntheticBodies').
func benchRecords(b *testing.B) []Record {
	if path := os.Getenv("PANOPTES_BENCH_STREAM"); path != "" {
		return readStream(b, path, 1<<16)
	}
	s := syntheticBodies(16384)
	recs := make([]Record, len(s.ends))
	start := 0
	for i, end := range s.ends {
		if err := DecodeRecord(s.buf[start:end], &recs[i], nil); err != nil {
			b.Fatal(err)
		}
		start = end
	}
	return recs
}

// benchBlock is one archive block's records in both formats.
type benchBlock struct {
	recs []Record
	row  []byte // each record length-prefixed, as index/segment.go's payload
	col  []byte
	// The two compressed as the archive compresses its blocks.
	rowZ, colZ []byte
}

// benchZstd is an encoder and a decoder configured as index/segment.go's.
func benchZstd(b *testing.B) (*zstd.Encoder, *zstd.Decoder) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.IgnoreChecksum(true))
	if err != nil {
		b.Fatal(err)
	}
	return enc, dec
}

// compress fills in the blocks' compressed forms.
func compress(b *testing.B, blocks []benchBlock) *zstd.Decoder {
	enc, dec := benchZstd(b)
	for i := range blocks {
		blocks[i].rowZ = enc.EncodeAll(blocks[i].row, nil)
		blocks[i].colZ = enc.EncodeAll(blocks[i].col, nil)
	}
	return dec
}

// benchBlocks cuts recs into blocks of 256 KiB of row-format payload, as the archive
// does.
func benchBlocks(recs []Record) []benchBlock {
	var blocks []benchBlock
	for lo := 0; lo < len(recs); {
		var row []byte
		hi := lo
		for hi < len(recs) && len(row) < 256<<10 {
			row = AppendRecord(row, &recs[hi])
			hi++
		}
		blocks = append(blocks, benchBlock{recs: recs[lo:hi], row: row, col: AppendColumns(nil, recs[lo:hi])})
		lo = hi
	}
	return blocks
}

func countRecords(blocks []benchBlock) int {
	n := 0
	for _, bl := range blocks {
		n += len(bl.recs)
	}
	return n
}

// BenchmarkDecodeColumns decodes every block into a reused slice: all rows, and with a
// keep that rejects 99.9% of them (by their key).
func BenchmarkDecodeColumns(b *testing.B) {
	blocks := benchBlocks(benchRecords(b))
	n := countRecords(blocks)
	rare := func(r *Record) bool {
		h := (uint64(r.SrcPort)<<16 ^ uint64(r.DstPort) ^ uint64(r.StartTime)) * 0x9e3779b97f4a7c15
		return h>>32%1000 == 0
	}
	for _, bc := range []struct {
		name   string
		keep   func(*Record) bool
		zstd   bool
		fields Fields
	}{{"full", nil, false, AllFields}, {"keep0.1%", rare, false, AllFields}, {"counts", nil, false, FieldsCounts},
		{"zstd+full", nil, true, AllFields}, {"zstd+keep0.1%", rare, true, AllFields}, {"zstd+counts", nil, true, FieldsCounts}} {
		b.Run(bc.name, func(b *testing.B) {
			var d ColumnDecoder
			d.SetFields(bc.fields)
			var recs []Record
			var raw []byte
			var err error
			var dec *zstd.Decoder
			if bc.zstd {
				dec = compress(b, blocks)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, bl := range blocks {
					src := bl.col
					if bc.zstd {
						// As index/parread.go's decodeBatch: decompressed, then decoded
						// while the block is in the cache.
						if raw, err = dec.DecodeAll(bl.colZ, raw[:0]); err != nil {
							b.Fatal(err)
						}
						src = raw
					}
					if recs, err = d.Decode(src, recs, bc.keep); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
			if !bc.zstd {
				b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
					for _, bl := range blocks {
						recs, _ = d.Decode(bl.col, recs, bc.keep)
					}
				}))/float64(len(blocks)), "allocs/block")
			}
		})
	}
}

// BenchmarkDecodeRowBlock decodes the same blocks in the row format, as decodeBatch in
// index/parread.go does: the comparison for BenchmarkDecodeColumns.
func BenchmarkDecodeRowBlock(b *testing.B) {
	blocks := benchBlocks(benchRecords(b))
	n := countRecords(blocks)
	for _, useZstd := range []bool{false, true} {
		name := "plain"
		if useZstd {
			name = "zstd"
		}
		b.Run(name, func(b *testing.B) {
			var dec *zstd.Decoder
			if useZstd {
				dec = compress(b, blocks)
			}
			recs := make([]Record, 1<<14)
			var raw []byte
			var err error
			b.ReportAllocs()
			for b.Loop() {
				for _, bl := range blocks {
					src := bl.row
					if useZstd {
						if raw, err = dec.DecodeAll(bl.rowZ, raw[:0]); err != nil {
							b.Fatal(err)
						}
						src = raw
					}
					i := 0
					for p := 0; p < len(src); i++ {
						l, k := binary.Uvarint(src[p:])
						if err := DecodeRecord(src[p+k:p+k+int(l)], &recs[i], nil); err != nil {
							b.Fatal(err)
						}
						p += k + int(l)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
		})
	}
}

// BenchmarkAppendColumns encodes the blocks, and reports both formats' sizes per
// record, raw and compressed with zstd at the archive's level.
func BenchmarkAppendColumns(b *testing.B) {
	blocks, n := benchAppend(b, AppendColumns)
	enc, _ := benchZstd(b)
	var rowRaw, colRaw, rowZ, colZ int
	for _, bl := range blocks {
		rowRaw += len(bl.row)
		colRaw += len(bl.col)
		rowZ += len(enc.EncodeAll(bl.row, nil))
		colZ += len(enc.EncodeAll(bl.col, nil))
	}
	b.ReportMetric(float64(rowRaw)/float64(n), "row-B/record")
	b.ReportMetric(float64(colRaw)/float64(n), "col-B/record")
	b.ReportMetric(float64(rowZ)/float64(n), "rowzstd-B/record")
	b.ReportMetric(float64(colZ)/float64(n), "colzstd-B/record")
	b.ReportMetric(float64(n)/float64(len(blocks)), "records/block")
}

// benchAppend times encode on the benchmark's blocks, per record; it returns the
// blocks and their record count.
func benchAppend(b *testing.B, encode func([]byte, []Record) []byte) ([]benchBlock, int) {
	blocks := benchBlocks(benchRecords(b))
	n := countRecords(blocks)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, bl := range blocks {
			buf = encode(buf[:0], bl.recs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
	return blocks, n
}
