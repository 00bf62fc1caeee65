package index

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"panoptes/record"
)

// TestSegmentFieldsFromItsHeader: a segment whose header declares a field this version
// does not know (a newer panoptes adds fields without a new format version, as the
// record stream allows) is read with that field skipped, and recovery adopts it whole.
// Before the fix, segment readers ignored the header's field list and decoded with
// this version's: the block's records did not decode, and recovery truncated the
// segment at its first block.
func TestSegmentFieldsFromItsHeader(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, genRecords(50, 4))
	seg := firstSegment(t, dir)

	// A stream header declaring one more field, id 250 ("future", a uvarint).
	sh := record.AppendHeader(nil)
	sh[8]++ // the field count, one byte below 128
	sh = append(sh, 250, record.WireUvarint, 6)
	sh = append(sh, "future"...)
	binary.LittleEndian.PutUint16(sh[6:], uint16(len(sh)))
	hdr := append([]byte(nil), segMagic[:]...)
	hdr = append(hdr, segVersion, 0, 0, 0)
	hdr = binary.LittleEndian.AppendUint32(hdr, 7)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(t0))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(sh)))
	hdr = append(hdr, sh...)

	recs := genRecords(20, 8)[:20]
	var raw []byte
	info := BlockInfo{MinStart: 1 << 62, MaxLast: -1 << 62}
	for i := range recs {
		recs[i].SrcID = 7
		body := record.AppendRecord(nil, &recs[i])
		l, k := binary.Uvarint(body)
		body = body[k : k+int(l)]
		// The unknown field goes right after the kind byte.
		ext := append([]byte{body[0], 250, 0x81, 0x01}, body[1:]...)
		raw = binary.AppendUvarint(raw, uint64(len(ext)))
		raw = append(raw, ext...)
		info.Records++
		info.MinStart = min(info.MinStart, recs[i].StartTime)
		info.MaxLast = max(info.MaxLast, recs[i].LastTime)
	}
	file := appendBlock(hdr, raw, nil, &info)
	orphan := filepath.Join(filepath.Dir(seg), ".23.59.00-900.seg.tmp")
	if err := os.WriteFile(orphan, file, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sealed := filepath.Join(filepath.Dir(seg), "23.59.00-900.seg")
	if fi, err := os.Stat(sealed); err != nil || fi.Size() != int64(len(file)) {
		t.Fatalf("the adopted segment: %v, %d bytes, want %d", err, fi.Size(), len(file))
	}
	var got []record.Record
	err = a.Scan(func(r *record.Record) bool { return r.SrcID == 7 }, func(r *record.Record) error {
		got = append(got, *r)
		return nil
	})
	if err != nil || len(got) != len(recs) {
		t.Fatalf("%d records of the segment read (%v), want %d", len(got), err, len(recs))
	}
	if d := a.Damage(); d.Blocks != 0 {
		t.Fatalf("the block was taken for damage: %+v", d)
	}
}
