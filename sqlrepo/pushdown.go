package sqlrepo

import (
	"net/netip"
	"strconv"
	"strings"

	"panoptes/filter"
)

// The filter's address, port and protocol terms (filter.KeyCond) become a WHERE
// condition on the tables' key columns, so that the server reads only the rows that may
// match, through the indexes on saddr, daddr, sport and dport. The condition is a
// superset: the reader still matches every row's record against the whole filter. A
// term without a safe SQL form is left out ("TRUE"), which keeps the superset.
//
// The MySQL/MariaDB columns are text as ra prints it (rasqlinsert's, and ours, which
// print the same), while the records are decoded from the `record` column: a term is
// pushed only where the text of every record that can match the term is known:
//   - IPv4 addresses (and ARP's, which print as IPv4): dotted quads. A host is an
//     equality, a network a prefix LIKE on whole octets (a prefix that ends inside an
//     octet is widened to the octet before it).
//   - IPv6 hosts in the RFC 5952 form that both Go and inet_ntop print; not the
//     addresses whose forms differ (IPv4-compatible, IPv4-mapped), nor IPv6 networks.
//   - Ports: the decimal number (ra prints numbers in these columns); a range of up to
//     64 ports is an IN list, a larger one a numeric comparison.
//   - Protocols tcp, udp and icmp by name (the names in which both agree).
//
// A src or dst term tests both columns there: the record, not the columns, says which
// side is the source, and the two need not agree. Argus's clients (and our decoder)
// turn a TCP flow whose SYN was not seen round to put the lower port on the
// destination; rasqlinsert prints the columns after that, Panoptes's writer before it.
//
// PostgreSQL's columns are typed, and the records are made from them: inet equality
// and containment (<<=), integer ports and protocol.

// sqlDialect says which schema the condition is for.
type sqlDialect uint8

const (
	dialectMySQL sqlDialect = iota
	dialectPostgres
)

// keyWhere returns the SQL condition for c, or "" when it restricts nothing.
func keyWhere(c filter.KeyCond, d sqlDialect) string {
	s := keySQL(&c, d)
	if s == "TRUE" {
		return ""
	}
	return s
}

func keySQL(c *filter.KeyCond, d sqlDialect) string {
	switch c.Op {
	case filter.KeyAnd:
		var parts []string
		for i := range c.Args {
			if s := keySQL(&c.Args[i], d); s != "TRUE" {
				parts = append(parts, s)
			}
		}
		if len(parts) == 0 {
			return "TRUE"
		}
		if len(parts) == 1 {
			return parts[0]
		}
		return "(" + strings.Join(parts, " AND ") + ")"
	case filter.KeyOr:
		parts := make([]string, 0, len(c.Args))
		for i := range c.Args {
			s := keySQL(&c.Args[i], d)
			if s == "TRUE" {
				return "TRUE"
			}
			parts = append(parts, s)
		}
		return "(" + strings.Join(parts, " OR ") + ")"
	case filter.KeyAddr:
		var one func(col string) string
		if d == dialectPostgres {
			one = pgAddr(c.Prefix)
		} else {
			one = mysqlAddr(c.Prefix)
		}
		if one == nil {
			return "TRUE"
		}
		return sides(side(c.Side, d), one("saddr"), one("daddr"))
	case filter.KeyPort:
		var one func(col string) string
		if d == dialectPostgres {
			one = func(col string) string {
				if c.Lo == c.Hi {
					return col + " = " + strconv.Itoa(int(c.Lo))
				}
				return col + " BETWEEN " + strconv.Itoa(int(c.Lo)) + " AND " + strconv.Itoa(int(c.Hi))
			}
		} else {
			one = func(col string) string {
				if c.Lo == c.Hi {
					return col + " = '" + strconv.Itoa(int(c.Lo)) + "'"
				}
				if int(c.Hi)-int(c.Lo) < 64 {
					var b strings.Builder
					b.WriteString(col + " IN (")
					for p := int(c.Lo); p <= int(c.Hi); p++ {
						if p > int(c.Lo) {
							b.WriteByte(',')
						}
						b.WriteString("'" + strconv.Itoa(p) + "'")
					}
					return b.String() + ")"
				}
				// Rows of protocols without ports may hold other text; they cannot match
				// a port term, so what CAST makes of them does not matter.
				return "CAST(" + col + " AS UNSIGNED) BETWEEN " + strconv.Itoa(int(c.Lo)) + " AND " + strconv.Itoa(int(c.Hi))
			}
		}
		return sides(side(c.Side, d), one("sport"), one("dport"))
	case filter.KeyProto:
		if d == dialectPostgres {
			s := "proto = " + strconv.Itoa(int(c.Proto))
			if c.Family != 0 {
				s = "(" + s + " AND family(saddr) = " + strconv.Itoa(int(c.Family)) + ")"
			}
			return s
		}
		name, ok := map[uint8]string{1: "icmp", 6: "tcp", 17: "udp"}[c.Proto]
		if !ok {
			return "TRUE"
		}
		return "proto = '" + name + "'"
	}
	return "TRUE"
}

// side is the side a MySQL condition tests for s: either column for src or dst (see
// above).
func side(s filter.Side, d sqlDialect) filter.Side {
	if d == dialectMySQL && (s == filter.SideSrc || s == filter.SideDst) {
		return filter.SideEither
	}
	return s
}

func sides(s filter.Side, src, dst string) string {
	switch s {
	case filter.SideSrc:
		return src
	case filter.SideDst:
		return dst
	case filter.SideBoth:
		return "(" + src + " AND " + dst + ")"
	}
	return "(" + src + " OR " + dst + ")"
}

// mysqlAddr returns the test of one text address column against p, or nil.
func mysqlAddr(p netip.Prefix) func(col string) string {
	a := p.Addr()
	if a.Is4() {
		octets := p.Bits() / 8
		if octets == 0 {
			return nil
		}
		if octets == 4 {
			return func(col string) string { return col + " = '" + a.String() + "'" }
		}
		b := a.As4()
		var lit strings.Builder
		for i := 0; i < octets; i++ {
			lit.WriteString(strconv.Itoa(int(b[i])) + ".")
		}
		pat := lit.String() + "%"
		return func(col string) string { return col + " LIKE '" + pat + "'" }
	}
	if p.Bits() != 128 {
		return nil
	}
	var zero [10]byte
	if b := a.As16(); [10]byte(b[:10]) == zero {
		return nil // ::a.b.c.d and ::ffff:a.b.c.d print differently in Go and C
	}
	return func(col string) string { return col + " = '" + a.String() + "'" }
}

// pgAddr returns the test of one inet column against p.
func pgAddr(p netip.Prefix) func(col string) string {
	if p.Bits() == p.Addr().BitLen() {
		return func(col string) string { return col + " = '" + p.Addr().String() + "'" }
	}
	if p.Bits() == 0 {
		// Every address of the family; NULL (non-IP) rows are read back without
		// addresses and cannot match.
		return func(col string) string {
			return "family(" + col + ") = " + map[bool]string{true: "4", false: "6"}[p.Addr().Is4()]
		}
	}
	return func(col string) string { return col + " <<= '" + p.Masked().String() + "'" }
}
