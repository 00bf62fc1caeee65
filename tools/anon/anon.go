package anon

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"

	"panoptes/record"
)

// Anonymizer rewrites records in place. It is not safe for concurrent use (its
// Crypto-PAn memo is not locked); make one per goroutine from the same key.
type Anonymizer struct {
	cfg       Config
	cp        *CryptoPAn
	key       [KeySize]byte
	ports     [1 << 16]uint16 // port -> anonymized port
	timeOff   int64
	tcpSeqOff uint32
	seqOff    uint32
	ttlOff    uint8
	tosOff    uint8
	fin, fout [16]byte // Feistel scratch blocks (on the heap once, not per call)
}

// New makes an anonymizer from a key and options.
func New(key [KeySize]byte, cfg Config) (*Anonymizer, error) {
	cp, err := NewCryptoPAn(key[:])
	if err != nil {
		return nil, err
	}
	a := &Anonymizer{cfg: cfg, cp: cp, key: key}
	a.timeOff = a.offset(cfg.Time, "time", func(r *rand.Rand) int64 {
		// One to five years back, in whole microseconds, as ranonymize's usec offsets.
		const year = 365 * 24 * 3600 * 1_000_000
		return -(year + int64(r.Uint64()%(4*year))) * 1000
	})
	a.tcpSeqOff = uint32(a.offset(cfg.TCPSeq, "tcpseq", func(r *rand.Rand) int64 { return int64(r.Uint32()) }))
	a.seqOff = uint32(a.offset(cfg.RecordSeq, "seq", func(r *rand.Rand) int64 { return int64(r.Uint32()) }))
	ttl := a.offset(cfg.TTL, "ttl", func(r *rand.Rand) int64 { return int64(1 + r.Uint32()%252) })
	a.ttlOff = uint8((ttl%253 + 253) % 253)
	a.tosOff = uint8(a.offset(cfg.ToS, "tos", func(r *rand.Rand) int64 { return int64(r.Uint32()) }))
	a.buildPorts()
	return a, nil
}

// TimeOffset returns the nanoseconds added to every time.
func (a *Anonymizer) TimeOffset() int64 { return a.timeOff }

// rng returns a generator seeded from the key and a purpose, so that each use of
// randomness is independent of the others and the same in every run.
func (a *Anonymizer) rng(purpose string) *rand.Rand {
	seed := sha256.Sum256(append(append([]byte("panoptes anon "), purpose...), a.key[:]...))
	return rand.New(rand.NewChaCha8(seed))
}

func (a *Anonymizer) offset(o Offset, purpose string, keyed func(*rand.Rand) int64) int64 {
	switch o.Mode {
	case OffsetFixed:
		return o.Fixed
	case OffsetKeyed:
		return keyed(a.rng(purpose))
	}
	return 0
}

// buildPorts fills the port table: preserved ports map to themselves, the others are
// permuted (or rotated) among themselves, so the table is a bijection that never maps
// an anonymized port onto a preserved one.
func (a *Anonymizer) buildPorts() {
	var anon []uint16
	for p := 0; p < 1<<16; p++ {
		a.ports[p] = uint16(p)
		keep := (p <= int(a.cfg.WellKnownHi) && a.cfg.KeepWK) ||
			(p > int(a.cfg.WellKnownHi) && p <= 49151 && a.cfg.KeepReg) ||
			(p > 49151 && a.cfg.KeepPrivate)
		if !keep {
			anon = append(anon, uint16(p))
		}
	}
	n := len(anon)
	if n < 2 || a.cfg.Ports == PortKeep {
		return
	}
	to := make([]uint16, n)
	copy(to, anon)
	switch a.cfg.Ports {
	case PortPermute:
		// Fisher-Yates with our own bounded draw, so the permutation does not depend on
		// how a Go release implements Shuffle.
		r := a.rng("ports")
		for i := n - 1; i > 0; i-- {
			j := boundedDraw(r, uint64(i+1))
			to[i], to[j] = to[j], to[i]
		}
	case PortOffset:
		off := a.offset(a.cfg.PortOffset, "portoffset", func(r *rand.Rand) int64 { return int64(r.Uint32()) })
		k := int(uint64(off) % uint64(n))
		for i := range anon {
			to[i] = anon[(i+k)%n]
		}
	}
	for i, p := range anon {
		a.ports[p] = to[i]
	}
}

// boundedDraw returns a uniform value in [0, n) by rejection.
func boundedDraw(r *rand.Rand, n uint64) uint64 {
	limit := ^uint64(0) - ^uint64(0)%n
	for {
		if v := r.Uint64(); v < limit {
			return v % n
		}
	}
}

// Port returns the anonymized port.
func (a *Anonymizer) Port(p uint16) uint16 { return a.ports[p] }

// IPv4 anonymizes an IPv4 address: the network part, the host part, or both,
// according to the configuration.
func (a *Anonymizer) IPv4(x uint32) uint32 {
	if !a.cfg.Net && !a.cfg.Host {
		return x
	}
	v := a.cp.Anon4(x)
	var netMask uint32
	if a.cfg.NetLen4 > 0 {
		netMask = ^uint32(0) << (32 - a.cfg.NetLen4)
	}
	switch {
	case !a.cfg.Net:
		v = x&netMask | v&^netMask
	case !a.cfg.Host:
		v = v&netMask | x&^netMask
	}
	return v
}

// IPv6 anonymizes an IPv6 address, with NetLen6 as the network part.
func (a *Anonymizer) IPv6(x [16]byte) [16]byte {
	if !a.cfg.Net && !a.cfg.Host {
		return x
	}
	v := a.cp.Anon16(x)
	if a.cfg.Net && a.cfg.Host {
		return v
	}
	for i := range v {
		bits := min(max(a.cfg.NetLen6-8*i, 0), 8)
		m := byte(0xff) << (8 - bits)
		if bits == 0 {
			m = 0
		}
		if a.cfg.Net { // keep the host part
			v[i] = v[i]&m | x[i]&^m
		} else { // keep the network part
			v[i] = x[i]&m | v[i]&^m
		}
	}
	return v
}

// feistel is a keyed permutation of the values below 2^(2*half): a four-round Feistel
// network whose round function is AES under the Crypto-PAn key (with a tweak that
// keeps the uses apart).
func (a *Anonymizer) feistel(v uint64, half uint, tweak byte) uint64 {
	mask := uint64(1)<<half - 1
	l, r := v>>half&mask, v&mask
	in, out := a.fin[:], a.fout[:]
	for round := byte(0); round < 4; round++ {
		in[0], in[1] = tweak, round
		binary.BigEndian.PutUint64(in[8:], r)
		a.cp.block.Encrypt(out, in)
		l, r = r, l^binary.BigEndian.Uint64(out[:8])&mask
	}
	return l<<half | r
}

// MAC anonymizes a MAC address: the station part (low 24 bits) always, the vendor
// part unless kept. Broadcast and multicast addresses are kept when configured, and a
// unicast address stays unicast.
func (a *Anonymizer) MAC(m [6]byte) [6]byte {
	if !a.cfg.MAC || m == ([6]byte{}) || (a.cfg.MACSpecial && m[0]&1 == 1) {
		return m
	}
	st := a.feistel(uint64(m[3])<<16|uint64(m[4])<<8|uint64(m[5]), 12, 'm')
	m[3], m[4], m[5] = byte(st>>16), byte(st>>8), byte(st)
	if !a.cfg.MACVendor {
		oui := uint64(m[0])<<16 | uint64(m[1])<<8 | uint64(m[2])
		v := oui
		for { // cycle-walk until the group bit is the original's: a bijection that keeps it
			v = a.feistel(v, 12, 'o')
			if (v>>16)&1 == oui>>16&1 {
				break
			}
		}
		m[0], m[1], m[2] = byte(v>>16), byte(v>>8), byte(v)
	}
	return m
}

// AS anonymizes an AS number with a keyed permutation of 32-bit values (0, "unknown",
// stays 0 by cycle-walking past it).
func (a *Anonymizer) AS(n uint32) uint32 {
	if n == 0 || !a.cfg.AS {
		return n
	}
	v := uint64(n)
	for {
		v = a.feistel(v, 16, 'a')
		if v != 0 {
			return uint32(v)
		}
	}
}

// Record anonymizes r in place. Management records keep their counters; their times
// and source id are changed as flow records' are, so the two still line up.
func (a *Anonymizer) Record(r *record.Record) {
	r.StartTime += a.timeOff
	r.LastTime += a.timeOff
	r.Seq += a.seqOff
	if a.cfg.SrcID && r.SrcID != 0 {
		r.SrcID = a.cp.Anon4(r.SrcID)
	}
	if r.Kind == record.KindMan {
		return
	}
	switch {
	case r.Family == 4 || (r.Family == 0 && (r.EtherType == 0x0806 || r.EtherType == 0x8035)):
		// ARP flows carry IPv4 protocol addresses.
		binary.BigEndian.PutUint32(r.SrcAddr[:4], a.IPv4(binary.BigEndian.Uint32(r.SrcAddr[:4])))
		binary.BigEndian.PutUint32(r.DstAddr[:4], a.IPv4(binary.BigEndian.Uint32(r.DstAddr[:4])))
	case r.Family == 6:
		r.SrcAddr = a.IPv6(r.SrcAddr)
		r.DstAddr = a.IPv6(r.DstAddr)
	}
	if r.HasPorts() {
		r.SrcPort, r.DstPort = a.ports[r.SrcPort], a.ports[r.DstPort]
	}
	if r.Proto == 6 && r.Family != 0 {
		if r.Src.BaseSeq != 0 {
			r.Src.BaseSeq += a.tcpSeqOff
		}
		if r.Dst.BaseSeq != 0 {
			r.Dst.BaseSeq += a.tcpSeqOff
		}
	}
	a.side(&r.Src)
	a.side(&r.Dst)
	r.SrcAS, r.DstAS = a.AS(r.SrcAS), a.AS(r.DstAS)
	if !a.cfg.KeepLabels {
		r.Label = ""
	}
}

func (a *Anonymizer) side(s *record.Side) {
	s.MAC = a.MAC(s.MAC)
	if a.ttlOff != 0 && s.TTL != 0 && s.TTL < 254 {
		// 1..253 rotate among themselves; 0, 254 and 255 keep their meaning.
		s.TTL = uint8(1 + (int(s.TTL)-1+int(a.ttlOff))%253)
	}
	s.ToS += a.tosOff
}
