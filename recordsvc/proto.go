package recordsvc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Magic starts a hello and a reply.
var Magic = [4]byte{'P', 'N', 'P', 'S'}

// Version is the protocol version this package speaks.
const Version = 1

// MaxFilter is the longest filter text a hello carries.
const MaxFilter = 1<<16 - 1

// MaxFrame is the largest frame payload; a longer length means a corrupt stream.
const MaxFrame = 1 << 20

// Frame types.
const (
	FrameData  = 1
	FrameDrops = 2
	FrameEnd   = 3
)

// Reply statuses.
const (
	statusOK      = 0
	statusRefused = 1
	statusBusy    = 2
)

// errVersion marks a hello of another protocol version: it is answered with a refusal.
var errVersion = errors.New("refused")

// ErrProtocol marks a peer that does not speak this protocol (or a damaged stream).
var ErrProtocol = errors.New("not a Panoptes record service stream")

// appendHello appends a client hello carrying filter text.
func appendHello(b []byte, filter string) []byte {
	b = append(b, Magic[:]...)
	b = append(b, Version)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(filter)))
	return append(b, filter...)
}

// readHello reads a client hello and returns its filter text.
func readHello(r io.Reader) (string, error) {
	var h [7]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return "", fmt.Errorf("reading hello: %w", err)
	}
	if [4]byte(h[:4]) != Magic {
		return "", fmt.Errorf("hello: %w", ErrProtocol)
	}
	if h[4] != Version {
		return "", fmt.Errorf("hello: protocol version %d, this server speaks %d: %w", h[4], Version, errVersion)
	}
	n := binary.LittleEndian.Uint16(h[5:])
	text := make([]byte, n)
	if _, err := io.ReadFull(r, text); err != nil {
		return "", fmt.Errorf("hello: filter cut short: %w", err)
	}
	return string(text), nil
}

// appendReply appends the server's answer to a hello: statusOK, or a refusal
// (statusRefused, statusBusy) with a message.
func appendReply(b []byte, status byte, msg string) []byte {
	if len(msg) > MaxFilter {
		msg = msg[:MaxFilter]
	}
	b = append(b, Magic[:]...)
	b = append(b, Version, status)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

// readReply reads the server's answer. A refusal returns its message as a
// *RefusedError.
func readReply(r io.Reader) error {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("closed before answering: %w", ErrProtocol)
		}
		return fmt.Errorf("reading the answer: %w", err)
	}
	if [4]byte(h[:4]) != Magic {
		return ErrProtocol
	}
	if h[4] != Version {
		return fmt.Errorf("server speaks protocol version %d, this client %d", h[4], Version)
	}
	msg := make([]byte, binary.LittleEndian.Uint16(h[6:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return fmt.Errorf("answer cut short: %w", ErrProtocol)
	}
	switch h[5] {
	case statusOK:
		return nil
	case statusRefused:
		return &RefusedError{Msg: string(msg)}
	case statusBusy:
		return fmt.Errorf("%w: %s", ErrBusy, msg)
	}
	return fmt.Errorf("answer status %d: %w", h[5], ErrProtocol)
}

// ErrBusy is a client's error when the server already serves as many clients as it may.
var ErrBusy = errors.New("server busy")

// RefusedError is the server's refusal of a hello: its filter's error, as one line.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// appendFrameHeader appends a frame's type and payload length.
func appendFrameHeader(b []byte, typ byte, n int) []byte {
	b = append(b, typ)
	return binary.AppendUvarint(b, uint64(n))
}

// frameReader turns the frames after a reply back into the record stream they carry:
// Read returns the data frames' payloads in order, passes drop notices to drops, and
// returns io.EOF at an end frame. A connection that ends without an end frame gives an
// error wrapping ErrLost.
type frameReader struct {
	r       *bufio.Reader
	left    int // bytes of the current data frame not yet read
	drops   func(n uint64)
	err     error
	started bool
}

// ErrLost marks a stream whose connection ended without the server's end frame.
var ErrLost = errors.New("connection lost")

func (f *frameReader) Read(p []byte) (int, error) {
	for f.left == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.err = f.next()
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= n
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		f.err = fmt.Errorf("%w inside a frame: %w", ErrLost, err)
		if n == 0 {
			return 0, f.err
		}
	}
	return n, nil
}

// next reads one frame header (and a drops frame's payload). It returns nil with
// f.left set for a data frame.
func (f *frameReader) next() error {
	typ, err := f.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the server closed without an end frame", ErrLost)
		}
		return fmt.Errorf("%w: %w", ErrLost, err)
	}
	n, err := binary.ReadUvarint(f.r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%w in a frame header: %w", ErrLost, err)
	}
	if n > MaxFrame {
		return fmt.Errorf("frame of %d bytes: %w", n, ErrProtocol)
	}
	switch typ {
	case FrameData:
		f.left = int(n)
		f.started = true
		return nil
	case FrameDrops:
		if n == 0 || n > binary.MaxVarintLen64 {
			return fmt.Errorf("drops frame of %d bytes: %w", n, ErrProtocol)
		}
		var b [binary.MaxVarintLen64]byte
		if _, err := io.ReadFull(f.r, b[:n]); err != nil {
			return fmt.Errorf("%w in a drops frame: %w", ErrLost, err)
		}
		v, k := binary.Uvarint(b[:n])
		if k != int(n) {
			return fmt.Errorf("bad drops count: %w", ErrProtocol)
		}
		if f.drops != nil && v > 0 {
			f.drops(v)
		}
		return nil
	case FrameEnd:
		if n != 0 {
			return fmt.Errorf("end frame with %d bytes: %w", n, ErrProtocol)
		}
		return io.EOF
	}
	return fmt.Errorf("frame type %d: %w", typ, ErrProtocol)
}

// maxEcho is how much of a client's input (its filter) an error message or log line
// repeats: a 64 KiB filter must not come back whole in the refusal nor in the log.
const maxEcho = 240

// clipEcho shortens msg to about maxEcho bytes, keeping the text around a filter
// error's ">>>HERE<<<" mark when there is one, else the start.
func clipEcho(msg string) string {
	if len(msg) <= maxEcho {
		return msg
	}
	const mark = ">>>HERE<<<"
	at := strings.Index(msg, mark)
	if at < 0 {
		return validUTF8(msg[:maxEcho]) + fmt.Sprintf("... (%d bytes cut)", len(msg)-maxEcho)
	}
	// the message's head ("filter: unexpected ... at column N: ") and the mark's
	// surroundings
	head, _, _ := strings.Cut(msg, ": ")
	if h := strings.Index(msg[len(head)+2:], ": "); h >= 0 && len(head)+2+h < at {
		head = msg[:len(head)+2+h]
	}
	from, to := max(len(head)+2, at-maxEcho/3), min(len(msg), at+len(mark)+maxEcho/3)
	out := head + ": "
	if from > len(head)+2 {
		out += "..."
	}
	out += validUTF8(msg[from:to])
	if to < len(msg) {
		out += "..."
	}
	return out
}

// validUTF8 drops a rune cut at either end.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "") }
