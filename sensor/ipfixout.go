package sensor

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"panoptes/internal/cli"
	"panoptes/ipfix"
	"panoptes/record"
)

// ipfixFlag registers the sensor's --ipfix flag.
func ipfixFlag(fs *pflag.FlagSet) *string {
	return fs.String("ipfix", "", "also send the flow records as bidirectional IPFIX (RFC 5103) to `[udp://|tcp://]HOST:PORT`; observation domain = --srcid")
}

// ipfixTee writes every record to the sensor's own output and to an IPFIX exporter.
// The output comes first: a collector that is down or gone costs exported records
// (counted, reported once), never records written to the file or archive.
type ipfixTee struct {
	out    record.SinkCloser
	exp    *ipfix.Exporter
	conn   io.Closer
	dest   string
	warn   func(string)
	warned bool
}

// teeIPFIX wraps out so that records also go to the IPFIX destination dest (nothing
// changes when dest is empty). On a bad destination it closes out and returns the
// error.
func teeIPFIX(dest string, out record.SinkCloser, warn func(string)) (record.SinkCloser, error) {
	if dest == "" {
		return out, nil
	}
	network, addr, err := ipfix.ParseDestination(dest)
	if err != nil {
		out.Close()
		return nil, cli.Usagef("--ipfix %w", err)
	}
	conn, err := ipfix.Dial(network, addr)
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("--ipfix %s: %w", dest, err)
	}
	return &ipfixTee{out: out, exp: ipfix.NewExporter(conn, ipfix.ExporterOptions{}), conn: conn, dest: dest, warn: warn}, nil
}

// Dropped passes on the output's drops (record.Dropper).
func (t *ipfixTee) Dropped() uint64 { return record.Dropped(t.out) }

// Close closes the output, then sends what the exporter holds and reports its counts.
func (t *ipfixTee) Close() error {
	err := t.out.Close()
	t.exported(t.exp.Flush())
	t.conn.Close()
	st := t.exp.Stats()
	t.warn(fmt.Sprintf("--ipfix %s: %d records in %d messages, %d lost (collector unreachable), %d not exported (management or non-IP)",
		t.dest, st.Records, st.Messages, st.Lost, st.Skipped))
	return err
}

func (t *ipfixTee) Write(r *record.Record) error {
	err := t.out.Write(r)
	t.exported(t.exp.Write(r))
	return err
}

func (t *ipfixTee) Flush() error {
	err := t.out.Flush()
	t.exported(t.exp.Flush())
	return err
}

// exported reports the first export error; later ones are counted by the exporter.
func (t *ipfixTee) exported(err error) {
	if err != nil && !t.warned {
		t.warned = true
		t.warn(fmt.Sprintf("%v (records are still written; the exit summary counts what was lost)", err))
	}
}
