package index

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"panoptes/filter"
	"panoptes/record"
)

// Address pools of the mixed records: a few busy hosts, many others, and a rare one.
var (
	busy4 = []string{"10.0.0.1", "10.0.0.2", "192.0.2.53"}
	busy6 = []string{"2001:db8::1", "2001:db8::53"}
	rare4 = "203.0.113.7"
)

func poolAddr(s string) (fam uint8, a [16]byte) {
	ip := netip.MustParseAddr(s)
	if ip.Is4() {
		b := ip.As4()
		copy(a[:], b[:])
		return 4, a
	}
	return 6, ip.As16()
}

// mixedAddr returns an address: busy, or one of 4096 others (10.1.x.y, 2001:db8:1::x).
func mixedAddr(rng *rand.Rand, v6 bool) string {
	if v6 {
		if rng.IntN(3) == 0 {
			return busy6[rng.IntN(len(busy6))]
		}
		return fmt.Sprintf("2001:db8:1::%x", rng.IntN(4096))
	}
	if rng.IntN(3) == 0 {
		return busy4[rng.IntN(len(busy4))]
	}
	return fmt.Sprintf("10.1.%d.%d", rng.IntN(16), rng.IntN(256))
}

// genMixed returns n records over three hours from three sources: IPv4 and IPv6 flows of
// several protocols and ports, ARP and other non-IP flows, management records, and a
// rare address in a handful of flows.
func genMixed(n int, seed uint64) []record.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	protos := []uint8{6, 6, 6, 17, 17, 1, 47, 132}
	ports := []uint16{22, 53, 80, 443, 8080, 5000}
	recs := make([]record.Record, 0, n)
	for i := 0; i < n; i++ {
		start := t0 + int64(i)*int64(3*time.Hour)/int64(n)
		if rng.IntN(20) == 0 {
			start -= int64(rng.IntN(600)) * int64(time.Second)
		}
		r := record.Record{Kind: record.KindFlow, Cause: record.CauseStart, SrcID: uint32(rng.IntN(3)), Seq: uint32(i + 1),
			StartTime: start, LastTime: start + int64(rng.IntN(5000))*int64(time.Millisecond), Trans: 1,
			Src: record.Side{Pkts: uint64(1 + rng.IntN(100)), Bytes: uint64(rng.IntN(100000))}}
		switch k := rng.IntN(40); {
		case k == 0:
			r.Kind, r.Cause, r.Man = record.KindMan, record.CauseStatus, &record.Management{PktsSeen: uint64(i)}
		case k <= 2: // ARP, RARP, LLDP
			r.EtherType = []uint16{0x0806, 0x0806, 0x8035, 0x88cc}[rng.IntN(4)]
			_, r.SrcAddr = poolAddr(mixedAddr(rng, false))
			_, r.DstAddr = poolAddr(mixedAddr(rng, false))
		default:
			v6 := k < 10
			r.Family, r.SrcAddr = poolAddr(mixedAddr(rng, v6))
			_, r.DstAddr = poolAddr(mixedAddr(rng, v6))
			r.Proto = protos[rng.IntN(len(protos))]
			if v6 && r.Proto == 1 {
				r.Proto = 58
			}
			r.SrcPort = uint16(1024 + rng.IntN(64000))
			r.DstPort = ports[rng.IntN(len(ports))]
			if rng.IntN(2) == 0 {
				r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
			}
		}
		if i%5000 == 77 { // the rare host: a handful of TCP flows
			r.Kind, r.Man, r.EtherType, r.Proto, r.SrcPort, r.DstPort = record.KindFlow, nil, 0, 6, 40000, 443
			r.Family, r.SrcAddr = poolAddr(busy4[0])
			_, r.DstAddr = poolAddr(rare4)
		}
		recs = append(recs, r)
	}
	return recs
}

// randomFilter returns a random filter expression over the pools' addresses, nets,
// ports and protocols, with directions, and/or/not, and terms no index knows.
func randomFilter(rng *rand.Rand, depth int) string {
	if depth > 0 && rng.IntN(3) > 0 {
		a, b := randomFilter(rng, depth-1), randomFilter(rng, depth-1)
		switch rng.IntN(5) {
		case 0, 1:
			return "(" + a + ") and (" + b + ")"
		case 2, 3:
			return "(" + a + ") or (" + b + ")"
		}
		return "not (" + a + ")"
	}
	dirs := []string{"", "", "src ", "dst ", "src and dst ", "src or dst "}
	dir := dirs[rng.IntN(len(dirs))]
	switch rng.IntN(10) {
	case 0, 1:
		addrs := append(append([]string{rare4, rare4, "198.51.100.1", "10.1.3.4"}, busy4...), busy6...)
		return dir + "host " + addrs[rng.IntN(len(addrs))]
	case 2:
		v6 := rng.IntN(3) == 0
		a := netip.MustParseAddr(mixedAddr(rng, v6))
		bits := 8 + rng.IntN(25)
		if v6 {
			bits = 32 + rng.IntN(97)
		}
		return dir + "net " + netip.PrefixFrom(a, bits).Masked().String()
	case 3, 4:
		ports := []string{"53", "22", "443", "8080", "5000", "9", "20-25", "1000-2000", "1024-65535", "70000"}
		p := ports[rng.IntN(len(ports))]
		if p == "70000" {
			p = fmt.Sprint(1024 + rng.IntN(64000))
		}
		return dir + "port " + p
	case 5, 6:
		words := []string{"tcp", "udp", "icmp", "icmpv6", "arp", "rarp", "ipv4", "ipv6", "ip", "man", "ip proto 47", "sctp", "ipv6 proto 6"}
		return words[rng.IntN(len(words))]
	case 7:
		return "srcid " + fmt.Sprint(rng.IntN(3))
	case 8:
		return "pkts gt " + fmt.Sprint(rng.IntN(100))
	}
	return "tcp and " + dir + "port 443"
}

// checkFilters compares, over random filters and windows, QueryFilter with a full scan
// matched by the same filter, and returns the blocks selected and the candidates.
func checkFilters(t *testing.T, a *Archive, all []record.Record, n int, seed uint64) (selected, candidates int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < n; i++ {
		expr := randomFilter(rng, 3)
		flt, err := filter.Compile(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		lo, hi := int64(-1<<62), int64(1<<62)
		if rng.IntN(2) == 0 {
			lo = t0 - int64(time.Hour) + rng.Int64N(int64(5*time.Hour))
			hi = lo + rng.Int64N(int64(time.Hour))
		}
		var want []record.Record
		for _, r := range all {
			if r.StartTime <= hi && r.LastTime >= lo && flt.Match(&r) {
				want = append(want, r)
			}
		}
		got := collect(t, func(fn func(*record.Record) error) error { return a.QueryFilter(lo, hi, flt, fn) })
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("filter %d %q (terms %s), window [%d, %d]: query gave %d records, scan %d",
				i, expr, flt.Terms(), lo, hi, len(got), len(want))
		}
		st := a.LastSelect()
		selected += st.Selected
		candidates += st.Candidates
	}
	return selected, candidates
}

// TestQueryFilterEqualsScan: over an archive of mixed records (IPv4, IPv6, ARP, non-IP,
// management records; several sources), random filters of addresses, nets, ports and
// protocols with directions and and/or/not, in random windows, select exactly the
// records a full scan with the same filter does, in the same order; the index passes
// over most blocks for a rare host; and verify agrees with the new keys. Then, with a
// writer's segments unsealed (no address lists yet) and blocks not indexed, the same
// holds on the writer's archive.
func TestQueryFilterEqualsScan(t *testing.T) {
	dir := t.TempDir()
	recs := genMixed(10000, 3)
	writeArchive(t, dir, recs)
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := a.Verify(); err != nil || len(d) != 0 {
		t.Fatalf("verify: %v %v", d, err)
	}
	all := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	if len(all) != len(recs) {
		t.Fatalf("scan found %d records, wrote %d", len(all), len(recs))
	}
	sel, cand := checkFilters(t, a, all, 150, 11)
	t.Logf("sealed: %d of %d candidate blocks selected", sel, cand)
	if sel >= cand {
		t.Errorf("random filters selected %d of %d blocks: no block passed over", sel, cand)
	}
	// The rare host: a few blocks, every record found.
	flt := filter.MustCompile("host " + rare4)
	got := collect(t, func(fn func(*record.Record) error) error { return a.ScanFilter(flt, fn) })
	st := a.LastSelect()
	if len(got) != 2 || st.Selected > len(got) || !st.ByAddress {
		t.Fatalf("host %s: %d records from %d of %d blocks (by address %v), want 2 records from at most 2 blocks found by address",
			rare4, len(got), st.Selected, st.Candidates, st.ByAddress)
	}
	// A protocol and a port the blocks' summaries rule out.
	for _, expr := range []string{"ip proto 99", "port 9", "host 198.51.100.1"} {
		got := collect(t, func(fn func(*record.Record) error) error { return a.ScanFilter(filter.MustCompile(expr), fn) })
		if st := a.LastSelect(); len(got) != 0 || st.Selected != 0 {
			t.Errorf("%q: %d records from %d blocks, want none", expr, len(got), st.Selected)
		}
	}
	a.Close()

	// A writer's archive: more records, flushed (blocks indexed, summarized) but not
	// sealed (no address entries yet), and the last ones not flushed at all.
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	more := genMixed(3000, 4)
	wr := w.NewWriter(5 * time.Minute)
	wr.blockBytes = 4 << 10
	for i := range more {
		more[i].StartTime += int64(3 * time.Hour)
		more[i].LastTime += int64(3 * time.Hour)
		more[i].Seq += 100000
		if err := wr.Write(&more[i]); err != nil {
			t.Fatal(err)
		}
		if i == 2000 {
			if err := wr.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := wr.Flush(); err != nil {
		t.Fatal(err)
	}
	all = collect(t, func(fn func(*record.Record) error) error { return w.Scan(nil, fn) })
	if len(all) != len(recs)+len(more) {
		t.Fatalf("scan found %d records, wrote %d", len(all), len(recs)+len(more))
	}
	checkFilters(t, w, all, 80, 12)
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestQueryFilterTimeOnlyWithoutSummaries: blocks without summaries and segments without
// block lists (an index of format version 1, or a summary lost) are selected by time
// alone, and the answers stay exact.
func TestQueryFilterTimeOnlyWithoutSummaries(t *testing.T) {
	dir := t.TempDir()
	recs := genMixed(5000, 5)
	writeArchive(t, dir, recs)
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	all := collect(t, func(fn func(*record.Record) error) error { return a.Scan(nil, fn) })
	// Unmark every other segment, and drop the summaries of the others' first blocks.
	segs, err := a.segments()
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range segs {
		if i%2 == 0 {
			s.summarized = false
			if err := a.db.Set(segKey(s.id), encodeSegment(&s), nil); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := a.db.DeleteRange(sumKey(s.id, 0), sumKey(s.id, 30000), nil); err != nil {
			t.Fatal(err)
		}
	}
	sel, cand := checkFilters(t, a, all, 100, 13)
	if sel >= cand {
		t.Errorf("selected %d of %d blocks", sel, cand)
	}
	flt := filter.MustCompile("host " + rare4)
	if err := a.ScanFilter(flt, func(*record.Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st := a.LastSelect(); st.Selected < st.Candidates/3 {
		t.Errorf("host %s: %d of %d blocks selected; the unsummarized segments' blocks must all be", rare4, st.Selected, st.Candidates)
	}
}

// BenchmarkRareHost measures `read -R -- host X` for an address in a handful of records:
// the cost the forensic question pays, which block selection keeps to a few index seeks
// and the blocks holding the address, however long the archive. The full scan with the
// same filter is the comparison.
func BenchmarkRareHost(b *testing.B) {
	dir := b.TempDir()
	recs := genMixed(200000, 9)
	a, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	w := a.NewWriter(5 * time.Minute)
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	a.Close()
	if a, err = Open(dir, Options{ReadOnly: true}); err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	for _, bc := range []struct {
		name string
		run  func(flt *filter.Filter, fn func(*record.Record) error) error
	}{
		{"select", a.ScanFilter},
		{"scan", func(flt *filter.Filter, fn func(*record.Record) error) error { return a.Scan(flt.Match, fn) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			flt := filter.MustCompile("host " + rare4)
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				if err := bc.run(flt, func(*record.Record) error { n++; return nil }); err != nil || n == 0 {
					b.Fatalf("%d records, %v", n, err)
				}
			}
			b.ReportMetric(float64(len(recs)), "records/archive")
		})
	}
}

// TestRecordNeedles: the byte strings a filter's address terms require of a record's
// encoding, and none where a term could select a record without them.
func TestRecordNeedles(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string // hex
	}{
		{"host 203.0.113.7", []string{"cb007107"}},
		{"src host 203.0.113.7 and tcp", []string{"cb007107"}},
		{"host 203.0.113.7 or host 10.0.0.1", []string{"cb007107", "0a000001"}},
		{"host 203.0.113.7 or tcp", nil},
		{"net 10.1.0.0/16", []string{"0a01"}},
		{"net 10.1.2.0/24", []string{"0a0102"}},
		{"net 10.1.2.0/23", []string{"0a01"}},
		{"net 10.0.0.0/8", nil}, // one byte: in nearly every record
		{"host 2001:db8::1", []string{"20010db8000000000000000000000001"}},
		{"net 2001:db8::/32", []string{"20010db8"}},
		{"host ::ffff:203.0.113.7", []string{"cb007107"}}, // stored as 4 bytes or 16
		{"net ::/0", nil},
		{"net ::/8", nil}, // reaches ::ffff:0:0/96, whose records hold 4 bytes
		{"not host 203.0.113.7", nil},
		{"host 203.0.113.7 and net 2001:db8::/32", []string{"cb007107"}},
	} {
		flt, err := filter.Compile(c.expr)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		var got []string
		for _, n := range recordNeedles(flt.Terms()) {
			got = append(got, fmt.Sprintf("%x", n))
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: needles %v, want %v", c.expr, got, c.want)
		}
	}
}

// TestDecodeBatchNeedles: a block decoded with a host's needles keeps exactly the
// records decoded without them, where the needle's bytes also lie across records'
// boundaries, in their framing and in other fields (a port, a counter), and the
// records without the host are not decoded.
func TestDecodeBatchNeedles(t *testing.T) {
	host := [4]byte{0x01, 0x02, 0x03, 0x04}
	var recs []record.Record
	for i := range 300 {
		r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, SrcID: 1, Seq: uint32(i),
			StartTime: t0 + int64(i), LastTime: t0 + int64(i)}
		r.SrcAddr = [16]byte{10, 0, 0, byte(i)}
		r.DstAddr = [16]byte{0x03, 0x04, 0x01, 0x02} // the needle's halves, swapped
		switch i % 7 {
		case 0:
			r.DstAddr = [16]byte{host[0], host[1], host[2], host[3]}
		case 3:
			r.SrcAddr = [16]byte{host[0], host[1], host[2], host[3]}
			r.Family, r.Proto, r.EtherType = 0, 0, 0x0806 // ARP: a host term matches it too
		case 5:
			r.Src.Pkts = 0x04030201 // the needle's bytes in a counter, as a varint
			r.DstAddr = [16]byte{9, host[0], host[1], host[2]}
			r.SrcPort = uint16(host[3])<<8 | 0x01
		}
		recs = append(recs, r)
	}
	var raw []byte
	for i := range recs {
		raw = record.AppendRecord(raw, &recs[i])
	}
	info := BlockInfo{Records: uint32(len(recs))}
	z := appendBlock(nil, raw, nil, &info)
	flt := filter.MustCompile("host 1.2.3.4")
	needles := recordNeedles(flt.Terms())
	decoded := 0
	run := func(needles [][]byte) []record.Record {
		b := &blockBatch{ref: blockRef{info: info}, z: z, name: "test"}
		decodeBatch(b, &readSpec{needles: needles, keep: func(r *record.Record) bool { decoded++; return flt.Match(r) }, fields: record.AllFields, ordered: true})
		if b.err != nil {
			t.Fatal(b.err)
		}
		var out []record.Record
		for _, k := range b.keys {
			out = append(out, b.recs[k.i])
		}
		return out
	}
	want := run(nil)
	decoded = 0
	got := run(needles)
	if len(want) != 86 || !reflect.DeepEqual(got, want) {
		t.Fatalf("with needles %x: %d records, without: %d", needles, len(got), len(want))
	}
	if decoded >= len(recs)/2 {
		t.Errorf("with needles %d of %d records decoded", decoded, len(recs))
	}
}

// splitBlock returns recs as a block of split columns (segment version 3), as the
// writer's compressors make it, and the records it must decode to.
func splitBlock(t *testing.T, recs []record.Record) ([]byte, BlockInfo, []record.Record) {
	t.Helper()
	cols := record.AppendColumns(nil, recs)
	want, err := new(record.ColumnDecoder).Decode(cols, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	split, ends, err := record.SplitColumns(nil, cols)
	if err != nil || ends[0] == 0 || ends[0] >= ends[1] || ends[1] >= len(split) {
		t.Fatalf("split: parts end at %v of %d (%v)", ends, len(split), err)
	}
	info := BlockInfo{Records: uint32(len(recs)), Columns: true}
	return appendBlock(nil, split, &ends, &info), info, want
}

// A split block (segment version 3) decodes on a query's workers as a whole one does:
// with every field, or with those of its first part (a count) or first two (ra's
// default columns) only, without and with a host's needles, key first or not; a reader
// decompresses only the parts that hold its fields, or only the first when no key in
// the block passes a key-first read.
func TestDecodeBatchSplit(t *testing.T) {
	recs := genMixed(3000, 77)
	z, info, whole := splitBlock(t, recs)
	var host netip.Addr
	for _, r := range recs {
		if r.Kind == record.KindFlow && r.Family == 4 {
			host = r.Addr(true)
			break
		}
	}
	hostFlt := filter.MustCompile("host " + host.String())
	none := filter.MustCompile("port 1 and udp") // no record of the block
	for _, c := range []struct {
		fields  record.Fields
		needles bool
		key     bool // keyKeep
		flt     *filter.Filter
	}{{record.AllFields, false, false, nil}, {record.AllFields, true, false, hostFlt}, {record.FrontFields, false, false, nil},
		{record.FrontFields, true, false, hostFlt}, {record.AllFields, false, true, hostFlt}, {record.AllFields, true, true, hostFlt},
		{record.FrontFields, false, true, hostFlt}, {record.AllFields, false, true, none}, {record.CoreFields, false, false, nil},
		{record.CoreFields, true, true, hostFlt}, {record.FrontFields, false, true, none}} {
		var needles [][]byte
		var keyKeep func(*record.Record) bool
		keep := func(*record.Record) bool { return true }
		if c.flt != nil {
			keep = c.flt.Match
		}
		if c.needles {
			needles = recordNeedles(c.flt.Terms())
		}
		if c.key {
			keyKeep = c.flt.Match
		}
		var want []record.Record
		for _, r := range whole {
			if !keep(&r) {
				continue
			}
			if c.fields != record.AllFields {
				p := record.Record{Kind: r.Kind, Family: r.Family, Proto: r.Proto, EtherType: r.EtherType,
					SrcAddr: r.SrcAddr, DstAddr: r.DstAddr, SrcPort: r.SrcPort, DstPort: r.DstPort,
					SrcID: r.SrcID, StartTime: r.StartTime, LastTime: r.LastTime}
				p.Src.Pkts, p.Src.Bytes, p.Dst.Pkts, p.Dst.Bytes = r.Src.Pkts, r.Src.Bytes, r.Dst.Pkts, r.Dst.Bytes
				if c.fields == record.FrontFields {
					p.Src.MAC, p.Dst.MAC = r.Src.MAC, r.Dst.MAC
					p.Flags, p.TCPState, p.Cause = r.Flags, r.TCPState, r.Cause
					p.Src.Retrans, p.Src.Loss, p.Src.OutOfOrder = r.Src.Retrans, r.Src.Loss, r.Src.OutOfOrder
					p.Dst.Retrans, p.Dst.Loss, p.Dst.OutOfOrder = r.Dst.Retrans, r.Dst.Loss, r.Dst.OutOfOrder
				}
				if r.Man != nil {
					p.Man = new(record.Management)
				}
				r = p
			}
			want = append(want, r)
		}
		b := &blockBatch{ref: blockRef{info: info}, z: z, name: "test"}
		decodeBatch(b, &readSpec{needles: needles, keep: keep, keyKeep: keyKeep, fields: c.fields})
		if b.err != nil {
			t.Fatal(b.err)
		}
		got := b.recs[:b.n]
		if len(got) != len(want) || (len(want) == 0) != (c.flt == none) {
			t.Fatalf("fields %x, needles %v: %d records, want %d", c.fields, c.needles, len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("fields %x, needles %v: record %d:\n got %+v\nwant %+v", c.fields, c.needles, i, got[i], want[i])
			}
		}
		rawLen := binary.LittleEndian.Uint32(z[8:]) &^ rawFlags
		_, raws, _ := splitParts(z[blockHdrSize:], int(rawLen))
		parts := record.PartsFor(c.fields)
		if c.flt == none {
			parts = 1
		}
		if want := raws[0] + raws[1]*min(parts-1, 1) + raws[2]*(parts/3); len(b.raw) != want {
			t.Errorf("fields %x, filter %v: %d of %d bytes decompressed, want %d (%d parts)", c.fields, c.flt, len(b.raw), rawLen, want, parts)
		}
	}
	// The whole block, as rebuild, verify and recovery read it.
	_, raw, err := readBlock(readerAt(z), 0, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var rec record.Record
	if err := decodeRecords(raw, true, nil, 0, "test", &rec, func(r *record.Record) error {
		if !reflect.DeepEqual(*r, whole[n]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", n, *r, whole[n])
		}
		n++
		return nil
	}); err != nil || n != len(whole) {
		t.Fatalf("readBlock: %d of %d records (%v)", n, len(whole), err)
	}
}
