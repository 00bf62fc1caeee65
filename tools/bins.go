package tools

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/tools/cluster"
	"panoptes/tools/plot"
)

const binsUsage = "-r FILE | -R ARCHIVE [-t RANGE] -M time SIZE [-m KEYS] [--plot OUT.png|OUT.svg [--plot-field F] [--plot-top N]] [read output options] [-- FILTER]"

// BinsMain is `panoptes bins`, Argus's rabins: records that pass the filter are cut
// at time-bin boundaries (-M time 1m), each piece getting its share of the counters as
// rabins computes it (see splitAtBins), and the pieces are merged per bin and per
// cluster key (-m, cluster's keys; default the 5-tuple with direction correction).
// One record per (bin, key) prints, bins in time order, keys in order of first
// appearance within a bin. --plot draws one field of the series as PNG or SVG.
func BinsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("bins", binsUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	var keySpecs, modes []string
	fs.StringArrayVarP(&keySpecs, "keys", "m", nil, "merge the records of a bin with equal `KEYS` (as cluster -m)")
	fs.StringArrayVarP(&modes, "mode", "M", nil, "`time SIZE`: bin width (5s, 1m, 1h, 1d); correct|nocorrect as cluster")
	plotPath := fs.String("plot", "", "draw the series into `FILE` (.png or .svg)")
	plotField := fs.String("plot-field", "bytes", "the numeric `FIELD` the plot shows")
	plotTop := fs.Int("plot-top", 8, "plot the `N` keys with the most volume, the rest summed as \"other\"")
	maxBins := fs.Int64("max-bins", defaultMaxBins, "cut a record into at most `N` bins, and plot at most N bins")
	maxKeys := fs.Int64("max-keys", defaultMaxItems(20_000_000, binEntrySize), "hold at most `N` (bin, key) entries in memory")
	flt, o, err := c.parse(fs, joinModeArgs(args))
	if err != nil {
		return err
	}
	if err := cli.FirstError(
		cli.IntRange("--plot-top", *plotTop, 1, maxPlotTop),
		cli.IntRange("--max-bins", *maxBins, 1, maxMaxBins),
		cli.IntRange("--max-keys", *maxKeys, 1, math.MaxInt32),
	); err != nil {
		return err
	}
	size, correct, err := binModes(modes, !fs.Changed("keys"))
	if err != nil {
		return err
	}
	names := cluster.DefaultKeys
	if fs.Changed("keys") {
		names = nil
		for _, s := range keySpecs {
			names = append(names, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
		}
	}
	var pf *record.Field
	if *plotPath != "" {
		ext := strings.ToLower(filepath.Ext(*plotPath))
		if ext != ".png" && ext != ".svg" {
			return cli.Usagef("--plot %s: the file name must end in .png or .svg", *plotPath)
		}
		f, ok := record.Lookup(*plotField)
		if !ok || (f.Kind != record.KindNumber && f.Kind != record.KindFloat) {
			return cli.Usagef("--plot-field %q: not a numeric field", *plotField)
		}
		pf = f
	}
	// Check the keys before reading anything.
	if _, err := cluster.New(names, correct); err != nil {
		return err
	}
	b := &binner{size: size, names: names, correct: correct, bins: map[int64]*cluster.Clusterer{}, maxBins: *maxBins, maxKeys: int(*maxKeys)}
	c.keyFilter = flt // fn passes over the records flt rejects
	err = scan("bins", &c, stdin, stderr, func(r *record.Record) bool {
		if r.Kind == record.KindFlow && flt.Match(r) {
			b.addRecord(r)
		}
		return b.err == nil
	})
	if err == nil {
		err = b.err
	}
	if err != nil {
		return err
	}
	starts := b.starts()
	if pf != nil {
		if err := b.checkPlotSpan(starts); err != nil {
			return err
		}
		if err := drawBins(*plotPath, pf, *plotTop, size, b, starts, o.Format.Numeric); err != nil {
			return err
		}
	}
	out, err := newSink(&c, o, stdout)
	if err != nil {
		return err
	}
	n := 0
	for _, s := range starts {
		cl := b.bins[s]
		for i := 0; i < cl.Len(); i++ {
			if c.count > 0 && n == c.count {
				break
			}
			e := cl.Entry(i)
			if err := out.put(&e.Rec, e.Differ); err != nil {
				out.abort()
				return err
			}
			n++
		}
	}
	if err := out.close(); err != nil {
		return err
	}
	if n == 0 {
		return cli.ErrNoMatch
	}
	return nil
}

// binModes reads the -M words: "time SIZE" (required), and cluster's correct or
// nocorrect.
func binModes(modes []string, correct bool) (time.Duration, bool, error) {
	var size time.Duration
	for _, m := range modes {
		w := strings.Fields(m)
		switch {
		case len(w) == 2 && w[0] == "time":
			d, err := parseBinSize(w[1])
			if err != nil {
				return 0, false, err
			}
			size = d
		case len(w) == 1 && w[0] == "correct":
			correct = true
		case len(w) == 1 && w[0] == "nocorrect":
			correct = false
		default:
			return 0, false, cli.Usagef("unsupported -M %q (have: time SIZE, correct, nocorrect)", m)
		}
	}
	if size == 0 {
		return 0, false, cli.Usagef("give the bin width: -M time SIZE (e.g. -M time 1m)")
	}
	return size, correct, nil
}

// joinModeArgs turns Argus's two-word "-M time 5m" (also count N, size N) into one
// flag value "-M", "time 5m", so that the flag parser sees the size as part of -M.
func joinModeArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a == "-M" && i+2 < len(args) {
			switch args[i+1] {
			case "time", "count", "size":
				out = append(out, a, args[i+1]+" "+args[i+2])
				i += 2
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// parseBinSize parses a bin width as Argus writes it: a count and a unit, s, m, h or
// d (a bare number is seconds).
func parseBinSize(s string) (time.Duration, error) {
	num, unit := s, "s"
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num, unit = s[:i], s[i:]
	}
	n, err := strconv.ParseUint(num, 10, 31)
	mult := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[unit]
	if err != nil || n == 0 || mult == 0 {
		return 0, cli.Usagef("-M time %q: want a size like 30s, 5m, 1h or 1d", s)
	}
	return time.Duration(n) * mult, nil
}

// binStart, splitAtBins and takeShare live in record (record.BinStart,
// record.SplitAtBins), where the SQL repository cuts records at its tables' bounds too.
func binStart(t int64, size time.Duration) int64 { return record.BinStart(t, size) }

func splitAtBins(r *record.Record, size time.Duration, fn func(*record.Record)) {
	record.SplitAtBins(r, size, fn)
}

// Bounds of bins. A record is cut into one piece per bin it spans: one record of 136
// years in 1 s bins would be cut 4e9 times (minutes of work, and as much memory as it
// has packets), and a plot allocates every bin from the first to the last for each
// line; --max-bins bounds both. --max-keys bounds the (bin, key) entries held, at
// binEntrySize bytes each: a cluster entry, and a share of its bin's clusterer.
const (
	defaultMaxBins = 1_000_000
	maxPlotTop     = 1000 // lines in a plot
	maxMaxBins     = 1 << 30
	binEntrySize   = cluster.EntrySize + 64
)

// binner holds one clusterer per bin, and at most maxKeys entries over all bins.
type binner struct {
	size    time.Duration
	names   []string
	correct bool
	bins    map[int64]*cluster.Clusterer
	maxBins int64
	maxKeys int // entries left before the bound
	keys    int // entries held
	err     error
}

// addRecord cuts r at the bins it spans and adds the pieces, or sets b.err when r
// spans more than maxBins bins or the pieces need more than maxKeys entries.
func (b *binner) addRecord(r *record.Record) {
	if n := binsSpanned(r, b.size); n > uint64(b.maxBins) {
		b.err = fmt.Errorf("a record from %s spans %d bins of %v, more than --max-bins %d: use a wider -M time, raise --max-bins, or leave the record out with -t or a filter",
			time.Unix(0, r.StartTime).UTC().Format(time.RFC3339), n, b.size, b.maxBins)
		return
	}
	splitAtBins(r, b.size, b.add)
}

// binsSpanned is how many bins r's time span touches (at least 1), computed without
// overflow for any times.
func binsSpanned(r *record.Record, size time.Duration) uint64 {
	start := binStart(r.StartTime, size)
	if r.LastTime <= start {
		return 1
	}
	return (uint64(r.LastTime)-uint64(start)-1)/uint64(size) + 1
}

func (b *binner) add(r *record.Record) {
	if b.err != nil {
		return
	}
	s := binStart(r.StartTime, b.size)
	cl := b.bins[s]
	if cl == nil {
		cl, _ = cluster.New(b.names, b.correct) // the names were checked up front
		b.bins[s] = cl
	}
	n := cl.Len()
	cl.SetMaxKeys(cl.Len() + b.maxKeys - b.keys)
	cl.Add(r)
	b.keys += cl.Len() - n
	if cl.Full() {
		b.err = fmt.Errorf("more than --max-keys %d (bin, key) entries (about %d MB of memory per million): raise --max-keys, use wider bins, fewer or coarser -m keys, or select fewer records with -t or a filter",
			b.maxKeys, binEntrySize*1_000_000>>20)
	}
}

// checkPlotSpan refuses a plot of more than maxBins bins from the first to the last:
// each line holds a value for every bin.
func (b *binner) checkPlotSpan(starts []int64) error {
	if len(starts) == 0 {
		return nil
	}
	n := (uint64(starts[len(starts)-1])-uint64(starts[0]))/uint64(b.size) + 1
	if n > uint64(b.maxBins) {
		return fmt.Errorf("--plot: the records span %d bins of %v, more than --max-bins %d: use a wider -M time, raise --max-bins, or select a shorter time with -t", n, b.size, b.maxBins)
	}
	return nil
}

// starts returns the bin start times in order.
func (b *binner) starts() []int64 {
	s := make([]int64, 0, len(b.bins))
	for k := range b.bins {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// drawBins plots field f per bin: one line per cluster key (the top N by the field's
// total, the others summed as "other"), every bin from the first to the last on the
// x axis (empty bins are zero).
func drawBins(path string, f *record.Field, top int, size time.Duration, b *binner, starts []int64, numeric bool) error {
	if len(starts) == 0 {
		return nil
	}
	value := func(r *record.Record) float64 {
		if f.Kind == record.KindFloat {
			return f.Float(r)
		}
		return float64(f.Uint(r))
	}
	first, last := starts[0], starts[len(starts)-1]
	nbins := int((last-first)/int64(size)) + 1
	format := record.DefaultFormat
	format.Numeric = numeric
	type series struct {
		name  string
		vals  []float64
		total float64
		first int // order of first appearance, to break ties
	}
	byKey := map[string]*series{}
	var all []*series
	for _, s := range starts {
		cl := b.bins[s]
		i := int((s - first) / int64(size))
		keys := cl.KeyFields()
		for j := 0; j < cl.Len(); j++ {
			e := cl.Entry(j)
			name := keyLabel(keys, &e.Rec, &format)
			ser := byKey[name]
			if ser == nil {
				ser = &series{name: name, vals: make([]float64, nbins), first: len(all)}
				byKey[name] = ser
				all = append(all, ser)
			}
			v := value(&e.Rec)
			ser.vals[i] += v
			ser.total += v
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].total > all[j].total })
	var lines []plot.Line
	for i, s := range all {
		if i < top {
			lines = append(lines, plot.Line{Name: s.name, Values: s.vals})
			continue
		}
		if i == top {
			lines = append(lines, plot.Line{Name: "other", Values: make([]float64, nbins)})
		}
		o := lines[len(lines)-1].Values
		for k, v := range s.vals {
			o[k] += v
		}
	}
	label := f.Label
	if label == "" {
		label = f.Name
	}
	err := plot.Series(path, plot.Chart{
		Title:  fmt.Sprintf("%s per %s", label, size),
		YLabel: label,
		Start:  time.Unix(0, first),
		Step:   size,
		Lines:  lines,
	})
	if err != nil {
		return fmt.Errorf("--plot %s: %w", path, err)
	}
	return nil
}

// keyLabel names a merged record by its key fields' text ("tcp", "10.0.0.1 tcp"),
// or "all" with no keys.
func keyLabel(keys []*record.Field, r *record.Record, f *record.Format) string {
	if len(keys) == 0 {
		return "all"
	}
	var b []byte
	for i, k := range keys {
		if i > 0 {
			b = append(b, ' ')
		}
		b = k.Text(b, r, f)
	}
	return string(b)
}
