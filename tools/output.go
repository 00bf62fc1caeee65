package tools

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"

	"panoptes/record"
	"panoptes/tools/cluster"
)

// Output says how records print: the columns and ra's output options.
type Output struct {
	Fields []*record.Field
	Widths []int // per field; 0 means the field's default width
	Format record.Format
	// Delim, when not empty, prints delimited values without padding (ra -c). With
	// "," the output is CSV (RFC 4180 quoting).
	Delim string
	// JSON prints one JSON object per record (JSON Lines), keyed by field name.
	JSON bool
	// Header is ra's -L: negative prints no header, 0 prints it once before the first
	// record, N > 0 repeats it every N records. JSON output has no header.
	Header int
}

// DefaultFields is ra's default column set.
var DefaultFields = []string{"stime", "flgs", "proto", "saddr", "sport", "dir", "daddr", "dport", "pkts", "bytes", "state"}

// Printer prints records as text columns, delimited values or JSON Lines. It buffers:
// call Flush at the end.
type Printer struct {
	w       *bufio.Writer
	o       Output
	csv     *csv.Writer
	row     []string // reused CSV row
	line    []byte   // reused output line
	cell    []byte   // reused cell
	colBits []uint32 // per column: its blankable bit (see cluster.IDBit), or 0
	n       int      // records printed
}

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer, o Output) *Printer {
	p := &Printer{w: bufio.NewWriterSize(w, 64<<10), o: o}
	if len(p.o.Widths) < len(o.Fields) {
		p.o.Widths = append(append([]int(nil), o.Widths...), make([]int, len(o.Fields)-len(o.Widths))...)
	}
	if o.Delim == "," && !o.JSON {
		p.csv = csv.NewWriter(p.w)
		p.row = make([]string, len(o.Fields))
	}
	p.colBits = make([]uint32, len(o.Fields))
	for i, f := range o.Fields {
		p.colBits[i] = cluster.IDBit(f.Name)
	}
	return p
}

// Print prints one record.
func (p *Printer) Print(r *record.Record) error { return p.print(r, 0) }

// print prints r with the columns whose identifier bit is in blank left empty (null
// in JSON): cluster uses it for key fields its merged records disagree on.
func (p *Printer) print(r *record.Record, blank uint32) error {
	if p.o.JSON {
		return p.printJSON(r, blank)
	}
	if p.o.Header == 0 && p.n == 0 || p.o.Header > 0 && p.n%p.o.Header == 0 {
		if err := p.printHeader(); err != nil {
			return err
		}
	}
	p.n++
	if p.csv != nil {
		for i := range p.o.Fields {
			p.row[i] = string(p.cellText(p.cell[:0], r, i, blank))
		}
		return p.csv.Write(p.row)
	}
	p.line = p.line[:0]
	for i := range p.o.Fields {
		p.cell = p.cellText(p.cell[:0], r, i, blank)
		p.line = p.appendCell(p.line, i, p.cell)
	}
	return p.writeLine()
}

func (p *Printer) printHeader() error {
	if p.csv != nil {
		for i, f := range p.o.Fields {
			p.row[i] = f.Label
		}
		return p.csv.Write(p.row)
	}
	p.line = p.line[:0]
	for i, f := range p.o.Fields {
		p.line = p.appendCell(p.line, i, []byte(f.Label))
	}
	return p.writeLine()
}

// appendCell appends column i's separator and value, padded to the column width
// unless the output is delimited.
func (p *Printer) appendCell(b []byte, i int, v []byte) []byte {
	if p.o.Delim != "" {
		if i > 0 {
			b = append(b, p.o.Delim...)
		}
		return append(b, v...)
	}
	if i > 0 {
		b = append(b, ' ')
	}
	f := p.o.Fields[i]
	w := p.o.Widths[i]
	if w == 0 {
		w = f.Width
	}
	pad := w - len(v)
	if f.Left {
		b = append(b, v...)
	}
	for ; pad > 0; pad-- {
		b = append(b, ' ')
	}
	if !f.Left {
		b = append(b, v...)
	}
	return b
}

// writeLine writes p.line without trailing blanks (the padding of a left-aligned last
// column) and a newline.
func (p *Printer) writeLine() error {
	l := p.line
	if p.o.Delim == "" {
		for len(l) > 0 && l[len(l)-1] == ' ' {
			l = l[:len(l)-1]
		}
	}
	l = append(l, '\n')
	p.line = l
	_, err := p.w.Write(l)
	return err
}

// cellText appends the text of column i of r.
func (p *Printer) cellText(b []byte, r *record.Record, i int, blank uint32) []byte {
	if p.colBits[i]&blank != 0 {
		return b
	}
	f := p.o.Fields[i]
	if r.Kind == record.KindMan {
		if v, ok := manValue(f, r); ok {
			if v.num {
				return strconv.AppendUint(b, v.n, 10)
			}
			return append(b, v.s...)
		}
	}
	return f.Text(b, r, &p.o.Format)
}

func (p *Printer) printJSON(r *record.Record, blank uint32) error {
	b := append(p.line[:0], '{')
	for i, f := range p.o.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, f.Name)
		b = append(b, ':')
		switch v, ok := manValue(f, r); {
		case p.colBits[i]&blank != 0:
			b = append(b, "null"...)
		case r.Kind == record.KindMan && ok:
			switch {
			case v.num:
				b = strconv.AppendUint(b, v.n, 10)
			case v.s == "":
				b = append(b, "null"...)
			default:
				b = strconv.AppendQuote(b, v.s)
			}
		default:
			b = record.AppendJSONValue(b, f, r)
		}
	}
	b = append(b, '}', '\n')
	p.line = b
	p.n++
	_, err := p.w.Write(b)
	return err
}

// Flush writes buffered output.
func (p *Printer) Flush() error {
	if p.csv != nil {
		p.csv.Flush()
		if err := p.csv.Error(); err != nil {
			return err
		}
	}
	return p.w.Flush()
}

type manVal struct {
	s   string
	n   uint64
	num bool
}

// manValue overrides fields that mean something else on a management record: the
// protocol prints as "man" (as ra prints MARs), the flow key fields are empty, and the
// packet and byte counts are the sensor's totals. ok is false for other fields.
func manValue(f *record.Field, r *record.Record) (v manVal, ok bool) {
	if r.Kind != record.KindMan {
		return v, false
	}
	var m record.Management
	if r.Man != nil {
		m = *r.Man
	}
	switch f.Name {
	case "proto":
		return manVal{s: "man"}, true
	case "saddr", "daddr", "sport", "dport", "dir":
		return manVal{}, true
	case "pkts":
		return manVal{n: m.PktsSeen, num: true}, true
	case "bytes":
		return manVal{n: m.BytesSeen, num: true}, true
	}
	return v, false
}
