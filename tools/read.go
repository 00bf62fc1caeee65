package tools

import (
	"io"
	"strings"

	"panoptes/internal/cli"
	"panoptes/sqlrepo"
)

const readUsage = "-r FILE [-r FILE]... | -R ARCHIVE [-t RANGE] [-M sql=CLAUSE] [-s FIELDS] [-c SEP | --json] [-n] [-N COUNT] [-p DIGITS] [-u] [-L N] [-w OUT | --ipfix [udp://|tcp://]HOST:PORT] [-- FILTER]"

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
	var modes []string
	fs.StringArrayVarP(&modes, "mode", "M", nil, "`sql=CLAUSE`: AND the SQL clause to the WHERE of the -r mysql:// and postgres:// queries, as rasql does; time SIZE is accepted as rasql takes it (the tables' bins come from the table name)")
	flt, o, err := c.parse(fs, joinModeArgs(args))
	if err != nil {
		return err
	}
	if err := c.sqlModes(modes); err != nil {
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
		if c.write == "" {
			// Printed records: an archive decodes only the fields the columns read
			// (ra's default columns: the first two parts of a split block).
			c.readFields, c.readSome = fieldsReads(o.Fields), true
		}
	}
	if err != nil {
		return err
	}
	return copyRecords("read", &c, flt, out, nil, stdin, stderr)
}

// sqlModes reads rasql's -M words: sql=CLAUSE, and "time SIZE", which
// rasql needs to name its tables and Panoptes takes from the table name's pattern.
func (c *common) sqlModes(modes []string) error {
	for _, m := range modes {
		w := strings.Fields(m)
		switch {
		case strings.HasPrefix(m, "sql="):
			if c.sqlWhere != "" {
				c.sqlWhere += " AND "
			}
			c.sqlWhere += "(" + m[len("sql="):] + ")"
		case len(w) == 2 && w[0] == "time":
			if _, err := parseBinSize(w[1]); err != nil {
				return err
			}
		default:
			return cli.Usagef("unsupported -M %q (have: sql=CLAUSE, time SIZE)", m)
		}
	}
	if c.sqlWhere == "" {
		return nil
	}
	for _, in := range c.inputs {
		if sqlrepo.IsURL(in) {
			return nil
		}
	}
	return cli.Usagef("-M sql=: no -r mysql:// or postgres:// input to query")
}
