package sensor

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/record"
)

// A link type the decoder does not read (802.11, 105): one warning naming the file and
// the link type however many packets there are, the packets counted in the management
// records as seen and skipped, and the next capture imported as usual.
func TestUnsupportedLinkType(t *testing.T) {
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535)
	le.PutUint32(hdr[20:], 105)
	capture := hdr
	frame := make([]byte, 40)
	for i := 0; i < 3; i++ {
		rec := make([]byte, 16)
		le.PutUint32(rec[0:], uint32(1700000000+i))
		le.PutUint32(rec[8:], uint32(len(frame)))
		le.PutUint32(rec[12:], uint32(len(frame)))
		capture = append(append(capture, rec...), frame...)
	}
	wlan := filepath.Join(t.TempDir(), "wlan.pcap")
	if err := os.WriteFile(wlan, capture, 0o644); err != nil {
		t.Fatal(err)
	}
	b, st, warn, err := importBytes(t, []string{wlan, "../testdata/get.pcap"}, ImportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(warn, "\n") != 1 || !strings.Contains(warn, "wlan.pcap: link type 105 is not supported") {
		t.Fatalf("warnings %q: want one line naming wlan.pcap and link type 105", warn)
	}
	recs := readAll(t, b)
	stop := recs[len(recs)-1]
	if stop.Kind != record.KindMan || stop.Man.SkippedLink != 3 || stop.Man.PktsSeen != 3+14 || st.SkippedLink != 3 {
		t.Fatalf("stop record %+v: want 3 skipped of 17 seen", stop.Man)
	}
	var pkts uint64
	for _, r := range recs {
		if r.Kind == record.KindFlow {
			pkts += r.Pkts()
		}
	}
	if pkts != 14 {
		t.Fatalf("flow records hold %d packets, want get.pcap's 14", pkts)
	}
}
