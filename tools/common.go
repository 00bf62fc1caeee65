package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"panoptes/argus"
	"panoptes/filter"
	"panoptes/fleet"
	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/internal/outfile"
	"panoptes/record"
	"panoptes/sqlrepo"
	"panoptes/tools/timerange"
)

// common holds the flags every subcommand shares: inputs (-r, -R, -S), the time
// range, output format and the output file.
type common struct {
	inputs    []string
	archives  []string
	timeSpec  string
	fields    []string
	delim     string
	json      bool
	numeric   bool
	count     int
	precision int
	epoch     bool
	header    int
	timeFmt   string // --time-format, RA_TIME_FORMAT
	write     string
	strict    bool          // -R: a damaged block is an error
	live      liveSource    // -S: live record services
	timeout   time.Duration // -R nats://: how long a site may stay silent
	partial   error         // -R nats://: the sites that did not answer (cli.ErrPartial)

	noRarcFilter bool   // the positional words are not (only) a filter: RA_FILTER does not apply
	joined       joined // the field words joinFieldWords took, for a filter error's hint

	// prefilter, when set, promises that scan's fn ignores the records it rejects: an
	// input may drop them before decoding them whole (see scanInput).
	prefilter *filter.Filter

	// sqlWhere is -M sql='clause': ANDed to the WHERE of the database inputs' queries.
	sqlWhere string
	// keyFilter, when set, promises (as prefilter) that fn ignores the records it
	// rejects, for the database inputs only: its flow-key terms go into their WHERE.
	// The tools that aggregate set it; prefilter, which also changes how Argus files
	// are decoded, stays read's.
	keyFilter *filter.Filter
	// anyOrder, when set, promises that scan's fn does not depend on the order of the
	// records (a count): an archive is then read without the merge by start time.
	anyOrder bool
	// readFields, when readSome, promises that scan's fn reads no record field but the
	// flow key, the times, these (record.Fields) and its filter's: an archive's blocks
	// of columns then decode only those (index.QueryFilterFields).
	readFields record.Fields
	readSome   bool
	// totals, when set, promises that scan's fn only adds up the flow records it gets
	// and their packets and bytes per direction (count without a filter): an archive
	// read then passes the totals of whole blocks, from the index, to totals instead of
	// their records to fn (index.QueryTotals).
	totals func(index.Totals)
}

func (c *common) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&c.inputs, "read", "r", nil, "read records from `FILE` (- for stdin); repeatable")
	fs.StringArrayVarP(&c.archives, "archive", "R", nil, "read records from the archive in `DIR` (with -t, only the blocks that overlap the range), or from the fleet's archive hosts at nats://[USER:PASS@]BROKER:PORT/SITES (sites or patterns, comma-separated: they run the filter and -t and send the matches); repeatable")
	fs.StringVarP(&c.timeSpec, "time", "t", "", "keep records in this time `RANGE` (Argus's -t syntax: 2026/11/27.11:58:00+5m, -2h, 11:58-12:03, [x][i|n|c]...)")
	fs.StringArrayVarP(&c.fields, "fields", "s", nil, "print these `FIELDS` (comma- or space-separated; name:width; +name appends, +Nname inserts at column N, -name removes)")
	fs.StringVarP(&c.delim, "delimiter", "c", "", "print values separated by `SEP` without padding (\",\" is CSV; \"\\t\" is a tab)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per record (JSON Lines)")
	fs.BoolVarP(&c.numeric, "numeric", "n", false, "print protocols as numbers")
	fs.IntVarP(&c.count, "count", "N", 0, "stop after `COUNT` output records (0: no limit)")
	fs.IntVarP(&c.precision, "precision", "p", 6, "`DIGITS` after the decimal point for times and reals")
	fs.BoolVarP(&c.epoch, "epoch", "u", false, "print times as seconds since the epoch")
	fs.IntVarP(&c.header, "header", "L", 0, "labels: -1 none, 0 once, `N` every N records")
	fs.StringVar(&c.timeFmt, "time-format", "", "print times in this strftime `FORMAT` (ra's RA_TIME_FORMAT: \"%F %T.%f\"; %f is the fraction, -p digits)")
	fs.StringVarP(&c.write, "write", "w", "", "write matching records as a record stream to `FILE` (- for stdout; argus:FILE for Argus records, added to FILE) instead of printing")
	fs.DurationVar(&c.timeout, "timeout", fleet.DefaultTimeout, "with -R nats://: leave out a site that sends nothing for `DURATION` (it is named in a warning and the exit status is 3)")
	fs.BoolVar(&c.strict, "strict", false, "-R: a damaged archive block is an error (exit 2); without it the block is skipped with a warning naming the file, offset and records lost")
	c.live.register(fs)
}

// parse parses the command line, then compiles the filter (the words after the flags)
// and checks the output flags: the common start of every record tool.
func (c *common) parse(fs *pflag.FlagSet, args []string) (*filter.Filter, Output, error) {
	rest, err := c.parseFlags(fs, args)
	if err != nil {
		return nil, Output{}, err
	}
	c.live.filterWords = rest
	flt, err := c.compileFilter(rest)
	if err != nil {
		return nil, Output{}, err
	}
	o, err := c.output()
	if err == nil && c.write != "" {
		err = index.CheckOutput(c.write, c.inputs) // before any work or output
	}
	return flt, o, err
}

// parseFlags parses the command line with ra's habits: field names written as
// separate words after -s or -m (joinFieldWords), and the settings of ~/.rarc for the
// flags not given (applyRarc). It returns the filter words. Warnings go to the flag
// set's output (the tool's stderr).
func (c *common) parseFlags(fs *pflag.FlagSet, args []string) ([]string, error) {
	args, c.joined = joinFieldWords(fs, args)
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return nil, err
	}
	return applyRarc(fs, fs.Name(), rest, !c.noRarcFilter, fs.Output())
}

// output checks the output flags and returns the printer configuration.
func (c *common) output() (Output, error) {
	o := Output{Format: record.DefaultFormat, JSON: c.json, Header: c.header}
	if c.precision < 0 || c.precision > 9 {
		return o, cli.Usagef("-p %d: precision must be 0 to 9", c.precision)
	}
	if c.count < 0 {
		return o, cli.Usagef("-N %d: count must not be negative", c.count)
	}
	if err := cli.IntRange("-L", c.header, -1, math.MaxInt32); err != nil {
		return o, err
	}
	if c.json && c.delim != "" {
		return o, cli.Usagef("--json and -c cannot be used together")
	}
	o.Format.Precision, o.Format.Numeric, o.Format.Epoch = c.precision, c.numeric, c.epoch
	o.Delim = strings.NewReplacer(`\t`, "\t", `\s`, " ").Replace(c.delim)
	var err error
	o.Fields, o.Widths, err = parseFields(c.fields)
	if err != nil || c.timeFmt == "" {
		return o, err
	}
	if o.Format.Layout, err = record.ParseTimeLayout(c.timeFmt); err != nil {
		return o, cli.Usagef("--time-format: %v", err)
	}
	if !c.epoch {
		// Time columns as wide as the layout prints (ra sizes them so too).
		w := len(o.Format.Layout.Append(nil, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), c.precision))
		for i, f := range o.Fields {
			if f.Kind == record.KindTime && o.Widths[i] == 0 {
				o.Widths[i] = max(w, len(f.Label))
			}
		}
	}
	return o, nil
}

// parseFields applies -s arguments to the default column list. Each argument holds
// names separated by commas or spaces. A plain name starts a new list (the first one
// replaces the default columns); "+name" appends to the list so far (the default if
// none), "+Nname" inserts at column N (1-based), "-name" removes the field. Any name
// may carry ":width".
func parseFields(specs []string) ([]*record.Field, []int, error) {
	var fields []*record.Field
	var widths []int
	started := false
	start := func() {
		if !started {
			started = true
			for _, n := range DefaultFields {
				f, _ := record.Lookup(n)
				fields = append(fields, f)
				widths = append(widths, 0)
			}
		}
	}
	for _, spec := range specs {
		for _, item := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			op := item[0]
			name := item
			pos := -1
			if op == '+' || op == '-' {
				start()
				name = item[1:]
				if op == '+' {
					d := 0
					for d < len(name) && name[d] >= '0' && name[d] <= '9' {
						d++
					}
					if d > 0 {
						pos, _ = strconv.Atoi(name[:d])
						name = name[d:]
					}
				}
			} else if !started {
				started = true
			}
			width := 0
			if i := strings.IndexByte(name, ':'); i >= 0 {
				w, err := strconv.Atoi(name[i+1:])
				if err != nil || w <= 0 || w > 256 {
					return nil, nil, cli.Usagef("-s %s: bad width %s for field %s", cli.Cut(spec, 0), cli.Cut(name[i+1:], 0), cli.Cut(name[:i], 0))
				}
				name, width = name[:i], w
			}
			f, ok := record.Lookup(name)
			if !ok {
				return nil, nil, cli.Usagef("unknown field %s in -s %s", cli.Cut(name, 0), cli.Cut(spec, 0))
			}
			switch {
			case op == '-':
				for i := 0; i < len(fields); {
					if fields[i] == f {
						fields = append(fields[:i], fields[i+1:]...)
						widths = append(widths[:i], widths[i+1:]...)
						continue
					}
					i++
				}
			case pos >= 1 && pos <= len(fields):
				fields = append(fields[:pos-1], append([]*record.Field{f}, fields[pos-1:]...)...)
				widths = append(widths[:pos-1], append([]int{width}, widths[pos-1:]...)...)
			default:
				fields = append(fields, f)
				widths = append(widths, width)
			}
		}
	}
	if !started {
		start()
	}
	if len(fields) == 0 {
		return nil, nil, cli.Usagef("-s: no fields left to print")
	}
	return fields, widths, nil
}

// compileFilter compiles the positional arguments (everything after "--", and filter
// words given without it) joined by spaces. A leading lone "-" is ra's old separator.
func compileFilter(args []string) (*filter.Filter, error) {
	text, _ := filterText(args) // "local" matters only to -S
	f, err := filter.Compile(text)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	return f, nil
}

// compileFilter is compileFilter with a hint when the words were meant as a filter
// but field words took some (-s saddr pkts gt 10).
func (c *common) compileFilter(rest []string) (*filter.Filter, error) {
	f, err := compileFilter(rest)
	if err != nil {
		if h := c.joined.hint(rest); h != "" {
			return nil, &cli.UsageError{Err: fmt.Errorf("%w%s", err, h)}
		}
	}
	return f, err
}

// scan reads every record of every input (stream files, then archives) in order and
// calls fn with each that is within the -t range; fn returns false to stop. A truncated
// input is reported to stderr as a warning and the records read before the cut are
// kept; other read errors stop the scan.
func scan(prog string, c *common, stdin io.Reader, stderr io.Writer, fn func(r *record.Record) bool) error {
	if len(c.inputs) == 0 && len(c.archives) == 0 && len(c.live.servers) == 0 {
		return cli.Usagef("no input: give -r FILE (or -r - for stdin), -R ARCHIVE or -S HOST:PORT")
	}
	tr, useTime, err := c.timeRange()
	if err != nil {
		return err
	}
	each := fn
	if useTime {
		each = func(r *record.Record) bool { return !tr.Match(r) || fn(r) }
	}
	dbFilter := c.prefilter
	if dbFilter == nil {
		dbFilter = c.keyFilter
	}
	// A database input mixed with archives or other databases (the hybrid repository:
	// recent days in SQL, older ones in files): those inputs, each in start-time order,
	// are merged into one time line, after the stream files.
	var ordered []orderedSource
	dbs := 0
	for _, in := range c.inputs {
		if sqlrepo.IsURL(in) {
			dbs++
		}
	}
	if dbs > 0 && dbs+len(c.archives) > 1 {
		for _, in := range c.inputs {
			if sqlrepo.IsURL(in) {
				ordered = append(ordered, func(fn func(*record.Record) bool) (bool, error) {
					return scanDatabase(in, tr, useTime, dbFilter, c.sqlWhere, fn)
				})
			}
		}
		for _, dir := range c.archives {
			ordered = append(ordered, func(fn func(*record.Record) bool) (bool, error) {
				return c.scanOneArchive(prog, dir, tr, useTime, false, stderr, fn)
			})
		}
	}
	var rec record.Record
	for _, in := range c.inputs {
		var src io.Reader = stdin
		name := "stdin"
		var closer io.Closer
		if sqlrepo.IsURL(in) {
			if ordered != nil {
				continue
			}
			more, err := scanDatabase(in, tr, useTime, dbFilter, c.sqlWhere, each)
			if err != nil || !more {
				return err
			}
			continue
		}
		if in != "-" {
			f, err := openInput(in)
			if err != nil {
				return err
			}
			src, name, closer = f, in, f
		}
		more, err := scanInput(prog, src, name, &rec, c.prefilter, stderr, each)
		if closer != nil {
			closer.Close()
		}
		if errors.Is(err, record.ErrTruncated) {
			fmt.Fprintf(stderr, "panoptes %s: warning: %v (the records before it are used)\n", prog, err)
			err = nil
		}
		if err != nil || !more {
			return err
		}
	}
	if ordered != nil {
		if more, err := scanMerged(ordered, each); err != nil || !more {
			return err
		}
	} else {
		for _, dir := range c.archives {
			more, err := c.scanOneArchive(prog, dir, tr, useTime, c.anyOrder, stderr, each)
			if err != nil || !more {
				return err
			}
		}
	}
	if len(c.live.servers) > 0 {
		return scanLive(prog, &c.live, stderr, each)
	}
	return nil
}

var errStop = errors.New("stop")

// scanOneArchive reads one -R: an archive directory, or the archives of a fleet's sites
// (nats://, package fleet).
func (c *common) scanOneArchive(prog, dir string, tr timerange.Range, useTime, anyOrder bool, stderr io.Writer, fn func(*record.Record) bool) (bool, error) {
	if fleet.IsURL(dir) {
		return scanFleet(prog, c, dir, tr, useTime, stderr, fn)
	}
	flt := c.archiveFilter()
	totals := c.totals
	if flt.String() != "" || useTime && (tr.Negate || tr.Mode == timerange.Includes) {
		totals = nil // a block's totals say nothing of a filter's records, or of those a range includes
	}
	fields := record.AllFields
	if c.readSome {
		fields = c.readFields
	}
	return scanArchive(dir, tr, useTime, c.strict, anyOrder, flt, fields, totals, stderr, prog, fn)
}

// archiveFilter is the filter whose rejects scan's fn ignores (read's prefilter, or an
// aggregating tool's keyFilter): archive reads select blocks and records by it.
func (c *common) archiveFilter() *filter.Filter {
	if c.prefilter.String() != "" {
		return c.prefilter
	}
	return c.keyFilter
}

// scanDatabase reads the records of a database table (-r mysql://... or postgres://...),
// with -t's range, the flow-key terms of flt (the prefilter: fn ignores what it rejects)
// and the -M sql clause pushed into the query; fn still sees the range's test and the
// whole filter, so what the query lets through in excess does not reach the output.
func scanDatabase(in string, tr timerange.Range, useTime bool, flt *filter.Filter, where string, fn func(*record.Record) bool) (bool, error) {
	t, err := sqlrepo.Parse(in)
	if err != nil {
		return false, err
	}
	var w sqlrepo.Window
	if useTime {
		if tr.Negate {
			// Every table and row may hold records outside the range.
			if _, err := t.Tables(w); err != nil {
				return false, fmt.Errorf("%s: a negated -t does not say which tables to read", t)
			}
		} else {
			w = sqlrepo.Window{Start: tr.Start, End: tr.End, Set: true, Mode: sqlrepo.Intersects}
			switch tr.Mode {
			case timerange.Includes:
				w.Mode = sqlrepo.Includes
			case timerange.Contained:
				w.Mode = sqlrepo.Contained
			}
		}
	}
	return sqlrepo.ScanQuery(context.Background(), t, sqlrepo.Query{Window: w, Filter: flt, Where: where}, fn)
}

// openInput opens a -r stream file; a directory is refused by name (reading it would
// fail as a corrupt stream header).
func openInput(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err // *PathError: "open NAME: reason"
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: is a directory (an archive is read with -R %s)", name, name)
	}
	return f, nil
}

// scanArchive reads an archive: with a time range that needs overlap (every mode but
// a negated one), only the blocks the time index lists for it; of those, with a filter
// whose rejects fn ignores (common.prefilter or keyFilter), only the blocks the index
// says may hold a match (index.QueryFilter), and only the records it matches, tested
// where the blocks are decoded, on every core. With anyOrder the blocks are read in any
// order (no merge by start time), decoding only fields (and flt's) in blocks of columns.
// With totals (no filter then), the blocks wholly in
// the range give their totals from the index instead of their records
// (index.QueryTotals). A damaged block is skipped with a warning (an error with
// strict), and the blocks skipped are summed up at the end.
func scanArchive(dir string, tr timerange.Range, useTime, strict, anyOrder bool, flt *filter.Filter, fields record.Fields, totals func(index.Totals), stderr io.Writer, prog string, fn func(*record.Record) bool) (bool, error) {
	a, err := index.Open(dir, index.Options{ReadOnly: true, Strict: strict, Logf: func(format string, args ...any) {
		fmt.Fprintf(stderr, "panoptes %s: "+format+"\n", append([]any{prog}, args...)...)
	}})
	if err != nil {
		return false, err
	}
	defer a.Close()
	emit := func(r *record.Record) error {
		if !fn(r) {
			return errStop
		}
		return nil
	}
	t0, t1 := int64(-1<<62), int64(1<<62)
	if useTime && !tr.Negate {
		t0, t1 = tr.Start, tr.End-1
	}
	switch {
	case totals != nil:
		var tot index.Totals
		tot, err = a.QueryTotals(t0, t1, emit)
		totals(tot)
	case anyOrder:
		err = a.QueryFilterUnordered(t0, t1, flt, fields, emit)
	default:
		err = a.QueryFilterFields(t0, t1, flt, fields, emit)
	}
	if d := a.Damage(); d.Blocks > 0 {
		fmt.Fprintf(stderr, "panoptes %s: warning: %s: %d damaged blocks skipped, %d records lost (index verify lists them)\n", prog, dir, d.Blocks, d.Records)
	}
	if errors.Is(err, errStop) {
		return false, nil
	}
	return err == nil, err
}

// timeRange parses -t, relative to now in the local time zone, as ra does.
func (c *common) timeRange() (timerange.Range, bool, error) {
	if c.timeSpec == "" {
		return timerange.Range{}, false, nil
	}
	tr, err := timerange.Parse(c.timeSpec, timeNow())
	if err != nil {
		return tr, false, &cli.UsageError{Err: err}
	}
	return tr, true, nil
}

// timeNow is the clock -t is relative to (tests fix it).
var timeNow = time.Now

func scanOne(src io.Reader, name string, rec *record.Record, fn func(r *record.Record) bool) (more bool, err error) {
	rd, err := record.NewReader(src, name)
	if err != nil {
		return false, err
	}
	if runtime.GOMAXPROCS(0) > 1 {
		return scanDecoded(rd, fn)
	}
	for {
		if err := rd.Read(rec); err != nil {
			if err == io.EOF {
				return true, nil
			}
			return false, err
		}
		if !fn(rec) {
			return false, nil
		}
	}
}

// decodedBatch is a run of records read by scanDecoded's reader goroutine as encoded
// bodies and decoded by a decoding goroutine, and the error that ended the stream after
// them (io.EOF at its end), if any.
type decodedBatch struct {
	raw   []byte  // the bodies, one after another
	ends  []int   // where each body ends in raw
	offs  []int64 // each record's byte offset in the stream
	recs  []record.Record
	err   error
	ready chan struct{} // closed when recs (and err) are final
}

const (
	batchRecords  = 512
	batchesInFlow = 8
)

// scanDecoded reads the stream on one goroutine, decodes its records on up to
// GOMAXPROCS others, and calls fn with them in stream order on this one: decoding is
// most of the time of a filter or a cluster, and this spreads it over the cores.
// Batches circulate (nothing is allocated per record once they exist); a record passed
// to fn is valid until fn returns, as with a single reused record.
func scanDecoded(rd *record.Reader, fn func(r *record.Record) bool) (more bool, err error) {
	ordered := make(chan *decodedBatch, batchesInFlow)
	work := make(chan *decodedBatch, batchesInFlow)
	free := make(chan *decodedBatch, batchesInFlow)
	for range batchesInFlow {
		free <- &decodedBatch{recs: make([]record.Record, batchRecords)}
	}
	stop := make(chan struct{})
	go func() { // the reader
		defer close(ordered)
		defer close(work)
		for {
			var b *decodedBatch
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b.raw, b.ends, b.offs, b.err = b.raw[:0], b.ends[:0], b.offs[:0], nil
			b.ready = make(chan struct{})
			for len(b.ends) < batchRecords {
				var off int64
				if b.raw, off, b.err = rd.ReadRaw(b.raw); b.err != nil {
					break
				}
				b.ends, b.offs = append(b.ends, len(b.raw)), append(b.offs, off)
			}
			ordered <- b
			work <- b
			if b.err != nil {
				return
			}
		}
	}()
	for range min(runtime.GOMAXPROCS(0), 4) { // the decoders
		go func() {
			for b := range work {
				start := 0
				for i, end := range b.ends {
					if err := rd.Decode(b.raw[start:end], b.offs[i], &b.recs[i]); err != nil {
						b.ends, b.err = b.ends[:i], err
						break
					}
					start = end
				}
				close(b.ready)
			}
		}()
	}
	defer func() {
		close(stop)
		for range ordered { // let the reader finish before the stream is closed
		}
	}()
	for b := range ordered {
		<-b.ready
		for i := range b.ends {
			if !fn(&b.recs[i]) {
				return false, nil
			}
		}
		if b.err == io.EOF {
			return true, nil
		}
		if b.err != nil {
			return false, b.err
		}
		free <- b
	}
	return true, nil
}

// sink receives output records: a Printer, or a record stream writer for -w.
type sink interface {
	put(r *record.Record, blank uint32) error
	close() error // flush, and publish the output file
	abort()       // discard the output file after an error
}

// dbSink writes to a database table (-w mysql://..., postgres://...). What was inserted
// before an error stays: a database has no temporary name to discard.
type dbSink struct{ s *sqlrepo.Sink }

func (s dbSink) put(r *record.Record, _ uint32) error { return s.s.Write(r) }
func (s dbSink) close() error                         { return s.s.Close() }
func (s dbSink) abort()                               { s.s.Close() }

type printSink struct{ p *Printer }

func (s printSink) put(r *record.Record, blank uint32) error { return s.p.print(r, blank) }
func (s printSink) close() error                             { return s.p.Flush() }
func (s printSink) abort()                                   { s.p.Flush() }

// streamSink writes a record stream. A file is written under a temporary name and
// renamed into place by Close, so a failed or interrupted run never leaves a partial
// stream under the requested name (an existing file is replaced only then, keeping its
// permissions: see outfile). It is a record.SinkCloser, as the -w output of import,
// sensor and relay is (index.OpenOutput), with Abort besides: those append to what is
// there, a tool replaces it.
type streamSink struct {
	w    record.Sink // a record stream or Argus records
	f    *os.File    // nil for stdout
	path string
}

func newSink(c *common, o Output, stdout io.Writer) (sink, error) {
	if c.write == "" {
		return printSink{NewPrinter(stdout, o)}, nil
	}
	if path, ok := argus.CutOutput(c.write); ok {
		return newArgusSink(path, stdout)
	}
	if sqlrepo.IsURL(c.write) {
		s, err := sqlrepo.Open(c.write, sqlrepo.Options{})
		if err != nil {
			return nil, err
		}
		return dbSink{s}, nil
	}
	if c.write == "-" {
		w, err := record.NewWriter(stdout)
		if err != nil {
			return nil, err
		}
		return &streamSink{w: w}, nil
	}
	f, final, err := outfile.CreateTemp(c.write)
	if err != nil {
		return nil, fmt.Errorf("-w %s: %w", c.write, err)
	}
	w, err := record.NewWriter(f)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &streamSink{w: w, f: f, path: final}, nil
}

// newArgusSink opens -w argus:PATH: Argus version-3 records to stdout ("-"), or to a
// temporary file that starts with a copy of the complete records of the file at PATH
// (if any) and is renamed over it when complete, so that the tool adds to an Argus
// file as ra -w does and an error leaves the old file as it was.
func newArgusSink(path string, stdout io.Writer) (sink, error) {
	now := time.Now()
	if path == "-" {
		w, err := argus.NewWriter(stdout, now)
		if err != nil {
			return nil, err
		}
		return &streamSink{w: w}, nil
	}
	if path == "" || index.IsArchive(path) {
		return nil, cli.Usagef("-w %s%s: name an Argus record file (argus:FILE, or argus:- for stdout)", argus.OutputPrefix, path)
	}
	f, final, err := outfile.CreateTemp(path)
	if err != nil {
		return nil, fmt.Errorf("-w %s%s: %w", argus.OutputPrefix, path, err)
	}
	if f.Name() != "" {
		_, _, err = argus.CopyExisting(f, final)
	}
	var w *argus.Writer
	if err == nil {
		w, err = argus.NewWriter(f, now)
	}
	if err != nil {
		f.Close()
		if f.Name() != "" {
			os.Remove(f.Name())
		}
		return nil, fmt.Errorf("-w %s%s: %w", argus.OutputPrefix, path, err)
	}
	return &streamSink{w: w, f: f, path: final}, nil
}

var _ record.SinkCloser = (*streamSink)(nil)

func (s *streamSink) put(r *record.Record, _ uint32) error { return s.Write(r) }
func (s *streamSink) close() error                         { return s.Close() }
func (s *streamSink) abort()                               { s.Abort() }

func (s *streamSink) Write(r *record.Record) error { return s.w.Write(r) }
func (s *streamSink) Flush() error                 { return s.w.Flush() }

// Close flushes the stream and, for a file, publishes it under its name.
func (s *streamSink) Close() error {
	if s.f == nil {
		return s.w.Flush()
	}
	err := s.w.Flush()
	if err == nil {
		err = outfile.Sync(s.f)
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = outfile.Replace(s.f.Name(), s.path)
	}
	if err != nil {
		os.Remove(s.f.Name())
		return fmt.Errorf("-w %s: %w", s.path, err)
	}
	return nil
}

// Abort discards the output file after an error (stdout is flushed).
func (s *streamSink) Abort() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
	} else {
		s.w.Flush()
	}
}

// copyRecords is the loop of the tools that pass records through (read, anon, label):
// every input record that the filter selects goes through edit (nil: unchanged) to out,
// up to -N records. It returns cli.ErrNoMatch when nothing was selected, as ra does; on
// an error the output is discarded (a -w file is not left behind).
func copyRecords(prog string, c *common, flt *filter.Filter, out sink, edit func(*record.Record) error, stdin io.Reader, stderr io.Writer) error {
	matched := 0
	var putErr error
	c.prefilter = flt // fn passes over the records flt rejects
	err := scan(prog, c, stdin, stderr, func(r *record.Record) bool {
		if !flt.Match(r) {
			return true
		}
		if edit != nil {
			if putErr = edit(r); putErr != nil {
				return false
			}
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
