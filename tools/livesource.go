package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"

	"panoptes/argus"
	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/recordsvc"
)

// liveSource holds the flags that read records from live record services (`-S`, as
// ra -S): sensors and relays serving with -P, and Argus sensors and radium
// (argus://HOST[:PORT]).
type liveSource struct {
	servers           []string
	caFile, cert, key string
	filterWords       []string // the filter as typed, sent to the servers unless "local ..."
}

func (l *liveSource) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&l.servers, "server", "S", nil, "read records live from the Panoptes sensor or relay at `HOST:PORT` (tls://HOST:PORT for TLS), or from the Argus sensor or radium at argus://HOST[:PORT] (port 561 by default), until it ends the stream or SIGINT; repeatable")
	fs.StringVar(&l.caFile, "tls-ca", "", "with -S: verify the servers' TLS certificates against the CAs in this PEM `FILE` (implies TLS)")
	fs.StringVar(&l.cert, "tls-cert", "", "with -S: present this client certificate (PEM `FILE`; implies TLS)")
	fs.StringVar(&l.key, "tls-key", "", "with -S: the client certificate's key (PEM `FILE`)")
}

// filterText joins the filter words (a leading lone "-" is ra's old separator) and
// takes off a leading "local", which asks ra to filter on the client only.
func filterText(args []string) (text string, local bool) {
	if len(args) > 0 && args[0] == "-" {
		args = args[1:]
	}
	text = strings.TrimSpace(strings.Join(args, " "))
	if w, rest, _ := strings.Cut(text, " "); strings.EqualFold(w, "local") {
		return strings.TrimSpace(rest), true
	}
	return text, false
}

// liveStream is a connection to a Panoptes record service or to an Argus server.
type liveStream interface {
	Read(*record.Record) error
	Close() error
}

// scanLive reads every -S server at once until each ends its stream (or SIGINT), and
// calls fn with each record, in the order they arrive; fn returns false to stop. The
// filter goes to the servers (unless it starts with "local"); a server that refuses
// it is a usage error. A drop notice, or a connection lost mid-stream, is a warning:
// the records received are kept.
func scanLive(prog string, l *liveSource, stderr io.Writer, fn func(*record.Record) bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	remote, local := filterText(l.filterWords)
	if local {
		remote = ""
	}
	overTLS := recordsvc.TLSServers(l.servers, l.caFile != "" || l.cert != "" || l.key != "")
	useTLS := l.caFile != "" || l.cert != "" || l.key != "" || slices.ContainsFunc(l.servers, overTLS)
	cfg := recordsvc.DialConfig{}
	if useTLS {
		var err error
		if cfg.TLS, err = recordsvc.ClientTLS(l.caFile, l.cert, l.key); err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	warnf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "panoptes %s: warning: "+format+"\n", append([]any{prog}, args...)...)
	}
	streams := make([]liveStream, 0, len(l.servers))
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	for _, addr := range l.servers {
		if argus.IsURL(addr) {
			hostPort, err := argus.ServerAddr(addr)
			if err != nil {
				return cli.Usagef("-S %v", err)
			}
			s, err := argus.Dial(ctx, hostPort, remote, 0)
			if err != nil {
				var ref *argus.RefusedError
				if errors.As(err, &ref) {
					return cli.Usagef("-S %v", err)
				}
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("-S %w", err)
			}
			streams = append(streams, s)
			continue
		}
		c := cfg
		if !overTLS(addr) {
			c.TLS = nil
		}
		addr = strings.TrimPrefix(addr, "tls://")
		c.Drops = func(n uint64) {
			warnf("%s dropped %d records for this client (it read too slowly, or the server fell behind; its log says which)", addr, n)
		}
		s, err := recordsvc.Dial(ctx, addr, remote, c)
		if err != nil {
			var ref *recordsvc.RefusedError
			if errors.As(err, &ref) {
				return cli.Usagef("-S %s refused the filter: %s", addr, ref.Msg)
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("-S %w", err) // Dial's errors start with the address
		}
		streams = append(streams, s)
	}
	// SIGINT closes the connections; the reads then end and the output is kept.
	context.AfterFunc(ctx, func() {
		for _, s := range streams {
			s.Close()
		}
	})
	ended := func(err error) {
		if err != io.EOF && ctx.Err() == nil {
			warnf("%v (the records before it are used)", err)
		}
	}
	if len(streams) == 1 {
		var rec record.Record
		for {
			if err := streams[0].Read(&rec); err != nil {
				ended(err)
				return nil
			}
			if !fn(&rec) {
				return nil
			}
		}
	}
	// Several servers: one reader each, merged in arrival order.
	recs := make(chan record.Record, 1024)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rec record.Record
			for {
				if err := s.Read(&rec); err != nil {
					ended(err)
					return
				}
				r := rec
				if rec.Man != nil { // the reader reuses its management counters
					m := *rec.Man
					r.Man = &m
				}
				select {
				case recs <- r:
				case <-quit:
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(recs) }()
	defer func() {
		close(quit)
		for _, s := range streams {
			s.Close()
		}
		for range recs {
		}
	}()
	for r := range recs {
		if !fn(&r) {
			return nil
		}
	}
	return nil
}
