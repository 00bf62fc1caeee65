package sensor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"panoptes/filter"
	"panoptes/fleet"
	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/xdp"
)

// SensorMain is `panoptes sensor -i IFACE[,IFACE...] -w OUT [flags]`.
func SensorMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("sensor", "-i IFACE[,IFACE...] -w OUT [flags]", stderr)
	var f sensorFlags
	f.ifaces = fs.StringP("interface", "i", "", "interfaces to capture on, comma-separated")
	f.out = fs.StringP("write", "w", "", "output: a record stream file, - for stdout, an archive directory (an existing directory or a path ending in /), or argus:FILE for Argus records (appended to)")
	f.queues = fs.String("queues", "all", "RX queues to capture per interface: all or N (queues 0..N-1)")
	f.mode = fs.String("mode", "xdp", "capture path: xdp (XDP + AF_XDP) or afpacket (AF_PACKET TPACKET_V3, hash fanout)")
	f.xdpMode = fs.String("xdp-mode", "auto", "XDP attach mode: auto (native, else generic), native, generic")
	f.hwts = fs.String("hwts", "auto", "hardware receive timestamps: auto, on (fail without), off")
	f.srcid = fs.String("srcid", "0", "source id for the records (a number or an IPv4 address)")
	f.flt = fs.String("filter", "", "write only the flow records this ra filter selects (e.g. \"tcp and not port 22\"); management records are always written")
	var cfg LiveConfig
	flowFlags(fs, &cfg.Flow)
	fs.IntVar(&cfg.XDP.Frames, "umem-frames", 16384, "UMEM frames per queue")
	fs.IntVar(&cfg.XDP.FrameSize, "frame-size", 2048, "UMEM frame size (2048 or 4096); frames longer than it less 288 bytes of headroom are dropped and counted")
	fs.IntVar(&cfg.XDP.RingSize, "ring-size", 8192, "AF_XDP fill and RX ring entries per queue (a power of two)")
	fs.IntVar(&cfg.RingSize, "record-ring", 1<<16, "records buffered between each queue and the writer")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (default: run until SIGINT/SIGTERM)")
	archive := index.AddArchiveFlags(fs)
	ipfixDest := ipfixFlag(fs)
	ops := addOpsFlags(fs)
	f.clockSkew = fs.String("clock-skew", "auto", "how far the clocks of several interfaces may disagree: an answer stamped less than this before its request stays the answer (auto: 1ms with NIC hardware clocks, 0 with the system clock)")
	fs.BoolVar(&cfg.Reshard, "reshard", false, "deal packets to flow shards by a symmetric flow hash (always on with several interfaces; for NICs without symmetric RSS)")
	var serve serveFlags // -P, --publish: sensor/serve.go
	serve.register(fs)
	queries := fs.String("query-service", "", fleet.ServiceFlagUsage)
	rest, err := cli.ParseWithConfig(fs, args, DefaultSensorConfig)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return cli.Usagef("sensor: unexpected argument %q (a filter goes in --filter)", rest[0])
	}
	if err := f.apply(&cfg); err != nil {
		return err
	}
	if err := fleet.CheckService(*queries, *f.out); err != nil {
		return &cli.UsageError{Err: err}
	}
	warn, err := ops.logger(stderr, cfg.Interfaces)
	if err != nil {
		return err
	}
	stopOps, err := ops.start(&cfg, *f.out, warn)
	if err != nil {
		return err
	}
	defer stopOps()
	archiveOpts, err := archive.Options()
	if err != nil {
		return err
	}
	w, err := index.OpenOutput(*f.out, stdout, archiveOpts, func(format string, args ...any) { warn(fmt.Sprintf(format, args...)) })
	if err != nil {
		return err
	}
	if w, err = serve.wrap(w, func(format string, args ...any) { warn(fmt.Sprintf(format, args...)) }, ops.infoLog(warn)); err != nil {
		return err
	}
	if serve.srv != nil {
		ops.service.Store(serve.srv) // its counters in --metrics
	}
	if w, err = teeIPFIX(*ipfixDest, w, warn); err != nil {
		return err
	}
	svc, err := fleet.Start(*queries, *f.out, ops.infoLog(warn))
	if err != nil {
		w.Close()
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	st, err := Live(ctx, cfg, w, warn)
	svc.Close()
	if cerr := w.Close(); err == nil && cerr != nil {
		err = cerr
	}
	// Close may drop more (a database still away when its give-up time ends).
	st.OutputDrops = record.Dropped(w)
	if st.Started {
		ops.summary(stderr, &st)
	}
	return err
}

// maxRecordRing bounds --record-ring: each queue's ring is allocated in full at start
// (a record is a few hundred bytes), so a mistyped size must not ask for terabytes.
const maxRecordRing = 1 << 20

// maxUMEMFrames and maxXDPRing bound the per-queue UMEM (allocated and locked at start:
// 262144 frames of 4096 bytes is 1 GB a queue) and the AF_XDP rings; maxQueues the
// queues per interface (no NIC has more).
const (
	maxUMEMFrames = 1 << 18
	maxXDPRing    = 1 << 18
	maxQueues     = 1024
)

// sensorFlags are the flags of `panoptes sensor` that apply checks and converts into
// its LiveConfig.
type sensorFlags struct {
	ifaces, out, queues, mode, xdpMode, hwts, srcid, flt, clockSkew *string
}

// apply checks the flags and sets cfg from them; an error is a usage error.
func (f *sensorFlags) apply(cfg *LiveConfig) (err error) {
	if *f.flt != "" {
		if cfg.Filter, err = filter.Compile(*f.flt); err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	if *f.ifaces == "" {
		return cli.Usagef("sensor: no interface: give -i IFACE")
	}
	if *f.out == "" {
		return cli.Usagef("sensor: no output: give -w FILE or -w -")
	}
	switch *f.mode {
	case "xdp":
	case "afpacket":
		cfg.AFPacket = true
	default:
		return cli.Usagef("sensor: --mode %q: want xdp or afpacket", *f.mode)
	}
	switch xdp.Mode(*f.xdpMode) {
	case xdp.ModeAuto, xdp.ModeNative, xdp.ModeGeneric:
		cfg.XDP.Mode = xdp.Mode(*f.xdpMode)
	default:
		return cli.Usagef("sensor: --xdp-mode %q: want auto, native or generic", *f.xdpMode)
	}
	cfg.ClockSkew = -1
	if *f.clockSkew != "auto" {
		if cfg.ClockSkew, err = time.ParseDuration(*f.clockSkew); err != nil || cfg.ClockSkew < 0 {
			return cli.Usagef("sensor: --clock-skew %q: want a duration (500us, 2ms) or auto", *f.clockSkew)
		}
	}
	switch *f.hwts {
	case "auto", "on", "off":
		cfg.XDP.HWTS = *f.hwts
	default:
		return cli.Usagef("sensor: --hwts %q: want auto, on or off", *f.hwts)
	}
	// The kernel takes UMEM chunks of a power of two from 2048 bytes to a page, and
	// rings of a power of two entries; it would refuse others with a bare EINVAL.
	if size := cfg.XDP.FrameSize; size != 2048 && size != 4096 {
		return cli.Usagef("sensor: --frame-size %d: want 2048 or 4096", size)
	}
	if r := cfg.XDP.RingSize; r <= 0 || r&(r-1) != 0 {
		return cli.Usagef("sensor: --ring-size %d: want a power of two (e.g. 8192)", r)
	}
	if cfg.XDP.Frames <= 0 || cfg.XDP.Frames > maxUMEMFrames {
		return cli.Usagef("sensor: --umem-frames %d: want 1 to %d", cfg.XDP.Frames, maxUMEMFrames)
	}
	if r := cfg.XDP.RingSize; r > maxXDPRing {
		return cli.Usagef("sensor: --ring-size %d: want a power of two up to %d", r, maxXDPRing)
	}
	if err = CheckFlowFlags(&cfg.Flow); err != nil {
		return err
	}
	if cfg.Duration < 0 {
		return cli.Usagef("sensor: --duration %v: must not be negative", cfg.Duration)
	}
	if cfg.RingSize <= 0 || cfg.RingSize > maxRecordRing {
		return cli.Usagef("sensor: --record-ring %d: want 1 to %d records", cfg.RingSize, maxRecordRing)
	}
	if *f.queues != "all" {
		n, err := strconv.Atoi(*f.queues)
		if err != nil || n <= 0 || n > maxQueues {
			return cli.Usagef("sensor: --queues %q: want all or 1 to %d", *f.queues, maxQueues)
		}
		cfg.Queues = n
	}
	if cfg.Flow.SrcID, err = ParseSrcID(*f.srcid); err != nil {
		return &cli.UsageError{Err: err}
	}
	cfg.Interfaces = strings.Split(*f.ifaces, ",")
	return nil
}
