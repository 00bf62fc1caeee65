package anon

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// referenceKey is the key of the sample in the original Crypto-PAn distribution.
var referenceKey = []byte{21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
	216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2}

// referenceV4 are address pairs from sample_trace_raw.dat / sample_trace_sanitized.dat
// of the original Crypto-PAn distribution (Georgia Tech, 2002).
var referenceV4 = [][2]string{
	{"128.11.68.132", "135.242.180.132"}, {"129.118.74.4", "134.136.186.123"},
	{"130.132.252.244", "133.68.164.234"}, {"141.223.7.43", "141.167.8.160"},
	{"141.233.145.108", "141.129.237.235"}, {"152.163.225.39", "151.140.114.167"},
	{"156.29.3.236", "147.225.12.42"}, {"165.247.96.84", "162.9.99.234"},
	{"166.107.77.190", "160.132.178.185"}, {"192.102.249.13", "252.138.62.131"},
	{"192.215.32.125", "252.43.47.189"}, {"192.233.80.103", "252.25.108.8"},
	{"192.41.57.43", "252.222.221.184"}, {"193.150.244.223", "253.169.52.216"},
	{"195.205.63.100", "255.186.223.5"}, {"198.200.171.101", "249.199.68.213"},
	{"198.26.132.101", "249.36.123.202"}, {"198.36.213.5", "249.7.21.132"},
	{"198.51.77.238", "249.18.186.254"}, {"199.217.79.101", "248.38.184.213"},
	{"202.49.198.20", "245.206.7.234"}, {"203.12.160.252", "244.248.163.4"},
	{"204.184.162.189", "243.192.77.90"}, {"204.202.136.230", "243.178.4.198"},
	{"204.29.20.4", "243.33.20.123"}, {"205.178.38.67", "242.108.198.51"},
	{"205.188.147.153", "242.96.16.101"}, {"205.188.248.25", "242.96.88.27"},
	{"205.245.121.43", "242.21.121.163"}, {"207.105.49.5", "241.118.205.138"},
	{"207.135.65.238", "241.202.129.222"}, {"207.155.9.214", "241.220.250.22"},
	{"207.188.7.45", "241.255.249.220"}, {"207.25.71.27", "241.33.119.156"},
	{"207.33.151.131", "241.1.233.131"}, {"208.147.89.59", "227.237.98.191"},
	{"208.234.120.210", "227.154.67.17"}, {"208.28.185.184", "227.39.94.90"},
	{"208.52.56.122", "227.8.63.165"}, {"209.12.231.7", "226.243.167.8"},
	{"209.238.72.3", "226.6.119.243"}, {"209.246.74.109", "226.22.124.76"},
	{"209.68.60.238", "226.184.220.233"}, {"209.85.249.6", "226.170.70.6"},
	{"212.120.124.31", "228.135.163.231"}, {"212.146.8.236", "228.19.4.234"},
	{"212.186.227.154", "228.59.98.98"}, {"212.204.172.118", "228.71.195.169"},
	{"212.206.130.201", "228.69.242.193"}, {"216.148.237.145", "235.84.194.111"},
	{"216.157.30.252", "235.89.31.26"}, {"216.184.159.48", "235.96.225.78"},
	{"216.227.10.221", "235.28.253.36"}, {"216.254.18.172", "235.7.16.162"},
	{"216.32.132.250", "235.192.139.38"}, {"216.35.217.178", "235.195.157.81"},
	{"24.0.250.221", "100.15.198.226"}, {"24.13.62.231", "100.2.192.247"},
	{"24.14.213.138", "100.1.42.141"}, {"24.5.0.80", "100.9.15.210"},
	{"24.7.198.88", "100.10.6.25"}, {"24.94.26.44", "100.88.228.35"},
	{"38.15.67.68", "64.3.66.187"}, {"4.3.88.225", "124.60.155.63"},
	{"63.14.55.111", "95.9.215.7"}, {"63.195.241.44", "95.179.238.44"},
	{"63.97.7.140", "95.97.9.123"}, {"64.14.118.196", "0.255.183.58"},
	{"64.34.154.117", "0.221.154.117"}, {"64.39.15.238", "0.219.7.41"},
	{"10.185.25.118", "117.161.29.118"},
}

// referenceV6 are IPv6 results of the same key from an independent implementation
// (github.com/Yawning/cryptopan's tests).
var referenceV6 = [][2]string{
	{"::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"},
	{"::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"},
	{"::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"},
	{"2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"},
	{"2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"},
}

func u32(s string) uint32 {
	a := netip.MustParseAddr(s).As4()
	return binary.BigEndian.Uint32(a[:])
}

func TestCryptoPAnReferenceVectors(t *testing.T) {
	c, err := NewCryptoPAn(referenceKey)
	if err != nil {
		t.Fatal(err)
	}
	for pass := range 2 { // the second pass is served by the memo
		for _, v := range referenceV4 {
			got := c.Anon4(u32(v[0]))
			if got != u32(v[1]) {
				t.Errorf("pass %d: %s -> %s, want %s", pass, v[0], netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, got))), v[1])
			}
			// The same address in the top of an IPv6 address gives the same top 32 bits.
			var a6 [16]byte
			binary.BigEndian.PutUint32(a6[:], u32(v[0]))
			if r6 := c.Anon16(a6); binary.BigEndian.Uint32(r6[:]) != u32(v[1]) {
				t.Errorf("%s as IPv6 prefix -> %x, want %s on top", v[0], r6, v[1])
			}
		}
		for _, v := range referenceV6 {
			got := netip.AddrFrom16(c.Anon16(netip.MustParseAddr(v[0]).As16()))
			if got != netip.MustParseAddr(v[1]) {
				t.Errorf("%s -> %s, want %s", v[0], got, v[1])
			}
		}
	}
}

func commonPrefix16(a, b [16]byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			return n + bits.LeadingZeros8(a[i]^b[i])
		}
		n += 8
	}
	return n
}

// TestPrefixPreservation: random pairs sharing exactly k bits map to pairs sharing
// exactly k bits, for every k, in both families; and a fresh anonymizer with the same
// key (another run) gives the same results.
func TestPrefixPreservation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	c, _ := NewCryptoPAn(key)
	c2, _ := NewCryptoPAn(key)
	for k := 0; k <= 32; k++ {
		for range 20 {
			a := rng.Uint32()
			b := a
			if k < 32 {
				b = a ^ (1 << (31 - k)) ^ (rng.Uint32() & (1<<(31-k) - 1))
			}
			ra, rb := c.Anon4(a), c.Anon4(b)
			if got := bits.LeadingZeros32(ra ^ rb); got != k {
				t.Fatalf("IPv4 %08x %08x share %d bits; anonymized %08x %08x share %d", a, b, k, ra, rb, got)
			}
			if c2.Anon4(a) != ra {
				t.Fatalf("IPv4 %08x: a second anonymizer with the same key disagrees", a)
			}
		}
	}
	for k := 0; k <= 128; k++ {
		for range 4 {
			var a [16]byte
			for i := range a {
				a[i] = byte(rng.Uint32())
			}
			b := a
			if k < 128 {
				b[k/8] ^= 0x80 >> (k % 8)
				for i := k + 1; i < 128; i++ {
					if rng.IntN(2) == 1 {
						b[i/8] ^= 0x80 >> (i % 8)
					}
				}
			}
			ra, rb := c.Anon16(a), c.Anon16(b)
			if got := commonPrefix16(ra, rb); got != k {
				t.Fatalf("IPv6 %x %x share %d bits; anonymized share %d", a, b, k, got)
			}
			if c2.Anon16(a) != ra {
				t.Fatalf("IPv6 %x: a second anonymizer with the same key disagrees", a)
			}
		}
	}
}

// TestBijection: every address of a /14 maps to a distinct address (prefix
// preservation makes the whole map a bijection; this checks it on 262144 inputs).
func TestBijection(t *testing.T) {
	c, _ := NewCryptoPAn(referenceKey)
	seen := make(map[uint32]bool, 1<<18)
	base := u32("10.16.0.0")
	for i := uint32(0); i < 1<<18; i++ {
		v := c.Anon4(base | i)
		if seen[v] {
			t.Fatalf("%08x maps to %08x, already taken", base|i, v)
		}
		seen[v] = true
	}
}

func TestBadKey(t *testing.T) {
	if _, err := NewCryptoPAn(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

func BenchmarkCryptoPAnIPv4Cold(b *testing.B) {
	c, _ := NewCryptoPAn(referenceKey)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		clear(c.memo4)
		c.Anon4(uint32(i) * 2654435761)
	}
}

func BenchmarkCryptoPAnIPv4Memo(b *testing.B) {
	c, _ := NewCryptoPAn(referenceKey)
	for i := range 1024 {
		c.Anon4(uint32(i) * 2654435761)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Anon4(uint32(i%1024) * 2654435761)
	}
}

func BenchmarkCryptoPAnIPv6Cold(b *testing.B) {
	c, _ := NewCryptoPAn(referenceKey)
	a := netip.MustParseAddr("2001:db8::1").As16()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		clear(c.memo6)
		binary.BigEndian.PutUint32(a[12:], uint32(i))
		c.Anon16(a)
	}
}
