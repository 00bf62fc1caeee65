package recordsvc

import (
	"bufio"
	"bytes"
	"testing"

	"panoptes/record"
)

// FuzzFrames feeds arbitrary bytes to the client's frame reader and record decoder:
// they must return errors, never panic or allocate what a frame length claims.
func FuzzFrames(f *testing.F) {
	h := record.AppendHeader(nil)
	ok := append(appendFrameHeader(nil, FrameData, len(h)), h...)
	r := mkrec(3)
	enc := record.AppendRecord(nil, &r)
	withRec := append(appendFrameHeader(append([]byte(nil), ok...), FrameData, len(enc)), enc...)
	f.Add(ok)
	f.Add(withRec)
	f.Add(append(append([]byte(nil), withRec...), FrameDrops, 1, 7, FrameEnd, 0))
	f.Add(append(append([]byte(nil), withRec...), FrameData, 0xff, 0xff, 0xff, 0xff, 0x7f))
	f.Add([]byte{FrameEnd, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var drops uint64
		fr := &frameReader{r: bufio.NewReader(bytes.NewReader(b)), drops: func(n uint64) { drops += n }}
		rd, err := record.NewReader(fr, "fuzz")
		if err != nil {
			return
		}
		var rec record.Record
		for i := 0; i < 1000; i++ {
			if rd.Read(&rec) != nil {
				return
			}
		}
	})
}

// FuzzHello: the server's hello parser and the client's reply parser take any bytes.
func FuzzHello(f *testing.F) {
	f.Add(appendHello(nil, "tcp and port 80"))
	f.Add(appendHello(nil, ""))
	f.Add(appendReply(nil, statusRefused, "filter: bad"))
	f.Add(appendReply(nil, statusOK, ""))
	f.Add([]byte("PNPS\x01\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if text, err := readHello(bytes.NewReader(b)); err == nil {
			if again, err := readHello(bytes.NewReader(appendHello(nil, text))); err != nil || again != text {
				t.Fatalf("hello %q does not round-trip: %q %v", text, again, err)
			}
		}
		readReply(bytes.NewReader(b))
	})
}
