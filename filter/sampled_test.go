package filter

import (
	"testing"

	"panoptes/record"
)

// TestSampled: "sampled" selects records estimated from sampled packets (sFlow, any
// rate, 1 in 1 included) and "not sampled" the exact ones.
func TestSampled(t *testing.T) {
	for _, tc := range []struct {
		expr     string
		sampling uint32
		want     bool
	}{
		{"sampled", 0, false},
		{"sampled", 1, true},
		{"sampled", 4096, true},
		{"not sampled", 0, true},
		{"udp and sampled", 512, true},
		{"SAMPLED", 2, true},
	} {
		f, err := Compile(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, Sampling: tc.sampling}
		if got := f.Match(&r); got != tc.want {
			t.Errorf("%q on sampling %d: %v, want %v", tc.expr, tc.sampling, got, tc.want)
		}
	}
}
