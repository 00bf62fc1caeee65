package tools

import (
	"fmt"
	"io"
	"net"

	"github.com/spf13/pflag"

	"panoptes/internal/cli"
	"panoptes/ipfix"
	"panoptes/record"
)

// ipfixFlag registers --ipfix, the flow-export destination of read.
func ipfixFlag(fs *pflag.FlagSet) *string {
	return fs.String("ipfix", "", "send the selected records as bidirectional IPFIX (RFC 5103) to `[udp://|tcp://]HOST:PORT` instead of printing them")
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

func newIPFIXSink(dest string, stderr io.Writer) (*ipfixSink, error) {
	conn, err := dialIPFIX(dest)
	if err != nil {
		return nil, err
	}
	return &ipfixSink{e: ipfix.NewExporter(conn, ipfix.ExporterOptions{}), conn: conn, stderr: stderr}, nil
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
