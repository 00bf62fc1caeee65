package ipfix

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
// whatever the bytes, it returns errors and never panics, and every record it emits
// has an address family and a time span that does not run backwards.
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
		}
	})
}

// FuzzReadIPFIXStream reads bytes as an IPFIX stream: never a panic, and a clean
// stream of our own messages reads without error.
func FuzzReadIPFIXStream(f *testing.F) {
	c := &msgConn{network: "tcp"}
	e := NewExporter(c, ExporterOptions{})
	in := sampleRecords()
	for i := range in {
		e.Write(&in[i])
		e.Flush()
	}
	f.Add(bytes.Join(c.msgs, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadIPFIXStream(bytes.NewReader(data), exporterAddr, NewDecoder(DecoderOptions{}), func(*record.Record) {})
	})
}
