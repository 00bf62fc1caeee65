package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/internal/tmpfstest"
)

// Disk full through the binary: `panoptes import -w DIR/` on a small tmpfs that fills
// while it runs. The import runs as a child process (this test binary calling run, as
// main does) because Pebble may end a writer on a full disk, and because a writer that
// hangs must be killed by a deadline rather than hang the tests. Needs root for mount.

// udpFlowsPcap returns a pcap of n one-packet UDP flows between random addresses, 100 µs
// apart: n records that compress poorly, so that a few MB of archive fill quickly.
func udpFlowsPcap(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	b.Write(hdr)
	const frameLen = 14 + 20 + 8 + 16
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		ts := t0.Add(time.Duration(i) * 100 * time.Microsecond)
		rec := make([]byte, 16+frameLen)
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:], frameLen)
		binary.LittleEndian.PutUint32(rec[12:], frameLen)
		f := rec[16:]
		copy(f[0:6], []byte{2, 0, 0, 0, 0, 1})
		copy(f[6:12], []byte{2, 0, 0, 0, 0, 2})
		f[12], f[13] = 0x08, 0x00
		ip := f[14:34]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], 20+8+16)
		binary.BigEndian.PutUint32(ip[12:], 0x0a000000|rng.Uint32()&0xffffff)
		binary.BigEndian.PutUint32(ip[16:], 0xc0a80000|rng.Uint32()&0xffff)
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		udp := f[34:42]
		binary.BigEndian.PutUint16(udp[0:], uint16(1024+rng.IntN(60000)))
		binary.BigEndian.PutUint16(udp[2:], uint16(1+rng.IntN(1000)))
		binary.BigEndian.PutUint16(udp[4:], 8+16)
		b.Write(rec)
	}
	return b.Bytes()
}

// TestDiskFullMainChild is `panoptes` itself for the disk-full tests: it runs the
// arguments in PANOPTES_DISKFULL_ARGS (one per line) and exits with run's status.
func TestDiskFullMainChild(t *testing.T) {
	args := os.Getenv("PANOPTES_DISKFULL_ARGS")
	if args == "" {
		t.Skip("runs only as the panoptes child of TestImportDiskFull")
	}
	os.Exit(run(strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr))
}

// TestImportDiskFull: an import into an archive whose disk fills while it runs stops
// with one line naming the archive or file and "no space left on device", exit status 2,
// no panic and no hang; once space is freed, `index verify` reports the segments the
// import left unsealed and no other difference, `read -R` reads back only records the import produced, and a second
// import appends to the archive.
func TestImportDiskFull(t *testing.T) {
	pcap := udpFlowsPcap(150000, 1)
	// What the whole import gives, for comparison.
	full := filepath.Join(t.TempDir(), "full.pnp")
	if _, errs, code := panoptes(t, pcap, "import", "-r", "-", "-w", full); code != 0 {
		t.Fatalf("import to a stream file: exit %d: %s", code, errs)
	}
	fields := []string{"-n", "-u", "-p", "6", "-L", "-1", "-s", "stime,ltime,proto,saddr,sport,daddr,dport,spkts,sbytes,srcid"}
	fullOut, _, _ := panoptes(t, nil, append([]string{"read", "-r", full}, fields...)...)
	fullRecs := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(fullOut), "\n") {
		fullRecs[l]++
	}

	mnt := tmpfstest.Mount(t, 80<<20)
	dir := filepath.Join(mnt, "archive")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDiskFullMainChild$")
	cmd.Env = append(os.Environ(), "PANOPTES_DISKFULL_ARGS="+strings.Join([]string{"import", "-r", "-", "-w", dir + "/"}, "\n"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The import opens the archive before it reads its input: once it has taken the
	// first MiB (more than a pipe holds), the archive is open, and the disk fills.
	if _, err := stdin.Write(pcap[:1<<20]); err != nil {
		t.Fatalf("feeding the import: %v (stderr: %s)", err, stderr.String())
	}
	ballast := tmpfstest.Fill(t, mnt, 1<<20)
	io.Copy(stdin, bytes.NewReader(pcap[1<<20:])) // the import may stop reading: an error here is expected
	stdin.Close()
	cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the import hung on a full disk (killed after 30 s); stderr:\n%s", stderr.String())
	}
	code := cmd.ProcessState.ExitCode()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "no space left on device") || !strings.Contains(lines[0], dir) {
		t.Fatalf("import on a full disk: exit %d, stderr:\n%s\nwant exit 2 and one line naming %s and \"no space left on device\"", code, stderr.String(), dir)
	}
	t.Logf("import on a full disk: exit %d: %s", code, lines[0])

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	// The import stopped without sealing its segments: verify says they need recovery,
	// and finds no other difference.
	out, errs, code := panoptes(t, nil, "index", "verify", dir)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if code != 2 || !strings.Contains(l, "unsealed") {
			t.Fatalf("index verify after the disk was full: exit %d\n%s%s", code, out, errs)
		}
	}
	readBack := func(stage string) []string {
		t.Helper()
		out, errs, code := panoptes(t, nil, append([]string{"read", "-R", dir}, fields...)...)
		if code != 0 && code != 1 {
			t.Fatalf("%s: read -R: exit %d: %s", stage, code, errs)
		}
		return strings.Fields(strings.ReplaceAll(strings.TrimSpace(out), " ", "_"))
	}
	got := readBack("after the disk was full")
	left := map[string]int{}
	for k, v := range fullRecs {
		left[strings.ReplaceAll(k, " ", "_")] = v
	}
	for _, l := range got {
		if left[l]--; left[l] < 0 {
			t.Fatalf("read -R gives a record the import did not produce (or more often): %s", l)
		}
	}
	t.Logf("%d of %d records were in the archive when the disk filled", len(got), len(strings.Split(strings.TrimSpace(fullOut), "\n")))

	// Writing again once there is room: the next import recovers and appends.
	if _, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", "dns.pcap"), "--srcid", "9", "-w", dir+"/"); code != 0 {
		t.Fatalf("import after space was freed: exit %d: %s", code, errs)
	}
	dnsOut, _, _ := panoptes(t, nil, append([]string{"read", "-r", importCapture(t, "dns.pcap")}, fields...)...)
	after := readBack("after appending")
	if want := len(got) + len(strings.Split(strings.TrimSpace(dnsOut), "\n")); len(after) != want {
		t.Fatalf("after appending dns.pcap: %d records, want %d", len(after), want)
	}
	if out, errs, code := panoptes(t, nil, "index", "verify", dir); code != 0 {
		t.Fatalf("index verify after appending: exit %d\n%s%s", code, out, errs)
	}
}

// TestImportNearlyFullDisk: an import into an archive on a file system with less free
// space than writing needs is refused up front with one line, exit status 2.
func TestImportNearlyFullDisk(t *testing.T) {
	mnt := tmpfstest.Mount(t, 80<<20)
	tmpfstest.Fill(t, mnt, 16<<20)
	dir := filepath.Join(mnt, "archive") + "/"
	_, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", "dns.pcap"), "-w", dir)
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "panoptes import: archive "+dir+": only ") || !strings.Contains(lines[0], "writing needs at least") {
		t.Fatalf("import onto a nearly full disk: exit %d, stderr:\n%s\nwant exit 2 and one line refusing %s", code, errs, dir)
	}
}
