package ipfix

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"panoptes/record"
)

// ReadIPFIXStream decodes IPFIX messages from a stream (TCP, or a file of messages back
// to back), framed by the length in each message header, until the stream ends. A clean
// end between messages returns nil; a stream that ends inside a message, or a message
// that does not decode, returns an error naming the exporter and the byte offset in the
// stream (the records before it have been emitted).
func ReadIPFIXStream(r io.Reader, exporter netip.AddrPort, d *Decoder, emit func(*record.Record)) error {
	buf := make([]byte, 65535)
	var off int64
	for {
		h := buf[:ipfixHeader]
		n, err := io.ReadFull(r, h)
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return d.streamFail(exporter, off+int64(n), "IPFIX message header cut short")
			}
			return fmt.Errorf("flow export from %s: byte %d: %w", exporter, off+int64(n), err)
		}
		if v := binary.BigEndian.Uint16(h); v != 10 {
			return d.streamFail(exporter, off, fmt.Sprintf("version %d in an IPFIX stream (want 10)", v))
		}
		l := int(binary.BigEndian.Uint16(h[2:]))
		if l < ipfixHeader {
			return d.streamFail(exporter, off+2, fmt.Sprintf("IPFIX message length %d is shorter than its header", l))
		}
		if n, err := io.ReadFull(r, buf[ipfixHeader:l]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return d.streamFail(exporter, off+int64(ipfixHeader+n), fmt.Sprintf("IPFIX message of %d bytes cut short", l))
			}
			return fmt.Errorf("flow export from %s: byte %d: %w", exporter, off+int64(ipfixHeader+n), err)
		}
		if err := d.Decode(buf[:l], exporter, emit); err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				de.Offset += int(off) // the offset in the stream, not the message
			}
			return err
		}
		off += int64(l)
	}
}

func (d *Decoder) streamFail(exporter netip.AddrPort, off int64, reason string) error {
	d.mu.Lock()
	d.stats.Malformed++
	d.mu.Unlock()
	return &DecodeError{Exporter: exporter, Offset: int(off), Reason: reason}
}
