package plot

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"image/color"
	"math"
	"strconv"
)

// writeSVG writes the chart as an SVG document. w's first write error sticks, and the
// caller's Flush returns it.
func writeSVG(w *bufio.Writer, c Chart, n int) error {
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"28cm\" height=\"14cm\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
		width, height)
	draw(svgCanvas{w}, c, n)
	w.WriteString("</svg>\n")
	return nil
}

type svgCanvas struct{ w *bufio.Writer }

// num writes v to two decimals, which is finer than any viewer's pixel.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

func (s svgCanvas) rect(x0, y0, x1, y1 float64, c color.RGBA, opacity float64) {
	fmt.Fprintf(s.w, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"", num(x0), num(y0), num(x1-x0), num(y1-y0), hex(c))
	if opacity < 1 {
		fmt.Fprintf(s.w, " fill-opacity=\"%s\"", num(opacity))
	}
	s.w.WriteString("/>\n")
}

func (s svgCanvas) line(a, b point, c color.RGBA, w float64) {
	fmt.Fprintf(s.w, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"%s\"/>\n",
		num(a.x), num(a.y), num(b.x), num(b.y), hex(c), num(w))
}

// series is one path per series, a subpath per run, so that a reader finds each
// series in one element.
func (s svgCanvas) series(runs [][]point, c color.RGBA, w float64) {
	s.w.WriteString("<path d=\"")
	for _, run := range runs {
		for i, p := range run {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			s.w.WriteString(cmd + num(p.x) + " " + num(p.y))
		}
	}
	fmt.Fprintf(s.w, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n", hex(c), num(w))
}

func (s svgCanvas) dots(pts []point, c color.RGBA, r float64) {
	if len(pts) == 0 {
		return
	}
	fmt.Fprintf(s.w, "<g fill=\"%s\">\n", hex(c))
	for _, p := range pts {
		fmt.Fprintf(s.w, "<circle cx=\"%s\" cy=\"%s\" r=\"%s\"/>\n", num(p.x), num(p.y), num(r))
	}
	s.w.WriteString("</g>\n")
}

func (s svgCanvas) text(x, y float64, str string, align, style int, c color.RGBA) {
	if str == "" {
		return
	}
	if style == styleVertical {
		// Centred on (x, y): the baseline 4 units off the centre line before the turn.
		fmt.Fprintf(s.w, "<text x=\"%s\" y=\"%s\" transform=\"rotate(-90 %s %s)\"", num(x), num(y+4), num(x), num(y))
	} else {
		fmt.Fprintf(s.w, "<text x=\"%s\" y=\"%s\"", num(x), num(y))
	}
	switch align {
	case alignCenter:
		s.w.WriteString(" text-anchor=\"middle\"")
	case alignRight:
		s.w.WriteString(" text-anchor=\"end\"")
	}
	if style == styleTitle {
		s.w.WriteString(" font-size=\"15\" font-weight=\"bold\"")
	}
	if c != black {
		fmt.Fprintf(s.w, " fill=\"%s\"", hex(c))
	}
	s.w.WriteString(">")
	// Names come from the data (addresses, user labels): escaped, and any byte that
	// XML cannot hold (invalid UTF-8, control characters) becomes U+FFFD.
	xml.EscapeText(s.w, []byte(str))
	s.w.WriteString("</text>\n")
}
