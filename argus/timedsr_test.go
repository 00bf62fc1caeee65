package argus

import (
	"encoding/hex"
	"testing"

	"panoptes/record"
)

// TestRelativeTimeDSR: a record rasqlinsert 5.0 wrote into its `record` column (from
// the shared trace's whatsapp flows): its time DSR is 0x03 0x7d 0x00 6, all four times
// flagged in 5 words, i.e. src start as sec/usec then src end, dst start and dst end as
// 32-bit microsecond offsets from it. Before the fix the decoder read the offsets as
// 8-byte times (LastTime = src start, StartTime = 1970 + 0.94 s ...). The table's stime
// column said 1432582222.253233; ra prints ltime 1432582223.191773.
func TestRelativeTimeDSR(t *testing.T) {
	b, err := hex.DecodeString("1310006001032003000000000000000202014105c0a8020411ac64460600c02f03e12020037d00065563784e0003dd31000e522c00000000000e522c100402040009046a0218000803640154600401140000000100000000000000000000000000000000010000002844703f2844703f000000002844703f0000000000000000000000000000000000000000000000000000000000000000000000003005001e00000004000000040000000000000000000000005563784f0b6e394800000000883d209c000000000000000000000000000002180000000000000000000000001ffa18005563784f0b6e39480000000052538fc80000000000000000000000000000015400000000000000000000000000a418004600050b000000080000000047e522c047cec12800000000000000070000000047d989ee4744e1510000000048000303400000002f00000012070205004200ec00420097000000000000000042000005c62c03606a6400f4b926bbf400080000200000030000000200000002")
	if err != nil {
		t.Fatal(err)
	}
	var r record.Record
	if err := DecodeRecord(b, "blob", &r); err != nil {
		t.Fatal(err)
	}
	if r.StartTime != 1432582222253233000 || r.LastTime != 1432582223191773000 {
		t.Errorf("times %d %d, want 1432582222253233000 1432582223191773000", r.StartTime, r.LastTime)
	}
	// A negative offset is taken as one (Argus reads it as a signed int): a dst end
	// before the src start moves the first time back.
	d := []byte{DSRTime, TimeRelRange | TimeSrcStart | TimeDstStart, 0, 4, 0x55, 0x63, 0x78, 0x4e, 0, 0x03, 0xdd, 0x31, 0xff, 0xff, 0xff, 0xff}
	decodeTime(d, &r)
	if r.StartTime != 1432582222253232000 || r.LastTime != 1432582222253233000 {
		t.Errorf("negative offset: times %d %d", r.StartTime, r.LastTime)
	}
	// Absolute: two 8-byte times for two flags, whatever the subtype's low bits say.
	d = []byte{DSRTime, TimeRelRange | TimeSrcStart | TimeSrcEnd, 0, 5, 0x55, 0x63, 0x78, 0x4e, 0, 0, 0, 1, 0x55, 0x63, 0x78, 0x4f, 0, 0, 0, 2}
	decodeTime(d, &r)
	if r.StartTime != 1432582222000001000 || r.LastTime != 1432582223000002000 {
		t.Errorf("absolute: times %d %d", r.StartTime, r.LastTime)
	}
}
