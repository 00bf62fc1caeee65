package argus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

// fuzzRecord builds a flow record from fuzz input: every field the writer carries.
func fuzzRecord(b []byte, label string) record.Record {
	var x [160]byte
	copy(x[:], b)
	u64 := func(o int) uint64 { return binary.LittleEndian.Uint64(x[o:]) }
	u32 := func(o int) uint32 { return binary.LittleEndian.Uint32(x[o:]) }
	u16 := func(o int) uint16 { return binary.LittleEndian.Uint16(x[o:]) }
	r := record.Record{Kind: record.KindFlow, Cause: record.Cause(1 + x[0]%6), SrcID: u32(1), Seq: u32(5)}
	r.StartTime = int64(u32(9)) * 1e9 / 2 // within Argus's unsigned 32-bit seconds
	r.LastTime = r.StartTime + int64(u32(13))
	r.Family = [2]uint8{4, 6}[x[17]%2]
	r.Proto = [4]uint8{6, 17, 1, 132}[x[18]%4]
	copy(r.SrcAddr[:], x[20:36])
	copy(r.DstAddr[:], x[36:52])
	if r.Family == 4 {
		clear(r.SrcAddr[4:])
		clear(r.DstAddr[4:])
	}
	r.SrcPort, r.DstPort = u16(52), u16(54)
	if r.Proto == 1 && r.Family == 6 {
		r.Proto = 58
	}
	switch r.Proto {
	case 1:
		r.SrcPort, r.DstPort = r.SrcPort&0xff, r.DstPort&0xff // type, code
		r.ICMPID, r.ICMPSeq = u16(56), u16(58)
	case 58: // type, code, echo id (no sequence in an ICMPv6 key)
		r.SrcPort, r.DstPort = r.SrcPort&0xff, r.DstPort&0xff
		r.ICMPID = u16(56)
	}
	if r.Proto == 6 {
		r.SynAck, r.AckDat = int64(u32(60)), int64(u32(64))
		// A SYN seen: the reader (as ra) turns a flow joined midstream round when its
		// source port is the lower, which is no round trip to check here.
		r.TCPState = record.TCPSawSyn | u16(58)&(record.TCPSawSynAck|record.TCPEstablished|record.TCPReset)
	}
	r.Trans = max(1, u32(68)%5)
	for i, s := range []*record.Side{&r.Src, &r.Dst} {
		o := 72 + 40*i
		big := x[o]%3 == 0
		s.Pkts = uint64(x[o+1])
		if s.Pkts == 0 {
			continue
		}
		s.Bytes, s.AppBytes = uint64(u32(o+2)), uint64(u16(o+6))
		if big {
			s.Bytes = u64(o+2) >> 1
		}
		s.MinSize, s.MaxSize = uint32(u16(o+10)), uint32(u16(o+12))
		s.TTL, s.ToS = x[o+14], x[o+15]
		copy(s.MAC[:], x[o+16:o+22])
		if r.Proto == 6 {
			s.TCPFlags, s.BaseSeq, s.Win, s.Loss = x[o+22], u32(o+23), uint32(u16(o+27)), uint64(u16(o+29))
		}
	}
	if x[152]%2 == 1 {
		r.SrcCountry, r.DstCountry = [2]byte{'A' + x[153]%26, 'Z'}, [2]byte{'D', 'E'}
		r.SrcAS, r.DstAS = u32(154), 7
	}
	if !strings.ContainsRune(label, 0) && len(label) < 200 {
		r.Label = label
	}
	return r
}

// carried is what an Argus record keeps of r, as the reader gives it back: times in
// the writer's precision, SYN-ACK and ACK-data times in microseconds, sides without
// packets empty. The ICMP echo id and sequence are left out: argus writes them in host
// order (little-endian), as the writer does, and the reader takes the id big-endian.
func carried(r *record.Record) record.Record {
	c := record.Record{Kind: r.Kind, SrcID: r.SrcID, Seq: r.Seq, StartTime: r.StartTime, LastTime: r.LastTime,
		Family: r.Family, Proto: r.Proto, SrcAddr: r.SrcAddr, DstAddr: r.DstAddr, SrcPort: r.SrcPort, DstPort: r.DstPort,
		Trans: r.Trans, SrcCountry: r.SrcCountry, DstCountry: r.DstCountry,
		SrcAS: r.SrcAS, DstAS: r.DstAS, Label: r.Label}
	c.SynAck, c.AckDat = r.SynAck/1e3*1e3, r.AckDat/1e3*1e3
	for i, s := range []*record.Side{&r.Src, &r.Dst} {
		d := [2]*record.Side{&c.Src, &c.Dst}[i]
		d.Pkts, d.Bytes, d.AppBytes = s.Pkts, s.Bytes, s.AppBytes
		if s.Pkts > 0 {
			d.MinSize, d.MaxSize, d.TTL, d.ToS, d.MAC = s.MinSize, s.MaxSize, s.TTL, s.ToS, s.MAC
		}
		d.TCPFlags, d.BaseSeq, d.Win, d.Loss = s.TCPFlags, s.BaseSeq, s.Win, s.Loss
	}
	return c
}

// FuzzWriteRead: any flow record written by the Writer and read back by the Reader
// gives back every field an Argus record carries.
func FuzzWriteRead(f *testing.F) {
	f.Add(bytes.Repeat([]byte{7}, 160), "web")
	f.Add(bytes.Repeat([]byte{0xff}, 160), "")
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, "a;b;c")
	f.Fuzz(func(t *testing.T, b []byte, label string) {
		r := fuzzRecord(b, label)
		var buf bytes.Buffer
		w, err := NewWriter(&buf, time.Unix(1700000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		rd, err := NewReader(&buf, "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		var got record.Record
		for {
			if err := rd.Read(&got); err != nil {
				t.Fatalf("reading back: %v", err)
			}
			if got.Kind == record.KindFlow {
				break
			}
		}
		if err := rd.Read(&record.Record{}); err != io.EOF {
			t.Fatalf("after the record: %v, want EOF", err)
		}
		want, have := carried(&r), carried(&got)
		if want != have {
			t.Fatalf("round trip:\nwrote %+v\nread  %+v", want, have)
		}
	})
}

// BenchmarkWrite measures the writer on the hot path of sensor -w argus: (one FAR per
// flow record); it must not allocate.
func BenchmarkWrite(b *testing.B) {
	r := fuzzRecord(bytes.Repeat([]byte{9}, 160), "")
	r.Flags = record.FlagEthernet | record.FlagVLAN
	w, err := NewWriter(io.Discard, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(AppendFAR(nil, &r))))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(&r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWriteAllocs(t *testing.T) {
	r := fuzzRecord(bytes.Repeat([]byte{3}, 160), "label")
	r.Flags = record.FlagEthernet | record.FlagMPLS | record.FlagVLAN | record.FlagFragments
	w, err := NewWriter(io.Discard, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { w.Write(&r) }); n != 0 {
		t.Errorf("Write allocates %v times per record, want 0", n)
	}
}

// TestAppend: a second writer adds after the first's records (its own MAR first), a
// torn last record is cut off and reported, a file that is not Argus is refused and
// left as it was, and a locked file is refused.
func TestAppend(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.argus")
	r := fuzzRecord(bytes.Repeat([]byte{5}, 160), "")
	write := func() Appended {
		w, a, err := OpenAppend(path, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return a
	}
	write()
	one, _ := os.Stat(path)
	if a := write(); a.Start != one.Size() || a.Torn != 0 {
		t.Fatalf("second run appended at %+v, want at %d", a, one.Size())
	}
	two, _ := os.Stat(path)
	// A writer stopped mid-record: 10 bytes of a FAR.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(AppendFAR(nil, &r)[:10])
	f.Close()
	if a := write(); a.Start != two.Size() || a.Torn != 10 {
		t.Fatalf("after a torn record: %+v, want start %d torn 10", a, two.Size())
	}
	fh, _ := os.Open(path)
	rd, err := NewReader(fh, path)
	if err != nil {
		t.Fatal(err)
	}
	flows := 0
	for {
		var got record.Record
		err := rd.Read(&got)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the appended file: %v", err)
		}
		if got.Kind == record.KindFlow {
			flows++
		}
	}
	fh.Close()
	if flows != 3 {
		t.Errorf("%d flow records after three runs, want 3", flows)
	}

	// Locked by a writer that is still open.
	w, _, err := OpenAppend(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenAppend(path, time.Now()); !errors.Is(err, ErrLocked) {
		t.Errorf("second writer: %v, want ErrLocked", err)
	}
	w.Close()

	// Not an Argus file: refused, untouched.
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("not argus records at all, longer than twelve bytes"), 0o644)
	if _, _, err := OpenAppend(other, time.Now()); !errors.Is(err, ErrNotArgus) {
		t.Errorf("appending to a text file: %v, want ErrNotArgus", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "not argus records at all, longer than twelve bytes" {
		t.Errorf("the text file was changed: %q", b)
	}
}

// TestMAR: a management record becomes a MAR the reader takes back as one, with its
// times, source id and counters.
func TestMAR(t *testing.T) {
	m := record.Management{PktsSeen: 1 << 40, BytesSeen: 1 << 41, RecordsWritten: 12, FlowsActive: 3, Drops: 2}
	r := record.Record{Kind: record.KindMan, Cause: record.CauseStop, SrcID: 9, StartTime: 1700000000e9, LastTime: 1700000060e9, Man: &m}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, time.Unix(1700000000, 0))
	w.Write(&r)
	w.Flush()
	if buf.Len() != 2*MARLen {
		t.Fatalf("%d bytes, want two MARs", buf.Len())
	}
	rd, err := NewReader(&buf, "mar")
	if err != nil {
		t.Fatal(err)
	}
	var got record.Record
	rd.Read(&got) // the leading MAR
	if err := rd.Read(&got); err != nil {
		t.Fatal(err)
	}
	if got.Kind != record.KindMan || got.Cause != record.CauseStop || got.SrcID != 9 || got.StartTime != r.StartTime || got.LastTime != r.LastTime {
		t.Errorf("read back %+v", got)
	}
	if got.Man == nil || got.Man.PktsSeen != m.PktsSeen || got.Man.BytesSeen != m.BytesSeen {
		t.Errorf("counters: %+v", got.Man)
	}
}
