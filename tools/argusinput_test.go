package tools

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"panoptes/argus"
	"panoptes/filter"
	"panoptes/record"
)

// argusKeyExprs are flow-key filters (the fast path's), chosen to select some of the
// records of randomArgus and of argus's test files, and none or all of others.
var argusKeyExprs = []string{
	"host 10.0.0.1", "src host 10.0.0.2", "dst net 10.0.1.0/24", "tcp and port 80",
	"tcp and src port 80", "udp and dst port 53", "not tcp", "ipv6 or arp", "man",
	"not man and not host 10.0.0.3", "icmp or echo", "port 1-1023 and not udp",
	"host 2001:db8::1", "arp and host 10.0.0.1",
	// The address prefilter (keyAddrs): unions, conjunctions, sides, a net of
	// everything, and an alternative that requires no address.
	"host 10.0.0.1 or net 2001:db8::/32", "(host 10.0.0.1 or host 10.0.0.2) and tcp",
	"dst host 10.0.0.2 and src net 10.0.0.0/8", "net 0.0.0.0/0", "host 10.0.0.1 or port 53",
	"tcp and not host 10.0.0.1",
}

// randomArgus writes n random records as an Argus stream: IPv4, IPv6, ARP, TCP joined
// midstream (which the reader turns round) and management records.
func randomArgus(t testing.TB, seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 9))
	var buf bytes.Buffer
	w, err := argus.NewWriter(&buf, time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.7", "2001:db8::1", "2001:db8::2"}
	ports := []uint16{22, 53, 80, 443, 5000, 40000}
	protos := []uint8{1, 6, 6, 17, 58}
	for i := range n {
		var r record.Record
		switch rng.IntN(12) {
		case 0:
			r = record.Record{Kind: record.KindMan, Man: &record.Management{PktsSeen: uint64(i)}}
		case 1:
			r = mkflow("10.0.0.1", 0, "10.0.0.2", 0, 0, 0, 0)
			r.Family, r.Proto, r.EtherType = 0, 0, 0x0806
		default:
			r = mkflow(addrs[rng.IntN(4)], ports[rng.IntN(6)], addrs[rng.IntN(4)], ports[rng.IntN(6)], protos[rng.IntN(5)], 0, 0)
			if rng.IntN(4) == 0 {
				r = mkflow(addrs[4+rng.IntN(2)], ports[rng.IntN(6)], addrs[4+rng.IntN(2)], ports[rng.IntN(6)], protos[rng.IntN(5)], 0, 0)
			}
		}
		r.StartTime = 1_700_000_000e9 + int64(i)*1e6
		r.LastTime = r.StartTime + rng.Int64N(1e9)
		r.TCPState = uint16(rng.IntN(1 << 12))
		r.Src.Pkts, r.Dst.Pkts = uint64(1+rng.IntN(9)), uint64(rng.IntN(3))
		r.Src.Bytes = r.Src.Pkts * 60
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// argusScan is what fn saw of one scan: copies of the records, the skipped-DSR summary
// and the error.
type argusScan struct {
	recs    []record.Record
	skipped string
	more    bool
	err     string
}

// scanArgusWith reads data with the filter flt applied by fn, as copyRecords does, and
// with key as the key-first filter (nil: decode every record whole); parallel picks
// scanArgusDecoded for the whole decode (a key filter reads on one goroutine, as in
// scanInput). fn stops after limit matches (0: no limit).
func scanArgusWith(t *testing.T, data []byte, flt, key *filter.Filter, parallel bool, limit int) argusScan {
	t.Helper()
	rd, err := argus.NewReader(bytes.NewReader(data), "in.argus")
	if err != nil {
		return argusScan{err: err.Error()}
	}
	var s argusScan
	fn := func(r *record.Record) bool {
		if !flt.Match(r) {
			return true
		}
		c := *r
		if r.Man != nil {
			m := *r.Man
			c.Man = &m
		}
		s.recs = append(s.recs, c)
		return limit == 0 || len(s.recs) < limit
	}
	var rec record.Record
	key, addrs := argusKeyFilter(key)
	if parallel && key == nil {
		s.more, err = scanArgusDecoded(rd, fn)
	} else {
		s.more, err = scanArgus(rd, &rec, key, addrs, fn)
	}
	if err != nil {
		s.err = err.Error()
	}
	s.skipped = rd.SkippedSummary()
	return s
}

// readArgusOneByOne is the reference the scanners are held to: Reader.Read, record by
// record, with the filter flt.
func readArgusOneByOne(t *testing.T, data []byte, flt *filter.Filter) argusScan {
	t.Helper()
	rd, err := argus.NewReader(bytes.NewReader(data), "in.argus")
	if err != nil {
		return argusScan{err: err.Error()}
	}
	s := argusScan{more: true}
	for {
		var r record.Record
		if err := rd.Read(&r); err != nil {
			if err != io.EOF {
				s.err, s.more = err.Error(), false
			}
			break
		}
		if flt.Match(&r) {
			s.recs = append(s.recs, r)
		}
	}
	s.skipped = rd.SkippedSummary()
	return s
}

// checkKeyFirst checks that reading data with the key-first filter gives fn what the
// whole decode gives it, whole and stopped after 3 matches. The key-first read runs on
// one goroutine (scanArgus), so a stopped read is held to the whole decode on one
// goroutine: the parallel one reads ahead, and counts the skipped DSRs of more blocks.
func checkKeyFirst(t *testing.T, data []byte, expr string) (matched int) {
	t.Helper()
	flt := filter.MustCompile(expr)
	if !flt.FlowKeyOnly() {
		t.Fatalf("%q is not a flow-key filter", expr)
	}
	ref := readArgusOneByOne(t, data, flt)
	for _, parallel := range []bool{false, true} {
		// The block reads (several blocks for the larger inputs) give what Read gives.
		if got := scanArgusWith(t, data, flt, nil, parallel, 0); !reflect.DeepEqual(got, ref) {
			t.Fatalf("%q (parallel %v): %d records, more %v, skipped %q, error %q; Read gives %d, more %v, skipped %q, error %q",
				expr, parallel, len(got.recs), got.more, got.skipped, got.err, len(ref.recs), ref.more, ref.skipped, ref.err)
		}
	}
	for _, limit := range []int{0, 3} {
		want := scanArgusWith(t, data, flt, nil, false, limit)
		got := scanArgusWith(t, data, flt, flt, false, limit)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q (limit %d): key first gives %d records, more %v, skipped %q, error %q;\nwhole decode %d, more %v, skipped %q, error %q",
				expr, limit, len(got.recs), got.more, got.skipped, got.err, len(want.recs), want.more, want.skipped, want.err)
		}
		if limit == 0 {
			matched = len(want.recs)
		}
	}
	return matched
}

func argusTestInputs(t testing.TB) map[string][]byte {
	in := map[string][]byte{"random": randomArgus(t, 1, 3000)}
	for _, n := range []string{"443-curl.argus", "5-pings.argus"} {
		b, err := os.ReadFile("../argus/testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		in[n] = b
	}
	return in
}

// TestArgusKeyFirstRead: the key-first path of the Argus input (a flow-key filter run
// on the decoded key, the rest decoded for the matches only) gives the tools the same
// records, in the same order, with the same warnings and errors as decoding every
// record whole: on Argus's own records, on random ones (several batches of the
// parallel path), on a cut file and on a damaged one.
func TestArgusKeyFirstRead(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Log("GOMAXPROCS 1: the parallel path runs with one decoder")
	}
	in := argusTestInputs(t)
	r := in["random"]
	in["cut"] = r[:len(r)*2/3]
	damaged := bytes.Clone(r)
	damaged[len(damaged)/2+3] = 0xff // a DSR length (or a value) in the middle
	in["damaged"] = damaged
	for name, data := range in {
		total := 0
		for _, e := range argusKeyExprs {
			total += checkKeyFirst(t, data, e)
		}
		if name == "random" && total == 0 {
			t.Fatalf("%s: no filter selected anything: the test is vacuous", name)
		}
	}
	// The same through `panoptes read`: a filter that is not a flow-key one (the
	// whole decode) and selects the same records prints the same.
	for _, e := range []string{"host 10.0.0.1", "tcp and port 80", "not tcp"} {
		fast, ferr, err1 := runRead([]string{"-r", "-", "-n", "-u", "-s", "+label", "--", e}, r)
		full, werr, err2 := runRead([]string{"-r", "-", "-n", "-u", "-s", "+label", "--", "(" + e + ") and (man or pkts gte 0)"}, r)
		if err1 != nil || err2 != nil {
			t.Fatalf("read -- %s: %v; %v", e, err1, err2)
		}
		if fast != full || ferr != werr {
			t.Fatalf("read -- %s: key first and whole decode differ:\n%.500s\n%.500s\n%q %q", e, fast, full, ferr, werr)
		}
		if strings.Count(fast, "\n") < 10 {
			t.Fatalf("read -- %s: only %d lines", e, strings.Count(fast, "\n"))
		}
	}
}

// FuzzArgusKeyFirst: on any Argus file, the key-first read and the whole decode agree.
func FuzzArgusKeyFirst(f *testing.F) {
	for _, b := range argusTestInputs(f) {
		f.Add(b[:min(len(b), 4000)], uint8(0))
		f.Add(b[:min(len(b), 4000)], uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, sel uint8) {
		checkKeyFirst(t, b, argusKeyExprs[int(sel)%len(argusKeyExprs)])
	})
}

// BenchmarkArgusFilteredRead is a filtered read of an in-memory Argus file, with the
// key-first path ("key", on one goroutine) and decoding every record whole ("whole",
// in parallel), per record.
func BenchmarkArgusFilteredRead(b *testing.B) {
	data := randomArgus(b, 2, 50000)
	flt := filter.MustCompile("host 10.0.0.1 and port 80")
	for _, c := range []struct {
		name string
		key  *filter.Filter
	}{{"key", flt}, {"whole", nil}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				rd, err := argus.NewReader(bytes.NewReader(data), "in.argus")
				if err != nil {
					b.Fatal(err)
				}
				count := func(r *record.Record) bool {
					if flt.Match(r) {
						n++
					}
					return true
				}
				// As scanInput reads: a key filter on one goroutine, the whole decode
				// shared out.
				if c.key != nil {
					key, addrs := argusKeyFilter(c.key)
					var rec record.Record
					_, err = scanArgus(rd, &rec, key, addrs, count)
				} else {
					_, err = scanArgusDecoded(rd, count)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50001, "ns/record")
		})
	}
}

// TestKeyAddrs: the addresses a filter requires, for the Argus reader's prefilter;
// none where an alternative or a negation lets a record through whatever its
// addresses.
func TestKeyAddrs(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"host 10.0.0.1", "[10.0.0.1/32]"},
		{"src host 10.0.0.1 and tcp", "[10.0.0.1/32]"},
		{"tcp and dst net 10.1.0.0/16", "[10.1.0.0/16]"},
		{"host 10.0.0.1 or host 2001:db8::1", "[10.0.0.1/32 2001:db8::1/128]"},
		{"(host 10.0.0.1 or net 10.2.0.0/16) and port 80", "[10.0.0.1/32 10.2.0.0/16]"},
		{"host 10.0.0.1 or port 53", "none"},
		{"not host 10.0.0.1", "none"},
		{"tcp and port 80", "none"},
		{"man", "none"},
	} {
		ps, ok := keyAddrs(filter.MustCompile(c.expr).KeyCond())
		got := "none"
		if ok {
			got = fmt.Sprint(ps)
		}
		if got != c.want {
			t.Errorf("%q: %s, want %s", c.expr, got, c.want)
		}
	}
}
