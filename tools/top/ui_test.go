package top

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"panoptes/record"
)

// fixtureRecs is a small mixed set: TCP and UDP flows from three hosts.
func fixtureRecs() []record.Record {
	udp := flow("10.0.0.3", 5353, "10.0.0.53", 53, 0, 1, 4, 400, 4, 800)
	udp.Proto = 17
	return []record.Record{
		flow("10.0.0.1", 1000, "10.0.0.9", 80, 0, 2, 10, 1000, 10, 9000),
		flow("10.0.0.2", 2000, "10.0.0.9", 22, 0, 1, 300, 30000, 0, 0),
		udp,
		flow("10.0.0.9", 80, "10.0.0.1", 1000, 2, 4, 5, 500, 1, 100),
	}
}

// sliceSource serves recs; with endless set it then blocks until stop is closed, as a
// live source that never ends.
func sliceSource(recs []record.Record, endless bool, stop chan struct{}) Source {
	return Source{Name: "fixture", Rewind: !endless, Read: func(warn io.Writer, fn func(*record.Record) bool) error {
		fmt.Fprintln(warn, "fixture: a warning")
		for i := range recs {
			r := recs[i]
			if !fn(&r) {
				return nil
			}
		}
		if endless {
			<-stop
		}
		return nil
	}}
}

// simScreen is a simulated 80x24 terminal whose contents are copied after each frame
// on the UI goroutine (tcell's GetContents hands out the live cell buffer).
type simScreen struct {
	tcell.SimulationScreen
	mu    sync.Mutex
	lines []string
}

func (s *simScreen) capture() {
	l := screenText(s.SimulationScreen)
	s.mu.Lock()
	s.lines = l
	s.mu.Unlock()
}

func (s *simScreen) text() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lines == nil {
		return make([]string, 24)
	}
	return s.lines
}

func startUI(t *testing.T, src Source, o UIOptions) (*simScreen, *Feeder, chan error) {
	t.Helper()
	scr := &simScreen{SimulationScreen: tcell.NewSimulationScreen("UTF-8")}
	if err := scr.Init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(scr.Fini)
	scr.SetSize(80, 24)
	o.afterDraw = scr.capture
	m := NewModel(Config{Views: testViews(), Sort: o.Sort})
	clock := func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	f := NewFeeder(src, m, nil, clock, nil)
	f.Start()
	done := make(chan error, 1)
	if o.Interval == 0 {
		o.Interval = 20 * time.Millisecond
	}
	go func() { done <- RunUI(scr, f, o) }()
	return scr, f, done
}

// screenText returns the simulated screen as lines.
func screenText(scr tcell.SimulationScreen) []string {
	cells, w, h := scr.GetContents()
	lines := make([]string, h)
	for y := range h {
		var b strings.Builder
		for x := range w {
			c := cells[y*w+x]
			if len(c.Runes) == 0 {
				b.WriteByte(' ')
			} else {
				b.WriteString(string(c.Runes))
			}
		}
		lines[y] = strings.TrimRight(b.String(), " ")
	}
	return lines
}

// waitScreen waits until line y of the screen contains want (y < 0: any line).
func waitScreen(t *testing.T, scr *simScreen, y int, want string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := scr.text()
		if y < 0 && strings.Contains(strings.Join(lines, "\n"), want) || y >= 0 && strings.Contains(lines[y], want) {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("screen line %d never showed %q; screen:\n%s", y, want, strings.Join(lines, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func typeText(scr *simScreen, s string) {
	for _, r := range s {
		scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
}

func quit(t *testing.T, scr *simScreen, done chan error) {
	t.Helper()
	scr.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunUI: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("q did not quit")
	}
}

func TestUI(t *testing.T) {
	scr, _, done := startUI(t, sliceSource(fixtureRecs(), false, nil), UIOptions{})
	lines := waitScreen(t, scr, 0, "end of input")
	for y, want := range map[int]string{
		0:  "panoptes top  fixture  flows by bytes  totals",
		1:  "read 4 (-)  matched 4  keys 3/100,000, 0 evicted",
		2:  "filter: none",
		3:  "fixture: a warning",
		4:  "SrcAddr  Sport DstAddr   Dport TotPkts TotBytes  Load",
		5:  "10.0.0.2  2000 10.0.0.9     22     300    30000  240K",
		6:  "10.0.0.1  1000 10.0.0.9     80      26    10600 21200",
		7:  "10.0.0.3  5353 10.0.0.53    53       8     1200  9600",
		23: "q quit",
	} {
		if !strings.Contains(lines[y], want) {
			t.Errorf("line %d = %q, want it to contain %q", y, lines[y], want)
		}
	}
	// Sorted by bytes: the 30000-byte flow comes first.
	if !strings.HasPrefix(lines[5], "10.0.0.2") {
		t.Errorf("first row %q, want the 10.0.0.2 flow (most bytes)", lines[5])
	}

	// p sorts by packets, v switches to the hosts view.
	scr.InjectKey(tcell.KeyRune, 'p', tcell.ModNone)
	waitScreen(t, scr, 0, "flows by pkts")
	scr.InjectKey(tcell.KeyRune, 'v', tcell.ModNone)
	lines = waitScreen(t, scr, 0, "hosts by pkts")
	if !strings.HasPrefix(lines[5], "10.0.0.2") || !strings.Contains(lines[4], "SrcAddr") || strings.Contains(lines[4], "Dport") {
		t.Errorf("hosts view:\n%s", strings.Join(lines, "\n"))
	}
	// > cycles to the next metric (load), < back.
	scr.InjectKey(tcell.KeyRune, '>', tcell.ModNone)
	waitScreen(t, scr, 0, "hosts by load")
	scr.InjectKey(tcell.KeyRune, '<', tcell.ModNone)
	waitScreen(t, scr, 0, "hosts by pkts")

	// A bad filter shows its error inline and keeps the prompt; a good one applies.
	scr.InjectKey(tcell.KeyRune, '/', tcell.ModNone)
	waitScreen(t, scr, 23, "filter:")
	typeText(scr, "tcp and")
	scr.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
	lines = waitScreen(t, scr, 3, "expected")
	if !strings.Contains(lines[23], "filter: tcp and") {
		t.Errorf("prompt gone after a bad filter: %q", lines[23])
	}
	scr.InjectKey(tcell.KeyCtrlU, 0, tcell.ModNone)
	typeText(scr, "udp")
	scr.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
	waitScreen(t, scr, 2, "filter: udp")
	lines = waitScreen(t, scr, 1, "matched 1 ")
	if !strings.HasPrefix(lines[5], "10.0.0.3") || lines[6] != "" {
		t.Errorf("after filter udp, rows:\n%s", strings.Join(lines[4:8], "\n"))
	}
	quit(t, scr, done)
}

func TestUIPause(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	scr, f, done := startUI(t, sliceSource(fixtureRecs()[:1], true, stop), UIOptions{})
	waitScreen(t, scr, 1, "matched 1 ")
	scr.InjectKey(tcell.KeyRune, ' ', tcell.ModNone)
	waitScreen(t, scr, 0, "PAUSED")
	// New records arrive while paused (reading goes on) but the table holds still.
	f.mu.Lock()
	r := fixtureRecs()[1]
	f.m.Add(&r)
	f.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // several refresh intervals
	if lines := scr.text(); !strings.Contains(lines[1], "matched 1 ") {
		t.Errorf("paused table changed: %q", lines[1])
	}
	scr.InjectKey(tcell.KeyRune, ' ', tcell.ModNone)
	waitScreen(t, scr, 1, "matched 2 ")
	waitScreen(t, scr, 0, "reading")
	quit(t, scr, done)
}

func TestUIInputError(t *testing.T) {
	src := Source{Name: "broken", Read: func(io.Writer, func(*record.Record) bool) error {
		return errors.New("broken.pnp: not a record stream")
	}}
	scr, f, done := startUI(t, src, UIOptions{})
	waitScreen(t, scr, 3, "error: broken.pnp: not a record stream")
	waitScreen(t, scr, 0, "input error")
	quit(t, scr, done)
	if f.Err() == nil {
		t.Error("Err() = nil after a failed input")
	}
}

func TestUIEscapeCancelsFilter(t *testing.T) {
	scr, _, done := startUI(t, sliceSource(fixtureRecs(), false, nil), UIOptions{})
	waitScreen(t, scr, 0, "end of input")
	typeText(scr, "/udp")
	waitScreen(t, scr, 23, "filter: udp")
	scr.InjectKey(tcell.KeyEscape, 0, tcell.ModNone)
	lines := waitScreen(t, scr, 23, "q quit")
	if !strings.Contains(lines[2], "filter: none") {
		t.Errorf("Esc applied the filter: %q", lines[2])
	}
	quit(t, scr, done)
}

// FuzzKeys feeds arbitrary key sequences (runes, and bytes below 32 as control keys)
// to the terminal view: it must never panic, and any filter it accepts must be one
// that compiles.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{"pv><", "/tcp\r", "/tcp and\r\x1b", "/(\r/host 10.0.0.1\r", " \t b l r t", "/\x15port 80\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, keys string) {
		scr := tcell.NewSimulationScreen("UTF-8")
		if err := scr.Init(); err != nil {
			t.Fatal(err)
		}
		defer scr.Fini()
		scr.SetSize(80, 24)
		m := NewModel(Config{Views: testViews(), MaxKeys: 2})
		fd := NewFeeder(sliceSource(fixtureRecs(), false, nil), m, nil, nil, nil)
		fd.Start()
		<-fd.Done()
		u := &ui{scr: scr, f: fd, nviews: 2}
		u.refresh()
		for _, r := range keys {
			var ev *tcell.EventKey
			switch {
			case r == '\r':
				ev = tcell.NewEventKey(tcell.KeyEnter, 0, tcell.ModNone)
			case r < 32:
				ev = tcell.NewEventKey(tcell.Key(r), 0, tcell.ModNone)
			default:
				ev = tcell.NewEventKey(tcell.KeyRune, r, tcell.ModNone)
			}
			if u.key(ev) {
				return
			}
			<-fd.Done()
		}
	})
}
