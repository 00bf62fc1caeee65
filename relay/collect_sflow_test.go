package relay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"panoptes/ipfix"
	"panoptes/metrics"
	"panoptes/record"
	"panoptes/sflow"
)

// TestCollectSFlowBesideIPFIX: one -C socket takes sFlow v5 and IPFIX datagrams alike;
// sampled records say so, counter samples and unknown records are counted, a malformed
// sFlow datagram is counted and logged with its offset, and the exit summary says it
// all. Before sFlow was read, the sFlow datagram was "unknown version 0" and malformed.
func TestCollectSFlowBesideIPFIX(t *testing.T) {
	var logs []string
	logf := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	c := newCollector(nil, nil, logf)
	var got []record.Record
	put := func(r *record.Record) { got = append(got, *r) }
	from := netip.MustParseAddrPort("192.0.2.9:6343")

	// An Ethernet/IPv4/UDP frame, sampled 1 in 256.
	frame := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0,
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x13, 0x88, 0, 53, 0, 8, 0, 0}
	hdr := binary.BigEndian.AppendUint32(nil, sflow.HeaderEthernet)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(frame)+4))
	hdr = binary.BigEndian.AppendUint32(hdr, 4)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(frame)))
	hdr = append(hdr, frame...)
	d := sflow.Datagram{Agent: netip.MustParseAddr("192.0.2.9"), Samples: []sflow.Sample{
		{Format: sflow.FormatFlowSample, Rate: 256, Records: []sflow.Record{{Format: sflow.RecordRawHeader, Data: hdr}, {Format: 1010, Data: []byte{0, 0, 0, 0}}}},
		{Format: sflow.FormatCounterSample, Records: []sflow.Record{{Format: 1, Data: make([]byte, 88)}}},
		{Format: sflow.FormatCounterSampleExpanded},
	}}
	msg, err := sflow.AppendDatagram(nil, &d)
	if err != nil {
		t.Fatal(err)
	}
	c.handle(msg, from, put)
	c.handle(msg[:len(msg)-3], from, put) // cut: malformed

	dc := &datagramConn{}
	ex := ipfix.NewExporter(dc, ipfix.ExporterOptions{})
	r := mkrec(1)
	if err := ex.Write(&r); err != nil {
		t.Fatal(err)
	}
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, m := range dc.msgs {
		c.handle(m, from, put)
	}

	if len(got) != 2 {
		t.Fatalf("%d records, want one from sFlow and one from IPFIX", len(got))
	}
	s := got[0]
	if s.Sampling != 256 || s.Src.Pkts != 256 || s.Src.Bytes != 256*uint64(len(frame)) || s.Addr(true).String() != "10.0.0.1" || s.DstPort != 53 {
		t.Errorf("sFlow record: sampling %d, %d pkts, %d bytes, %s -> port %d", s.Sampling, s.Src.Pkts, s.Src.Bytes, s.Addr(true), s.DstPort)
	}
	if got[1].Sampling != 0 {
		t.Errorf("IPFIX record marked as sampled (%d)", got[1].Sampling)
	}
	if len(logs) != 1 || !strings.Contains(logs[0], "sflow from 192.0.2.9:6343: byte ") {
		t.Errorf("logs: %q, want one line naming the malformed datagram's offset", logs)
	}
	// The metrics say the same while the relay runs.
	var text bytes.Buffer
	if err := metrics.WriteText(&text, &relayMetrics{h: &hub{}, src: &sources{}, col: c}); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(&text)
	if err != nil {
		t.Fatalf("%v in:\n%s", err, text.String())
	}
	metric := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			metric[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"panoptes_relay_collector_datagrams_total{decoded}":         float64(1 + len(dc.msgs)),
		"panoptes_relay_collector_datagrams_total{malformed}":       1,
		"panoptes_relay_collector_datagrams_total{denied}":          0,
		"panoptes_relay_collector_records_total{sflow}":             1,
		"panoptes_relay_collector_records_total{ipfix}":             1,
		"panoptes_relay_collector_lost_total{sflow_skipped_record}": 1,
		"panoptes_relay_collector_lost_total{no_template}":          0,
		"panoptes_relay_collector_templates":                        float64(c.dec.Stats().TemplatesHeld),
	} {
		if got, ok := metric[name]; !ok || got != want {
			t.Errorf("metric %s = %v (there: %v), want %v", name, got, ok, want)
		}
	}

	logs = nil
	c.summary()
	all := strings.Join(logs, "\n")
	for _, want := range []string{fmt.Sprintf("-C summary: %d datagrams", 2+len(dc.msgs)), "1 malformed",
		"-C sflow: 1 datagrams, 1 malformed, 0 missing from the agents' sequence numbers; 1 flow samples -> 1 records", "2 counter samples", "0 samples and 1 flow records of other formats"} {
		if !strings.Contains(all, want) {
			t.Errorf("summary lacks %q:\n%s", want, all)
		}
	}
}
