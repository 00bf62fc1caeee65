package top

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"panoptes/record"
)

// Frame is a snapshot laid out as text lines: the same for the terminal and for batch
// output, so the batch golden files check what the screen shows.
type Frame struct {
	Header  []string // title; counts; time span and filter
	Message string   // the newest warning or the input error, if any
	Labels  string   // the column header line
	SortCol [2]int   // rune range of the sort column in Labels (the screen highlights it)
	Rows    []string
}

// baseMetrics are the columns every table shows after the key columns; the sort
// metric is added when it is not one of them.
var baseMetrics = []Metric{Pkts, Bytes, Load}

// metricLabels are the column labels, as ra prints these fields.
var metricLabels = [numMetrics]string{"TotBytes", "TotPkts", "Load", "Rate", "SrcBytes", "DstBytes", "SrcPkts", "DstPkts", "Trans"}

// minAddrWidth is how far an address column may shrink to fit the screen.
const minAddrWidth = 11

// Frame lays the snapshot out for a screen width columns wide (0: no limit). human
// abbreviates numbers (12.3K) for the screen; batch output prints them exactly.
func (s *Snapshot) Frame(width int, human bool, paused bool) Frame {
	var fr Frame
	mode := "totals"
	if s.Window > 0 {
		mode = "window " + s.Window.String()
	}
	state := "reading"
	switch {
	case paused:
		state = "PAUSED"
	case s.Err != nil:
		state = "input error"
	case s.Done:
		state = "end of input"
	}
	fr.Header = append(fr.Header, spread(fmt.Sprintf("panoptes top  %s  %s by %s  %s", s.Source, s.View, s.Sort, mode),
		state+"  "+s.Now.Format("15:04:05"), width))

	rate := "-"
	if s.Elapsed > 0 {
		rate = humanFloat(float64(s.Read)/s.Elapsed.Seconds()) + "/s"
	}
	counts := fmt.Sprintf("read %s (%s)  matched %s  keys %s/%s, %s evicted",
		group(s.Read), rate, group(s.Matched), group(uint64(s.Keys)), group(uint64(s.MaxKeys)), group(s.Evicted))
	if s.Late > 0 {
		counts += fmt.Sprintf(", %s too old for the window", group(s.Late))
	}
	fr.Header = append(fr.Header, counts)

	span := "span -"
	if s.Matched > 0 {
		span = "span " + spanText(s.First, s.Last)
	}
	flt := s.Filter
	if strings.TrimSpace(flt) == "" {
		flt = "none"
	}
	fr.Header = append(fr.Header, span+"  filter: "+flt)

	switch {
	case s.Err != nil:
		fr.Message = "error: " + s.Err.Error()
	case s.Message != "":
		fr.Message = s.Message
	}

	// Columns: the key fields, then the metrics.
	metrics := append([]Metric(nil), baseMetrics...)
	sortIdx := -1
	for i, m := range metrics {
		if m == s.Sort {
			sortIdx = i
		}
	}
	if sortIdx < 0 {
		metrics = append(metrics, s.Sort)
		sortIdx = len(metrics) - 1
	}
	nk := len(s.Columns)
	ncol := nk + len(metrics)
	labels := make([]string, ncol)
	left := make([]bool, ncol)
	for i, f := range s.Columns {
		// Key columns read best left-aligned, as a list of names; counts align right.
		labels[i], left[i] = f.Label, f.Kind != record.KindNumber || f.Name == "proto"
	}
	for i, m := range metrics {
		labels[nk+i] = metricLabels[m]
	}
	cells := make([][]string, len(s.Rows))
	for r := range s.Rows {
		row := &s.Rows[r]
		c := make([]string, ncol)
		copy(c, row.Cells)
		for i, m := range metrics {
			c[nk+i] = metricText(m, row, human)
		}
		cells[r] = c
	}
	widths := make([]int, ncol)
	for i := range labels {
		widths[i] = utf8.RuneCountInString(labels[i])
		for _, c := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c[i]))
		}
	}
	if width > 0 {
		shrink(widths, s.Columns, width)
	}
	fr.Labels, fr.SortCol = layout(labels, widths, left, nk+sortIdx)
	for _, c := range cells {
		line, _ := layout(c, widths, left, -1)
		fr.Rows = append(fr.Rows, line)
	}
	return fr
}

// Lines returns the frame as plain text lines, as batch mode prints it.
func (fr *Frame) Lines() []string {
	lines := append([]string(nil), fr.Header...)
	if fr.Message != "" {
		lines = append(lines, fr.Message)
	}
	return append(append(lines, fr.Labels), fr.Rows...)
}

// shrink narrows the address columns, widest first, until the row fits width.
func shrink(widths []int, cols []*record.Field, width int) {
	total := len(widths) - 1
	for _, w := range widths {
		total += w
	}
	for total > width {
		best := -1
		for i, f := range cols {
			if f.Kind == record.KindAddr && widths[i] > minAddrWidth && (best < 0 || widths[i] > widths[best]) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		widths[best]--
		total--
	}
}

// layout joins cells padded to their column widths with one space between them,
// and returns the rune range of column mark.
func layout(cells []string, widths []int, left []bool, mark int) (string, [2]int) {
	var b strings.Builder
	var span [2]int
	pos := 0
	for i, c := range cells {
		if i > 0 {
			b.WriteByte(' ')
			pos++
		}
		c = fit(c, widths[i])
		pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
		if i == mark {
			span = [2]int{pos, pos + widths[i]}
		}
		if left[i] {
			b.WriteString(c + pad)
		} else {
			b.WriteString(pad + c)
		}
		pos += widths[i]
	}
	return strings.TrimRight(b.String(), " "), span
}

// fit cuts s to w runes, keeping both ends of it (an address's network and host
// parts) around an ellipsis.
func fit(s string, w int) string {
	n := utf8.RuneCountInString(s)
	if n <= w {
		return s
	}
	r := []rune(s)
	if w < 3 {
		return string(r[:w])
	}
	head := (w - 1) / 2
	tail := w - 1 - head
	return string(r[:head]) + "…" + string(r[n-tail:])
}

// spread puts right at the right edge of a line width wide, after left.
func spread(left, right string, width int) string {
	gap := 2
	if width > 0 {
		gap = max(width-utf8.RuneCountInString(left)-utf8.RuneCountInString(right), 2)
	}
	return left + strings.Repeat(" ", gap) + right
}

func metricText(m Metric, r *Row, human bool) string {
	v := r.Value(m)
	switch m {
	case Rate, Load:
		if human {
			return humanFloat(v)
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	if human {
		return humanFloat(v)
	}
	return strconv.FormatUint(uint64(v), 10)
}

// humanFloat prints v in at most 6 characters: exact below 100000 (one decimal for a
// fraction below 100), otherwise with a K, M, G, T or P suffix.
func humanFloat(v float64) string {
	if v < 100_000 {
		if v != float64(int64(v)) && v < 100 {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	for _, u := range []string{"K", "M", "G", "T", "P"} {
		v /= 1000
		if v < 1000 || u == "P" {
			if v < 100 {
				return strconv.FormatFloat(v, 'f', 1, 64) + u
			}
			return strconv.FormatFloat(v, 'f', 0, 64) + u
		}
	}
	return ""
}

// group prints n with thousands separators.
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// spanText prints a record time span: both ends with the date, and its length.
func spanText(first, last int64) string {
	a, b := time.Unix(0, first).In(time.Local), time.Unix(0, last).In(time.Local)
	end := b.Format("15:04:05")
	if a.Format("2006/01/02") != b.Format("2006/01/02") {
		end = b.Format("2006/01/02 15:04:05")
	}
	return fmt.Sprintf("%s - %s (%s)", a.Format("2006/01/02 15:04:05"), end, spanLength(b.Sub(a)))
}

// spanLength prints a duration to the millisecond, counting days beyond two of them.
func spanLength(d time.Duration) string {
	const day = 24 * time.Hour
	if d < 2*day {
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%dd%s", d/day, (d % day).Round(time.Second))
}
