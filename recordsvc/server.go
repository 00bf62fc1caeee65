package recordsvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

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
	// MaxClients bounds the clients served at once; one more is answered "busy" and
	// counted in Stats.Refused. 0 means DefaultMaxClients.
	MaxClients int
	// QueueMemory bounds the bytes held by all client queues together; a record that
	// would take them beyond it is dropped for that client (and reported to it).
	// 0 means DefaultQueueMemory.
	QueueMemory int64
	// ReserveFDs is how many file descriptors beyond those open when the server starts
	// are kept for the rest of the process (the archive's files, capture sockets,
	// metrics): clients are refused before they could take them. 0 means
	// DefaultReserveFDs.
	ReserveFDs int
	// HelloTimeout bounds the TLS handshake and the client's hello; 0 means 10 s.
	HelloTimeout time.Duration
	// Logf receives one line per client event (joined, refused, dropped records, left).
	Logf func(format string, args ...any)
}

// Defaults of Config.
const (
	DefaultMaxClients  = 256
	DefaultQueueMemory = 256 << 20
	DefaultReserveFDs  = 64
)

// Stats are a server's counters since it started.
type Stats struct {
	Clients int    // clients receiving records now
	Refused uint64 // connections turned away: busy, no or bad hello, bad filter
	Dropped uint64 // records dropped for a client (its queue or the memory budget was full)
	// Unoffered are records dropped before any filter saw them, because the fan-out
	// fell behind the writer; every client was told of them as drops.
	Unoffered  uint64
	QueueBytes int64 // bytes held by the client queues now
	// Flag names the service in Summary: "-P", or "--argus-port" for an Argus one.
	Flag string
}

// Summary is the counters as one line, for the exit summary.
func (st Stats) Summary() string {
	flag := st.Flag
	if flag == "" {
		flag = "-P"
	}
	return fmt.Sprintf("%s: %d clients refused (busy, bad hello or filter), %d records dropped for slow clients, %d not offered to clients (fan-out behind)",
		flag, st.Refused, st.Dropped, st.Unoffered)
}

// Server serves records to any number of clients, each with its own filter and queue.
// Publish may be called from several goroutines.
type Server struct {
	cfg    Config
	ln     net.Listener
	ctx    context.Context // ended by Close: aborts handshakes
	cancel context.CancelFunc
	header []byte // the data frame that starts every client's stream
	// argus: the service speaks Argus's protocol (argus.go) instead of Panoptes's: its
	// own greeting, records encoded as Argus records, no frames.
	argus bool

	mu      sync.Mutex
	closed  bool
	clients atomic.Pointer[[]*client] // copy on write, so the fan-out takes no lock
	wg      sync.WaitGroup

	// Publish only appends to pending; the fan-out goroutine takes the batch, matches
	// filters and fills client queues, so no number of clients slows the writer.
	pubMu     sync.Mutex
	pending   []record.Record // at most fanoutQueue
	unoffered uint64          // records dropped since the fan-out last took a batch
	fanWake   chan struct{}
	fanStop   chan struct{}
	fanDone   chan struct{}
	fanBusy   atomic.Bool

	// clientLimit is MaxClients, or fewer when RLIMIT_NOFILE leaves no room for them;
	// connLimit adds helloSlots connections waiting for their hello and refuseSlack
	// being refused or closed.
	clientLimit, connLimit           int64
	waiting                          waitList     // connections waiting for their hello
	helloLog                         logLimit     // failed hellos, logged at a bounded rate
	conns                            atomic.Int64 // open client connections, in any state
	admitted                         atomic.Int64 // clients past the clientLimit check
	refused, dropped, unofferedTotal atomic.Uint64
	queueBytes                       atomic.Int64 // capacity of every client's two buffers
}

// fanoutQueue bounds the records waiting for the fan-out (a few hundred bytes each): a
// writer that outruns it loses records for the service only, counted as Unoffered.
const fanoutQueue = 1 << 16

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
	removed bool   // the client has gone: queue nothing more
	mem     int64  // cap(pending) + cap of the writer's spare buffer, in Server.queueBytes

	// totals, for the log (written under mu): records queued, dropped because the
	// client's queue (or the queue memory) was full, and not offered because the
	// fan-out fell behind the writer (no fault of the client's)
	queued, lost, unoffered uint64
}

// Listen starts a server on addr: TCP ("127.0.0.1:5561", ":0"...) or a Unix socket
// ("unix:/run/panoptes/records.sock", mode 0660, group SocketGroup).
func Listen(addr string, cfg Config) (*Server, error) {
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	s := Serve(ln, cfg)
	if s.clientLimit < 1 {
		s.Close(0)
		n, _ := openFDs()
		return nil, fmt.Errorf("no file descriptors left for clients: %d open, %d kept for the archive and capture; raise RLIMIT_NOFILE (ulimit -n)", n, s.cfg.ReserveFDs)
	}
	return s, nil
}

// Serve starts a server on a listener it then owns.
func Serve(ln net.Listener, cfg Config) *Server {
	return serve(ln, cfg, false)
}

func serve(ln net.Listener, cfg Config, argus bool) *Server {
	if cfg.ClientBuffer <= 0 {
		cfg.ClientBuffer = 4 << 20
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.QueueMemory <= 0 {
		cfg.QueueMemory = DefaultQueueMemory
	}
	if cfg.ReserveFDs <= 0 {
		cfg.ReserveFDs = DefaultReserveFDs
	}
	s := &Server{cfg: cfg, ln: ln, argus: argus, fanWake: make(chan struct{}, 1), fanStop: make(chan struct{}), fanDone: make(chan struct{})}
	s.setLimits()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if !argus { // an Argus client's stream starts with the greeting's MAR
		h := record.AppendHeader(nil)
		s.header = append(appendFrameHeader(nil, FrameData, len(h)), h...)
	}
	s.clients.Store(&[]*client{})
	s.wg.Add(1)
	go s.accept()
	go s.fanout()
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

// Publish offers r to every client whose filter selects it. It only queues r for the
// fan-out goroutine: it never matches filters nor waits for a client. When the fan-out
// is fanoutQueue records behind, r is dropped for every client, counted and reported.
func (s *Server) Publish(r *record.Record) {
	if len(*s.clients.Load()) == 0 {
		return
	}
	s.pubMu.Lock()
	if len(s.pending) >= fanoutQueue {
		s.unoffered++
		s.pubMu.Unlock()
		s.unofferedTotal.Add(1)
		return
	}
	s.pending = append(s.pending, *r)
	if m := r.Man; m != nil { // the caller may reuse its management counters
		c := *m
		c.Queues = slices.Clone(m.Queues)
		s.pending[len(s.pending)-1].Man = &c
	}
	s.pubMu.Unlock()
	select {
	case s.fanWake <- struct{}{}:
	default:
	}
}

// fanout hands each batch Publish queued to the clients, until Close; then it hands
// over what is left and returns.
func (s *Server) fanout() {
	defer close(s.fanDone)
	var batch []record.Record
	var enc []byte
	var ends []int
	for {
		stop := false
		select {
		case <-s.fanWake:
		case <-s.fanStop:
			stop = true
		}
		for {
			s.pubMu.Lock()
			batch, s.pending = s.pending, batch[:0]
			unoffered := s.unoffered
			s.unoffered = 0
			s.fanBusy.Store(len(batch) > 0 || unoffered > 0)
			s.pubMu.Unlock()
			if len(batch) == 0 && unoffered == 0 {
				break
			}
			if s.argus {
				enc, ends = encodeArgusBatch(enc[:0], ends[:0], batch)
			} else {
				enc, ends = encodeBatch(enc[:0], ends[:0], batch)
			}
			for _, c := range *s.clients.Load() {
				s.offer(c, batch, enc, ends, unoffered)
			}
			clear(batch) // drop references to management counters
			s.fanBusy.Store(false)
		}
		if stop {
			return
		}
	}
}

// encodeBatch encodes each record once for all clients; record i is enc[ends[i-1]:ends[i]].
func encodeBatch(enc []byte, ends []int, batch []record.Record) ([]byte, []int) {
	for i := range batch {
		enc = record.AppendRecord(enc, &batch[i])
		ends = append(ends, len(enc))
	}
	return enc, ends
}

// offer queues for c the records of a batch its filter selects, then unoffered drops.
func (s *Server) offer(c *client, batch []record.Record, enc []byte, ends []int, unoffered uint64) {
	c.mu.Lock()
	if c.removed {
		c.mu.Unlock()
		return
	}
	start, lost := 0, uint64(0)
	for i := range batch {
		if c.flt.Match(&batch[i]) {
			if s.room(c, ends[i]-start) {
				c.pending = append(c.pending, enc[start:ends[i]]...)
				c.queued++
			} else {
				lost++
			}
		}
		start = ends[i]
	}
	c.dropped += lost + unoffered
	c.lost += lost
	c.unoffered += unoffered
	c.mu.Unlock()
	s.dropped.Add(lost)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// room makes c.pending able to take n more bytes, within the client's ClientBuffer and
// the server's QueueMemory; false means the record is dropped for c. It runs under c.mu.
func (s *Server) room(c *client, n int) bool {
	need := len(c.pending) + n
	if need <= cap(c.pending) {
		return true
	}
	if need > s.cfg.ClientBuffer {
		return false
	}
	newCap := min(max(2*cap(c.pending), need, 64<<10), s.cfg.ClientBuffer)
	grow := int64(newCap - cap(c.pending))
	if s.queueBytes.Add(grow) > s.cfg.QueueMemory {
		s.queueBytes.Add(-grow)
		return false
	}
	b := make([]byte, len(c.pending), newCap)
	copy(b, c.pending)
	c.pending = b
	c.mem += grow
	return true
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{Clients: s.Clients(), Refused: s.refused.Load(), Dropped: s.dropped.Load(),
		Unoffered: s.unofferedTotal.Load(), QueueBytes: s.queueBytes.Load(), Flag: "-P"}
	if s.argus {
		st.Flag = "--argus-port"
	}
	return st
}

// fanoutIdle says whether every record published so far has been offered to the clients.
func (s *Server) fanoutIdle() bool {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	return len(s.pending) == 0 && s.unoffered == 0 && !s.fanBusy.Load()
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
	close(s.fanStop) // the fan-out hands over what Publish queued before the end frames
	<-s.fanDone
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
	var lastLog time.Time
	var unlogged uint64
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry, as net/http does,
			// logging at most every 10 s.
			if unlogged++; time.Since(lastLog) >= 10*time.Second {
				s.cfg.Logf("accepting clients: %v (%d times)", err, unlogged)
				lastLog, unlogged = time.Now(), 0
			}
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		for wait := 0; s.conns.Load() >= s.connLimit && s.waiting.closing.Load() > 0 && wait < 100; wait++ {
			time.Sleep(time.Millisecond) // displaced connections are closing: wait for their descriptors
		}
		if s.conns.Add(1) > s.connLimit {
			// Every descriptor the service may take is in use (by clients, connections
			// waiting for their hello and ones being closed): answer "busy" at once (a
			// fresh socket's send buffer takes it without blocking) and close.
			s.conns.Add(-1)
			s.refused.Add(1)
			if !s.argus { // Argus clients are just closed, as argus closes them
				conn.Write(s.busyReply())
			}
			conn.Close()
			continue
		}
		w := &waiter{raw: conn, peer: peerKey(conn), since: time.Now()}
		if busy := s.waiting.add(w); busy != "" {
			s.conns.Add(-1)
			s.refused.Add(1)
			s.helloLog.log(s.cfg.Logf, "client %s: busy: %s", peerName(conn), busy)
			if !s.argus {
				conn.Write(appendReply(nil, statusBusy, busy))
			}
			conn.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.conns.Add(-1)
			s.handle(conn, w)
		}()
	}
}

// handle runs one client: hello, filter, then the writer loop until it leaves.
func (s *Server) handle(conn net.Conn, w *waiter) {
	defer s.wg.Done()
	addr := peerName(conn)
	setKeepalive(conn)
	if s.cfg.TLS != nil {
		conn = tls.Server(conn, s.cfg.TLS)
	}
	hello := s.hello
	if s.argus {
		hello = s.argusHello
	}
	flt, text, ok := hello(conn, addr, w)
	if !ok {
		return
	}
	defer s.admitted.Add(-1)
	c := &client{conn: conn, addr: addr, flt: flt, gone: make(chan struct{}), wake: make(chan struct{}, 1)}
	if !s.add(c) {
		if !s.argus {
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			conn.Write(append(append([]byte(nil), s.header...), FrameEnd, 0))
		}
		conn.Close()
		return
	}
	if text == "" {
		text = "(none)"
	}
	s.cfg.Logf("client %s joined, filter %s", addr, clipEcho(text))
	go func() {
		// The client sends nothing more: reading only notices that it has gone.
		io.Copy(io.Discard, conn)
		close(c.gone)
	}()
	err := s.write(c)
	s.remove(c)
	conn.Close()
	c.mu.Lock()
	tally := c.tally()
	c.mu.Unlock()
	switch {
	case err != nil:
		s.cfg.Logf("client %s left (%v) after %s", addr, err, tally)
	default:
		s.cfg.Logf("client %s: stream ended after %s", addr, tally)
	}
}

// hello reads the client's hello within HelloTimeout (or until a newer connection
// displaces it from the waiting list), admits the client (within the client limit)
// and compiles its filter, answering OK or a refusal. When ok, the client counts in
// s.admitted and the connection has no deadline; otherwise the connection is closed.
func (s *Server) hello(conn net.Conn, addr string, w *waiter) (flt *filter.Filter, text string, ok bool) {
	stop := context.AfterFunc(s.ctx, func() { conn.SetDeadline(time.Now()) })
	conn.SetDeadline(time.Now().Add(s.cfg.HelloTimeout))
	text, err := readHello(conn)
	displaced := s.waiting.done(w)
	switch {
	case displaced:
		stop()
		s.refused.Add(1)
		s.helloLog.log(s.cfg.Logf, "client %s: closed: no hello after %v while newer connections waited (at most %d at once, %d from one address)",
			addr, silentAfter, helloSlots, helloPerPeer)
		conn.Close()
		s.waiting.closed()
		return nil, "", false
	case errors.Is(err, errVersion):
		stop()
		s.refuse(conn, addr, statusRefused, err.Error())
		return nil, "", false
	case err != nil:
		stop()
		s.refused.Add(1)
		s.helloLog.log(s.cfg.Logf, "client %s: %v", addr, err)
		conn.Close()
		return nil, "", false
	}
	if s.admitted.Add(1) > s.clientLimit {
		s.admitted.Add(-1)
		stop()
		s.refuse(conn, addr, statusBusy, fmt.Sprintf("%d clients already, the most this server takes", s.clientLimit))
		return nil, "", false
	}
	flt, err = filter.Compile(text)
	if err != nil {
		s.admitted.Add(-1)
		stop()
		s.refuse(conn, addr, statusRefused, err.Error())
		return nil, "", false
	}
	if _, err := conn.Write(appendReply(nil, statusOK, "")); err != nil {
		s.admitted.Add(-1)
		stop()
		s.cfg.Logf("client %s: %v", addr, err)
		conn.Close()
		return nil, "", false
	}
	if !stop() { // Close began during the hello
		s.admitted.Add(-1)
		conn.Close()
		return nil, "", false
	}
	conn.SetDeadline(time.Time{})
	return flt, text, true
}

// Keepalive settings of client connections: an idle peer that vanished without a FIN
// (power loss, a cut cable) is found within KeepIdle + KeepCount*KeepInterval (60 s);
// one that stops acknowledging records is dropped after userTimeout, where the
// kernel's retransmissions alone would take about 15 minutes.
var keepalive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}

const userTimeout = 60 * time.Second

// setKeepalive applies the keepalive settings to a TCP connection (not to Unix sockets).
func setKeepalive(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	tc.SetKeepAliveConfig(keepalive)
	if raw, err := tc.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout/time.Millisecond))
		})
	}
}

// refuse answers a hello with a refusal, counts it and closes the connection.
func (s *Server) refuse(conn net.Conn, addr string, status byte, msg string) {
	msg = clipEcho(msg)
	s.refused.Add(1)
	s.cfg.Logf("client %s: refused: %s", addr, msg)
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	conn.Write(appendReply(nil, status, msg))
	conn.Close()
}

// tally describes what c was sent and missed, for the log; c.mu is held.
func (c *client) tally() string {
	t := fmt.Sprintf("%d records, %d dropped for reading too slowly", c.queued, c.lost)
	if c.unoffered > 0 {
		t += fmt.Sprintf(", %d not offered (the fan-out fell behind the writer)", c.unoffered)
	}
	return t
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
	c.mu.Lock()
	c.removed = true
	c.pending = nil
	s.queueBytes.Add(-c.mem)
	c.mem = 0
	c.mu.Unlock()
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

// keepSpare returns the buffer just sent for reuse, or nil when it is large: an idle
// client keeps no more than 64 KiB of the memory a burst made it take.
func (s *Server) keepSpare(c *client, buf []byte) []byte {
	if cap(buf) <= 64<<10 {
		return buf
	}
	c.mu.Lock()
	if !c.removed {
		c.mem -= int64(cap(buf))
		s.queueBytes.Add(-int64(cap(buf)))
	}
	c.mu.Unlock()
	return nil
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
	var loggedLost, loggedUnoffered uint64
	for {
		c.mu.Lock()
		buf := c.pending
		c.pending = spare[:0]
		drops := c.dropped
		c.dropped = 0
		closing := c.closing
		lost, unoffered := c.lost, c.unoffered
		c.mu.Unlock()
		if s.argus { // Argus records go as they are, unframed
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
		for p := buf; len(p) > 0 && !s.argus; {
			n := min(len(p), MaxFrame)
			hdr = appendFrameHeader(hdr[:0], FrameData, n)
			bw.Write(hdr)
			if _, err := bw.Write(p[:n]); err != nil {
				return err
			}
			p = p[n:]
		}
		spare = s.keepSpare(c, buf)
		if drops > 0 {
			// Argus's protocol has no drop notice: its clients' drops are counted and
			// logged only.
			if !s.argus {
				var v [binary.MaxVarintLen64]byte
				k := binary.PutUvarint(v[:], drops)
				hdr = appendFrameHeader(hdr[:0], FrameDrops, k)
				hdr = append(hdr, v[:k]...)
				if _, err := bw.Write(hdr); err != nil {
					return err
				}
			}
			if time.Since(lastLog) >= 10*time.Second {
				if n := lost - loggedLost; n > 0 {
					s.cfg.Logf("client %s reads too slowly: %d records dropped for it", c.addr, n)
				}
				if n := unoffered - loggedUnoffered; n > 0 {
					s.cfg.Logf("client %s: %d records not offered to it: the fan-out fell behind the writer", c.addr, n)
				}
				lastLog, loggedLost, loggedUnoffered = time.Now(), lost, unoffered
			}
		}
		if len(buf) > 0 || drops > 0 {
			continue
		}
		if closing {
			if !s.argus { // an Argus stream just ends
				bw.Write([]byte{FrameEnd, 0})
			}
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

// CheckLimits range-checks the -P flags that size the service (--client-buffer,
// --max-clients, --queue-memory), so that a mistyped size is one line naming the flag
// rather than a service that queues nothing or asks for unbounded memory.
func CheckLimits(clientBuffer, maxClients int, queueMemory int64) error {
	switch {
	case clientBuffer < 1<<10 || clientBuffer > 1<<30:
		return fmt.Errorf("--client-buffer %d: want 1024 to %d bytes", clientBuffer, 1<<30)
	case maxClients < 1 || maxClients > 1<<16:
		return fmt.Errorf("--max-clients %d: want 1 to %d", maxClients, 1<<16)
	case queueMemory < 1<<10 || queueMemory > 1<<40:
		return fmt.Errorf("--queue-memory %d: want 1024 to %d bytes", queueMemory, int64(1)<<40)
	}
	return nil
}
