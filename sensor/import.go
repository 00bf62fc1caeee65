// Package sensor turns packets into flow records: packet sources (capture files now;
// AF_XDP and AF_PACKET for live capture), the sharded pipeline that deals packets to
// per-shard flow tables (package sensor/flow), and the writer that emits records and
// management records. The `import` subcommand lives here.
package sensor

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/sensor/decode"
	"panoptes/sensor/flow"
)

// ImportConfig configures an import.
type ImportConfig struct {
	// Progress, if set, is called about four times a second from another goroutine
	// with the import's progress (for a progress line on a terminal).
	Progress func(Progress)

	Flow        flow.Config
	Workers     int           // shards; 0 means one per CPU
	ManInterval time.Duration // management status record interval, in packet time
	Strict      bool          // a truncated or damaged capture is an error (exit 2)
}

// Progress says how far an import has come.
type Progress struct {
	File       string // the capture being read
	FileIndex  int    // 1-based
	Files      int
	Offset     int64 // bytes read from it (uncompressed)
	Size       int64 // its size on disk, or 0 if unknown (stdin); compressed if gzip
	Packets    uint64
	Elapsed    time.Duration
	Compressed bool
}

// ImportStats summarises an import.
type ImportStats struct {
	record.Management
	Files     int
	Warnings  int
	Truncated bool
}

// Import reads the captures in names (in order, as one packet stream), turns them into
// flow records and writes them to w. Warnings (a truncated file, an unsupported link
// type) go to warn, one line each. Records already written are never lost: a damaged
// file ends its own input, and the import goes on with the next file.
func Import(names []string, stdin io.Reader, w record.Sink, warn io.Writer, cfg ImportConfig) (ImportStats, error) {
	srcs, err := OpenCaptures(names, stdin)
	if err != nil {
		return ImportStats{}, err
	}
	defer CloseCaptures(srcs)
	return ImportFrom(srcs, w, warn, cfg)
}

// OpenCaptures opens every capture in names (reading its file header), so that a
// missing or unreadable file fails before any output is opened. On an error the files
// already opened are closed.
func OpenCaptures(names []string, stdin io.Reader) ([]*PcapFile, error) {
	srcs := make([]*PcapFile, 0, len(names))
	for _, n := range names {
		s, err := OpenPcap(n, stdin)
		if err != nil {
			CloseCaptures(srcs)
			return nil, err
		}
		srcs = append(srcs, s)
	}
	return srcs, nil
}

// CloseCaptures closes what OpenCaptures opened.
func CloseCaptures(srcs []*PcapFile) {
	for _, s := range srcs {
		s.Close()
	}
}

// ImportFrom is Import of captures already opened; the caller closes them.
func ImportFrom(srcs []*PcapFile, w record.Sink, warn io.Writer, cfg ImportConfig) (ImportStats, error) {
	cfg.Flow.Defaults()
	if cfg.Workers <= 0 {
		// The reader and the writer each keep a core busy too: measured on 2 cores,
		// 1 shard imports faster than 2 (bench/RESULTS.md).
		cfg.Workers = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if cfg.ManInterval <= 0 {
		cfg.ManInterval = 60 * time.Second
	}
	var st ImportStats
	// Management records are stamped with packet time; an input without packets gets
	// its file's modification time (stable, unlike the wall clock).
	idleTime := time.Now().UnixNano()
	if len(srcs) > 0 && srcs[0].f != nil {
		if fi, err := srcs[0].f.Stat(); err == nil {
			idleTime = fi.ModTime().UnixNano()
		}
	}
	pl := newPipeline(cfg.Workers, cfg.Flow)
	werr := make(chan error, 1)
	go func() { werr <- writeRecords(pl, w, cfg, idleTime) }()

	var ctr record.Management
	var first, now int64
	var progress progressState
	if cfg.Progress != nil {
		stop := progress.start(cfg.Progress, len(srcs))
		defer stop()
	}
	nextMan := int64(0)
	warnedLink := map[decode.LinkType]bool{}
	var hard error
	for fi, src := range srcs {
		st.Files++
		progress.file(fi, src)
		for {
			data, ci, lt, _, err := src.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					st.Warnings++
					st.Truncated = true
					what := "damaged"
					if errors.Is(err, io.ErrUnexpectedEOF) {
						what = "truncated"
					}
					if cfg.Strict {
						if hard == nil {
							hard = fmt.Errorf("%s: %s at byte %d (%v); records up to there were written", src.Name(), what, src.Offset(), err)
						}
					} else {
						fmt.Fprintf(warn, "panoptes import: warning: %s: %s at byte %d (%v); records up to there are kept\n", src.Name(), what, src.Offset(), err)
					}
				}
				break
			}
			ctr.PktsSeen++
			ctr.BytesSeen += uint64(ci.length)
			if !decode.Supported(lt) {
				ctr.SkippedLink++
				if !warnedLink[lt] {
					warnedLink[lt] = true
					st.Warnings++
					fmt.Fprintf(warn, "panoptes import: warning: %s: link type %d is not supported; its packets are counted and skipped\n", src.Name(), lt)
				}
				continue
			}
			ts := ci.ts
			var p decode.Packet
			p.Timestamp, p.WireLen, p.CapLen = ts, uint32(ci.length), uint32(ci.capLen)
			if p.WireLen < p.CapLen || p.WireLen > maxPacket {
				// A packet longer on the wire than any link carries is a damaged
				// header: count what was captured.
				p.WireLen = p.CapLen
			}
			derr := decode.Decode(lt, data, &p)
			// Cooked and loopback pseudo-headers are written by the capturing host, not
			// sent on any wire, and Argus counts point-to-point links from the network
			// layer: byte counts leave such framing out.
			p.WireLen -= min(p.WireLen, uint32(p.LinkHdrLen))
			if derr != nil {
				ctr.ParseErrors++
				if !usable(&p) {
					continue
				}
			}
			if first == 0 {
				first = ts
			}
			if ts > now {
				now = ts
			}
			var h uint32
			if cfg.Workers > 1 {
				h = flow.ShardHash(&p)
			}
			pl.add(h, &p)
			if nextMan == 0 {
				nextMan = first + int64(cfg.ManInterval)
			}
			// A round also ends when a management interval has passed: otherwise a
			// capture smaller than a round, or a sparse one, got no periodic management
			// records. Both tests use packet time only, so every sharding ends its
			// rounds at the same packets.
			if pl.full() || now >= nextMan {
				progress.update(src.Offset(), ctr.PktsSeen)
				ri := roundInfo{counters: ctr, first: first, now: now}
				if now >= nextMan {
					ri.man = true
					nextMan = now + int64(cfg.ManInterval)
				}
				pl.send(ri)
			}
		}
	}
	if len(srcs) > 0 {
		progress.update(srcs[len(srcs)-1].Offset(), ctr.PktsSeen)
	}
	pl.send(roundInfo{counters: ctr, first: first, now: now, final: true})
	err := <-werr
	st.Management = ctr
	if err != nil {
		return st, err
	}
	return st, hard
}

// usable reports whether a packet that failed to decode still identifies a flow: its IP
// header was read, and the damage is further in. Other damaged frames are counted as
// parse errors and left out.
func usable(p *decode.Packet) bool {
	return (p.Net == decode.NetIPv4 || p.Net == decode.NetIPv6) && p.IPHdrLen > 0
}

// writeRecords is the writer: it takes each round's records from the pipeline, numbers
// them and writes them, with management records at the start, at each management
// interval and at the end.
func writeRecords(pl *pipeline, w record.Sink, cfg ImportConfig, idleTime int64) error {
	var rd round
	var seq uint32
	var written uint64
	var werr error
	started := false
	var lastMan int64 // end of the interval the previous management record covered
	man := func(cause record.Cause, ri *roundInfo, st *flow.Stats) {
		m := ri.counters
		m.RecordsWritten = written
		m.FlowsActive = uint64(st.Active)
		m.Evictions = st.Evictions
		t, first := ri.now, ri.first
		if first == 0 {
			t, first = idleTime, idleTime
		}
		// A management record covers the interval since the previous one, as Argus's
		// MARs do (its counters are totals since the start).
		from := lastMan
		if cause == record.CauseStart || from == 0 || from > t {
			from = first
		}
		r := record.Record{Kind: record.KindMan, Cause: cause, SrcID: cfg.Flow.SrcID, StartTime: from, LastTime: t, Man: &m}
		if cause == record.CauseStart {
			*r.Man = record.Management{}
			r.LastTime = first
		}
		lastMan = r.LastTime
		seq++
		r.Seq = seq
		if werr == nil {
			werr = w.Write(&r)
		}
	}
	for pl.collect(&rd) {
		ri := &rd.info
		if !started && (ri.first != 0 || ri.final) {
			started = true
			man(record.CauseStart, ri, &rd.stats)
		}
		for _, r := range rd.recs {
			seq++
			r.Seq = seq
			if werr == nil {
				werr = w.Write(r)
				written++
			}
		}
		if ri.man && !ri.final {
			man(record.CauseStatus, ri, &rd.stats)
		}
		if ri.final {
			man(record.CauseStop, ri, &rd.stats)
		}
		pl.release(&rd)
	}
	if werr != nil {
		return werr
	}
	return w.Flush()
}

// ParseSrcID accepts a source id as a number or as an IPv4 address (Argus's habit of
// naming a sensor by its address).
func ParseSrcID(s string) (uint32, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
	}
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("bad --srcid %q: want a number or an IPv4 address", s)
	}
	return uint32(n), nil
}

// ImportMain is `panoptes import -r FILE [-r FILE]... -w OUT [--srcid ID] ...`.
func ImportMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("import", "-r FILE [-r FILE]... -w OUT [flags]", stderr)
	files := fs.StringArrayP("read", "r", nil, "capture file to read (pcap or pcapng, optionally gzip-compressed; - for stdin); repeatable")
	out := fs.StringP("write", "w", "", "output: a record stream file, - for stdout, an archive directory (an existing directory or a path ending in /), or argus:FILE for Argus records (appended to)")
	srcid := fs.String("srcid", "0", "source id for the records (a number or an IPv4 address)")
	var cfg ImportConfig
	flowFlags(fs, &cfg.Flow)
	fs.IntVar(&cfg.Workers, "workers", 0, "flow-table shards (0 = one per CPU less one for the reader)")
	fs.DurationVar(&cfg.ManInterval, "man-interval", 60*time.Second, "management status record interval (packet time)")
	fs.BoolVar(&cfg.Strict, "strict", false, "treat a truncated or damaged capture as an error (exit 2)")
	quiet := fs.BoolP("quiet", "q", false, "no progress line (it is shown only when stderr is a terminal)")
	archive := index.AddArchiveFlags(fs)
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return cli.Usagef("unexpected argument %q", rest[0])
	}
	if len(*files) == 0 {
		return cli.Usagef("no input: give -r FILE")
	}
	if *out == "" {
		return cli.Usagef("no output: give -w FILE or -w -")
	}
	if cfg.Flow.SrcID, err = ParseSrcID(*srcid); err != nil {
		return &cli.UsageError{Err: err}
	}
	if err := checkImportFlags(&cfg); err != nil {
		return err
	}
	if !*quiet {
		if report := TerminalProgress(stdout, stderr); report != nil {
			cfg.Progress = func(p Progress) { report(p) }
			defer fmt.Fprintln(stderr)
		}
	}
	archiveOpts, err := archive.Options()
	if err != nil {
		return err
	}
	if err := index.CheckOutput(*out, *files); err != nil {
		return err
	}
	srcs, err := OpenCaptures(*files, stdin) // a bad input fails before -w is touched
	if err != nil {
		return err
	}
	defer CloseCaptures(srcs)
	sink, closeSink, err := OpenSink(*out, stdout, archiveOpts, func(format string, args ...any) {
		fmt.Fprintf(stderr, "panoptes import: "+format+"\n", args...)
	})
	if err != nil {
		return err
	}
	_, err = ImportFrom(srcs, sink, stderr, cfg)
	if cerr := closeSink(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// OpenSink opens where records go: see index.OpenOutput.
func OpenSink(out string, stdout io.Writer, opts index.OutputOptions, logf func(string, ...any)) (record.Sink, func() error, error) {
	return index.OpenOutput(out, stdout, opts, logf)
}

// Bounds of the import and flow flags. MaxWorkers bounds the shards (each a goroutine
// with its batches and table): more than NIC RSS gives queues would only cost memory.
// MaxMaxFlows bounds the flow table at about 650 bytes a flow (10 GB), and as many
// fragment groups. Durations are positive (zero or less is no timer at all) and at most
// a day, so a mistyped value is refused instead of replaced by a default.
const (
	MaxWorkers  = 256
	MaxMaxFlows = 1 << 24
	maxTimer    = 24 * time.Hour
)

// checkImportFlags checks import's counts and durations.
func checkImportFlags(cfg *ImportConfig) error {
	return cli.FirstError(
		cli.IntRange("--workers", cfg.Workers, 0, MaxWorkers),
		cli.DurationRange("--man-interval", cfg.ManInterval, time.Millisecond, maxTimer),
		CheckFlowFlags(&cfg.Flow),
	)
}

// CheckFlowFlags checks the flow table's flags (flowFlags), for import and sensor.
func CheckFlowFlags(c *flow.Config) error {
	return cli.FirstError(
		cli.DurationRange("--status-interval", c.StatusInterval, time.Millisecond, maxTimer),
		cli.DurationRange("--tcp-timeout", c.TCPTimeout, time.Millisecond, maxTimer),
		cli.DurationRange("--udp-timeout", c.UDPTimeout, time.Millisecond, maxTimer),
		cli.DurationRange("--icmp-timeout", c.ICMPTimeout, time.Millisecond, maxTimer),
		cli.DurationRange("--other-timeout", c.OtherTimeout, time.Millisecond, maxTimer),
		cli.IntRange("--max-flows", c.MaxFlows, 1, MaxMaxFlows),
		cli.IntRange("--max-frags", c.MaxFrags, 1, MaxMaxFlows),
	)
}

// flowFlags adds the flow table's timers and size, shared by import and sensor.
func flowFlags(fs *pflag.FlagSet, c *flow.Config) {
	fs.DurationVar(&c.StatusInterval, "status-interval", 5*time.Second, "status records for active flows (and, live, management records) this often")
	fs.DurationVar(&c.TCPTimeout, "tcp-timeout", 60*time.Second, "idle timeout for TCP flows")
	fs.DurationVar(&c.UDPTimeout, "udp-timeout", 30*time.Second, "idle timeout for UDP and other IP flows")
	fs.DurationVar(&c.ICMPTimeout, "icmp-timeout", 5*time.Second, "idle timeout for ICMP flows")
	fs.DurationVar(&c.OtherTimeout, "other-timeout", 5*time.Second, "idle timeout for non-IP flows (ARP...)")
	fs.IntVar(&c.MaxFlows, "max-flows", 1<<20, "flows held at once over all shards; when full the oldest idle one is exported early (counted in evictions)")
	fs.IntVar(&c.MaxFrags, "max-frags", 1<<18, "datagrams waiting for their first fragment, over all shards; when full the oldest is reported early as a partial flow (counted in evictions)")
}
