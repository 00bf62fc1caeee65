package ipfix

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

// msgConn is a net.Conn that keeps each Write as one message, as a datagram socket
// delivers them.
type msgConn struct {
	net.Conn
	network string
	msgs    [][]byte
}

type fakeAddr string

func (a fakeAddr) Network() string { return string(a) }
func (a fakeAddr) String() string  { return "127.0.0.1:4739" }

func (c *msgConn) Write(b []byte) (int, error) {
	c.msgs = append(c.msgs, append([]byte(nil), b...))
	return len(b), nil
}
func (c *msgConn) LocalAddr() net.Addr  { return fakeAddr(c.network) }
func (c *msgConn) RemoteAddr() net.Addr { return fakeAddr(c.network) }

var exporterAddr = netip.MustParseAddrPort("192.0.2.7:40000")

func addr(s string) (uint8, [16]byte) {
	var a [16]byte
	p := netip.MustParseAddr(s)
	if p.Is4() {
		b := p.As4()
		copy(a[:], b[:])
		return 4, a
	}
	return 6, p.As16()
}

// sampleMessages are the UDP messages the exporter sends, with default options, for
// sampleRecords (templates first).
func sampleMessages() [][]byte {
	c := &msgConn{network: "udp"}
	e := NewExporter(c, ExporterOptions{})
	in := sampleRecords()
	for i := range in {
		e.Write(&in[i])
	}
	e.Flush()
	return c.msgs
}

// sampleRecords covers what the templates carry: IPv4 and IPv6, TCP with both
// directions' flags, UDP one way, ICMP, VLANs and MACs, and every cause.
func sampleRecords() []record.Record {
	base := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC).UnixNano()
	mk := func(src string, sport uint16, dst string, dport uint16, proto uint8) record.Record {
		r := record.Record{Kind: record.KindFlow, Cause: record.CauseClose, Proto: proto, SrcPort: sport, DstPort: dport,
			StartTime: base, LastTime: base + 1500*int64(time.Millisecond), SrcID: 0xc0000207, Trans: 1, Flags: record.FlagFlowExport}
		r.Family, r.SrcAddr = addr(src)
		_, r.DstAddr = addr(dst)
		return r
	}
	web := mk("10.0.0.1", 40000, "93.184.216.34", 80, 6)
	web.TCPState = record.TCPSawSyn | record.TCPSawSynAck | record.TCPEstablished | record.TCPSrcFin | record.TCPDstFin | record.TCPClosed
	web.Src = record.Side{Pkts: 6, Bytes: 560, TTL: 64, ToS: 0x10, VLAN: 100, MAC: [6]byte{2, 0, 0, 0, 0, 1}, TCPFlags: 0x1b}
	web.Dst = record.Side{Pkts: 5, Bytes: 1800, TTL: 56, VLAN: 100, MAC: [6]byte{2, 0, 0, 0, 0, 2}, TCPFlags: 0x1b}
	dns := mk("10.0.0.1", 53000, "10.0.0.53", 53, 17)
	dns.Cause = record.CauseStatus
	dns.Src = record.Side{Pkts: 1, Bytes: 80, TTL: 64}
	ping := mk("10.0.0.1", 8, "8.8.8.8", 0, 1)
	ping.Src = record.Side{Pkts: 4, Bytes: 392, TTL: 64}
	ping.Dst = record.Side{Pkts: 4, Bytes: 392, TTL: 117}
	v6 := mk("2001:db8::1", 51000, "2001:db8::2", 443, 6)
	v6.Cause = record.CauseEvicted
	v6.TCPState = record.TCPSawSyn | record.TCPSawSynAck | record.TCPEstablished
	v6.Src = record.Side{Pkts: 3, Bytes: 258, TTL: 64, TCPFlags: 0x12}
	v6.Dst = record.Side{Pkts: 2, Bytes: 172, TTL: 64, TCPFlags: 0x12}
	v6.Src.TCPFlags = 0x12
	unreach := mk("2001:db8::2", 1, "2001:db8::1", 4, 58)
	unreach.Cause = record.CauseStop
	unreach.Src = record.Side{Pkts: 1, Bytes: 100, TTL: 255}
	idle := mk("10.0.0.2", 1234, "10.0.0.3", 5678, 17)
	idle.Flags |= record.FlagTimeout
	idle.Src = record.Side{Pkts: 2, Bytes: 200}
	idle.Dst = record.Side{Pkts: 1, Bytes: 100}
	return []record.Record{web, dns, ping, v6, unreach, idle}
}

// comparable returns the parts of a record that survive export and collection.
func comparable(r record.Record) record.Record {
	c := record.Record{Kind: r.Kind, Cause: r.Cause, Flags: r.Flags & (record.FlagFlowExport | record.FlagTimeout), SrcID: r.SrcID,
		StartTime: r.StartTime, LastTime: r.LastTime, Family: r.Family, Proto: r.Proto, SrcAddr: r.SrcAddr, DstAddr: r.DstAddr,
		SrcPort: r.SrcPort, DstPort: r.DstPort, Trans: r.Trans}
	for _, p := range []struct{ in, out *record.Side }{{&r.Src, &c.Src}, {&r.Dst, &c.Dst}} {
		p.out.Pkts, p.out.Bytes, p.out.TTL, p.out.ToS, p.out.VLAN, p.out.MAC, p.out.TCPFlags =
			p.in.Pkts, p.in.Bytes, p.in.TTL, p.in.ToS, p.in.VLAN, p.in.MAC, p.in.TCPFlags
	}
	return c
}

func decodeAll(t *testing.T, d *Decoder, msgs [][]byte) []record.Record {
	t.Helper()
	var got []record.Record
	for i, m := range msgs {
		if err := d.Decode(m, exporterAddr, func(r *record.Record) { got = append(got, *r) }); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	return got
}

func TestExportDecodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nanos bool
		res   int64 // time resolution of the encoding
	}{{"milliseconds", false, 1e6}, {"nanoseconds", true, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &msgConn{network: "udp"}
			e := NewExporter(c, ExporterOptions{Nanoseconds: tc.nanos})
			in := sampleRecords()
			man := record.Record{Kind: record.KindMan, Cause: record.CauseStart}
			if err := e.Write(&man); err != nil {
				t.Fatal(err)
			}
			for i := range in {
				if err := e.Write(&in[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
			if st := e.Stats(); st.Records != uint64(len(in)) || st.Skipped != 1 || st.Messages != 1 {
				t.Fatalf("stats %+v, want %d records, 1 skipped, 1 message", st, len(in))
			}
			d := NewDecoder(DecoderOptions{})
			got := decodeAll(t, d, c.msgs)
			if len(got) != len(in) {
				t.Fatalf("decoded %d records, want %d", len(got), len(in))
			}
			for i := range in {
				want := comparable(in[i])
				want.StartTime -= want.StartTime % tc.res
				want.LastTime -= want.LastTime % tc.res
				g := comparable(got[i])
				if g != want {
					t.Errorf("record %d:\n got %+v\nwant %+v", i, g, want)
				}
				if got[i].State() != in[i].State() {
					t.Errorf("record %d: state %s, want %s", i, got[i].State(), in[i].State())
				}
			}
		})
	}
}

// TestExportFraming checks message sizes, template refresh and sequence numbers on
// UDP, and one template per domain on a stream.
func TestExportFraming(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := &msgConn{network: "udp"}
	e := NewExporter(c, ExporterOptions{MTU: 1400, TemplateMessages: 3, Now: clock})
	in := sampleRecords()
	const total = 200
	for i := 0; i < total; i++ {
		r := in[i%len(in)]
		r.SrcID = uint32(1 + i/100) // two observation domains
		if err := e.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	seq := map[uint32]uint32{}
	sinceTmpl := map[uint32]int{}
	n := 0
	d := NewDecoder(DecoderOptions{})
	for i, m := range c.msgs {
		if len(m) > 1400 {
			t.Errorf("message %d: %d bytes, more than the MTU", i, len(m))
		}
		dom := binary.BigEndian.Uint32(m[12:])
		if s := binary.BigEndian.Uint32(m[8:]); s != seq[dom] {
			t.Errorf("message %d (domain %d): sequence %d, want %d", i, dom, s, seq[dom])
		}
		hasTmpl := binary.BigEndian.Uint16(m[16:]) == 2
		if want := sinceTmpl[dom]%3 == 0; hasTmpl != want {
			t.Errorf("message %d (domain %d): template set %v, want %v", i, dom, hasTmpl, want)
		}
		sinceTmpl[dom]++
		k := 0
		if err := d.Decode(m, exporterAddr, func(*record.Record) { k++ }); err != nil {
			t.Fatal(err)
		}
		seq[dom] += uint32(k)
		n += k
	}
	if n != total || seq[1] != 100 || seq[2] != 100 {
		t.Fatalf("decoded %d records (per domain %v), want %d", n, seq, total)
	}

	// Time passing also re-sends templates.
	c.msgs = nil
	now = now.Add(31 * time.Second)
	e.Write(&in[0])
	e.Flush()
	if binary.BigEndian.Uint16(c.msgs[0][16:]) != 2 {
		t.Error("no template set after the template interval")
	}

	// A stream sends templates once per domain, in large messages.
	sc := &msgConn{network: "tcp"}
	se := NewExporter(sc, ExporterOptions{})
	for i := 0; i < 1000; i++ {
		se.Write(&in[i%len(in)])
		if i%100 == 99 {
			se.Flush()
		}
	}
	se.Flush()
	for i, m := range sc.msgs {
		if hasTmpl := binary.BigEndian.Uint16(m[16:]) == 2; hasTmpl != (i == 0) {
			t.Errorf("stream message %d: template set %v", i, hasTmpl)
		}
	}
	var all []byte
	for _, m := range sc.msgs {
		all = append(all, m...)
	}
	n = 0
	if err := ReadIPFIXStream(strings.NewReader(string(all)), exporterAddr, NewDecoder(DecoderOptions{}), func(*record.Record) { n++ }); err != nil || n != 1000 {
		t.Fatalf("stream: %d records, %v; want 1000", n, err)
	}
	// Cut inside the last message: the records before it are emitted, the error names the offset.
	n = 0
	err := ReadIPFIXStream(strings.NewReader(string(all[:len(all)-10])), exporterAddr, NewDecoder(DecoderOptions{}), func(*record.Record) { n++ })
	var de *DecodeError
	if !errors.As(err, &de) || de.Offset != len(all)-10 || n != 900 {
		t.Fatalf("cut stream: %d records, %v; want 900 and an error at byte %d", n, err, len(all)-10)
	}
}

// TestDecodeErrors feeds malformed messages: each gives one error naming the exporter
// and the offset, and is counted.
func TestDecodeErrors(t *testing.T) {
	good := sampleMessages()[0]
	setLen := func(b []byte, off int, v uint16) []byte {
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint16(b[off:], v)
		return b
	}
	v5 := make([]byte, 24+48)
	binary.BigEndian.PutUint16(v5, 5)
	binary.BigEndian.PutUint16(v5[2:], 2)
	for _, tc := range []struct {
		name string
		msg  []byte
		off  int
		want string
	}{
		{"empty", nil, 0, "shorter than a version"},
		{"version", []byte{0, 7, 0, 0}, 0, "unknown version 7"},
		{"ipfix header", good[:10], 10, "IPFIX header cut short"},
		{"ipfix cut", good[:100], 100, "cut short: header says"},
		{"ipfix length", setLen(good, 2, 8), 2, "shorter than its header"},
		{"set length", setLen(good, 18, 2), 18, "shorter than its header"},
		{"set past end", setLen(good, 18, 60000), 16, "cut short"},
		{"template id", setLen(good, 20, 7), 20, "template id 7"},
		{"field count", setLen(good, 22, 1000), 0, "cut short"},
		{"v5 records", v5, 72, "record 2 of 2 cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(DecoderOptions{})
			err := d.Decode(tc.msg, exporterAddr, func(*record.Record) {})
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "192.0.2.7:40000") {
				t.Fatalf("got %v, want an error naming the exporter with %q", err, tc.want)
			}
			if tc.off != 0 && de.Offset != tc.off {
				t.Errorf("offset %d, want %d (%v)", de.Offset, tc.off, err)
			}
			if d.Stats().Malformed != 1 {
				t.Errorf("malformed count %d, want 1", d.Stats().Malformed)
			}
		})
	}
}

// TestTemplateWithdrawalAndVarLen builds an IPFIX message by hand: a template with a
// variable-length field and an unknown enterprise element, data, then a withdrawal.
func TestTemplateWithdrawalAndVarLen(t *testing.T) {
	be16 := func(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
	be32 := func(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
	msg := func(sets ...[]byte) []byte {
		b := be16(nil, 10)
		b = be16(b, 0)
		b = be32(b, 1772366400)
		b = be32(b, 0)
		b = be32(b, 5)
		for _, s := range sets {
			b = append(b, s...)
		}
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	set := func(id uint16, body []byte) []byte {
		return append(be16(be16(nil, id), uint16(4+len(body))), body...)
	}
	var tmpl []byte
	tmpl = be16(be16(tmpl, 300), 6)
	tmpl = be16(be16(tmpl, ieSrcIPv4), 4)
	tmpl = be16(be16(tmpl, ieDstIPv4), 4)
	tmpl = be32(be16(be16(tmpl, 1|enterpriseBit), varLen), 9) // another enterprise's element, variable length
	tmpl = be16(be16(tmpl, iePacketDelta), 4)                 // reduced-size encoding
	tmpl = be16(be16(tmpl, ieProtocol), 1)
	tmpl = be16(be16(tmpl, ieStartSeconds), 4)
	var data []byte
	data = append(data, 10, 1, 2, 3, 10, 3, 2, 1)
	data = append(data, 3, 'a', 'b', 'c') // short variable length
	data = be32(data, 7)
	data = append(data, 17)
	data = be32(data, 1772366000)
	data = append(data, 10, 1, 2, 3, 10, 3, 2, 9)
	data = append(data, 255, 0, 300>>8&0xff) // long variable length: 300 bytes
	data[len(data)-1] = byte(300 & 0xff)
	data[len(data)-2] = byte(300 >> 8)
	data = append(data, make([]byte, 300)...)
	data = be32(data, 8)
	data = append(data, 6)
	data = be32(data, 1772366001)
	data = append(data, 0, 0) // padding
	d := NewDecoder(DecoderOptions{SrcID: 42})
	var got []record.Record
	emit := func(r *record.Record) { got = append(got, *r) }
	if err := d.Decode(msg(set(2, tmpl), set(300, data)), exporterAddr, emit); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Src.Pkts != 7 || got[1].Src.Pkts != 8 || got[1].Proto != 6 || got[1].StartTime != 1772366001e9 ||
		got[0].SrcID != 42 || got[0].Flags&record.FlagFlowExport == 0 || got[0].Addr(false).String() != "10.3.2.1" {
		t.Fatalf("got %+v", got)
	}
	// Withdraw template 300: its data is no longer decoded.
	withdraw := be16(be16(nil, 300), 0)
	got = nil
	if err := d.Decode(msg(set(2, withdraw), set(300, data)), exporterAddr, emit); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); len(got) != 0 || st.Withdrawals != 1 || st.NoTemplate != 1 {
		t.Fatalf("after withdrawal: %d records, stats %+v", len(got), st)
	}
}

func TestSrcIDFromExporter(t *testing.T) {
	d := NewDecoder(DecoderOptions{})
	if got := d.srcID(netip.MustParseAddrPort("192.0.2.7:9")); got != 0xc0000207 {
		t.Errorf("IPv4 exporter: srcid %#x", got)
	}
	a, b := d.srcID(netip.MustParseAddrPort("[2001:db8::1]:9")), d.srcID(netip.MustParseAddrPort("[2001:db8::2]:9"))
	h := fnv.New32a()
	addr := netip.MustParseAddr("2001:db8::1").As16()
	h.Write(addr[:])
	if a != h.Sum32() || a == b {
		t.Errorf("IPv6 exporters: srcids %#x %#x, want FNV-1a %#x for the first", a, b, h.Sum32())
	}
}

// TestExportMaxDelay: a message older than MaxDelay is sent before the next record is
// added, so a trickle of records is not held until Flush.
func TestExportMaxDelay(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := &msgConn{network: "udp"}
	e := NewExporter(c, ExporterOptions{MaxDelay: time.Second, Now: func() time.Time { return now }})
	in := sampleRecords()
	e.Write(&in[0])
	now = now.Add(500 * time.Millisecond)
	e.Write(&in[1])
	if len(c.msgs) != 0 {
		t.Fatalf("%d messages sent before MaxDelay", len(c.msgs))
	}
	now = now.Add(600 * time.Millisecond)
	e.Write(&in[2])
	if len(c.msgs) != 1 {
		t.Fatalf("%d messages sent after MaxDelay, want 1", len(c.msgs))
	}
	n := 0
	NewDecoder(DecoderOptions{}).Decode(c.msgs[0], exporterAddr, func(*record.Record) { n++ })
	if n != 2 {
		t.Errorf("first message holds %d records, want 2", n)
	}
}

// TestZeroLengthFieldRefused: a template field of length 0 would let a tiny data set
// cost a decode step per field per byte; it is refused.
func TestZeroLengthFieldRefused(t *testing.T) {
	b := []byte{0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	b = append(b, 0, 2, 0, 16, 1, 0, 0, 2, 0, 8, 0, 4, 0, 1, 0, 0)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	err := NewDecoder(DecoderOptions{}).Decode(b, exporterAddr, func(*record.Record) {})
	if err == nil || !strings.Contains(err.Error(), "length 0") {
		t.Fatalf("got %v, want a length 0 error", err)
	}
}

// TestNetFlowV9 builds a v9 packet by hand: an options template and its data (skipped),
// a template, data relative to the exporter's uptime, and padding after the data.
func TestNetFlowV9(t *testing.T) {
	be16 := func(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
	be32 := func(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
	const unixSecs, uptime = 1772366400, 500000 // ms
	var b []byte
	b = be16(b, 9)
	b = be16(b, 4)
	b = be32(b, uptime)
	b = be32(b, unixSecs)
	b = be32(b, 77) // sequence
	b = be32(b, 3)  // source id
	// Options template 260: scope system (1, 4 bytes), option sampling interval (34, 4).
	opt := be16(be16(be16(nil, 260), 4), 4)
	opt = be16(be16(opt, 1), 4)
	opt = be16(be16(opt, 34), 4)
	b = be16(be16(b, 1), uint16(4+len(opt)+2))
	b = append(append(b, opt...), 0, 0)
	tmpl := be16(be16(nil, 300), 9)
	for _, f := range [][2]uint16{{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {2, 4}, {1, 4}, {22, 4}, {21, 4}} {
		tmpl = be16(be16(tmpl, f[0]), f[1])
	}
	b = be16(be16(b, 0), uint16(4+len(tmpl)))
	b = append(b, tmpl...)
	od := be32(be32(nil, 1), 100)
	b = be16(be16(b, 260), uint16(4+len(od)))
	b = append(b, od...)
	var data []byte
	data = append(data, 10, 0, 0, 1, 10, 0, 0, 2)
	data = be16(be16(data, 1234), 53)
	data = append(data, 17)
	data = be32(be32(data, 3), 300)
	data = be32(be32(data, uptime-2000), uptime-1500) // started 2 s, ended 1.5 s before export
	data = append(data, 0, 0, 0)                      // padding to a 4-byte boundary
	b = be16(be16(b, 300), uint16(4+len(data)))
	b = append(b, data...)
	d := NewDecoder(DecoderOptions{})
	var got []record.Record
	if err := d.Decode(b, exporterAddr, func(r *record.Record) { got = append(got, *r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d records, want 1", len(got))
	}
	r := got[0]
	export := int64(unixSecs) * 1e9
	if r.StartTime != export-2e9 || r.LastTime != export-1.5e9 || r.Src.Pkts != 3 || r.Src.Bytes != 300 ||
		r.SrcPort != 1234 || r.DstPort != 53 || r.Proto != 17 || r.Addr(true).String() != "10.0.0.1" {
		t.Errorf("got %+v", r)
	}
	if st := d.Stats(); st.Options != 1 || st.Templates != 2 || st.Records != 1 {
		t.Errorf("stats %+v: want 1 options record, 2 templates, 1 record", st)
	}
	// The same template id from another exporter is not known.
	other := exporterAddr
	other = netip.AddrPortFrom(other.Addr(), other.Port()+1)
	d.Decode(b[:20+4+len(opt)+2], other, func(*record.Record) {}) // header and options template only
	n := 0
	data2 := append(append([]byte(nil), b[:20]...), b[len(b)-4-len(data):]...)
	d.Decode(data2, other, func(*record.Record) { n++ })
	if n != 0 || d.Stats().NoTemplate != 1 {
		t.Errorf("another exporter's data decoded with this exporter's template (%d records)", n)
	}
}

// TestExportPace: with Pace, UDP messages leave at least Pace apart (a lower bound
// only: the machine may be slower, never faster).
func TestExportPace(t *testing.T) {
	c := &msgConn{network: "udp"}
	e := NewExporter(c, ExporterOptions{Pace: 10 * time.Millisecond})
	in := sampleRecords()
	start := time.Now()
	for i := 0; i < 5; i++ {
		e.Write(&in[0])
		e.Flush()
	}
	if el := time.Since(start); el < 40*time.Millisecond || len(c.msgs) != 5 {
		t.Errorf("5 messages in %v (%d sent), want at least 40 ms", el, len(c.msgs))
	}
}
