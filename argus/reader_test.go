package argus

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"os"
	"regexp"
	"testing"

	"panoptes/record"
)

// The test files are argus 3.0.8's own records (argus -A -J -m -Z -U 16 -r CAPTURE -w)
// of two captures of the shared corpus.
func readAll(t testing.TB, b []byte) ([]record.Record, *Reader, error) {
	rd, err := NewReader(bytes.NewReader(b), "test.argus")
	if err != nil {
		return nil, nil, err
	}
	var out []record.Record
	for {
		var r record.Record
		if err := rd.Read(&r); err != nil {
			if err == io.EOF {
				return out, rd, nil
			}
			return out, rd, err
		}
		out = append(out, r)
	}
}

func TestReadCurl(t *testing.T) {
	b, err := os.ReadFile("testdata/443-curl.argus")
	if err != nil {
		t.Fatal(err)
	}
	recs, rd, err := readAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Kind != record.KindMan || recs[2].Kind != record.KindMan {
		t.Fatalf("want MAR, FAR, MAR; got %d records", len(recs))
	}
	r := recs[1]
	// ra -r 443-curl.argus -n -s saddr sport daddr dport spkts dpkts sbytes dbytes state
	// prints 192.168.1.13 55523 178.62.197.130 443 51 58 4260 69722 RST.
	if got := r.Addr(true).String() + " " + r.Addr(false).String(); got != "192.168.1.13 178.62.197.130" {
		t.Errorf("addresses %s", got)
	}
	if r.SrcPort != 55523 || r.DstPort != 443 || r.Src.Pkts != 51 || r.Dst.Pkts != 58 || r.Src.Bytes != 4260 || r.Dst.Bytes != 69722 {
		t.Errorf("ports or counters: %+v", r)
	}
	if r.State() != "RST" || r.Dir() != "->" {
		t.Errorf("state %s dir %s", r.State(), r.Dir())
	}
	if rd.SkippedSummary() != "2 user-data DSRs" {
		t.Errorf("skipped: %q", rd.SkippedSummary())
	}
}

// TestJitterFold checks the pooled statistics of an active and an idle object: the
// mean and variance of the union of the two samples.
func TestJitterFold(t *testing.T) {
	var s record.Side
	// {1, 2, 3} (mean 2, population stdev sqrt(2/3)) and {10, 20} (mean 15, stdev 5), in µs.
	fold(&s, stat{n: 3, mean: 2, stdev: math.Sqrt(2.0 / 3)}, stat{n: 2, mean: 15, stdev: 5})
	xs := []float64{1, 2, 3, 10, 20}
	var m, v float64
	for _, x := range xs {
		m += x / 5
	}
	for _, x := range xs {
		v += (x - m) * (x - m) / 5
	}
	if s.IntN != 5 || math.Abs(s.IntPkt()-m/1e3) > 1e-12 || math.Abs(s.Jitter()-math.Sqrt(v)/1e3) > 1e-12 {
		t.Errorf("n %d intpkt %v jitter %v, want %v %v", s.IntN, s.IntPkt(), s.Jitter(), m/1e3, math.Sqrt(v)/1e3)
	}
}

func TestSniffGzip(t *testing.T) {
	b, _ := os.ReadFile("testdata/5-pings.argus")
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	w.Close()
	in, ok, err := Sniff(&z, "x.argus.gz")
	if err != nil || !ok {
		t.Fatalf("sniff: %v %v", ok, err)
	}
	got, _ := io.ReadAll(in)
	if !bytes.Equal(got, b) {
		t.Fatal("gunzipped content differs")
	}
	if _, ok, _ := Sniff(bytes.NewReader([]byte("PNPS....")), "x"); ok {
		t.Fatal("a Panoptes stream taken for Argus")
	}
}

// TestTruncated: a file cut anywhere keeps the records before the cut and ends with
// one error that names the file and the offset of the record cut.
func TestTruncated(t *testing.T) {
	b, _ := os.ReadFile("testdata/443-curl.argus")
	full, _, _ := readAll(t, b)
	for cut := 12; cut < len(b); cut += 7 {
		recs, _, err := readAll(t, b[:cut])
		if err == nil {
			// A cut at a record boundary is a shorter, valid file.
			continue
		}
		if !errors.Is(err, ErrDamaged) || !errors.Is(err, record.ErrTruncated) {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if !regexp.MustCompile(`^test\.argus: .* at byte \d+`).MatchString(err.Error()) {
			t.Fatalf("cut %d: error %q does not name file and offset", cut, err)
		}
		for i := range recs {
			if recs[i].Label != full[i].Label || recs[i].Src != full[i].Src || recs[i].SrcAddr != full[i].SrcAddr {
				t.Fatalf("cut %d: record %d differs from the whole file's", cut, i)
			}
		}
	}
}

var offsetRe = regexp.MustCompile(`at byte (\d+)`)

// FuzzArgusReader: any input either is refused as not Argus, or reads to io.EOF or to
// one error naming an offset inside the input; the records read before an error are
// the records read from the input cut at that offset (a corruption never changes the
// records before it).
func FuzzArgusReader(f *testing.F) {
	for _, n := range []string{"testdata/443-curl.argus", "testdata/5-pings.argus"} {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, _, err := readAll(t, b)
		if recs == nil && err != nil && errors.Is(err, ErrNotArgus) {
			return
		}
		if err == nil {
			return
		}
		m := offsetRe.FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("error names no offset: %v", err)
		}
		var off int
		for _, c := range m[1] {
			off = off*10 + int(c-'0')
		}
		if off > len(b) {
			t.Fatalf("offset %d past the input's %d bytes: %v", off, len(b), err)
		}
		prefix, _, perr := readAll(t, b[:off])
		if perr != nil && !errors.Is(perr, ErrNotArgus) {
			t.Fatalf("the clean prefix (%d bytes) fails: %v", off, perr)
		}
		if len(prefix) != len(recs) {
			t.Fatalf("%d records before the error, %d from the prefix", len(recs), len(prefix))
		}
		for i := range recs {
			if recs[i].SrcAddr != prefix[i].SrcAddr || recs[i].Src != prefix[i].Src || recs[i].StartTime != prefix[i].StartTime {
				t.Fatalf("record %d differs from the prefix's", i)
			}
		}
	})
}

// BenchmarkRead is the per-record cost of decoding Argus records into a reused record:
// it bounds how fast `panoptes read` can go through an Argus archive. It must not
// allocate per record.
func BenchmarkRead(b *testing.B) {
	raw, err := os.ReadFile("testdata/443-curl.argus")
	if err != nil {
		b.Fatal(err)
	}
	// Repeat the file's flow record so that the reader sees a long stream.
	far := raw[MARLen : len(raw)-MARLen]
	var buf bytes.Buffer
	buf.Write(raw[:MARLen])
	for range 10000 {
		buf.Write(far)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var r record.Record
	for b.Loop() {
		rd, err := NewReader(bytes.NewReader(data), "bench")
		if err != nil {
			b.Fatal(err)
		}
		for {
			if err := rd.Read(&r); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

func TestReadAllocs(t *testing.T) {
	raw, _ := os.ReadFile("testdata/443-curl.argus")
	far := raw[MARLen : len(raw)-MARLen]
	data := append(append([]byte{}, raw[:MARLen]...), bytes.Repeat(far, 200)...)
	rd, err := NewReader(bytes.NewReader(data), "allocs")
	if err != nil {
		t.Fatal(err)
	}
	var r record.Record
	rd.Read(&r) // the MAR
	if n := testing.AllocsPerRun(100, func() {
		if err := rd.Read(&r); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per record", n)
	}
}
