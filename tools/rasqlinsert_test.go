package tools

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/internal/dbtest"
	"panoptes/internal/peer"
)

// TestReadsRasqlinsertTables (issues #12, #13): Argus records written by `-w argus:`
// are inserted by the real rasqlinsert into a real MariaDB, and `read -r mysql://...`
// of its table gives the flows `read -r FILE` gives.
//
// rasqlinsert 3.0/5.0 takes no socket option and ignores MYSQL_UNIX_PORT; it reads
// ~/.my.cnf, so it runs with HOME in a temporary directory whose .my.cnf names the
// test server's socket. It does not exit at the end of -r (and ignores SIGTERM): the
// table is polled until its row count is stable, then rasqlinsert is killed.
//
// Compared: the flow key, both directions' counters and the start and last times (to
// the microsecond, the Argus records' precision). The times failed before the fix of
// the time DSR decoding in argus/: rasqlinsert's `record` blobs carry a time DSR of a
// layout our decoder misread (e.g. 00:10:43.000000 for a flow whose stime column says
// 19:30:38.791744).
func TestReadsRasqlinsertTables(t *testing.T) {
	rsq := peer.Need(t, "rasqlinsert", "argus-client")
	dir := t.TempDir()
	far := filepath.Join(dir, "whatsapp.argus")
	var out bytes.Buffer
	if err := ReadMain([]string{"-r", "testdata/whatsapp.pnp", "-w", "argus:" + far}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	my := dbtest.StartMariaDB(t)
	if err := os.WriteFile(filepath.Join(dir, ".my.cnf"), []byte("[client]\nsocket="+my.Sock+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rsq, "-m", "none", "-r", far, "-w", "mysql://root@localhost/ra/flows")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { cmd.Process.Kill(); <-done }()

	url := "mysql://root@localhost/ra/flows?socket=" + my.Sock
	fields := []string{"-n", "-u", "-c", ",", "-s", "stime,ltime,proto,saddr,sport,daddr,dport,spkts,dpkts,sbytes,dbytes"}
	want := readLines(t, append(append([]string{"-r", far}, fields...), "--", "not man")...)
	count := func() int {
		var o, e bytes.Buffer
		if err := ReadMain(append([]string{"-r", url}, fields...), nil, &o, &e); err != nil {
			return -1 // the table is not there yet
		}
		return strings.Count(o.String(), "\n")
	}
	// Until rasqlinsert exits, or its table stops growing for 3 s: under load it paused
	// for over a second mid-insert, and the rows it added during the checks below made
	// the pushed-down and plain reads disagree.
	const settled = 12
	last, stable := -1, 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && stable < settled; {
		select {
		case <-done:
			stable = settled
		case <-time.After(250 * time.Millisecond):
		}
		if n := count(); n == last && n > 0 {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	if last <= 0 {
		t.Fatalf("rasqlinsert wrote no rows:\n%s", errb.String())
	}
	got := readLines(t, append([]string{"-r", url}, fields...)...)
	if len(got) < len(want) {
		// rasqlinsert may lose the records at its end: each row that arrived must still
		// read back as a flow of the file.
		t.Logf("rasqlinsert wrote %d of %d records", len(got), len(want))
		have := map[string]int{}
		for _, l := range want {
			have[l]++
		}
		for _, l := range got {
			if have[l] == 0 {
				t.Errorf("row %q is no flow of %s", l, far)
			}
			have[l]--
		}
	} else if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%d rows, want %d; first difference: %s", len(got), len(want), firstDiff(got, want))
	}
	// The filter's key terms pushed into the WHERE on rasqlinsert's text columns (which
	// it prints after turning SYN-less TCP flows round) select what the filter does.
	checkPushdown(t, url, []string{"host 192.168.2.4", "src host 192.168.2.4", "dst host 31.13.84.48",
		"net 31.13.0.0/16", "dst net 17.0.0.0/8 and tcp", "udp", "tcp and dst port 443", "src port 443",
		"port 5223 or port 3478", "not port 443", "dst port 1-1024", "icmp or host 8.8.8.8"})
}
