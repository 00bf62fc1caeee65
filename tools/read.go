package tools

import (
	"io"

	"panoptes/internal/cli"
	"panoptes/record"
)

const readUsage = "-r FILE [-r FILE]... | -R ARCHIVE [-t RANGE] [-s FIELDS] [-c SEP | --json] [-n] [-N COUNT] [-p DIGITS] [-u] [-L N] [-w OUT | --ipfix [udp://|tcp://]HOST:PORT] [-- FILTER]"

// ReadMain is `panoptes read`, Argus's ra: it reads record streams, keeps the records
// that pass the filter, and prints them (or writes them with -w).
//
// It returns cli.ErrNoMatch when no record matched, a *cli.UsageError for bad flags,
// fields or filter, and another error for unreadable input.
func ReadMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("read", readUsage, stderr)
	var c common
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
	matched := 0
	var putErr error
	err = scan("read", &c, stdin, stderr, func(r *record.Record) bool {
		if !flt.Match(r) {
			return true
		}
		if putErr = out.put(r, 0); putErr != nil {
			return false
		}
		matched++
		return c.count == 0 || matched < c.count
	})
	if err == nil {
		err = putErr
	}
	if err != nil {
		out.abort()
		return err
	}
	if err := out.close(); err != nil {
		return err
	}
	if matched == 0 {
		return cli.ErrNoMatch
	}
	return nil
}
