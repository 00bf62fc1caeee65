package tools

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"panoptes/argus"
	"panoptes/internal/cli"
	"panoptes/internal/outfile"
	"panoptes/record"
)

const splitUsage = "-r FILE | -R ARCHIVE [-t RANGE] -M time SIZE [--max-bins N]|count N|size N[kmg] -w PATH [-- FILTER]"

// SplitMain is `panoptes split`, Argus's rasplit: it writes the records that pass the
// filter into several record stream files named by -w, a path that may hold strftime
// conversions (%Y %m %d %H %M %S %j %y %b %a %e %s %%) and $srcid.
//
//   - -M time 5m: a file per time bin; the conversions take the bin's start (local
//     time), and records that span bins are cut at the boundaries as bins does. With no
//     conversion in PATH, ".%Y.%m.%d.%H.%M.%S" is appended, as rasplit does.
//   - -M count N, -M size N[kmg]: a new file after N records, or once a file holds N
//     bytes; files are PATH with aa, ab, ... appended (rasplit's naming). Conversions
//     and $srcid, if any, take each record's own start time and source id, and each
//     name so formed is counted on its own.
//
// With -w argus:PATH the files hold Argus version-3 records (each starts with a MAR),
// for rasplit's readers.
//
// Directories are created. A file that exists is appended to (its records are copied
// first), and every file is written under a temporary name and renamed into place at
// the end: an error leaves no partial file under a final name. Management records are
// not written, as Argus's records of one sensor do not describe another file's span.
func SplitMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("split", splitUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	var modes []string
	fs.StringArrayVarP(&modes, "mode", "M", nil, "`MODE`: time SIZE (5m, 1h, 1d), count N (records), size N[kmg] (bytes)")
	maxBins := fs.Int64("max-bins", defaultMaxBins, "with -M time: cut a record into at most `N` files' bins")
	flt, _, err := c.parse(fs, joinModeArgs(args))
	if err != nil {
		return err
	}
	if err := cli.IntRange("--max-bins", *maxBins, 1, maxMaxBins); err != nil {
		return err
	}
	if c.write == "" || c.write == "-" || c.write == argus.OutputPrefix+"-" {
		return cli.Usagef("give the output path: -w PATH (strftime conversions and $srcid allowed)")
	}
	sp, err := newSplitter(modes, c.write)
	if err != nil {
		return err
	}
	matched := 0
	var putErr error
	c.keyFilter = flt // fn passes over the records flt rejects
	err = scan("split", &c, stdin, stderr, func(r *record.Record) bool {
		if r.Kind != record.KindFlow || !flt.Match(r) {
			return true
		}
		matched++
		if sp.size > 0 {
			// A record spanning decades would be cut into billions of pieces.
			if n := binsSpanned(r, sp.size); n > uint64(*maxBins) {
				putErr = fmt.Errorf("a record from %s spans %d bins of %v, more than --max-bins %d: use a wider -M time, raise --max-bins, or leave the record out with -t or a filter",
					time.Unix(0, r.StartTime).UTC().Format(time.RFC3339), n, sp.size, *maxBins)
				return false
			}
			splitAtBins(r, sp.size, func(p *record.Record) {
				if putErr == nil {
					putErr = sp.put(p)
				}
			})
		} else {
			putErr = sp.put(r)
		}
		return putErr == nil
	})
	if err == nil {
		err = putErr
	}
	if err != nil {
		sp.abort()
		return err
	}
	if err := sp.close(); err != nil {
		return err
	}
	if matched == 0 {
		return cli.ErrNoMatch
	}
	return nil
}

// maxOpen bounds the output files kept open at once; the least recently written is
// closed (and reopened for appending if it is needed again).
const maxOpen = 64

// splitter routes records to output files.
type splitter struct {
	template string
	size     time.Duration // time mode
	count    uint64        // count mode: records per file
	bytes    int64         // size mode: bytes per file
	chunks   map[string]*chunkState
	files    map[string]*splitFile
	order    []*splitFile // in creation order, for publishing
	open     int
	clock    uint64 // for least-recently-used closing
	name     []byte
	enc      []byte // scratch for measuring an encoded record
	argus    bool   // -w argus:PATH: the files hold Argus records
}

// headerLen is the size of what starts each output file: a stream header, or the
// leading Argus MAR.
func (s *splitter) headerLen() int {
	if s.argus {
		return argus.MARLen
	}
	return len(record.AppendHeader(nil))
}

// newWriter starts the records of a file on w (its header or MAR first).
func (s *splitter) newWriter(w io.Writer) (record.Sink, error) {
	if s.argus {
		return argus.NewWriter(w, time.Now())
	}
	return record.NewWriter(w)
}

// encodedLen is the size r takes in the output (for -M size).
func (s *splitter) encodedLen(r *record.Record) int64 {
	if s.argus {
		s.enc = argus.AppendFAR(s.enc[:0], r)
	} else {
		s.enc = record.AppendRecord(s.enc[:0], r)
	}
	return int64(len(s.enc))
}

// chunkState counts the files made from one expanded name in count or size mode.
type chunkState struct {
	next int // index of the current suffix
	file *splitFile
}

type splitFile struct {
	path    string // final name
	tmp     string // where it is written
	f       *os.File
	w       record.Sink // a record stream, or Argus records (splitter.argus)
	records uint64
	size    int64 // bytes in the file (size mode)
	used    uint64
}

func newSplitter(modes []string, template string) (*splitter, error) {
	s := &splitter{template: template, chunks: map[string]*chunkState{}, files: map[string]*splitFile{}}
	if t, ok := argus.CutOutput(template); ok {
		s.template, s.argus = t, true
	}
	if len(modes) != 1 {
		return nil, cli.Usagef("give one mode: -M time SIZE, -M count N or -M size N[kmg]")
	}
	w := strings.Fields(modes[0])
	if len(w) != 2 {
		return nil, cli.Usagef("unsupported -M %q (have: time SIZE, count N, size N[kmg])", modes[0])
	}
	switch w[0] {
	case "time":
		d, err := parseBinSize(w[1])
		if err != nil {
			return nil, err
		}
		s.size = d
		if !hasConversion(template) {
			s.template += ".%Y.%m.%d.%H.%M.%S"
		}
	case "count":
		n, err := strconv.ParseUint(w[1], 10, 63)
		if err != nil || n == 0 {
			return nil, cli.Usagef("-M count %q: want a positive number of records", w[1])
		}
		s.count = n
	case "size":
		n, err := parseByteSize(w[1])
		if err != nil {
			return nil, err
		}
		s.bytes = n
	default:
		return nil, cli.Usagef("unsupported -M %q (have: time SIZE, count N, size N[kmg])", modes[0])
	}
	if _, err := expandPath(nil, s.template, 0, 0); err != nil {
		return nil, err
	}
	return s, nil
}

// parseByteSize parses N with an optional k, m or g (powers of 1024, either case).
func parseByteSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, num = 1<<10, s[:n-1]
		case 'm', 'M':
			mult, num = 1<<20, s[:n-1]
		case 'g', 'G':
			mult, num = 1<<30, s[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 40)
	if err != nil || n <= 0 {
		return 0, cli.Usagef("-M size %q: want a positive size like 20k, 10m or 1g", s)
	}
	return n * mult, nil
}

func hasConversion(t string) bool {
	return strings.Contains(t, "%") || strings.Contains(t, "$srcid")
}

// expandPath appends template with its conversions taken from time t (ns, local time)
// and source id srcid.
func expandPath(b []byte, template string, t int64, srcid uint32) ([]byte, error) {
	tm := time.Unix(0, t)
	for i := 0; i < len(template); i++ {
		ch := template[i]
		if ch == '$' && strings.HasPrefix(template[i:], "$srcid") {
			b = strconv.AppendUint(b, uint64(srcid), 10)
			i += len("$srcid") - 1
			continue
		}
		if ch != '%' {
			b = append(b, ch)
			continue
		}
		if i+1 == len(template) {
			return nil, cli.Usagef("-w %q: lone %% at the end", template)
		}
		i++
		conv, ok := strftime[template[i]]
		if !ok {
			return nil, cli.Usagef("-w %q: unsupported conversion %%%c (have: %s)", template, template[i], strftimeList)
		}
		b = conv(b, tm)
	}
	return b, nil
}

// strftime maps the conversions split supports to their formatting.
var strftime = map[byte]func([]byte, time.Time) []byte{
	'Y': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "2006") },
	'y': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "06") },
	'm': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "01") },
	'd': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "02") },
	'e': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "_2") },
	'H': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "15") },
	'M': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "04") },
	'S': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "05") },
	'j': func(b []byte, t time.Time) []byte { return fmt.Appendf(b, "%03d", t.YearDay()) },
	'b': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "Jan") },
	'a': func(b []byte, t time.Time) []byte { return t.AppendFormat(b, "Mon") },
	's': func(b []byte, t time.Time) []byte { return strconv.AppendInt(b, t.Unix(), 10) },
	'%': func(b []byte, _ time.Time) []byte { return append(b, '%') },
}

const strftimeList = "%Y %y %m %d %e %H %M %S %j %b %a %s %%"

// suffix returns rasplit's file suffix for index i: aa, ab, ..., zz, then aaa, ...
func suffix(i int) string {
	n, span := 2, 26*26
	for i >= span {
		i -= span
		n++
		span *= 26
	}
	b := make([]byte, n)
	for k := n - 1; k >= 0; k-- {
		b[k] = byte('a' + i%26)
		i /= 26
	}
	return string(b)
}

func (s *splitter) put(r *record.Record) error {
	t := r.StartTime
	if s.size > 0 {
		t = binStart(t, s.size)
	}
	var err error
	s.name, err = expandPath(s.name[:0], s.template, t, r.SrcID)
	if err != nil {
		return err
	}
	var f *splitFile
	if s.size > 0 {
		f, err = s.file(string(s.name))
	} else {
		f, err = s.chunkFile(string(s.name))
	}
	if err != nil {
		return err
	}
	if f.f == nil {
		if err := s.reopen(f); err != nil {
			return err
		}
	}
	s.clock++
	f.used = s.clock
	if err := f.w.Write(r); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	f.records++
	if s.bytes > 0 {
		f.size += s.encodedLen(r)
	}
	return nil
}

// chunkFile returns the current file of an expanded name in count or size mode,
// starting the next one when the current is full.
func (s *splitter) chunkFile(base string) (*splitFile, error) {
	cs := s.chunks[base]
	if cs == nil {
		cs = &chunkState{}
		s.chunks[base] = cs
	}
	if f := cs.file; f != nil {
		full := s.count > 0 && f.records >= s.count || s.bytes > 0 && f.size >= s.bytes
		if !full {
			return f, nil
		}
		cs.next++
	}
	f, err := s.file(base + suffix(cs.next))
	cs.file = f
	return f, err
}

// file returns the output file with final name path, creating it on first use.
func (s *splitter) file(path string) (*splitFile, error) {
	if f := s.files[path]; f != nil {
		return f, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	tmp, final, err := outfile.CreateTemp(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &splitFile{path: final, tmp: tmp.Name(), f: tmp, size: int64(s.headerLen())}
	s.files[path] = f
	s.order = append(s.order, f)
	s.open++
	if s.argus {
		// The old file's complete records first, then this run's MAR and records,
		// as argus -w appends.
		n, _, err := argus.CopyExisting(tmp, f.path)
		if err != nil {
			return nil, fmt.Errorf("appending to %s: %w", f.path, err)
		}
		f.size += n
		if f.w, err = s.newWriter(tmp); err != nil {
			return nil, err
		}
		return f, s.limitOpen(f)
	}
	if f.w, err = s.newWriter(tmp); err != nil {
		return nil, err
	}
	if err := s.appendExisting(f); err != nil {
		return nil, err
	}
	return f, s.limitOpen(f)
}

// appendExisting copies the records of an existing file at f's final name into f,
// so that split adds to it as rasplit does.
func (s *splitter) appendExisting(f *splitFile) error {
	old, err := os.Open(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer old.Close()
	rd, err := record.NewReader(old, f.path)
	if err != nil {
		return fmt.Errorf("appending to %s: %w", f.path, err)
	}
	var r record.Record
	for {
		if err := rd.Read(&r); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("appending to %s: %w", f.path, err)
		}
		if err := f.w.Write(&r); err != nil {
			return err
		}
		f.size += s.encodedLen(&r)
	}
}

// limitOpen closes the least recently written file other than keep when too many
// are open.
func (s *splitter) limitOpen(keep *splitFile) error {
	if s.open <= maxOpen {
		return nil
	}
	var lru *splitFile
	for _, f := range s.order {
		if f.f != nil && f != keep && (lru == nil || f.used < lru.used) {
			lru = f
		}
	}
	if lru == nil {
		return nil
	}
	err := lru.w.Flush()
	if cerr := lru.f.Close(); err == nil {
		err = cerr
	}
	lru.f, lru.w = nil, nil
	s.open--
	if err != nil {
		return fmt.Errorf("%s: %w", lru.path, err)
	}
	return nil
}

// reopen opens a closed file for appending; its stream header is already written,
// so the new writer's header is dropped.
func (s *splitter) reopen(f *splitFile) error {
	fh, err := os.OpenFile(f.tmp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	f.f = fh
	if f.w, err = s.newWriter(&skipWriter{w: fh, skip: s.headerLen()}); err != nil {
		return err
	}
	s.open++
	return s.limitOpen(f)
}

// close flushes every file and renames it into place.
func (s *splitter) close() error {
	for _, f := range s.order {
		if f.f == nil {
			if err := s.reopen(f); err != nil {
				s.abort()
				return err
			}
		}
		err := f.w.Flush()
		if err == nil {
			err = outfile.Sync(f.f)
		}
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
		f.f = nil
		s.open--
		if err != nil {
			s.abort()
			return fmt.Errorf("%s: %w", f.path, err)
		}
	}
	for i, f := range s.order {
		if err := outfile.Replace(f.tmp, f.path); err != nil {
			for _, g := range s.order[i:] {
				os.Remove(g.tmp)
			}
			return fmt.Errorf("%s: %w", f.path, err)
		}
	}
	return nil
}

// abort removes every temporary file.
func (s *splitter) abort() {
	for _, f := range s.order {
		if f.f != nil {
			f.f.Close()
			f.f = nil
		}
		os.Remove(f.tmp)
	}
}

// skipWriter drops the first skip bytes written through it (a stream header already
// in the file).
type skipWriter struct {
	w    io.Writer
	skip int
}

func (c *skipWriter) Write(p []byte) (int, error) {
	total := len(p)
	if c.skip > 0 {
		k := min(c.skip, len(p))
		c.skip -= k
		p = p[k:]
	}
	n, err := c.w.Write(p)
	if err != nil {
		return total - len(p) + n, err
	}
	return total, nil
}
