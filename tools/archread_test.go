package tools

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/record"
)

// BenchmarkCountInput measures the read path of `panoptes count` (every record through
// scan, nothing printed) over the same records from an archive (-R) and from a stream
// file (-r): an archive read is a full scan of the forensic kind, and issue #14 wants it
// as fast per core as a stream read. Both decode on every core; the archive also merges
// its blocks by start time, except for a reader of any order (count: archive-anyorder). ns/record and allocs/op (per pass over all the records)
// are the figures to compare (cpu-ns/record: CPU time of all cores, the per-core cost);
// allocs/op is per pass over all the records, and most of it is opening the input.
func BenchmarkCountInput(b *testing.B) {
	const n = 300_000
	arch, stream := archiveAndStream(b, n)
	for _, bc := range []struct {
		name string
		c    common
	}{
		{"archive", common{archives: []string{arch}}},
		{"archive-anyorder", common{archives: []string{arch}, anyOrder: true}}, // as count reads
		{"stream", common{inputs: []string{stream}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				got := 0
				if err := scan("count", &bc.c, nil, io.Discard, func(r *record.Record) bool {
					got++
					return true
				}); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("read %d records, want %d", got, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*n), "cpu-ns/record")
		})
	}
}

// archiveAndStream writes n records (benchRecords, from three sources) into an archive
// and into a stream file, and returns their paths.
func archiveAndStream(tb testing.TB, n int) (arch, stream string) {
	tb.Helper()
	recs := benchRecords(n, 50_000)
	for i := range recs {
		recs[i].SrcID = uint32(1 + i%3) // three sources, as the archive
		recs[i].Seq = uint32(i)
	}
	return writeArchiveAndStream(tb, recs)
}

// writeArchiveAndStream writes recs into an archive and into a stream file, and returns
// their paths.
func writeArchiveAndStream(tb testing.TB, recs []record.Record) (arch, stream string) {
	tb.Helper()
	dir := tb.TempDir()
	arch = filepath.Join(dir, "arch")
	a, err := index.Open(arch, index.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	w := a.NewWriter(5 * time.Minute)
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := a.Close(); err != nil {
		tb.Fatal(err)
	}
	stream = filepath.Join(dir, "stream.pnp")
	f, err := os.Create(stream)
	if err != nil {
		tb.Fatal(err)
	}
	sw, err := record.NewWriter(f)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range recs {
		if err := sw.Write(&recs[i]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil { // closes f
		tb.Fatal(err)
	}
	return arch, stream
}

// count -R reads an archive in any order (QueryUnordered), decoding only the key and
// the counters when its filter reads only the key, and read -R passes its filter to the
// block decoders: both give what the same records give from a stream file.
func TestArchiveReadsEqualStream(t *testing.T) {
	arch, stream := archiveAndStream(t, 30_000)
	for _, tc := range []struct {
		name string
		main func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
		args []string
		sort bool // the archive's order is by start time, the stream's as written
		min  int  // lines at least, for the comparison to say something
	}{
		{"count", CountMain, nil, false, 2},
		{"count -M proto addr filtered", CountMain, []string{"-M", "proto", "-M", "addr", "--", "src net 10.0.0.0/16"}, false, 5},
		{"count not man", CountMain, []string{"--", "not man"}, false, 2},
		{"count filtered beyond the key", CountMain, []string{"-M", "proto", "--", "ttl gt 10 or syn"}, false, 3},
		{"read filtered", ReadMain, []string{"-n", "-L", "-1", "-s", "stime,srcid,saddr,sport,daddr,dport,pkts", "--", "src net 10.0.0.0/14 and not srcid 2"}, true, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fromArch, fromStream strings.Builder
			if err := tc.main(append([]string{"-R", arch}, tc.args...), nil, &fromArch, io.Discard); err != nil {
				t.Fatal(err)
			}
			if err := tc.main(append([]string{"-r", stream}, tc.args...), nil, &fromStream, io.Discard); err != nil {
				t.Fatal(err)
			}
			a, s := fromArch.String(), fromStream.String()
			if tc.sort {
				a, s = sortedLines(a), sortedLines(s)
			}
			if strings.Count(a, "\n") < tc.min || a != s {
				t.Fatalf("from the archive (%d lines):\n%.600s\nfrom the stream (%d lines):\n%.600s", strings.Count(a, "\n"), a, strings.Count(s, "\n"), s)
			}
		})
	}
}

// count -R without a filter adds the totals of the blocks inside -t from the index
// and reads the others (index.QueryTotals): for every mode of -t, and ranges that cut
// blocks, it counts what a stream file of the same records counts, and what the
// archive counts when a filter makes it read every record.
func TestCountTotalsEqualStream(t *testing.T) {
	arch, stream := archiveAndStream(t, 30_000) // one record a millisecond from base
	sec := func(ms int64) string { return fmt.Sprintf("%d.%03d", at(ms)/1e9, at(ms)/1e6%1000) }
	for _, tr := range []string{
		"",
		sec(-1000) + "-" + sec(40_000), // all
		sec(2_345) + "-" + sec(17_891), // cuts blocks at both ends
		"c" + sec(2_345) + "-" + sec(17_891),
		"n" + sec(12_000) + "-" + sec(12_001),
		"x" + sec(2_345) + "-" + sec(17_891),
		sec(29_000) + "-" + sec(90_000),
	} {
		var args []string
		if tr != "" {
			args = []string{"-t", tr}
		}
		var fromArch, fromStream, scanned strings.Builder
		if err := CountMain(append([]string{"-R", arch}, args...), nil, &fromArch, io.Discard); err != nil && !errors.Is(err, cli.ErrNoMatch) {
			t.Fatal(err)
		}
		if err := CountMain(append([]string{"-r", stream}, args...), nil, &fromStream, io.Discard); err != nil && !errors.Is(err, cli.ErrNoMatch) {
			t.Fatal(err)
		}
		if err := CountMain(append([]string{"-R", arch}, append(args, "--", "not man")...), nil, &scanned, io.Discard); err != nil && !errors.Is(err, cli.ErrNoMatch) {
			t.Fatal(err)
		}
		if fromArch.String() != fromStream.String() || fromArch.String() != scanned.String() {
			t.Errorf("-t %q: from the archive:\n%s\nfrom the stream:\n%s\nthe archive read whole:\n%s", tr, &fromArch, &fromStream, &scanned)
		}
	}
	// The totals were used: the archive's blocks have them.
	a, err := index.Open(arch, index.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	read := 0
	tot, err := a.QueryTotals(-1<<62, 1<<62, func(r *record.Record) error { read++; return nil })
	if err != nil || tot.Flows != 30_000 || read != 0 {
		t.Fatalf("QueryTotals: %+v, %d records read (%v); want 30000 flows from the index, none read", tot, read, err)
	}
}

func sortedLines(s string) string {
	l := strings.Split(s, "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}

// cpuTime is the process's user and system CPU time in ns: on a shared machine the
// CPU a pass costs (cpu-ns/record, all cores together) varies less than its elapsed
// time, and it is what "as fast per core" compares.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// cluster -R and read -R of printed fields that read only the front of a split block
// (saddr, pkts, bytes, ra's default columns...) decode only the front, and print what
// the same records read whole from a stream file give: with non-IP flows, whose
// address and cluster key are their MACs, ARP, and TCP states, causes and losses.
func TestArchiveProjection(t *testing.T) {
	recs := benchRecords(20_000, 3000)
	for i := range recs {
		r := &recs[i]
		r.SrcID, r.Seq = uint32(1+i%3), uint32(i)
		r.TCPState = uint16(i % 7 * 3)
		r.Cause = record.Cause(i % 4)
		r.Src.Retrans, r.Dst.Loss, r.Dst.OutOfOrder = uint64(i%11/9), uint64(i%13/12), uint64(i%17/16)
		r.SynAck = int64(i % 5 * 1000)
		switch i % 10 {
		case 3: // LLDP from 16 bridges: keyed by source MAC
			*r = record.Record{Kind: record.KindFlow, EtherType: 0x88cc, SrcID: r.SrcID, Seq: r.Seq,
				StartTime: r.StartTime, LastTime: r.LastTime, Trans: 1}
			r.Src = record.Side{Pkts: uint64(1 + i%7), Bytes: uint64(60 * (1 + i%7)), MAC: [6]byte{2, 0, 0, 0, 0, byte(i / 10 % 16)}}
			r.Dst.MAC = [6]byte{1, 0x80, 0xc2, 0, 0, 0x0e}
		case 6: // ARP
			r.Family, r.Proto, r.EtherType = 0, 0, 0x0806
			r.SrcAddr, r.DstAddr = [16]byte{10, 9, 0, byte(i % 5)}, [16]byte{10, 9, 0, 254}
			r.Src.MAC = [6]byte{2, 1, 0, 0, 0, byte(i % 3)}
		}
	}
	arch, stream := writeArchiveAndStream(t, recs)
	type tool = func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
	for _, c := range []struct {
		main tool
		args []string
	}{
		{ClusterMain, []string{"-m", "saddr", "-s", "saddr", "pkts", "bytes"}},
		{ClusterMain, []string{"-m", "saddr/16", "daddr", "-s", "saddr,daddr,proto,sport,dport,stime,ltime,dur,spkts,dbytes,srcid", "--sort", "bytes"}},
		{ClusterMain, []string{"-m", "proto", "-s", "proto", "saddr", "daddr", "pkts", "--top", "3"}},
		{ClusterMain, []string{"-s", "saddr", "daddr", "pkts", "bytes", "dir", "state", "flgs"}},
		{ReadMain, []string{"-n"}}, // ra's default columns
		{ReadMain, []string{"-s", "+cause", "--", "tcp and port 443"}},
		{ReadMain, []string{"-s", "+synack", "--", "udp or arp"}}, // a field of the rest
		{ReadMain, []string{"-c", ",", "-s", "saddr,dir,state,flgs", "--", "not tcp"}},
	} {
		args := c.args
		var fromArch, fromStream strings.Builder
		if err := c.main(append([]string{"-R", arch}, args...), nil, &fromArch, io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := c.main(append([]string{"-r", stream}, args...), nil, &fromStream, io.Discard); err != nil {
			t.Fatal(err)
		}
		// The archive's records come in start-time order, the stream's as written.
		a, s := fromArch.String(), fromStream.String()
		if !slices.Contains(args, "--sort") && !slices.Contains(args, "--top") {
			a, s = sortedLines(a), sortedLines(s)
		}
		if strings.Count(a, "\n") < 4 || a != s {
			t.Fatalf("%v from the archive (%d lines):\n%.800s\nfrom the stream (%d lines):\n%.800s", args, strings.Count(a, "\n"), a, strings.Count(s, "\n"), s)
		}
	}
}
