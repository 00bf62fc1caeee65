package top

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

// sec is a second of record time from an arbitrary base.
func sec(s float64) int64 { return 1_700_000_000e9 + int64(s*1e9) }

func flow(src string, sport uint16, dst string, dport uint16, start, end float64, spkts, sbytes, dpkts, dbytes uint64) record.Record {
	r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 6, SrcPort: sport, DstPort: dport,
		StartTime: sec(start), LastTime: sec(end), Trans: 1}
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(r.SrcAddr[:], s[:])
	copy(r.DstAddr[:], d[:])
	r.Src = record.Side{Pkts: spkts, Bytes: sbytes}
	r.Dst = record.Side{Pkts: dpkts, Bytes: dbytes}
	return r
}

// testViews key like cluster does, in miniature: the 5-tuple (with correction) and
// the source address.
func testViews() []ViewSpec {
	col := func(n string) *record.Field { f, _ := record.Lookup(n); return f }
	return []ViewSpec{
		{Name: "flows", Correct: true, Columns: []*record.Field{col("saddr"), col("sport"), col("daddr"), col("dport")},
			Key: func(b []byte, r *record.Record) []byte {
				b = append(append(append(b, r.SrcAddr[:4]...), r.DstAddr[:4]...), r.Proto)
				return binary.BigEndian.AppendUint32(b, uint32(r.SrcPort)<<16|uint32(r.DstPort))
			}},
		{Name: "hosts", Columns: []*record.Field{col("saddr")},
			Key: func(b []byte, r *record.Record) []byte { return append(b, r.SrcAddr[:4]...) }},
	}
}

// rows renders a view's top rows as "cells=value" words.
func rows(m *Model, v int, by Metric, n int) string {
	var out []string
	for _, r := range m.Top(v, by, n) {
		out = append(out, fmt.Sprintf("%s=%g", strings.Join(r.Cells, " "), r.Value(by)))
	}
	return strings.Join(out, " | ")
}

func TestModel(t *testing.T) {
	a := flow("10.0.0.1", 1000, "10.0.0.9", 80, 0, 2, 10, 1000, 10, 9000)
	aRev := flow("10.0.0.9", 80, "10.0.0.1", 1000, 2, 4, 5, 500, 1, 100) // the other half of a
	b := flow("10.0.0.2", 2000, "10.0.0.9", 80, 0, 1, 100, 3000, 0, 0)
	c := flow("10.0.0.3", 3000, "10.0.0.9", 443, 1, 9, 1, 200, 1, 200)
	tests := []struct {
		name   string
		cfg    Config
		recs   []record.Record
		view   int
		by     Metric
		n      int
		want   string
		keys   int
		evict  uint64
		late   uint64
		advTo  float64 // Advance to this time before asking (window tests)
		wantAf string  // rows after the Advance
	}{
		{name: "correction merges both halves", recs: []record.Record{a, aRev, b},
			by: Bytes, n: 5, keys: 2,
			want: "10.0.0.1 1000 10.0.0.9 80=10600 | 10.0.0.2 2000 10.0.0.9 80=3000"},
		{name: "by pkts", recs: []record.Record{a, aRev, b, c},
			by: Pkts, n: 5, keys: 3,
			want: "10.0.0.2 2000 10.0.0.9 80=100 | 10.0.0.1 1000 10.0.0.9 80=26 | 10.0.0.3 3000 10.0.0.9 443=2"},
		{name: "sbytes counts the corrected direction", recs: []record.Record{a, aRev},
			by: SBytes, n: 5, keys: 1, want: "10.0.0.1 1000 10.0.0.9 80=1100"},
		{name: "trans", recs: []record.Record{a, aRev, b},
			by: Trans, n: 5, keys: 2, want: "10.0.0.1 1000 10.0.0.9 80=2 | 10.0.0.2 2000 10.0.0.9 80=1"},
		{name: "rate over the key's span", recs: []record.Record{a, aRev, b},
			by: Rate, n: 5, keys: 2,
			want: "10.0.0.2 2000 10.0.0.9 80=100 | 10.0.0.1 1000 10.0.0.9 80=6.5"},
		{name: "load in bits", recs: []record.Record{b}, by: Load, n: 5, keys: 1,
			want: "10.0.0.2 2000 10.0.0.9 80=24000"},
		{name: "top n cuts", recs: []record.Record{a, b, c}, by: Bytes, n: 1, keys: 3,
			want: "10.0.0.1 1000 10.0.0.9 80=10000"},
		{name: "ties by key text", recs: []record.Record{c, flow("10.0.0.4", 1, "10.0.0.9", 2, 0, 1, 1, 200, 1, 200)},
			by: Bytes, n: 5, keys: 2,
			want: "10.0.0.3 3000 10.0.0.9 443=400 | 10.0.0.4 1 10.0.0.9 2=400"},
		{name: "hosts view", recs: []record.Record{a, aRev, b, flow("10.0.0.1", 1001, "10.0.0.8", 22, 0, 1, 1, 60, 0, 0)},
			view: 1, by: Bytes, n: 5, keys: 3,
			want: "10.0.0.1=10060 | 10.0.0.2=3000 | 10.0.0.9=600"},
		{name: "management records ignored", recs: []record.Record{{Kind: record.KindMan, Man: &record.Management{}}, b},
			by: Bytes, n: 5, keys: 1, want: "10.0.0.2 2000 10.0.0.9 80=3000"},
		{name: "eviction drops the smallest", cfg: Config{MaxKeys: 2},
			recs: []record.Record{a, c, b}, by: Bytes, n: 5, keys: 2, evict: 1,
			want: "10.0.0.1 1000 10.0.0.9 80=10000 | 10.0.0.2 2000 10.0.0.9 80=3000"},
		{name: "eviction by the sort metric", cfg: Config{MaxKeys: 2, Sort: Pkts},
			recs: []record.Record{b, a, c}, by: Pkts, n: 5, keys: 2, evict: 1,
			want: "10.0.0.2 2000 10.0.0.9 80=100 | 10.0.0.3 3000 10.0.0.9 443=2"},
		{name: "window keeps recent records", cfg: Config{Window: 10 * time.Second},
			recs: []record.Record{
				flow("10.0.0.1", 1, "10.0.0.9", 80, 0, 1, 1, 100, 0, 0),
				flow("10.0.0.2", 1, "10.0.0.9", 80, 0, 5, 1, 200, 0, 0),
				flow("10.0.0.1", 1, "10.0.0.9", 80, 10, 14, 1, 100, 0, 0), // a's first record leaves
			},
			by: Bytes, n: 5, keys: 2,
			want:  "10.0.0.2 1 10.0.0.9 80=200 | 10.0.0.1 1 10.0.0.9 80=100",
			advTo: 16, wantAf: "10.0.0.1 1 10.0.0.9 80=100"},
		{name: "window: late records dropped", cfg: Config{Window: 10 * time.Second},
			recs: []record.Record{
				flow("10.0.0.1", 1, "10.0.0.9", 80, 20, 30, 1, 100, 0, 0),
				flow("10.0.0.2", 1, "10.0.0.9", 80, 0, 5, 1, 200, 0, 0),
			},
			by: Bytes, n: 5, keys: 1, late: 1, want: "10.0.0.1 1 10.0.0.9 80=100",
			advTo: 100, wantAf: ""},
		{name: "window rate is over the window", cfg: Config{Window: 10 * time.Second},
			recs: []record.Record{flow("10.0.0.1", 1, "10.0.0.9", 80, 0, 1, 50, 100, 0, 0)},
			by:   Rate, n: 5, keys: 1, want: "10.0.0.1 1 10.0.0.9 80=5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Views = testViews()
			m := NewModel(cfg)
			for i := range tt.recs {
				m.Add(&tt.recs[i])
			}
			if got := rows(m, tt.view, tt.by, tt.n); got != tt.want {
				t.Errorf("rows:\n got %s\nwant %s", got, tt.want)
			}
			st := m.Stats(tt.view)
			if st.Keys != tt.keys || st.Evicted != tt.evict || st.Late != tt.late {
				t.Errorf("keys %d evicted %d late %d, want %d %d %d", st.Keys, st.Evicted, st.Late, tt.keys, tt.evict, tt.late)
			}
			if tt.advTo != 0 {
				m.Advance(sec(tt.advTo))
				if got := rows(m, tt.view, tt.by, tt.n); got != tt.wantAf {
					t.Errorf("rows after advancing to %gs:\n got %s\nwant %s", tt.advTo, got, tt.wantAf)
				}
			}
		})
	}
}

// TestWindowMatchesRecount slides a window over many records and checks, at every
// step, that the windowed totals equal a recount of the records that ended within
// the window (slot-aligned, as the window moves by tenths).
func TestWindowMatchesRecount(t *testing.T) {
	const window = 10 * time.Second
	m := NewModel(Config{Views: testViews(), Window: window})
	var recs []record.Record
	for i := range 400 {
		host := fmt.Sprintf("10.0.%d.%d", i%3, i%7)
		end := float64(i) * 0.37
		r := flow(host, uint16(i%5), "10.9.9.9", 80, end-1, end, uint64(i%4+1), uint64(100*(i%9+1)), 0, 0)
		recs = append(recs, r)
		m.Add(&recs[len(recs)-1])
		slotNs := int64(window) / windowSlots
		cur := r.LastTime / slotNs
		want := map[string]uint64{}
		for _, o := range recs {
			if o.LastTime/slotNs > cur-windowSlots {
				want[netip.AddrFrom4([4]byte(o.SrcAddr[:4])).String()] += o.Src.Bytes
			}
		}
		got := map[string]uint64{}
		for _, row := range m.Top(1, Bytes, 100) {
			got[row.Cells[0]] = row.Counts.SBytes
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after record %d: window totals %v, recount %v", i, got, want)
		}
	}
}

func TestReset(t *testing.T) {
	m := NewModel(Config{Views: testViews(), Window: time.Second})
	r := flow("10.0.0.1", 1, "10.0.0.2", 2, 0, 1, 1, 1, 1, 1)
	m.Add(&r)
	m.Reset()
	if st := m.Stats(0); st.Keys != 0 || st.Matched != 0 || len(m.Top(0, Bytes, 10)) != 0 {
		t.Fatalf("after Reset: %+v", st)
	}
	m.Add(&r)
	if got := rows(m, 0, Bytes, 5); got != "10.0.0.1 1 10.0.0.2 2=2" {
		t.Fatalf("after Reset and Add: %s", got)
	}
}

func TestParseMetric(t *testing.T) {
	for i, n := range metricNames {
		if m, err := ParseMetric(strings.ToUpper(n)); err != nil || m != Metric(i) {
			t.Errorf("ParseMetric(%q) = %v, %v", n, m, err)
		}
	}
	if _, err := ParseMetric("bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("ParseMetric(bogus) error %v", err)
	}
}

func TestHumanFloat(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{{0, "0"}, {12.34, "12.3"}, {99999, "99999"}, {100_000, "100K"}, {1_234_567, "1.2M"}, {987e9, "987G"}, {5e18, "5000P"}} {
		if got := humanFloat(tt.v); got != tt.want {
			t.Errorf("humanFloat(%g) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestFit(t *testing.T) {
	for _, tt := range []struct {
		s    string
		w    int
		want string
	}{{"10.0.0.1", 10, "10.0.0.1"}, {"2001:db8::1234:5678", 11, "2001:…:5678"}, {"abcdef", 2, "ab"}} {
		if got := fit(tt.s, tt.w); got != tt.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tt.s, tt.w, got, tt.want)
		}
	}
}

// BenchmarkAdd measures aggregating records into both views (the reading
// goroutine's work per record) with the toy keys; tools.BenchmarkTop measures it with
// cluster's keys.
func BenchmarkAdd(b *testing.B) {
	recs := make([]record.Record, 100_000)
	for i := range recs {
		recs[i] = flow(fmt.Sprintf("10.%d.%d.1", i%50>>8, i%5000&255), uint16(i%5000), "10.9.9.9", 443, float64(i)/1000, float64(i)/1000+1, 10, 1000, 8, 9000)
	}
	for _, window := range []time.Duration{0, 10 * time.Second} {
		b.Run(fmt.Sprintf("window=%v", window), func(b *testing.B) {
			m := NewModel(Config{Views: testViews(), Window: window})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// Time goes on across passes, so the window keeps sliding.
				r := recs[i%len(recs)]
				shift := int64(i/len(recs)) * 100e9
				r.StartTime += shift
				r.LastTime += shift
				m.Add(&r)
			}
		})
	}
}
