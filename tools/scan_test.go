package tools

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"panoptes/record"
)

// manyRecords is a stream long enough for several of scanDecoded's batches.
func manyRecords(n int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = mkflow(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), uint16(1024+i), "192.0.2.1", 80, 6, int64(i)*1e6, int64(i)*1e6+5e5)
		recs[i].Src.Pkts, recs[i].Src.Bytes = uint64(i+1), uint64(60*(i+1))
	}
	return recs
}

// TestScanDecodedAgreesWithSequential: the parallel decoding path hands fn the same
// records in the same order as one reader decoding alone, stops when fn says so, and
// ends a cut stream with the records before the cut and the truncation error.
func TestScanDecodedAgreesWithSequential(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the parallel path runs only with GOMAXPROCS > 1")
	}
	recs := manyRecords(3000)
	path := writeStream(t, recs)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	collect := func(data []byte, limit int, parallel bool) ([]string, error) {
		rd, err := record.NewReader(bytes.NewReader(data), "s")
		if err != nil {
			return nil, err
		}
		var got []string
		fn := func(r *record.Record) bool {
			got = append(got, fmt.Sprintf("%v %d %d %d", r.SrcAddr, r.SrcPort, r.Src.Pkts, r.StartTime))
			return limit == 0 || len(got) < limit
		}
		if parallel {
			_, err = scanDecoded(rd, fn)
		} else {
			var r record.Record
			for {
				if err = rd.Read(&r); err != nil {
					break
				}
				if !fn(&r) {
					err = nil
					break
				}
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		return got, err
	}
	before := runtime.NumGoroutine()
	for _, tc := range []struct {
		name  string
		data  []byte
		limit int
	}{
		{"whole", full, 0},
		{"stop at 700", full, 700},
		{"stop at 1", full, 1},
		{"cut in the middle", full[:len(full)*2/3], 0},
		{"cut in the first batch", full[:300], 0},
	} {
		want, werr := collect(tc.data, tc.limit, false)
		got, gerr := collect(tc.data, tc.limit, true)
		if len(got) != len(want) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %d records, want %d (or different records)", tc.name, len(got), len(want))
		}
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Errorf("%s: error %v, want %v", tc.name, gerr, werr)
		}
	}
	// The reader and decoders end with the scan.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running after the scans (%d before)", n, before)
	}
}
