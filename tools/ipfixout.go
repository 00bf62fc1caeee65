package tools

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/pflag"

	"panoptes/internal/cli"
	"panoptes/ipfix"
	"panoptes/record"
)

// ipfixFlags holds read's flow-export flags.
type ipfixFlags struct {
	dest string
	rate int
}

// ipfixFlag registers --ipfix, the flow-export destination of read, and --ipfix-rate.
func ipfixFlag(fs *pflag.FlagSet) *ipfixFlags {
	var f ipfixFlags
	fs.StringVar(&f.dest, "ipfix", "", "send the selected records as bidirectional IPFIX (RFC 5103) to `[udp://|tcp://]HOST:PORT` instead of printing them")
	fs.IntVar(&f.rate, "ipfix-rate", 10000, "with --ipfix over UDP, send at most `N` messages a second (0: no limit); UDP has no flow control")
	return &f
}

// dialIPFIX connects to an --ipfix destination ([udp://|tcp://]HOST:PORT).
func dialIPFIX(dest string) (net.Conn, error) {
	network, addr, err := ipfix.ParseDestination(dest)
	if err != nil {
		return nil, cli.Usagef("--ipfix %w", err)
	}
	conn, err := ipfix.Dial(network, addr)
	if err != nil {
		return nil, fmt.Errorf("--ipfix %s: %w", dest, err)
	}
	return conn, nil
}

// ipfixSink is read's output with --ipfix: records go to an IPFIX exporter.
type ipfixSink struct {
	e      *ipfix.Exporter
	conn   net.Conn
	stderr io.Writer
}

func newIPFIXSink(f *ipfixFlags, stderr io.Writer) (*ipfixSink, error) {
	if f.rate < 0 {
		return nil, cli.Usagef("--ipfix-rate %d: must not be negative", f.rate)
	}
	conn, err := dialIPFIX(f.dest)
	if err != nil {
		return nil, err
	}
	opts := ipfix.ExporterOptions{}
	if f.rate > 0 {
		opts.Pace = time.Second / time.Duration(f.rate)
	}
	return &ipfixSink{e: ipfix.NewExporter(conn, opts), conn: conn, stderr: stderr}, nil
}

func (s *ipfixSink) put(r *record.Record, _ uint32) error { return s.e.Write(r) }

func (s *ipfixSink) close() error {
	err := s.e.Flush()
	if cerr := s.conn.Close(); err == nil {
		err = cerr
	}
	st := s.e.Stats()
	fmt.Fprintf(s.stderr, "panoptes read: --ipfix %s: %d records in %d messages (%d bytes); %d not exported (management or non-IP)\n",
		s.conn.RemoteAddr(), st.Records, st.Messages, st.Bytes, st.Skipped)
	return err
}

func (s *ipfixSink) abort() {
	s.e.Flush()
	s.conn.Close()
}
