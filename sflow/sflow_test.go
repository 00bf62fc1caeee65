package sflow

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

var (
	agent    = netip.MustParseAddr("192.0.2.1")
	exporter = netip.MustParseAddrPort("192.0.2.1:6343")
	macA     = []byte{0x02, 0, 0, 0, 0, 0xaa}
	macB     = []byte{0x02, 0, 0, 0, 0, 0xbb}
	fixedNow = time.Unix(1700000000, 0)
)

// frame builds an Ethernet frame (with an 802.1Q tag when vlan is not 0) carrying an
// IPv4 or IPv6 packet of protocol proto with l4 as its transport header and payload
// bytes after it.
func frame(vlan uint16, src, dst netip.Addr, proto uint8, l4 []byte, payload int) []byte {
	b := append(append([]byte{}, macB...), macA...)
	if vlan != 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, vlan)
	}
	if src.Is4() {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		total := 20 + len(l4) + payload
		b = append(b, 0x45, 0, byte(total>>8), byte(total), 0, 1, 0, 0, 64, proto, 0, 0)
		b = append(b, src.AsSlice()...)
		b = append(b, dst.AsSlice()...)
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		pl := len(l4) + payload
		b = append(b, 0x60, 0, 0, 0, byte(pl>>8), byte(pl), proto, 64)
		b = append(b, src.AsSlice()...)
		b = append(b, dst.AsSlice()...)
	}
	b = append(b, l4...)
	return append(b, make([]byte, payload)...)
}

func tcpHeader(sport, dport uint16, flags byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	h[12], h[13] = 5<<4, flags
	binary.BigEndian.PutUint16(h[14:], 1024)
	return h
}

func udpHeader(sport, dport uint16, payload int) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+payload))
	return h
}

// rawHeader is a sampled_header record of an Ethernet frame: frame_length counts the
// FCS, which is stripped, and the header is the first snap bytes.
func rawHeader(f []byte, snap int) Record {
	h := f[:min(len(f), snap)]
	b := binary.BigEndian.AppendUint32(nil, HeaderEthernet)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f)+4))
	b = binary.BigEndian.AppendUint32(b, 4)
	b = binary.BigEndian.AppendUint32(b, uint32(len(h)))
	b = append(b, h...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return Record{Format: RecordRawHeader, Data: b}
}

func flowSample(format, rate uint32, recs ...Record) Sample {
	return Sample{Format: format, Seq: 7, SourceType: 0, SourceIndex: 3, Rate: rate, Pool: 1000, Input: 3, Output: 4, Records: recs}
}

func encode(t testing.TB, d *Datagram) []byte {
	t.Helper()
	b, err := AppendDatagram(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeAll(t *testing.T, dec *Decoder, msg []byte) []record.Record {
	t.Helper()
	var out []record.Record
	if err := dec.Decode(msg, exporter, func(r *record.Record) { out = append(out, *r) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDecodeFlowSamples: compact and expanded flow samples with raw headers (IPv4 TCP
// with a VLAN tag, IPv6 UDP, ICMP) become records scaled by their sampling rate and
// marked as sampled; counter samples, unknown samples and unknown records are counted.
func TestDecodeFlowSamples(t *testing.T) {
	a4, b4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	tcp := frame(42, a4, b4, 6, tcpHeader(40000, 443, 0x02), 1000)
	udp := frame(0, a6, b6, 17, udpHeader(5353, 53, 100), 100)
	icmp := frame(0, a4, b4, 1, []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}, 56)
	d := Datagram{Agent: agent, Seq: 1, Uptime: 5000, Samples: []Sample{
		flowSample(FormatFlowSample, 512, rawHeader(tcp, 128), Record{Format: RecordExtendedSwitch, Data: make([]byte, 16)}),
		flowSample(FormatFlowSampleExpanded, 1, rawHeader(udp, 128), Record{Enterprise: 9, Format: 1, Data: []byte{1, 2, 3, 4}}),
		flowSample(FormatFlowSample, 100, rawHeader(icmp, 128), Record{Format: 1002, Data: make([]byte, 8)}),
		{Format: FormatCounterSample, Records: []Record{{Format: 1, Data: make([]byte, 88)}}},
		{Format: FormatCounterSampleExpanded, SourceIndex: 1 << 30},
		{Enterprise: 4300, Format: 1, Data: []byte{0, 0, 0, 0}},
		flowSample(FormatFlowSample, 10, Record{Format: 1002, Data: make([]byte, 8)}), // says no flow
	}}
	dec := NewDecoder(Options{Now: func() time.Time { return fixedNow }})
	recs := decodeAll(t, dec, encode(t, &d))
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	type want struct {
		src, dst     netip.Addr
		sport, dport uint16
		proto        uint8
		pkts, bytes  uint64
		sampling     uint32
		vlan         uint16
		flags        uint32
	}
	for i, w := range []want{
		{a4, b4, 40000, 443, 6, 512, 512 * uint64(len(tcp)), 512, 42, record.FlagFlowExport | record.FlagEthernet | record.FlagVLAN},
		{a6, b6, 5353, 53, 17, 1, uint64(len(udp)), 1, 0, record.FlagFlowExport | record.FlagEthernet},
		{a4, b4, 8, 0, 1, 100, 100 * uint64(len(icmp)), 100, 0, record.FlagFlowExport | record.FlagEthernet},
	} {
		r := &recs[i]
		if r.Addr(true) != w.src || r.Addr(false) != w.dst || r.SrcPort != w.sport || r.DstPort != w.dport || r.Proto != w.proto {
			t.Errorf("record %d: %s:%d -> %s:%d proto %d, want %s:%d -> %s:%d proto %d", i,
				r.Addr(true), r.SrcPort, r.Addr(false), r.DstPort, r.Proto, w.src, w.sport, w.dst, w.dport, w.proto)
		}
		if r.Src.Pkts != w.pkts || r.Src.Bytes != w.bytes || r.Sampling != w.sampling || r.Dst.Pkts != 0 {
			t.Errorf("record %d: %d pkts %d bytes sampling %d, want %d %d %d", i, r.Src.Pkts, r.Src.Bytes, r.Sampling, w.pkts, w.bytes, w.sampling)
		}
		if r.Src.VLAN != w.vlan || r.Flags != w.flags {
			t.Errorf("record %d: vlan %d flags %#x, want %d %#x", i, r.Src.VLAN, r.Flags, w.vlan, w.flags)
		}
		if r.StartTime != fixedNow.UnixNano() || r.SrcID != 0xc0000201 || r.Kind != record.KindFlow {
			t.Errorf("record %d: stime %d srcid %#x kind %d", i, r.StartTime, r.SrcID, r.Kind)
		}
		if [6]byte(macA) != r.Src.MAC || [6]byte(macB) != r.Dst.MAC {
			t.Errorf("record %d: macs %x %x", i, r.Src.MAC, r.Dst.MAC)
		}
	}
	if recs[0].TCPState != record.TCPSawSyn || recs[0].Src.AppBytes != 512*1000 {
		t.Errorf("tcp: state %#x appbytes %d", recs[0].TCPState, recs[0].Src.AppBytes)
	}
	if recs[2].ICMPID != 0x1234 || recs[2].State() != "ECO" {
		t.Errorf("icmp: id %#x state %s", recs[2].ICMPID, recs[2].State())
	}
	st := dec.Stats()
	wantStats := Stats{Datagrams: 1, FlowSamples: 4, CounterSamples: 2, UnknownSamples: 1, SkippedRecords: 3, NoFlow: 1, Records: 3}
	if st != wantStats {
		t.Errorf("stats %+v, want %+v", st, wantStats)
	}
}

// TestDecodeShortHeader: a raw header cut before the IP addresses names no flow: the
// record is counted as too short and the sample as without a flow (before, it made a
// record of zero addresses); one cut after them makes a record marked truncated.
func TestDecodeShortHeader(t *testing.T) {
	f := frame(0, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 6, tcpHeader(1, 2, 0x10), 10)
	f6 := frame(0, netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 17, udpHeader(1, 2, 0), 0)
	d := Datagram{Agent: agent, Samples: []Sample{
		flowSample(FormatFlowSample, 4, rawHeader(f, 10)),  // within the Ethernet header
		flowSample(FormatFlowSample, 4, rawHeader(f, 30)),  // within the IPv4 addresses
		flowSample(FormatFlowSample, 4, rawHeader(f6, 50)), // within the IPv6 addresses
		flowSample(FormatFlowSample, 4, rawHeader(f, 36)),  // IPv4 header whole, no ports
	}}
	dec := NewDecoder(Options{})
	recs := decodeAll(t, dec, encode(t, &d))
	if len(recs) != 1 || recs[0].Addr(true).String() != "10.0.0.1" || recs[0].Flags&record.FlagTruncated == 0 {
		t.Fatalf("records %+v", recs)
	}
	if st := dec.Stats(); st.BadRecords != 3 || st.NoFlow != 3 || st.Records != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestDecodeSampledIP: without a raw header, a sampled_ipv4 record says the flow; the
// bytes are its IP length, scaled.
func TestDecodeSampledIP(t *testing.T) {
	b := make([]byte, 32)
	binary.BigEndian.PutUint32(b, 1500)
	binary.BigEndian.PutUint32(b[4:], 17)
	copy(b[8:], []byte{10, 1, 1, 1, 10, 2, 2, 2})
	binary.BigEndian.PutUint32(b[16:], 123)
	binary.BigEndian.PutUint32(b[20:], 53)
	d := Datagram{Agent: agent, Samples: []Sample{flowSample(FormatFlowSample, 64, Record{Format: RecordIPv4, Data: b})}}
	recs := decodeAll(t, NewDecoder(Options{}), encode(t, &d))
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Addr(true).String() != "10.1.1.1" || r.Addr(false).String() != "10.2.2.2" || r.SrcPort != 123 || r.DstPort != 53 ||
		r.Proto != 17 || r.Src.Pkts != 64 || r.Src.Bytes != 64*1500 || r.Sampling != 64 {
		t.Errorf("got %+v", r)
	}
}

// TestPmacctdDatagrams decodes datagrams pmacctd's sfprobe plugin sent from
// android.pcap (testdata): every flow sample (a raw Ethernet header and an
// extended_switch record) makes one record at rate 1, counted as the frame was.
func TestPmacctdDatagrams(t *testing.T) {
	raw, err := os.ReadFile("testdata/pmacctd-sfprobe-android.bin")
	if err != nil {
		t.Fatal(err)
	}
	dec := NewDecoder(Options{})
	n := 0
	for len(raw) >= 4 {
		l := int(binary.BigEndian.Uint32(raw))
		msg := raw[4 : 4+l]
		raw = raw[4+l:]
		if err := dec.Decode(msg, exporter, func(r *record.Record) {
			n++
			if r.Sampling != 1 || r.Src.Pkts != 1 || r.Src.Bytes < 54 || (r.Family != 4 && r.Family != 6) {
				t.Errorf("record %d: sampling %d pkts %d bytes %d family %d", n, r.Sampling, r.Src.Pkts, r.Src.Bytes, r.Family)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	st := dec.Stats()
	if st.Datagrams != 3 || st.Records != st.FlowSamples || n == 0 || st.SkippedRecords != 0 || st.NoFlow != 0 {
		t.Errorf("stats %+v, %d records", st, n)
	}
}

var offsetRe = regexp.MustCompile(`^sflow from 192\.0\.2\.1:6343: byte \d+: `)

// TestDecodeErrors: a datagram cut anywhere is an error naming the byte offset, on one
// line; nothing is emitted from it.
func TestDecodeErrors(t *testing.T) {
	f := frame(0, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 6, tcpHeader(1, 2, 0x10), 10)
	d := Datagram{Agent: agent, Samples: []Sample{flowSample(FormatFlowSampleExpanded, 4, rawHeader(f, 128)),
		{Format: FormatCounterSample, Records: []Record{{Format: 2, Data: make([]byte, 8)}}}}}
	msg := encode(t, &d)
	dec := NewDecoder(Options{})
	for n := range len(msg) {
		emitted := false
		err := dec.Decode(msg[:n], exporter, func(*record.Record) { emitted = true })
		if err == nil || !errors.Is(err, ErrMalformed) || !offsetRe.MatchString(err.Error()) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("cut at %d: %v", n, err)
		}
		if emitted {
			t.Fatalf("cut at %d: a record was emitted", n)
		}
	}
	for _, tc := range []struct {
		msg  []byte
		want string
	}{
		{[]byte{0, 0, 0, 4, 0, 0, 0, 1}, "byte 0: version 4 (want 5)"},
		{[]byte{0, 0, 0, 5, 0, 0, 0, 3}, "byte 4: agent address type 3"},
		{append(append([]byte{}, msg...), 0, 0, 0, 0), "4 bytes after the last of 2 samples"},
	} {
		err := dec.Decode(tc.msg, exporter, func(*record.Record) {})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%x: %v, want %q", tc.msg, err, tc.want)
		}
	}
	if st := dec.Stats(); st.Malformed != uint64(len(msg))+3 || st.Records != 0 {
		t.Errorf("stats %+v", st)
	}
}

// randomDatagram makes a datagram of every kind of sample, with values within what the
// wire form holds.
func randomDatagram(rng *rand.Rand) Datagram {
	bytesN := func(n int) []byte {
		if n == 0 {
			return nil
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	d := Datagram{SubAgent: rng.Uint32(), Seq: rng.Uint32(), Uptime: rng.Uint32()}
	switch rng.IntN(3) {
	case 1:
		d.Agent = netip.AddrFrom4([4]byte(bytesN(4)))
	case 2:
		d.Agent = netip.AddrFrom16([16]byte(bytesN(16)))
	}
	for range rng.IntN(6) {
		s := Sample{Format: uint32(rng.IntN(6))}
		if rng.IntN(8) == 0 {
			s.Enterprise = rng.Uint32N(1 << 20)
		}
		if !s.known() {
			s.Data = bytesN(rng.IntN(20))
			d.Samples = append(d.Samples, s)
			continue
		}
		s.Seq = rng.Uint32()
		compact := s.Format == FormatFlowSample || s.Format == FormatCounterSample
		if compact {
			s.SourceType, s.SourceIndex = rng.Uint32N(1<<8), rng.Uint32N(1<<24)
		} else {
			s.SourceType, s.SourceIndex = rng.Uint32(), rng.Uint32()
		}
		if s.IsFlow() {
			s.Rate, s.Pool, s.Drops = rng.Uint32(), rng.Uint32(), rng.Uint32()
			if compact {
				s.InputFormat, s.Input, s.OutputFormat, s.Output = rng.Uint32N(4), rng.Uint32N(1<<30), rng.Uint32N(4), rng.Uint32N(1<<30)
			} else {
				s.InputFormat, s.Input, s.OutputFormat, s.Output = rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32()
			}
		}
		for range rng.IntN(4) {
			s.Records = append(s.Records, Record{Enterprise: rng.Uint32N(2) * rng.Uint32N(1<<20), Format: rng.Uint32N(1 << 12), Data: bytesN(rng.IntN(40))})
		}
		d.Samples = append(d.Samples, s)
	}
	return d
}

// normalize makes empty slices nil, so that a datagram compares equal to its decoding.
func normalize(d Datagram) Datagram {
	if len(d.Samples) == 0 {
		d.Samples = nil
	}
	d.Samples = append([]Sample(nil), d.Samples...)
	for i := range d.Samples {
		s := &d.Samples[i]
		if len(s.Records) == 0 {
			s.Records = nil
		}
		if len(s.Data) == 0 {
			s.Data = nil
		}
		s.Records = append([]Record(nil), s.Records...)
		for j := range s.Records {
			if len(s.Records[j].Data) == 0 {
				s.Records[j].Data = nil
			}
		}
	}
	return d
}

// TestRoundTrip: Unmarshal(AppendDatagram(d)) == d for random datagrams, reusing one
// Datagram for the decoding.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var got Datagram
	for i := range 2000 {
		d := randomDatagram(rng)
		b := encode(t, &d)
		if err := Unmarshal(b, &got); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(d)) {
			t.Fatalf("datagram %d:\n got %+v\nwant %+v", i, got, d)
		}
	}
}

// TestAppendRefuses: values the compact forms cannot hold are refused, not cut.
func TestAppendRefuses(t *testing.T) {
	for _, s := range []Sample{
		{Format: FormatFlowSample, SourceIndex: 1 << 24},
		{Format: FormatFlowSample, Input: 1 << 30},
		{Format: FormatCounterSample, Rate: 1},
		{Enterprise: 1 << 20, Format: 1},
	} {
		if _, err := AppendDatagram(nil, &Datagram{Samples: []Sample{s}}); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}

// TestDecodeAllocs: decoding a datagram allocates nothing once the decoder has seen one
// as large.
func TestDecodeAllocs(t *testing.T) {
	f := frame(0, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 6, tcpHeader(1, 2, 0x10), 10)
	d := Datagram{Agent: agent, Samples: []Sample{flowSample(FormatFlowSample, 4, rawHeader(f, 128)), flowSample(FormatFlowSample, 4, rawHeader(f, 128))}}
	msg := encode(t, &d)
	dec := NewDecoder(Options{})
	emit := func(*record.Record) {}
	if n := testing.AllocsPerRun(100, func() { _ = dec.Decode(msg, exporter, emit) }); n != 0 {
		t.Errorf("%v allocations per datagram", n)
	}
}

// BenchmarkDecode is the collector's work per sFlow datagram of 8 samples (what a switch
// sends): the relay's -C path spends it per datagram before the filter and the writer.
func BenchmarkDecode(b *testing.B) {
	f := frame(10, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 6, tcpHeader(1, 2, 0x10), 1400)
	d := Datagram{Agent: agent}
	for range 8 {
		d.Samples = append(d.Samples, flowSample(FormatFlowSample, 1000, rawHeader(f, 128), Record{Format: RecordExtendedSwitch, Data: make([]byte, 16)}))
	}
	msg := encode(b, &d)
	dec := NewDecoder(Options{})
	emit := func(*record.Record) {}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := dec.Decode(msg, exporter, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8), "ns/sample")
}

// TestLostDatagrams: gaps in an agent's datagram sequence numbers are counted, per
// agent and sub-agent; a sequence that goes back (a restart) is not a loss. Before
// LostDatagrams, datagrams lost on the way were counted nowhere.
func TestLostDatagrams(t *testing.T) {
	dec := NewDecoder(Options{})
	other := netip.MustParseAddr("192.0.2.2")
	for _, dg := range []struct {
		agent    netip.Addr
		sub, seq uint32
	}{
		{agent, 0, 1}, {agent, 0, 2}, {agent, 0, 5}, // 3 and 4 lost
		{agent, 1, 10}, {agent, 1, 11}, // another sub-agent: its own sequence
		{other, 0, 7}, {other, 0, 8},
		{agent, 0, 6},
		{agent, 0, 1}, {agent, 0, 3}, // restarted; 2 lost
		{other, 0, 9},
	} {
		msg := encode(t, &Datagram{Agent: dg.agent, SubAgent: dg.sub, Seq: dg.seq})
		if err := dec.Decode(msg, exporter, func(*record.Record) {}); err != nil {
			t.Fatal(err)
		}
	}
	if got := dec.Stats().LostDatagrams; got != 3 {
		t.Errorf("%d datagrams lost, want 3", got)
	}
}
