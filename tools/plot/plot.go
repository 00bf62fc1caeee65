// Package plot draws time series charts (bins --plot) as PNG or SVG files with
// gonum.org/v1/plot: one line per series over evenly spaced time bins, a time axis,
// and a legend outside the data.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"time"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

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

// Series draws c into path; the format follows the extension (.png or .svg). The file
// is written under a temporary name and renamed into place, so a failed run leaves no
// partial image.
func Series(path string, c Chart) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if ext != "png" && ext != "svg" {
		return fmt.Errorf("unsupported image format %q (have: png, svg)", ext)
	}
	if len(c.Lines) == 0 {
		return errors.New("nothing to draw")
	}
	p := gplot.New()
	p.Title.Text = c.Title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Y.Label.Text = c.YLabel
	p.X.Label.Text = "time (" + c.Start.Format("2006-01-02 MST") + ")"
	p.X.Tick.Marker = gplot.TimeTicks{Format: timeFormat(c.Step, len(c.Lines[0].Values)), Time: func(t float64) time.Time {
		return time.Unix(0, int64(t*1e9)).In(c.Start.Location())
	}}
	p.Y.Tick.Marker = siTicks{}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	for i, l := range c.Lines {
		xy := make(plotter.XYs, len(l.Values))
		for j, v := range l.Values {
			// A point at the middle of its bin.
			t := c.Start.Add(time.Duration(j)*c.Step + c.Step/2)
			xy[j] = plotter.XY{X: float64(t.UnixNano()) / 1e9, Y: v}
		}
		line, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		line.Color = lineColor(i, l.Name)
		line.Width = vg.Points(1.5)
		p.Add(line)
		if len(xy) <= 60 {
			pts, err := plotter.NewScatter(xy)
			if err != nil {
				return err
			}
			pts.GlyphStyle.Color = line.Color
			pts.GlyphStyle.Radius = vg.Points(2)
			pts.GlyphStyle.Shape = draw.CircleGlyph{}
			p.Add(pts)
		}
		p.Legend.Add(l.Name, line)
	}
	p.Legend.XOffs = 0
	tmp, final, err := outfile.CreateTemp(path)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	w, err := p.WriterTo(28*vg.Centimeter, 14*vg.Centimeter, ext)
	if err == nil {
		_, err = w.WriteTo(tmp)
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
func lineColor(i int, name string) color.Color {
	if name == "other" {
		return color.Gray{Y: 140}
	}
	return plotutil.Color(i)
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

// siTicks labels the y axis with k, M, G suffixes so that byte counts stay short.
type siTicks struct{}

func (siTicks) Ticks(min, max float64) []gplot.Tick {
	ticks := gplot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = si(ticks[i].Value)
		}
	}
	return ticks
}

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
