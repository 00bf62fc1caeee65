package sensor

// Operations around `panoptes sensor`: the Prometheus endpoint (--metrics), log lines
// for journald and log shippers (--log-format), and the configuration file (--config,
// parsed by internal/cli). Kept out of live.go: the capture path only hands its state
// to LiveConfig.Observe, and nothing here runs unless Prometheus scrapes.

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"panoptes/argus"
	"panoptes/internal/cli"
	"panoptes/metrics"
	"panoptes/recordsvc"
)

// DefaultSensorConfig is the configuration file `panoptes sensor` reads when it exists
// and --config does not name another.
const DefaultSensorConfig = "/etc/panoptes/sensor.conf"

// sensorOps holds the operations flags of `panoptes sensor` and what they start.
type sensorOps struct {
	metricsAddr *string
	logFormat   *string
	log         *slog.Logger // nil: plain lines
	srv         *metrics.Server
	gate        metrics.Gate
	service     atomic.Pointer[recordsvc.Server] // -P, once it serves
}

func addOpsFlags(fs *pflag.FlagSet) *sensorOps {
	return &sensorOps{
		metricsAddr: fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9560)"),
		logFormat:   fs.String("log-format", "plain", "stderr lines: plain (\"panoptes sensor: ...\"), logfmt (time=... level=... msg=..., for journald and log shippers) or json"),
	}
}

// logger returns the function the sensor reports events with, in the chosen format.
// In logfmt and json an event naming one of the interfaces first gets an iface field.
func (o *sensorOps) logger(stderr io.Writer, interfaces []string) (func(string), error) {
	switch *o.logFormat {
	case "plain":
		return func(s string) { fmt.Fprintf(stderr, "panoptes sensor: %s\n", s) }, nil
	case "logfmt":
		o.log = slog.New(slog.NewTextHandler(&lineWriter{w: stderr}, nil))
	case "json":
		o.log = slog.New(slog.NewJSONHandler(&lineWriter{w: stderr}, nil))
	default:
		return nil, cli.Usagef("sensor: --log-format %q: want plain, logfmt or json", *o.logFormat)
	}
	o.log = o.log.With("cmd", "sensor")
	return func(s string) {
		for _, n := range interfaces {
			if rest, ok := strings.CutPrefix(s, n); ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, " ")) {
				o.log.Warn(s, "iface", n)
				return
			}
		}
		o.log.Warn(s)
	}, nil
}

// infoLog logs at INFO (the service's "serving records on ..." line): to the
// structured log when there is one, else as the other lines go.
func (o *sensorOps) infoLog(warn func(string)) func(string, ...any) {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if o.log != nil {
			o.log.Info(msg)
			return
		}
		warn(msg)
	}
}

// serviceCounters reads the record service's counters for a scrape; nil without -P.
func (o *sensorOps) serviceCounters() *metrics.Service {
	srv := o.service.Load()
	if srv == nil {
		return nil
	}
	st := srv.Stats()
	return &metrics.Service{Clients: st.Clients, Refused: st.Refused, Dropped: st.Dropped, Unoffered: st.Unoffered, QueueBytes: st.QueueBytes}
}

// lineWriter writes each log line with one Write call, so that lines from several
// goroutines never interleave on stderr.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// start serves metrics if asked, hooking cfg so that the capture's counters are read at
// each scrape, and logs when the capture runs. The returned function stops serving.
func (o *sensorOps) start(cfg *LiveConfig, out string, warn func(string)) (func(), error) {
	if err := checkCapabilities(cfg); err != nil {
		return nil, err
	}
	if o.log != nil {
		ready := cfg.Ready
		cfg.Ready = func() {
			o.log.Info("capturing", "iface", strings.Join(cfg.Interfaces, ","), "mode", map[bool]string{true: "afpacket", false: "xdp"}[cfg.AFPacket], "output", out)
			if ready != nil {
				ready()
			}
		}
	}
	if *o.metricsAddr == "" {
		return func() {}, nil
	}
	size := archiveSizer(out)
	src := o.gate.Source()
	var err error
	o.srv, err = metrics.Serve(*o.metricsAddr, metrics.NewCollector(func() (metrics.Snapshot, bool) {
		s, ok := src()
		if ok {
			s.ArchiveBytes = size()
			s.Service = o.serviceCounters()
		}
		return s, ok
	}))
	if err != nil {
		return nil, cli.Usagef("sensor: %v", err)
	}
	if o.log != nil {
		o.log.Info("metrics at http://"+o.srv.Addr+"/metrics", "addr", o.srv.Addr)
	} else {
		warn(fmt.Sprintf("metrics at http://%s/metrics", o.srv.Addr))
	}
	cfg.Observe = func(ls *LiveState) func() {
		o.gate.Set(func() metrics.Snapshot {
			s := ls.Snapshot()
			return s.Metrics()
		})
		return o.gate.Clear
	}
	return func() { o.srv.Close() }, nil
}

// archiveSizer returns a function giving the output's size on disk: the sum of the
// archive directory's files, or the stream file's size; -1 for stdout. An archive is
// walked at most every 10 s (a scrape must stay cheap on a large archive).
func archiveSizer(out string) func() int64 {
	if p, ok := argus.CutOutput(out); ok { // -w argus:FILE: the file's size
		out = p
	}
	if out == "-" {
		return func() int64 { return -1 }
	}
	var mu sync.Mutex
	var last time.Time
	var size int64
	return func() int64 {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 10*time.Second && !last.IsZero() {
			return size
		}
		last = time.Now()
		size = 0
		filepath.WalkDir(out, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // a segment deleted by retention during the walk
			}
			if info, ierr := d.Info(); ierr == nil && info.Mode().IsRegular() {
				size += info.Size()
			}
			return nil
		})
		return size
	}
}

// summary reports the loss accounting at exit: the plain table, or in logfmt/json one
// event per queue (its source's counters, under their names) and one for the totals.
func (o *sensorOps) summary(stderr io.Writer, st *LiveStats) {
	if o.log == nil {
		st.WriteSummary(stderr)
		return
	}
	for _, q := range st.Queues {
		attrs := []any{"queue", q.Name(), "iface", q.Iface}
		for i, c := range q.Counters {
			attrs = append(attrs, c.Name, q.Values[i])
		}
		o.log.Info("queue counters", attrs...)
	}
	o.log.Info("capture ended", "records", st.RecordsWritten, "ring_dropped", st.RecordDrops(), "reshard_dropped", st.ReshardDrops(),
		"evictions", st.Evictions(), "parse_errors", st.ParseErrors(), "nic_drops", st.NICDrops(), "output_dropped", st.OutputDrops)
}

// Capability numbers (linux/capability.h).
const (
	capNetAdmin = 12
	capNetRaw   = 13
	capIPCLock  = 14
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// sensorCaps is what the packaged unit grants; named in the error when one is missing.
const sensorCaps = "CAP_BPF CAP_NET_ADMIN CAP_NET_RAW CAP_PERFMON CAP_IPC_LOCK"

// checkCapabilities says, before anything is opened, which capability the capture
// lacks. Without it the kernel's answer is a bare EPERM that the BPF library blames on
// RLIMIT_MEMLOCK. CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, as in the
// kernel. Without CAP_IPC_LOCK the AF_XDP UMEM counts against RLIMIT_MEMLOCK.
func checkCapabilities(cfg *LiveConfig) error {
	eff, ok := effectiveCaps()
	if !ok {
		return nil // no /proc: let the kernel decide
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	need := []struct {
		bit  uint
		name string
		why  string
	}{{capNetRaw, "CAP_NET_RAW", "opening packet sockets"}}
	if !cfg.AFPacket {
		need = append(need,
			struct {
				bit  uint
				name string
				why  string
			}{capBPF, "CAP_BPF", "loading the XDP program"},
			struct {
				bit  uint
				name string
				why  string
			}{capNetAdmin, "CAP_NET_ADMIN", "attaching XDP and binding AF_XDP sockets"})
	}
	for _, n := range need {
		if has(n.bit) || (n.bit == capBPF || n.bit == capPerfmon) && has(capSysAdmin) {
			continue
		}
		return fmt.Errorf("sensor: missing capability %s, needed for %s: run as root or with %s (as packaging/panoptes-sensor.service grants)", n.name, n.why, sensorCaps)
	}
	if !cfg.AFPacket && !has(capIPCLock) {
		var lim unix.Rlimit
		umem := uint64(max(cfg.XDP.Frames, 1)) * uint64(max(cfg.XDP.FrameSize, 1))
		if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil && lim.Cur != unix.RLIM_INFINITY && lim.Cur < umem {
			return fmt.Errorf("sensor: without CAP_IPC_LOCK each queue's AF_XDP UMEM (%d MiB) counts against RLIMIT_MEMLOCK (%d KiB): grant CAP_IPC_LOCK or raise the limit (LimitMEMLOCK=infinity, ulimit -l unlimited)", umem>>20, lim.Cur>>10)
		}
	}
	return nil
}

// effectiveCaps reads the process's effective capability set from /proc/self/status.
func effectiveCaps() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return caps, err == nil
		}
	}
	return 0, false
}
