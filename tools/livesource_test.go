package tools

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"panoptes/internal/cli"
	"panoptes/recordsvc"
)

// serveOnce runs args (with ADDR replaced by a live server's address) through ReadMain
// while the server publishes the fixture once to every client, then ends the stream.
// It returns the output, stderr, the server's log and the error.
func serveOnce(t *testing.T, args []string, clients int) (out, stderr, log string, err error) {
	t.Helper()
	var logMu sync.Mutex
	var logb strings.Builder
	srv, lerr := recordsvc.Listen("127.0.0.1:0", recordsvc.Config{Logf: func(f string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(&logb, f+"\n", a...)
	}})
	if lerr != nil {
		t.Fatal(lerr)
	}
	args = substitute(args, "")
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "ADDR", srv.Addr().String())
	}
	var outb, errb bytes.Buffer
	done := make(chan error)
	go func() { done <- ReadMain(args, nil, &outb, &errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Clients() < clients {
		select {
		case err := <-done: // refused, or failed before joining
			srv.Close(time.Second)
			logMu.Lock()
			defer logMu.Unlock()
			return outb.String(), errb.String(), logb.String(), err
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("client did not join")
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, r := range fixture() {
		srv.Publish(&r)
	}
	srv.Close(5 * time.Second)
	err = <-done
	logMu.Lock()
	defer logMu.Unlock()
	return outb.String(), errb.String(), logb.String(), err
}

// TestReadLive: `read -S` prints what `read -r` prints for the same records, with the
// filter applied on the server (or, with "local", on the client only).
func TestReadLive(t *testing.T) {
	file := writeStream(t, fixture())
	for _, tc := range []struct {
		name       string
		live, file []string
		serverSees string // the filter the server's log shows
	}{
		{"all", []string{"-S", "ADDR"}, []string{"-r", file}, "filter (none)"},
		{"filter", []string{"-S", "ADDR", "-s", "saddr,daddr,proto,pkts", "--", "tcp", "or", "arp"}, []string{"-r", file, "-s", "saddr,daddr,proto,pkts", "--", "tcp", "or", "arp"}, "filter tcp or arp"},
		{"local filter", []string{"-S", "ADDR", "--", "local udp"}, []string{"-r", file, "--", "udp"}, "filter (none)"},
		{"json", []string{"-S", "ADDR", "--json", "--", "-", "man"}, []string{"-r", file, "--json", "--", "man"}, "filter man"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, stderr, log, err := serveOnce(t, tc.live, 1)
			if err != nil {
				t.Fatalf("read -S: %v (%s)", err, stderr)
			}
			want, _, err := runRead(tc.file, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("read -S printed\n%s\nread -r printed\n%s", got, want)
			}
			if !strings.Contains(log, tc.serverSees) {
				t.Fatalf("server log does not show %q:\n%s", tc.serverSees, log)
			}
		})
	}
}

func TestReadLiveErrors(t *testing.T) {
	_, _, _, err := serveOnce(t, []string{"-S", "ADDR", "--", "tcp and foo 1"}, 1)
	var ue *cli.UsageError
	if !errors.As(err, &ue) || cli.ExitCode(err) != cli.ExitUsage {
		t.Fatalf("bad remote filter: %v, want a usage error", err)
	}
	// The local compile fails first, as ra does; a filter only the server rejects would
	// be refused by it with the same line.
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `unexpected "foo" at column 9`) {
		t.Fatalf("error %q", err)
	}
	_, _, _, err = serveOnce(t, []string{"-S", "ADDR", "--", "port 9999"}, 1)
	if !errors.Is(err, cli.ErrNoMatch) {
		t.Fatalf("no port 9999 records live: %v, want ErrNoMatch", err)
	}
	_, _, err = runRead([]string{"-S", "127.0.0.1:1"}, nil)
	if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("nothing listening: %v", err)
	}
}
