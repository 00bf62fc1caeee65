package tools

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"

	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/sqlrepo"
	"panoptes/tools/cluster"
	"panoptes/tools/top"
)

// maxTopKeys bounds --max-keys: top keeps each view's keys with their counters and
// window, a few hundred bytes each.
const maxTopKeys = 1 << 24

const topUsage = "-r FILE | -R ARCHIVE [-t RANGE] [-m KEYS] [--view flows|hosts] [--sort METRIC] [--window D] [--interval D] [--max-keys N] [-N ROWS] [-n] [--batch] [-- FILTER]"

// flowColumns are the key columns of the flows view, in ra's order.
var flowColumns = []string{"proto", "saddr", "sport", "daddr", "dport"}

// Test hooks: the wall clock and the terminal.
var (
	topClock  = time.Now
	topScreen = tcell.NewScreen
)

// TopMain is `panoptes top`, Argus's ratop: a live table of the busiest flows (by
// 5-tuple, with direction correction, as cluster merges them) or hosts (by -m KEYS,
// saddr by default), read continuously from files, an archive or stdin, sorted by a
// metric, over totals or a sliding window of record time. On a terminal it is an
// interactive view; with --batch, or when stdout is not a terminal, it prints the table
// once per --interval and at the end of input, like `top -b`.
func TopMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("top", topUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	var keySpecs []string
	var view, sortBy string
	var window, interval time.Duration
	var maxKeys int
	var batch bool
	fs.StringArrayVarP(&keySpecs, "keys", "m", nil, "the hosts view merges records with equal `KEYS` (cluster's -m; default saddr)")
	fs.StringVar(&view, "view", "", "start in the `VIEW` flows or hosts (default flows, hosts when -m is given)")
	fs.StringVar(&sortBy, "sort", "bytes", "rank rows by `METRIC`: bytes pkts load rate sbytes dbytes spkts dpkts trans")
	fs.DurationVar(&window, "window", 0, "count only records that ended in the last `D` of record time (0: totals)")
	fs.DurationVar(&interval, "interval", 2*time.Second, "refresh (batch: print) every `D`; batch 0 prints only at the end")
	fs.IntVar(&maxKeys, "max-keys", 100_000, "keep at most `N` distinct keys per view, evicting the smallest by the sort metric")
	fs.BoolVar(&batch, "batch", false, "print the table as text every interval instead of the interactive view")
	rest, err := c.parseFlags(fs, args)
	if err != nil {
		return err
	}
	for _, name := range []string{"fields", "delimiter", "json", "precision", "epoch", "header", "time-format", "write"} {
		if fs.Changed(name) {
			return cli.Usagef("--%s is not supported by top (it shows a live table; use read or cluster)", name)
		}
	}
	flt, err := c.compileFilter(rest)
	if err != nil {
		return err
	}
	metric, err := top.ParseMetric(sortBy)
	if err != nil {
		return cli.Usagef("--sort: %v", err)
	}
	switch {
	case window < 0:
		return cli.Usagef("--window %v: must not be negative", window)
	case window > 0 && window < 10*time.Millisecond:
		return cli.Usagef("--window %v: too short (at least 10ms)", window)
	case interval < 0:
		return cli.Usagef("--interval %v: must not be negative", interval)
	case maxKeys < 1 || maxKeys > maxTopKeys:
		return cli.Usagef("--max-keys %d: want 1 to %d", maxKeys, maxTopKeys)
	case c.count < 0:
		return cli.Usagef("-N %d: rows must not be negative", c.count)
	}
	if _, _, err := c.timeRange(); err != nil {
		return err
	}
	if err := checkInputs(&c); err != nil {
		return err
	}

	views, err := topViews(keySpecs)
	if err != nil {
		return err
	}
	v := 0
	switch view {
	case "":
		if fs.Changed("keys") {
			v = 1
		}
	case "flows":
	case "hosts":
		v = 1
	default:
		return cli.Usagef("--view %q: have flows, hosts", view)
	}
	format := record.DefaultFormat
	format.Numeric = c.numeric
	m := top.NewModel(top.Config{Views: views, Window: window, MaxKeys: maxKeys, Sort: metric, Format: format})

	src := top.Source{
		Read: func(warn io.Writer, fn func(*record.Record) bool) error {
			return scan("top", &c, stdin, warn, fn)
		},
		Rewind: true,
		Name:   inputName(&c),
	}
	for _, in := range c.inputs {
		if in == "-" {
			src.Rewind = false
		}
	}

	if batch || !cli.IsTerminal(stdout) {
		rows := c.count
		if rows == 0 {
			rows = 20
		}
		f := top.NewFeeder(src, m, flt, topClock, stderr)
		f.Start()
		last, err := top.RunBatch(stdout, f, top.BatchOptions{View: v, Sort: metric, Interval: interval, Rows: rows})
		if err != nil {
			return err
		}
		if last.Err != nil {
			return last.Err
		}
		if last.Matched == 0 {
			return cli.ErrNoMatch
		}
		return nil
	}

	if interval == 0 {
		return cli.Usagef("--interval 0: the interactive view needs a refresh interval (0 is for --batch)")
	}
	scr, err := topScreen()
	if err != nil {
		return fmt.Errorf("terminal: %v (use --batch for text output)", err)
	}
	if err := scr.Init(); err != nil {
		return fmt.Errorf("terminal: %v (use --batch for text output)", err)
	}
	f := top.NewFeeder(src, m, flt, topClock, nil)
	f.Start()
	err = top.RunUI(scr, f, top.UIOptions{View: v, Sort: metric, Interval: interval, Rows: c.count})
	scr.Fini()
	f.Stop()
	// Warnings could not be printed over the table: print them now.
	for _, msg := range f.Messages() {
		fmt.Fprintln(stderr, msg)
	}
	if err != nil {
		return err
	}
	return f.Err()
}

// topViews builds the flows view (5-tuple with direction correction, cluster's
// default) and the hosts view (-m KEYS, default saddr), keyed exactly as cluster keys.
func topViews(keySpecs []string) ([]top.ViewSpec, error) {
	flows, err := cluster.New(cluster.DefaultKeys, true)
	if err != nil {
		return nil, err
	}
	var flowCols []*record.Field
	for _, n := range flowColumns {
		f, _ := record.Lookup(n)
		flowCols = append(flowCols, f)
	}
	names := []string{"saddr"}
	if len(keySpecs) > 0 {
		names = nil
		for _, s := range keySpecs {
			names = append(names, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
		}
	}
	hosts, err := cluster.New(names, false)
	if err != nil {
		return nil, err
	}
	hostCols := hosts.KeyFields()
	return []top.ViewSpec{
		{Name: "flows", Key: flows.AppendKey, Correct: true, Columns: flowCols},
		{Name: "hosts", Key: hosts.AppendKey, Columns: hostCols},
	}, nil
}

// checkInputs fails early, before a screen is set up, on what scan would refuse at
// once: no input at all, or a file that cannot be opened.
func checkInputs(c *common) error {
	if len(c.inputs) == 0 && len(c.archives) == 0 && len(c.live.servers) == 0 {
		return cli.Usagef("no input: give -r FILE (or -r - for stdin), -R ARCHIVE or -S HOST:PORT")
	}
	for _, in := range c.inputs {
		if in == "-" {
			continue
		}
		if sqlrepo.IsURL(in) { // scan opens it (there is no cheap check)
			continue
		}
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// inputName names the input for top's title line.
func inputName(c *common) string {
	var names []string
	for _, in := range c.inputs {
		if in == "-" {
			in = "stdin"
		}
		if t, err := sqlrepo.Parse(in); err == nil {
			in = t.String() // without the password
		}
		names = append(names, in)
	}
	for _, a := range c.archives {
		names = append(names, "archive "+a)
	}
	if len(names) > 2 {
		return fmt.Sprintf("%s +%d more", names[0], len(names)-1)
	}
	return strings.Join(names, ", ")
}
