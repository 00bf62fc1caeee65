package tools

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/internal/cli"
	"panoptes/internal/peer"
	"panoptes/ipfix"
	"panoptes/record"
)

// exportRecords is the fixture plus records that exercise the rest of the template:
// a VLAN, MACs, ToS, and an ICMPv6 error.
func exportRecords() []record.Record {
	recs := fixture()
	vl := mkflow("192.168.5.1", 5353, "224.0.0.251", 5353, 17, at(300), at(400))
	vl.Src = record.Side{Pkts: 3, Bytes: 300, TTL: 255, ToS: 0xb8, VLAN: 42, MAC: [6]byte{2, 0, 0, 0, 5, 1}}
	un := mkflow("2001:db8::ff", 1, "2001:db8::1", 3, 58, at(500), at(500))
	un.Src = record.Side{Pkts: 1, Bytes: 120, TTL: 64}
	return append(recs, vl, un)
}

// exported is one flow as a collector shows it.
type exported struct {
	saddr, daddr             string
	sport, dport             uint16
	proto                    uint8
	pkts, bytes, rpkts, rbyt uint64
	start                    int64 // ms
}

func expectedExport(recs []record.Record) []exported {
	var want []exported
	for _, r := range recs {
		if r.Kind != record.KindFlow || r.Family == 0 {
			continue
		}
		e := exported{saddr: r.Addr(true).String(), daddr: r.Addr(false).String(), sport: r.SrcPort, dport: r.DstPort, proto: r.Proto,
			pkts: r.Src.Pkts, bytes: r.Src.Bytes, rpkts: r.Dst.Pkts, rbyt: r.Dst.Bytes, start: r.StartTime / 1e6}
		if r.IsICMP() {
			// IPFIX carries ICMP type and code in icmpTypeCode, ports zero; nfdump shows
			// them as the destination port type*256+code.
			e.sport, e.dport = 0, r.SrcPort<<8|r.DstPort
		}
		want = append(want, e)
	}
	return want
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestIPFIXToNfcapd exports records with `read --ipfix` to nfdump's collector, nfcapd,
// and checks that nfdump shows every flow with both directions' packets and bytes
// (nfdump keeps an RFC 5103 biflow as one flow: the reverse counters are its "out"
// packets and bytes).
func TestIPFIXToNfcapd(t *testing.T) {
	for _, tool := range []string{"nfcapd", "nfdump"} {
		peer.Need(t, tool, "nfdump")
	}
	t.Run("fixture", func(t *testing.T) {
		recs := exportRecords()
		nfcapdRoundTrip(t, writeStream(t, recs), recs)
	})
	// Records panoptes import made of real captures (testdata/README.md): IPv4 and
	// IPv6, TCP, UDP, ICMP echo, VLANs, ARP; whatsapp.pnp needs several messages.
	for _, name := range []string{"top_captures.pnp", "whatsapp.pnp"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := record.NewReader(bytes.NewReader(b), path)
			if err != nil {
				t.Fatal(err)
			}
			var recs []record.Record
			for {
				var r record.Record
				if err := rd.Read(&r); err != nil {
					break
				}
				recs = append(recs, r)
			}
			nfcapdRoundTrip(t, path, recs)
		})
	}
}

// nfcapdRoundTrip sends the stream at path (holding recs) to a new nfcapd and compares
// what nfdump reads back with recs.
func nfcapdRoundTrip(t *testing.T, path string, recs []record.Record) {
	dir := t.TempDir()
	port := freeUDPPort(t)
	var logb binarytest.SyncBuffer
	nfcapd := exec.Command("nfcapd", "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-w", dir, "-t", "3600")
	nfcapd.Stdout, nfcapd.Stderr = &logb, &logb
	if err := nfcapd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { nfcapd.Wait(); close(done) }()
	defer func() {
		nfcapd.Process.Kill()
		<-done
	}()
	// nfcapd says "Startup nfcapd." once its socket is bound.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logb.String(), "Startup"); {
		if time.Now().After(deadline) {
			t.Fatalf("nfcapd did not start:\n%s", logb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, stderr, err := runRead([]string{"-r", path, "--ipfix", fmt.Sprintf("127.0.0.1:%d", port)}, nil)
	if err != nil {
		t.Fatalf("read --ipfix: %v\n%s", err, stderr)
	}
	want := expectedExport(recs)
	if !strings.Contains(stderr, fmt.Sprintf(" %d records in ", len(want))) {
		t.Errorf("summary: %q", stderr)
	}
	// SIGTERM makes nfcapd write its file and exit.
	time.Sleep(300 * time.Millisecond)
	nfcapd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("nfcapd did not exit:\n%s", logb.String())
	}
	// nfcapd checks the IPFIX sequence numbers and counts what it could not parse.
	if !strings.Contains(logb.String(), "Sequence Errors: 0, Bad Packets: 0") {
		t.Errorf("nfcapd reports errors:\n%s", logb.String())
	}
	dump := exec.Command("nfdump", "-R", dir, "-o", "csv")
	dump.Env = append(os.Environ(), "TZ=UTC")
	out, err := dump.CombinedOutput()
	if err != nil {
		t.Fatalf("nfdump: %v\n%s\nnfcapd:\n%s", err, out, logb.String())
	}
	got := parseNfdumpCSV(t, out)
	if len(got) != len(want) {
		t.Fatalf("nfdump shows %d flows, exported %d:\n%s", len(got), len(want), out)
	}
	for _, w := range want {
		w.start -= w.start % 1000 // nfdump's CSV prints whole seconds
		found := false
		for _, g := range got {
			if g == w {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("flow %+v not in nfdump's output:\n%s", w, out)
		}
	}
}

// parseNfdumpCSV reads `nfdump -o csv` (1.7: a header line naming the columns, the
// times in UTC (TZ) to the second, then a summary that the parser skips).
func parseNfdumpCSV(t *testing.T, out []byte) []exported {
	t.Helper()
	cr := csv.NewReader(bytes.NewReader(out))
	cr.FieldsPerRecord = -1 // the summary lines have other fields
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("nfdump csv: %v\n%s", err, out)
	}
	if len(rows) == 0 {
		t.Fatalf("nfdump printed nothing")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range []string{"ts", "sa", "da", "sp", "dp", "pr", "ipkt", "ibyt", "opkt", "obyt"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("nfdump csv has no column %q: %v", name, rows[0])
		}
	}
	var got []exported
	for _, row := range rows[1:] {
		if len(row) < len(rows[0]) {
			continue
		}
		n := func(name string) uint64 {
			v, err := strconv.ParseUint(strings.TrimSpace(row[col[name]]), 10, 64)
			if err != nil {
				t.Fatalf("nfdump column %s: %q", name, row[col[name]])
			}
			return v
		}
		proto, ok := record.ProtoNumber(strings.ToLower(row[col["pr"]]))
		switch {
		case strings.EqualFold(row[col["pr"]], "ICMP6"):
			proto, ok = 58, true
		case !ok:
			p, err := strconv.Atoi(row[col["pr"]])
			if err != nil {
				t.Fatalf("nfdump protocol %q", row[col["pr"]])
			}
			proto = uint8(p)
		}
		ts, err := time.ParseInLocation("2006-01-02 15:04:05", row[col["ts"]], time.UTC)
		if err != nil {
			t.Fatalf("nfdump time %q: %v", row[col["ts"]], err)
		}
		got = append(got, exported{
			saddr: netip.MustParseAddr(row[col["sa"]]).String(), daddr: netip.MustParseAddr(row[col["da"]]).String(),
			sport: uint16(n("sp")), dport: uint16(n("dp")), proto: proto,
			pkts: n("ipkt"), bytes: n("ibyt"), rpkts: n("opkt"), rbyt: n("obyt"), start: ts.UnixMilli(),
		})
	}
	return got
}

// TestIPFIXOverTCP exports with --ipfix tcp:// to a listener in the test and reads the
// stream back with the collector's stream reader.
func TestIPFIXOverTCP(t *testing.T) {
	recs := exportRecords()
	path := writeStream(t, recs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		recs []record.Record
		err  error
	}
	res := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		var got []record.Record
		from := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		err = ipfix.ReadIPFIXStream(c, from, ipfix.NewDecoder(ipfix.DecoderOptions{}), func(r *record.Record) { got = append(got, *r) })
		res <- result{got, err}
	}()
	if _, stderr, err := runRead([]string{"-r", path, "--ipfix", "tcp://" + ln.Addr().String(), "--", "not port 53"}, nil); err != nil {
		t.Fatalf("read --ipfix: %v\n%s", err, stderr)
	}
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	var sel []record.Record
	for _, rec := range recs {
		if rec.HasPorts() && (rec.SrcPort == 53 || rec.DstPort == 53) {
			continue
		}
		sel = append(sel, rec)
	}
	want := expectedExport(sel)
	if len(r.recs) != len(want) {
		t.Fatalf("collected %d records, want %d", len(r.recs), len(want))
	}
	for i, g := range r.recs {
		w := want[i]
		if g.Addr(true).String() != w.saddr || g.Addr(false).String() != w.daddr || g.Src.Pkts != w.pkts || g.Dst.Bytes != w.rbyt ||
			g.StartTime/1e6 != w.start || g.Flags&record.FlagFlowExport == 0 {
			t.Errorf("record %d: got %s:%d -> %s:%d %d/%d pkts, want %+v", i, g.Addr(true), g.SrcPort, g.Addr(false), g.DstPort, g.Src.Pkts, g.Dst.Pkts, w)
		}
	}
}

func TestIPFIXFlagErrors(t *testing.T) {
	path := writeStream(t, fixture())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", path, "--ipfix", "sctp://127.0.0.1:4739"}, `transport "sctp"`},
		{[]string{"-r", path, "--ipfix", "localhost"}, "want HOST:PORT"},
		{[]string{"-r", path, "--ipfix", "127.0.0.1:4739", "-w", filepath.Join(t.TempDir(), "x")}, "cannot be used together"},
	} {
		_, _, err := runRead(tc.args, nil)
		if cli.ExitCode(err) != cli.ExitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
}
