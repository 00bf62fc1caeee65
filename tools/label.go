package tools

import (
	"io"
	"os"

	"panoptes/internal/cli"
	"panoptes/tools/label"
)

const labelUsage = "-r FILE [-r FILE]... [--rir DELEGATED]... [--mmdb DB]... [-f RULES] [-w OUT] [read output options] [-- FILTER]"

// LabelMain is `panoptes label`, Argus's ralabel: records that pass the filter get
// country codes from RIR delegated statistics (--rir), AS numbers and countries from
// MaxMind databases (--mmdb), and free-form labels from a rules file (-f), and are
// written with -w or printed.
func LabelMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("label", labelUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	var rirFiles, mmdbFiles []string
	var rulesFile string
	fs.StringArrayVar(&rirFiles, "rir", nil, "country codes (sco, dco) from the RIR delegated-stats `FILE`; repeatable")
	fs.StringArrayVar(&mmdbFiles, "mmdb", nil, "AS numbers (sas, das) and countries from the MaxMind database `FILE`; repeatable")
	fs.StringVarP(&rulesFile, "rules", "f", "", "label records by the rules in `FILE`: \"FILTER => label\" or ralabel's filter=\"...\" label=\"...\" [cont]")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rirFiles) == 0 && len(mmdbFiles) == 0 && rulesFile == "" {
		return cli.Usagef("nothing to label with: give --rir, --mmdb or -f RULES")
	}
	var lb label.Labeller
	for _, path := range rirFiles {
		f, err := os.Open(path)
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		db, err := label.ParseRIR(f, path)
		f.Close()
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		if lb.RIR == nil {
			lb.RIR = db
		} else {
			lb.RIR = label.MergeRIR(lb.RIR, db)
		}
	}
	for _, path := range mmdbFiles {
		db, err := label.OpenMMDB(path)
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		defer db.Close()
		lb.MMDB = append(lb.MMDB, db)
	}
	if rulesFile != "" {
		f, err := os.Open(rulesFile)
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		lb.Rules, err = label.ParseRules(f, rulesFile)
		f.Close()
		if err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	out, err := newSink(&c, o, stdout)
	if err != nil {
		return err
	}
	return copyRecords("label", &c, flt, out, lb.Record, stdin, stderr)
}
