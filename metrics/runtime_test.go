package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeProc writes a /proc with the files the process metrics read; stat is left out when
// hideStat (systemd's ProcSubset=pid hides it).
func fakeProc(t *testing.T, hideStat bool) string {
	root := t.TempDir()
	self := filepath.Join(root, "self")
	for _, d := range []string{"fd", "net"} {
		if err := os.MkdirAll(filepath.Join(self, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		// A command name with the separators in it: fields are counted after the last ')'.
		"self/stat": "4242 (a) b (c) R 1 4242 4242 0 -1 4194304 99 0 0 0 250 125 0 0 20 0 3 0 1000 3133440 395 18446744073709551615 1 2 3\n",
		"self/limits": "Limit                     Soft Limit           Hard Limit           Units     \n" +
			"Max cpu time              unlimited            unlimited            seconds   \n" +
			"Max open files            1024                 524288               files     \n" +
			"Max address space         unlimited            unlimited            bytes     \n",
		"self/net/netstat": "TcpExt: SyncookiesSent InOctets\nTcpExt: 5 6\n" +
			"IpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 302317053 26647850\n",
		"stat": "cpu  1 2 3\nbtime 1796400000\nprocesses 5\n",
	}
	if hideStat {
		delete(files, "stat")
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, fd := range []string{"0", "1", "2"} {
		if err := os.Symlink("/dev/null", filepath.Join(self, "fd", fd)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestProcessMetrics reads a fake /proc: the values as procfs computed them (ticks of
// 1/100 s, pages, "unlimited" as the largest uint64), and no process_start_time_seconds
// when /proc/stat is hidden.
func TestProcessMetrics(t *testing.T) {
	defer func(r string) { procRoot = r }(procRoot)
	page := float64(os.Getpagesize())
	for _, hide := range []bool{false, true} {
		procRoot = fakeProc(t, hide)
		var b bytes.Buffer
		if err := WriteText(&b, processMetrics{}); err != nil {
			t.Fatal(err)
		}
		fams := parse(t, b.Bytes())
		value := func(name string) float64 {
			f := fams[name]
			if f == nil {
				return -1
			}
			m := f.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		want := map[string]float64{
			"process_cpu_seconds_total":            3.75,
			"process_virtual_memory_bytes":         3133440,
			"process_resident_memory_bytes":        395 * page,
			"process_start_time_seconds":           1796400000 + 10,
			"process_open_fds":                     3,
			"process_max_fds":                      1024,
			"process_virtual_memory_max_bytes":     18446744073709551615,
			"process_network_receive_bytes_total":  302317053,
			"process_network_transmit_bytes_total": 26647850,
		}
		if hide {
			want["process_start_time_seconds"] = -1
		}
		for name, v := range want {
			if got := value(name); got != v {
				t.Errorf("/proc/stat hidden %v: %s = %v, want %v\n%s", hide, name, got, v, b.String())
			}
		}
	}
}

// TestProcessMetricsMissing: with no /proc at all there are no process_* metrics and no
// error: they are left out, as client_golang's collector left them.
func TestProcessMetricsMissing(t *testing.T) {
	defer func(r string) { procRoot = r }(procRoot)
	procRoot = filepath.Join(t.TempDir(), "none")
	var b bytes.Buffer
	if err := WriteText(&b, processMetrics{}); err != nil || b.Len() != 0 {
		t.Errorf("%v, %q", err, b.String())
	}
}

// TestGoMetrics: the go_* families client_golang's Go collector exported, read from this
// process.
func TestGoMetrics(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, goMetrics{}); err != nil {
		t.Fatal(err)
	}
	fams := parse(t, b.Bytes())
	if n := len(fams); n != 29 {
		t.Errorf("%d go_* families, want 29:\n%s", n, b.String())
	}
	for name, check := range map[string]func(v float64) bool{
		"go_goroutines":                func(v float64) bool { return v >= 2 },
		"go_threads":                   func(v float64) bool { return v >= 1 },
		"go_memstats_alloc_bytes":      func(v float64) bool { return v > 0 },
		"go_memstats_heap_inuse_bytes": func(v float64) bool { return v > 0 },
		"go_memstats_sys_bytes":        func(v float64) bool { return v > 1<<20 },
		"go_sched_gomaxprocs_threads":  func(v float64) bool { return v >= 1 },
		"go_gc_gogc_percent":           func(v float64) bool { return v != 0 },
		"go_info":                      func(v float64) bool { return v == 1 },
	} {
		f := fams[name]
		if f == nil || !check(f.GetMetric()[0].GetGauge().GetValue()) {
			t.Errorf("%s: %v", name, f)
		}
	}
	if h := fams["go_sched_gomaxprocs_threads"].GetHelp(); !strings.HasSuffix(h, " Sourced from /sched/gomaxprocs:threads.") || len(h) < 60 {
		t.Errorf("go_sched_gomaxprocs_threads help %q: want the runtime's description", h)
	}
	if q := fams["go_gc_duration_seconds"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 5 || q[4].GetQuantile() != 1 {
		t.Errorf("go_gc_duration_seconds quantiles %v", q)
	}
}
