package record

import (
	"bytes"
	"testing"
)

// TestLabelFieldsRoundTrip: country codes, AS numbers and label text survive the stream
// format, and a reader reuses an unchanged label without allocating.
func TestLabelFieldsRoundTrip(t *testing.T) {
	in := Record{Kind: KindFlow, Family: 4, Proto: 6, SrcCountry: [2]byte{'U', 'S'}, DstCountry: [2]byte{'D', 'E'},
		SrcAS: 15169, DstAS: 3320, Label: "web;google"}
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := w.Write(&in); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	rd, err := NewReader(&buf, "buf")
	if err != nil {
		t.Fatal(err)
	}
	var out Record
	if err := rd.Read(&out); err != nil {
		t.Fatal(err)
	}
	if out.SrcCountry != in.SrcCountry || out.DstCountry != in.DstCountry || out.SrcAS != in.SrcAS ||
		out.DstAS != in.DstAS || out.Label != in.Label {
		t.Fatalf("got %+v", out)
	}
	if n := testing.AllocsPerRun(1, func() {
		if err := rd.Read(&out); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("reading a record with the same label allocates %v times", n)
	}
}

func TestLabelReverseAndMerge(t *testing.T) {
	r := Record{SrcCountry: [2]byte{'U', 'S'}, SrcAS: 1, Label: "a;b"}
	r.Reverse()
	if r.DstCountry != [2]byte{'U', 'S'} || r.DstAS != 1 || r.SrcAS != 0 {
		t.Errorf("Reverse did not swap labels: %+v", r)
	}
	for _, c := range []struct{ a, b, want string }{
		{"a;b", "b;c", "a;b;c"}, {"", "x", "x"}, {"x", "", "x"}, {"x", "x", "x"}, {"a", "a;;b", "a;b"},
	} {
		r := Record{Label: c.a}
		r.Merge(&Record{Label: c.b})
		if r.Label != c.want {
			t.Errorf("merge %q + %q = %q, want %q", c.a, c.b, r.Label, c.want)
		}
	}
}

func TestLabelFieldsPrint(t *testing.T) {
	r := Record{SrcCountry: [2]byte{'U', 'S'}, DstAS: 64500, Label: "x"}
	for name, want := range map[string]string{"sco": "US", "dco": "", "sas": "0", "das": "64500", "label": "x"} {
		f, ok := Lookup(name)
		if !ok {
			t.Fatalf("no field %s", name)
		}
		if got := string(f.Text(nil, &r, &DefaultFormat)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestLongLabelIsCut(t *testing.T) {
	r := Record{Kind: KindFlow, Label: string(bytes.Repeat([]byte{'x'}, MaxLabelLen+100))}
	b := AppendRecord(nil, &r)
	n, k := uvarintAt(b)
	var out Record
	if err := DecodeRecord(b[k:k+n], &out, nil); err != nil {
		t.Fatal(err)
	}
	if len(out.Label) != MaxLabelLen {
		t.Errorf("label of %d bytes, want %d", len(out.Label), MaxLabelLen)
	}
}

// TestMergeKeepsSampling: a merge of sampled and exact records keeps the largest
// sampling rate, so that a total holding estimates says so; Reverse leaves it.
func TestMergeKeepsSampling(t *testing.T) {
	r := Record{Kind: KindFlow, Src: Side{Pkts: 1}}
	o := Record{Kind: KindFlow, Src: Side{Pkts: 64}, Sampling: 64}
	r.Merge(&o)
	if r.Sampling != 64 || r.Src.Pkts != 65 {
		t.Fatalf("after merge: sampling %d, %d packets", r.Sampling, r.Src.Pkts)
	}
	r.Merge(&Record{Kind: KindFlow, Sampling: 8})
	r.Reverse()
	if r.Sampling != 64 {
		t.Fatalf("sampling %d, want 64", r.Sampling)
	}
}
