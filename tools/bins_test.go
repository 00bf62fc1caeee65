package tools

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"panoptes/internal/cli"
	"panoptes/internal/goldentest"
	"panoptes/internal/peer"
	"panoptes/record"
)

// capture is tools/testdata/whatsapp.pnp: `panoptes import` of nDPI's
// whatsapp_login_call.pcap (140 s, 46 conversations). whatsapp.argus is Argus
// 3.0.8's records of the same capture and whatsapp-argus.csv those records as
// `ra -n -u -c , -s stime ltime proto saddr sport daddr dport spkts dpkts sbytes dbytes`
// prints them.
const capture = "testdata/whatsapp.pnp"

func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	mains := map[string]func(args []string, stdin *bytes.Reader, stdout, stderr *bytes.Buffer) error{
		"bins":    func(a []string, i *bytes.Reader, o, e *bytes.Buffer) error { return BinsMain(a, i, o, e) },
		"split":   func(a []string, i *bytes.Reader, o, e *bytes.Buffer) error { return SplitMain(a, i, o, e) },
		"ports":   func(a []string, i *bytes.Reader, o, e *bytes.Buffer) error { return PortsMain(a, i, o, e) },
		"hosts":   func(a []string, i *bytes.Reader, o, e *bytes.Buffer) error { return HostsMain(a, i, o, e) },
		"convert": func(a []string, i *bytes.Reader, o, e *bytes.Buffer) error { return ConvertMain(a, i, o, e) },
		"read":    func(a []string, i *bytes.Reader, o, e *bytes.Buffer) error { return ReadMain(a, i, o, e) },
	}
	var out, errb bytes.Buffer
	err := mains[name](args, bytes.NewReader(nil), &out, &errb)
	if err != nil && cli.ExitCode(err) == cli.ExitUsage && errb.Len() != 0 && !strings.Contains(errb.String(), "warning") {
		t.Errorf("%s %v: stderr %q besides the error", name, args, errb.String())
	}
	return out.String(), err
}

func TestBinsGolden(t *testing.T) {
	fix := writeStream(t, fixture())
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bins_fixture_proto_1s", []string{"-r", fix, "-M", "time", "1s", "-m", "proto", "-s", "stime,ltime,proto,spkts,dpkts,sbytes,dbytes,trans"}},
		{"bins_fixture_default_2s", []string{"-r", fix, "-M", "time 2s", "-s", "+ltime,+trans"}},
		{"bins_capture_proto_10s", []string{"-r", capture, "-M", "time", "10s", "-m", "proto", "-s", "stime,ltime,proto,pkts,bytes,trans"}},
		{"bins_capture_saddr_1m_udp", []string{"-r", capture, "-M", "time", "1m", "-m", "saddr", "-s", "stime,saddr,spkts,dpkts,bytes", "--", "udp"}},
		{"bins_capture_none_1h_json", []string{"-r", capture, "-M", "time", "1h", "-m", "none", "--json", "-s", "stime,ltime,pkts,bytes,trans"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTool(t, "bins", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			goldentest.Check(t, "testdata/"+tc.name+".golden", out)
		})
	}
}

// TestBinsKeepTotals: cutting records at bin boundaries neither loses nor invents
// packets or bytes, for every bin width.
func TestBinsKeepTotals(t *testing.T) {
	want, err := runTool(t, "bins", "-r", capture, "-M", "time", "1d", "-m", "none", "-s", "spkts,dpkts,sbytes,dbytes,sappbytes,dappbytes", "-L", "-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []string{"1s", "5s", "1m", "1h"} {
		out := filepath.Join(t.TempDir(), "bins.pnp")
		if _, err := runTool(t, "bins", "-r", capture, "-M", "time", size, "-m", "proto", "-w", out); err != nil {
			t.Fatal(err)
		}
		got, err := runTool(t, "bins", "-r", out, "-M", "time", "1d", "-m", "none", "-s", "spkts,dpkts,sbytes,dbytes,sappbytes,dappbytes", "-L", "-1")
		if err != nil || got != want {
			t.Errorf("-M time %s: totals %q, want %q (%v)", size, got, want, err)
		}
	}
}

// TestSplitAtBins checks the pieces of one record against Argus's arithmetic (the
// numbers are rabins's for a record of whatsapp.argus): floor of the packet share,
// bytes following packets, the remainder in the last piece.
func TestSplitAtBins(t *testing.T) {
	r := mkflow("192.168.2.4", 1, "10.0.0.1", 2, 17, 1432582258730153000, 1432582263719619000)
	r.Src = record.Side{Pkts: 38, Bytes: 10537}
	r.Dst = record.Side{Pkts: 54, Bytes: 8899}
	var got [][4]uint64
	var spans [][2]int64
	splitAtBins(&r, time.Minute, func(p *record.Record) {
		got = append(got, [4]uint64{p.Src.Pkts, p.Dst.Pkts, p.Src.Bytes, p.Dst.Bytes})
		spans = append(spans, [2]int64{p.StartTime, p.LastTime})
	})
	want := [][4]uint64{{9, 13, 2495, 2142}, {29, 41, 8042, 6757}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("pieces %v, want %v", got, want)
	}
	if len(spans) == 2 && (spans[0][1] != 1432582260e9 || spans[1][0] != 1432582260e9) {
		t.Errorf("pieces span %v, want a cut at 1432582260 s", spans)
	}
}

// TestBinsAgainstRabins converts Argus's own records of the capture, bins them, and
// compares every (bin, protocol) row's start and counters with what rabins prints for
// the same records. rabins also prints management records per bin; panoptes does not.
func TestBinsAgainstRabins(t *testing.T) {
	peer.Need(t, "rabins", "argus-client")
	recs := filepath.Join(t.TempDir(), "argus.pnp")
	if _, err := runTool(t, "convert", "-r", "testdata/whatsapp-argus.csv", "-w", recs); err != nil {
		t.Fatal(err)
	}
	for _, size := range []string{"5s", "10s", "1m"} {
		got, err := runTool(t, "bins", "-r", recs, "-M", "time", size, "-m", "proto", "-u", "-c", ",", "-L", "-1", "-s", "stime,proto,spkts,dpkts,sbytes,dbytes")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("rabins", "-r", "testdata/whatsapp.argus", "-M", "time", size, "-m", "proto", "-u", "-c", ",", "-L", "-1",
			"-s", "stime", "proto", "spkts", "dpkts", "sbytes", "dbytes", "-", "not", "man")
		cmd.Env = append(os.Environ(), "TZ=UTC")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("rabins: %v", err)
		}
		// Rows as "bin,proto" -> packets. rabins's row start is its first piece's, ours
		// too; compare by bin.
		rows := func(text string, size time.Duration) map[string][2]uint64 {
			m := map[string][2]uint64{}
			for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
				f := strings.Split(strings.TrimSpace(l), ",")
				if len(f) != 6 || f[1] == "man" {
					continue
				}
				ns, err := parseTime(f[0])
				if err != nil {
					t.Fatalf("%q: %v", l, err)
				}
				k := strconv.FormatInt(binStart(ns, size), 10) + "," + f[1]
				sp, _ := strconv.ParseUint(f[2], 10, 64)
				dp, _ := strconv.ParseUint(f[3], 10, 64)
				v := m[k]
				m[k] = [2]uint64{v[0] + sp, v[1] + dp}
			}
			return m
		}
		d, _ := parseBinSize(size)
		ours, theirs := rows(got, d), rows(string(out), d)
		var tot [2][2]uint64
		for k, w := range theirs {
			g, ok := ours[k]
			if !ok {
				t.Errorf("-M time %s: bin %s: rabins has a row, bins has none", size, k)
				continue
			}
			// Argus prorates each direction over its own span (see splitAtBins).
			for i := range 2 {
				if diff := int64(g[i]) - int64(w[i]); diff > 2 || diff < -2 {
					t.Errorf("-M time %s: bin %s: packets %v, rabins %v", size, k, g, w)
				}
				tot[0][i] += g[i]
				tot[1][i] += w[i]
			}
		}
		if len(ours) != len(theirs) || tot[0] != tot[1] {
			t.Errorf("-M time %s: %d rows with %v packets, rabins %d rows with %v", size, len(ours), tot[0], len(theirs), tot[1])
		}
	}
}

func TestBinsPlot(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file  string
		magic string
		args  []string
	}{
		{"bytes.png", "\x89PNG", []string{"-m", "proto"}},
		{"pkts.svg", "<?xml", []string{"-m", "saddr", "--plot-field", "pkts", "--plot-top", "3"}},
	} {
		path := filepath.Join(dir, tc.file)
		args := append([]string{"-r", capture, "-M", "time", "10s", "--plot", path}, tc.args...)
		if _, err := runTool(t, "bins", args...); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(b, []byte(tc.magic)) || len(b) < 5000 {
			t.Errorf("%s: %d bytes, %v", tc.file, len(b), err)
		}
		if strings.HasSuffix(tc.file, ".svg") && !bytes.Contains(b, []byte("other")) {
			t.Errorf("%s: no \"other\" series with --plot-top 3", tc.file)
		}
	}
}

func TestBinsBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-r", capture},
		{"-r", capture, "-M", "time", "5x"},
		{"-r", capture, "-M", "time", "0s"},
		{"-r", capture, "-M", "count", "5"},
		{"-r", capture, "-M", "time", "1m", "-m", "nosuchfield"},
		{"-r", capture, "-M", "time", "1m", "--plot", "x.gif"},
		{"-r", capture, "-M", "time", "1m", "--plot", "x.png", "--plot-field", "state"},
		{"-r", capture, "-M", "time", "1m", "--", "port"},
		{"-r", capture, "-M", "time", "1m", "--bogus"},
		{"-r", "testdata/nosuchfile", "-M", "time", "1m"},
	} {
		_, err := runTool(t, "bins", args...)
		if cli.ExitCode(err) != cli.ExitUsage || strings.Contains(err.Error(), "\n") {
			t.Errorf("bins %v: %v, want one line and exit 2", args, err)
		}
	}
	if _, err := runTool(t, "bins", "-r", capture, "-M", "time", "1m", "--", "port", "9"); !errors.Is(err, cli.ErrNoMatch) {
		t.Errorf("a filter matching nothing: %v, want ErrNoMatch", err)
	}
}

func BenchmarkBins(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var out, errb bytes.Buffer
		if err := BinsMain([]string{"-r", capture, "-M", "time", "1s", "-m", "proto"}, nil, &out, &errb); err != nil {
			b.Fatal(err)
		}
	}
}
