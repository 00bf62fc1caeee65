package sflow

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"panoptes/record"
)

// seedDatagrams are the fuzz seeds: datagrams pmacctd sent (testdata) and the unit
// tests' kinds of sample.
func seedDatagrams(f *testing.F) [][]byte {
	var seeds [][]byte
	raw, err := os.ReadFile("testdata/pmacctd-sfprobe-android.bin")
	if err != nil {
		f.Fatal(err)
	}
	for len(raw) >= 4 {
		l := int(binary.BigEndian.Uint32(raw))
		seeds = append(seeds, raw[4:4+l])
		raw = raw[4+l:]
	}
	fr := frame(7, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 17, udpHeader(1, 2, 3), 3)
	ip := make([]byte, 32)
	ip[7] = 6
	for _, d := range []Datagram{
		{Agent: agent, Samples: []Sample{flowSample(FormatFlowSample, 8, rawHeader(fr, 128))}},
		{Agent: netip.MustParseAddr("2001:db8::9"), Samples: []Sample{flowSample(FormatFlowSampleExpanded, 1, rawHeader(fr, 20), Record{Format: RecordEthernet, Data: make([]byte, 24)}),
			{Format: FormatCounterSampleExpanded, Records: []Record{{Format: 1, Data: make([]byte, 88)}}}}},
		{Samples: []Sample{flowSample(FormatFlowSample, 0, Record{Format: RecordIPv4, Data: ip}), {Enterprise: 1, Format: 5, Data: []byte{1, 2, 3, 4}}}},
	} {
		b, err := AppendDatagram(nil, &d)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzDecode: whatever the bytes, the decoder does not panic; a datagram it reads
// reads the same after being written again (Unmarshal(AppendDatagram(d)) == d); an
// error names the byte offset on one line and emits nothing; each flow sample makes at
// most one record, and every record says it was sampled.
func FuzzDecode(f *testing.F) {
	for _, s := range seedDatagrams(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var d Datagram
		err := Unmarshal(msg, &d)
		dec := NewDecoder(Options{})
		n := 0
		derr := dec.Decode(msg, exporter, func(r *record.Record) {
			n++
			if r.Sampling == 0 || r.Src.Pkts != uint64(r.Sampling) {
				t.Fatalf("record with sampling %d and %d packets", r.Sampling, r.Src.Pkts)
			}
		})
		if (err == nil) != (derr == nil) {
			t.Fatalf("Unmarshal: %v; Decode: %v", err, derr)
		}
		if err != nil {
			if !errors.Is(derr, ErrMalformed) || !offsetRe.MatchString(derr.Error()) || strings.Contains(derr.Error(), "\n") {
				t.Fatalf("error without its offset: %q", derr)
			}
			if n != 0 {
				t.Fatalf("%d records emitted from a malformed datagram", n)
			}
			return
		}
		st := dec.Stats()
		if uint64(n) != st.Records || st.Records > st.FlowSamples || st.FlowSamples+st.CounterSamples+st.UnknownSamples != uint64(len(d.Samples)) {
			t.Fatalf("%d records, stats %+v, %d samples", n, st, len(d.Samples))
		}
		b, err := AppendDatagram(nil, &d)
		if err != nil {
			t.Fatalf("a datagram read from the wire cannot be written back: %v", err)
		}
		var again Datagram
		if err := Unmarshal(b, &again); err != nil {
			t.Fatalf("written back, it does not read: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(d)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, d)
		}
	})
}

// FuzzRoundTrip: for generated datagrams (every sample and record kind, from the fuzzed
// seed), Unmarshal(AppendDatagram(d)) == d, and decoding never fails.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(1<<63), uint64(12345))
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		d := randomDatagram(rand.New(rand.NewPCG(s1, s2)))
		b, err := AppendDatagram(nil, &d)
		if err != nil {
			t.Fatal(err)
		}
		var got Datagram
		if err := Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(d)) {
			t.Fatalf("got %+v\nwant %+v", got, d)
		}
		if err := NewDecoder(Options{}).Decode(b, exporter, func(*record.Record) {}); err != nil {
			t.Fatal(err)
		}
	})
}
