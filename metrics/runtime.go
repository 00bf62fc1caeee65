package metrics

// The standard go_* and process_* metrics, under the names, HELP texts and values of
// client_golang's Go and process collectors (v1.25, their defaults), which dashboards
// and alerts expect.

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	rm "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// goMetrics exports the Go runtime's metrics.
type goMetrics struct{}

// memstat is a go_memstats_* gauge or counter computed from runtime/metrics samples,
// as client_golang computes them (the old runtime.MemStats fields, without stopping
// the world to read them).
type memstat struct {
	d   *Desc
	val func(get func(string) uint64) uint64
}

// The runtime/metrics read at each scrape: the memory classes the go_memstats_* are made
// of, then those exported under their own names (runtimeGauges).
var rmNames = []string{
	"/gc/heap/tiny/allocs:objects", "/gc/heap/allocs:objects", "/gc/heap/frees:objects",
	"/gc/heap/allocs:bytes", "/gc/heap/objects:objects", "/gc/heap/goal:bytes",
	"/memory/classes/total:bytes", "/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes", "/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes", "/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes", "/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes", "/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mcache/free:bytes", "/memory/classes/profiling/buckets:bytes",
	"/memory/classes/metadata/other:bytes", "/memory/classes/other:bytes",
}

// runtimeGauges are the runtime/metrics client_golang exports by default under names
// derived from theirs, with the runtime's description as HELP.
var runtimeGauges = [][2]string{
	{"/gc/gogc:percent", "go_gc_gogc_percent"},
	{"/gc/gomemlimit:bytes", "go_gc_gomemlimit_bytes"},
	{"/sched/gomaxprocs:threads", "go_sched_gomaxprocs_threads"},
}

type goDescs struct {
	goroutines, threads, gc, lastGC, info *Desc
	memstats                              []memstat
	runtime                               []*Desc // runtimeGauges'
}

// goDescriptions are made at the first scrape, not at the start of every command.
var goDescriptions = sync.OnceValue(func() *goDescs {
	ms := func(name, help string, t ValueType, val func(get func(string) uint64) uint64) memstat {
		return memstat{NewDesc("go_memstats_"+name, help, t), val}
	}
	heapInuse := func(g func(string) uint64) uint64 {
		return g("/memory/classes/heap/objects:bytes") + g("/memory/classes/heap/unused:bytes")
	}
	heapIdle := func(g func(string) uint64) uint64 {
		return g("/memory/classes/heap/released:bytes") + g("/memory/classes/heap/free:bytes")
	}
	one := func(name string) func(func(string) uint64) uint64 {
		return func(g func(string) uint64) uint64 { return g(name) }
	}
	two := func(a, b string) func(func(string) uint64) uint64 {
		return func(g func(string) uint64) uint64 { return g(a) + g(b) }
	}
	d := &goDescs{
		goroutines: NewDesc("go_goroutines", "Number of goroutines that currently exist.", GaugeValue),
		threads:    NewDesc("go_threads", "Number of OS threads created.", GaugeValue),
		gc:         NewDesc("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", summaryValue),
		lastGC:     NewDesc("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", GaugeValue),
		info:       NewDesc("go_info", "Information about the Go environment.", GaugeValue, "version"),
		memstats: []memstat{
			ms("alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", GaugeValue, one("/memory/classes/heap/objects:bytes")),
			ms("alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", CounterValue, one("/gc/heap/allocs:bytes")),
			ms("sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", GaugeValue, one("/memory/classes/total:bytes")),
			ms("mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", CounterValue, two("/gc/heap/allocs:objects", "/gc/heap/tiny/allocs:objects")),
			ms("frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", CounterValue, two("/gc/heap/frees:objects", "/gc/heap/tiny/allocs:objects")),
			ms("heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", GaugeValue, one("/memory/classes/heap/objects:bytes")),
			ms("heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", GaugeValue,
				func(g func(string) uint64) uint64 { return heapInuse(g) + heapIdle(g) }),
			ms("heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", GaugeValue, heapIdle),
			ms("heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", GaugeValue, heapInuse),
			ms("heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", GaugeValue, one("/memory/classes/heap/released:bytes")),
			ms("heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", GaugeValue, one("/gc/heap/objects:objects")),
			ms("stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", GaugeValue, one("/memory/classes/heap/stacks:bytes")),
			ms("stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", GaugeValue, two("/memory/classes/heap/stacks:bytes", "/memory/classes/os-stacks:bytes")),
			ms("mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", GaugeValue, one("/memory/classes/metadata/mspan/inuse:bytes")),
			ms("mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", GaugeValue, two("/memory/classes/metadata/mspan/inuse:bytes", "/memory/classes/metadata/mspan/free:bytes")),
			ms("mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", GaugeValue, one("/memory/classes/metadata/mcache/inuse:bytes")),
			ms("mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", GaugeValue, two("/memory/classes/metadata/mcache/inuse:bytes", "/memory/classes/metadata/mcache/free:bytes")),
			ms("buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", GaugeValue, one("/memory/classes/profiling/buckets:bytes")),
			ms("gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", GaugeValue, one("/memory/classes/metadata/other:bytes")),
			ms("other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", GaugeValue, one("/memory/classes/other:bytes")),
			ms("next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", GaugeValue, one("/gc/heap/goal:bytes")),
		},
	}
	help := map[string]string{}
	for _, m := range rm.All() {
		help[m.Name] = m.Description
	}
	for _, g := range runtimeGauges {
		d.runtime = append(d.runtime, NewDesc(g[1], help[g[0]]+" Sourced from "+g[0]+".", GaugeValue))
	}
	return d
})

// Collect adds the go_* metrics.
func (goMetrics) Collect(s *Scrape) {
	d := goDescriptions()
	s.Add(d.goroutines, float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	s.Add(d.threads, float64(threads))

	// The pause quantiles (min, 25%, median, 75%, max) of the recent collections.
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	q := make([][2]float64, len(gc.PauseQuantiles))
	for i, p := range gc.PauseQuantiles {
		q[i] = [2]float64{float64(i) / float64(len(q)-1), p.Seconds()}
	}
	s.addSummary(d.gc, uint64(gc.NumGC), gc.PauseTotal.Seconds(), q)
	s.Add(d.lastGC, float64(gc.LastGC.UnixNano())/1e9)
	s.Add(d.info, 1, runtime.Version())

	samples := make([]rm.Sample, 0, len(rmNames)+len(runtimeGauges))
	for _, n := range rmNames {
		samples = append(samples, rm.Sample{Name: n})
	}
	for _, g := range runtimeGauges {
		samples = append(samples, rm.Sample{Name: g[0]})
	}
	rm.Read(samples)
	value := map[string]uint64{}
	for _, v := range samples {
		// A metric this Go does not have (KindBad) counts 0, as in client_golang.
		if v.Value.Kind() == rm.KindUint64 {
			value[v.Name] = v.Value.Uint64()
		}
	}
	get := func(n string) uint64 { return value[n] }
	for _, m := range d.memstats {
		s.Add(m.d, float64(m.val(get)))
	}
	for i := range runtimeGauges {
		if v := samples[len(rmNames)+i].Value; v.Kind() == rm.KindUint64 {
			s.Add(d.runtime[i], float64(v.Uint64()))
		}
	}
}

// processMetrics exports the process's, read from /proc. What cannot be read is left
// out (as client_golang's collector left it): under systemd's ProcSubset=pid, /proc/stat
// is hidden, so process_start_time_seconds (the boot time from it plus the process's
// start from /proc/self/stat) is absent.
type processMetrics struct{}

type procDescs struct {
	cpu, openFDs, maxFDs, vsize, maxVsize, rss, start, in, out *Desc
}

var procDescriptions = sync.OnceValue(func() *procDescs {
	return &procDescs{
		cpu:      NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", CounterValue),
		openFDs:  NewDesc("process_open_fds", "Number of open file descriptors.", GaugeValue),
		maxFDs:   NewDesc("process_max_fds", "Maximum number of open file descriptors.", GaugeValue),
		vsize:    NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", GaugeValue),
		maxVsize: NewDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", GaugeValue),
		rss:      NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", GaugeValue),
		start:    NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", GaugeValue),
		in:       NewDesc("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", CounterValue),
		out:      NewDesc("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", CounterValue),
	}
})

// userHZ is the unit of /proc's clock ticks: USER_HZ, 100 on every Linux architecture
// Go supports (the value procfs assumes too).
const userHZ = 100

// procRoot is /proc, a variable for the tests.
var procRoot = "/proc"

// Collect adds the process_* metrics.
func (processMetrics) Collect(s *Scrape) {
	d := procDescriptions()
	if st, err := readProcStat(procRoot + "/self/stat"); err == nil {
		s.Add(d.cpu, float64(st.utime+st.stime)/userHZ)
		s.Add(d.vsize, float64(st.vsize))
		s.Add(d.rss, float64(st.rss*int64(os.Getpagesize())))
		if boot, err := bootTime(procRoot + "/stat"); err == nil {
			s.Add(d.start, float64(boot)+float64(st.start)/userHZ)
		}
	}
	if n, err := openFDs(procRoot + "/self/fd"); err == nil {
		s.Add(d.openFDs, float64(n))
	}
	if fds, vsize, err := readLimits(procRoot + "/self/limits"); err == nil {
		s.Add(d.maxFDs, float64(fds))
		s.Add(d.maxVsize, float64(vsize))
	}
	if in, out, err := readNetstat(procRoot + "/self/net/netstat"); err == nil {
		s.Add(d.in, in)
		s.Add(d.out, out)
	}
}

type procStat struct {
	utime, stime, start, vsize uint64
	rss                        int64 // pages
}

// readProcStat reads proc(5)'s /proc/PID/stat.
func readProcStat(path string) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and parentheses:
	// the fields are counted after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errBadProc(path)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, errBadProc(path)
	}
	var st procStat
	for _, x := range []struct {
		field int
		to    *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &st.start}, {23, &st.vsize}} {
		if *x.to, err = strconv.ParseUint(f[x.field-3], 10, 64); err != nil {
			return procStat{}, errBadProc(path)
		}
	}
	if st.rss, err = strconv.ParseInt(f[24-3], 10, 64); err != nil {
		return procStat{}, errBadProc(path)
	}
	return st, nil
}

type errBadProc string

func (e errBadProc) Error() string { return string(e) + ": unexpected format" }

// bootTime is the btime line of /proc/stat: the boot time in seconds since the epoch.
func bootTime(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errBadProc(path)
}

// procSuperMagic is the f_type statfs(2) gives for a procfs.
const procSuperMagic = 0x9fa0

// openFDs counts the process's descriptors: the size of /proc/self/fd on a procfs since
// Linux 6.2, else its entries (the descriptor reading them included, as procfs counts them).
func openFDs(dir string) (int, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	var fs syscall.Statfs_t
	if fi.Size() > 0 && syscall.Statfs(dir, &fs) == nil && fs.Type == procSuperMagic {
		return int(fi.Size()), nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

// readLimits reads the soft limits on open files and address space from
// /proc/PID/limits; "unlimited" is the largest uint64, as procfs reads it.
func readLimits(path string) (fds, vsize uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for line := range strings.Lines(string(b)) {
		// "Max open files            1024                 524288               files":
		// after the limit's name, its soft limit, hard limit and unit.
		var to *uint64
		rest, ok := strings.CutPrefix(line, "Max open files ")
		if ok {
			to = &fds
		} else if rest, ok = strings.CutPrefix(line, "Max address space "); ok {
			to = &vsize
		} else {
			continue
		}
		f := strings.Fields(rest)
		switch {
		case len(f) == 0:
			return 0, 0, errBadProc(path)
		case f[0] == "unlimited":
			*to = ^uint64(0)
		default:
			if *to, err = strconv.ParseUint(f[0], 10, 64); err != nil {
				return 0, 0, errBadProc(path)
			}
		}
		found++
	}
	if found != 2 {
		return 0, 0, errBadProc(path)
	}
	return fds, vsize, nil
}

// readNetstat reads IpExt's InOctets and OutOctets from /proc/PID/net/netstat: the
// bytes through the network namespace the process is in (0 if the kernel lacks them).
func readNetstat(path string) (in, out float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	// Pairs of lines: "IpExt: Name1 Name2 ..." then "IpExt: value1 value2 ...".
	var names []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "IpExt:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if i >= len(names) {
				break
			}
			var to *float64
			switch names[i] {
			case "InOctets":
				to = &in
			case "OutOctets":
				to = &out
			default:
				continue
			}
			if *to, err = strconv.ParseFloat(v, 64); err != nil {
				return 0, 0, errBadProc(path)
			}
		}
		break
	}
	return in, out, nil
}
