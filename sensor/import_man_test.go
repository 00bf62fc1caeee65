package sensor

import (
	"bytes"
	"testing"
	"time"

	"panoptes/record"
)

// Periodic management records (--man-interval), in packet time, also for a capture
// smaller than one pipeline round: a start record, a status record each time an
// interval has passed, a stop record; each covers the time since the previous one, with
// counters that only grow; and the stream is the same for any number of shards.
func TestPeriodicManagementRecords(t *testing.T) {
	const capture = "../testdata/http_ipv6.pcap" // 193 packets over 23 s
	interval := 2 * time.Second
	var first []byte
	for _, workers := range []int{1, 3} {
		b, st, _, err := importBytes(t, []string{capture}, ImportConfig{Workers: workers, ManInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("%d shards wrote other records than 1", workers)
		}
		var mans []record.Record
		for _, r := range readAll(t, b) {
			if r.Kind == record.KindMan {
				mans = append(mans, r)
			}
		}
		if len(mans) < 5 {
			t.Fatalf("%d management records over 23 s at a 2 s interval, want a start, several status records and a stop", len(mans))
		}
		if mans[0].Cause != record.CauseStart || mans[len(mans)-1].Cause != record.CauseStop {
			t.Fatalf("first cause %v, last %v: want Start ... Stop", mans[0].Cause, mans[len(mans)-1].Cause)
		}
		for i := 1; i < len(mans); i++ {
			prev, m := mans[i-1], mans[i]
			if i < len(mans)-1 && (m.Cause != record.CauseStatus || m.LastTime-prev.LastTime < int64(interval)) {
				t.Errorf("man record %d: cause %v, %v after the previous one; want Status, at least %v", i, m.Cause, time.Duration(m.LastTime-prev.LastTime), interval)
			}
			if m.StartTime != prev.LastTime {
				t.Errorf("man record %d covers from %d, the previous one ended at %d", i, m.StartTime, prev.LastTime)
			}
			if m.Man.PktsSeen < prev.Man.PktsSeen || m.Man.RecordsWritten < prev.Man.RecordsWritten {
				t.Errorf("man record %d: counters went down: %+v after %+v", i, *m.Man, *prev.Man)
			}
		}
		if last := mans[len(mans)-1]; last.Man.PktsSeen != st.PktsSeen || last.Man.PktsSeen != 193 {
			t.Errorf("stop record counts %d packets, the import %d, want 193", last.Man.PktsSeen, st.PktsSeen)
		}
	}
}
