package argus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"panoptes/record"
)

// The live protocol of Argus (argus -P, radium -P; port 561), as argus 3.0.8's
// ArgusOutput.c serves it and ra's ArgusReadConnection speaks it:
//
//  1. On accepting a client the server sends its initial MAR (128 bytes, version 3,
//     cause START, argusid the cookie CookieV3): the same record that starts a file.
//  2. The client may send "FILTER: <expression>" (no terminator: one write, read by
//     one recv). ra sends "FILTER: man or (<expression>)" so that the management
//     records still pass. The server answers two bytes, "OK" or "ER" (a filter it
//     cannot compile).
//  3. The client sends "START: "; from then on the server writes Argus records (FARs
//     and its periodic MARs), each as in a file, until either side closes. A client
//     that stops sends "DONE: " first. ("MODEL: ", "PROJECT: " and "FILE: " are
//     accepted and ignored by the server.)
//
// There is no framing and no drop notice: a server that cannot keep up with a client
// drops records for it silently. Argus's optional SASL negotiation (the MAR's status
// carrying ARGUS_SASL_AUTHENTICATE) is not spoken here.

// Client commands of the live protocol.
const (
	CmdStart  = "START: "
	CmdDone   = "DONE: "
	CmdFilter = "FILTER: "
	CmdModel  = "MODEL: "
	CmdProj   = "PROJECT: "
	CmdFile   = "FILE: "
)

// DefaultPort is the port Argus sensors and radium serve records on.
const DefaultPort = "561"

// URLPrefix marks an Argus server where a Panoptes record service could be named:
// argus://HOST[:PORT].
const URLPrefix = "argus://"

// IsURL reports whether s names an Argus server (argus://HOST[:PORT]).
func IsURL(s string) bool { return strings.HasPrefix(s, URLPrefix) }

// ServerAddr returns the HOST:PORT of argus://HOST[:PORT], with DefaultPort when the
// port is left out ("argus://[::1]" is the IPv6 loopback on 561).
func ServerAddr(u string) (string, error) {
	rest, ok := strings.CutPrefix(u, URLPrefix)
	if !ok {
		return "", fmt.Errorf("%q: want argus://HOST[:PORT]", u)
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" || strings.ContainsAny(rest, "/?#@ ") {
		return "", fmt.Errorf("%q: want argus://HOST[:PORT]", u)
	}
	if host, port, err := net.SplitHostPort(rest); err == nil {
		if host == "" || port == "" {
			return "", fmt.Errorf("%q: want argus://HOST[:PORT]", u)
		}
		return rest, nil
	}
	host := rest
	if inner, ok := strings.CutPrefix(rest, "["); ok { // [IPv6] without a port
		host, ok = strings.CutSuffix(inner, "]")
		if !ok || host == "" {
			return "", fmt.Errorf("%q: want argus://HOST[:PORT]", u)
		}
	}
	// A colon left is a bare IPv6 address (argus://::1) or a mistyped port.
	if strings.ContainsAny(host, "[]") || strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", fmt.Errorf("%q: want argus://HOST[:PORT]", u)
	}
	return net.JoinHostPort(host, DefaultPort), nil
}

// RefusedError is an Argus server's refusal of a client's filter ("ER").
type RefusedError struct {
	Addr, Filter string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: the Argus server refused the filter %q (it compiles filters in its own language; \"local ...\" filters on this side only)", e.Addr, e.Filter)
}

// ErrNotServer is returned by Dial when the peer does not greet as an Argus server.
var ErrNotServer = errors.New("not an Argus server: its first bytes are not an Argus version-3 MAR")

// Stream is a client's connection to an Argus server.
type Stream struct {
	addr string
	conn net.Conn
	rd   *Reader
	n    uint64
}

// Dial connects to the Argus server at addr (HOST:PORT), reads its initial MAR, sends
// filterText as ra does ("man or (...)", so that management records still come; empty:
// every record), then START. timeout bounds the connection and the greeting (0: 10 s).
// A filter the server cannot compile returns a *RefusedError.
func Dial(ctx context.Context, addr, filterText string, timeout time.Duration) (*Stream, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	s, err := greet(ctx, conn, addr, filterText, timeout)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func greet(ctx context.Context, conn net.Conn, addr, filterText string, timeout time.Duration) (*Stream, error) {
	conn.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	mar := make([]byte, MARLen)
	if k, err := io.ReadFull(conn, mar); err != nil {
		if k >= 12 && !IsMagic(mar) || k > 0 && mar[0] != TypeMAR|Version3 {
			return nil, fmt.Errorf("%s: %w", addr, ErrNotServer)
		}
		return nil, fmt.Errorf("%s: reading the server's greeting: %w", addr, err)
	}
	if !IsMagic(mar) {
		if mar[0] == TypeMAR|Version3 && mar[1]&CauseError != 0 {
			return nil, fmt.Errorf("%s: the Argus server refused the connection (too many clients?)", addr)
		}
		return nil, fmt.Errorf("%s: %w", addr, ErrNotServer)
	}
	if n := int(mar[2])<<8 | int(mar[3]); n*4 > MARLen { // a longer greeting: take the rest
		more := make([]byte, n*4-MARLen)
		if _, err := io.ReadFull(conn, more); err != nil {
			return nil, fmt.Errorf("%s: reading the server's greeting: %w", addr, err)
		}
		mar = append(mar, more...)
	}
	if filterText = strings.TrimSpace(filterText); filterText != "" {
		if _, err := conn.Write([]byte(CmdFilter + "man or (" + filterText + ")")); err != nil {
			return nil, fmt.Errorf("%s: sending the filter: %w", addr, err)
		}
		var reply [2]byte
		if _, err := io.ReadFull(conn, reply[:]); err != nil {
			return nil, fmt.Errorf("%s: waiting for the server to take the filter: %w", addr, err)
		}
		if string(reply[:]) != "OK" {
			return nil, &RefusedError{Addr: addr, Filter: filterText}
		}
	}
	if _, err := conn.Write([]byte(CmdStart)); err != nil {
		return nil, fmt.Errorf("%s: sending START: %w", addr, err)
	}
	rd, err := NewReader(io.MultiReader(bytes.NewReader(mar), conn), addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return &Stream{addr: addr, conn: conn, rd: rd}, nil
}

// Read reads the next record into r: the server's initial MAR first (a management
// record), then what it sends. It returns io.EOF when the server closed the connection
// between records.
func (s *Stream) Read(r *record.Record) error {
	if err := s.rd.Read(r); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("%w (after %d records)", err, s.n)
	}
	s.n++
	return nil
}

// Addr is the server's address as given to Dial.
func (s *Stream) Addr() string { return s.addr }

// Count is the number of records read so far.
func (s *Stream) Count() uint64 { return s.n }

// SkippedSummary describes the Argus DSRs and records received that Panoptes does not
// model ("" if none).
func (s *Stream) SkippedSummary() string { return s.rd.SkippedSummary() }

// Close tells the server the client is done, as ra does, and closes the connection; a
// Read in progress returns an error.
func (s *Stream) Close() error {
	s.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	s.conn.Write([]byte(CmdDone))
	return s.conn.Close()
}
