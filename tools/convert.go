package tools

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/record"
)

const convertUsage = "-r FILE.csv|- -w OUT|- [-c SEP] [-- FILTER]"

// ConvertMain is `panoptes convert`, Argus's raconvert: it reads delimited text as
// `panoptes read -c , -s FIELDS` prints it (a header line of column labels, or field
// names, then one record per line) and writes the records as a record stream (-w).
// Times must carry a date: print them with -u (epoch seconds; -p 9 keeps every
// nanosecond) or as YYYY/MM/DD.hh:mm:ss[.frac] or RFC 3339. Fields computed from
// others (dur, pkts, bytes, dir, state, flgs, tcprtt, intpkt, jit...) set what they can
// when the fields they come from are absent. A malformed line stops the conversion
// with one error naming the line and column; nothing is written under -w's name.
func ConvertMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("convert", convertUsage, stderr)
	in := fs.StringP("read", "r", "", "read delimited text from `FILE` (- for stdin)")
	var c common
	fs.StringVarP(&c.write, "write", "w", "", "write the records as a record stream to `FILE` (- for stdout)")
	delim := fs.StringP("delimiter", "c", ",", "column separator `SEP` (one character; \\t for tab)")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	flt, err := compileFilter(rest)
	if err != nil {
		return err
	}
	if *in == "" || c.write == "" {
		return cli.Usagef("give the input and output: -r FILE.csv -w OUT")
	}
	sep := []rune(strings.NewReplacer(`\t`, "\t").Replace(*delim))
	if len(sep) != 1 || sep[0] == '"' || sep[0] == '\n' {
		return cli.Usagef("-c %s: the separator must be one character", cli.Cut(*delim, 0))
	}
	if err := index.CheckOutput(c.write, []string{*in}); err != nil {
		return err
	}
	src, name := stdin, "stdin"
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		src, name = f, *in
	}
	out, err := newSink(&c, Output{}, stdout)
	if err != nil {
		return err
	}
	n := 0
	err = convertCSV(src, name, sep[0], func(r *record.Record) error {
		if !flt.Match(r) {
			return nil
		}
		n++
		return out.put(r, 0)
	})
	if err != nil {
		out.abort()
		return err
	}
	if err := out.close(); err != nil {
		return err
	}
	if n == 0 {
		return cli.ErrNoMatch
	}
	return nil
}

// convertCSV parses delimited text and calls fn with each record. Input errors are
// *cli.UsageError values naming the input, line and column.
func convertCSV(src io.Reader, name string, sep rune, fn func(*record.Record) error) error {
	cr := csv.NewReader(&lineCap{r: src, max: maxConvertLine, line: 1})
	cr.Comma = sep
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return cli.Usagef("%s: empty input (want a header line of column labels)", name)
	}
	if err != nil {
		return csvError(name, err)
	}
	cols := make([]*record.Field, len(header))
	for i, h := range header {
		f := fieldByLabel(strings.TrimSpace(h))
		if f == nil {
			return cli.Usagef("%s: line 1, column %d: unknown column label %s", name, i+1, cli.Cut(h, 0))
		}
		for j := 0; j < i; j++ {
			if cols[j] == f {
				return cli.Usagef("%s: line 1, column %d: column %s repeated", name, i+1, cli.Cut(h, 0))
			}
		}
		cols[i] = f
	}
	var r record.Record
	var man record.Management
	cells := make([]string, len(convertOrder))
	have := make([]bool, len(convertOrder))
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(row) != len(cols) {
			return cli.Usagef("%s: line %d: %d columns, the header has %d", name, line, len(row), len(cols))
		}
		clear(have)
		for i, v := range row {
			if k, ok := orderIndex[cols[i].Name]; ok { // fields convert cannot set are skipped
				cells[k], have[k] = strings.TrimSpace(v), true
			}
		}
		r = record.Record{Kind: record.KindFlow, Trans: 1}
		man = record.Management{}
		cv := converter{r: &r, man: &man, cells: cells, have: have}
		for k, step := range convertOrder {
			if !have[k] || (cells[k] == "" && step.name != "proto") {
				continue
			}
			if err := step.set(&cv, cells[k]); err != nil {
				col := 0
				for i := range cols {
					if cols[i].Name == step.name {
						col = i + 1
					}
				}
				return cli.Usagef("%s: line %d, column %d (%s): %v", name, line, col, cols[col-1].Label, err)
			}
		}
		cv.finish()
		if r.Kind == record.KindMan {
			m := man
			r.Man = &m
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
}

// maxConvertLine bounds a line of convert's input. The CSV reader holds a whole line,
// its fields and their copies (one 800 MB line took 3.9 GB); a record printed with
// every field, its label of at most 1 KB quoted, is a few KB.
const maxConvertLine = 64 << 10

// lineCap fails a read once a line is longer than max bytes.
type lineCap struct {
	r    io.Reader
	max  int
	run  int // bytes of the current line so far
	line int // the current line's number
}

// errLongLine is what lineCap returns; csvError names the line.
type errLongLine struct{ line, max int }

func (e *errLongLine) Error() string {
	return fmt.Sprintf("line %d: longer than %d bytes (no record's line is)", e.line, e.max)
}

func (l *lineCap) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for b := p[:n]; ; {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.run += len(b)
			break
		}
		if l.run += i; l.run > l.max {
			break
		}
		l.run, l.line, b = 0, l.line+1, b[i+1:]
	}
	if l.run > l.max {
		return n, &errLongLine{line: l.line, max: l.max}
	}
	return n, err
}

func csvError(name string, err error) error {
	var long *errLongLine
	if errors.As(err, &long) {
		return cli.Usagef("%s: %v", name, long)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return cli.Usagef("%s: line %d, column %d: %v", name, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// fieldByLabel finds a field by its column label (as read prints it) or its name.
func fieldByLabel(s string) *record.Field {
	for _, f := range record.Registry {
		if strings.EqualFold(f.Label, s) {
			return f
		}
	}
	f, _ := record.Lookup(s)
	return f
}

// converter builds one record from one line's cells.
type converter struct {
	r     *record.Record
	man   *record.Management
	cells []string
	have  []bool
	nonIP bool // proto named an EtherType
	dur   float64
	hasD  bool
	pkts  [2]uint64 // totals given by pkts, bytes, appbytes columns
}

func (c *converter) cell(name string) (string, bool) {
	k := orderIndex[name]
	return c.cells[k], c.have[k] && c.cells[k] != ""
}

type convertStep struct {
	name string
	set  func(c *converter, v string) error
}

// convertOrder lists the fields convert understands, in the order they are applied:
// proto first (it says how addresses read), then the rest.
var convertOrder = []convertStep{
	{"proto", func(c *converter, v string) error { return c.proto(v) }},
	{"saddr", func(c *converter, v string) error { return c.addr(v, true) }},
	{"daddr", func(c *converter, v string) error { return c.addr(v, false) }},
	{"stime", func(c *converter, v string) (err error) { c.r.StartTime, err = parseTime(v); return }},
	{"ltime", func(c *converter, v string) (err error) { c.r.LastTime, err = parseTime(v); return }},
	{"dur", func(c *converter, v string) (err error) { c.dur, err = parseReal(v); c.hasD = true; return }},
	{"srcid", func(c *converter, v string) error { return setUint32(&c.r.SrcID, v, true) }},
	{"inf", func(c *converter, v string) error {
		if len(v) > len(c.r.Inf) {
			return fmt.Errorf("%s is longer than %d bytes", cli.Cut(v, 0), len(c.r.Inf))
		}
		copy(c.r.Inf[:], v)
		return nil
	}},
	{"seq", func(c *converter, v string) error { return setUint32(&c.r.Seq, v, false) }},
	{"trans", func(c *converter, v string) error { return setUint32(&c.r.Trans, v, false) }},
	{"sampling", func(c *converter, v string) error { return setUint32(&c.r.Sampling, v, false) }},
	{"sport", func(c *converter, v string) error { return setUint16(&c.r.SrcPort, v) }},
	{"dport", func(c *converter, v string) error { return setUint16(&c.r.DstPort, v) }},
	{"spkts", sideU64(func(s *record.Side) *uint64 { return &s.Pkts }, true)},
	{"dpkts", sideU64(func(s *record.Side) *uint64 { return &s.Pkts }, false)},
	{"sbytes", sideU64(func(s *record.Side) *uint64 { return &s.Bytes }, true)},
	{"dbytes", sideU64(func(s *record.Side) *uint64 { return &s.Bytes }, false)},
	{"sappbytes", sideU64(func(s *record.Side) *uint64 { return &s.AppBytes }, true)},
	{"dappbytes", sideU64(func(s *record.Side) *uint64 { return &s.AppBytes }, false)},
	{"pkts", func(c *converter, v string) (err error) { c.pkts[0], err = parseU64(v); return }},
	{"bytes", func(c *converter, v string) (err error) { c.pkts[1], err = parseU64(v); return }},
	{"appbytes", func(c *converter, v string) error { _, err := parseU64(v); return err }},
	{"cause", func(c *converter, v string) error { return c.cause(v) }},
	{"clock", func(c *converter, v string) error {
		for k := record.Clock(0); k < 4; k++ {
			if k.String() == v {
				c.r.Clock = k
				return nil
			}
		}
		return fmt.Errorf("unknown clock %s (have: file, hw, xdp, user)", cli.Cut(v, 0))
	}},
	{"smac", func(c *converter, v string) error { return setMAC(&c.r.Src.MAC, v) }},
	{"dmac", func(c *converter, v string) error { return setMAC(&c.r.Dst.MAC, v) }},
	{"svlan", sideSmall(func(s *record.Side, n uint64) { s.VLAN = uint16(n) }, true, 0xffff)},
	{"dvlan", sideSmall(func(s *record.Side, n uint64) { s.VLAN = uint16(n) }, false, 0xffff)},
	{"smpls", sideSmall(func(s *record.Side, n uint64) { s.MPLS = uint32(n) }, true, 0xfffff)},
	{"dmpls", sideSmall(func(s *record.Side, n uint64) { s.MPLS = uint32(n) }, false, 0xfffff)},
	{"sttl", sideSmall(func(s *record.Side, n uint64) { s.TTL = uint8(n) }, true, 0xff)},
	{"dttl", sideSmall(func(s *record.Side, n uint64) { s.TTL = uint8(n) }, false, 0xff)},
	{"stos", sideSmall(func(s *record.Side, n uint64) { s.ToS = uint8(n) }, true, 0xff)},
	{"dtos", sideSmall(func(s *record.Side, n uint64) { s.ToS = uint8(n) }, false, 0xff)},
	{"synack", func(c *converter, v string) (err error) { c.r.SynAck, err = parseSeconds(v); return }},
	{"ackdat", func(c *converter, v string) (err error) { c.r.AckDat, err = parseSeconds(v); return }},
	{"tcprtt", func(c *converter, v string) error {
		ns, err := parseSeconds(v)
		if _, ok := c.cell("synack"); err == nil && !ok && c.r.AckDat == 0 {
			c.r.SynAck = ns // only the sum is known
		}
		return err
	}},
	{"sloss", sideU64(func(s *record.Side) *uint64 { return &s.Loss }, true)},
	{"dloss", sideU64(func(s *record.Side) *uint64 { return &s.Loss }, false)},
	{"sretrans", sideU64(func(s *record.Side) *uint64 { return &s.Retrans }, true)},
	{"dretrans", sideU64(func(s *record.Side) *uint64 { return &s.Retrans }, false)},
	{"sooo", sideU64(func(s *record.Side) *uint64 { return &s.OutOfOrder }, true)},
	{"dooo", sideU64(func(s *record.Side) *uint64 { return &s.OutOfOrder }, false)},
	{"smaxsz", sideSmall(func(s *record.Side, n uint64) { s.MaxSize = uint32(n) }, true, math.MaxUint32)},
	{"dmaxsz", sideSmall(func(s *record.Side, n uint64) { s.MaxSize = uint32(n) }, false, math.MaxUint32)},
	{"sminsz", sideSmall(func(s *record.Side, n uint64) { s.MinSize = uint32(n) }, true, math.MaxUint32)},
	{"dminsz", sideSmall(func(s *record.Side, n uint64) { s.MinSize = uint32(n) }, false, math.MaxUint32)},
	{"stcpb", sideSmall(func(s *record.Side, n uint64) { s.BaseSeq = uint32(n) }, true, math.MaxUint32)},
	{"dtcpb", sideSmall(func(s *record.Side, n uint64) { s.BaseSeq = uint32(n) }, false, math.MaxUint32)},
	{"swin", sideSmall(func(s *record.Side, n uint64) { s.Win = uint32(n) }, true, math.MaxUint32)},
	{"dwin", sideSmall(func(s *record.Side, n uint64) { s.Win = uint32(n) }, false, math.MaxUint32)},
	{"sintpkt", intervals(true, false)},
	{"dintpkt", intervals(false, false)},
	{"sjit", intervals(true, true)},
	{"djit", intervals(false, true)},
	{"seen", manU64(func(m *record.Management) *uint64 { return &m.PktsSeen })},
	{"written", manU64(func(m *record.Management) *uint64 { return &m.RecordsWritten })},
	{"flows", manU64(func(m *record.Management) *uint64 { return &m.FlowsActive })},
	{"drops", manU64(func(m *record.Management) *uint64 { return &m.Drops })},
	{"nicdrops", manU64(func(m *record.Management) *uint64 { return &m.NICDrops })},
	{"evictions", manU64(func(m *record.Management) *uint64 { return &m.Evictions })},
	{"perrs", manU64(func(m *record.Management) *uint64 { return &m.ParseErrors })},
	{"skipped", manU64(func(m *record.Management) *uint64 { return &m.SkippedLink })},
	{"rdrops", manU64(func(m *record.Management) *uint64 { return &m.RecordDrops })},
	{"flgs", func(c *converter, v string) error { return c.flags(v) }},
	{"dir", func(c *converter, v string) error {
		switch v {
		case "->", "<->", "<-", "<?>", "?>", "who", "<?", "?":
			return nil
		}
		return fmt.Errorf("unknown direction %s", cli.Cut(v, 0))
	}},
	{"state", func(c *converter, v string) error { return c.state(v) }},
}

// Fields computed from others that convert accepts and checks no further.
var derivedOnly = []string{"sdsb", "ddsb", "loss", "ploss", "smeansz", "dmeansz", "rate", "srate", "drate", "load", "sload", "dload"}

// orderIndex maps a field name to its step in convertOrder.
var orderIndex = map[string]int{}

func init() {
	for _, n := range derivedOnly {
		convertOrder = append(convertOrder, convertStep{n, func(_ *converter, v string) error { _, err := parseReal(v); return err }})
	}
	for i, s := range convertOrder {
		orderIndex[s.name] = i
	}
}

func parseU64(v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a count", cli.Cut(v, 0))
	}
	return n, nil
}

func parseReal(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s is not a number", cli.Cut(v, 0))
	}
	return f, nil
}

// parseSeconds parses decimal seconds into nanoseconds, exactly.
func parseSeconds(v string) (int64, error) {
	ns, err := decimalNanos(v)
	if err != nil {
		return 0, fmt.Errorf("%s is not a number of seconds", cli.Cut(v, 0))
	}
	return ns, nil
}

// decimalNanos parses [-]S[.F] as nanoseconds without going through a float, so that
// times printed with -p 9 come back to the nanosecond.
func decimalNanos(v string) (int64, error) {
	neg := strings.HasPrefix(v, "-")
	v = strings.TrimPrefix(v, "-")
	whole, frac, _ := strings.Cut(v, ".")
	if whole == "" && frac == "" {
		return 0, errors.New("empty")
	}
	s := int64(0)
	if whole != "" {
		n, err := strconv.ParseUint(whole, 10, 33)
		if err != nil {
			return 0, err
		}
		s = int64(n)
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	ns := int64(0)
	if frac != "" {
		n, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return 0, err
		}
		ns = int64(n)
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	t := s*1e9 + ns
	if neg {
		t = -t
	}
	return t, nil
}

// parseTime reads a time with a date: epoch seconds, YYYY/MM/DD.hh:mm:ss[.frac] in
// local time, or RFC 3339.
func parseTime(v string) (int64, error) {
	if ns, err := decimalNanos(v); err == nil {
		return ns, nil
	}
	if t, err := time.ParseInLocation("2006/01/02.15:04:05.999999999", v, time.Local); err == nil {
		return t.UnixNano(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UnixNano(), nil
	}
	if _, err := time.Parse("15:04:05.999999999", v); err == nil {
		return 0, fmt.Errorf("time %s has no date (print the CSV with -u)", cli.Cut(v, 0))
	}
	return 0, fmt.Errorf("%s is not a time (want epoch seconds, YYYY/MM/DD.hh:mm:ss or RFC 3339)", cli.Cut(v, 0))
}

func setUint32(dst *uint32, v string, dotted bool) error {
	if dotted && strings.Count(v, ".") == 3 { // ra prints a source id as an IPv4 address
		if a, err := netip.ParseAddr(v); err == nil && a.Is4() {
			b := a.As4()
			*dst = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			return nil
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return fmt.Errorf("%s is not a number from 0 to %d", cli.Cut(v, 0), uint32(math.MaxUint32))
	}
	*dst = uint32(n)
	return nil
}

func setUint16(dst *uint16, v string) error {
	base := 10
	if h, ok := strings.CutPrefix(v, "0x"); ok { // ra prints ICMP type and code as hex
		v, base = h, 16
	}
	n, err := strconv.ParseUint(v, base, 16)
	if err != nil {
		return fmt.Errorf("%s is not a port (0 to 65535)", cli.Cut(v, 0))
	}
	*dst = uint16(n)
	return nil
}

func setMAC(dst *[6]byte, v string) error {
	hw, err := net.ParseMAC(v)
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("%s is not a MAC address", cli.Cut(v, 0))
	}
	copy(dst[:], hw)
	return nil
}

func side(c *converter, src bool) *record.Side {
	if src {
		return &c.r.Src
	}
	return &c.r.Dst
}

func sideU64(get func(*record.Side) *uint64, src bool) func(*converter, string) error {
	return func(c *converter, v string) (err error) {
		*get(side(c, src)), err = parseU64(v)
		return
	}
}

func sideSmall(set func(*record.Side, uint64), src bool, limit uint64) func(*converter, string) error {
	return func(c *converter, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > limit {
			return fmt.Errorf("%s is not a number from 0 to %d", cli.Cut(v, 0), limit)
		}
		set(side(c, src), n)
		return nil
	}
}

func manU64(get func(*record.Management) *uint64) func(*converter, string) error {
	return func(c *converter, v string) (err error) {
		*get(c.man), err = parseU64(v)
		return
	}
}

// intervals sets the inter-packet statistics from the mean (intpkt, ms) or the
// standard deviation (jit, ms); the interval count is the side's packets less one.
func intervals(src, jit bool) func(*converter, string) error {
	return func(c *converter, v string) error {
		ms, err := parseReal(v)
		if err != nil || ms < 0 {
			return fmt.Errorf("%s is not a time in milliseconds", cli.Cut(v, 0))
		}
		s := side(c, src)
		n := s.Pkts
		if n > 1 {
			n--
		}
		s.IntN = max(s.IntN, n, 2)
		if jit {
			sd := ms * 1e6
			s.IntM2 = sd * sd * float64(s.IntN)
		} else {
			s.IntMean = ms * 1e6
		}
		return nil
	}
}

var (
	etherOnce  sync.Once
	etherTypes map[string]uint16
)

// etherType returns the EtherType read prints as name for a non-IP flow.
func etherType(name string) (uint16, bool) {
	etherOnce.Do(func() {
		etherTypes = map[string]uint16{}
		var r record.Record
		for et := 0; et <= 0xffff; et++ {
			r.EtherType = uint16(et)
			if n := string(record.AppendProto(nil, &r, false)); !strings.HasPrefix(n, "0x") {
				etherTypes[n] = uint16(et)
			}
		}
	})
	if et, ok := etherTypes[name]; ok {
		return et, true
	}
	if h, ok := strings.CutPrefix(name, "0x"); ok {
		n, err := strconv.ParseUint(h, 16, 16)
		return uint16(n), err == nil
	}
	return 0, false
}

func isEther(name string) bool {
	_, ok := etherType(name)
	return ok
}

func (c *converter) proto(v string) error {
	if v == "man" {
		c.r.Kind = record.KindMan
		return nil
	}
	a, _ := c.cell("saddr")
	ipAddr := false
	if p, err := netip.ParseAddr(a); err == nil && a != "" {
		ipAddr = true
		c.r.Family = 4
		if !p.Is4() {
			c.r.Family = 6
		}
	}
	if n, err := strconv.ParseUint(v, 10, 8); err == nil {
		c.r.Proto = uint8(n)
	} else if n, ok := record.ProtoNumber(v); ok && (ipAddr || a == "" || !isEther(v)) {
		c.r.Proto = n
	} else if et, ok := etherType(v); ok {
		c.nonIP, c.r.Family, c.r.EtherType = true, 0, et
		return nil
	} else if v == "" {
		return errors.New("empty protocol")
	} else {
		return fmt.Errorf("unknown protocol %s", cli.Cut(v, 0))
	}
	if c.r.Family == 0 {
		c.r.Family = 4
	}
	c.r.EtherType = 0x0800
	if c.r.Family == 6 {
		c.r.EtherType = 0x86dd
	}
	return nil
}

func (c *converter) addr(v string, src bool) error {
	if c.r.Kind == record.KindMan {
		return nil
	}
	dst := &c.r.DstAddr
	if src {
		dst = &c.r.SrcAddr
	}
	if c.nonIP {
		if a, err := netip.ParseAddr(v); err == nil && a.Is4() { // ARP's protocol address
			b := a.As4()
			copy(dst[:], b[:])
			return nil
		}
		return setMAC(&side(c, src).MAC, v)
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return fmt.Errorf("%s is not an IP address", cli.Cut(v, 0))
	}
	if (c.r.Family == 4) != a.Is4() {
		return fmt.Errorf("%s: source and destination families differ", cli.Cut(v, 0))
	}
	if a.Is4() {
		b := a.As4()
		copy(dst[:], b[:])
	} else {
		*dst = a.As16()
	}
	return nil
}

func (c *converter) cause(v string) error {
	for k := record.Cause(1); k <= record.CauseEvicted; k++ {
		if k.String() == v {
			c.r.Cause = k
			return nil
		}
	}
	return fmt.Errorf("unknown cause %s", cli.Cut(v, 0))
}

// flags sets what the flgs column shows and no other field carries: the
// encapsulation, flow export, window-shut, ECN and fragment marks.
func (c *converter) flags(v string) error {
	for _, ch := range v {
		switch ch {
		case ' ', 's', 'd', '*', 'i', 'r', '&': // from the loss and out-of-order counts
		case 'N':
			c.r.Flags |= record.FlagFlowExport
		case 'G':
			c.r.Flags |= record.FlagGRE
		case 'm':
			c.r.Flags |= record.FlagMPLS
		case 'v':
			c.r.Flags |= record.FlagVLAN
		case 'p':
			c.r.Flags |= record.FlagPPP
		case 'e':
			c.r.Flags |= record.FlagEthernet
		case 'S':
			c.r.TCPState |= record.TCPSrcWinShut
		case 'D':
			c.r.TCPState |= record.TCPDstWinShut
		case '@':
			c.r.TCPState |= record.TCPSrcWinShut | record.TCPDstWinShut
		case 'E':
			c.r.TCPState |= record.TCPSrcEcn
		case 'f':
			c.r.Flags |= record.FlagFragPartial
		case 'F':
			c.r.Flags |= record.FlagFragments
		default:
			return fmt.Errorf("unknown flag %q in %s", ch, cli.Cut(v, 0))
		}
	}
	return nil
}

// state sets the TCP status bits that make read print this state name (and for
// management records, the cause).
func (c *converter) state(v string) error {
	if c.r.Kind == record.KindMan {
		switch v {
		case "STA":
			c.r.Cause = record.CauseStart
		case "STP":
			c.r.Cause = record.CauseStop
		case "CON":
			if c.r.Cause == 0 || c.r.Cause == record.CauseStart || c.r.Cause == record.CauseStop {
				c.r.Cause = record.CauseStatus
			}
		default:
			return fmt.Errorf("unknown management state %s", cli.Cut(v, 0))
		}
		return nil
	}
	if c.r.Family == 0 || c.r.Proto != 6 {
		return nil // computed from the ICMP type and the packet counts
	}
	bits := map[string]uint16{
		"REQ": record.TCPSawSyn,
		"ACC": record.TCPSawSynAck,
		"CON": record.TCPEstablished,
		"CLO": record.TCPClosed,
		"FIN": record.TCPSrcFin,
		"RST": record.TCPReset,
		"TIM": record.TCPTimedOut,
	}
	b, ok := bits[v]
	if !ok {
		return fmt.Errorf("unknown TCP state %s", cli.Cut(v, 0))
	}
	c.r.TCPState |= b
	if d, _ := c.cell("dir"); d == "->" {
		c.r.TCPState |= record.TCPSawSyn
	}
	return nil
}

// finish fills what only the derived columns gave.
func (c *converter) finish() {
	r := c.r
	if _, ok := c.cell("ltime"); !ok && c.hasD {
		r.LastTime = r.StartTime + int64(math.Round(c.dur*1e9))
	}
	if _, ok := c.cell("stime"); !ok && c.hasD {
		r.StartTime = r.LastTime - int64(math.Round(c.dur*1e9))
	}
	if r.Kind == record.KindMan {
		if _, ok := c.cell("pkts"); ok {
			c.man.PktsSeen = c.pkts[0]
		}
		if _, ok := c.cell("bytes"); ok {
			c.man.BytesSeen = c.pkts[1]
		}
		return
	}
	_, sp := c.cell("spkts")
	_, dp := c.cell("dpkts")
	if !sp && !dp {
		r.Src.Pkts = c.pkts[0]
	}
	_, sb := c.cell("sbytes")
	_, db := c.cell("dbytes")
	if !sb && !db {
		r.Src.Bytes = c.pkts[1]
	}
	if d, ok := c.cell("dir"); ok && r.Family != 0 && r.Proto == 6 && d == "->" {
		r.TCPState |= record.TCPSawSyn
	}
}
