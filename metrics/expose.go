package metrics

// The Prometheus text exposition format (version 0.0.4), written by hand: the few
// hundred lines here replace github.com/prometheus/client_golang, whose package
// initialisers (and those of procfs, client_model and protobuf under it) every command
// of the binary paid for at start, metrics or not. The output is what client_golang's
// registry wrote for the same metrics: families sorted by name, each family's samples
// sorted by their label values (labels in name order), floats in Go's shortest 'g' form.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValueType is the type of a metric family.
type ValueType uint8

// The types of the families this package writes.
const (
	CounterValue ValueType = iota + 1
	GaugeValue
	summaryValue // go_gc_duration_seconds only
)

func (t ValueType) String() string {
	switch t {
	case CounterValue:
		return "counter"
	case GaugeValue:
		return "gauge"
	case summaryValue:
		return "summary"
	}
	return "untyped"
}

// Desc describes a metric family: its name, HELP text, type and label names.
type Desc struct {
	name, help string
	typ        ValueType
	labels     []string
	// byName is the order in which the labels are written: sorted by name, as
	// Prometheus's own clients write them.
	byName []int
	err    error // why the description is unusable; its samples are dropped
}

// NewDesc returns the description of a family. A name or label name that Prometheus
// would not accept makes every sample of the family an error at the scrape.
func NewDesc(name, help string, t ValueType, labels ...string) *Desc {
	d := &Desc{name: name, help: help, typ: t, labels: labels, byName: make([]int, len(labels))}
	for i := range d.byName {
		d.byName[i] = i
	}
	slices.SortFunc(d.byName, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	if !validName(name, true) {
		d.err = fmt.Errorf("metric name %q is not valid", name)
	}
	for i, j := range d.byName {
		l := labels[j]
		switch {
		case !validName(l, false) || strings.HasPrefix(l, "__"): // __ names are Prometheus's own
			d.err = fmt.Errorf("metric %s: label name %q is not valid", name, l)
		case i > 0 && labels[d.byName[i-1]] == l:
			d.err = fmt.Errorf("metric %s: label %q twice", name, l)
		case t == summaryValue && l == "quantile":
			d.err = fmt.Errorf("metric %s: a summary cannot have a label named quantile", name)
		}
	}
	return d
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, without
// colons, a label name, in the classic character set every Prometheus version accepts.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || colon && c == ':' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// Exporter adds its current samples to a scrape; it is called at every scrape.
type Exporter interface {
	Collect(*Scrape)
}

// Scrape gathers the samples of one scrape, by family.
type Scrape struct {
	fams map[string]*family
	errs []error
}

type family struct {
	d       *Desc
	samples []sample
}

type sample struct {
	labels []string // values, in the order of the Desc's labels
	v      float64
	sum    *summary // for a summary: v is unused
}

type summary struct {
	count     uint64
	sum       float64
	quantiles [][2]float64 // quantile, value; by quantile
}

// Add adds one sample of d's family, with a value for each of d's labels.
// A sample Prometheus could not take (wrong number of label values, a value that is
// not UTF-8, the same labels twice, a family described two ways) is left out and
// reported by WriteText, as client_golang's registry left it out and served the rest.
func (s *Scrape) Add(d *Desc, v float64, labelValues ...string) {
	s.add(d, sample{labels: slices.Clone(labelValues), v: v})
}

// addSummary adds a summary's sample (without labels: go_gc_duration_seconds).
func (s *Scrape) addSummary(d *Desc, count uint64, sum float64, quantiles [][2]float64) {
	q := slices.Clone(quantiles)
	slices.SortFunc(q, func(a, b [2]float64) int { return cmpFloat(a[0], b[0]) })
	s.add(d, sample{sum: &summary{count: count, sum: sum, quantiles: q}})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Scrape) add(d *Desc, m sample) {
	if d.err != nil {
		s.errs = append(s.errs, d.err)
		return
	}
	if len(m.labels) != len(d.labels) {
		s.errs = append(s.errs, fmt.Errorf("metric %s: %d label values for %d labels", d.name, len(m.labels), len(d.labels)))
		return
	}
	for _, v := range m.labels {
		if !utf8.ValidString(v) {
			s.errs = append(s.errs, fmt.Errorf("metric %s: label value %q is not UTF-8", d.name, v))
			return
		}
	}
	if s.fams == nil {
		s.fams = map[string]*family{}
	}
	f := s.fams[d.name]
	switch {
	case f == nil:
		f = &family{d: d}
		s.fams[d.name] = f
	case f.d != d && (f.d.help != d.help || f.d.typ != d.typ || !slices.Equal(f.d.labels, d.labels)):
		s.errs = append(s.errs, fmt.Errorf("metric %s described twice, differently", d.name))
		return
	}
	f.samples = append(f.samples, m)
}

// WriteText collects every exporter and writes their samples to w in the text format.
// An error in a sample (see Scrape.Add) does not stop the others: they are written, and
// the errors returned, joined, after them; so is an error writing to w.
func WriteText(w io.Writer, es ...Exporter) error {
	var s Scrape
	for _, e := range es {
		e.Collect(&s)
	}
	b, err := s.appendText(nil)
	_, werr := w.Write(b)
	return errors.Join(err, werr)
}

// appendText appends the scrape's families to b.
func (s *Scrape) appendText(b []byte) ([]byte, error) {
	names := make([]string, 0, len(s.fams))
	for n := range s.fams {
		names = append(names, n)
	}
	slices.Sort(names)
	errs := s.errs
	for _, n := range names {
		f := s.fams[n]
		d := f.d
		// The samples in the order of their label values (labels by name); a stable
		// sort, so that of two samples with the same labels the first added is kept.
		slices.SortStableFunc(f.samples, func(x, y sample) int {
			for _, i := range d.byName {
				if c := strings.Compare(x.labels[i], y.labels[i]); c != 0 {
					return c
				}
			}
			return 0
		})
		b = append(b, "# HELP "...)
		b = append(b, d.name...)
		b = append(b, ' ')
		b = appendEscaped(b, d.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, d.name...)
		b = append(b, ' ')
		b = append(b, d.typ.String()...)
		b = append(b, '\n')
		for i, m := range f.samples {
			if i > 0 && slices.Equal(m.labels, f.samples[i-1].labels) {
				errs = append(errs, fmt.Errorf("metric %s: the same labels %q twice", d.name, m.labels))
				continue
			}
			if m.sum == nil {
				b = appendSample(b, d, "", m.labels, "", 0, m.v)
				continue
			}
			for _, q := range m.sum.quantiles {
				b = appendSample(b, d, "", m.labels, "quantile", q[0], q[1])
			}
			b = appendSample(b, d, "_sum", m.labels, "", 0, m.sum.sum)
			b = appendSample(b, d, "_count", m.labels, "", 0, float64(m.sum.count))
		}
	}
	return b, errors.Join(errs...)
}

// appendSample appends one line: name+suffix, the labels (and an extra one, the
// summary's quantile, last), the value.
func appendSample(b []byte, d *Desc, suffix string, values []string, extra string, extraValue, v float64) []byte {
	b = append(b, d.name...)
	b = append(b, suffix...)
	if len(values) > 0 || extra != "" {
		b = append(b, '{')
		sep := false
		for _, i := range d.byName {
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, d.labels[i]...)
			b = append(b, '=', '"')
			b = appendEscaped(b, values[i], true)
			b = append(b, '"')
		}
		if extra != "" {
			if sep {
				b = append(b, ',')
			}
			b = append(b, extra...)
			b = append(b, '=', '"')
			b = appendFloat(b, extraValue)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendEscaped appends s with the format's escapes: backslash and newline, and in a
// label value (quoted) the double quote.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quoted:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat appends v as Prometheus's parser reads it and its clients write it:
// NaN, +Inf, -Inf, else Go's shortest representation that reads back exactly
// ("100", "0.25", "1.048576e+06").
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
