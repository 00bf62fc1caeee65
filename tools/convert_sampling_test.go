package tools

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestConvertKeepsSampling: a record estimated from samples (sFlow, sampling 1 in 512)
// keeps its sampling field through read -c , and convert, so that converted totals
// still read as estimates (before convert knew the column, it came back 0).
func TestConvertKeepsSampling(t *testing.T) {
	recs := fixture()[:2]
	recs[0].Sampling = 512
	in := writeStream(t, recs)
	want, err := runTool(t, "read", "-r", in, "-u", "-c", ",", "-s", allFieldNames())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(want, ",512,") {
		t.Fatalf("read does not print the sampling rate:\n%s", want)
	}
	csvPath := filepath.Join(t.TempDir(), "in.csv")
	writeFile(t, csvPath, want)
	out := filepath.Join(t.TempDir(), "out.pnp")
	if _, err := runTool(t, "convert", "-r", csvPath, "-w", out); err != nil {
		t.Fatal(err)
	}
	got, err := runTool(t, "read", "-r", out, "-u", "-c", ",", "-s", allFieldNames())
	if err != nil || got != want {
		t.Errorf("round trip differs (%v):\n%s\n--- want\n%s", err, got, want)
	}
}
