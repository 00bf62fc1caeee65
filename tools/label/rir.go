package label

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// RIR maps addresses to the country codes of a Regional Internet Registry's delegated
// statistics ("delegated-ripencc-extended-latest" and the like): sorted, non-
// overlapping address ranges searched by binary search.
type RIR struct {
	v4 []range4
	v6 []range6
}

type range4 struct {
	lo, hi uint32
	cc     [2]byte
}

type range6 struct {
	lo, hi [2]uint64
	cc     [2]byte
}

// RIRError is a bad line in a delegated-stats file.
type RIRError struct {
	File string
	Line int
	Msg  string
}

func (e *RIRError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseRIR reads delegated statistics: lines registry|cc|type|start|value|date|status
// [|extensions], where an ipv4 value counts addresses and an ipv6 value is a prefix
// length. The version line, summary lines, asn lines, "#" comments and entries
// without a country (available, reserved) are skipped. A "file:" prefix on each line,
// as in Argus's concatenated delegated-ipv4-latest, is allowed.
func ParseRIR(r io.Reader, name string) (*RIR, error) {
	db := &RIR{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		bad := func(format string, args ...any) error {
			return &RIRError{File: name, Line: line, Msg: fmt.Sprintf(format, clipArgs(args)...)}
		}
		f := strings.Split(s, "|")
		if len(f) < 6 {
			return nil, bad("expected registry|cc|type|start|value|date|status, found %d fields", len(f))
		}
		if f[len(f)-1] == "summary" || f[1] == "*" {
			continue
		}
		if _, err := strconv.ParseFloat(f[0], 64); err == nil {
			continue // the version line: 2|ripencc|20260101|...
		}
		if len(f) < 7 {
			return nil, bad("expected registry|cc|type|start|value|date|status, found %d fields", len(f))
		}
		typ, cc := f[2], strings.ToUpper(f[1])
		if typ == "asn" {
			continue
		}
		if typ != "ipv4" && typ != "ipv6" {
			return nil, bad("unknown type %q (want ipv4, ipv6 or asn)", typ)
		}
		if cc == "" || cc == "ZZ" {
			continue // not delegated to a country
		}
		if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
			return nil, bad("bad country code %q", f[1])
		}
		code := [2]byte{cc[0], cc[1]}
		start, err := netip.ParseAddr(f[3])
		if err != nil || (typ == "ipv4") != start.Is4() {
			return nil, bad("bad %s start address %q", typ, f[3])
		}
		if typ == "ipv4" {
			n, err := strconv.ParseUint(f[4], 10, 64)
			lo := uint64(binary.BigEndian.Uint32(start.AsSlice()))
			if err != nil || n == 0 || lo+n > 1<<32 {
				return nil, bad("bad ipv4 address count %q", f[4])
			}
			db.v4 = append(db.v4, range4{uint32(lo), uint32(lo + n - 1), code})
			continue
		}
		plen, err := strconv.Atoi(f[4])
		if err != nil || plen < 0 || plen > 128 {
			return nil, bad("bad ipv6 prefix length %q", f[4])
		}
		p := netip.PrefixFrom(start, plen).Masked()
		lo := split6(p.Addr().As16())
		hi := lo
		if plen <= 64 {
			hi[0] |= ^uint64(0) >> plen
			if plen == 64 {
				hi[0] = lo[0]
			}
			hi[1] = ^uint64(0)
		} else {
			hi[1] |= ^uint64(0) >> (plen - 64)
		}
		if plen == 0 {
			hi = [2]uint64{^uint64(0), ^uint64(0)}
		}
		db.v6 = append(db.v6, range6{lo, hi, code})
	}
	if err := sc.Err(); err != nil {
		return nil, &RIRError{File: name, Line: line + 1, Msg: err.Error()}
	}
	slices.SortFunc(db.v4, func(a, b range4) int { return cmp.Compare(a.lo, b.lo) })
	slices.SortFunc(db.v6, func(a, b range6) int { return cmp6(a.lo, b.lo) })
	return db, nil
}

func split6(a [16]byte) [2]uint64 {
	return [2]uint64{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
}

func cmp6(a, b [2]uint64) int {
	if c := cmp.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return cmp.Compare(a[1], b[1])
}

// Ranges returns the number of IPv4 and IPv6 ranges loaded.
func (db *RIR) Ranges() (int, int) { return len(db.v4), len(db.v6) }

// Country4 returns the country of an IPv4 address (big-endian), or zero.
func (db *RIR) Country4(a uint32) [2]byte {
	i, _ := slices.BinarySearchFunc(db.v4, a, func(r range4, a uint32) int { return cmp.Compare(r.lo, a) })
	// i is the first range starting after a (or at a): a is in the one before, if any.
	if i < len(db.v4) && db.v4[i].lo == a {
		return db.v4[i].cc
	}
	if i > 0 && a <= db.v4[i-1].hi {
		return db.v4[i-1].cc
	}
	return [2]byte{}
}

// Country16 returns the country of an IPv6 address, or zero.
func (db *RIR) Country16(a [16]byte) [2]byte {
	k := split6(a)
	i, found := slices.BinarySearchFunc(db.v6, k, func(r range6, k [2]uint64) int { return cmp6(r.lo, k) })
	if found {
		return db.v6[i].cc
	}
	if i > 0 && cmp6(k, db.v6[i-1].hi) <= 0 {
		return db.v6[i-1].cc
	}
	return [2]byte{}
}

// MergeRIR returns the ranges of a and b together (several registries' files).
func MergeRIR(a, b *RIR) *RIR {
	m := &RIR{v4: append(slices.Clone(a.v4), b.v4...), v6: append(slices.Clone(a.v6), b.v6...)}
	slices.SortFunc(m.v4, func(x, y range4) int { return cmp.Compare(x.lo, y.lo) })
	slices.SortFunc(m.v6, func(x, y range6) int { return cmp6(x.lo, y.lo) })
	return m
}
