package record

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// BenchmarkReadStream reads a whole record stream (PANOPTES_BENCH_STREAM, e.g. the
// shared trace imported by bench/cluster.sh); it is skipped without one.
func BenchmarkReadStream(b *testing.B) {
	path := os.Getenv("PANOPTES_BENCH_STREAM")
	if path == "" {
		b.Skip("set PANOPTES_BENCH_STREAM to a record stream file")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var n int
	for b.Loop() {
		rd, err := NewReader(bytes.NewReader(data), path)
		if err != nil {
			b.Fatal(err)
		}
		var r Record
		n = 0
		for {
			if err := rd.Read(&r); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
}

// benchBodies is a set of encoded record bodies (length prefixes removed), laid out one
// after another as a reader's buffer would hold them.
type benchBodies struct {
	buf  []byte
	ends []int
}

func (s *benchBodies) add(r *Record) {
	enc := AppendRecord(nil, r)
	n, k := uvarintAt(enc)
	s.buf = append(s.buf, enc[k:k+n]...)
	s.ends = append(s.ends, len(s.buf))
}

// syntheticBodies encodes n records with the fields a sensor's TCP and UDP flow records
// typically carry: addresses, ports, packet and byte counts of both sides, TCP state,
// flags, sequence numbers and windows, MACs and inter-packet statistics.
func syntheticBodies(n int) *benchBodies {
	rng := rand.New(rand.NewPCG(11, 12))
	var s benchBodies
	for i := range n {
		r := Record{Kind: KindFlow, Cause: CauseClose, Flags: FlagEthernet, SrcID: 3, Seq: uint32(i + 1),
			StartTime: 1_700_000_000_000_000_000 + int64(i)*1_000_000, Family: 4, Proto: 6,
			EtherType: 0x0800, SrcPort: uint16(1024 + rng.IntN(60000)), DstPort: 443, Trans: 1}
		r.LastTime = r.StartTime + int64(rng.IntN(5e9))
		r.SrcAddr = [16]byte{10, 0, byte(rng.IntN(256)), byte(rng.IntN(256))}
		r.DstAddr = [16]byte{192, 168, 1, byte(rng.IntN(256))}
		if rng.IntN(3) == 0 {
			r.Proto, r.DstPort = 17, 53
		}
		for k, side := range []*Side{&r.Src, &r.Dst} {
			side.Pkts = uint64(1 + rng.IntN(40))
			side.Bytes = side.Pkts * uint64(60+rng.IntN(1400))
			side.AppBytes = side.Bytes / 2
			side.MinSize, side.MaxSize = 60, uint32(60+rng.IntN(1454))
			side.TTL = uint8(64 - k)
			side.MAC = [6]byte{2, 0, 0, 0, byte(k), byte(rng.IntN(256))}
			if side.Pkts > 1 {
				side.IntN = side.Pkts - 1
				side.IntMean, side.IntM2 = rng.Float64()*1e8, rng.Float64()*1e15
			}
			if r.Proto == 6 {
				side.TCPFlags = uint8(0x12 + k)
				side.BaseSeq = rng.Uint32()
				side.Win = uint32(rng.IntN(65536))
			}
		}
		if r.Proto == 6 {
			r.TCPState = TCPSawSyn | TCPSawSynAck | TCPEstablished | TCPClosed
			r.SynAck, r.AckDat = int64(rng.IntN(1e6)), int64(rng.IntN(1e6))
		}
		s.add(&r)
	}
	return &s
}

// streamBodies re-encodes the first n records of the stream at path (a few MB at most,
// so that the set stays in cache as a reader's buffer does).
func streamBodies(b *testing.B, path string, n int) *benchBodies {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f, path)
	if err != nil {
		b.Fatal(err)
	}
	var s benchBodies
	var r Record
	for len(s.ends) < n {
		if err := rd.Read(&r); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		s.add(&r)
	}
	return &s
}

// BenchmarkDecodeRecord decodes a set of record bodies: synthetic ones always, and
// with PANOPTES_BENCH_STREAM set, records read from that stream.
func BenchmarkDecodeRecord(b *testing.B) {
	run := func(b *testing.B, s *benchBodies) {
		b.ReportAllocs()
		b.SetBytes(int64(len(s.buf)))
		var r Record
		for b.Loop() {
			start := 0
			for _, end := range s.ends {
				if err := DecodeRecord(s.buf[start:end], &r, nil); err != nil {
					b.Fatal(err)
				}
				start = end
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(s.ends)), "ns/record")
	}
	b.Run("synthetic", func(b *testing.B) { run(b, syntheticBodies(4096)) })
	b.Run("stream", func(b *testing.B) {
		path := os.Getenv("PANOPTES_BENCH_STREAM")
		if path == "" {
			b.Skip("set PANOPTES_BENCH_STREAM to a record stream file")
		}
		run(b, streamBodies(b, path, 16384))
	})
}
