package recordsvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"panoptes/filter"
	"panoptes/record"
)

// Config configures a Server.
type Config struct {
	// TLS, if set, makes the service speak TLS (with ClientAuth set to
	// RequireAndVerifyClientCert, clients need a certificate signed by ClientCAs).
	TLS *tls.Config
	// ClientBuffer is how many bytes of encoded records may wait for each client
	// (about 60 bytes a record); a record that does not fit is dropped for that client.
	// 0 means 4 MiB.
	ClientBuffer int
	// HelloTimeout bounds the TLS handshake and the client's hello; 0 means 10 s.
	HelloTimeout time.Duration
	// Logf receives one line per client event (joined, refused, dropped records, left).
	Logf func(format string, args ...any)
}

// Server serves records to any number of clients, each with its own filter and queue.
// Publish may be called from several goroutines.
type Server struct {
	cfg    Config
	ln     net.Listener
	ctx    context.Context // ended by Close: aborts handshakes
	cancel context.CancelFunc
	header []byte // the data frame that starts every client's stream

	mu      sync.Mutex
	closed  bool
	clients atomic.Pointer[[]*client] // copy on write, so Publish takes no lock
	wg      sync.WaitGroup

	pubMu sync.Mutex
	enc   []byte
}

// client is one connected client: its filter, its queue and its counters.
type client struct {
	conn net.Conn
	addr string
	flt  *filter.Filter
	gone chan struct{} // closed when the connection ends (the client left or a write failed)
	wake chan struct{} // a non-blocking nudge to the writer

	mu      sync.Mutex
	pending []byte // encoded records waiting to be sent
	dropped uint64 // since the last notice
	closing bool   // the server is shutting down: drain, then send an end frame

	queued, lost uint64 // totals, for the log (written under mu)
}

// Listen starts a server on addr ("127.0.0.1:5561", ":0"...).
func Listen(addr string, cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln, cfg), nil
}

// Serve starts a server on a listener it then owns.
func Serve(ln net.Listener, cfg Config) *Server {
	if cfg.ClientBuffer <= 0 {
		cfg.ClientBuffer = 4 << 20
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &Server{cfg: cfg, ln: ln}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	h := record.AppendHeader(nil)
	s.header = append(appendFrameHeader(nil, FrameData, len(h)), h...)
	s.clients.Store(&[]*client{})
	s.wg.Add(1)
	go s.accept()
	return s
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Clients returns the number of clients receiving records.
func (s *Server) Clients() int { return len(*s.clients.Load()) }

// WaitClients waits until at least n clients receive records, or ctx ends.
func (s *Server) WaitClients(ctx context.Context, n int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.Clients() < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Publish offers r to every client whose filter selects it. It never blocks on a
// client: a client whose queue is full loses the record, and is told so.
func (s *Server) Publish(r *record.Record) {
	cs := *s.clients.Load()
	if len(cs) == 0 {
		return
	}
	s.pubMu.Lock()
	s.enc = record.AppendRecord(s.enc[:0], r)
	for _, c := range cs {
		if c.flt.Match(r) {
			c.enqueue(s.enc, s.cfg.ClientBuffer)
		}
	}
	s.pubMu.Unlock()
}

func (c *client) enqueue(b []byte, limit int) {
	c.mu.Lock()
	if len(c.pending)+len(b) > limit {
		c.dropped++
		c.lost++
	} else {
		c.pending = append(c.pending, b...)
		c.queued++
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting clients, lets each client receive what is queued for it (for at
// most grace), sends each an end frame and closes the connections.
func (s *Server) Close(grace time.Duration) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	deadline := time.Now().Add(grace)
	for _, c := range *s.clients.Load() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		c.conn.SetWriteDeadline(deadline)
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	delay := 5 * time.Millisecond
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry, as net/http does.
			s.cfg.Logf("accepting clients: %v", err)
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		s.wg.Add(1)
		go s.handle(conn)
	}
}

// handle runs one client: hello, filter, then the writer loop until it leaves.
func (s *Server) handle(conn net.Conn) {
	defer s.wg.Done()
	addr := conn.RemoteAddr().String()
	if s.cfg.TLS != nil {
		conn = tls.Server(conn, s.cfg.TLS)
	}
	stop := context.AfterFunc(s.ctx, func() { conn.SetDeadline(time.Now()) })
	conn.SetDeadline(time.Now().Add(s.cfg.HelloTimeout))
	text, err := readHello(conn)
	if err != nil {
		stop()
		s.cfg.Logf("client %s: %v", addr, err)
		conn.Close()
		return
	}
	flt, err := filter.Compile(text)
	if err != nil {
		stop()
		s.cfg.Logf("client %s: refused: %v", addr, err)
		conn.Write(appendReply(nil, true, err.Error()))
		conn.Close()
		return
	}
	if _, err := conn.Write(appendReply(nil, false, "")); err != nil {
		stop()
		s.cfg.Logf("client %s: %v", addr, err)
		conn.Close()
		return
	}
	if !stop() { // Close began during the hello
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	c := &client{conn: conn, addr: addr, flt: flt, gone: make(chan struct{}), wake: make(chan struct{}, 1)}
	if !s.add(c) {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		conn.Write(append(append([]byte(nil), s.header...), FrameEnd, 0))
		conn.Close()
		return
	}
	if text == "" {
		text = "(none)"
	}
	s.cfg.Logf("client %s joined, filter %s", addr, text)
	go func() {
		// The client sends nothing more: reading only notices that it has gone.
		io.Copy(io.Discard, conn)
		close(c.gone)
	}()
	err = s.write(c)
	s.remove(c)
	conn.Close()
	c.mu.Lock()
	queued, lost := c.queued, c.lost
	c.mu.Unlock()
	switch {
	case err != nil:
		s.cfg.Logf("client %s left (%v) after %d records, %d dropped for reading too slowly", addr, err, queued, lost)
	default:
		s.cfg.Logf("client %s: stream ended after %d records, %d dropped for reading too slowly", addr, queued, lost)
	}
}

func (s *Server) add(c *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	old := *s.clients.Load()
	cs := append(make([]*client, 0, len(old)+1), old...)
	cs = append(cs, c)
	s.clients.Store(&cs)
	return true
}

func (s *Server) remove(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.clients.Load()
	cs := make([]*client, 0, len(old))
	for _, o := range old {
		if o != c {
			cs = append(cs, o)
		}
	}
	s.clients.Store(&cs)
}

// errGone is the writer's error when the client closed its end.
var errGone = errors.New("client closed the connection")

// write sends the client's queue until the server closes (nil) or the client goes.
func (s *Server) write(c *client) error {
	bw := bufio.NewWriterSize(c.conn, 64<<10)
	if _, err := bw.Write(s.header); err != nil {
		return err
	}
	var spare, hdr []byte
	lastLog := time.Time{}
	var unlogged uint64
	for {
		c.mu.Lock()
		buf := c.pending
		c.pending = spare[:0]
		drops := c.dropped
		c.dropped = 0
		closing := c.closing
		c.mu.Unlock()
		for p := buf; len(p) > 0; {
			n := min(len(p), MaxFrame)
			hdr = appendFrameHeader(hdr[:0], FrameData, n)
			bw.Write(hdr)
			if _, err := bw.Write(p[:n]); err != nil {
				return err
			}
			p = p[n:]
		}
		spare = buf
		if drops > 0 {
			var v [binary.MaxVarintLen64]byte
			k := binary.PutUvarint(v[:], drops)
			hdr = appendFrameHeader(hdr[:0], FrameDrops, k)
			hdr = append(hdr, v[:k]...)
			if _, err := bw.Write(hdr); err != nil {
				return err
			}
			unlogged += drops
			if time.Since(lastLog) >= 10*time.Second {
				s.cfg.Logf("client %s reads too slowly: %d records dropped for it", c.addr, unlogged)
				lastLog, unlogged = time.Now(), 0
			}
		}
		if len(buf) > 0 || drops > 0 {
			continue
		}
		if closing {
			bw.Write([]byte{FrameEnd, 0})
			return bw.Flush()
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		select {
		case <-c.wake:
		case <-c.gone:
			return errGone
		}
	}
}
