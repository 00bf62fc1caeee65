package tools

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"panoptes/internal/cli"
	"panoptes/internal/goldentest"
	"panoptes/record"
)

func runCount(args []string) (string, error) {
	var out, errb bytes.Buffer
	err := CountMain(args, nil, &out, &errb)
	return out.String(), err
}

// countFixture has an address of most racount categories.
func countFixture() []record.Record {
	recs := clusterFixture()
	for i, pair := range [][2]string{{"0.0.0.0", "255.255.255.255"}, {"192.168.1.2", "224.0.0.251"},
		{"172.16.0.9", "239.255.255.250"}, {"127.0.0.1", "127.0.0.1"}, {"192.0.2.1", "100.64.0.1"},
		{"fe80::1", "ff02::fb"}, {"::1", "ff05::2"}, {"2001:db8::5", "ff0e::1"}} {
		r := mkflow(pair[0], 68, pair[1], 67, 17, at(int64(600+i)), at(int64(600+i)))
		r.Src = record.Side{Pkts: 1, Bytes: 342}
		recs = append(recs, r)
	}
	return recs
}

func TestCountGolden(t *testing.T) {
	path := writeStream(t, countFixture())
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"count_default", nil},
		{"count_proto_addr", []string{"-M", "proto", "-M", "addr"}},
		{"count_proto_filter", []string{"-M", "proto addr", "--", "tcp", "or", "arp"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCount(append([]string{"-r", path}, tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			goldentest.Check(t, "testdata/"+tt.name+".golden", out)
		})
	}
}

// TestCountTotals: the totals equal the sums over the records read.
func TestCountTotals(t *testing.T) {
	recs := benchRecords(5000, 300)
	path := writeStream(t, recs)
	out, err := runCount([]string{"-r", path})
	if err != nil {
		t.Fatal(err)
	}
	var c counts
	for i := range recs {
		c.add(&recs[i])
	}
	want := string(c.appendRow(nil, "    sum   "))
	if lines := strings.SplitAfter(out, "\n"); len(lines) < 2 || lines[1] != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestClassifyV4(t *testing.T) {
	for addr, want := range map[[4]byte]addrType{
		{8, 8, 8, 8}: v4Unicast, {0, 1, 2, 3}: v4ThisNet, {10, 1, 1, 1}: v4Private, {192, 168, 3, 3}: v4Private,
		{172, 16, 4, 4}: v4Private, {127, 0, 0, 1}: v4Loopback, {192, 0, 2, 9}: v4TestNet, {100, 64, 0, 1}: v4Reserved,
		{224, 0, 0, 251}: v4McastLocal, {224, 0, 1, 1}: v4McastInternet, {239, 255, 255, 250}: v4McastSiteLocal,
		{232, 1, 1, 1}: v4McastSrcSpec, {255, 255, 255, 255}: v4Reserved,
	} {
		var got []addrType
		classifyV4(addr, func(c addrType) { got = append(got, c) })
		if len(got) == 0 || got[0] != want {
			t.Errorf("%v: %v, want %v", addr, got, want)
		}
	}
}

func TestCountErrors(t *testing.T) {
	path := writeStream(t, fixture())
	_, err := runCount([]string{"-r", path, "-M", "bogus"})
	var ue *cli.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `unsupported -M mode "bogus"`) {
		t.Errorf("-M bogus: %v", err)
	}
	if _, err := runCount([]string{"-r", path, "--", "host", "192.0.2.99"}); !errors.Is(err, cli.ErrNoMatch) {
		t.Errorf("no match: %v", err)
	}
	if _, err := runCount([]string{"-r", path + ".missing"}); err == nil || cli.ExitCode(err) != cli.ExitUsage {
		t.Errorf("missing input: %v", err)
	}
}
