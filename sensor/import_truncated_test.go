package sensor

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/record"
)

// A capture cut short, in each container the importer reads (pcap, pcapng, gzip): one
// warning naming the file and the byte offset, the packets before the cut in the
// records; with --strict an error, and the same records written.
func TestTruncatedCaptureKinds(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name, source string
		cut          func(full []byte) []byte
		file         string
	}{
		{"pcap", "get.pcap", func(b []byte) []byte { return b[:len(b)-10] }, "cut.pcap"},
		{"pcapng", "dns.pcap", func(b []byte) []byte { return b[:len(b)*2/3] }, "cut.pcapng"},
		{"gzip", "http_ipv6.pcap", func(b []byte) []byte { z := gz(b); return z[:len(z)/2] }, "cut.pcap.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full, err := os.ReadFile(filepath.Join("..", "testdata", tc.source))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, tc.cut(full), 0o644); err != nil {
				t.Fatal(err)
			}
			lenient, st, warn, err := importBytes(t, []string{path}, ImportConfig{})
			if err != nil {
				t.Fatalf("lenient import failed: %v", err)
			}
			if !st.Truncated || !strings.Contains(warn, tc.file+": truncated at byte ") || strings.Count(warn, "\n") != 1 {
				t.Fatalf("warning %q: want one line naming %s and the byte offset", warn, tc.file)
			}
			var pkts uint64
			for _, r := range readAll(t, lenient) {
				if r.Kind == record.KindFlow {
					pkts += r.Pkts()
				}
			}
			if pkts == 0 || pkts != st.PktsSeen {
				t.Fatalf("records hold %d packets; %d were read before the cut", pkts, st.PktsSeen)
			}
			strict, _, _, err := importBytes(t, []string{path}, ImportConfig{Strict: true})
			if err == nil || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("--strict: error %v, want one naming %s", err, tc.file)
			}
			if !bytes.Equal(strict, lenient) {
				t.Fatal("--strict wrote other records than the lenient import: records read before the cut were lost")
			}
		})
	}
}
