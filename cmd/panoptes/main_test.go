package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/internal/goldentest"
	"panoptes/internal/peer"
)

func TestMain(m *testing.M) {
	// Text times print in the local zone, as ra's do; golden files are in UTC.
	time.Local = time.UTC
	os.Setenv("RARC", "") // never the developer's ~/.rarc (tests of it set RARC)
	os.Exit(m.Run())
}

// panoptes runs the binary's entry point in-process and returns stdout, stderr and the
// exit code.
func panoptes(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// importCapture imports testdata captures into a stream file and returns its path.
func importCapture(t *testing.T, captures ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "flows.pnp")
	args := []string{"import", "-w", out}
	for _, c := range captures {
		args = append(args, "-r", filepath.Join("..", "..", "testdata", c))
	}
	if _, errs, code := panoptes(t, nil, args...); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	return out
}

// End to end through the binary: import real captures, then print them as ra would.
func TestImportReadGolden(t *testing.T) {
	flows := importCapture(t, "get.pcap", "http_ipv6.pcap", "icmp.pcap", "linuxsll-arp.pcap", "q-in-q.pcap", "dns.pcap")
	tests := []struct {
		name string
		args []string
	}{
		{"read-default", []string{"read", "-r", flows}},
		{"read-fields", []string{"read", "-r", flows, "-s", "stime,ltime,dur,proto,saddr,sport,dir,daddr,dport,spkts,dpkts,sbytes,dbytes,sappbytes,dappbytes,state,cause"}},
		{"read-tcp-details", []string{"read", "-r", flows, "-s", "saddr sport daddr dport tcprtt synack ackdat stcpb dtcpb sretrans dretrans sloss dloss smeansz dmeansz smaxsz sminsz", "--", "tcp"}},
		{"read-l2", []string{"read", "-r", flows, "-s", "proto,saddr,daddr,smac,dmac,svlan,dvlan,sttl,dttl,stos,dtos,flgs", "-n"}},
		{"read-csv", []string{"read", "-r", flows, "-c", ",", "-s", "stime,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes,state"}},
		{"read-json", []string{"read", "-r", flows, "--json", "-N", "6"}},
		{"read-filter", []string{"read", "-r", flows, "-s", "proto,saddr,sport,daddr,dport,pkts", "--", "udp or icmp and not host 192.168.0.1"}},
		{"cluster-5tuple", []string{"cluster", "-r", flows, "-s", "proto,saddr,sport,dir,daddr,dport,spkts,dpkts,sbytes,dbytes,state,trans"}},
		{"cluster-proto", []string{"cluster", "-r", flows, "-m", "proto", "-s", "proto,pkts,bytes,trans"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := panoptes(t, nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			goldentest.Check(t, "testdata/"+tc.name+".golden", out)
		})
	}
}

func TestJSONLines(t *testing.T) {
	flows := importCapture(t, "get.pcap")
	out, _, code := panoptes(t, nil, "read", "-r", flows, "--json", "--", "tcp")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1 TCP flow", len(lines))
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &v); err != nil {
		t.Fatal(err)
	}
	if v["proto"] != "tcp" || v["sport"] != float64(59856) || v["pkts"] != float64(14) || v["state"] != "FIN" {
		t.Fatalf("got %v", v)
	}
	if _, err := time.Parse(time.RFC3339Nano, v["stime"].(string)); err != nil {
		t.Fatalf("stime %v: %v", v["stime"], err)
	}
}

// `-w -` and `-r -` compose through a pipe, as argus | ra does.
func TestStdinStdout(t *testing.T) {
	pcap, err := os.ReadFile(filepath.Join("..", "..", "testdata", "get.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	stream, errs, code := panoptes(t, pcap, "import", "-r", "-", "-w", "-")
	if code != 0 {
		t.Fatalf("import exit %d: %s", code, errs)
	}
	out, _, code := panoptes(t, []byte(stream), "read", "-r", "-", "-s", "pkts", "-L", "-1", "--", "tcp")
	if code != 0 || strings.TrimSpace(out) != "14" {
		t.Fatalf("exit %d, output %q; want 14", code, out)
	}
}

func TestExitCodes(t *testing.T) {
	flows := importCapture(t, "get.pcap")
	// Not os.DevNull: -w appends to an existing stream file, and a /dev/null that is a
	// plain file (as in some containers) may hold anything.
	sink := filepath.Join(t.TempDir(), "sink.pnp")
	tests := []struct {
		name    string
		args    []string
		code    int
		errWant string
	}{
		{"help", []string{"help"}, 0, ""}, // on stdout: TestHelp
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"frob"}, 2, `unknown command "frob"`},
		{"nothing matched", []string{"read", "-r", flows, "--", "udp"}, 1, ""},
		{"bad filter", []string{"read", "-r", flows, "--", "tcp and port"}, 2, "column"},
		{"unknown field", []string{"read", "-r", flows, "-s", "stime,bogus"}, 2, `"bogus"`},
		{"missing file", []string{"read", "-r", "/nonexistent/x.pnp"}, 2, "/nonexistent/x.pnp"},
		{"pcap given to read", []string{"read", "-r", filepath.Join("..", "..", "testdata", "get.pcap")}, 2, "get.pcap"},
		{"bad flag", []string{"cluster", "--bogus"}, 2, "bogus"},
		{"truncated capture", []string{"import", "-r", filepath.Join("..", "..", "testdata", "fuzz-2021-10-13.pcap"), "-w", sink}, 0, "fuzz-2021-10-13.pcap"},
		{"truncated capture, strict", []string{"import", "--strict", "-r", filepath.Join("..", "..", "testdata", "fuzz-2021-10-13.pcap"), "-w", sink}, 2, "fuzz-2021-10-13.pcap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := panoptes(t, nil, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errs)
			}
			if !strings.Contains(errs, tc.errWant) {
				t.Fatalf("stderr %q does not mention %q", errs, tc.errWant)
			}
			if tc.code == 2 && tc.name != "no command" && strings.Count(strings.TrimSpace(errs), "\n") > 0 && !strings.Contains(errs, "usage") {
				t.Fatalf("error is more than one line: %q", errs)
			}
		})
	}
}

// Archive end to end: two imports with different source ids share one archive; a time
// query on it gives what the same -t filter gives on the stream files.
func TestArchiveQuery(t *testing.T) {
	arch := filepath.Join(t.TempDir(), "arch") + "/"
	for i, c := range []string{"http_ipv6.pcap", "get.pcap"} {
		if _, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", c), "--srcid", fmt.Sprint(i+1), "-w", arch); code != 0 {
			t.Fatalf("import %s: exit %d: %s", c, code, errs)
		}
	}
	streams := importCapture(t, "http_ipv6.pcap")
	for _, spec := range []string{"2015/11/23.08:58:47-2015/11/23.08:58:59", "2015/11/23.08:58:58+1s", "x2015/11/23.08:58:47+10s"} {
		fromArchive, errs, code := panoptes(t, nil, "read", "-R", arch, "-t", spec, "-s", "stime,ltime,proto,saddr,sport,daddr,dport,pkts,bytes", "--", "srcid 1 and not man")
		if code != 0 {
			t.Fatalf("read -R -t %s: exit %d: %s", spec, code, errs)
		}
		fromStream, _, _ := panoptes(t, nil, "read", "-r", streams, "-t", spec, "-s", "stime,ltime,proto,saddr,sport,daddr,dport,pkts,bytes", "--", "not man")
		if fromArchive != sortedLines(fromStream) {
			t.Errorf("-t %s: archive gives\n%s\nstream gives\n%s", spec, fromArchive, fromStream)
		}
	}
	out, _, code := panoptes(t, nil, "index", "verify", arch)
	if code != 0 || !strings.Contains(out, "agrees") {
		t.Fatalf("index verify: exit %d: %s", code, out)
	}
}

// sortedLines orders a printed table's records by start time (the archive's order),
// keeping the header first.
func sortedLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) < 2 {
		return s
	}
	body := lines[1:]
	sort.SliceStable(body, func(i, j int) bool { return body[i][:15] < body[j][:15] })
	return strings.Join(append(lines[:1], body...), "\n") + "\n"
}

func TestHostsAndRetentionFlags(t *testing.T) {
	arch := filepath.Join(t.TempDir(), "arch") + "/"
	if _, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", "get.pcap"), "-w", arch, "--retain-age", "90d", "--retain-size", "10G"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	out, _, code := panoptes(t, nil, "hosts", "-R", arch, "141.142.228.5", "192.150.187.43")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "2013/03/07.21:42:06.869344") {
		t.Fatalf("hosts: exit %d:\n%s", code, out)
	}
	if _, _, code := panoptes(t, nil, "hosts", "-R", arch, "203.0.113.1"); code != 1 {
		t.Fatalf("an address never seen: exit %d, want 1", code)
	}
	if _, errs, code := panoptes(t, nil, "import", "-r", "x.pcap", "-w", arch, "--retain-age", "soon"); code != 2 || !strings.Contains(errs, "--retain-age") {
		t.Fatalf("bad --retain-age: exit %d: %s", code, errs)
	}
}

// The archive of the whole shared corpus (every capture a source of its own) answers
// time queries with filters exactly as a full scan of the same records does (uses
// ../shared/pcaps; testdata/ where it is absent).
func TestCorpusArchiveQueriesEqualScan(t *testing.T) {
	dir, ok := peer.CorpusDir(t)
	if !ok {
		dir = filepath.Join("..", "..", "testdata") // a clean clone: the project's captures
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(t.TempDir(), "arch") + "/"
	stream := filepath.Join(t.TempDir(), "all.pnp")
	var streams []string
	n := 0
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, "pcap") && !strings.HasSuffix(name, "pcapng") && !strings.HasSuffix(name, ".cap") {
			continue
		}
		n++
		args := []string{"import", "-q", "-r", filepath.Join(dir, name), "--srcid", fmt.Sprint(n)}
		if _, _, code := panoptes(t, nil, append(args, "-w", arch)...); code != 0 {
			continue // a capture import refuses (no header) is not in either
		}
		s := fmt.Sprintf("%s.%d", stream, n)
		panoptes(t, nil, append(args, "-w", s)...)
		streams = append(streams, s)
	}
	// Windows around the start times of records picked at random.
	all, _, _ := panoptes(t, nil, append(append([]string{"read"}, readArgs(streams)...), "-u", "-L", "-1", "-s", "stime", "--", "not man")...)
	starts := strings.Fields(all)
	least := 1000 // the corpus's records; testdata/'s captures hold a few dozen
	if !ok {
		least = 20
	}
	if len(starts) < least {
		t.Fatalf("only %d records from the corpus", len(starts))
	}
	// Address, port and protocol terms select blocks through the index (index.QueryFilter).
	filters := []string{"tcp", "udp and not port 53", "net 192.168.0.0/16", "ipv6 or icmp", "src pkts gt 5", "not man",
		"arp or dst port 443", "src net 10.0.0.0/8 and not tcp", "port 53 or host 192.168.1.1"}
	nonEmpty, lines := 0, 0
	for i := 0; i < 27; i++ {
		st := starts[(i*7919)%len(starts)]
		sec, _ := strconv.ParseFloat(st, 64)
		spec := fmt.Sprintf("%d+%ds", int64(sec)-2, 10+i*37)
		flt := filters[i%len(filters)]
		fields := []string{"-L", "-1", "-s", "stime,ltime,srcid,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes", "-u"}
		q, _, qc := panoptes(t, nil, append(append([]string{"read", "-R", arch, "-t", spec}, fields...), "--", flt)...)
		full, _, fc := panoptes(t, nil, append(append(append([]string{"read"}, readArgs(streams)...), append([]string{"-t", spec}, fields...)...), "--", flt)...)
		if qc != fc {
			t.Fatalf("-t %s -- %s: archive exit %d, scan exit %d", spec, flt, qc, fc)
		}
		prev := -1.0
		for _, line := range strings.Split(strings.TrimSpace(q), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				st, _ := strconv.ParseFloat(f[0], 64)
				if st < prev {
					t.Fatalf("-t %s -- %s: the archive's records are not in time order (%s after %f)", spec, flt, f[0], prev)
				}
				prev = st
			}
		}
		if sortLines(q) != sortLines(full) {
			t.Fatalf("-t %s -- %s: the archive gives %d lines, the scan %d", spec, flt, strings.Count(q, "\n"), strings.Count(full, "\n"))
		}
		if qc == 0 {
			nonEmpty++
			lines += strings.Count(q, "\n")
		}
	}
	if nonEmpty < 10 {
		t.Fatalf("only %d of 27 windows had records: the comparison says little", nonEmpty)
	}
	t.Logf("%d of %d captures archived; 27 windows, %d with records (%d records), all equal to the scan", len(streams), n, nonEmpty, lines)
}

func readArgs(files []string) []string {
	var a []string
	for _, f := range files {
		a = append(a, "-r", f)
	}
	return a
}

// sortLines sorts output lines: the archive returns records in start-time order, the
// stream files in the order they were written.
func sortLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// --segment-span sets the time each archive segment covers: a shorter span gives more
// segment files, each named for a start on its span's boundary, and the archive holds
// the same records whatever the span; a span out of range is a usage error.
func TestSegmentSpan(t *testing.T) {
	capture := filepath.Join("..", "..", "testdata", "http_ipv6.pcap")
	segments := func(arch string) []string {
		var segs []string
		filepath.WalkDir(arch, func(path string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(path, ".seg") {
				segs = append(segs, filepath.Base(path))
			}
			return nil
		})
		return segs
	}
	var outputs []string
	var counts []int
	for _, span := range []string{"5m", "10s"} {
		arch := filepath.Join(t.TempDir(), "arch") + "/"
		if _, errs, code := panoptes(t, nil, "import", "-q", "-r", capture, "-w", arch, "--segment-span", span); code != 0 {
			t.Fatalf("import --segment-span %s: exit %d: %s", span, code, errs)
		}
		segs := segments(arch)
		for _, s := range segs {
			if span == "10s" && s[7] != '0' { // HH.MM.SS-N.seg
				t.Errorf("--segment-span 10s: segment %s does not start on a multiple of 10 s", s)
			}
		}
		counts = append(counts, len(segs))
		out, errs, code := panoptes(t, nil, "read", "-R", arch, "-s", "stime,saddr,daddr,pkts,bytes", "-c", ",")
		if code != 0 {
			t.Fatalf("read -R (span %s): exit %d: %s", span, code, errs)
		}
		outputs = append(outputs, out)
	}
	if counts[0] == 0 || counts[1] <= counts[0] {
		t.Errorf("segments: %d with 5m spans, %d with 10s spans; want more with 10s", counts[0], counts[1])
	}
	if outputs[0] != outputs[1] {
		t.Errorf("the archive's records depend on the segment span:\n5m:\n%s\n10s:\n%s", outputs[0], outputs[1])
	}
	for _, bad := range []string{"0s", "25h", "soon"} {
		if _, errs, code := panoptes(t, nil, "import", "-r", capture, "-w", t.TempDir()+"/", "--segment-span", bad); code != 2 || !strings.Contains(errs, "segment-span") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("--segment-span %s: exit %d, want 2 with one line naming the flag: %q", bad, code, errs)
		}
	}
}

// A long import or index rebuild draws a progress line when someone watches (stdout and
// stderr on a terminal: run under script(1), which gives the command a pseudo-terminal)
// and none when its output goes to a pipe or file.
func TestProgressOnlyOnATerminal(t *testing.T) {
	script := peer.Need(t, "script", "bsdutils") // a pseudo-terminal to test with
	bin := binarytest.Build(t)
	arch := filepath.Join(t.TempDir(), "arch") + "/"
	capture := filepath.Join("..", "..", "testdata", "http_ipv6.pcap")
	onTerminal := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(script, "-qec", bin+" "+strings.Join(args, " "), "/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v under script: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := onTerminal("import", "-r", capture, "-w", arch); !strings.Contains(out, "\r\033[Kimport [1/1] "+capture+" 100.0%") {
		t.Errorf("import on a terminal drew no progress line:\n%q", out)
	}
	if out := onTerminal("index", "rebuild", arch); !strings.Contains(out, "\r\033[Krebuilding the index: ") {
		t.Errorf("index rebuild on a terminal drew no progress line:\n%q", out)
	}
	// Not a terminal: stdout and stderr are files here (the in-process run writes to buffers).
	for _, args := range [][]string{{"import", "-r", capture, "-w", arch}, {"index", "rebuild", arch}} {
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if strings.Contains(string(out), "\r") {
			t.Errorf("%v drew progress with its output going to a pipe:\n%q", args, out)
		}
	}
}
