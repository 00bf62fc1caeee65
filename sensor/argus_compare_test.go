package sensor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"panoptes/internal/peer"
	"panoptes/record"
)

// The Argus comparison: import each capture of the shared corpus with Panoptes
// and with Argus 3.0.8, cluster both by 5-tuple (racluster -m saddr daddr proto sport
// dport, direction corrected), and compare per-flow spkts, dpkts, sbytes, dbytes.
// record/ARGUS-DIFFERENCES.md explains the differences left. The test uses the whole
// ../shared corpus and skips where it or Argus is absent (CI installs Argus and has
// ../shared).

// flowKey identifies a conversation regardless of direction. ICMP flows are compared per
// address pair, because Argus's ICMP "ports" (type and code packed with the echo id in
// host byte order) are not a representation worth copying.
type flowKey struct {
	proto  int
	a, b   string
	pa, pb string
}

type flowCounts struct {
	src            string // the endpoint the tool calls the source
	spkts, dpkts   uint64
	sbytes, dbytes uint64
	records        int
}

func normKey(proto int, sa, sp, da, dp string) (flowKey, bool) {
	if proto == 1 || proto == 58 {
		sp, dp = "", ""
	}
	if sa+"/"+sp <= da+"/"+dp {
		return flowKey{proto, sa, da, sp, dp}, true
	}
	return flowKey{proto, da, sa, dp, sp}, false
}

// addCounts adds one record's counts to its conversation, oriented like the first
// record seen for it.
func addCounts(m map[flowKey]*flowCounts, k flowKey, src string, sp, dp, sb, db uint64) {
	c := m[k]
	if c == nil {
		c = &flowCounts{src: src}
		m[k] = c
	}
	c.records++
	if src != c.src {
		sp, dp, sb, db = dp, sp, db, sb
	}
	c.spkts += sp
	c.dpkts += dp
	c.sbytes += sb
	c.dbytes += db
}

// argusFlows runs argus and racluster on a capture and returns the per-flow counts of
// TCP, UDP and ICMP flows.
func argusFlows(t *testing.T, pcap string) (map[flowKey]*flowCounts, error) {
	dir := t.TempDir()
	out := filepath.Join(dir, "a.argus")
	if b, err := exec.Command("argus", "-r", pcap, "-w", out).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("argus: %v: %s", err, b)
	}
	if _, err := os.Stat(out); err != nil {
		return map[flowKey]*flowCounts{}, nil
	}
	cmd := exec.Command("racluster", "-r", out, "-m", "saddr", "daddr", "proto", "sport", "dport", "-nn", "-c", "\t",
		"-s", "proto", "saddr", "sport", "daddr", "dport", "spkts", "dpkts", "sbytes", "dbytes")
	b, err := cmd.Output()
	if err != nil && len(b) == 0 {
		return map[flowKey]*flowCounts{}, nil // racluster exits 1 when nothing matched
	}
	m := map[flowKey]*flowCounts{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 9 || f[0] == "Proto" {
			continue
		}
		proto, err := strconv.Atoi(f[0])
		if err != nil || (proto != 6 && proto != 17 && proto != 1 && proto != 58) {
			continue
		}
		n := make([]uint64, 4)
		for i := range n {
			n[i], _ = strconv.ParseUint(f[5+i], 10, 64)
		}
		sa, da := canonAddr(f[1]), canonAddr(f[3])
		k, _ := normKey(proto, sa, f[2], da, f[4])
		sp := f[2]
		if k.pa == "" && k.pb == "" {
			sp = ""
		}
		addCounts(m, k, sa+"/"+sp, n[0], n[1], n[2], n[3])
	}
	return m, nil
}

func canonAddr(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// panoptesFlows imports a capture with Panoptes and sums its records per conversation.
func panoptesFlows(t *testing.T, pcap string, workers int) (map[flowKey]*flowCounts, ImportStats) {
	var buf bytes.Buffer
	w, _ := record.NewWriter(&buf)
	st, err := Import([]string{pcap}, nil, w, io.Discard, ImportConfig{Workers: workers})
	if err != nil {
		t.Fatalf("%s: %v", pcap, err)
	}
	rd, err := record.NewReader(&buf, pcap)
	if err != nil {
		t.Fatal(err)
	}
	m := map[flowKey]*flowCounts{}
	for {
		var r record.Record
		if err := rd.Read(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if r.Kind != record.KindFlow || r.Family == 0 {
			continue
		}
		if r.Proto != 6 && r.Proto != 17 && r.Proto != 1 && r.Proto != 58 {
			continue
		}
		sa, da := r.Addr(true).String(), r.Addr(false).String()
		sp, dp := strconv.Itoa(int(r.SrcPort)), strconv.Itoa(int(r.DstPort))
		k, _ := normKey(int(r.Proto), sa, sp, da, dp)
		if k.pa == "" && k.pb == "" {
			sp = ""
		}
		addCounts(m, k, sa+"/"+sp, r.Src.Pkts, r.Dst.Pkts, r.Src.Bytes, r.Dst.Bytes)
	}
	return m, st
}

// corpusDir is the shared capture corpus, or the repository's testdata/ where the
// corpus is absent (a clean clone), so that the comparisons still run.
func corpusDir(t *testing.T) string {
	if dir, ok := peer.CorpusDir(t); ok {
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err == nil {
			return dir
		}
	}
	t.Log("the shared capture corpus is not here: comparing on testdata/")
	return filepath.Join("..", "testdata")
}

// corpusCaptures lists the corpus files (its MANIFEST.tsv; testdata/ has none, so
// there every capture file).
func corpusCaptures(t *testing.T, dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "MANIFEST.tsv"))
	if errors.Is(err, fs.ErrNotExist) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
		for i := range files {
			files[i] = filepath.Base(files[i])
		}
		return files
	}
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 8 {
			continue
		}
		files = append(files, f[0])
	}
	sort.Strings(files)
	return files
}

func TestAgainstArgus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Argus comparison runs argus on the whole corpus")
	}
	dir := corpusDir(t)
	peer.Need(t, "argus", "argus-server")
	peer.Need(t, "racluster", "argus-client")
	var total, same, excludedFlows, excludedSame int
	var report strings.Builder
	files := corpusCaptures(t, dir)
	// argus pauses about a second before it exits: run many at once.
	argusOut := make([]map[flowKey]*flowCounts, len(files))
	argusErr := make([]error, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, name := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			argusOut[i], argusErr[i] = argusFlows(t, filepath.Join(dir, name))
		}()
	}
	wg.Wait()
	diffsIn := map[string]int{} // capture -> flows that differ
	var perCapture strings.Builder
	allSame := 0
	for i, name := range files {
		path := filepath.Join(dir, name)
		am, err := argusOut[i], argusErr[i]
		if err != nil {
			t.Logf("%s: %v", name, err)
			continue
		}
		fileTotal, fileSame := total, same
		pm, _ := panoptesFlows(t, path, 2)
		keys := make([]flowKey, 0, len(am)+len(pm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range pm {
			if am[k] == nil {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			total++
			if name == excludedFromRate {
				excludedFlows++
			}
			a, p := am[k], pm[k]
			switch {
			case a == nil:
				fmt.Fprintf(&report, "%s\t%v\tonly panoptes\t%d/%d %d/%d\n", name, k, p.spkts, p.dpkts, p.sbytes, p.dbytes)
			case p == nil:
				fmt.Fprintf(&report, "%s\t%v\tonly argus\t%d/%d %d/%d\n", name, k, a.spkts, a.dpkts, a.sbytes, a.dbytes)
			default:
				ps, pd, pbs, pbd := p.spkts, p.dpkts, p.sbytes, p.dbytes
				if p.src != a.src {
					ps, pd, pbs, pbd = pd, ps, pbd, pbs
				}
				if ps == a.spkts && pd == a.dpkts && pbs == a.sbytes && pbd == a.dbytes {
					same++
					if name == excludedFromRate {
						excludedSame++
					}
					continue
				}
				fmt.Fprintf(&report, "%s\t%v\tdiffer\targus %d/%d %d/%d\tpanoptes %d/%d %d/%d\n", name, k,
					a.spkts, a.dpkts, a.sbytes, a.dbytes, ps, pd, pbs, pbd)
			}
		}
		n, m := total-fileTotal, same-fileSame
		if n == m {
			allSame++
			continue
		}
		diffsIn[name] = n - m
		fmt.Fprintf(&perCapture, "\n  %-45s %5d of %5d identical (%.2f%%)", name, m, n, 100*float64(m)/float64(n))
	}
	t.Logf("%d captures with every TCP/UDP/ICMP flow identical to Argus (or none); the others:%s", allSame, perCapture.String())
	if out := os.Getenv("PANOPTES_ARGUS_REPORT"); out != "" {
		_ = os.WriteFile(out, []byte(report.String()), 0o644)
	}
	pct := 100 * float64(same) / float64(max(total, 1))
	t.Logf("all captures: %d of %d TCP/UDP/ICMP flows identical to Argus (%.2f%%)", same, total, pct)
	var unexplained []string
	for _, line := range strings.Split(strings.TrimSpace(report.String()), "\n") {
		file, _, _ := strings.Cut(line, "\t")
		if line != "" && explainedDifferences[file].reason == "" {
			unexplained = append(unexplained, line)
		}
	}
	// An explained capture may not grow new differences: its count is bounded by what
	// the reason accounts for, so a regression hidden inside a listed capture still fails.
	for file, n := range diffsIn {
		if e := explainedDifferences[file]; e.reason != "" && n > e.maxDiffs {
			t.Errorf("%s: %d flows differ from Argus, %q explains at most %d", file, n, e.reason, e.maxDiffs)
		}
	}
	cmpTotal, cmpSame := total-excludedFlows, same-excludedSame
	cmpPct := 100 * float64(cmpSame) / float64(max(cmpTotal, 1))
	t.Logf("without the crafted IPv6 fragment spray: %d of %d identical (%.2f%%)", cmpSame, cmpTotal, cmpPct)
	// The rate is a measure of the corpus; on testdata/'s handful of flows one
	// explained difference is already 5%, so there the per-capture bounds above decide.
	if cmpPct < 98 && filepath.Base(dir) != "testdata" {
		t.Errorf("only %.2f%% of flows match Argus, want at least 98%%; differences:\n%s", cmpPct, report.String())
	}
	if len(unexplained) > 0 {
		t.Errorf("%d differences from Argus that record/ARGUS-DIFFERENCES.md does not explain:\n%s",
			len(unexplained), strings.Join(unexplained, "\n"))
	}
}

// explained is why a capture's flows differ from Argus's (a section of
// record/ARGUS-DIFFERENCES.md) and how many of its flows that reason accounts for.
type explained struct {
	reason   string
	maxDiffs int
}

// explainedDifferences names, for each capture where Panoptes and Argus still differ,
// the section of record/ARGUS-DIFFERENCES.md that explains why, and the number of flows
// that differ for that reason. A difference in any other capture, or more differing
// flows than counted here, fails the test.
var explainedDifferences = map[string]explained{
	"defrag-af-confusion-spray-h8.pcap":    {"IPv6 fragments", 8192},
	"dns_fragmented.pcap":                  {"IPv6 fragments", 6},
	"ipv6-fragmented-dns.pcap":             {"IPv6 fragments", 4},
	"frag-28.pcap":                         {"IPv6 fragments", 1},
	"frag-ip-tcp.pcap":                     {"IPv6 fragments", 1},
	"frag-eth-vlan-ipv6-tcp.pcap":          {"IPv6 fragments", 2},
	"frag-ppp-ipv6-tcp.pcap":               {"IPv6 fragments", 2},
	"ip_fragmented_garbage.pcap":           {"Overlapping IPv4 fragments", 2},
	"linux_dlt_sll2.pcap":                  {"Link types Argus 3.0.8 does not read", 2},
	"sv_decode-sll2-02_input.pcap":         {"Link types Argus 3.0.8 does not read", 1},
	"flow-test-01.pcap":                    {"Link types Argus 3.0.8 does not read", 1},
	"kerberos_fuzz.pcapng":                 {"Link types Argus 3.0.8 does not read", 1},
	"dlt_ppp.pcap":                         {"Link types Argus 3.0.8 does not read", 1},
	"modify-request.pcapng":                {"Link types Argus 3.0.8 does not read", 1},
	"wlanmon.pcap":                         {"802.11 captures", 2},
	"radiotap.pcap":                        {"802.11 captures", 2},
	"sv_decode-erspan-typeI-02_input.pcap": {"ERSPAN type I", 1},
	"sv_base64-decode-5885_input.pcap":     {"Argus swaps ports but not addresses", 2},
	"ip-bogus-header-len.pcap":             {"IPv4 total length 0", 1},
	"fuzz-2006-06-26-2594.pcap":            {"Fuzzed captures", 6},
	"fuzz-2021-06-07-c6c72a0a56.pcap":      {"Fuzzed captures", 1},
}

// excludedFromRate is the one capture left out of the 98% rate: a crafted attack trace
// of 4,096 IPv6 fragment pairs whose 8,192 flow entries would otherwise outnumber the
// rest of the corpus, all for the one documented difference (IPv6 fragments).
const excludedFromRate = "defrag-af-confusion-spray-h8.pcap"
