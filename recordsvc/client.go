package recordsvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"panoptes/record"
)

// DialConfig configures a client connection.
type DialConfig struct {
	TLS     *tls.Config   // nil: plain TCP
	Timeout time.Duration // for connecting, the TLS handshake and the server's answer; 0 means 10 s
	// Drops is called with each drop notice: records the server dropped for this client
	// because it read too slowly or because the server's fan-out fell behind its writer
	// (the notice does not say which; the server's log does). It runs in the goroutine
	// that calls Read.
	Drops func(n uint64)
}

// Stream is a client's connection to a record service.
type Stream struct {
	addr string
	conn net.Conn
	fr   *frameReader
	rd   *record.Reader
	n    uint64
}

// Dial connects to the service at addr (HOST:PORT, or unix:PATH), sends filterText (empty: every
// record) and waits for the server to accept it. A refused filter returns a
// *RefusedError carrying the server's one-line message.
func Dial(ctx context.Context, addr, filterText string, cfg DialConfig) (*Stream, error) {
	if len(filterText) > MaxFilter {
		return nil, fmt.Errorf("filter of %d bytes is longer than %d", len(filterText), MaxFilter)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	network, address := dialNetwork(addr)
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		// Every error from Dial starts with addr, once: "HOST:PORT: connect: connection refused".
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	conn.SetDeadline(time.Now().Add(cfg.Timeout))
	if cfg.TLS != nil {
		tc := cfg.TLS
		if tc.ServerName == "" && !tc.InsecureSkipVerify {
			tc = tc.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		t := tls.Client(conn, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: TLS: %w", addr, err)
		}
		conn = t
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReaderSize(conn, 64<<10)
	if _, err := conn.Write(appendHello(nil, filterText)); err != nil {
		// A server with no room answers "busy" before reading the hello, and may have
		// closed already: its answer says more than the failed write.
		if rerr := readReply(br); errors.Is(rerr, ErrBusy) {
			err = rerr
		}
		conn.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	if err := readReply(br); err != nil {
		conn.Close()
		var ref *RefusedError
		if errors.As(err, &ref) {
			return nil, err
		}
		if errors.Is(err, ErrProtocol) {
			return nil, fmt.Errorf("%s: %w (is it a Panoptes sensor or relay, and does it speak TLS? An Argus sensor or radium is read with -S argus://HOST[:PORT])", addr, err)
		}
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	s := &Stream{addr: addr, conn: conn, fr: &frameReader{r: br, drops: cfg.Drops}}
	s.rd, err = record.NewReader(s.fr, addr)
	if err != nil {
		conn.Close()
		return nil, s.wrap(err)
	}
	conn.SetDeadline(time.Time{})
	return s, nil
}

// Read reads the next record into r. It returns io.EOF when the server ended the
// stream, and an error wrapping ErrLost when the connection ended without that.
func (s *Stream) Read(r *record.Record) error {
	if err := s.rd.Read(r); err != nil {
		return s.wrap(err)
	}
	s.n++
	return nil
}

func (s *Stream) wrap(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if s.fr.err != nil && s.fr.err != io.EOF {
		err = s.fr.err
	}
	return fmt.Errorf("%s: %w (after %d records)", s.addr, err, s.n)
}

// Addr is the server's address as given to Dial.
func (s *Stream) Addr() string { return s.addr }

// Count is the number of records read so far.
func (s *Stream) Count() uint64 { return s.n }

// Close closes the connection; a Read in progress returns an error.
func (s *Stream) Close() error { return s.conn.Close() }
