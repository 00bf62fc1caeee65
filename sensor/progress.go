package sensor

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"panoptes/internal/cli"
	"panoptes/sensor/capfile"
)

// progressState carries the reader's position to a reporting goroutine. The reader
// updates it once per round (every few thousand packets), never per packet.
type progressState struct {
	mu      sync.Mutex // guards file fields, which change once per file
	name    string
	index   int
	size    int64
	gz      bool
	files   int
	offset  atomic.Int64
	packets atomic.Uint64
	enabled bool
}

func (ps *progressState) start(report func(Progress), files int) (stop func()) {
	ps.enabled, ps.files = true, files
	t0 := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				report(ps.snapshot(time.Since(t0)))
				return
			case <-tick.C:
				report(ps.snapshot(time.Since(t0)))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (ps *progressState) snapshot(el time.Duration) Progress {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return Progress{File: ps.name, FileIndex: ps.index, Files: ps.files, Size: ps.size, Compressed: ps.gz,
		Offset: ps.offset.Load(), Packets: ps.packets.Load(), Elapsed: el}
}

func (ps *progressState) file(i int, src *capfile.File) {
	if !ps.enabled {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.name, ps.index, ps.size, ps.gz = src.Name(), i+1, 0, src.Compressed()
	if fi, err := src.Stat(); err == nil && fi.Mode().IsRegular() { // stdin: size unknown
		ps.size = fi.Size()
	}
	ps.offset.Store(0)
}

func (ps *progressState) update(offset int64, packets uint64) {
	if ps.enabled {
		ps.offset.Store(offset)
		ps.packets.Store(packets)
	}
}

// TerminalProgress returns a progress reporter that redraws one line on stderr, or nil
// unless stdout and stderr are both terminals (progress is for people watching, not for
// pipelines or logs).
func TerminalProgress(stdout, stderr io.Writer) func(Progress) {
	w := cli.ProgressWriter(stdout, stderr)
	if w == nil {
		return nil
	}
	return func(p Progress) { fmt.Fprintf(w, "\r\033[K%s", p.Line()) }
}

// Line renders progress as one line: file, percentage (when the size is known and the
// file is not compressed), packets and rate.
func (p Progress) Line() string {
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(p.Packets) / s
	}
	pct := ""
	if p.Size > 0 && !p.Compressed {
		pct = fmt.Sprintf(" %5.1f%%", 100*float64(min(p.Offset, p.Size))/float64(p.Size))
	}
	return fmt.Sprintf("import [%d/%d] %s%s  %d packets  %.2f Mpkt/s  %s",
		p.FileIndex, p.Files, p.File, pct, p.Packets, rate/1e6, p.Elapsed.Truncate(100*time.Millisecond))
}
