package sflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Sample formats (enterprise 0) of the sFlow v5 specification.
const (
	FormatFlowSample            = 1
	FormatCounterSample         = 2
	FormatFlowSampleExpanded    = 3
	FormatCounterSampleExpanded = 4
)

// Flow record formats (enterprise 0) the decoder reads.
const (
	RecordRawHeader      = 1    // sampled_header: the first bytes of the packet
	RecordEthernet       = 2    // sampled_ethernet: MAC addresses and EtherType
	RecordIPv4           = 3    // sampled_ipv4: the 5-tuple, for agents that send no header
	RecordIPv6           = 4    // sampled_ipv6
	RecordExtendedSwitch = 1001 // extended_switch: VLANs in and out
)

// Header protocols of a sampled_header record the decoder reads.
const (
	HeaderEthernet = 1
	HeaderPPP      = 7
	HeaderIPv4     = 11
	HeaderIPv6     = 12
)

// Datagram is one sFlow v5 datagram. Byte slices in it (Record.Data, Sample.Data) alias
// the message it was read from.
type Datagram struct {
	Agent    netip.Addr // invalid when the agent address type is 0 (unknown)
	SubAgent uint32
	Seq      uint32
	Uptime   uint32 // ms since the agent started
	Samples  []Sample
}

// Sample is one sample of a datagram. Flow and counter samples, compact or expanded, are
// held in the expanded form; Format says which it was on the wire. A sample of another
// format or enterprise keeps its body, undecoded, in Data.
type Sample struct {
	Enterprise uint32 // 20 bits; 0 for the standard sample formats
	Format     uint32 // 12 bits: FormatFlowSample...FormatCounterSampleExpanded, or other

	Seq         uint32
	SourceType  uint32 // compact samples: 8 bits
	SourceIndex uint32 // compact samples: 24 bits

	// Flow samples only.
	Rate         uint32 // 1 in Rate packets was sampled
	Pool         uint32 // packets that could have been sampled
	Drops        uint32 // samples the agent lost for want of resources
	InputFormat  uint32 // compact samples: 2 bits
	Input        uint32 // compact samples: 30 bits
	OutputFormat uint32
	Output       uint32

	Records []Record // flow records or counter records
	Data    []byte   // the body of a sample of another format or enterprise
}

// IsFlow reports whether s is a flow sample (compact or expanded).
func (s *Sample) IsFlow() bool {
	return s.Enterprise == 0 && (s.Format == FormatFlowSample || s.Format == FormatFlowSampleExpanded)
}

// IsCounter reports whether s is a counter sample (compact or expanded).
func (s *Sample) IsCounter() bool {
	return s.Enterprise == 0 && (s.Format == FormatCounterSample || s.Format == FormatCounterSampleExpanded)
}

func (s *Sample) known() bool { return s.IsFlow() || s.IsCounter() }

// Record is one flow or counter record of a sample, its body undecoded.
type Record struct {
	Enterprise uint32 // 20 bits
	Format     uint32 // 12 bits
	Data       []byte
}

// ErrMalformed is wrapped by every error about a datagram's bytes (errors.Is).
var ErrMalformed = errors.New("malformed sflow datagram")

// WireError is a datagram that is cut short or malformed: Offset is the byte offset in
// the datagram where reading stopped.
type WireError struct {
	Offset int
	Reason string
}

func (e *WireError) Error() string { return fmt.Sprintf("byte %d: %s", e.Offset, e.Reason) }
func (e *WireError) Unwrap() error { return ErrMalformed }
func wireErr(off int, f string, a ...any) error {
	return &WireError{Offset: off, Reason: fmt.Sprintf(f, a...)}
}

// reader walks a datagram's 32-bit XDR words; off is always a byte offset in the whole
// datagram, so that errors name it.
type reader struct {
	b   []byte
	off int
	end int // where the enclosing structure (datagram, sample, record) ends
}

func (r *reader) u32(what string) (uint32, error) {
	if r.end-r.off < 4 {
		return 0, wireErr(r.off, "%s cut short (%d bytes left, want 4)", what, r.end-r.off)
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

// opaque reads an XDR variable-length opaque: a length, the bytes, and padding to a
// multiple of 4.
func (r *reader) opaque(what string) ([]byte, error) {
	if r.end-r.off < 4 {
		return nil, wireErr(r.off, "%s length cut short (%d bytes left, want 4)", what, r.end-r.off)
	}
	n := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	if uint64(n) > uint64(r.end-r.off) {
		return nil, wireErr(r.off-4, "%s of %d bytes past the end of its container (%d bytes left)", what, n, r.end-r.off)
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += min(pad4(int(n)), r.end-r.off)
	return b, nil
}

func pad4(n int) int { return (n + 3) &^ 3 }

// Unmarshal reads an sFlow v5 datagram into d, reusing d's slices. Errors wrap
// ErrMalformed and name the byte offset (a *WireError).
func Unmarshal(msg []byte, d *Datagram) error {
	samples := d.Samples[:0]
	*d = Datagram{}
	r := reader{b: msg, end: len(msg)}
	v, err := r.u32("version")
	if err != nil {
		return err
	}
	if v != 5 {
		return wireErr(0, "version %d (want 5)", v)
	}
	at, err := r.u32("agent address type")
	if err != nil {
		return err
	}
	switch at {
	case 0:
	case 1:
		if r.end-r.off < 4 {
			return wireErr(r.off, "IPv4 agent address cut short")
		}
		d.Agent = netip.AddrFrom4([4]byte(msg[r.off:]))
		r.off += 4
	case 2:
		if r.end-r.off < 16 {
			return wireErr(r.off, "IPv6 agent address cut short")
		}
		d.Agent = netip.AddrFrom16([16]byte(msg[r.off:]))
		r.off += 16
	default:
		return wireErr(4, "agent address type %d (want 1 or 2)", at)
	}
	if d.SubAgent, err = r.u32("sub-agent id"); err != nil {
		return err
	}
	if d.Seq, err = r.u32("sequence number"); err != nil {
		return err
	}
	if d.Uptime, err = r.u32("uptime"); err != nil {
		return err
	}
	n, err := r.u32("sample count")
	if err != nil {
		return err
	}
	for i := range n {
		if len(samples) < cap(samples) {
			samples = samples[:len(samples)+1]
			s := &samples[len(samples)-1]
			*s = Sample{Records: s.Records[:0]}
		} else {
			samples = append(samples, Sample{})
		}
		if err := readSample(&r, &samples[len(samples)-1], i); err != nil {
			d.Samples = samples
			return err
		}
	}
	d.Samples = samples
	if r.off != len(msg) {
		return wireErr(r.off, "%d bytes after the last of %d samples", len(msg)-r.off, n)
	}
	return nil
}

func readSample(r *reader, s *Sample, i uint32) error {
	df, err := r.u32("sample format")
	if err != nil {
		return wireErr(r.off, "sample %d: format cut short", i)
	}
	s.Enterprise, s.Format = df>>12, df&0xfff
	body, err := r.opaque("sample")
	if err != nil {
		return wireErr(err.(*WireError).Offset, "sample %d: %s", i, err.(*WireError).Reason)
	}
	if !s.known() {
		s.Data = body
		return nil
	}
	start := r.off - pad4(len(body))
	sr := reader{b: r.b, off: start, end: start + len(body)}
	cut := func(field string) error {
		return wireErr(sr.off, "sample %d (format %d): %s cut short", i, s.Format, field)
	}
	expanded := s.Format == FormatFlowSampleExpanded || s.Format == FormatCounterSampleExpanded
	// The fixed fields: 2 to 11 words, by format.
	words := 2
	switch {
	case s.IsFlow() && expanded:
		words = 11
	case s.IsFlow():
		words = 8
	case expanded:
		words = 4
	default:
		words = 3
	}
	if sr.end-sr.off < 4*words {
		return cut("header")
	}
	w := func() uint32 {
		v := binary.BigEndian.Uint32(sr.b[sr.off:])
		sr.off += 4
		return v
	}
	s.Seq = w()
	if expanded {
		s.SourceType, s.SourceIndex = w(), w()
	} else {
		src := w()
		s.SourceType, s.SourceIndex = src>>24, src&0xffffff
	}
	if s.IsFlow() {
		s.Rate, s.Pool, s.Drops = w(), w(), w()
		if expanded {
			s.InputFormat, s.Input, s.OutputFormat, s.Output = w(), w(), w(), w()
		} else {
			in, out := w(), w()
			s.InputFormat, s.Input = in>>30, in&0x3fffffff
			s.OutputFormat, s.Output = out>>30, out&0x3fffffff
		}
	}
	nrec := w()
	for j := range nrec {
		f, err := sr.u32("record format")
		if err != nil {
			return wireErr(sr.off, "sample %d: record %d of %d: format cut short", i, j, nrec)
		}
		data, err := sr.opaque("record")
		if err != nil {
			we := err.(*WireError)
			return wireErr(we.Offset, "sample %d: record %d of %d: %s", i, j, nrec, we.Reason)
		}
		s.Records = append(s.Records, Record{Enterprise: f >> 12, Format: f & 0xfff, Data: data})
	}
	if sr.off != sr.end {
		return wireErr(sr.off, "sample %d: %d bytes after its %d records", i, sr.end-sr.off, nrec)
	}
	return nil
}

// AppendDatagram appends the wire form of d to b. It fails for values the wire form
// cannot hold (a compact sample's source index above 24 bits, an enterprise above 20
// bits...); Unmarshal of what it appends gives d back.
func AppendDatagram(b []byte, d *Datagram) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, 5)
	switch {
	case !d.Agent.IsValid():
		b = binary.BigEndian.AppendUint32(b, 0)
	case d.Agent.Is4():
		b = binary.BigEndian.AppendUint32(b, 1)
		b = append(b, d.Agent.AsSlice()...)
	default:
		b = binary.BigEndian.AppendUint32(b, 2)
		a := d.Agent.As16()
		b = append(b, a[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, d.SubAgent)
	b = binary.BigEndian.AppendUint32(b, d.Seq)
	b = binary.BigEndian.AppendUint32(b, d.Uptime)
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.Samples)))
	for i := range d.Samples {
		var err error
		if b, err = appendSample(b, &d.Samples[i]); err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
	}
	return b, nil
}

func appendOpaque(b, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	for range pad4(len(data)) - len(data) {
		b = append(b, 0)
	}
	return b
}

func format(enterprise, f uint32) (uint32, error) {
	if enterprise >= 1<<20 || f >= 1<<12 {
		return 0, fmt.Errorf("enterprise %d, format %d: beyond 20 and 12 bits", enterprise, f)
	}
	return enterprise<<12 | f, nil
}

func appendSample(b []byte, s *Sample) ([]byte, error) {
	df, err := format(s.Enterprise, s.Format)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint32(b, df)
	if !s.known() {
		if s.Seq|s.SourceType|s.SourceIndex|s.Rate|s.Pool|s.Drops|s.InputFormat|s.Input|s.OutputFormat|s.Output != 0 || s.Records != nil {
			return nil, errors.New("a sample of an unknown format with decoded fields")
		}
		return appendOpaque(b, s.Data), nil
	}
	if s.Data != nil {
		return nil, errors.New("a flow or counter sample with undecoded data")
	}
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	u := func(v uint32) { b = binary.BigEndian.AppendUint32(b, v) }
	u(s.Seq)
	expanded := s.Format == FormatFlowSampleExpanded || s.Format == FormatCounterSampleExpanded
	if expanded {
		u(s.SourceType)
		u(s.SourceIndex)
	} else {
		if s.SourceType >= 1<<8 || s.SourceIndex >= 1<<24 {
			return nil, errors.New("compact sample: source id type or index too large")
		}
		u(s.SourceType<<24 | s.SourceIndex)
	}
	if s.IsFlow() {
		u(s.Rate)
		u(s.Pool)
		u(s.Drops)
		if expanded {
			u(s.InputFormat)
			u(s.Input)
			u(s.OutputFormat)
			u(s.Output)
		} else {
			if s.InputFormat >= 4 || s.OutputFormat >= 4 || s.Input >= 1<<30 || s.Output >= 1<<30 {
				return nil, errors.New("compact flow sample: interface format or value too large")
			}
			u(s.InputFormat<<30 | s.Input)
			u(s.OutputFormat<<30 | s.Output)
		}
	} else if s.Rate|s.Pool|s.Drops|s.InputFormat|s.Input|s.OutputFormat|s.Output != 0 {
		return nil, errors.New("a counter sample with flow sample fields")
	}
	u(uint32(len(s.Records)))
	for _, rec := range s.Records {
		f, err := format(rec.Enterprise, rec.Format)
		if err != nil {
			return nil, err
		}
		u(f)
		b = appendOpaque(b, rec.Data)
	}
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	return b, nil
}
