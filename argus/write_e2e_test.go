package argus_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"panoptes/internal/binarytest"
	"panoptes/internal/peer"
	"panoptes/record"
)

// requireArgusClients skips the test where the Argus clients are missing, and fails it
// in CI (CI set), which installs them (.ci/run: argus-client).
func requireArgusClients(t *testing.T) {
	t.Helper()
	for _, p := range []string{"ra", "racluster", "rasort", "rasplit"} {
		peer.Need(t, p, "argus-client")
	}
}

// writeFields are the fields compared between ra on our Argus records and panoptes
// read on the same Panoptes records: every field both have, except those
// record/ARGUS-DIFFERENCES.md ("Writing") lists as printed differently by design
// (load, sload, dload, srate, drate: Argus uses per-side active times; sdsb: ra prints
// DSCP names; sretrans, dretrans: ra 3.0.8 prints 0 for Argus's own records too).
var writeFields = []string{
	"stime", "ltime", "dur", "srcid", "seq", "trans", "proto", "saddr", "sport", "daddr", "dport",
	"pkts", "spkts", "dpkts", "bytes", "sbytes", "dbytes", "appbytes", "sappbytes", "dappbytes",
	"state", "dir", "flgs", "smac", "dmac", "svlan", "dvlan", "smpls", "dmpls", "sttl", "dttl",
	"stos", "dtos", "tcprtt", "synack", "ackdat", "sloss", "dloss", "sjit", "djit", "sintpkt",
	"dintpkt", "smeansz", "dmeansz", "smaxsz", "dmaxsz", "sminsz", "dminsz", "stcpb", "dtcpb",
	"swin", "dwin", "sco", "dco", "sas", "das", "label", "rate",
}

// writeCorpus are captures of ../shared/pcaps used where it is present: TCP with
// retransmissions and resets, ICMP and ICMPv6, VLAN, MPLS, many flows.
var writeCorpus = []string{
	"1kxun.pcap", "5-pings.pcap", "icmp6-ping.pcap", "retransmit-fast009.pcap", "syn-then-rst.pcap",
	"rst-inject-rae.pcap", "tcp_scan.pcapng", "443-curl.pcap", "mpls-in-vlan.pcap", "mixed-vlan-mpls.pcap", "dns53.pcap",
}

func captures(t *testing.T) []string {
	caps, err := filepath.Glob(filepath.Join("..", "testdata", "*.pcap"))
	if err != nil || len(caps) == 0 {
		t.Fatalf("no captures in ../testdata: %v", err)
	}
	corpus := filepath.Join("..", "..", "shared", "pcaps")
	for _, c := range writeCorpus {
		if _, err := os.Stat(filepath.Join(corpus, c)); err == nil {
			caps = append(caps, filepath.Join(corpus, c))
		}
	}
	return caps
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		// ra and panoptes exit 1 when nothing matched: not an error here.
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || errb.Len() > 0 {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
		}
	}
	return out.String()
}

func readRecords(t *testing.T, path string) []record.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := record.NewReader(f, path)
	if err != nil {
		t.Fatal(err)
	}
	var all []record.Record
	for {
		var r record.Record
		if err := rd.Read(&r); err == io.EOF {
			return all
		} else if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
}

func rows(s string) [][]string {
	var out [][]string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		out = append(out, f)
	}
	return out
}

// TestWriteAgainstRa writes the Argus records of each capture twice, with
// `import -w argus:X` and `read -r Y -w argus:X` (Y: the same import as a Panoptes
// stream), and checks that `ra -s F` on each prints, for every flow record and every
// field of writeFields, what `panoptes read -s F` prints on Y, after ra's printing
// rules (normalise).
func TestWriteAgainstRa(t *testing.T) {
	requireArgusClients(t)
	bin := binarytest.Build(t)
	fields := strings.Join(writeFields, ",")
	for _, c := range captures(t) {
		t.Run(filepath.Base(c), func(t *testing.T) {
			dir := t.TempDir()
			pnp := filepath.Join(dir, "y.pnp")
			run(t, bin, "import", "-r", c, "-w", pnp)
			viaImport := filepath.Join(dir, "import.argus")
			run(t, bin, "import", "-r", c, "-w", "argus:"+viaImport)
			viaRead := filepath.Join(dir, "read.argus")
			run(t, bin, "read", "-r", pnp, "-w", "argus:"+viaRead)

			var flows []record.Record
			for _, r := range readRecords(t, pnp) {
				if r.Kind == record.KindFlow {
					flows = append(flows, r)
				}
			}
			want := rows(run(t, bin, "read", "-r", pnp, "-u", "-p", "6", "-c", ",", "-L", "-1", "-s", fields, "--", "not", "man"))
			if len(want) != len(flows) {
				t.Fatalf("panoptes read printed %d flow records, the stream holds %d", len(want), len(flows))
			}
			for _, ar := range []string{viaImport, viaRead} {
				got := rows(run(t, "ra", "-r", ar, "-n", "-u", "-p", "6", "-c", ",", "-L", "-1", "-s", strings.Join(writeFields, " "), "-", "not", "man"))
				if len(got) != len(want) {
					t.Fatalf("%s: ra printed %d flow records, panoptes %d", filepath.Base(ar), len(got), len(want))
				}
				bad := 0
				for i := range want {
					if reversedByRa(&flows[i]) {
						continue
					}
					for j, name := range writeFields {
						if j >= len(got[i]) || !same(name, want[i][j], got[i][j], &flows[i]) {
							g := "(missing)"
							if j < len(got[i]) {
								g = got[i][j]
							}
							if bad++; bad <= 10 {
								t.Errorf("%s: record %d (%s:%s -> %s:%s): %s: panoptes %q, ra %q", filepath.Base(ar), i, want[i][7], want[i][8], want[i][9], want[i][10], name, want[i][j], g)
							}
						}
					}
				}
			}
		})
	}
}

// reversedByRa reports a TCP record without a SYN whose SYN-ACK was seen, or whose
// source port is the lower: ra prints it turned round (taking the other side for the
// client), Panoptes as it was seen.
func reversedByRa(r *record.Record) bool {
	return r.Family != 0 && r.Proto == 6 && r.TCPState&record.TCPSawSyn == 0 &&
		(r.TCPState&record.TCPSawSynAck != 0 || r.SrcPort < r.DstPort)
}

// sideFields are the per-direction fields that ra leaves empty for a side without
// packets; Panoptes prints what an earlier record of the flow saw there.
var sideFields = map[string]bool{"ttl": true, "tos": true, "win": true, "tcpb": true, "maxsz": true,
	"minsz": true, "meansz": true, "jit": true, "intpkt": true, "vlan": true, "mpls": true, "mac": true}

// same compares one field as panoptes prints it (p) and as ra prints it (a).
func same(name, p, a string, r *record.Record) bool {
	if p == a {
		return true
	}
	zero := func(s string) bool {
		if s == "" {
			return true
		}
		f, err := strconv.ParseFloat(s, 64)
		return err == nil && f == 0
	}
	if zero(p) && zero(a) { // ra leaves zero or absent values empty
		return true
	}
	if len(name) > 1 && sideFields[name[1:]] && a == "" {
		if side := &r.Src; name[0] == 's' && side.Pkts == 0 || name[0] == 'd' && r.Dst.Pkts == 0 {
			return true
		}
	}
	switch name {
	case "sport", "dport", "svlan", "dvlan":
		if name == "dport" && (r.Proto == 1 || r.Proto == 58) && r.Family != 0 {
			return true // ra prints the ICMP echo id where Panoptes prints the code
		}
		return num(p) == num(a) // ra prints ICMP types and VLAN ids in hex
	case "smac", "dmac":
		return strings.EqualFold(p, mac(a))
	case "dir":
		if r.Proto == 6 && r.Src.Pkts == 0 && p == "?>" && a == "<?" {
			return true // a midstream TCP record with packets from the destination only
		}
		return a == "who" && r.Family == 0 && r.EtherType == 0x0806 // ra: "who" for any ARP flow
	case "dwin", "dtcpb":
		return a == "" && r.Src.Pkts == 0 // ra shows no TCP object values without source packets
	case "state":
		// For a one-way non-TCP flow ra prints REQ in a status or timed-out record
		// (cause without Argus's START bit), INT otherwise; Panoptes prints INT.
		return p == "INT" && a == "REQ" && (r.Cause == record.CauseStatus || r.Cause == record.CauseError ||
			r.Cause == record.CauseClose && r.Flags&record.FlagTimeout != 0)
	case "flgs":
		return flags(p) == flags(a)
	case "label":
		return strings.HasPrefix(p, strings.TrimSuffix(a, "*")) // ra cuts long labels with '*'
	}
	x, err1 := strconv.ParseFloat(p, 64)
	y, err2 := strconv.ParseFloat(a, 64)
	if err1 == nil && err2 == nil {
		// ra keeps jitter, inter-packet times and rates in float32.
		return math.Abs(x-y) <= 2e-6+1e-6*math.Abs(x)
	}
	if strings.HasSuffix(a, "*") { // ra's column too narrow: the printed prefix must agree
		return strings.HasPrefix(p, strings.TrimSuffix(a, "*"))
	}
	return false
}

func num(s string) int64 {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		v, _ := strconv.ParseInt(h, 16, 64)
		return v
	}
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func mac(a string) string {
	switch a {
	case "Broadcast":
		return "ff:ff:ff:ff:ff:ff"
	case "00:00:00:00:00:00":
		return ""
	}
	return a
}

// flags keeps the flgs letters that do not name an encapsulation (ra prints '*' for
// several, 'S' for Linux cooked capture, which Panoptes does not print), sorted.
func flags(s string) string {
	var b []byte
	for _, c := range []byte(s) {
		if !strings.ContainsRune(` "*evmpGSs`, rune(c)) {
			if c == 'f' {
				c = 'F' // ra has one fragment letter
			}
			b = append(b, c)
		}
	}
	slices.Sort(b)
	return string(b)
}

// TestWriteArgusTools checks that racluster, rasort and rasplit read our files: the
// same totals per protocol as panoptes cluster, the same byte counts in the same order
// as panoptes sort, and rasplit's files hold every record; and that ra takes our MARs
// (Panoptes management records) as management records.
func TestWriteArgusTools(t *testing.T) {
	requireArgusClients(t)
	bin := binarytest.Build(t)
	caps := captures(t)
	// The repository's captures and the first corpus one (1kxun.pcap, 400 flows): the
	// tools' reading, not the mapping (TestWriteAgainstRa), is what is tested here.
	repo, _ := filepath.Glob(filepath.Join("..", "testdata", "*.pcap"))
	caps = caps[:min(len(caps), len(repo)+1)]
	for _, c := range caps {
		t.Run(filepath.Base(c), func(t *testing.T) {
			dir := t.TempDir()
			pnp := filepath.Join(dir, "y.pnp")
			run(t, bin, "import", "-r", c, "-w", pnp)
			ar := filepath.Join(dir, "y.argus")
			run(t, bin, "read", "-r", pnp, "-w", "argus:"+ar)

			// racluster -m proto against cluster -m proto: totals per protocol.
			sorted := func(s string) []string {
				l := strings.Split(strings.TrimSpace(s), "\n")
				for i := range l {
					l[i] = strings.Join(strings.Fields(strings.ReplaceAll(l[i], ",", " ")), ",")
				}
				sort.Strings(l)
				return l
			}
			want := sorted(run(t, bin, "cluster", "-r", pnp, "-m", "proto", "-c", ",", "-L", "-1", "-s", "proto,pkts,bytes,trans", "--", "not", "man"))
			got := sorted(run(t, "racluster", "-r", ar, "-m", "proto", "-c", ",", "-L", "-1", "-s", "proto", "pkts", "bytes", "trans", "-", "not", "man"))
			if !slices.Equal(got, want) {
				t.Errorf("racluster -m proto:\n%s\ncluster -m proto:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}

			// rasort -m bytes against sort -m bytes: the byte counts in order (ties may
			// be ordered differently, their values cannot).
			want = strings.Fields(run(t, bin, "sort", "-r", pnp, "-m", "bytes", "-L", "-1", "-s", "bytes", "--", "not", "man"))
			got = strings.Fields(run(t, "rasort", "-r", ar, "-m", "bytes", "-L", "-1", "-s", "bytes", "-", "not", "man"))
			if !slices.Equal(got, want) {
				t.Errorf("rasort -m bytes: %v\nsort -m bytes: %v", got, want)
			}

			// rasplit -M count 50: every record in some file, and panoptes split's
			// Argus files, read by ra, hold every record in the files -M count names.
			flows := 0
			for _, r := range readRecords(t, pnp) {
				if r.Kind == record.KindFlow {
					flows++
				}
			}
			run(t, "rasplit", "-r", ar, "-M", "count", "50", "-w", filepath.Join(dir, "ra", "x."), "-", "not", "man")
			run(t, bin, "split", "-r", pnp, "-M", "count", "50", "-w", "argus:"+filepath.Join(dir, "pa", "x."))
			for _, sub := range []string{"ra", "pa"} {
				files, _ := filepath.Glob(filepath.Join(dir, sub, "x.*"))
				args := []string{"-L", "-1", "-s", "seq"}
				for _, f := range files {
					args = append(args, "-r", f)
				}
				n := len(rows(run(t, "ra", append(args, "-", "not", "man")...)))
				if n != flows {
					t.Errorf("%s: %d files with %d records; want %d", sub, len(files), n, flows)
				}
				// rasplit counts its input's MARs too; split counts flow records.
				if sub == "pa" && len(files) != (flows+49)/50 {
					t.Errorf("split -M count 50 -w argus:...: %d files for %d records", len(files), flows)
				}
			}

			// The MARs: ra prints the leading MAR and one per Panoptes management record,
			// with its state and source id.
			var mans []record.Record
			for _, r := range readRecords(t, pnp) {
				if r.Kind == record.KindMan {
					mans = append(mans, r)
				}
			}
			m := rows(run(t, "ra", "-r", ar, "-n", "-c", ",", "-L", "-1", "-s", "state,srcid", "-", "man"))
			if len(m) != len(mans)+1 {
				t.Fatalf("ra prints %d management records, want %d (the leading MAR and %d)", len(m), len(mans)+1, len(mans))
			}
			for i, r := range mans {
				if m[i+1][0] != r.State() || num(m[i+1][1]) != int64(r.SrcID) {
					t.Errorf("MAR %d: ra prints state %s srcid %s, want %s %d", i+1, m[i+1][0], m[i+1][1], r.State(), r.SrcID)
				}
			}
		})
	}
}
