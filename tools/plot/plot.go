// Package plot draws time series charts (bins --plot) as PNG or SVG files: one line
// per series over evenly spaced time bins, a time axis, a value axis with SI suffixes,
// grid lines and a legend.
//
// It draws them itself (a small anti-aliased rasteriser, image/png, hand-written SVG
// and x/image's built-in 7x13 bitmap font) rather than with a plotting library: every
// panoptes command links this package, and gonum/plot's initialisers parsed its
// embedded TrueType fonts and LaTeX symbol tables at every start, even of commands
// that never plot. Nothing here does work at init.
package plot

import (
	"bufio"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"panoptes/internal/outfile"
)

// Line is one series: a value per bin.
type Line struct {
	Name   string
	Values []float64
}

// Chart is what Series draws.
type Chart struct {
	Title  string
	YLabel string
	Start  time.Time     // start of the first bin
	Step   time.Duration // bin width
	Lines  []Line        // all of the same length
}

// The image is 28 x 14 cm: 1000 x 500 px in a PNG, and the same 1000 x 500 user units
// in an SVG (whose width and height say the centimetres).
const (
	width, height = 1000, 500

	// Text is laid out by the 7x13 bitmap font's cell; an SVG viewer's sans-serif at
	// 12 px is no wider, so boxes sized this way hold its text too.
	charW, lineH = 7, 13

	lineWidth  = 2   // 1.5 pt at this scale; 2 px also gives every line some pixels of its exact colour
	dotRadius  = 2.5 // bin markers, drawn when a series has few enough points to show them
	maxDots    = 60
	tickLen    = 5
	legendRow  = 15
	legendName = 48 // runes of a series name shown in the legend; longer names are cut
)

// palette is gonum/plot's plotutil.SoftColors, the colours the charts had before.
var palette = [...]color.RGBA{
	{241, 90, 96, 255},
	{122, 195, 106, 255},
	{90, 155, 212, 255},
	{250, 167, 91, 255},
	{158, 103, 171, 255},
	{206, 112, 88, 255},
	{215, 127, 180, 255},
}

var (
	otherColor = color.RGBA{140, 140, 140, 255}
	black      = color.RGBA{0, 0, 0, 255}
	white      = color.RGBA{255, 255, 255, 255}
	gridColor  = color.RGBA{220, 220, 220, 255}
	frameColor = color.RGBA{160, 160, 160, 255}
)

// Series draws c into path; the format follows the extension (.png or .svg). The file
// is written under a temporary name and renamed into place, so a failed run leaves no
// partial image.
func Series(path string, c Chart) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if ext != "png" && ext != "svg" {
		return fmt.Errorf("unsupported image format %q (have: png, svg)", ext)
	}
	n := 0
	for _, l := range c.Lines {
		n = max(n, len(l.Values))
	}
	if n == 0 {
		return errors.New("nothing to draw")
	}
	if c.Step <= 0 {
		return fmt.Errorf("bin width %v: want more than 0", c.Step)
	}
	tmp, final, err := outfile.CreateTemp(path)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	w := bufio.NewWriterSize(tmp, 64<<10)
	if ext == "svg" {
		err = writeSVG(w, c, n)
	} else {
		err = writePNG(w, c, n)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return outfile.Replace(tmp.Name(), final)
}

// lineColor gives "other" grey and the keys distinct colours.
func lineColor(i int, name string) color.RGBA {
	if name == "other" {
		return otherColor
	}
	return palette[i%len(palette)]
}

// point is a position in image coordinates: x to the right, y down.
type point struct{ x, y float64 }

// Horizontal alignment of text about its x.
const (
	alignLeft = iota
	alignCenter
	alignRight
)

// Text styles.
const (
	styleNormal   = iota
	styleTitle    // bold
	styleVertical // rotated a quarter turn anticlockwise, centred on (x, y)
)

// canvas is what a chart is drawn on: a raster image or an SVG document.
type canvas interface {
	// rect fills [x0,x1) x [y0,y1) with c at the given opacity.
	rect(x0, y0, x1, y1 float64, c color.RGBA, opacity float64)
	// line strokes one straight segment.
	line(a, b point, c color.RGBA, w float64)
	// series strokes one series: runs of joined points (a run breaks where a value is
	// not a finite number).
	series(runs [][]point, c color.RGBA, w float64)
	// dots fills a disc of radius r at each point.
	dots(pts []point, c color.RGBA, r float64)
	// text writes s with its baseline at y (for styleVertical, centred on (x, y)).
	text(x, y float64, s string, align, style int, c color.RGBA)
}

func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s) * charW) }

// draw lays the chart out and draws it on cv.
func draw(cv canvas, c Chart, n int) {
	// The value axis: from 0 (or the least value, if negative) to the largest, at nice
	// round ticks. Values that are not finite numbers are left out (a gap in the line).
	lo, hi := 0.0, 0.0
	for _, l := range c.Lines {
		for _, v := range l.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	yticks := niceTicks(lo, hi)
	ymin, ymax := yticks[0], yticks[len(yticks)-1]
	ylabels := make([]string, len(yticks))
	ylabelW := 0.0
	for i, v := range yticks {
		ylabels[i] = valueLabel(v, yticks[1]-yticks[0])
		ylabelW = max(ylabelW, textWidth(ylabels[i]))
	}

	format := timeFormat(c.Step, n)
	formatLines := strings.Count(format, "\n") + 1

	// The plot area, inside: the title above; the time tick labels and the axis label
	// below; the rotated value label and the value tick labels to the left.
	x0 := math.Floor(8+lineH+8+ylabelW+4+tickLen) + 0.5
	x1 := float64(width-20) + 0.5
	y0 := 34.5
	y1 := float64(height-8-lineH-6-formatLines*lineH-3-tickLen) + 0.5

	cv.rect(0, 0, width, height, white, 1)

	// Value ticks and their grid lines.
	// Halves, so that a range from -MaxFloat64 to MaxFloat64 does not overflow.
	ypos := func(v float64) float64 { return y1 - (v/2-ymin/2)/(ymax/2-ymin/2)*(y1-y0) }
	for i, v := range yticks {
		y := math.Floor(ypos(v)) + 0.5
		if i > 0 {
			cv.line(point{x0, y}, point{x1, y}, gridColor, 1)
		}
		cv.line(point{x0 - tickLen, y}, point{x0, y}, black, 1)
		cv.text(x0-tickLen-4, y+4, ylabels[i], alignRight, styleNormal, black)
	}

	// Time ticks: the bins span [Start, Start+n*Step], each point at its bin's middle.
	span := c.Step * time.Duration(n)
	xpos := func(d time.Duration) float64 { return x0 + float64(d)/float64(span)*(x1-x0) }
	lw := 0.0
	for _, l := range strings.Split(format, "\n") {
		lw = max(lw, textWidth(l))
	}
	for _, t := range timeTicks(c.Start, span, format, int((x1-x0)/(lw+30))) {
		x := math.Floor(xpos(t.Sub(c.Start))) + 0.5
		cv.line(point{x, y0}, point{x, y1}, gridColor, 1)
		cv.line(point{x, y1}, point{x, y1 + tickLen}, black, 1)
		if x-lw/2 < 2 || x+lw/2 > width-2 {
			continue // the label would be cut by the image's edge
		}
		for j, l := range strings.Split(t.Format(format), "\n") {
			cv.text(x, y1+tickLen+3+float64(j*lineH)+11, l, alignCenter, styleNormal, black)
		}
	}

	// The axes.
	cv.line(point{x0, y0}, point{x0, y1}, black, 1)
	cv.line(point{x0, y1}, point{x1, y1}, black, 1)

	// The series, in order, so that the first (the largest) is drawn under the others.
	for i, l := range c.Lines {
		col := lineColor(i, l.Name)
		var runs [][]point
		var run, all []point
		for j, v := range l.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				if len(run) > 0 {
					runs = append(runs, run)
				}
				run = nil
				continue
			}
			p := point{xpos(time.Duration(j)*c.Step + c.Step/2), ypos(v)}
			run = append(run, p)
			all = append(all, p)
		}
		if len(run) > 0 {
			runs = append(runs, run)
		}
		cv.series(runs, col, lineWidth)
		if len(l.Values) <= maxDots {
			cv.dots(all, col, dotRadius)
		}
	}

	legend(cv, c, x1, y0, y1)

	cv.text(width/2, 22, c.Title, alignCenter, styleTitle, black)
	cv.text(8+lineH/2, (y0+y1)/2, c.YLabel, alignCenter, styleVertical, black)
	cv.text((x0+x1)/2, height-8-2, "time ("+c.Start.Format("2006-01-02 MST")+")", alignCenter, styleNormal, black)
}

// legend draws a box at the top right of the plot area naming each series beside a
// sample of its line. Series that do not fit in the plot's height are counted in a
// last row.
func legend(cv canvas, c Chart, right, top, bottom float64) {
	rows := len(c.Lines)
	fit := max(1, int((bottom-top-16)/legendRow))
	more := 0
	if rows > fit {
		rows = fit - 1
		more = len(c.Lines) - rows
	}
	names := make([]string, 0, rows+1)
	nameW := 0.0
	for _, l := range c.Lines[:rows] {
		name := l.Name
		if utf8.RuneCountInString(name) > legendName {
			name = string([]rune(name)[:legendName-3]) + "..."
		}
		names = append(names, name)
		nameW = max(nameW, textWidth(name))
	}
	if more > 0 {
		names = append(names, fmt.Sprintf("and %d more", more))
		nameW = max(nameW, textWidth(names[len(names)-1]))
	}
	const pad, sample = 6, 24
	bx1 := math.Floor(right-6) + 0.5
	bx0 := math.Floor(bx1-pad-sample-pad-nameW-pad) + 0.5
	by0 := math.Floor(top+6) + 0.5
	by1 := by0 + float64(len(names)*legendRow) + 2*pad - 2
	cv.rect(bx0, by0, bx1, by1, white, 0.85)
	for _, seg := range [][2]point{{{bx0, by0}, {bx1, by0}}, {{bx1, by0}, {bx1, by1}}, {{bx1, by1}, {bx0, by1}}, {{bx0, by1}, {bx0, by0}}} {
		cv.line(seg[0], seg[1], frameColor, 1)
	}
	for i, name := range names {
		y := by0 + pad + float64(i*legendRow)
		if i < rows {
			col := lineColor(i, c.Lines[i].Name)
			mid := math.Floor(y+legendRow/2-1) + 0.5
			cv.line(point{bx0 + pad, mid}, point{bx0 + pad + sample, mid}, col, lineWidth)
			if len(c.Lines[i].Values) <= maxDots {
				cv.dots([]point{{bx0 + pad + sample/2, mid}}, col, dotRadius)
			}
		}
		cv.text(bx0+pad+sample+pad, y+11, name, alignLeft, styleNormal, black)
	}
}

// niceTicks returns the value axis's ticks: evenly spaced by 1, 2 or 5 x 10^k, from a
// multiple of the step at or below lo to one at or above hi, the step chosen to make
// the number of intervals nearest five (the larger step on a tie). lo <= 0 <= hi. An
// empty range (all values 0), or one too narrow to divide (denormal numbers), becomes
// lo to lo+1.
func niceTicks(lo, hi float64) []float64 {
	if hi/2-lo/2 < 1e-300 {
		hi = lo + 1
	}
	raw := hi/5 - lo/5 // not (hi-lo)/5, which overflows at float64's limits
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	var step, first, last float64
	best := math.Inf(1)
	for _, f := range []float64{10, 5, 2, 1} {
		s := f * mag
		a, b := math.Floor(lo/s), math.Ceil(hi/s)
		if d := math.Abs(b - a - 5); d < best {
			step, first, last, best = s, a, b, d
		}
	}
	if math.IsInf(best, 1) || math.IsInf(first*step, 0) || math.IsInf(last*step, 0) {
		return []float64{lo, hi} // at float64's limits (or below its normal numbers): just the ends
	}
	ticks := make([]float64, 0, int(last-first)+1)
	for k := first; k <= last; k++ {
		ticks = append(ticks, k*step)
	}
	return ticks
}

// valueLabel is si(v), except where si's form is unreadable: for steps finer than its
// two decimals, enough significant digits to tell the ticks apart; beyond 1000T (no
// byte count, but the values are the user's), an exponent rather than 300 digits.
func valueLabel(v, step float64) string {
	if (step < 0.01 && v != 0 && math.Abs(v) < 1000) || math.Abs(v) >= 1e16 {
		return fmt.Sprintf("%.3g", v)
	}
	return si(v)
}

// timeSteps are the round intervals time ticks are placed at, below a day; from a day
// up, ticks are whole days apart.
var timeSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
}

var daySteps = []int{1, 2, 7, 14, 28, 56, 91, 182, 364}

// timeTicks returns the times in [start, start+span] at the smallest round interval
// that is no finer than format shows (a second, a minute or a day) and puts about
// maxTicks ticks or fewer on the axis. Intervals below a day count from the local
// midnight of start's day, so that ticks fall on round clock times in any zone; whole
// days are stepped by the calendar from the first midnight in the span, so that they
// stay at midnight across DST changes.
func timeTicks(start time.Time, span time.Duration, format string, maxTicks int) []time.Time {
	maxTicks = max(maxTicks, 2)
	finest := 24 * time.Hour
	switch {
	case strings.Contains(format, "05"):
		finest = time.Second
	case strings.Contains(format, "04"):
		finest = time.Minute
	}
	end := start.Add(span)
	y, m, d := start.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, start.Location())
	var ticks []time.Time
	for _, step := range timeSteps {
		if step < finest || span/step > time.Duration(maxTicks) {
			continue
		}
		k := (start.Sub(midnight) + step - 1) / step // the first multiple at or after start
		for t := midnight.Add(k * step); !t.After(end); t = t.Add(step) {
			ticks = append(ticks, t)
		}
		return ticks
	}
	days := 0
	spanDays := int(span / (24 * time.Hour))
	for _, d := range daySteps {
		if spanDays/d < maxTicks {
			days = d
			break
		}
	}
	if days == 0 { // years: a round number of 364-day steps
		days = 364 * int(math.Ceil(float64(spanDays)/364/float64(maxTicks-1)))
	}
	if midnight.Before(start) { // days count from the first midnight in the span
		midnight = midnight.AddDate(0, 0, 1)
	}
	for k := 0; ; k++ {
		t := midnight.AddDate(0, 0, k*days)
		if t.After(end) {
			return ticks
		}
		ticks = append(ticks, t)
	}
}

// timeFormat picks tick labels that show what changes across the chart's span.
func timeFormat(step time.Duration, n int) string {
	span := step * time.Duration(n)
	switch {
	case step >= 24*time.Hour:
		return "2006-01-02"
	case span > 24*time.Hour:
		return "01-02\n15:04"
	case step < time.Minute && span < 10*time.Minute:
		return "15:04:05"
	}
	return "15:04"
}

// si labels the y axis with k, M, G suffixes so that byte counts stay short.
func si(v float64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.div || v <= -u.div {
			return trim(fmt.Sprintf("%.2f", v/u.div)) + u.suffix
		}
	}
	return trim(fmt.Sprintf("%.2f", v))
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
