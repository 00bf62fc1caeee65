package recordsvc

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// refuseSlack is how many connections beyond the served clients and the helloSlots
// waiting for their hello may be open at once while they are refused or closed;
// beyond it, a new connection is answered "busy" and closed at once.
const refuseSlack = 8

// setLimits sets the client and connection bounds: MaxClients, or fewer when the
// process's RLIMIT_NOFILE, less the descriptors open now and ReserveFDs, has no room
// for them. A client must never take the descriptor the archive needs for its next
// file: clients are refused first.
func (s *Server) setLimits() {
	s.clientLimit = int64(s.cfg.MaxClients)
	room, nofile, open, ok := fdRoom(s.cfg.ReserveFDs)
	if ok && room-helloSlots-refuseSlack < s.clientLimit {
		s.clientLimit = max(room-helloSlots-refuseSlack, 0)
		s.cfg.Logf("serving at most %d clients: RLIMIT_NOFILE %d, %d descriptors open, %d kept for the archive and capture (ulimit -n raises it)",
			s.clientLimit, nofile, open, s.cfg.ReserveFDs)
	}
	s.connLimit = s.clientLimit + helloSlots + refuseSlack
}

// busyReply answers a connection beyond connLimit, saying what holds the descriptors.
func (s *Server) busyReply() []byte {
	return appendReply(nil, statusBusy, fmt.Sprintf("no room for another connection: %d clients served (at most %d), %d connections waiting for their hello",
		min(s.admitted.Load(), s.clientLimit), s.clientLimit, s.waiting.len()))
}

// fdRoom returns how many more descriptors the process may open, beyond reserve; ok is
// false when that cannot be known.
func fdRoom(reserve int) (room, nofile, open int64, ok bool) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		return 0, 0, 0, false
	}
	n, err := openFDs()
	if err != nil {
		return 0, 0, 0, false
	}
	nofile, open = int64(min(lim.Cur, 1<<40)), int64(n)
	return nofile - open - int64(reserve), nofile, open, true
}

// openFDs counts the process's open file descriptors.
func openFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("counting open files: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("counting open files: %w", err)
	}
	return len(names) - 1, nil // less the directory itself
}
