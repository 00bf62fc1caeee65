package anon

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"panoptes/record"
)

func testAnonymizer(t testing.TB, cfg Config) *Anonymizer {
	t.Helper()
	a, err := New([KeySize]byte(referenceKey), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, text string
		check      func(c Config) bool
		warnings   int
		err        string
	}{
		{"empty", "", func(c Config) bool { return c.Net && c.Host && c.KeepWK && c.Ports == PortPermute }, 0, ""},
		{"argus sample", `RANON_SEED=29384938
RANON_TRANSREFNUM_OFFSET=fixed:82736487
RANON_SEQNUM_OFFSET=fixed:10234
RANON_TIME_SEC_OFFSET=random
RANON_TIME_USEC_OFFSET=random
RANON_ETHERNET_ANONYMIZATION=sequential
RANON_PRESERVE_ETHERNET_VENDOR=no
RANON_NET_ANONYMIZATION=sequential
RANON_HOST_ANONYMIZATION=sequential
RANON_NETWORK_ADDRESS_LENGTH=24
RANON_PRESERVE_NET_ADDRESS_HIERARCHY=cidr/24
RANON_PRESERVE_IP_ID=fixed:random
RANON_PRESERVE_IP_TTL=fixed:random
RANON_PRESERVE_WELLKNOWN_PORT_NUMS=yes
RANON_PRESERVE_REGISTERED_PORT_NUMS=no
RANON_PORT_METHOD="offset:random"
`, func(c Config) bool {
			return c.Seed == "29384938" && c.RecordSeq == (Offset{OffsetFixed, 82736487}) && c.TCPSeq == (Offset{OffsetFixed, 10234}) &&
				c.Time.Mode == OffsetKeyed && !c.MACVendor && c.Ports == PortOffset && c.TTL.Mode == OffsetKeyed
		}, 2, ""},
		{"fixed time", "RANON_TIME_SEC_OFFSET=fixed:-3600\nRANON_TIME_USEC_OFFSET=500000 # half a second\n",
			func(c Config) bool { return c.Time == Offset{OffsetFixed, -3600e9 + 500000e3} }, 0, ""},
		{"host only", "RANON_NET_ANONYMIZATION=no\n", func(c Config) bool { return !c.Net && c.Host }, 0, ""},
		{"empty value keeps default", `RANON_PORT_METHOD=""`, func(c Config) bool { return c.Ports == PortPermute }, 0, ""},
		{"unknown", "# comment\n\nRANON_FROBNICATE=yes\n", nil, 0, "f.conf:3: unknown directive RANON_FROBNICATE"},
		{"bad yes/no", "RANON_PRESERVE_ETHERNET_VENDOR=maybe", nil, 0, `f.conf:1: RANON_PRESERVE_ETHERNET_VENDOR: bad value "maybe"`},
		{"no equals", "RANON_SEED", nil, 0, "f.conf:1: expected NAME=value"},
		{"bad offset", "RANON_SEQNUM_OFFSET=fixed:lots", nil, 0, "f.conf:1: RANON_SEQNUM_OFFSET: bad offset"},
		{"bad length", "RANON_NETWORK_ADDRESS_LENGTH=40", nil, 0, "f.conf:1: RANON_NETWORK_ADDRESS_LENGTH: bad length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings, err := ParseConfig(strings.NewReader(tt.text), "f.conf")
			if tt.err != "" {
				var ce *ConfigError
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) || !errors.As(err, &ce) {
					t.Fatalf("err = %v, want prefix %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", warnings, tt.warnings)
			}
			if !tt.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

// TestPortsBijection: preserved ports map to themselves, the others are a
// permutation of themselves, for each port method.
func TestPortsBijection(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(),
		func() Config {
			c := DefaultConfig()
			c.Ports, c.PortOffset = PortOffset, Offset{OffsetFixed, 7}
			return c
		}(),
		func() Config { c := DefaultConfig(); c.KeepReg = true; return c }()} {
		a := testAnonymizer(t, cfg)
		seen := map[uint16]bool{}
		moved := 0
		for p := 0; p < 1<<16; p++ {
			q := a.Port(uint16(p))
			if seen[q] {
				t.Fatalf("port %d maps to %d, already taken", p, q)
			}
			seen[q] = true
			if p <= 1023 && q != uint16(p) {
				t.Fatalf("well-known port %d became %d", p, q)
			}
			if cfg.KeepReg && p <= 49151 && q != uint16(p) {
				t.Fatalf("registered port %d became %d", p, q)
			}
			if q != uint16(p) {
				moved++
			}
		}
		if moved < 10000 {
			t.Errorf("only %d ports changed", moved)
		}
	}
}

func TestMAC(t *testing.T) {
	a := testAnonymizer(t, DefaultConfig())
	seen := map[[6]byte]bool{}
	for i := range 5000 {
		m := [6]byte{0x00, 0x10, 0xdb, byte(i >> 16), byte(i >> 8), byte(i)}
		v := a.MAC(m)
		if v[0] != m[0] || v[1] != m[1] || v[2] != m[2] {
			t.Fatalf("vendor part changed: %x -> %x", m, v)
		}
		if seen[v] {
			t.Fatalf("%x collides", m)
		}
		seen[v] = true
	}
	bc := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if a.MAC(bc) != bc {
		t.Error("broadcast changed")
	}
	cfg := DefaultConfig()
	cfg.MACVendor = false
	b := testAnonymizer(t, cfg)
	m := [6]byte{0x00, 0x10, 0xdb, 1, 2, 3}
	if v := b.MAC(m); v[0]&1 != 0 || [3]byte(v[:3]) == [3]byte(m[:3]) {
		t.Errorf("vendor anonymization: %x -> %x", m, v)
	}
}

func TestRecord(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SrcID = true
	a := testAnonymizer(t, cfg)
	r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 6, SrcPort: 40000, DstPort: 80, StartTime: 1e18, LastTime: 1e18 + 5e9,
		SrcID: 7, SrcAS: 15169, Label: "secret-host", Src: record.Side{BaseSeq: 1000, MAC: [6]byte{0, 0x10, 0xdb, 1, 2, 3}}}
	copy(r.SrcAddr[:], []byte{128, 11, 68, 132})
	copy(r.DstAddr[:], []byte{10, 185, 25, 118})
	orig := r
	a.Record(&r)
	if [4]byte(r.SrcAddr[:4]) != [4]byte{135, 242, 180, 132} || [4]byte(r.DstAddr[:4]) != [4]byte{117, 161, 29, 118} {
		t.Errorf("addresses %v %v", r.SrcAddr[:4], r.DstAddr[:4])
	}
	if r.DstPort != 80 || r.SrcPort == 40000 {
		t.Errorf("ports %d %d", r.SrcPort, r.DstPort)
	}
	if r.LastTime-r.StartTime != orig.LastTime-orig.StartTime || r.StartTime == orig.StartTime {
		t.Errorf("times %d %d", r.StartTime, r.LastTime)
	}
	if r.Src.BaseSeq == 1000 || r.Dst.BaseSeq != 0 {
		t.Errorf("tcp base %d %d", r.Src.BaseSeq, r.Dst.BaseSeq)
	}
	if r.SrcID == 7 || r.SrcAS == 15169 || r.Label != "" {
		t.Errorf("srcid %d, sas %d, label %q", r.SrcID, r.SrcAS, r.Label)
	}
	// Management records keep their counters and get the same time offset.
	man := record.Record{Kind: record.KindMan, StartTime: 1e18, SrcID: 7, Man: &record.Management{PktsSeen: 42}}
	a.Record(&man)
	if man.Man.PktsSeen != 42 || man.StartTime != r.StartTime || man.SrcID != r.SrcID {
		t.Errorf("management record %+v", man)
	}
}

func TestHostOnlyIPv4AndIPv6(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Net = false
	a := testAnonymizer(t, cfg)
	x := uint32(10<<24 | 1<<16 | 2<<8 | 3)
	if v := a.IPv4(x); v>>8 != x>>8 || v == x {
		t.Errorf("host-only: %08x -> %08x", x, v)
	}
	v6 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	if v := a.IPv6(v6); [8]byte(v[:8]) != [8]byte(v6[:8]) || v == v6 {
		t.Errorf("host-only IPv6: %x -> %x", v6, v)
	}
}

func TestKeyFile(t *testing.T) {
	path := t.TempDir() + "/sub/anon.key"
	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created || k1 != k2 {
		t.Fatalf("reload: %v %v", created, err)
	}
	a, b := KeyFromSeed("1"), KeyFromSeed("1")
	if KeyFromSeed("2") == a || a != b {
		t.Error("seed keys")
	}
}

func BenchmarkRecord(b *testing.B) {
	a := testAnonymizer(b, DefaultConfig())
	r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 6, SrcPort: 40000, DstPort: 80,
		Src: record.Side{MAC: [6]byte{0, 0x10, 0xdb, 1, 2, 3}}, Dst: record.Side{MAC: [6]byte{0, 0x10, 0xdb, 4, 5, 6}}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec := r
		rec.SrcAddr[3], rec.DstAddr[2] = byte(i), byte(i>>8)
		a.Record(&rec)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("RANON_SEED=1\nRANON_PORT_METHOD=offset:5\n")
	f.Add("RANON_TIME_SEC_OFFSET=fixed:-100\n# x\nRANON_PRESERVE_IP_ID=none")
	f.Fuzz(func(t *testing.T, s string) {
		c, _, err := ParseConfig(strings.NewReader(s), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		if c.NetLen4 < 0 || c.NetLen4 > 32 {
			t.Fatalf("network length %d", c.NetLen4)
		}
		if _, err := New([KeySize]byte{}, c); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConfigErrorsEchoShort: an error about a configuration line repeats a short prefix
// of it, however long the line. Before the fix: each error was over 30000 bytes.
func TestConfigErrorsEchoShort(t *testing.T) {
	long := strings.Repeat("v", 30000)
	for _, text := range []string{
		long,
		"RANON_NETWORK_ADDRESS_LENGTH=" + long,
		"RANON_NET_ANONYMIZATION=" + long,
		"RANON_PRESERVE_LABELS=" + long,
		"RANON_PORT_METHOD=" + long,
		"RANON_SEQNUM_OFFSET=" + long,
		"RANON_TIME_SEC_OFFSET=" + long,
		long + "=yes",
	} {
		_, _, err := ParseConfig(strings.NewReader(text), "f.conf")
		if err == nil || len(err.Error()) > 300 {
			t.Errorf("%.40s...: error of %d bytes, want a short one: %.200v", text, len(fmt.Sprint(err)), err)
		}
	}
}
