package recordsvc

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Connections that have not sent their hello yet are bounded apart from the clients:
// at most helloSlots at once, of which helloPerPeer from one peer. A new connection
// beyond either bound displaces the oldest waiting one (of its peer, else of all) if
// that one has waited silentAfter, as sshd's MaxStartups drops early connections;
// otherwise the new connection is answered "busy". A peer that opens connections and
// sends nothing then holds at most helloPerPeer slots, and none for long once others
// connect; a client that sends its hello at once is served; and a burst of clients that
// do send their hellos is never cut off before its hellos are read.
const (
	helloSlots   = 32
	helloPerPeer = 8
	silentAfter  = time.Second
)

// waiter is one connection waiting for its hello.
type waiter struct {
	raw       net.Conn // under any TLS: a deadline set on it ends the handshake and the hello
	peer      string
	since     time.Time
	displaced bool // under waitList.mu
}

// waitList holds the connections waiting for their hello, oldest first.
type waitList struct {
	mu   sync.Mutex
	list []*waiter
	// closing counts displaced connections not yet closed: a burst of connections can
	// displace faster than the displaced close, and accept then waits for them.
	closing atomic.Int64
}

// add registers w, displacing the oldest waiting connection of w's peer when it has
// helloPerPeer already, else the oldest of all when there are helloSlots. When that
// one has waited less than silentAfter, w is not registered: add returns a reason to
// answer it "busy".
func (l *waitList) add(w *waiter) (busy string) {
	l.mu.Lock()
	victim, n := -1, 0
	for i, x := range l.list {
		if x.peer == w.peer {
			if n == 0 {
				victim = i
			}
			n++
		}
	}
	switch {
	case n >= helloPerPeer:
		busy = fmt.Sprintf("%d connections from %s are waiting for their hello already", n, w.peer)
	case len(l.list) >= helloSlots:
		victim, busy = 0, fmt.Sprintf("%d connections are waiting for their hello already", len(l.list))
	default:
		victim = -1
	}
	var old *waiter
	if victim >= 0 {
		if w.since.Sub(l.list[victim].since) < silentAfter {
			l.mu.Unlock()
			return busy
		}
		old = l.list[victim]
		old.displaced = true
		l.closing.Add(1)
		l.list = slices.Delete(l.list, victim, victim+1)
	}
	l.list = append(l.list, w)
	l.mu.Unlock()
	if old != nil {
		old.raw.SetDeadline(time.Now()) // its hello read fails at once
	}
	return ""
}

// done removes w, whose hello has been read or has failed; it reports whether w had
// been displaced by a newer connection (its caller then closes it and calls closed).
func (l *waitList) done(w *waiter) (displaced bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.Index(l.list, w); i >= 0 {
		l.list = slices.Delete(l.list, i, i+1)
	}
	return w.displaced
}

// closed notes that a displaced connection has been closed.
func (l *waitList) closed() { l.closing.Add(-1) }

func (l *waitList) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.list)
}

// peerKey names the peer whose waiting connections are bounded together: its IPv4
// address, its IPv6 /64 (one host commonly holds a whole /64), or on a Unix socket its
// user id.
func peerKey(conn net.Conn) string {
	switch a := conn.RemoteAddr().(type) {
	case *net.TCPAddr:
		if ip4 := a.IP.To4(); ip4 != nil {
			return ip4.String()
		}
		return a.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	if uc, ok := conn.(*net.UnixConn); ok {
		key := "unix"
		if raw, err := uc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) {
				if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
					key = "uid " + strconv.FormatUint(uint64(cred.Uid), 10)
				}
			})
		}
		return key
	}
	return conn.RemoteAddr().String()
}

// logLimit keeps a flood of failed hellos from flooding the log: the first is logged,
// then at most one line per interval, saying how many were not logged.
type logLimit struct {
	mu       sync.Mutex
	last     time.Time
	unlogged int
}

const logInterval = 10 * time.Second

func (l *logLimit) log(logf func(string, ...any), format string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < logInterval {
		l.unlogged++
		l.mu.Unlock()
		return
	}
	n := l.unlogged
	l.last, l.unlogged = now, 0
	l.mu.Unlock()
	if n > 0 {
		format += " (and %d more connections without a valid hello since the last such line)"
		args = append(args, n)
	}
	logf(format, args...)
}
