package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"panoptes/index"
	"panoptes/internal/binarytest"
	"panoptes/record"
)

// copyTestdata copies a testdata capture into dir and returns its path.
func copyTestdata(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// unchanged fails the test unless path still holds want.
func unchanged(t *testing.T, what, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %s changed: %d bytes, was %d", what, filepath.Base(path), len(got), len(want))
	}
}

// An output that is also an input (the same name, a symlink to it or a hard link) is
// refused with one line before anything is opened for writing, for import and for every
// tool with -w. Before the fix, `import -r x.pcap -w x.pcap` left x.pcap as a 721-byte
// record stream (the 6335-byte capture destroyed) and `read -r X -w X` replaced X by a
// copy of itself (and a symlink by a plain file).
func TestOutputIsInputRefused(t *testing.T) {
	dir := t.TempDir()
	pcap := copyTestdata(t, dir, "get.pcap")
	flows := importCapture(t, "get.pcap", "dns.pcap")
	for _, link := range []string{"pcap-sym", "flows-sym"} {
		target := map[string]string{"pcap-sym": pcap, "flows-sym": flows}[link]
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(flows, filepath.Join(dir, "flows-hard")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in, out string
		args          []string
	}{
		{"import same name", pcap, pcap, []string{"import", "-r", pcap, "-w", pcap}},
		{"import via symlink", pcap, pcap, []string{"import", "-r", pcap, "-w", filepath.Join(dir, "pcap-sym")}},
		{"import second input", pcap, pcap, []string{"import", "-r", filepath.Join("..", "..", "testdata", "dns.pcap"), "-r", pcap, "-w", pcap}},
		{"read same name", flows, flows, []string{"read", "-r", flows, "-w", flows}},
		{"read via symlink", flows, flows, []string{"read", "-r", flows, "-w", filepath.Join(dir, "flows-sym")}},
		{"read via hard link", flows, flows, []string{"read", "-r", flows, "-w", filepath.Join(dir, "flows-hard")}},
		{"cluster", flows, flows, []string{"cluster", "-r", flows, "-w", flows}},
		{"sort", flows, flows, []string{"sort", "-r", flows, "-w", flows}},
		{"anon", flows, flows, []string{"anon", "-r", flows, "--key-file", filepath.Join(dir, "anon.key"), "-w", flows}},
		{"relay", flows, flows, []string{"relay", "-r", flows, "-w", flows}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := os.ReadFile(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Lstat(tc.args[len(tc.args)-1])
			_, errs, code := panoptes(t, nil, tc.args...)
			binarytest.OneLineError(t, tc.name, code, errs, "is also an input")
			unchanged(t, tc.name, tc.in, before)
			if fi2, _ := os.Lstat(tc.args[len(tc.args)-1]); fi2.Mode() != fi.Mode() {
				t.Errorf("%s: -w %s changed from %v to %v", tc.name, filepath.Base(tc.args[len(tc.args)-1]), fi.Mode(), fi2.Mode())
			}
		})
	}
}

// A missing input fails before the output is touched. Before the fix, `import -r
// /missing -w out.pnp` left out.pnp as a 721-byte stream with no flow records (it was
// 931 bytes, 4 flow records).
func TestMissingInputKeepsOutput(t *testing.T) {
	flows := importCapture(t, "get.pcap")
	before, err := os.ReadFile(flows)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pcap")
	for _, cmd := range []string{"import", "read", "relay"} {
		_, errs, code := panoptes(t, nil, cmd, "-r", missing, "-w", flows)
		binarytest.OneLineError(t, cmd, code, errs, "missing.pcap")
		unchanged(t, cmd, flows, before)
	}
}

// An input that is not a capture (import) or a stream (relay) fails before the output
// is opened. Before the fix, out.pnp grew by an empty stream (931 bytes, then 1652),
// and relay printed "0 records relayed" too.
func TestBadInputKeepsOutput(t *testing.T) {
	flows := importCapture(t, "get.pcap")
	before, err := os.ReadFile(flows)
	if err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(text, []byte("not a capture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"import", "relay"} {
		_, errs, code := panoptes(t, nil, cmd, "-r", text, "-w", flows)
		binarytest.OneLineError(t, cmd+" -r notes.txt", code, errs, "notes.txt")
		unchanged(t, cmd+" -r notes.txt", flows, before)
	}
}

// A writer stopped mid-record leaves an incomplete record at the end of its -w file;
// the next import into it cuts that off, says so in one warning, and appends. Before
// the fix the second import truncated the file: "6 records, want 8".
func TestImportAfterTornTail(t *testing.T) {
	out := importCapture(t, "get.pcap")
	first := binarytest.Records(t, out)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(out, fi.Size()-3); err != nil { // the last record torn
		t.Fatal(err)
	}
	_, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", "dns.pcap"), "-w", out)
	want := append(first[:len(first)-1:len(first)-1], binarytest.Records(t, importCapture(t, "dns.pcap"))...)
	binarytest.Same(t, "import after a torn tail", binarytest.Records(t, out), want)
	if code != 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "incomplete last record") {
		t.Fatalf("import into a torn file: exit %d, stderr %q; want 0 and one warning", code, errs)
	}
}

// A stream file output that exists is appended to, as Argus's -w does: importing twice
// into the same file (a sensor restarted with the same -w does the same through the
// same index.OpenOutput) keeps both runs' records. Before the fix the second import
// truncated the file: 4 records left of 4+6.
func TestImportTwiceAppends(t *testing.T) {
	first := importCapture(t, "get.pcap")
	second := importCapture(t, "dns.pcap")
	want := append(binarytest.Records(t, first), binarytest.Records(t, second)...)
	out := filepath.Join(t.TempDir(), "both.pnp")
	for _, c := range []string{"get.pcap", "dns.pcap"} {
		if _, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", c), "-w", out); code != 0 {
			t.Fatalf("import %s: exit %d: %s", c, code, errs)
		}
	}
	binarytest.Same(t, "two imports into one file", binarytest.Records(t, out), want)
	// The tools read the appended file as one stream.
	got, errs, code := panoptes(t, nil, "read", "-r", out, "-s", "proto", "-L", "-1", "-N", "100")
	n := bytes.Count([]byte(got), []byte("\n"))
	if code != 0 || n != len(want) {
		t.Fatalf("read of the appended file: exit %d, %d records, want %d: %s", code, n, len(want), errs)
	}
}

// A tool's -w file gets the permissions the umask allows, and a file it replaces keeps
// its own: nothing is chmodded wider. A -w that is a symlink stays one (the file it
// points to is replaced). Before the fix, with umask 027: read -w made a new file 0644,
// and read, cluster, sort, anon and split made an existing 0600 file 0644; read -w SYMLINK
// replaced the symlink by a plain file.
func TestToolOutputPermissions(t *testing.T) {
	flows := importCapture(t, "get.pcap")
	b, err := os.ReadFile(flows)
	if err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	dir := t.TempDir()
	key := filepath.Join(dir, "anon.key")
	for _, tc := range []struct {
		name   string
		exists bool
		args   []string
		out    string
		want   os.FileMode
	}{
		{"read new", false, []string{"read"}, "new.pnp", 0o640},
		{"read existing", true, []string{"read"}, "r.pnp", 0o600},
		{"cluster existing", true, []string{"cluster"}, "c.pnp", 0o600},
		{"sort existing", true, []string{"sort"}, "s.pnp", 0o600},
		{"anon existing", true, []string{"anon", "--key-file", key}, "a.pnp", 0o600},
		{"split new", false, []string{"split", "-M", "count", "100"}, "sn.pnp", 0o640},
		{"split existing", true, []string{"split", "-M", "count", "100"}, "se.pnp", 0o600},
	} {
		out := filepath.Join(dir, tc.out)
		file := out
		if tc.args[0] == "split" {
			file = out + "aa" // count mode's first chunk
		}
		if tc.exists {
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		args := append(append(tc.args, "-r", flows, "-w", out), "--", "tcp")
		if _, errs, code := panoptes(t, nil, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, errs)
		}
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != tc.want {
			t.Errorf("%s: %s mode %v (%v), want %v", tc.name, filepath.Base(file), fi.Mode().Perm(), err, tc.want)
		}
	}

	target := filepath.Join(dir, "target.pnp")
	link := filepath.Join(dir, "link.pnp")
	if err := os.Symlink("target.pnp", link); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := panoptes(t, nil, "read", "-r", flows, "-w", link, "--", "tcp"); code != 0 {
		t.Fatalf("read -w link: exit %d: %s", code, errs)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("-w link.pnp (a symlink) is now %v (%v)", fi.Mode(), err)
	}
	if n := len(binarytest.Records(t, target)); n != 1 {
		t.Errorf("target.pnp holds %d records, want the 1 TCP flow", n)
	}
}

// A directory given as -r is said to be one. Before the fix, read said "DIR: reading
// header: corrupt stream header", and relay "relay: 0 records relayed" then the same.
func TestReadDirectoryInput(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"read", "-r", dir},
		{"cluster", "-r", dir},
		{"relay", "-r", dir, "-w", filepath.Join(t.TempDir(), "out.pnp")},
	} {
		_, errs, code := panoptes(t, nil, args...)
		binarytest.OneLineError(t, args[0]+" -r DIR", code, errs, dir, "is a directory")
	}
}

// A tool's -w replaces a file only when no writer is appending to it (a sensor, import
// or relay holds the file it writes locked): replaced, the file would take that
// writer's later records away with the old inode. Before the fix, read -w replaced it:
// the writer's records 1-2 and 3 were lost, held.pnp held the 1 TCP flow of get.pcap.
func TestToolOutputLockedRefused(t *testing.T) {
	flows := importCapture(t, "get.pcap")
	held := filepath.Join(t.TempDir(), "held.pnp")
	sink, err := index.OpenOutput(held, nil, index.OutputOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeSink := sink.Close
	defer func() {
		if closeSink != nil {
			closeSink()
		}
	}()
	for i := range 2 {
		sink.Write(&record.Record{Kind: record.KindFlow, Proto: 17, SrcPort: uint16(i + 1)})
	}
	sink.Flush()
	_, errs, code := panoptes(t, nil, "read", "-r", flows, "-w", held, "--", "tcp")
	binarytest.OneLineError(t, "read -w a locked file", code, errs, "held.pnp", "locked")
	sink.Write(&record.Record{Kind: record.KindFlow, Proto: 17, SrcPort: 3})
	err, closeSink = closeSink(), nil
	if err != nil {
		t.Fatal(err)
	}
	if n := len(binarytest.Records(t, held)); n != 3 {
		t.Fatalf("held.pnp holds %d records, want the writer's 3", n)
	}
}
