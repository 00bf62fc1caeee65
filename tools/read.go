package tools

import (
	"io"

	"panoptes/internal/cli"
)

const readUsage = "-r FILE [-r FILE]... | -R ARCHIVE [-t RANGE] [-s FIELDS] [-c SEP | --json] [-n] [-N COUNT] [-p DIGITS] [-u] [-L N] [-w OUT | --ipfix [udp://|tcp://]HOST:PORT] [-- FILTER]"

// ReadMain is `panoptes read`, Argus's ra: it reads record streams, keeps the records
// that pass the filter, and prints them (or writes them with -w).
//
// It returns cli.ErrNoMatch when no record matched, a *cli.UsageError for bad flags,
// fields or filter, and another error for unreadable input.
func ReadMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("read", readUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	ipfixOut := ipfixFlag(fs)
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	var out sink
	switch {
	case ipfixOut.dest != "" && c.write != "":
		return cli.Usagef("--ipfix and -w cannot be used together")
	case ipfixOut.dest != "":
		out, err = newIPFIXSink(ipfixOut, stderr)
	default:
		out, err = newSink(&c, o, stdout)
	}
	if err != nil {
		return err
	}
	return copyRecords("read", &c, flt, out, nil, stdin, stderr)
}
