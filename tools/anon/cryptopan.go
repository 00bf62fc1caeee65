package anon

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// KeySize is the size of a Crypto-PAn key: 16 bytes of AES-128 key, then 16 bytes from
// which the pad is made.
const KeySize = 32

// memoLimit bounds each per-address memo; a full memo is cleared and refilled, so
// memory stays bounded on traces with many distinct addresses.
const memoLimit = 1 << 20

// CryptoPAn is the prefix-preserving address anonymization of Xu, Fan, Ammar and Moon
// ("Prefix-preserving IP address anonymization", ICNP 2002): two addresses that share
// exactly a k-bit prefix map to two addresses that share exactly a k-bit prefix, and
// the mapping is a bijection fixed by the key. Output bit i is input bit i XOR the top
// bit of AES(first i input bits, padded with the pad's remaining bits).
//
// Each IPv4 address costs 32 AES blocks and each IPv6 address 128, so results are
// memoized: the first 16 output bits of IPv4 addresses by their 16-bit prefix (they
// depend on nothing else), and whole addresses of both families. A CryptoPAn is not
// safe for concurrent use.
type CryptoPAn struct {
	block cipher.Block
	pad   [16]byte
	pad4  uint32 // the pad's first 32 bits

	top16 []uint32 // IPv4: one-time-pad bits 0..15 by 16-bit prefix; bit 16 set when known
	memo4 map[uint32]uint32
	memo6 map[[16]byte][16]byte

	in, out [16]byte // scratch blocks
}

// NewCryptoPAn makes an anonymizer from a 32-byte key.
func NewCryptoPAn(key []byte) (*CryptoPAn, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("crypto-pan key must be %d bytes, not %d", KeySize, len(key))
	}
	b, err := aes.NewCipher(key[:16])
	if err != nil {
		return nil, err
	}
	c := &CryptoPAn{block: b, top16: make([]uint32, 1<<16),
		memo4: make(map[uint32]uint32), memo6: make(map[[16]byte][16]byte)}
	b.Encrypt(c.pad[:], key[16:])
	c.pad4 = binary.BigEndian.Uint32(c.pad[:4])
	return c, nil
}

// otpBit4 returns the one-time-pad bit for position pos (0 = most significant) of
// IPv4 address a: the top bit of AES(a's first pos bits, then the pad's).
func (c *CryptoPAn) otpBit4(a uint32, pos int) uint32 {
	var mask uint32
	if pos > 0 {
		mask = ^uint32(0) << (32 - pos)
	}
	c.in = c.pad
	binary.BigEndian.PutUint32(c.in[:4], a&mask|c.pad4&^mask)
	c.block.Encrypt(c.out[:], c.in[:])
	return uint32(c.out[0] >> 7)
}

// Anon4 anonymizes an IPv4 address given as a big-endian uint32.
func (c *CryptoPAn) Anon4(a uint32) uint32 {
	if v, ok := c.memo4[a]; ok {
		return v
	}
	hi := a >> 16
	otp := c.top16[hi]
	if otp&(1<<16) == 0 {
		otp = 0
		for pos := 0; pos < 16; pos++ {
			otp |= c.otpBit4(a, pos) << (15 - pos)
		}
		c.top16[hi] = otp | 1<<16
	}
	otp = (otp & 0xffff) << 16
	for pos := 16; pos < 32; pos++ {
		otp |= c.otpBit4(a, pos) << (31 - pos)
	}
	v := a ^ otp
	if len(c.memo4) >= memoLimit {
		clear(c.memo4)
	}
	c.memo4[a] = v
	return v
}

// Anon16 anonymizes an IPv6 address. IPv4 results are its special case: an IPv4
// address in the top 32 bits gives the IPv4 result in the top 32 bits.
func (c *CryptoPAn) Anon16(a [16]byte) [16]byte {
	if v, ok := c.memo6[a]; ok {
		return v
	}
	var otp [16]byte
	for pos := 0; pos < 128; pos++ {
		// Input block: a's first pos bits, then the pad's bits.
		c.in = c.pad
		full := pos / 8
		copy(c.in[:full], a[:full])
		if rem := pos % 8; rem > 0 {
			m := byte(0xff) << (8 - rem)
			c.in[full] = a[full]&m | c.pad[full]&^m
		}
		c.block.Encrypt(c.out[:], c.in[:])
		otp[pos/8] |= (c.out[0] >> 7) << (7 - pos%8)
	}
	var v [16]byte
	for i := range v {
		v[i] = a[i] ^ otp[i]
	}
	if len(c.memo6) >= memoLimit {
		clear(c.memo6)
	}
	c.memo6[a] = v
	return v
}
