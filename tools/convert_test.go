package tools

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/internal/cli"
	"panoptes/record"
)

func allFieldNames() string {
	var n []string
	for _, f := range record.Registry {
		n = append(n, f.Name)
	}
	return strings.Join(n, ",")
}

// TestConvertRoundTrip: read -c , -u -s <every field> -> convert -> read prints the
// same text for every registry field, on the fixture and on a real capture.
func TestConvertRoundTrip(t *testing.T) {
	fix := writeStream(t, fixture())
	for _, in := range []string{fix, capture} {
		want, err := runTool(t, "read", "-r", in, "-u", "-c", ",", "-s", allFieldNames())
		if err != nil {
			t.Fatal(err)
		}
		csvPath := filepath.Join(t.TempDir(), "in.csv")
		writeFile(t, csvPath, want)
		out := filepath.Join(t.TempDir(), "out.pnp")
		if _, err := runTool(t, "convert", "-r", csvPath, "-w", out); err != nil {
			t.Fatal(err)
		}
		got, err := runTool(t, "read", "-r", out, "-u", "-c", ",", "-s", allFieldNames())
		if err != nil || got != want {
			t.Errorf("%s: round trip differs (%v):\n%s\n--- want\n%s", in, err, got, want)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	for _, tc := range []struct{ csv, want string }{
		{"", "empty input"},
		{"StartTime,Bogus\n", "line 1, column 2: unknown column label \"Bogus\""},
		{"StartTime,StartTime\n", "line 1, column 2: column \"StartTime\" repeated"},
		{"StartTime,Proto\n1.5,tcp\n2.5\n", "line 3: 1 columns, the header has 2"},
		{"StartTime,Proto,SrcAddr\n1.5,tcp,10.0.0.300\n", "line 2, column 3 (SrcAddr): \"10.0.0.300\" is not an IP address"},
		{"StartTime,Proto\n12:00:00.5,tcp\n", "line 2, column 1 (StartTime): time \"12:00:00.5\" has no date"},
		{"Proto,Sport\ntcp,70000\n", "line 2, column 2 (Sport): \"70000\" is not a port"},
		{"Proto,TotPkts\ntcp,-1\n", "line 2, column 2 (TotPkts): \"-1\" is not a count"},
		{"Proto\nxyzzy\n", "line 2, column 1 (Proto): unknown protocol \"xyzzy\""},
		{"Proto,State\ntcp,WAT\n", "unknown TCP state \"WAT\""},
		{"Proto,Flgs\ntcp,e  Q\n", "unknown flag 'Q'"},
		{"Proto,SrcAddr\ntcp,\"10.0.0.1\n", "line 2"},
	} {
		var out, errb bytes.Buffer
		err := ConvertMain([]string{"-r", "-", "-w", "-"}, strings.NewReader(tc.csv), &out, &errb)
		if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line with %q and exit 2", tc.csv, err, tc.want)
		}
	}
	for _, args := range [][]string{{"-w", "-"}, {"-r", "-"}, {"-r", "-", "-w", "-", "-c", "ab"}, {"-r", "-", "-w", "-", "--", "tcp and"}} {
		if _, err := runTool(t, "convert", args...); cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("convert %v: %v, want exit 2", args, err)
		}
	}
}

// FuzzConvert: no input makes the converter panic, and every record it accepts
// survives encoding and decoding.
func FuzzConvert(f *testing.F) {
	f.Add("StartTime,LastTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,SrcPkts,DstPkts,State\n1.5,2.5,tcp,10.0.0.1,1,->,10.0.0.2,80,3,2,FIN\n")
	f.Add("stime,proto,saddr,daddr,smac,flgs,sjit,sintpkt\n2026/03/01.12:00:00.5,arp,10.0.0.1,10.0.0.2,02:00:00:00:00:01,e F,1.5,2\n")
	f.Add("Proto,TotPkts,TotBytes,State\nman,5,100,STA\n")
	f.Add("Proto,Sport,Dport,SrcAddr,DstAddr\nipv6-icmp,0x80,0,2001:db8::1,2001:db8::2\n")
	f.Fuzz(func(t *testing.T, in string) {
		var buf bytes.Buffer
		w, err := record.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = convertCSV(strings.NewReader(in), "fuzz", ',', func(r *record.Record) error { n++; return w.Write(r) })
		if err != nil && cli.ExitCode(err) != cli.ExitUsage {
			t.Fatalf("error not a usage error: %v", err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		rd, err := record.NewReader(&buf, "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		var r record.Record
		for i := 0; i < n; i++ {
			if err := rd.Read(&r); err != nil {
				t.Fatalf("record %d does not read back: %v", i, err)
			}
		}
	})
}

func BenchmarkConvert(b *testing.B) {
	var out, errb bytes.Buffer
	if err := ReadMain([]string{"-r", capture, "-u", "-c", ",", "-s", allFieldNames()}, nil, &out, &errb); err != nil {
		b.Fatal(err)
	}
	data := out.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := convertCSV(bytes.NewReader(data), "bench", ',', func(*record.Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
