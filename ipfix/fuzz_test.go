package ipfix

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"panoptes/record"
)

var writeSeeds = flag.Bool("seeds", false, "write the messages softflowd and the exporter send as fuzz seeds in testdata/fuzz/")

// framed joins messages as the fuzz targets read them: each with a 2-byte length
// before it, so that one input can carry templates and then data.
func framed(msgs [][]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// saveSeed writes data as a seed of the named fuzz target (with -seeds).
func saveSeed(t *testing.T, target, name string, data []byte) {
	t.Helper()
	if !*writeSeeds {
		return
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecode feeds a sequence of messages (each after a 2-byte length) to one decoder:
// whatever the bytes, it returns errors and never panics, every record it emits has an
// address family and a time span that does not run backwards, and its template state
// stays within the budgets and counted right.
func FuzzDecode(f *testing.F) {
	f.Add(framed(sampleMessages()))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(DecoderOptions{})
		emit := func(r *record.Record) {
			if r.Family != 4 && r.Family != 6 {
				t.Fatalf("record with family %d", r.Family)
			}
			if r.LastTime < r.StartTime {
				t.Fatalf("record ends before it starts: %d < %d", r.LastTime, r.StartTime)
			}
		}
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			n = min(n, len(data))
			d.Decode(data[:n], exporterAddr, emit)
			data = data[n:]
			if err := d.templates.check(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzReadIPFIXStream reads bytes as an IPFIX stream. Property: the stream gives exactly
// the records (in order) that decoding its messages one by one gives, it fails exactly
// when they do not all frame and decode, and the decoder's template state is within its
// budgets and counted right. (Before, the target only checked for panics.)
func FuzzReadIPFIXStream(f *testing.F) {
	c := &msgConn{network: "tcp"}
	e := NewExporter(c, ExporterOptions{})
	in := sampleRecords()
	for i := range in {
		e.Write(&in[i])
		e.Flush()
	}
	f.Add(bytes.Join(c.msgs, nil))
	f.Add(ipfixMsg(7, oneFieldTemplates(40)))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := DecoderOptions{MaxExporterTemplates: 16, MaxExporterTemplateBytes: 4 << 10, Now: fixedClock}
		d := NewDecoder(opts)
		var got []record.Record
		err := ReadIPFIXStream(bytes.NewReader(data), exporterAddr, d, func(r *record.Record) { got = append(got, *r) })
		want, wantErr := decodeMessages(data, NewDecoder(opts))
		if (err != nil) != wantErr {
			t.Fatalf("stream error %v; message by message, an error: %v", err, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("stream gave %d records, message by message %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("record %d: stream %+v, message by message %+v", i, got[i], want[i])
			}
		}
		if err := d.templates.check(); err != nil {
			t.Fatal(err)
		}
	})
}

func fixedClock() time.Time { return time.Unix(1772366400, 0) }

// decodeMessages splits data into IPFIX messages by their header's length and decodes
// them one by one until one does not frame or decode.
func decodeMessages(data []byte, d *Decoder) (recs []record.Record, failed bool) {
	for len(data) > 0 {
		if len(data) < ipfixHeader || binary.BigEndian.Uint16(data) != 10 {
			return recs, true
		}
		l := int(binary.BigEndian.Uint16(data[2:]))
		if l < ipfixHeader || l > len(data) {
			return recs, true
		}
		if err := d.Decode(data[:l], exporterAddr, func(r *record.Record) { recs = append(recs, *r) }); err != nil {
			return recs, true
		}
		data = data[l:]
	}
	return recs, false
}

// FuzzTemplateFlood is the template-flood property: whatever a set of exporters sends,
// and however time passes, each exporter's templates stay within its budget, the total
// within the decoder's, and the counted state matches what is held. Each message comes
// after 3 bytes: the exporter (of 8, on two ports each), the minutes that pass before
// it (0 to 15), and its length; the budgets are small so that inputs reach them.
func FuzzTemplateFlood(f *testing.F) {
	frame := func(ex, minutes byte, msgs ...[]byte) []byte {
		var b []byte
		for _, m := range msgs {
			b = append(b, ex|minutes<<4)
			b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
			b = append(b, m...)
		}
		return b
	}
	f.Add(frame(1, 0, ipfixMsg(1, oneFieldTemplates(40)), ipfixMsg(2, oneFieldTemplates(40))))
	f.Add(append(frame(0, 0, sampleMessages()...), frame(3, 1, ipfixMsg(9, bigTemplate()[:4000]))...))
	f.Add(append(frame(2, 0, ipfixMsg(5, oneFieldTemplates(10))), frame(2, 15, ipfixMsg(5, ipfixSet(2, []byte{0, 2, 0, 0})))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		now := fixedClock()
		d := NewDecoder(DecoderOptions{MaxTemplates: 48, MaxTemplateBytes: 12 << 10, MaxExporterTemplates: 16,
			MaxExporterTemplateBytes: 4 << 10, TemplateLifetime: 10 * time.Minute, Now: func() time.Time { return now }})
		for len(data) >= 3 {
			ex := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, data[0] & 7}), 4739+uint16(data[0]>>3&1))
			now = now.Add(time.Duration(data[0]>>4) * time.Minute)
			n := min(int(binary.BigEndian.Uint16(data[1:])), len(data)-3)
			d.Decode(data[3:3+n], ex, func(*record.Record) {})
			data = data[3+n:]
			if err := d.templates.check(); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range d.Exporters() {
			if e.Templates > 16 || e.TemplateBytes > 4<<10 {
				t.Fatalf("exporter %+v over its budget", e)
			}
		}
	})
}
