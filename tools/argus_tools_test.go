package tools

import (
	"net/netip"
	"os"
	"os/exec"
	"panoptes/internal/binarytest"
	"panoptes/internal/peer"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The tools against Argus: for the repository's test captures (always) and a set of
// the shared corpus (where ../shared is present), both flow builders make records of
// the same capture (argus -r, panoptes import), and then the tool pairs ra/read,
// racluster/cluster, rasort/sort and racount/count run with the same filter or keys
// and their comparable columns are compared.
//
// The two flow builders do not agree on every flow (record/ARGUS-DIFFERENCES.md), so:
//   - filters are compared over conversations (each side's records merged by 5-tuple
//     first, racluster -w - / cluster -w -), restricted to the conversations both
//     sides report identically (same source, same spkts dpkts sbytes dbytes);
//   - cluster, sort and count are compared on the captures where every TCP/UDP/ICMP
//     conversation agrees.
//
// The test skips where Argus is not installed (CI installs it).

var argusCorpus = []string{
	"1kxun.pcap", "206_example_b.pcap", "443-curl.pcap", "5-pings.pcap", "icmp6-ping.pcap",
	"icmp-destunreach-udp.pcap", "tcp_scan.pcapng", "syn-then-rst.pcap", "rst-inject-rae.pcap",
	"dns53.pcap", "get-to-ssh-server.pcap", "udp.pcap", "edonkey.pcap", "retransmit-fast009.pcap",
	"fin_retransmission.pcap", "ssh_unidirectional.pcap", "icmp6-toobig.pcap",
}

// argusFilters cover every primitive both languages have. $SRC, $DST and $NET24 are
// replaced per capture by an agreeing conversation's addresses.
var argusFilters = []string{
	"tcp", "udp", "icmp", "ip", "ipv4", "ipv6", "ip proto 17", "not tcp",
	"host $SRC", "src host $SRC", "dst host $DST", "src or dst host $DST", "src and dst net $NET24",
	"host $SRC or $DST", "net $NET24", "src net $NET24", "dst net $NET24", "net $NETADDR mask 255.255.255.0",
	"port 80", "port 53", "dst port 443", "src port 1024-65535", "dst port 53-215", "src and dst port 53",
	"tcp and dst port 80 or udp", "port 80 or 443", "udp or tcp and port 80",
	"pkts gt 5", "src pkts gt 3", "dst pkts eq 0", "dst bytes lt 1000", "bytes gte 500",
	"src pkts lte 2 and dst pkts gte 1", "pkts eq 2 or 4", "srcid 0",
	"syn", "synack", "est", "con", "fin", "reset", "echo", "unreach", "icmp and not echo",
	"ttl gt 60", "src ttl lt 65", "tos 0", "dst tos gt 0",
	"tcp and not (syn or fin)", "(udp or icmp) and src pkts 1", "!tcp && !udp", "tcp || icmp",
}

// knownFilterDiffs are the (capture, filter) pairs where ra and Panoptes select
// different conversations for a reason given in record/ARGUS-DIFFERENCES.md
// ("Filters"); the test reports them without failing.
var knownFilterDiffs = map[[2]string]string{
	{"rst-inject-rae.pcap", "synack"}:          "the SYN-ACK comes after a RST; Argus no longer tracks the handshake",
	{"fin_retransmission.pcap", "synack"}:      "the SYN-ACK comes after the client's FIN; Argus no longer tracks the handshake",
	{"1kxun.pcap", "fin"}:                      "192.168.5.16:53605 sends FIN, then RST 23 s later; Argus reports only the reset",
	{"1kxun.pcap", "tcp and not (syn or fin)"}: "as for fin",
	{"1kxun.pcap", "ttl gt 60"}:                "0.0.0.0:68 -> 255.255.255.255:67 merges DHCP requests with TTLs 255, 16, 64, 128: racluster keeps 16, cluster the last (128)",
	{"1kxun.pcap", "src ttl lt 65"}:            "as for ttl gt 60",
}

// argusKeys are the -m keys compared with racluster.
var argusKeys = [][]string{
	{"saddr"}, {"daddr"}, {"proto"}, {"saddr/24"}, {"daddr/16"}, {"saddr", "daddr"}, {"dport"},
	{"proto", "dport"}, {"saddr", "daddr", "proto"},
}

// argusSorts are the -m keys compared with rasort (printed as the sort's columns).
var argusSorts = [][]string{
	{"bytes"}, {"pkts"}, {"spkts"}, {"dbytes"}, {"saddr"}, {"dport"}, {"proto"}, {"daddr", "dport"},
	{"proto", "bytes"},
}

const convCols = "saddr,sport,daddr,dport,proto,spkts,dpkts,sbytes,dbytes"

type argusCase struct {
	name            string
	argus, aconv    string // argus records, and merged by 5-tuple
	pnp, pconv      string
	agree           map[string]bool // conversations both sides report alike
	all             bool            // every conversation agrees
	src, dst, net24 string
	netaddr         string
}

func TestAgainstArgusTools(t *testing.T) {
	if testing.Short() {
		t.Skip("runs argus and the ra tools on 23 captures (about a minute)")
	}
	for _, p := range []string{"argus", "ra", "racluster", "rasort", "racount"} {
		peer.Need(t, p, "argus-server argus-client")
	}
	dir := t.TempDir()
	bin := binarytest.Build(t)
	var caps []string
	local, _ := filepath.Glob("../testdata/*.pcap")
	caps = append(caps, local...)
	// The shared corpus (peer.CorpusDir); ARGUS_CORPUS overrides ("none" to run on the
	// repository's captures only, as a clean clone without ../shared does).
	corpus := os.Getenv("ARGUS_CORPUS")
	if corpus == "" {
		corpus, _ = peer.CorpusDir(t)
	}
	haveCorpus := false
	if _, err := os.Stat(corpus); err == nil {
		haveCorpus = true
		for _, c := range argusCorpus {
			caps = append(caps, filepath.Join(corpus, c))
		}
	}
	var cases []*argusCase
	for _, c := range caps {
		if ac := prepareArgusCase(t, bin, c, filepath.Join(dir, filepath.Base(c))); ac != nil {
			cases = append(cases, ac)
		}
	}
	full := 0
	for _, c := range cases {
		if c.all {
			full++
		}
	}
	t.Logf("%d captures, %d with every conversation alike", len(cases), full)
	if full == 0 {
		t.Fatal("no capture where every conversation agrees: nothing to compare cluster, sort and count on")
	}

	t.Run("filter", func(t *testing.T) {
		for _, e := range argusFilters {
			hits := 0
			for _, c := range cases {
				if c.src == "" {
					continue
				}
				expr := strings.NewReplacer("$SRC", c.src, "$DST", c.dst, "$NET24", c.net24, "$NETADDR", c.netaddr).Replace(e)
				a := convRows(t, c.agree, "ra", "-r", c.aconv, "-nn", "-c", ",", "-L", "-1", "-s", strings.ReplaceAll(convCols, ",", " "), "-", expr)
				p := convRows(t, c.agree, bin, "read", "-r", c.pconv, "-n", "-c", ",", "-L", "-1", "-s", convCols, "--", expr)
				if why, ok := knownFilterDiffs[[2]string{c.name, e}]; ok {
					if !slices.Equal(a, p) {
						t.Logf("%s: %q: known difference: %s", c.name, e, why)
					}
					continue
				}
				if !slices.Equal(a, p) {
					onlyA, onlyP := setDiff(a, p), setDiff(p, a)
					t.Errorf("%s: %q selects different conversations:\nonly ra:\n%s\nonly panoptes:\n%s", c.name, expr, strings.Join(onlyA, "\n"), strings.Join(onlyP, "\n"))
				}
				hits += len(a)
			}
			switch {
			case hits == 0 && haveCorpus:
				t.Errorf("%q selects nothing in any capture: not a test", e)
			case hits == 0:
				t.Logf("%q selects nothing in the repository's captures (the shared corpus covers it)", e)
			}
		}
	})

	t.Run("cluster", func(t *testing.T) {
		for _, keys := range argusKeys {
			cols := strings.Join(append(slices.Clone(keys), "spkts", "dpkts", "sbytes", "dbytes"), ",")
			cols = strings.ReplaceAll(strings.ReplaceAll(cols, "/24", ""), "/16", "")
			for _, c := range cases {
				if !c.all {
					continue
				}
				// Argus packs ICMP type, code and id into its "ports": port keys
				// are compared on TCP and UDP.
				filter := "tcp or udp or icmp"
				if strings.Contains(cols, "port") {
					filter = "tcp or udp"
				}
				args := append([]string{"-r", c.argus, "-m"}, keys...)
				a := rows(t, "racluster", append(args, "-nn", "-c", ",", "-L", "-1", "-s", strings.ReplaceAll(cols, ",", " "), "-", filter)...)
				p := rows(t, bin, "cluster", "-r", c.pnp, "-m", strings.Join(keys, ","), "-n", "-c", ",", "-L", "-1", "-s", cols, "--", filter)
				if !slices.Equal(a, p) {
					t.Errorf("%s: -m %s:\nracluster:\n%s\npanoptes:\n%s", c.name, keys, strings.Join(a, "\n"), strings.Join(p, "\n"))
				}
			}
		}
	})

	t.Run("rmon", func(t *testing.T) {
		for _, c := range cases {
			if !c.all {
				continue
			}
			a := rows(t, "racluster", "-r", c.argus, "-M", "rmon", "-m", "saddr", "-nn", "-c", ",", "-L", "-1", "-s", "saddr", "spkts", "dpkts", "sbytes", "dbytes", "-", "tcp or udp")
			p := rows(t, bin, "cluster", "-r", c.pnp, "-M", "rmon", "-m", "saddr", "-n", "-c", ",", "-L", "-1", "-s", "saddr,spkts,dpkts,sbytes,dbytes", "--", "tcp or udp")
			if !slices.Equal(a, p) {
				t.Errorf("%s: -M rmon -m saddr:\nracluster:\n%s\npanoptes:\n%s", c.name, strings.Join(a, "\n"), strings.Join(p, "\n"))
			}
		}
	})

	t.Run("sort", func(t *testing.T) {
		for _, keys := range argusSorts {
			for _, c := range cases {
				if !c.all {
					continue
				}
				// Sorted conversations: the key columns in output order must be equal.
				a := orderedRows(t, "rasort", append(append([]string{"-r", c.aconv, "-m"}, keys...), "-nn", "-c", ",", "-L", "-1", "-s", strings.Join(keys, " "), "-", "ipv4 and (tcp or udp)")...)
				p := orderedRows(t, bin, "sort", "-r", c.pconv, "-m", strings.Join(keys, ","), "-n", "-c", ",", "-L", "-1", "-s", strings.Join(keys, ","), "--", "ipv4 and (tcp or udp)")
				if !slices.Equal(a, p) {
					t.Errorf("%s: -m %s:\nrasort:\n%s\npanoptes:\n%s", c.name, keys, strings.Join(a, "\n"), strings.Join(p, "\n"))
				}
			}
		}
	})

	t.Run("count", func(t *testing.T) {
		for _, c := range cases {
			if !c.all {
				continue
			}
			for _, filter := range []string{"tcp or udp or icmp", "tcp", "udp and dst port 53"} {
				a := orderedRows(t, "racount", "-r", c.aconv, "-M", "proto", "addr", "-", filter)
				p := orderedRows(t, bin, "count", "-r", c.pconv, "-M", "proto", "-M", "addr", "--", filter)
				if len(a) == 0 && len(p) == 0 {
					continue
				}
				if len(a) < 2 || len(p) < 2 {
					t.Errorf("%s: %q: racount %q, count %q", c.name, filter, a, p)
					continue
				}
				// racount's record count is one more than the records it read (its
				// counter starts at 1); IPv6 address tallies differ by design (see
				// CountMain). Everything else must be identical.
				f := strings.Fields(a[1])
				n, _ := strconv.Atoi(f[1])
				a[1] = strings.Replace(a[1], " "+f[1]+" ", " "+strconv.Itoa(n-1)+strings.Repeat(" ", len(f[1])-len(strconv.Itoa(n-1))+1), 1)
				if !slices.Equal(noIPv6(a), noIPv6(p)) {
					t.Errorf("%s: %q:\nracount:\n%s\ncount:\n%s", c.name, filter, strings.Join(a, "\n"), strings.Join(p, "\n"))
				}
			}
		}
	})
}

// prepareArgusCase makes both tools' records of one capture and finds the
// conversations they agree on. It returns nil for a capture Argus makes nothing of.
func prepareArgusCase(t *testing.T, bin, pcap, base string) *argusCase {
	c := &argusCase{name: filepath.Base(pcap), argus: base + ".argus", aconv: base + ".conv.argus", pnp: base + ".pnp", pconv: base + ".conv.pnp"}
	run(t, "argus", "-r", pcap, "-w", c.argus)
	if _, err := os.Stat(c.argus); err != nil {
		return nil
	}
	run(t, "racluster", "-r", c.argus, "-w", c.aconv)
	if _, err := os.Stat(c.aconv); err != nil {
		return nil // no flow records
	}
	run(t, bin, "import", "-r", pcap, "-w", c.pnp)
	run(t, bin, "cluster", "-r", c.pnp, "-w", c.pconv)
	a := convCanon(rows(t, "ra", "-r", c.aconv, "-nn", "-c", ",", "-L", "-1", "-s", strings.ReplaceAll(convCols, ",", " "), "-", "tcp or udp or icmp or ipv6"))
	p := convCanon(rows(t, bin, "read", "-r", c.pconv, "-n", "-c", ",", "-L", "-1", "-s", convCols, "--", "tcp or udp or icmp or ipv6"))
	count := func(rs []string) map[string]int {
		m := map[string]int{}
		for _, r := range rs {
			m[r]++
		}
		return m
	}
	ca, cp := count(a), count(p)
	c.agree = map[string]bool{}
	for r, n := range ca {
		if n == 1 && cp[r] == 1 {
			c.agree[r] = true
		}
	}
	c.all = len(c.agree) == len(a) && len(a) == len(p) && len(a) > 0
	// Pick addresses for the address filters: the first agreeing IPv4 conversation.
	keys := make([]string, 0, len(c.agree))
	for r := range c.agree {
		keys = append(keys, r)
	}
	sort.Strings(keys)
	for _, r := range keys {
		f := strings.Split(r, ",")
		s, err1 := netip.ParseAddr(f[0])
		d, err2 := netip.ParseAddr(f[2])
		if err1 == nil && err2 == nil && s.Is4() && d.Is4() {
			c.src, c.dst = f[0], f[2]
			pfx := netip.PrefixFrom(s, 24).Masked()
			c.net24, c.netaddr = pfx.String(), pfx.Addr().String()
			break
		}
	}
	return c
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// output runs a tool; exit status 1 (nothing matched) is an empty result, not an
// error.
func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && stderr.Len() == 0 {
		return ""
	}
	if err != nil || strings.Contains(stderr.String(), "error") {
		t.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
		return ""
	}
	return string(out)
}

// orderedRows returns the output lines with addresses in canonical form, in order.
func orderedRows(t *testing.T, name string, args ...string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(output(t, name, args...), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		out = append(out, canonRow(l))
	}
	return out
}

// rows returns the flow rows of a delimited output, canonical and sorted; management
// records (proto "man") are left out.
func rows(t *testing.T, name string, args ...string) []string {
	t.Helper()
	var out []string
	for _, l := range orderedRows(t, name, args...) {
		if strings.Contains(","+l+",", ",man,") {
			continue
		}
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// canonRow writes addresses canonically, and ICMP "ports" (Argus prints the type and
// code in hex, Panoptes in decimal) as decimal.
func canonRow(l string) string {
	if !strings.Contains(l, ",") {
		return l
	}
	f := strings.Split(l, ",")
	for i, v := range f {
		if a, err := netip.ParseAddr(v); err == nil {
			f[i] = a.String()
		} else if strings.HasPrefix(v, "0x") {
			if n, err := strconv.ParseUint(v[2:], 16, 32); err == nil {
				f[i] = strconv.FormatUint(n, 10)
			}
		}
	}
	return strings.Join(f, ",")
}

// convRows returns the conversation rows of a filter's output that are among the
// agreeing ones, sorted.
func convRows(t *testing.T, agree map[string]bool, name string, args ...string) []string {
	t.Helper()
	var out []string
	for _, r := range convCanon(rows(t, name, args...)) {
		if agree[r] {
			out = append(out, r)
		}
	}
	return out
}

// convCanon blanks the ports of ICMP conversation rows: Argus packs the type, code
// and echo id into its ICMP "ports" (ARGUS-DIFFERENCES.md, "ICMP ports").
func convCanon(rs []string) []string {
	for i, r := range rs {
		f := strings.Split(r, ",")
		if len(f) > 4 && (f[4] == "1" || f[4] == "58") {
			f[1], f[3] = "", ""
			rs[i] = strings.Join(f, ",")
		}
	}
	sort.Strings(rs)
	return rs
}

func noIPv6(rs []string) []string {
	var out []string
	for _, r := range rs {
		if !strings.Contains(r, "IPv6 ") {
			out = append(out, r)
		}
	}
	return out
}

// setDiff returns the rows of a that are not in b.
func setDiff(a, b []string) []string {
	var out []string
	for _, r := range a {
		if !slices.Contains(b, r) {
			out = append(out, r)
		}
	}
	return out
}
