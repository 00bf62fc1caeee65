package ipfix

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"panoptes/record"
)

// ipfixMsg is an IPFIX message of the given observation domain holding sets.
func ipfixMsg(domain uint32, sets ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 10)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, 1772366400)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, domain)
	for _, s := range sets {
		b = append(b, s...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// ipfixSet is a set with its header.
func ipfixSet(id uint16, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, uint16(4+len(body)))
	return append(b, body...)
}

// oneFieldTemplates is a template set of n templates (ids 256 on) of one field each:
// the cheapest way for an exporter to fill a template table.
func oneFieldTemplates(n int) []byte {
	var body []byte
	for i := range n {
		body = binary.BigEndian.AppendUint16(body, uint16(256+i))
		body = binary.BigEndian.AppendUint16(body, 1)
		body = binary.BigEndian.AppendUint16(body, ieSrcIPv4)
		body = binary.BigEndian.AppendUint16(body, 4)
	}
	return ipfixSet(2, body)
}

// floodRecords is n distinct records for a legitimate exporter.
func floodRecords(n int) []record.Record {
	in := make([]record.Record, n)
	for i := range in {
		r := sampleRecords()[i%2]
		r.SrcPort = uint16(i)
		r.SrcAddr[2], r.SrcAddr[3] = byte(i>>8), byte(i)
		in[i] = r
	}
	return in
}

// exportUDP returns the datagrams an exporter with default options sends for in.
func exportUDP(t *testing.T, in []record.Record) [][]byte {
	t.Helper()
	c := &msgConn{network: "udp"}
	e := NewExporter(c, ExporterOptions{})
	for i := range in {
		if err := e.Write(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return c.msgs
}

// countDecoded decodes msgs from exporter and returns how many records came out.
func countDecoded(d *Decoder, msgs [][]byte, exporter netip.AddrPort) int {
	n := 0
	for _, m := range msgs {
		d.Decode(m, exporter, func(*record.Record) { n++ })
	}
	return n
}

// TestTemplateFloodLeavesOtherExporters: one exporter sends 10 datagrams of 8,000
// one-field templates, each in an observation domain of its own, then a legitimate
// exporter sends 19,999 records. Its records are all decoded: the flood costs only
// the flooder's own templates. Before the fix: 0 of 19999 records decoded (the flood
// filled the decoder's one 65,536-template table, so the legitimate exporter's
// templates were refused until restart).
func TestTemplateFloodLeavesOtherExporters(t *testing.T) {
	d := NewDecoder(DecoderOptions{})
	hostile := netip.MustParseAddrPort("198.51.100.66:5000")
	flood := oneFieldTemplates(8000)
	for dom := range uint32(10) {
		d.Decode(ipfixMsg(dom, flood), hostile, func(*record.Record) {})
	}
	const n = 19999
	if got := countDecoded(d, exportUDP(t, floodRecords(n)), exporterAddr); got != n {
		t.Fatalf("%d of %d records of the legitimate exporter decoded after another's template flood", got, n)
	}
}

// TestExporterRestartsDoNotLeakTemplates: an exporter that restarts comes back on a new
// UDP port, and the templates of its past lives stay behind. After 9,000 restarts with
// 8 templates each it still has its records decoded. Before the fix: 0 of 100 records
// decoded (the past lives' 72,000 templates had filled the table).
func TestExporterRestartsDoNotLeakTemplates(t *testing.T) {
	d := NewDecoder(DecoderOptions{})
	tmpl := ipfixMsg(1, oneFieldTemplates(8))
	for i := range 9000 {
		d.Decode(tmpl, netip.AddrPortFrom(exporterAddr.Addr(), uint16(10000+i)), func(*record.Record) {})
	}
	if got := countDecoded(d, exportUDP(t, floodRecords(100)), exporterAddr); got != 100 {
		t.Fatalf("%d of 100 records decoded after 9000 restarts of their exporter", got)
	}
}

// heapAfter returns the live heap after f, which must keep what it allocated reachable.
func heapAfter(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// bigTemplate is a template set of one template with 16,370 fields (as many as one
// IPFIX message holds).
func bigTemplate() []byte {
	var body []byte
	body = binary.BigEndian.AppendUint16(body, 300)
	body = binary.BigEndian.AppendUint16(body, 16370)
	for range 16370 {
		body = binary.BigEndian.AppendUint16(body, ieSrcIPv4)
		body = binary.BigEndian.AppendUint16(body, 4)
	}
	return ipfixSet(2, body)
}

// TestTemplateMemoryBounded: 300 datagrams from one exporter, each holding one
// 16,370-field template in a domain of its own, keep at most the exporter's byte budget
// of templates (accounted and on the heap). Before the fix: 39 MB of heap held
// (about 130 KB per template, none ever let go).
func TestTemplateMemoryBounded(t *testing.T) {
	d := NewDecoder(DecoderOptions{})
	big := bigTemplate()
	from := netip.MustParseAddrPort("198.51.100.66:5000")
	grown := heapAfter(func() {
		for dom := range uint32(300) {
			d.Decode(ipfixMsg(dom, big), from, func(*record.Record) {})
		}
	})
	runtime.KeepAlive(d)
	if limit := uint64(8 << 20); grown > limit {
		t.Fatalf("300 templates of 16,370 fields from one exporter hold %d bytes of heap, want at most %d", grown, limit)
	}
	st := d.Stats()
	if st.TemplateBytes > DefaultMaxExporterTemplateBytes || st.TemplatesEvicted == 0 || st.TemplatesHeld+int(st.TemplatesEvicted) != 300 {
		t.Errorf("stats %+v: want at most %d template bytes, the rest evicted", st, DefaultMaxExporterTemplateBytes)
	}
	if err := d.templates.check(); err != nil {
		t.Error(err)
	}
	// The newest are kept: the last domain's template is held.
	if d.templates.domains[domainKey{from, 10, 299}] == nil {
		t.Error("the newest template was evicted")
	}
}

// TestTemplateTotalBudgetFair: over the total budget, the largest exporter loses its
// oldest templates, not an exporter within its share. 40 exporters of 50 templates
// each against a total of 1000: the first exporter, which keeps sending its one
// template, keeps it (before the fix there was no total budget but the table's
// 65,536 templates, and the table refused newcomers rather than evicting).
func TestTemplateTotalBudgetFair(t *testing.T) {
	d := NewDecoder(DecoderOptions{MaxTemplates: 1000})
	legit := netip.MustParseAddrPort("192.0.2.7:4739")
	mine := ipfixMsg(1, oneFieldTemplates(1))
	flood := ipfixMsg(1, oneFieldTemplates(50))
	for i := range 40 {
		d.Decode(mine, legit, func(*record.Record) {})
		d.Decode(flood, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 9), func(*record.Record) {})
	}
	if err := d.templates.check(); err != nil {
		t.Fatal(err)
	}
	ex := d.Exporters()
	var evicted uint64
	for _, e := range ex {
		if e.Exporter == legit.Addr() && (e.Templates != 1 || e.Evicted != 0) {
			t.Errorf("the exporter within its share: %+v", e)
		}
		evicted += e.Evicted
	}
	if st := d.Stats(); st.TemplatesHeld != 1000 || st.TemplatesEvicted != evicted || evicted != 1+40*50-1000 {
		t.Errorf("stats %+v, %d evicted per exporter: want 1000 held and the rest evicted", st, evicted)
	}
}

// TestTemplateLifetime: a template neither sent again nor used for TemplateLifetime is
// forgotten, with its exporter; one in use is kept, even if not sent again. Before the fix templates never
// expired (there was no lifetime).
func TestTemplateLifetime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := NewDecoder(DecoderOptions{TemplateLifetime: time.Minute, Now: func() time.Time { return now }})
	gone := netip.MustParseAddrPort("198.51.100.1:9")
	d.Decode(ipfixMsg(1, oneFieldTemplates(3)), gone, func(*record.Record) {})
	// The exporter's first message carries its templates; the second data only.
	c := &msgConn{network: "udp"}
	e := NewExporter(c, ExporterOptions{})
	for _, r := range floodRecords(20) {
		e.Write(&r)
		if r.SrcPort == 9 {
			e.Flush()
		}
	}
	e.Flush()
	if n := countDecoded(d, c.msgs[:1], exporterAddr); n != 10 || len(c.msgs) != 2 {
		t.Fatalf("%d messages, %d records in the first: want 2, and 10", len(c.msgs), n)
	}
	for i := range 10 {
		now = now.Add(20 * time.Second)
		if got := countDecoded(d, c.msgs[1:], exporterAddr); got != 10 {
			t.Fatalf("after %v: %d of 10 records decoded with a template in use", time.Duration(i+1)*20*time.Second, got)
		}
	}
	ex := d.Exporters()
	if len(ex) != 1 || ex[0].Exporter != exporterAddr.Addr() {
		t.Errorf("exporters %+v: want only %s, the other expired", ex, exporterAddr.Addr())
	}
	// The 3 of the exporter gone, and the IPv6 template of the other, never used.
	if st := d.Stats(); st.TemplatesExpired != 4 || st.TemplatesHeld != 1 {
		t.Errorf("stats %+v: want 4 expired, 1 held", st)
	}
	if err := d.templates.check(); err != nil {
		t.Error(err)
	}
}

// TestDomainStateShrinks: options templates, options data (systemInitTimeMilliseconds)
// and the templates' withdrawal in 100,000 new observation domains leave nothing
// behind. Before the fix: 7.3 MB of heap held (a per-domain systemInitTimeMilliseconds
// map entry that was never deleted).
func TestDomainStateShrinks(t *testing.T) {
	d := NewDecoder(DecoderOptions{})
	var opt []byte
	opt = binary.BigEndian.AppendUint16(opt, 400)
	opt = binary.BigEndian.AppendUint16(opt, 1) // one field
	opt = binary.BigEndian.AppendUint16(opt, 1) // the scope
	opt = binary.BigEndian.AppendUint16(opt, ieSysInitMillis)
	opt = binary.BigEndian.AppendUint16(opt, 8)
	data := binary.BigEndian.AppendUint64(nil, 1772366400000)
	withdraw := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 3), 0) // every options template
	from := netip.MustParseAddrPort("198.51.100.66:5000")
	grown := heapAfter(func() {
		for dom := range uint32(100000) {
			d.Decode(ipfixMsg(dom, ipfixSet(3, opt), ipfixSet(400, data), ipfixSet(3, withdraw)), from, func(*record.Record) {})
		}
	})
	runtime.KeepAlive(d)
	if st := d.Stats(); st.Options != 100000 || st.Withdrawals != 100000 {
		t.Fatalf("stats %+v: want 100000 options records and withdrawals", st)
	}
	if limit := uint64(1 << 20); grown > limit {
		t.Fatalf("100,000 withdrawn domains hold %d bytes of heap, want at most %d", grown, limit)
	}
}

// TestTemplateRefusedCounted: a template larger than an exporter's whole byte budget is
// refused and counted on that exporter, which is then tracked without templates
// (before the budgets a template of any size was kept: 130 KB for this one).
func TestTemplateRefusedCounted(t *testing.T) {
	d := NewDecoder(DecoderOptions{MaxExporterTemplateBytes: 64 << 10})
	from := netip.MustParseAddrPort("198.51.100.66:5000")
	d.Decode(ipfixMsg(1, bigTemplate()), from, func(*record.Record) {})
	ex := d.Exporters()
	if st := d.Stats(); st.TemplatesRefused != 1 || st.TemplatesHeld != 0 || len(ex) != 1 || ex[0].Refused != 1 || ex[0].Templates != 0 {
		t.Errorf("stats %+v, exporters %+v: want one refusal, on %s", st, ex, from.Addr())
	}
	if err := d.templates.check(); err != nil {
		t.Error(err)
	}
}
