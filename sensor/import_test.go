package sensor

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panoptes/internal/cli"
	"panoptes/record"
)

// importBytes imports captures and returns the encoded record stream.
func importBytes(t testing.TB, names []string, cfg ImportConfig) ([]byte, ImportStats, string, error) {
	t.Helper()
	var buf, warn bytes.Buffer
	w, err := record.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Import(names, nil, w, &warn, cfg)
	return buf.Bytes(), st, warn.String(), err
}

func readAll(t testing.TB, b []byte) []record.Record {
	t.Helper()
	rd, err := record.NewReader(bytes.NewReader(b), "out")
	if err != nil {
		t.Fatal(err)
	}
	var out []record.Record
	for {
		var r record.Record
		if err := rd.Read(&r); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

var testCaptures = []string{
	"../testdata/http_ipv6.pcap", "../testdata/get.pcap", "../testdata/icmp.pcap", "../testdata/dns.pcap",
	"../testdata/linuxsll-arp.pcap", "../testdata/q-in-q.pcap", "../testdata/frag-ip-tcp.pcap",
}

// Sharding must not change the records: the same captures imported with 1, 2 and 5
// shards give byte-identical streams.
func TestShardingGivesSameRecords(t *testing.T) {
	// Several captures in one import: time jumps back and forth between them.
	sets := [][]string{testCaptures, {"../testdata/get.pcap", "../testdata/http_ipv6.pcap", "../testdata/icmp.pcap",
		"../testdata/linuxsll-arp.pcap", "../testdata/q-in-q.pcap", "../testdata/dns.pcap"}}
	if dir := filepath.Join("..", "..", "shared", "pcaps"); fileExists(filepath.Join(dir, "echo-connections.pcap")) {
		// 500 TCP sessions, 82k packets: many rounds and every shard busy.
		sets = append(sets, []string{filepath.Join(dir, "echo-connections.pcap")},
			[]string{filepath.Join(dir, "synscan.pcap")}, []string{filepath.Join(dir, "1kxun.pcap")},
			[]string{filepath.Join(dir, "whatsapp.pcap")}, // timestamps go backwards
			[]string{filepath.Join(dir, "sites.pcapng"), filepath.Join(dir, "teams.pcap"), filepath.Join(dir, "1kxun.pcap")})
	}
	for _, names := range sets {
		want, _, _, err := importBytes(t, names, ImportConfig{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(readAll(t, want)) < 3 {
			t.Fatalf("%v: too few records to compare", names)
		}
		for _, workers := range []int{2, 3, 5} {
			got, _, _, err := importBytes(t, names, ImportConfig{Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%v: %d shards wrote different records than 1 shard", names, workers)
			}
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Management records: a start record first, a stop record last, with the counters.
func TestManagementRecords(t *testing.T) {
	b, st, _, err := importBytes(t, []string{"../testdata/get.pcap", "../testdata/linuxsll-arp.pcap"}, ImportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, b)
	first, last := recs[0], recs[len(recs)-1]
	if first.Kind != record.KindMan || first.Cause != record.CauseStart || last.Kind != record.KindMan || last.Cause != record.CauseStop {
		t.Fatalf("first %v/%v, last %v/%v: want man Start ... man Stop", first.Kind, first.Cause, last.Kind, last.Cause)
	}
	// The second capture starts years after the first: one status record in between.
	var flowPkts, flowRecs uint64
	for _, r := range recs[1 : len(recs)-1] {
		if r.Kind == record.KindMan {
			if r.Cause != record.CauseStatus {
				t.Errorf("management record inside the stream with cause %v, want Status", r.Cause)
			}
			continue
		}
		flowPkts += r.Pkts()
		flowRecs++
	}
	if last.Man.PktsSeen != 14+12 || flowPkts != last.Man.PktsSeen || last.Man.RecordsWritten != flowRecs {
		t.Fatalf("stop record %+v; flows hold %d packets in %d flow records", *last.Man, flowPkts, flowRecs)
	}
	if st.PktsSeen != 26 {
		t.Fatalf("stats report %d packets, want 26", st.PktsSeen)
	}
}

func TestTruncatedCapture(t *testing.T) {
	full, err := os.ReadFile("../testdata/get.pcap")
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, full[:len(full)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	b, st, warn, err := importBytes(t, []string{cut}, ImportConfig{})
	if err != nil {
		t.Fatalf("lenient import failed: %v", err)
	}
	if !st.Truncated || !strings.Contains(warn, "cut.pcap: truncated at byte ") || strings.Count(warn, "\n") != 1 {
		t.Fatalf("warning %q: want one line naming the file and byte offset", warn)
	}
	var pkts uint64
	for _, r := range readAll(t, b) {
		if r.Kind == record.KindFlow {
			pkts += r.Pkts()
		}
	}
	if pkts != 13 {
		t.Fatalf("records hold %d packets, want the 13 before the cut", pkts)
	}
	if _, _, _, err := importBytes(t, []string{cut}, ImportConfig{Strict: true}); err == nil {
		t.Fatal("--strict import of a truncated capture succeeded")
	}
}

func TestImportMainErrors(t *testing.T) {
	dir := t.TempDir()
	notPcap := filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(notPcap, []byte("hello, this is not a capture"), 0o644)
	tests := []struct {
		name string
		args []string
		want string // in the error message
	}{
		{"no input", []string{"-w", "-"}, "no input"},
		{"no output", []string{"-r", "x.pcap"}, "no output"},
		{"missing file", []string{"-r", filepath.Join(dir, "nope.pcap"), "-w", "-"}, "nope.pcap"},
		{"not a capture", []string{"-r", notPcap, "-w", "-"}, "notes.txt: not a pcap or pcapng file"},
		{"bad flag", []string{"--frobnicate"}, "frobnicate"},
		{"bad srcid", []string{"-r", "x", "-w", "-", "--srcid", "abc"}, "--srcid"},
		{"bad duration", []string{"-r", "x", "-w", "-", "--tcp-timeout", "soon"}, "tcp-timeout"},
		{"no flow table", []string{"-r", "x", "-w", "-", "--max-flows", "0"}, "--max-flows 0: want 1 to"},
		// Before the range checks the following were accepted: --workers 1000000000 then
		// took 24 GB in 60 s, and negative durations silently became the defaults.
		{"too many workers", []string{"-r", "x", "-w", "-", "--workers", "1000000000"}, "--workers 1000000000: want 0 to 256"},
		{"negative workers", []string{"-r", "x", "-w", "-", "--workers", "-1"}, "--workers -1"},
		{"too many flows", []string{"-r", "x", "-w", "-", "--max-flows", "1000000000000"}, "--max-flows 1000000000000"},
		{"negative timeout", []string{"-r", "x", "-w", "-", "--tcp-timeout", "-5s"}, "--tcp-timeout -5s"},
		{"zero udp timeout", []string{"-r", "x", "-w", "-", "--udp-timeout", "0"}, "--udp-timeout 0s"},
		{"negative status interval", []string{"-r", "x", "-w", "-", "--status-interval", "-1s"}, "--status-interval -1s"},
		{"huge other timeout", []string{"-r", "x", "-w", "-", "--other-timeout", "100000h"}, "--other-timeout 100000h"},
		{"negative man interval", []string{"-r", "x", "-w", "-", "--man-interval", "-1m"}, "--man-interval -1m"},
		{"extra argument", []string{"-r", "x", "-w", "-", "tcp"}, `unexpected argument "tcp"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := ImportMain(tc.args, nil, &out, &errb)
			if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (exit %d), want exit 2 mentioning %q", err, cli.ExitCode(err), tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is more than one line: %q", err)
			}
			// main prefixes "panoptes import: "; the message must not say it again.
			if strings.HasPrefix(err.Error(), "import:") {
				t.Fatalf("error repeats the command name: %q", err)
			}
		})
	}
}

// Every capture of the shared corpus, the damaged ones included, imports without a
// panic, gives a readable stream, and gives the same stream with 1 and 3 shards (uses
// ../shared/pcaps; testdata/ where it is absent).
func TestCorpusImports(t *testing.T) {
	dir := corpusDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") || strings.HasSuffix(e.Name(), ".tsv") {
			continue
		}
		b, _, _, err := importBytes(t, []string{filepath.Join(dir, e.Name())}, ImportConfig{Workers: 1})
		if err != nil && !errors.Is(err, io.EOF) {
			if strings.Contains(err.Error(), "empty file") || strings.Contains(err.Error(), "bad pcap") || strings.Contains(err.Error(), "bad pcapng") {
				continue // a header-less file is refused with a one-line error
			}
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		readAll(t, b)
		// And sharding changes nothing, on every capture.
		if b3, _, _, _ := importBytes(t, []string{filepath.Join(dir, e.Name())}, ImportConfig{Workers: 3}); !bytes.Equal(b, b3) {
			t.Errorf("%s: 3 shards wrote different records than 1", e.Name())
		}
	}
}

// FuzzImport: any bytes given as a capture either fail with an error or import into a
// stream that reads back; never a panic.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"../testdata/get.pcap", "../testdata/dns.pcap", "../testdata/linuxsll-arp.pcap", "../testdata/frag-ip-tcp.pcap"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf bytes.Buffer
		w, _ := record.NewWriter(&buf)
		if _, err := Import([]string{"-"}, bytes.NewReader(data), w, io.Discard, ImportConfig{Workers: 2}); err != nil {
			if buf.Len() > len(record.AppendHeader(nil)) {
				// Records may have been written before the error; they must still read.
				readAll(t, buf.Bytes())
			}
			return
		}
		readAll(t, buf.Bytes())
	})
}

// BenchmarkImportFile measures the whole import path (read, decode, shard, flow table,
// encode) on a small real capture held in memory by the page cache.
func BenchmarkImportFile(b *testing.B) {
	name := "../testdata/http_ipv6.pcap"
	fi, err := os.Stat(name)
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2"}[workers], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(fi.Size())
			for b.Loop() {
				w, _ := record.NewWriter(io.Discard)
				if _, err := Import([]string{name}, nil, w, io.Discard, ImportConfig{Workers: workers}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestProgressReports(t *testing.T) {
	var last Progress
	calls := 0
	_, _, _, err := importBytes(t, []string{"../testdata/http_ipv6.pcap"}, ImportConfig{Progress: func(p Progress) { last = p; calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last.File != "../testdata/http_ipv6.pcap" || last.Files != 1 || last.Size != 69439 || last.Packets != 193 || last.Offset != 69439 {
		t.Fatalf("%d calls, last %+v", calls, last)
	}
	line := Progress{File: "case.pcap", FileIndex: 2, Files: 3, Offset: 500, Size: 1000, Packets: 2_000_000, Elapsed: 2 * time.Second}.Line()
	if line != "import [2/3] case.pcap  50.0%  2000000 packets  1.00 Mpkt/s  2s" {
		t.Fatalf("line %q", line)
	}
}
