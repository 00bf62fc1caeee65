package recordsvc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"panoptes/record"
)

// FuzzFrames feeds arbitrary bytes to the client's frame reader and record decoder:
// the reader must agree with a reference de-framer, and neither may panic. (Before, the
// target only read records and checked nothing.)
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
		// Property: the frame reader yields exactly the payload bytes of the data frames,
		// in order, and counts exactly the drops frames' values, up to the first bad or
		// end frame, as a reference de-framer written plainly below finds them; it
		// stops at an end frame (io.EOF) and at nothing else without an error.
		wantData, wantDrops, wantEOF := deframe(b)
		var drops uint64
		fr := &frameReader{r: bufio.NewReader(bytes.NewReader(b)), drops: func(n uint64) { drops += n }}
		got, err := io.ReadAll(io.LimitReader(fr, int64(len(b))+1))
		if !bytes.Equal(got, wantData) {
			t.Fatalf("frame reader gave %d bytes (%x), reference %d (%x); err %v", len(got), got, len(wantData), wantData, err)
		}
		if drops != wantDrops {
			t.Fatalf("drops %d, reference %d", drops, wantDrops)
		}
		if _, err := fr.Read(make([]byte, 1)); wantEOF != (err == io.EOF) {
			t.Fatalf("after the frames: %v, reference end frame %v", err, wantEOF)
		}
		// and records decoded from it never exceed what the bytes can hold
		rd, err := record.NewReader(&frameReader{r: bufio.NewReader(bytes.NewReader(b))}, "fuzz")
		if err != nil {
			return
		}
		var rec record.Record
		for n := 0; rd.Read(&rec) == nil; n++ {
			if n > len(b) {
				t.Fatalf("%d records from %d bytes", n, len(b))
			}
		}
	})
}

// deframe is the reference for FuzzFrames: the protocol's framing read byte by byte.
// It returns the data frames' payloads joined, the drops reported, and whether an end
// frame closed the stream.
func deframe(b []byte) (data []byte, drops uint64, end bool) {
	data = []byte{}
	for len(b) > 0 {
		typ := b[0]
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || n > MaxFrame {
			return data, drops, false
		}
		b = b[1+k:]
		switch typ {
		case FrameData:
			if uint64(len(b)) < n {
				return append(data, b...), drops, false // a torn frame: what arrived is read
			}
			data, b = append(data, b[:n]...), b[n:]
		case FrameDrops:
			if n == 0 || n > binary.MaxVarintLen64 || uint64(len(b)) < n {
				return data, drops, false
			}
			v, k := binary.Uvarint(b[:n])
			if k != int(n) {
				return data, drops, false
			}
			drops, b = drops+v, b[n:]
		case FrameEnd:
			return data, drops, n == 0
		default:
			return data, drops, false
		}
	}
	return data, drops, false
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
