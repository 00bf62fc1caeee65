package tools

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

func TestMain(m *testing.M) {
	// Text times print in the local zone; pin it so goldens do not depend on the host.
	time.Local = time.UTC
	// No test reads the developer's ~/.rarc: an empty RARC turns the file off, here and
	// in the binaries the tests run. Tests of the rarc set RARC themselves.
	os.Setenv("RARC", "")
	os.Exit(m.Run())
}

// base is the fixture's first timestamp: 2026-03-01 12:00:00.123456789 UTC.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC).UnixNano()

func at(ms int64) int64 { return base + ms*int64(time.Millisecond) }

func ip(s string) (uint8, [16]byte) {
	var a [16]byte
	p := netip.MustParseAddr(s)
	if p.Is4() {
		b := p.As4()
		copy(a[:], b[:])
		return 4, a
	}
	return 6, p.As16()
}

func mkflow(src string, sport uint16, dst string, dport uint16, proto uint8, start, end int64) record.Record {
	r := record.Record{Kind: record.KindFlow, Cause: record.CauseClose, Proto: proto, SrcPort: sport, DstPort: dport,
		StartTime: start, LastTime: end, Flags: record.FlagEthernet, SrcID: 1, Trans: 1}
	r.Family, r.SrcAddr = ip(src)
	_, r.DstAddr = ip(dst)
	return r
}

// fixture is the fixed record set the golden tests read: a sensor start record, a TCP
// connection with handshake and FIN, UDP both ways, an ICMP echo, an ARP exchange, an
// IPv6 TCP flow, two status records of one SSH flow and a half-duplex record of the
// same flow seen in the reverse direction.
func fixture() []record.Record {
	man := record.Record{Kind: record.KindMan, Cause: record.CauseStart, StartTime: at(0), LastTime: at(0), SrcID: 1,
		Man: &record.Management{PktsSeen: 1234, BytesSeen: 567890, RecordsWritten: 9}}

	web := mkflow("10.0.0.1", 40000, "93.184.216.34", 80, 6, at(10), at(250))
	web.TCPState = record.TCPSawSyn | record.TCPSawSynAck | record.TCPEstablished | record.TCPSrcFin | record.TCPDstFin | record.TCPClosed
	web.Src = record.Side{Pkts: 6, Bytes: 560, AppBytes: 120, TTL: 64}
	web.Dst = record.Side{Pkts: 5, Bytes: 1800, AppBytes: 1400, TTL: 56}
	web.SynAck, web.AckDat = 20e6, 1e6

	dns := mkflow("10.0.0.1", 53000, "10.0.0.53", 53, 17, at(20), at(21))
	dns.Src = record.Side{Pkts: 1, Bytes: 80, AppBytes: 38, TTL: 64}
	dns.Dst = record.Side{Pkts: 1, Bytes: 200, AppBytes: 158, TTL: 64}

	ping := mkflow("10.0.0.1", 8, "8.8.8.8", 0, 1, at(30), at(3030))
	ping.Src = record.Side{Pkts: 4, Bytes: 392, TTL: 64}
	ping.Dst = record.Side{Pkts: 4, Bytes: 392, TTL: 117}

	arp := record.Record{Kind: record.KindFlow, Cause: record.CauseClose, EtherType: 0x0806, StartTime: at(40), LastTime: at(41),
		Flags: record.FlagEthernet, SrcID: 1, Trans: 1}
	_, arp.SrcAddr = ip("10.0.0.1")
	_, arp.DstAddr = ip("10.0.0.254")
	arp.Src = record.Side{Pkts: 1, Bytes: 42, MAC: [6]byte{2, 0, 0, 0, 0, 1}}
	arp.Dst = record.Side{Pkts: 1, Bytes: 60, MAC: [6]byte{2, 0, 0, 0, 0, 0xfe}}

	v6 := mkflow("2001:db8::1", 51000, "2001:db8::2", 443, 6, at(50), at(90))
	v6.TCPState = record.TCPSawSyn | record.TCPSawSynAck | record.TCPEstablished
	v6.Src = record.Side{Pkts: 3, Bytes: 258, TTL: 64}
	v6.Dst = record.Side{Pkts: 2, Bytes: 172, TTL: 64}

	ssh1 := mkflow("10.0.0.2", 41000, "10.0.0.80", 22, 6, at(100), at(5100))
	ssh1.Cause = record.CauseStatus
	ssh1.TCPState = record.TCPSawSyn | record.TCPSawSynAck | record.TCPEstablished
	ssh1.Src = record.Side{Pkts: 10, Bytes: 1500, AppBytes: 800, TTL: 64}
	ssh1.Dst = record.Side{Pkts: 8, Bytes: 2400, AppBytes: 1900, TTL: 63}

	ssh2 := mkflow("10.0.0.2", 41000, "10.0.0.80", 22, 6, at(5200), at(9000))
	ssh2.TCPState = record.TCPEstablished | record.TCPSrcFin | record.TCPDstFin | record.TCPClosed
	ssh2.Src = record.Side{Pkts: 4, Bytes: 400, AppBytes: 100, TTL: 64}
	ssh2.Dst = record.Side{Pkts: 3, Bytes: 600, AppBytes: 300, TTL: 63}

	// The server's last packets, exported on their own as a flow from the server.
	sshRev := mkflow("10.0.0.80", 22, "10.0.0.2", 41000, 6, at(9100), at(9200))
	sshRev.Src = record.Side{Pkts: 2, Bytes: 132, TTL: 63}

	return []record.Record{man, web, dns, ping, arp, v6, ssh1, ssh2, sshRev}
}

// writeStream writes recs to a new stream file in t's temp dir and returns its path.
func writeStream(t testing.TB, recs []record.Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fixture.pnpt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := record.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func runRead(args []string, stdin []byte) (string, string, error) {
	var out, errb bytes.Buffer
	err := ReadMain(args, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func runCluster(args []string, stdin []byte) (string, string, error) {
	var out, errb bytes.Buffer
	err := ClusterMain(args, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// substitute replaces the word FIXTURE in args by path.
func substitute(args []string, path string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "FIXTURE", path)
	}
	return out
}
