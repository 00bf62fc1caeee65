package plot

import (
	"bufio"
	"image"
	"image/color"
	"image/png"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// writePNG draws the chart on an RGBA image and encodes it as PNG.
func writePNG(w *bufio.Writer, c Chart, n int) error {
	r := &raster{
		img: image.NewRGBA(image.Rect(0, 0, width, height)),
		cov: make([]uint8, width*height),
	}
	draw(r, c, n)
	return png.Encode(w, r.img)
}

// raster draws on an opaque RGBA image. A shape is first rendered as coverage (the
// fraction of each pixel it covers, which anti-aliases its edges) and then blended
// once, so that where a line's segments overlap at their joins the line is not
// darkened by blending twice.
type raster struct {
	img   *image.RGBA
	cov   []uint8         // coverage of the shape being drawn, 0-255 per pixel (a byte, not a float: fewer pages to fault in)
	dirty image.Rectangle // where cov may be non-zero
}

// capsule adds to the coverage the pixels within half w of segment ab (a round-capped
// stroke): a pixel whose centre is d from the segment is covered w/2+0.5-d, clamped to
// [0, 1], an approximation of the exact area that is good for thin lines.
func (r *raster) capsule(a, b point, w float64) {
	h := w / 2
	bx0 := max(0, int(math.Floor(min(a.x, b.x)-h-1)))
	by0 := max(0, int(math.Floor(min(a.y, b.y)-h-1)))
	bx1 := min(width, int(math.Ceil(max(a.x, b.x)+h+1)))
	by1 := min(height, int(math.Ceil(max(a.y, b.y)+h+1)))
	if bx0 >= bx1 || by0 >= by1 {
		return
	}
	r.dirty = r.dirty.Union(image.Rect(bx0, by0, bx1, by1))
	dx, dy := b.x-a.x, b.y-a.y
	l2 := dx*dx + dy*dy
	for py := by0; py < by1; py++ {
		cy := float64(py) + 0.5
		row := r.cov[py*width : (py+1)*width]
		for px := bx0; px < bx1; px++ {
			cx := float64(px) + 0.5
			t := 0.0
			if l2 > 0 {
				t = min(1, max(0, ((cx-a.x)*dx+(cy-a.y)*dy)/l2))
			}
			ex, ey := cx-(a.x+t*dx), cy-(a.y+t*dy)
			cv := h + 0.5 - math.Sqrt(ex*ex+ey*ey)
			if cv <= 0 {
				continue
			}
			if c := uint8(min(cv, 1)*255 + 0.5); c > row[px] {
				row[px] = c
			}
		}
	}
}

// fill blends colour c, at the given opacity, into the image where the shape covers
// it, and clears the coverage.
func (r *raster) fill(c color.RGBA, opacity float64) {
	for py := r.dirty.Min.Y; py < r.dirty.Max.Y; py++ {
		for px := r.dirty.Min.X; px < r.dirty.Max.X; px++ {
			i := py*width + px
			if a := float64(r.cov[i]) / 255 * opacity; a > 0 {
				r.blend(px, py, c, a)
			}
			r.cov[i] = 0
		}
	}
	r.dirty = image.Rectangle{}
}

func (r *raster) blend(px, py int, c color.RGBA, a float64) {
	p := r.img.Pix[r.img.PixOffset(px, py):]
	mix := func(d, s uint8) uint8 { return uint8(float64(s)*a + float64(d)*(1-a) + 0.5) }
	p[0], p[1], p[2], p[3] = mix(p[0], c.R), mix(p[1], c.G), mix(p[2], c.B), 255
}

func (r *raster) rect(x0, y0, x1, y1 float64, c color.RGBA, opacity float64) {
	// The pixels whose centres are inside.
	b := image.Rect(int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x1)), int(math.Round(y1))).Intersect(r.img.Rect)
	for py := b.Min.Y; py < b.Max.Y; py++ {
		for px := b.Min.X; px < b.Max.X; px++ {
			r.blend(px, py, c, opacity)
		}
	}
}

func (r *raster) line(a, b point, c color.RGBA, w float64) {
	r.capsule(a, b, w)
	r.fill(c, 1)
}

func (r *raster) series(runs [][]point, c color.RGBA, w float64) {
	for _, run := range runs {
		r.capsule(run[0], run[0], w) // a lone point is a dot
		for i := 1; i < len(run); i++ {
			r.capsule(run[i-1], run[i], w)
		}
	}
	r.fill(c, 1)
}

func (r *raster) dots(pts []point, c color.RGBA, rad float64) {
	for _, p := range pts {
		r.capsule(p, p, 2*rad)
	}
	r.fill(c, 1)
}

func (r *raster) text(x, y float64, s string, align, style int, c color.RGBA) {
	if s == "" {
		return
	}
	w := textWidth(s)
	switch align {
	case alignCenter:
		x -= w / 2
	case alignRight:
		x -= w
	}
	face := basicfont.Face7x13
	if style == styleVertical {
		// Drawn level into a mask, then turned: the mask's row j becomes the image's
		// column, its left end the bottom.
		m := image.NewAlpha(image.Rect(0, 0, int(w), lineH))
		d := font.Drawer{Dst: m, Src: image.Opaque, Face: face, Dot: fixed.P(0, face.Ascent)}
		d.DrawString(s)
		left, bottom := int(math.Round(x+w/2))-lineH/2, int(math.Round(y+w/2))
		for j := 0; j < lineH; j++ {
			for i := 0; i < int(w); i++ {
				px, py := left+j, bottom-i
				if a := m.AlphaAt(i, j).A; a > 0 && image.Pt(px, py).In(r.img.Rect) {
					r.blend(px, py, c, float64(a)/255)
				}
			}
		}
		return
	}
	src := image.NewUniform(c)
	d := font.Drawer{Dst: r.img, Src: src, Face: face, Dot: fixed.P(int(math.Round(x)), int(math.Round(y)))}
	d.DrawString(s)
	if style == styleTitle { // bold: the bitmap font has one weight, so draw it twice
		d.Dot = fixed.P(int(math.Round(x))+1, int(math.Round(y)))
		d.DrawString(s)
	}
}
