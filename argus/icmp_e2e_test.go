package argus_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"panoptes/argus"
	"panoptes/internal/binarytest"
	"panoptes/internal/peer"
	"panoptes/record"
)

// echoKey is what TestICMPIDThroughRa compares of an ICMP echo flow.
type echoKey struct {
	proto, typ, code uint16
	id, seq          uint16
}

func echoKeys(rs []record.Record, seq bool) map[echoKey]int {
	m := map[echoKey]int{}
	for _, r := range rs {
		if r.Kind != record.KindFlow || (r.Proto != 1 && r.Proto != 58) {
			continue
		}
		k := echoKey{uint16(r.Proto), r.SrcPort, r.DstPort, r.ICMPID, 0}
		if seq {
			k.seq = r.ICMPSeq
		}
		m[k]++
	}
	return m
}

func readArgusFile(t *testing.T, path string) []record.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := argus.NewReader(bytes.NewReader(b), path)
	if err != nil {
		t.Fatal(err)
	}
	var all []record.Record
	for {
		var r record.Record
		if err := rd.Read(&r); err != nil {
			return all
		}
		all = append(all, r)
	}
}

// TestICMPIDThroughRa: the ICMP echo identifier goes through Argus records in
// Argus's byte order, both ways (and the ICMPv6 one in the same order, see below). argus keeps the identifier and sequence
// as the packet's bytes in a host-order word, so its files hold them byte-swapped;
// the writer writes them so and the reader reads them so. Checked against the real
// programs: ra prints the same ports for our records as for argus's own of the same
// capture; the identifiers and IPv4 sequence numbers of panoptes import's records
// come back unchanged from our Argus file, and the identifiers from it after `ra -w`
// rewrote it and from argus's own file. Before the reader read them little-endian, the identifiers came
// back byte-swapped (2 for the 0x0200 of icmp.pcap).
func TestICMPIDThroughRa(t *testing.T) {
	requireArgusClients(t)
	argusd := peer.Need(t, "argus", "argus-server")
	ra := peer.Need(t, "ra", "argus-client")
	bin := binarytest.Build(t)
	caps := []string{filepath.Join("..", "testdata", "icmp.pcap")}
	if dir, ok := peer.CorpusDir(t); ok {
		caps = append(caps, filepath.Join(dir, "icmp6-ping.pcap"))
	}
	for _, c := range caps {
		t.Run(filepath.Base(c), func(t *testing.T) {
			dir := t.TempDir()
			pnp, ours, theirs, rewritten := filepath.Join(dir, "in.pnp"), filepath.Join(dir, "ours.argus"),
				filepath.Join(dir, "theirs.argus"), filepath.Join(dir, "ra.argus")
			run(t, bin, "import", "-r", c, "-w", pnp)
			run(t, bin, "read", "-r", pnp, "-w", "argus:"+ours)
			run(t, argusd, "-r", c, "-w", theirs)
			run(t, ra, "-r", ours, "-w", rewritten)

			v6 := filepath.Base(c) == "icmp6-ping.pcap"
			// ICMPv6 flow keys have no room for the sequence.
			want := echoKeys(readRecords(t, pnp), !v6)
			if len(want) == 0 {
				t.Fatalf("%s: no ICMP flows", c)
			}
			swapped := false
			for k := range want {
				if k.id>>8 != k.id&0xff {
					swapped = true // an identifier whose bytes differ tells the orders apart
				}
			}
			if !swapped {
				t.Fatalf("%s: every echo identifier reads the same both ways: the test cannot tell", c)
			}
			if got := echoKeys(readArgusFile(t, ours), !v6); !equalKeys(got, want) {
				t.Errorf("our Argus records: %v, want %v", got, want)
			}
			if v6 {
				// No Argus program settles the ICMPv6 order: argus 3.0.8 writes 0 for
				// the identifier of ICMPv6 echoes, ra does not print it, and ra -w
				// swaps its bytes on each rewrite. It is written as ICMP's is.
				return
			}
			// ra -w keeps the identifier but not the sequence word (it comes back as
			// 0x2020), and argus's own flows are cut differently (a reply-less echo
			// has no sequence in its key): the identifiers are compared.
			ids := echoKeys(readRecords(t, pnp), false)
			if got := echoKeys(readArgusFile(t, rewritten), false); !sameKeySet(got, ids) {
				t.Errorf("our Argus records after ra -w: %v, want the identifiers of %v", got, ids)
			}
			if got := echoKeys(readArgusFile(t, theirs), false); !sameKeySet(got, ids) {
				t.Errorf("argus's own records: %v, want the identifiers of %v", got, ids)
			}
			// ra prints the same ICMP "ports" (type and code, and the identifier as
			// dport) for our records as for argus's own.
			fields := []string{"-n", "-s", "proto", "saddr", "sport", "daddr", "dport", "-", "icmp"}
			binarytest.Same(t, "ra -s saddr sport daddr dport on our records vs argus's own",
				lines([]byte(run(t, ra, append([]string{"-r", ours}, fields...)...))),
				lines([]byte(run(t, ra, append([]string{"-r", theirs}, fields...)...))))
		})
	}
}

func equalKeys(a, b map[echoKey]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	return true
}

func sameKeySet(a, b map[echoKey]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
