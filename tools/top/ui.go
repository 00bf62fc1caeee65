package top

import (
	"time"
	"unicode/utf8"

	"github.com/gdamore/tcell/v2"

	"panoptes/filter"
)

// UIOptions set up the terminal view.
type UIOptions struct {
	View     int           // initial view (index into Config.Views)
	Sort     Metric        // initial ranking
	Interval time.Duration // refresh interval
	Rows     int           // rows shown at most (0: as many as fit)

	afterDraw func() // tests: called on the UI goroutine after each frame is shown
}

// footer lists the keys; it fits 80 columns.
const footer = "q quit  space pause  v view  b/p/l/r/t sort  </> next  / filter"

// ui is the state of the terminal view. It runs in one goroutine: keys, ticks and the
// end of input arrive on channels, and every change redraws.
type ui struct {
	scr    tcell.Screen
	f      *Feeder
	o      UIOptions
	nviews int

	view    int
	sort    Metric
	paused  bool
	snap    *Snapshot // the frame shown (kept while paused)
	editing bool
	edit    []rune
	editErr string
}

// RunUI shows the live table on scr, an initialized screen, until q (or Ctrl-C) is
// pressed. The feeder must be started.
func RunUI(scr tcell.Screen, f *Feeder, o UIOptions) error {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	u := &ui{scr: scr, f: f, o: o, view: o.View, sort: o.Sort, nviews: len(f.m.cfg.Views)}
	scr.HideCursor()
	events := make(chan tcell.Event, 16)
	quit := make(chan struct{})
	defer close(quit)
	go scr.ChannelEvents(events, quit)
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	done := f.Done()
	u.refresh()
	for {
		select {
		case <-tick.C:
			if !u.paused {
				u.refresh()
			}
		case <-done:
			done = nil // show the final counts once, then keep the table up
			if !u.paused {
				u.refresh()
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			switch ev := ev.(type) {
			case *tcell.EventResize:
				scr.Sync()
				u.refresh()
			case *tcell.EventKey:
				if u.key(ev) {
					return nil
				}
				done = f.Done() // a new filter may have started reading again
			}
		}
	}
}

// refresh takes a new snapshot and draws it.
func (u *ui) refresh() {
	_, h := u.scr.Size()
	n := max(h-6, 1)
	if u.o.Rows > 0 {
		n = min(n, u.o.Rows)
	}
	u.snap = u.f.Snapshot(u.view, u.sort, n)
	u.draw()
}

// key handles one key press and reports whether to quit.
func (u *ui) key(ev *tcell.EventKey) bool {
	if u.editing {
		u.editKey(ev)
		u.draw()
		return false
	}
	switch ev.Key() {
	case tcell.KeyCtrlC, tcell.KeyEscape:
		return true
	case tcell.KeyTab:
		u.view = (u.view + 1) % u.nviews
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'q', 'Q':
			return true
		case ' ':
			u.paused = !u.paused
		case 'v':
			u.view = (u.view + 1) % u.nviews
		case 'b':
			u.sort = Bytes
		case 'p':
			u.sort = Pkts
		case 'l':
			u.sort = Load
		case 'r':
			u.sort = Rate
		case 't':
			u.sort = Trans
		case '>', '.':
			u.sort = (u.sort + 1) % numMetrics
		case '<', ',':
			u.sort = (u.sort + numMetrics - 1) % numMetrics
		case '/':
			u.editing, u.editErr = true, ""
			u.edit = []rune(u.snap.Filter)
			u.draw()
			return false
		default:
			return false
		}
	default:
		return false
	}
	u.f.SetSort(u.sort)
	// A changed view or sort shows at once, even while paused.
	u.refresh()
	return false
}

// editKey edits the filter line: Enter applies it (or shows why it does not
// compile), Esc gives up.
func (u *ui) editKey(ev *tcell.EventKey) {
	switch ev.Key() {
	case tcell.KeyEscape, tcell.KeyCtrlC:
		u.editing, u.editErr = false, ""
	case tcell.KeyEnter:
		flt, err := filter.Compile(string(u.edit))
		if err != nil {
			u.editErr = err.Error()
			return
		}
		u.editing, u.editErr = false, ""
		u.f.SetFilter(flt)
		u.refresh()
	case tcell.KeyBackspace, tcell.KeyBackspace2:
		if len(u.edit) > 0 {
			u.edit = u.edit[:len(u.edit)-1]
		}
	case tcell.KeyCtrlU:
		u.edit = u.edit[:0]
	case tcell.KeyRune:
		u.edit = append(u.edit, ev.Rune())
	}
}

var (
	styleTitle  = tcell.StyleDefault.Bold(true)
	styleLabels = tcell.StyleDefault.Reverse(true)
	styleSort   = tcell.StyleDefault.Reverse(true).Bold(true).Underline(true)
	styleWarn   = tcell.StyleDefault.Foreground(tcell.ColorYellow)
	styleError  = tcell.StyleDefault.Foreground(tcell.ColorRed).Bold(true)
	styleFooter = tcell.StyleDefault.Reverse(true)
)

func (u *ui) draw() {
	s := u.scr
	s.Clear()
	w, h := s.Size()
	fr := u.snap.Frame(w, true, u.paused)
	y := 0
	for i, l := range fr.Header {
		st := tcell.StyleDefault
		if i == 0 {
			st = styleTitle
		}
		put(s, 0, y, l, w, st)
		y++
	}
	switch {
	case u.editing && u.editErr != "":
		put(s, 0, y, u.editErr, w, styleError)
	case u.snap.Err != nil:
		put(s, 0, y, fr.Message, w, styleError)
	case fr.Message != "":
		put(s, 0, y, fr.Message, w, styleWarn)
	}
	y++
	put(s, 0, y, pad(fr.Labels, w), w, styleLabels)
	lr := []rune(fr.Labels)
	if fr.SortCol[1] <= len(lr) {
		put(s, fr.SortCol[0], y, string(lr[fr.SortCol[0]:fr.SortCol[1]]), w, styleSort)
	}
	y++
	for _, r := range fr.Rows {
		if y >= h-1 {
			break
		}
		put(s, 0, y, r, w, tcell.StyleDefault)
		y++
	}
	if u.editing {
		prompt := "filter: " + string(u.edit)
		put(s, 0, h-1, pad(prompt, w), w, tcell.StyleDefault)
		s.ShowCursor(min(utf8.RuneCountInString(prompt), w-1), h-1)
	} else {
		s.HideCursor()
		put(s, 0, h-1, pad(footer, w), w, styleFooter)
	}
	s.Show()
	if u.o.afterDraw != nil {
		u.o.afterDraw()
	}
}

// put writes str at (x, y), cut at the screen width.
func put(s tcell.Screen, x, y int, str string, w int, st tcell.Style) {
	for _, r := range str {
		if x >= w {
			return
		}
		s.SetContent(x, y, r, nil, st)
		x++
	}
}

// pad fills str with blanks to width w, so a styled line spans the screen.
func pad(str string, w int) string {
	for n := utf8.RuneCountInString(str); n < w; n++ {
		str += " "
	}
	return str
}
