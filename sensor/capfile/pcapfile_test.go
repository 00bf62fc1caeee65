package capfile

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/argus"
)

// testdata is the repository's shared directory of small captures.
var testdata = filepath.Join("..", "..", "testdata")

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// pcapng builds a little-endian pcapng file: a section header, one Ethernet interface
// named ifname, and an enhanced packet block for each packet, at microsecond times
// 1, 2, ...
func pcapng(ifname string, pkts ...[]byte) []byte {
	var b []byte
	le := binary.LittleEndian
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		b = le.AppendUint32(b, typ)
		b = le.AppendUint32(b, n)
		b = append(b, body...)
		b = le.AppendUint32(b, n)
	}
	shb := le.AppendUint32(nil, ngBOMagic)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0)) // section length unknown
	block(ngSHB, shb)
	idb := le.AppendUint16(nil, 1) // Ethernet
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 0) // snaplen
	name := []byte(ifname)
	idb = le.AppendUint16(idb, 2) // if_name
	idb = le.AppendUint16(idb, uint16(len(name)))
	idb = append(idb, name...)
	for len(idb)%4 != 0 {
		idb = append(idb, 0)
	}
	idb = append(idb, 0, 0, 0, 0) // opt_endofopt
	block(ngIDB, idb)
	for i, p := range pkts {
		epb := le.AppendUint32(nil, 0)
		epb = le.AppendUint32(epb, 0)
		epb = le.AppendUint32(epb, uint32(i+1))
		epb = le.AppendUint32(epb, uint32(len(p)))
		epb = le.AppendUint32(epb, uint32(len(p)+4)) // as if the FCS were not captured
		epb = append(epb, p...)
		block(ngEPB, epb)
	}
	return b
}

// readAll reads every packet of the capture in data (given as stdin), checking what
// holds for any input: each packet's bytes are its captured length, within MaxPacket;
// offsets never go back; a clean end has consumed every (uncompressed) byte. It returns
// the packets read and the error that ended the file (nil for a clean end).
func readAll(t *testing.T, data []byte) (pkts int, f *File, end error) {
	t.Helper()
	f, err := Open("-", bytes.NewReader(data))
	if err != nil {
		if !strings.HasPrefix(err.Error(), "-: ") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("open error %q: want one line naming the file", err)
		}
		return 0, nil, err
	}
	defer f.Close()
	if _, err := f.Stat(); err == nil {
		t.Fatal("Stat of stdin succeeded")
	}
	var last int64
	for {
		b, ci, _, _, err := f.Next()
		if off := f.Offset(); off < last || !f.Compressed() && off > int64(len(data)) {
			t.Fatalf("offset %d after %d, of a %d-byte input", off, last, len(data))
		} else {
			last = off
		}
		if errors.Is(err, io.EOF) {
			if !f.Compressed() && last != int64(len(data)) {
				t.Fatalf("clean end at offset %d of a %d-byte input", last, len(data))
			}
			return pkts, f, nil
		}
		if err != nil {
			return pkts, f, err
		}
		if len(b) != ci.CapLen || ci.CapLen > MaxPacket {
			t.Fatalf("packet %d: %d bytes, captured length %d", pkts, len(b), ci.CapLen)
		}
		pkts++
		if f.Compressed() && pkts > 1<<16 {
			return pkts, f, nil // a small gzip input can expand without bound
		}
	}
}

// The same packets read alike from pcap, pcapng and gzip-compressed files, with their
// capture information and interface name.
func TestPcapKinds(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testdata, "dns.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	n, f, err := readAll(t, raw)
	if err != nil || n == 0 {
		t.Fatalf("dns.pcap: %d packets, %v", n, err)
	}
	if f.Compressed() {
		t.Fatal("dns.pcap reported compressed")
	}
	if zn, zf, err := readAll(t, gzipped(raw)); err != nil || zn != n || !zf.Compressed() || zf.Offset() != int64(len(raw)) {
		t.Fatalf("dns.pcap.gz: %d packets (want %d), %v, compressed %v, offset %d (want %d)", zn, n, err, zf.Compressed(), zf.Offset(), len(raw))
	}

	pkt := []byte("0123456789abcdef0123")
	ng := pcapng("eth7", pkt, pkt[:7])
	if n, _, err := readAll(t, ng); n != 2 || err != nil {
		t.Fatalf("pcapng: %d packets, %v; want 2", n, err)
	}
	f, err = Open("-", bytes.NewReader(ng))
	if err != nil {
		t.Fatal(err)
	}
	b, ci, lt, ifname, err := f.Next()
	if err != nil || !bytes.Equal(b, pkt) || lt != 1 || ci.Time != 1000 || ci.CapLen != len(pkt) || ci.Length != len(pkt)+4 ||
		ifname == nil || string(bytes.TrimRight(ifname[:], "\x00")) != "eth7" {
		t.Fatalf("pcapng packet: %q %+v link %d interface %v, %v", b, ci, lt, ifname, err)
	}
}

// A file on disk reports its size, and the errors that name a file give its name.
func TestPcapOpenErrors(t *testing.T) {
	name := filepath.Join(testdata, "dns.pcap")
	f, err := Open(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() != 868 || f.Name() != name {
		t.Fatalf("Stat: %v, %v; Name %q", fi, err, f.Name())
	}

	dir := t.TempDir()
	var mar [12]byte
	mar[0] = argus.TypeMAR | argus.Version3
	binary.BigEndian.PutUint32(mar[8:], argus.CookieV3)
	for _, tc := range []struct{ file, data, want string }{
		{"empty.pcap", "", "empty.pcap: empty file, not a capture"},
		{"notes.txt", "hello, this is not a capture", "notes.txt: not a pcap or pcapng file (magic 68656c6c)"},
		{"flows.argus", string(mar[:]), "flows.argus: an Argus record file, not a capture: read it with panoptes read -r "},
		{"short.pcap", "\xd4\xc3\xb2\xa1\x02\x00", "short.pcap: bad pcap header: file header cut short: unexpected EOF"},
	} {
		path := filepath.Join(dir, tc.file)
		if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, nil)
		if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, tc.want)) {
			t.Errorf("%s: error %v, want %q", tc.file, err, tc.want)
		}
	}
}

// FuzzOpen: any bytes either fail to open with one line naming the file, or read as
// packets that hold what readAll checks (lengths, offsets, a clean end at the last
// byte), ending at io.EOF or at an error.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"dns.pcap", "linuxsll-arp.pcap", "fuzz-2021-10-13.pcap"} {
		b, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	ng := pcapng("lo", []byte("abcdefgh"), []byte("x"))
	f.Add(ng)
	f.Add(ng[:len(ng)-3])
	f.Add(gzipped(ng))
	f.Fuzz(func(t *testing.T, data []byte) {
		readAll(t, data)
	})
}

// BenchmarkNext reads a capture held in memory: the reader alone, without decoding.
// Open allocates its buffers; Next allocates nothing per packet.
func BenchmarkNext(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(testdata, "http_ipv6.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{{"pcap", raw}, {"gzip", gzipped(raw)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				f, err := Open("-", bytes.NewReader(tc.data))
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, _, _, _, err := f.Next(); err != nil {
						if !errors.Is(err, io.EOF) {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}
