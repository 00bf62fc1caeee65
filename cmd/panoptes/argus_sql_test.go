package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"panoptes/internal/binarytest"
	"panoptes/internal/dbtest"
	"panoptes/internal/peer"
	"panoptes/record"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRelayFeedsRasqlinsert (#12): the real rasqlinsert reads a Panoptes relay's
// --argus-port (-S) and inserts what it receives into a real MariaDB. The rows'
// columns, as rasqlinsert decoded and stored them, must be the flows panoptes read -r
// prints for the same records: times, protocol, addresses, ports, packets and bytes
// per direction, and the ICMP echo identifiers.
//
// rasqlinsert takes no socket option; it reads ~/.my.cnf, so it runs with HOME in a
// temporary directory whose .my.cnf names the test server's socket. It does not exit
// when the relay closes the stream (it reconnects, and ignores SIGTERM): the table is
// polled until it holds every flow, or its row count stops growing, then it is killed.
func TestRelayFeedsRasqlinsert(t *testing.T) {
	rsq := peer.Need(t, "rasqlinsert", "argus-client")
	bin := binarytest.Build(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "in.pnp")
	var args []string
	for _, c := range []string{"get.pcap", "dns.pcap", "icmp.pcap", "http_ipv6.pcap"} {
		args = append(args, "-r", filepath.Join(peer.Root(t), "testdata", c))
	}
	runOut(t, bin, append(append([]string{"import"}, args...), "-w", file)...)
	// What rasqlinsert must store, as panoptes read prints it: one line per flow,
	// the columns joined by ",".
	want := strings.Split(strings.TrimRight(runOut(t, bin, "read", "-r", file, "-n", "-u", "-p", "6", "-c", ",", "-L", "-1",
		"-s", "stime,ltime,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes", "--", "not man"), "\n"), "\n")
	if len(want) < 10 {
		t.Fatalf("the reference holds %d flows: %q", len(want), want)
	}

	my := dbtest.StartMariaDB(t)
	if err := os.WriteFile(filepath.Join(dir, ".my.cnf"), []byte("[client]\nsocket="+my.Sock+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	relay := binarytest.Start(t, bin, "relay", "-r", file, "--argus-port", port, "--wait-clients", "1")
	relay.WaitStderr(regexp.MustCompile(`serving Argus clients on`), 10*time.Second)
	t.Setenv("HOME", dir) // for rasqlinsert (the binary is built)
	rs := startBackground(t, "", rsq, "-S", "127.0.0.1:"+port, "-m", "none", "-w", "mysql://root@localhost/ra/flows",
		"-s", "stime", "ltime", "proto", "saddr", "sport", "daddr", "dport", "spkts", "dpkts", "sbytes", "dbytes")
	if code := relay.Wait(20 * time.Second); code != 0 {
		t.Fatalf("relay exit %d: %s", code, relay.Stderr())
	}

	c := mysql.NewConfig()
	c.User, c.Net, c.Addr = "root", "unix", my.Sock
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func() []string {
		r, err := db.Query("SELECT stime, ltime, proto, saddr, sport, daddr, dport, spkts, dpkts, sbytes, dbytes FROM ra.flows")
		if err != nil {
			return nil // the table is not there yet
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var stime, ltime float64
			var cols [9]sql.NullString
			if err := r.Scan(&stime, &ltime, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6], &cols[7], &cols[8]); err != nil {
				t.Fatalf("reading ra.flows: %v", err)
			}
			l := fmt.Sprintf("%.6f,%.6f", stime, ltime)
			for _, v := range cols {
				l += "," + v.String
			}
			out = append(out, l)
		}
		return out
	}
	var got []string
	for deadline, last, stable := time.Now().Add(20*time.Second), -1, 0; time.Now().Before(deadline) && stable < 8; {
		time.Sleep(250 * time.Millisecond)
		got = rows()
		switch n := len(got); {
		case n >= len(want):
			stable = 8
		case n == last && n > 0:
			stable++
		default:
			last, stable = n, 0
		}
	}
	rs.stop(syscall.SIGKILL)
	if len(got) == 0 {
		t.Fatalf("rasqlinsert wrote no rows:\n%s", rs.errb.String())
	}
	// The echo identifiers, in the order of the flows (rasqlinsert inserts them in
	// the order the relay sends them, the file's).
	var ids []uint16
	rd, err := record.NewReader(bytes.NewReader(readFile(t, file)), file)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var r record.Record
		if err := rd.Read(&r); err != nil {
			break
		}
		if r.Kind == record.KindFlow {
			ids = append(ids, r.ICMPID)
		}
	}
	// ra's printing rules, as rasqlinsert stores them: protocol names; an ICMP flow's
	// type and code packed in one hex word as sport, and its echo identifier,
	// byte-swapped, as dport.
	protos := map[string]string{"tcp": "6", "udp": "17", "icmp": "1", "ipv6-icmp": "58"}
	for i, l := range got {
		f := strings.Split(l, ",")
		if n, ok := protos[f[2]]; ok {
			f[2] = n
		}
		if f[2] == "1" && i < len(ids) {
			v, err := strconv.ParseUint(strings.TrimPrefix(f[4], "0x"), 16, 16)
			if err != nil {
				t.Fatalf("row %d: ICMP sport %q", i, f[4])
			}
			if wantID := fmt.Sprintf("0x%04x", bits.ReverseBytes16(ids[i])); f[6] != wantID {
				t.Errorf("row %d: ICMP echo identifier (dport) %s, want %s", i, f[6], wantID)
			}
			f[4], f[6] = strconv.FormatUint(v&0xff, 10), strconv.FormatUint(v>>8, 10)
		}
		got[i] = strings.Join(f, ",")
	}
	binarytest.Same(t, "rasqlinsert -S from relay --argus-port: rows of ra.flows vs panoptes read -r FILE", got, want)
}
