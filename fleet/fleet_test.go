package fleet_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/internal/peer"
	"panoptes/record"
)

// rareHost is in a few records of sites 0 and 2 only.
const rareHost = "172.16.9.9"

// writeSite writes n synthetic records of site s to a stream file: the three sites'
// records interleave in time, so a merge has work to do, and span 15 minutes, so that
// a writer seals the first 5-minute segments (the address index lists sealed ones).
func writeSite(t *testing.T, path string, s, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := record.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC).UnixNano()
	for i := range n {
		r := record.Record{Kind: record.KindFlow, Cause: record.CauseStart, SrcID: uint32(s + 1), Seq: uint32(i + 1),
			Family: 4, Proto: 17, SrcPort: uint16(1024 + i%5000), DstPort: 53, Trans: 1,
			StartTime: base + int64(i)*int64(45*time.Millisecond) + int64(s)*int64(time.Millisecond),
			Src:       record.Side{Pkts: uint64(1 + i%7), Bytes: uint64(60 + i%900)}}
		if i%4 == 0 {
			r.Proto, r.DstPort = 6, 443
		}
		r.LastTime = r.StartTime + int64(i%2000)*int64(time.Millisecond)
		r.SrcAddr[0], r.SrcAddr[1], r.SrcAddr[2], r.SrcAddr[3] = 10, byte(s), byte(i>>8), byte(i)
		r.DstAddr[0], r.DstAddr[1], r.DstAddr[3] = 192, 168, byte(i%50)
		if s != 1 && i%4999 == 17 {
			copy(r.DstAddr[:4], net.ParseIP(rareHost).To4())
		}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// run runs the binary to its end and returns its output and exit status.
func run(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := binarytest.Start(t, bin, args...)
	code = p.Wait(60 * time.Second)
	return p.Stdout(), p.Stderr(), code
}

// sumLine returns the numbers of count's "sum" line.
func sumLine(t *testing.T, out string) []uint64 {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "sum" {
			var v []uint64
			for _, s := range f[1:] {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					t.Fatalf("count printed %q", l)
				}
				v = append(v, n)
			}
			return v
		}
	}
	t.Fatalf("no sum line in count's output:\n%s", out)
	return nil
}

func add(a, b []uint64) []uint64 {
	if a == nil {
		return slices.Clone(b)
	}
	for i := range a {
		a[i] += b[i]
	}
	return a
}

var answeringRE = regexp.MustCompile(`answering for site (\S+)`)

// archiveHosts starts one relay per site, each replaying its file into its own
// archive and answering queries for its site, and waits until every site answers with
// all of its records.
func archiveHosts(t *testing.T, bin, broker, auth string, n int) (dirs []string, relays []*binarytest.Proc) {
	t.Helper()
	tmp := t.TempDir()
	for s := range 3 {
		file := filepath.Join(tmp, fmt.Sprintf("site%d.pnp", s))
		writeSite(t, file, s, n)
		dir := filepath.Join(tmp, fmt.Sprintf("archive%d", s)) + "/"
		p := binarytest.Start(t, bin, "relay", "-r", file, "-w", dir, "--query-service", fmt.Sprintf("nats://%s%s/site%d", auth, broker, s))
		p.WaitStderr(answeringRE, 20*time.Second)
		dirs, relays = append(dirs, dir), append(relays, p)
	}
	// The relays write their archives; a reader sees the last blocks within the
	// writer's snapshot interval (5 s) of their flush.
	for s := range 3 {
		url := fmt.Sprintf("nats://%s%s/site%d", auth, broker, s)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			out, _, code := run(t, bin, "count", "-R", url)
			if code == 0 && sumLine(t, out)[0] == uint64(n) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("site%d: the fleet count did not reach %d records in 30 s:\n%s", s, n, out)
			}
		}
	}
	return dirs, relays
}

// TestFleetQueries: three archive hosts (relays writing archives and answering for a
// site each) on one nats-server. The fleet count is the sum of the local counts, a
// fleet read of a rare host is the merged local reads in start-time order, a stalled
// and a dead site are named in a warning and make the exit status 3 (partial).
func TestFleetQueries(t *testing.T) {
	bin := binarytest.Build(t)
	broker := binarytest.NATSServer(t)
	const n = 20000 // some 1.3 MB a site: several batches, so the flow control works
	dirs, relays := archiveHosts(t, bin, broker, "", n)
	all := "nats://" + broker + "/*"

	// count: the sum of the local counts.
	var local []uint64
	for _, d := range dirs {
		out, stderr, code := run(t, bin, "count", "-R", d)
		if code != 0 {
			t.Fatalf("count -R %s: exit %d: %s", d, code, stderr)
		}
		local = add(local, sumLine(t, out))
	}
	out, stderr, code := run(t, bin, "count", "-R", all)
	if code != 0 {
		t.Fatalf("count -R %s: exit %d: %s", all, code, stderr)
	}
	if got := sumLine(t, out); !slices.Equal(got, local) {
		t.Errorf("count -R %s: %v; the local counts sum to %v", all, got, local)
	}
	if local[0] != 3*n {
		t.Errorf("the local counts sum to %d records, want %d", local[0], 3*n)
	}

	// read of a rare host: the local reads merged, in start-time order; a pattern and a
	// list of names find the same sites.
	fields := []string{"-s", "stime:26", "srcid", "saddr", "daddr", "dport", "bytes", "-u", "-p", "9", "-L", "-1"}
	var want []string
	for _, d := range dirs {
		out, stderr, code := run(t, bin, append(append([]string{"read", "-R", d}, fields...), "--", "host", rareHost)...)
		if code != 0 && code != 1 {
			t.Fatalf("read -R %s: exit %d: %s", d, code, stderr)
		}
		want = append(want, lines(out)...)
	}
	if len(want) < 4 {
		t.Fatalf("only %d local records of %s: the test data are wrong", len(want), rareHost)
	}
	slices.Sort(want) // the start time leads each line, at a fixed width
	for _, url := range []string{all, "nats://" + broker + "/site0,site1,site2", "nats://" + broker + "/site[02]"} {
		out, stderr, code := run(t, bin, append(append([]string{"read", "-R", url}, fields...), "--", "host", rareHost)...)
		if code != 0 {
			t.Fatalf("read -R %s: exit %d: %s", url, code, stderr)
		}
		got := lines(out)
		if !slices.IsSorted(got) {
			t.Errorf("read -R %s: not in start-time order:\n%s", url, out)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("read -R %s -- host %s:\n%s\nwant the local reads merged:\n%s", url, rareHost, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// All records, in order, and -N stops early without waiting for the sites.
	out, stderr, code = run(t, bin, "read", "-R", all, "-s", "stime", "-u", "-p", "9", "-L", "-1")
	if code != 0 || len(lines(out)) != 3*n {
		t.Fatalf("read -R %s: exit %d, %d lines, want %d: %s", all, code, len(lines(out)), 3*n, stderr)
	}
	if got := lines(out); !slices.IsSorted(got) {
		t.Errorf("read -R %s: records not in start-time order", all)
	}
	out, _, code = run(t, bin, "read", "-R", all, "-N", "5", "-L", "-1")
	if code != 0 || len(lines(out)) != 5 {
		t.Errorf("read -R %s -N 5: exit %d, %d lines", all, code, len(lines(out)))
	}

	// cluster: merged clusters equal the local records clustered together.
	localCl, stderr, code := run(t, bin, append([]string{"cluster", "-m", "proto", "-s", "proto", "trans", "pkts", "bytes", "-L", "-1"}, rFlags(dirs)...)...)
	if code != 0 {
		t.Fatalf("cluster: exit %d: %s", code, stderr)
	}
	fleetCl, stderr, code := run(t, bin, "cluster", "-m", "proto", "-s", "proto", "trans", "pkts", "bytes", "-L", "-1", "-R", all)
	if code != 0 || fleetCl != localCl {
		t.Errorf("cluster -R %s: exit %d:\n%s\nwant\n%s%s", all, code, fleetCl, localCl, stderr)
	}

	// hosts ADDR: each site's address index, a row per site.
	var wantHosts []string
	for s, d := range dirs {
		out, stderr, code := run(t, bin, "hosts", "-R", d, "-c", ",", "-u", rareHost)
		if code != 0 && code != 1 {
			t.Fatalf("hosts -R %s: exit %d: %s", d, code, stderr)
		}
		for _, l := range lines(out)[1:] {
			wantHosts = append(wantHosts, fmt.Sprintf("site%d,%s", s, l))
		}
	}
	out, stderr, code = run(t, bin, "hosts", "-R", all, "-c", ",", "-u", rareHost)
	if got := lines(out); code != 0 || len(got) < 1 || !slices.Equal(got[1:], wantHosts) || len(wantHosts) != 2 {
		t.Errorf("hosts -R %s %s: exit %d:\n%s\nwant the sites' rows:\n%s\n%s", all, rareHost, code, out, strings.Join(wantHosts, "\n"), stderr)
	}

	// A stalled site (SIGSTOP) is named after --timeout; the others are counted.
	relays[2].Signal(syscall.SIGSTOP)
	names := "nats://" + broker + "/site0,site1,site2"
	start := time.Now()
	out, stderr, code = run(t, bin, "count", "-R", names, "--timeout", "1s")
	took := time.Since(start)
	relays[2].Signal(syscall.SIGCONT)
	checkPartial(t, "stalled site2", out, stderr, code, "site2", "did not answer within 1s")
	if want := 2 * n; sumLine(t, out)[0] != uint64(want) {
		t.Errorf("stalled site2: count %d records, want the other two sites' %d", sumLine(t, out)[0], want)
	}
	if took > 20*time.Second {
		t.Errorf("stalled site2: count took %v with --timeout 1s", took)
	}

	// A dead site (the relay stopped) is named too.
	relays[1].Interrupt(20 * time.Second)
	out, stderr, code = run(t, bin, "count", "-R", names, "--timeout", "2s")
	checkPartial(t, "dead site1", out, stderr, code, "site1", "no archive host serves this site")
	if want := 2 * n; sumLine(t, out)[0] != uint64(want) {
		t.Errorf("dead site1: count %d records, want the other two sites' %d", sumLine(t, out)[0], want)
	}
}

func rFlags(dirs []string) []string {
	var a []string
	for _, d := range dirs {
		a = append(a, "-R", d)
	}
	return a
}

func checkPartial(t *testing.T, what, out, stderr string, code int, site, why string) {
	t.Helper()
	if code != 3 {
		t.Errorf("%s: exit %d, want 3 (partial); stderr:\n%s", what, code, stderr)
	}
	if !strings.Contains(stderr, "site "+site+": "+why) || !strings.Contains(stderr, "partial") {
		t.Errorf("%s: stderr does not name site %s (%s):\n%s", what, site, why, stderr)
	}
	if out == "" {
		t.Errorf("%s: no output from the sites that answered", what)
	}
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// natsWithAuth runs a nats-server whose only user is fleet/s3cret (and, with tlsConf,
// that requires TLS).
func natsWithAuth(t *testing.T, tlsConf string) string {
	t.Helper()
	bin := peer.Need(t, "nats-server", "nats-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(t.TempDir(), "nats.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf("listen: 127.0.0.1:%d\nauthorization {\n  user: fleet\n  password: s3cret\n}\n%s", port, tlsConf)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen on %s", addr)
		}
	}
}

// TestFleetQueriesNeedCredentials: with a broker that requires a user, a client
// without the credentials (or with wrong ones) is refused, with one line and exit
// status 2, and so is an archive host; with them, the query runs.
func TestFleetQueriesNeedCredentials(t *testing.T) {
	bin := binarytest.Build(t)
	broker := natsWithAuth(t, "")
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a.pnp")
	writeSite(t, file, 0, 100)

	p := binarytest.Start(t, bin, "relay", "-r", file, "-w", filepath.Join(tmp, "nocreds")+"/", "--query-service", "nats://"+broker+"/a")
	code := p.Wait(30 * time.Second)
	binarytest.OneLineError(t, "archive host without credentials", code, p.Stderr(), "refused")

	binarytest.Start(t, bin, "relay", "-r", file, "-w", filepath.Join(tmp, "a")+"/", "--query-service", "nats://fleet:s3cret@"+broker+"/a").
		WaitStderr(answeringRE, 20*time.Second)
	for _, url := range []string{"nats://" + broker + "/a", "nats://fleet:wrong@" + broker + "/a", "nats://" + broker + "/*"} {
		_, stderr, code := run(t, bin, "count", "-R", url)
		binarytest.OneLineError(t, "count -R "+url, code, stderr, "refused")
		if strings.Contains(stderr, "wrong") {
			t.Errorf("count -R %s: the error shows the password: %s", url, stderr)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, stderr, code := run(t, bin, "count", "-R", "nats://fleet:s3cret@"+broker+"/a")
		if code == 0 && sumLine(t, out)[0] == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("count with the credentials: exit %d, %s %s", code, out, stderr)
		}
	}
}

// TestFleetQueriesOverTLS: with a broker that requires TLS, an archive host and a
// client that verify its certificate against the CA (tls://...?ca=) query through it;
// a client that trusts another CA, or that does not use TLS, is refused.
func TestFleetQueriesOverTLS(t *testing.T) {
	bin := binarytest.Build(t)
	pki := binarytest.NewPKI(t)
	broker := natsWithAuth(t, fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n}\n", pki.ServerCert, pki.ServerKey))
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a.pnp")
	writeSite(t, file, 0, 100)
	binarytest.Start(t, bin, "relay", "-r", file, "-w", filepath.Join(tmp, "a")+"/", "--query-service", "tls://fleet:s3cret@"+broker+"/a?ca="+pki.CA).
		WaitStderr(answeringRE, 20*time.Second)
	for _, url := range []string{"tls://fleet:s3cret@" + broker + "/a?ca=" + pki.OtherCA, "nats://fleet:s3cret@" + broker + "/a"} {
		_, stderr, code := run(t, bin, "count", "-R", url)
		if code != 2 || strings.Contains(stderr, "s3cret") {
			t.Errorf("count -R %s: exit %d (want 2), stderr %q", url, code, stderr)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, stderr, code := run(t, bin, "count", "-R", "tls://fleet:s3cret@"+broker+"/a?ca="+pki.CA)
		if code == 0 && sumLine(t, out)[0] == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("count over TLS: exit %d, %s %s", code, out, stderr)
		}
	}
}

// TestQueryServiceUsage: a wrong --query-service or -R nats:// is one line and exit
// status 2, before anything runs.
func TestQueryServiceUsage(t *testing.T) {
	bin := binarytest.Build(t)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a.pnp")
	writeSite(t, file, 0, 10)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"relay", "-r", file, "-w", filepath.Join(tmp, "out.pnp"), "--query-service", "nats://127.0.0.1:1/x"}, "give -w DIR/"},
		{[]string{"relay", "-r", file, "-w", tmp + "/arch/", "--query-service", "nats://127.0.0.1:1/a*"}, "one site"},
		{[]string{"relay", "-r", file, "-w", tmp + "/arch/", "--query-service", "http://127.0.0.1:1/a"}, "want nats://"},
		{[]string{"sensor", "-i", "lo", "-w", filepath.Join(tmp, "out.pnp"), "--query-service", "nats://127.0.0.1:1/x"}, "give -w DIR/"},
		{[]string{"count", "-R", "nats://127.0.0.1:1/a.b"}, "bad site"},
		{[]string{"count", "-R", "nats://127.0.0.1:1/a"}, "127.0.0.1:1"},
		{[]string{"count", "-R", "nats://127.0.0.1:1/a", "--timeout", "0s"}, "--timeout"},
	} {
		_, stderr, code := run(t, bin, tc.args...)
		binarytest.OneLineError(t, strings.Join(tc.args, " "), code, stderr, tc.want)
	}
}
