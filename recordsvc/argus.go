package recordsvc

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"panoptes/argus"
	"panoptes/filter"
	"panoptes/record"
)

// An Argus service (ListenArgus) serves Argus's own clients (ra -S, radium -S,
// rasqlinsert -S) with the protocol of argus -P, described in package argus
// (client.go): the server's initial MAR, the client's optional "FILTER: " answered
// "OK" or "ER", its "START: ", then Argus records. Everything else is the record
// service's: each client's filter and bounded queue, the client limits, the fan-out
// that never blocks the writer, and every drop counted (Argus's protocol has no drop
// notice, so drops are logged and counted in Stats only).

// ListenArgus starts an Argus service on addr (TCP).
func ListenArgus(addr string, cfg Config) (*Server, error) {
	if strings.HasPrefix(addr, UnixPrefix) {
		return nil, fmt.Errorf("%s: Argus clients connect over TCP only", addr)
	}
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	s := ServeArgus(ln, cfg)
	if s.clientLimit < 1 {
		s.Close(0)
		n, _ := openFDs()
		return nil, fmt.Errorf("no file descriptors left for clients: %d open, %d kept for the archive and capture; raise RLIMIT_NOFILE (ulimit -n)", n, s.cfg.ReserveFDs)
	}
	return s, nil
}

// ServeArgus starts an Argus service on a listener it then owns. cfg.TLS is ignored:
// Argus clients speak plain TCP (or SASL, which is not offered).
func ServeArgus(ln net.Listener, cfg Config) *Server {
	cfg.TLS = nil
	return serve(ln, cfg, true)
}

// maxArgusCommand bounds what an Argus client may send before START (argus reads its
// commands into a buffer of MAXSTRLEN, 4096 bytes).
const maxArgusCommand = 4096

// argusHello greets an Argus client with the initial MAR and reads its commands until
// START, within HelloTimeout; it compiles the client's filter and answers it "OK" or
// "ER" (a filter that does not compile is refused and the connection closed, as ra
// then gives up). The result is as for hello.
func (s *Server) argusHello(conn net.Conn, addr string, w *waiter) (flt *filter.Filter, text string, ok bool) {
	stop := context.AfterFunc(s.ctx, func() { conn.SetDeadline(time.Now()) })
	conn.SetDeadline(time.Now().Add(s.cfg.HelloTimeout))
	// refuse counts the refusal before it sends reply (if any): a client that has been
	// told it was refused finds the refusal in Stats.
	refuse := func(reply string, format string, args ...any) (*filter.Filter, string, bool) {
		displaced := s.waiting.done(w)
		stop()
		s.refused.Add(1)
		if reply != "" {
			conn.Write([]byte(reply))
		}
		s.helloLog.log(s.cfg.Logf, "argus client %s: "+format, append([]any{addr}, args...)...)
		conn.Close()
		if displaced {
			s.waiting.closed()
		}
		return nil, "", false
	}
	fail := func(format string, args ...any) (*filter.Filter, string, bool) {
		return refuse("", format, args...)
	}
	if _, err := conn.Write(argus.AppendMAR(nil, nil, time.Now())); err != nil {
		return fail("%v", err)
	}
	buf := make([]byte, maxArgusCommand)
	started := false
	for !started {
		n, err := conn.Read(buf)
		if n == 0 && err != nil {
			if w.displaced {
				return fail("closed: no START after %v while newer connections waited (at most %d at once, %d from one address)",
					silentAfter, helloSlots, helloPerPeer)
			}
			return fail("no START: %v", err)
		}
		cmds, err := parseArgusCommands(string(buf[:n]))
		if err != nil {
			return fail("%v", err)
		}
		for _, c := range cmds {
			switch c.name {
			case argus.CmdFilter:
				f, err := filter.Compile(c.arg)
				if err != nil {
					return refuse("ER", "refused filter %s: %v", clipEcho(c.arg), err)
				}
				if _, err := conn.Write([]byte("OK")); err != nil {
					return fail("%v", err)
				}
				flt, text = f, c.arg
			case argus.CmdStart:
				started = true
			case argus.CmdDone:
				return fail("sent DONE before START")
			}
		}
	}
	if displaced := s.waiting.done(w); displaced {
		stop()
		conn.Close()
		s.waiting.closed()
		return nil, "", false
	}
	if s.admitted.Add(1) > s.clientLimit {
		s.admitted.Add(-1)
		stop()
		s.refused.Add(1)
		s.cfg.Logf("argus client %s: refused: %d clients already, the most this server takes", addr, s.clientLimit)
		conn.Close()
		return nil, "", false
	}
	if flt == nil {
		flt, _ = filter.Compile("") // every record
	}
	if !stop() { // Close began during the greeting
		s.admitted.Add(-1)
		conn.Close()
		return nil, "", false
	}
	conn.SetDeadline(time.Time{})
	return flt, text, true
}

// argusCommand is one command an Argus client sent: its name (argus.CmdStart...) and
// what followed it.
type argusCommand struct{ name, arg string }

var argusCommands = []string{argus.CmdStart, argus.CmdDone, argus.CmdFilter, argus.CmdModel, argus.CmdProj, argus.CmdFile}

// parseArgusCommands splits what one read returned into commands. Argus's clients write
// each command whole with no terminator and wait for the answer to FILTER, so a read
// holds whole commands; should several arrive together, each ends where the next
// command's name begins. Anything else (a Panoptes hello, unprintable bytes) is an
// error naming the offset.
func parseArgusCommands(b string) ([]argusCommand, error) {
	for i := 0; i < len(b); i++ {
		if c := b[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c >= 0x7f {
			return nil, fmt.Errorf("not an Argus client: unprintable byte 0x%02x at offset %d of its command", c, i)
		}
	}
	var cmds []argusCommand
	rest := b
	for off := 0; strings.TrimSpace(rest) != ""; {
		trimmed := strings.TrimLeft(rest, " \t\r\n")
		off += len(rest) - len(trimmed)
		rest = trimmed
		name := ""
		for _, c := range argusCommands {
			if strings.HasPrefix(rest, c) {
				name = c
				break
			}
		}
		if name == "" {
			return nil, fmt.Errorf("not an Argus client command at offset %d: %s", off, clipEcho(rest))
		}
		arg := rest[len(name):]
		end := len(arg)
		for _, c := range argusCommands {
			if i := strings.Index(arg, c); i >= 0 && i < end {
				end = i
			}
		}
		cmds = append(cmds, argusCommand{name: name, arg: strings.TrimSpace(arg[:end])})
		off += len(name) + end
		rest = arg[end:]
	}
	return cmds, nil
}

// encodeArgusBatch encodes each record once, as an Argus record, for all clients;
// record i is enc[ends[i-1]:ends[i]].
func encodeArgusBatch(enc []byte, ends []int, batch []record.Record) ([]byte, []int) {
	for i := range batch {
		if batch[i].Kind == record.KindMan {
			enc = argus.AppendMAR(enc, &batch[i], time.Time{})
		} else {
			enc = argus.AppendFAR(enc, &batch[i])
		}
		ends = append(ends, len(enc))
	}
	return enc, ends
}
