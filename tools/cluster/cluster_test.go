package cluster

import (
	"math/rand/v2"
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

// differ is idFields' tests in one pass: on random pairs of records drawn from few
// values per field (so that fields agree as often as not), its bits are those of the
// fields whose test says they differ.
func TestDifferIsIDFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(r *record.Record) {
		r.Family = []uint8{0, 4, 6}[rng.IntN(3)]
		r.EtherType = []uint16{0x800, 0x806}[rng.IntN(2)]
		r.Proto = uint8(rng.IntN(2))
		r.SrcAddr[rng.IntN(16)] = byte(rng.IntN(2))
		r.DstAddr[rng.IntN(16)] = byte(rng.IntN(2))
		r.SrcPort, r.DstPort = uint16(rng.IntN(2)), uint16(rng.IntN(2))
		r.Src.MAC[rng.IntN(6)] = byte(rng.IntN(2))
		r.Dst.MAC[rng.IntN(6)] = byte(rng.IntN(2))
		r.Src.VLAN, r.Dst.VLAN = uint16(rng.IntN(2)), uint16(rng.IntN(2))
		r.Src.MPLS, r.Dst.MPLS = uint32(rng.IntN(2)), uint32(rng.IntN(2))
		r.SrcID = uint32(rng.IntN(2))
		r.Inf[rng.IntN(16)] = byte(rng.IntN(2))
	}
	seen := make([]int, len(idFields))
	for range 100_000 {
		var a, b record.Record
		pick(&a)
		pick(&b)
		if rng.IntN(4) == 0 {
			b = a
			pick(&b)
		}
		var want uint32
		for j, f := range idFields {
			if !f.same(&a, &b) {
				want |= 1 << j
				seen[j]++
			}
		}
		if got := differ(&a, &b); got != want {
			t.Fatalf("differ(%+v, %+v) = %b, want %b", a, b, got, want)
		}
	}
	for j, n := range seen {
		if n == 0 || n == 100_000 {
			t.Errorf("field %s differed in %d of 100,000 pairs: not tested both ways", idFields[j].name, n)
		}
	}
}
