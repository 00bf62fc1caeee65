package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var start = time.Date(2026, 12, 5, 9, 3, 10, 0, time.UTC)

// chart has len(names) series of n bins each, series i around the level i+1 (so that
// their lines do not cross).
func chart(n int, names ...string) Chart {
	c := Chart{Title: "bytes per 10s", YLabel: "bytes", Start: start, Step: 10 * time.Second}
	for i, name := range names {
		v := make([]float64, n)
		for j := range v {
			v[j] = 1e6 * (float64(i+1) + 0.3*math.Sin(float64(j)/5))
		}
		c.Lines = append(c.Lines, Line{Name: name, Values: v})
	}
	return c
}

// svgDoc is what a test reads back from an SVG file.
type svgDoc struct {
	raw     string
	width   string // the root's width and height attributes
	height  string
	paths   []svgPath
	texts   []string
	circles int
}

type svgPath struct {
	stroke string
	points int // M and L commands
	moves  int // M commands: subpaths
	coords []float64
}

func readSVG(t *testing.T, path string) svgDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := svgDoc{raw: string(b)}
	d := xml.NewDecoder(bytes.NewReader(b))
	var inText bool
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s does not parse as XML: %v", path, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range tok.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch tok.Name.Local {
			case "svg":
				doc.width, doc.height = attr["width"], attr["height"]
			case "path":
				p := svgPath{stroke: attr["stroke"]}
				for _, f := range strings.FieldsFunc(attr["d"], func(r rune) bool { return r == 'M' || r == 'L' || r == ' ' }) {
					var v float64
					if _, err := fmt.Sscan(f, &v); err != nil {
						t.Fatalf("path coordinate %q: %v", f, err)
					}
					p.coords = append(p.coords, v)
				}
				p.moves = strings.Count(attr["d"], "M")
				p.points = p.moves + strings.Count(attr["d"], "L")
				doc.paths = append(doc.paths, p)
			case "circle":
				doc.circles++
			case "text":
				inText = true
				text.Reset()
			}
		case xml.CharData:
			if inText {
				text.Write(tok)
			}
		case xml.EndElement:
			if tok.Name.Local == "text" {
				doc.texts = append(doc.texts, text.String())
				inText = false
			}
		}
	}
	return doc
}

func (d svgDoc) hasText(s string) bool {
	for _, t := range d.texts {
		if t == s {
			return true
		}
	}
	return false
}

func TestSVG(t *testing.T) {
	names := []string{"10.0.0.1 tcp", `a<b & "c" > d`, "bad\x01\xff name", "other"}
	for _, n := range []int{40, 61} {
		path := filepath.Join(t.TempDir(), "x.svg")
		if err := Series(path, chart(n, names...)); err != nil {
			t.Fatal(err)
		}
		doc := readSVG(t, path)
		if doc.width != "28cm" || doc.height != "14cm" {
			t.Errorf("size %s x %s, want 28cm x 14cm", doc.width, doc.height)
		}
		if len(doc.paths) != len(names) {
			t.Fatalf("%d paths, want one per series (%d)", len(doc.paths), len(names))
		}
		for i, p := range doc.paths {
			if p.points != n || p.moves != 1 {
				t.Errorf("series %d: %d points in %d runs, want %d in 1", i, p.points, p.moves, n)
			}
			for k := 0; k+1 < len(p.coords); k += 2 {
				if x, y := p.coords[k], p.coords[k+1]; x < 0 || x > width || y < 0 || y > height {
					t.Fatalf("series %d: point (%v, %v) outside the image", i, x, y)
				}
			}
		}
		if doc.paths[0].stroke != "#f15a60" || doc.paths[1].stroke != "#7ac36a" || doc.paths[3].stroke != "#8c8c8c" {
			t.Errorf("strokes %s %s %s: want the palette's first two and grey for other",
				doc.paths[0].stroke, doc.paths[1].stroke, doc.paths[3].stroke)
		}
		// A marker per point and one per legend entry, up to 60 points; none above.
		if want := map[bool]int{true: len(names) * (n + 1), false: 0}[n <= maxDots]; doc.circles != want {
			t.Errorf("%d points: %d circles, want %d", n, doc.circles, want)
		}
		for _, name := range names[:2] {
			if !doc.hasText(name) {
				t.Errorf("no legend text %q in %q", name, doc.texts)
			}
		}
		if !doc.hasText("bad\uFFFD\uFFFD name") {
			t.Errorf("the name with a control character and invalid UTF-8 is not in the legend as U+FFFD: %q", doc.texts)
		}
		if !strings.Contains(doc.raw, "a&lt;b &amp; &#34;c&#34; &gt; d") {
			t.Errorf("the name with < & \" is not escaped")
		}
		tick := map[bool]string{true: "09:05:00", false: "09:05"}[n < 60] // seconds while the span is under 10 minutes
		for _, s := range []string{"bytes per 10s", "bytes", "time (2026-12-05 UTC)", tick, "0", "1M", "4M"} {
			if !doc.hasText(s) {
				t.Errorf("no text %q in %q", s, doc.texts)
			}
		}
	}
}

// count returns how many pixels of img have exactly colour c.
func count(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

func TestPNG(t *testing.T) {
	names := []string{"10.0.0.1 tcp", "10.0.0.2 udp", "10.0.0.3 icmp", "other"}
	for _, n := range []int{40, 500} {
		path := filepath.Join(t.TempDir(), "x.PNG")
		if err := Series(path, chart(n, names...)); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
			t.Fatalf("%v, want %dx%d", b, width, height)
		}
		// Each line crosses the plot's 900-odd pixels of width: far more pixels of its
		// colour than its legend sample has.
		for i, name := range names {
			c := lineColor(i, name)
			if got := count(img, c); got < 800 {
				t.Errorf("%d points: %d pixels of series %d's colour %v, want its line", n, got, i, c)
			}
		}
		if got := count(img, black); got < 1000 {
			t.Errorf("%d black pixels: want the axes and text", got)
		}
	}
}

// TestDegenerate: an all-zero chart, a single bin, huge values, a gap (NaN) and
// infinities all draw, with no NaN or Inf in the output and every point inside.
func TestDegenerate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []float64
		points int    // drawn
		label  string // a y tick label expected
	}{
		{"zero", make([]float64, 10), 10, "1"},
		{"single", []float64{42}, 1, "40"},
		{"huge", []float64{1e15, 3e14, 0}, 3, "1000T"},
		{"max", []float64{math.MaxFloat64, 0}, 2, "1.8e+308"},
		{"extremes", []float64{math.MaxFloat64, -math.MaxFloat64}, 2, "-1.8e+308"},
		{"tiny", []float64{5e-324, 0}, 2, "1"},
		{"negative", []float64{-3, 7}, 2, "-4"},
		{"gap", []float64{1, 2, math.NaN(), 4, math.Inf(1), math.Inf(-1), 7}, 4, "8"},
	} {
		c := Chart{Title: tc.name, YLabel: "v", Start: start, Step: time.Hour, Lines: []Line{{Name: "all", Values: tc.values}}}
		dir := t.TempDir()
		if err := Series(filepath.Join(dir, "x.svg"), c); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		doc := readSVG(t, filepath.Join(dir, "x.svg"))
		if strings.Contains(doc.raw, "NaN") || strings.Contains(doc.raw, "Inf") {
			t.Errorf("%s: NaN or Inf in the SVG", tc.name)
		}
		if len(doc.paths) != 1 || doc.paths[0].points != tc.points {
			t.Errorf("%s: %+v, want one path of %d points", tc.name, doc.paths, tc.points)
			continue
		}
		for k := 0; k+1 < len(doc.paths[0].coords); k += 2 {
			if x, y := doc.paths[0].coords[k], doc.paths[0].coords[k+1]; x < 0 || x > width || y < 0 || y > height {
				t.Errorf("%s: point (%v, %v) outside the image", tc.name, x, y)
			}
		}
		if !doc.hasText(tc.label) {
			t.Errorf("%s: no y tick label %q in %q", tc.name, tc.label, doc.texts)
		}
		if err := Series(filepath.Join(dir, "x.png"), c); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		f, err := os.Open(filepath.Join(dir, "x.png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := count(img, palette[0]); got < 10 {
			t.Errorf("%s: %d pixels of the series' colour", tc.name, got)
		}
	}
	// The gap splits the line into runs.
	c := Chart{Start: start, Step: time.Hour, Lines: []Line{{Name: "a", Values: []float64{1, 2, math.NaN(), 4, 5}}}}
	path := filepath.Join(t.TempDir(), "x.svg")
	if err := Series(path, c); err != nil {
		t.Fatal(err)
	}
	if p := readSVG(t, path).paths[0]; p.moves != 2 || p.points != 4 {
		t.Errorf("a NaN in the middle: %d runs of %d points, want 2 of 4", p.moves, p.points)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 30e6, "[0 5e+06 1e+07 1.5e+07 2e+07 2.5e+07 3e+07]"},
		{0, 42, "[0 10 20 30 40 50]"},
		{0, 0, "[0 0.2 0.4 0.6000000000000001 0.8 1]"},
		{0, 1e15, "[0 2e+14 4e+14 6e+14 8e+14 1e+15]"},
		{-3, 7, "[-4 -2 0 2 4 6 8]"},
		{0, 0.003, "[0 0.0005 0.001 0.0015 0.002 0.0025 0.003]"},
	} {
		if got := fmt.Sprint(niceTicks(tc.lo, tc.hi)); got != tc.want {
			t.Errorf("niceTicks(%v, %v) = %s, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
	for _, hi := range []float64{math.MaxFloat64, 1e308, 1e-300, 5e-324} {
		ticks := niceTicks(0, hi)
		for _, v := range ticks {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("niceTicks(0, %v) = %v", hi, ticks)
			}
		}
		if len(ticks) < 2 || ticks[0] > 0 || ticks[len(ticks)-1] < hi {
			t.Errorf("niceTicks(0, %v) = %v: does not cover the range", hi, ticks)
		}
	}
	// Ticks finer than si's two decimals keep enough digits to differ.
	if a, b := valueLabel(0.0005, 0.0005), valueLabel(0.001, 0.0005); a == b || a != "0.0005" {
		t.Errorf("labels %q and %q for 0.0005 and 0.001", a, b)
	}
}

func TestTimeTicks(t *testing.T) {
	format := func(ts []time.Time, f string) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.Format(f))
		}
		return strings.Join(s, " ")
	}
	ist := time.FixedZone("IST", 5*3600+1800)
	for _, tc := range []struct {
		start    time.Time
		span     time.Duration
		format   string
		maxTicks int
		want     string
	}{
		// Whole minutes for a 400 s span; whole seconds never at a minute format.
		{start, 400 * time.Second, "15:04:05", 10, "09:04:00 09:05:00 09:06:00 09:07:00 09:08:00 09:09:00"},
		{start, 200 * time.Second, "15:04", 10, "09:04 09:05 09:06"},
		// Round hours of the chart's own zone, even one half an hour off UTC.
		{start.In(ist), 10 * time.Hour, "15:04", 6, "16:00 18:00 20:00 22:00 00:00"},
		// Whole days at midnight.
		{start, 30 * 24 * time.Hour, "2006-01-02", 6, "2026-12-06 2026-12-13 2026-12-20 2026-12-27 2027-01-03"},
	} {
		if got := format(timeTicks(tc.start, tc.span, tc.format, tc.maxTicks), "2006-01-02 15:04:05"); got != format(parse(t, tc.start.Location(), tc.want), "2006-01-02 15:04:05") {
			t.Errorf("timeTicks(%v, %v, %q) = %s, want %s", tc.start, tc.span, tc.format, got, tc.want)
		}
	}
	// Years of daily bins: no more ticks than asked for, all inside the span.
	span := 20 * 365 * 24 * time.Hour
	ticks := timeTicks(start, span, "2006-01-02", 10)
	if len(ticks) < 2 || len(ticks) > 10 {
		t.Errorf("%d ticks over 20 years, want 2 to 10", len(ticks))
	}
	for _, tk := range ticks {
		if tk.Before(start) || tk.After(start.Add(span)) || tk.Hour() != 0 {
			t.Errorf("tick %v: outside the span or not at midnight", tk)
		}
	}
}

// parse reads the expected ticks, written in the test's short form, as times near the
// test's start: a clock time is on start's day in loc, or the next day if earlier.
func parse(t *testing.T, loc *time.Location, s string) []time.Time {
	t.Helper()
	var out []time.Time
	prev := start.In(loc)
	y, m, d := prev.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, loc)
	for _, f := range strings.Fields(s) {
		var v time.Time
		var err error
		switch strings.Count(f, ":") {
		case 0:
			v, err = time.ParseInLocation("2006-01-02", f, loc)
		default:
			layout := "15:04"
			if strings.Count(f, ":") == 2 {
				layout = "15:04:05"
			}
			var c time.Time
			c, err = time.Parse(layout, f)
			v = day.Add(time.Duration(c.Hour())*time.Hour + time.Duration(c.Minute())*time.Minute + time.Duration(c.Second())*time.Second)
			if v.Before(prev) {
				day = day.AddDate(0, 0, 1)
				v = v.AddDate(0, 0, 1)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
		prev = v
	}
	return out
}

func TestLegendOverflow(t *testing.T) {
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("10.0.0.%d tcp", i))
	}
	names = append(names, strings.Repeat("x", 100))
	path := filepath.Join(t.TempDir(), "x.svg")
	if err := Series(path, chart(3, names...)); err != nil {
		t.Fatal(err)
	}
	doc := readSVG(t, path)
	shown := 0
	for _, name := range names {
		if doc.hasText(name) {
			shown++
		}
	}
	more := regexp.MustCompile(`^and (\d+) more$`)
	var rest int
	for _, s := range doc.texts {
		if m := more.FindStringSubmatch(s); m != nil {
			fmt.Sscan(m[1], &rest)
		}
	}
	if shown < 10 || rest == 0 || shown+rest != len(names) {
		t.Errorf("legend shows %d names and %d more, want them to add up to %d", shown, rest, len(names))
	}
	if len(doc.paths) != len(names) {
		t.Errorf("%d paths: every series is drawn, in the legend or not", len(doc.paths))
	}
	// A long name is cut in the legend.
	c := chart(3, strings.Repeat("y", 100))
	if err := Series(path, c); err != nil {
		t.Fatal(err)
	}
	if doc := readSVG(t, path); !doc.hasText(strings.Repeat("y", legendName-3) + "...") {
		t.Errorf("a 100-character name is not cut to %d: %q", legendName, doc.texts)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		c    Chart
		want string
	}{
		{"x.gif", chart(3, "a"), `unsupported image format "gif" (have: png, svg)`},
		{"x", chart(3, "a"), `unsupported image format "" (have: png, svg)`},
		{"x.svg", Chart{Start: start, Step: time.Second}, "nothing to draw"},
		{"x.png", Chart{Start: start, Step: time.Second, Lines: []Line{{Name: "a"}}}, "nothing to draw"},
		{"x.png", Chart{Start: start, Lines: []Line{{Name: "a", Values: []float64{1}}}}, "bin width 0s: want more than 0"},
	} {
		err := Series(filepath.Join(dir, tc.path), tc.c)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", tc.path, err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left after failures: %v", ents)
	}
}

// TestFailureLeavesNoFile: when the image cannot be put in place (here, its name is a
// directory's), the temporary file is removed and what was there is untouched.
func TestFailureLeavesNoFile(t *testing.T) {
	for _, ext := range []string{"png", "svg"} {
		dir := t.TempDir()
		target := filepath.Join(dir, "x."+ext)
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Series(target, chart(5, "a")); err == nil {
			t.Errorf("%s: writing over a directory succeeded", ext)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 || ents[0].Name() != "x."+ext || !ents[0].IsDir() {
			t.Errorf("%s: left %v, want only the directory", ext, ents)
		}
		if inner, _ := os.ReadDir(target); len(inner) != 0 {
			t.Errorf("%s: wrote into the directory: %v", ext, inner)
		}
	}
}
