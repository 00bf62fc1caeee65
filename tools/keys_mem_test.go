package tools

import (
	"bytes"
	"io"
	"testing"

	"panoptes/record"
	"panoptes/tools/cluster"
)

// distinctKeys writes n records, each its own 5-tuple, within one second.
func distinctKeys(t *testing.T, n int) string {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = mkflow("10.0.0.1", uint16(i), "10.0.0.2", uint16(i>>16), 17, at(int64(i%1000)), at(int64(i%1000)))
		recs[i].Src.Pkts, recs[i].Src.Bytes = 1, 100
	}
	return writeStream(t, recs)
}

// TestKeysMemoryPerKey holds 100000 distinct keys in cluster and bins and compares the
// heap they needed with what their --max-keys bound and error message say a key costs.
// Before the fix: cluster used 515 bytes a key where it said 488 (the key map's growth
// was not counted).
func TestKeysMemoryPerKey(t *testing.T) {
	const n = 100_000
	path := distinctKeys(t, n)
	for _, tc := range []struct {
		name string
		main func([]string, io.Reader, io.Writer, io.Writer) error
		args []string
		per  int64
	}{
		{"cluster", ClusterMain, []string{"-r", path, "-w", "-"}, cluster.EntrySize},
		{"bins", BinsMain, []string{"-r", path, "-M", "time", "1h", "-w", "-"}, binEntrySize},
	} {
		var err error
		var stderr bytes.Buffer
		peak := peakHeap(func() { err = tc.main(tc.args, bytes.NewReader(nil), io.Discard, &stderr) })
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes a key (bound assumes %d)", tc.name, peak/n, tc.per)
		if peak/n > tc.per {
			t.Errorf("%s used %d bytes a key, its bound and message assume %d", tc.name, peak/n, tc.per)
		}
	}
}
