package cluster

import (
	"net/netip"
	"testing"

	"panoptes/record"
)

func flow(src, dst string, sport, dport uint16, bytes uint64) record.Record {
	r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 6, SrcPort: sport, DstPort: dport}
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(r.SrcAddr[:], s[:])
	copy(r.DstAddr[:], d[:])
	r.Src.Pkts, r.Src.Bytes = 1, bytes
	return r
}

// The engine's rules, each a case: the default key with correction folds the reply
// into its request; a /24 key merges hosts into their network (printed as the
// network) and blanks the source port they disagree on; MaxKeys refuses a new key.
func TestClusterer(t *testing.T) {
	cases := []struct {
		name    string
		keys    []string
		correct bool
		max     int
		recs    []record.Record
		want    int // clusters
		full    bool
		check   func(t *testing.T, c *Clusterer)
	}{
		{"correction folds the reply", DefaultKeys, true, 0, []record.Record{
			flow("10.0.0.1", "10.0.0.2", 40000, 80, 100),
			flow("10.0.0.2", "10.0.0.1", 80, 40000, 900),
		}, 1, false, func(t *testing.T, c *Clusterer) {
			e := c.Entry(0)
			if e.Rec.Src.Bytes != 100 || e.Rec.Dst.Bytes != 900 {
				t.Errorf("merged bytes %d/%d, want 100/900", e.Rec.Src.Bytes, e.Rec.Dst.Bytes)
			}
		}},
		{"no correction keeps both", DefaultKeys, false, 0, []record.Record{
			flow("10.0.0.1", "10.0.0.2", 40000, 80, 100),
			flow("10.0.0.2", "10.0.0.1", 80, 40000, 900),
		}, 2, false, nil},
		{"network key", []string{"saddr/24"}, false, 0, []record.Record{
			flow("10.0.1.5", "10.0.0.2", 1000, 80, 1),
			flow("10.0.1.6", "10.0.0.2", 2000, 80, 1),
			flow("10.0.2.7", "10.0.0.2", 3000, 80, 1),
		}, 2, false, func(t *testing.T, c *Clusterer) {
			e := c.Entry(0)
			if got := netip.AddrFrom4([4]byte(e.Rec.SrcAddr[:4])); got.String() != "10.0.1.0" {
				t.Errorf("network printed as %v, want 10.0.1.0", got)
			}
			if e.Differ&IDBit("sport") == 0 || e.Differ&IDBit("dport") != 0 {
				t.Errorf("differ %b: want sport blanked, dport kept", e.Differ)
			}
		}},
		{"max keys", []string{"saddr"}, false, 1, []record.Record{
			flow("10.0.0.1", "10.0.0.9", 1, 2, 1),
			flow("10.0.0.2", "10.0.0.9", 1, 2, 1),
		}, 1, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.keys, tc.correct)
			if err != nil {
				t.Fatal(err)
			}
			if tc.max > 0 {
				c.SetMaxKeys(tc.max)
			}
			for i := range tc.recs {
				c.Add(&tc.recs[i])
			}
			if c.Len() != tc.want || c.Full() != tc.full {
				t.Fatalf("%d clusters (full %v), want %d (full %v)", c.Len(), c.Full(), tc.want, tc.full)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for _, keys := range [][]string{{"nosuchfield"}, {"sport/24"}, {"saddr/129"}} {
		if _, err := New(keys, false); err == nil {
			t.Errorf("-m %v accepted", keys)
		}
	}
}
