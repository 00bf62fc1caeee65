package record

// SinkCloser is a Sink that must be closed: what a command opens for its -w output (a
// stream file, stdout or an archive) and what wraps it (the sensor's record service
// and IPFIX tees). Close flushes, releases what the output holds and reports the first
// error; nothing may be written after it.
type SinkCloser interface {
	Sink
	Close() error
}

// WithClose makes s a SinkCloser whose Close calls close (which must flush s itself
// if s needs flushing): for a Sink whose own Close, if any, is not the whole story,
// such as a stream written to stdout (flushed, never closed) or an archive writer (the
// archive it belongs to is closed after it).
func WithClose(s Sink, close func() error) SinkCloser {
	return closeFunc{s, close}
}

type closeFunc struct {
	Sink
	close func() error
}

func (c closeFunc) Close() error { return c.close() }

// Dropper is a Sink that drops records rather than block without bound: a database
// output whose queue is full while the database refuses its batches (package
// sqlrepo). Dropped is the records dropped so far. Wrappers of an output (the
// sensor's record-service and IPFIX tees) pass it on, so that the management records,
// the metrics and the exit summary count them.
type Dropper interface {
	Dropped() uint64
}

// Dropped is s's Dropped if s is a Dropper, else 0: an output that never drops.
func Dropped(s Sink) uint64 {
	if d, ok := s.(Dropper); ok {
		return d.Dropped()
	}
	return 0
}
