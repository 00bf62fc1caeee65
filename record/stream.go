package record

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
)

// Magic starts every stream file.
var Magic = [4]byte{'P', 'N', 'P', 'T'}

// Version is the stream format version this package writes.
const Version = 1

// Sink takes records: a stream Writer, or an archive's writer.
type Sink interface {
	Write(*Record) error
	Flush() error
}

// Writer writes a stream: the header once, then records. It buffers; call Flush (or
// Close) to push buffered records to the underlying writer.
type Writer struct {
	w   *bufio.Writer
	c   io.Closer
	buf []byte
	n   uint64
	err error
}

// NewWriter writes a stream header to w and returns a Writer for records. If w is an
// io.Closer, Close closes it.
func NewWriter(w io.Writer) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	wr := &Writer{w: bw, buf: make([]byte, 0, MaxRecordLen)}
	if c, ok := w.(io.Closer); ok {
		wr.c = c
	}
	if _, err := bw.Write(AppendHeader(nil)); err != nil {
		return nil, fmt.Errorf("writing stream header: %w", err)
	}
	return wr, nil
}

// AppendHeader appends a stream header (magic, version and the schema of every field
// this version writes) to b.
func AppendHeader(b []byte) []byte {
	start := len(b)
	b = append(b, Magic[:]...)
	b = append(b, Version, 0, 0, 0) // version, flags, header length (filled below)
	b = binary.AppendUvarint(b, uint64(len(schema)))
	for _, e := range schema {
		b = append(b, e.id, e.wire, byte(len(e.name)))
		b = append(b, e.name...)
	}
	binary.LittleEndian.PutUint16(b[start+6:], uint16(len(b)-start))
	return b
}

// Write appends one record to the stream.
func (w *Writer) Write(r *Record) error {
	if w.err != nil {
		return w.err
	}
	w.buf = AppendRecord(w.buf[:0], r)
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("writing record %d: %w", w.n, err)
		return w.err
	}
	w.n++
	return nil
}

// Count returns the number of records written.
func (w *Writer) Count() uint64 { return w.n }

// Flush writes buffered records to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("flushing records: %w", err)
	}
	return w.err
}

// Close flushes and closes the underlying writer if it is a Closer.
func (w *Writer) Close() error {
	err := w.Flush()
	if w.c != nil {
		if cerr := w.c.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	return err
}

// Reader reads records from a stream. Read reuses the record it is given and an
// internal buffer: it allocates nothing per record (except the first management record's
// counters).
//
// A stream file may hold several streams one after another (each run of a writer that
// appends to the file starts with its own header): at a record boundary the reader
// takes a stream header in its stride. A record can never be mistaken for one: the
// magic would be a length byte of 80 followed by the kind 'N', and no kind is 'N'.
type Reader struct {
	r    *bufio.Reader
	name string
	off  int64 // byte offset of the next record
	buf  []byte
	cur  *streamSchema
	// changes says where each stream whose schema differs from the one before it
	// starts, in offset order, for Decode on other goroutines: ReadRaw replaces the
	// slice (never changes it in place). distinct holds each schema once.
	changes  atomic.Pointer[[]schemaChange]
	distinct []*streamSchema
}

// streamSchema is what a stream header declares: each field id's wire type and name.
type streamSchema struct {
	raw    []byte
	wire   [256]int8
	fields []string // names of the fields the stream declares, by id
}

type schemaChange struct {
	start int64 // byte offset of the header
	s     *streamSchema
}

// Bounds on what a file's headers can make a reader hold: a file written by Panoptes
// changes schema only where a newer version appended to it.
const (
	maxSchemas       = 16
	maxSchemaChanges = 1024
)

// NewReader reads and checks the stream header. name is used in error messages (a file
// name, or "-" for stdin).
func NewReader(r io.Reader, name string) (*Reader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	rd := &Reader{r: br, name: name, buf: make([]byte, MaxRecordLen)}
	rd.changes.Store(new([]schemaChange))
	if err := rd.readHeader(); err != nil {
		return nil, err
	}
	return rd, nil
}

// readHeader reads a stream header at rd.off: the first one, or a later one where a
// stream was appended. A header cut short after the first is a truncated stream (the
// records before it stand); the first is a bad header.
func (rd *Reader) readHeader() error {
	at := ""
	cut := ErrBadHeader
	if rd.off > 0 {
		at, cut = fmt.Sprintf(" at byte %d", rd.off), ErrTruncated
	}
	var fixed [8]byte
	if n, err := io.ReadFull(rd.r, fixed[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty file: %w", rd.name, ErrBadMagic)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: reading header%s: %w", rd.name, at, err) // I/O, not format
		}
		if rd.off > 0 {
			return fmt.Errorf("%s: %w%s: stream header cut short", rd.name, ErrTruncated, at)
		}
		return fmt.Errorf("%s: reading header: %w", rd.name, ErrBadHeader)
	}
	if [4]byte(fixed[:4]) != Magic {
		return fmt.Errorf("%s: %w", rd.name, ErrBadMagic)
	}
	if err := checkVersion(fixed[4]); err != nil {
		return fmt.Errorf("%s%s: %w", rd.name, at, err)
	}
	hlen := int(binary.LittleEndian.Uint16(fixed[6:]))
	if hlen < 9 {
		return fmt.Errorf("%s: %w%s: header length %d", rd.name, ErrBadHeader, at, hlen)
	}
	h := make([]byte, hlen-8)
	if _, err := io.ReadFull(rd.r, h); err != nil {
		return fmt.Errorf("%s: %w%s: header cut short", rd.name, cut, at)
	}
	if err := rd.useSchema(h); err != nil {
		return fmt.Errorf("%s: %w%s: %w", rd.name, ErrBadHeader, at, err)
	}
	rd.off += int64(hlen)
	return nil
}

// checkVersion refuses a stream version this package does not read: a newer one with
// ErrNewer (never damage: OpenAppend does not cut a file there, readers stop there),
// any other with ErrVersion.
func checkVersion(v byte) error {
	if v > Version {
		return fmt.Errorf("%w (%w): stream format version %d, this panoptes reads up to %d", ErrNewer, ErrVersion, v, Version)
	}
	if v != Version {
		return fmt.Errorf("%w: stream format version %d, this panoptes reads %d", ErrVersion, v, Version)
	}
	return nil
}

// ParseHeader parses a whole stream header (as AppendHeader writes it, at the start of
// h; an archive segment holds one) and returns the wire type of every field id it
// declares (-1 for the others), for DecodeRecord: records a newer writer wrote with
// fields this version does not know then decode, the unknown fields skipped.
func ParseHeader(h []byte) (*[256]int8, error) {
	if len(h) < 8 || [4]byte(h[:4]) != Magic {
		return nil, ErrBadMagic
	}
	if err := checkVersion(h[4]); err != nil {
		return nil, err
	}
	hlen := int(binary.LittleEndian.Uint16(h[6:]))
	if hlen < 9 || hlen > len(h) {
		return nil, fmt.Errorf("%w: header length %d of %d bytes", ErrBadHeader, hlen, len(h))
	}
	var s streamSchema
	if err := s.parse(h[8:hlen]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	return &s.wire, nil
}

// useSchema makes the schema in h (a header after its fixed part) the current one. The
// same schema again (the usual case: the same writer appended) keeps the current one.
func (rd *Reader) useSchema(h []byte) error {
	if rd.cur != nil && bytes.Equal(rd.cur.raw, h) {
		return nil
	}
	old := *rd.changes.Load()
	if len(old) == maxSchemaChanges {
		return fmt.Errorf("more than %d changes of schema", maxSchemaChanges)
	}
	s, err := rd.schema(h)
	if err != nil {
		return err
	}
	rd.cur = s
	all := append(old[:len(old):len(old)], schemaChange{rd.off, s})
	rd.changes.Store(&all)
	return nil
}

// schema returns the parsed schema h declares, parsing it if it is new.
func (rd *Reader) schema(h []byte) (*streamSchema, error) {
	for _, s := range rd.distinct {
		if bytes.Equal(s.raw, h) {
			return s, nil
		}
	}
	if len(rd.distinct) == maxSchemas {
		return nil, fmt.Errorf("more than %d different schemas", maxSchemas)
	}
	s := &streamSchema{raw: h}
	if err := s.parse(h); err != nil {
		return nil, err
	}
	rd.distinct = append(rd.distinct, s)
	return s, nil
}

func (s *streamSchema) parse(h []byte) error {
	for i := range s.wire {
		s.wire[i] = -1
	}
	s.fields = make([]string, 256)
	n, k := binary.Uvarint(h)
	if k <= 0 || n > 255 {
		return errors.New("bad field count")
	}
	p := k
	for i := uint64(0); i < n; i++ {
		if len(h)-p < 3 {
			return fmt.Errorf("field %d cut short", i)
		}
		id, wt, l := h[p], h[p+1], int(h[p+2])
		p += 3
		if wt > WireFloat || len(h)-p < l {
			return fmt.Errorf("field %d: bad wire type %d or name length %d", id, wt, l)
		}
		s.wire[id] = int8(wt)
		s.fields[id] = string(h[p : p+l])
		p += l
	}
	return nil
}

// nextLen reads the length of the next record, after any stream headers that start
// here. It peeks at four bytes only after a 'P', a length of 80: a record that starts
// so is that long, so the peek never waits (on a live connection) for bytes that are
// not part of the record anyway.
func (rd *Reader) nextLen() (uint64, error) {
	for {
		if b, err := rd.r.Peek(1); err != nil || b[0] != Magic[0] {
			break
		}
		if b, err := rd.r.Peek(len(Magic)); err != nil || [4]byte(b) != Magic {
			break
		}
		if err := rd.readHeader(); err != nil {
			return 0, err
		}
	}
	n, err := binary.ReadUvarint(rd.r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("%s: %w at byte %d", rd.name, ErrTruncated, rd.off)
		}
		return 0, fmt.Errorf("%s: %w at byte %d: %w", rd.name, ErrCorrupt, rd.off, err)
	}
	if n == 0 || n > MaxRecordLen {
		return 0, fmt.Errorf("%s: %w at byte %d: record length %d", rd.name, ErrCorrupt, rd.off, n)
	}
	return n, nil
}

// Offset returns the byte offset of the next record in the stream.
func (rd *Reader) Offset() int64 { return rd.off }

// Read decodes the next record into r. It returns io.EOF at a clean end of the stream,
// and an error wrapping ErrTruncated (naming the byte offset) if the stream ends inside
// a record, or ErrCorrupt if a record does not decode.
func (rd *Reader) Read(r *Record) error {
	n, err := rd.nextLen()
	if err != nil {
		return err
	}
	b := rd.buf[:n]
	if _, err := io.ReadFull(rd.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: %w at byte %d", rd.name, ErrTruncated, rd.off)
		}
		return fmt.Errorf("%s: reading at byte %d: %w", rd.name, rd.off, err)
	}
	if err := DecodeRecord(b, r, &rd.cur.wire); err != nil {
		return fmt.Errorf("%s: at byte %d: %w", rd.name, rd.off, err)
	}
	rd.off += int64(uvarintLen(n)) + int64(n)
	return nil
}

// ReadRaw appends the next record's encoded body to dst and returns it with the byte
// offset the record starts at, without decoding it; Decode decodes it. Together they let
// a caller decode on other goroutines. Errors are those of Read.
func (rd *Reader) ReadRaw(dst []byte) ([]byte, int64, error) {
	n, err := rd.nextLen()
	if err != nil {
		return dst, rd.off, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := io.ReadFull(rd.r, dst[start:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return dst[:start], rd.off, fmt.Errorf("%s: %w at byte %d", rd.name, ErrTruncated, rd.off)
		}
		return dst[:start], rd.off, fmt.Errorf("%s: reading at byte %d: %w", rd.name, rd.off, err)
	}
	off := rd.off
	rd.off += int64(uvarintLen(n)) + int64(n)
	return dst, off, nil
}

// Decode decodes a body that ReadRaw returned (at byte offset off) into r. It is safe
// to call from several goroutines at once.
func (rd *Reader) Decode(body []byte, off int64, r *Record) error {
	if err := DecodeRecord(body, r, &rd.schemaAt(off).wire); err != nil {
		return fmt.Errorf("%s: at byte %d: %w", rd.name, off, err)
	}
	return nil
}

// schemaAt returns the schema of the record at byte offset off: the last one whose
// header starts before it.
func (rd *Reader) schemaAt(off int64) *streamSchema {
	all := *rd.changes.Load()
	if len(all) == 1 {
		return all[0].s
	}
	i := sort.Search(len(all), func(i int) bool { return all[i].start >= off })
	return all[max(i-1, 0)].s
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
