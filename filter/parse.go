package filter

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"panoptes/record"
)

// maxDepth bounds nesting of parentheses and negations, so a hostile expression cannot
// exhaust the stack.
const maxDepth = 256

// kind is the type of a qualified primitive, remembered for the id-without-keyword
// shorthand ("host 10.0.0.1 or 10.0.0.2").
type kind uint8

const (
	kNone kind = iota
	kHost
	kNet
	kPort
	kProto
	kSrcID
	kCmp
)

// qual is everything written before a primitive's value: direction, type, comparison,
// and a protocol prefix ("tcp port 80"). The shorthand reuses the last one.
type qual struct {
	d    dir
	k    kind
	a    attr   // kCmp
	op   cmpOp  // kCmp
	fam  uint8  // kProto: family of "ipv4 proto" / "ipv6 proto"
	pre  node   // protocol prefix, and'ed in front; nil if none
	what string // the keyword, for messages
}

type parser struct {
	expr  string
	toks  []token
	i     int
	depth int
	last  qual // the last qualifier used (k == kNone before the first)
}

func (p *parser) peek() token  { return p.toks[p.i] }
func (p *parser) peek2() token { return p.toks[min(p.i+1, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) error {
	for i := range args {
		args[i] = cutArg(args[i])
	}
	return &SyntaxError{Expr: p.expr, Offset: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) unexpected(t token) error {
	if t.kind == tEOF {
		return p.errAt(t, "unexpected end of expression")
	}
	return p.errAt(t, "unexpected %q", t.text)
}

func word(t token) string {
	if t.kind != tWord {
		return ""
	}
	return strings.ToLower(t.text)
}

func isAnd(t token) bool { return t.kind == tAnd || word(t) == "and" }
func isOr(t token) bool  { return t.kind == tOr || word(t) == "or" }

// parseExpr parses unary terms joined by and/or. As in ra (and tcpdump), "and" and
// "or" have the same precedence and associate left to right: "a or b and c" is
// "(a or b) and c".
func (p *parser) parseExpr() (node, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		and := isAnd(t)
		if !and && !isOr(t) {
			return left, nil
		}
		p.next()
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if and {
			left = &andNode{left, right}
		} else {
			left = &orNode{left, right}
		}
	}
}

// parseUnary parses "not"/"!" (which binds tightest), a parenthesized expression, or a
// primitive.
func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	switch {
	case t.kind == tNot || word(t) == "not":
		p.next()
		if p.depth++; p.depth > maxDepth {
			return nil, p.errAt(t, "expression nested too deeply")
		}
		x, err := p.parseUnary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	case t.kind == tLParen:
		p.next()
		if p.depth++; p.depth > maxDepth {
			return nil, p.errAt(t, "expression nested too deeply")
		}
		x, err := p.parseExpr()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errAt(c, "expected \")\" to close the \"(\" at column %d, found %s",
				(&SyntaxError{Expr: p.expr, Offset: t.pos}).Column(), c)
		}
		return x, nil
	}
	return p.parsePrimitive()
}

// typeWords are the keywords that take a value, optionally after src/dst.
var typeWords = map[string]bool{
	"host": true, "net": true, "port": true,
	"pkts": true, "bytes": true, "appbytes": true, "loss": true, "ttl": true, "tos": true, "vid": true,
	"rate": true, "load": true, "ploss": true,
}

var attrByName = map[string]attr{
	"pkts": attrPkts, "bytes": attrBytes, "appbytes": attrAppBytes, "loss": attrLoss, "ttl": attrTTL, "tos": attrToS,
	"vid": attrVID, "rate": attrRate, "load": attrLoad, "ploss": attrPLoss,
}

// reserved words are never taken as a bare value.
func reserved(w string) bool {
	switch w {
	case "and", "or", "not", "src", "dst", "man", "ip", "ipv4", "ipv6", "proto", "srcid", "arp", "rarp", "icmpv6", "mask":
		return true
	}
	if typeWords[w] || conditions[w] != nil {
		return true
	}
	_, ok := record.ProtoNumber(w)
	return ok
}

func (p *parser) parsePrimitive() (node, error) {
	t := p.next()
	if t.kind != tWord {
		return nil, p.unexpected(t)
	}
	w := word(t)
	switch w {
	case "and", "or":
		return nil, p.unexpected(t)
	case "man":
		return manNode{}, nil
	case "src", "dst":
		d := p.parseDir(w)
		return p.parseTyped(d, nil, t)
	case "srcid":
		return p.parseValue(qual{k: kSrcID, what: "srcid"}, true)
	case "proto":
		return p.parseValue(qual{k: kProto, what: "proto"}, true)
	case "ip", "ipv4", "ipv6":
		fam := map[string]uint8{"ip": 0, "ipv4": 4, "ipv6": 6}[w]
		if word(p.peek()) == "proto" {
			p.next()
			return p.parseValue(qual{k: kProto, fam: fam, what: w + " proto"}, true)
		}
		return &familyNode{fam}, nil
	case "arp":
		return &etherNode{0x0806, "arp"}, nil
	case "rarp":
		return &etherNode{0x8035, "rarp"}, nil
	}
	if labelWords[w] { // sco dco co sas das as label: labels.go
		return p.parseLabel(t)
	}
	if typeWords[w] {
		p.i--
		return p.parseTyped(dirNone, nil, t)
	}
	if c := conditions[w]; c != nil {
		return c, nil
	}
	if pn := protoWord(w); pn != nil {
		// "tcp port 80", "udp src port 53": the protocol qualifies the primitive after it.
		if n := word(p.peek()); n == "src" || n == "dst" || n == "host" || n == "net" || n == "port" {
			q := p.next()
			d := dirNone
			if n == "src" || n == "dst" {
				d = p.parseDir(n)
			} else {
				p.i--
			}
			return p.parseTyped(d, pn, q)
		}
		return pn, nil
	}
	// An id without a keyword: reuse the last qualifier, or "host" if there is none.
	p.i--
	q := p.last
	if q.k == kNone {
		q = qual{k: kHost, what: "host"}
	}
	n, err := p.parseValue(q, false)
	if err != nil {
		return nil, p.unexpected(t)
	}
	return n, nil
}

// protoWord returns the node for a protocol name, or nil.
func protoWord(w string) node {
	switch w {
	case "icmp":
		return &protoNode{proto: 1, text: w}
	case "icmpv6", "ipv6-icmp":
		return &protoNode{proto: 58, text: w}
	}
	if n, ok := record.ProtoNumber(w); ok {
		return &protoNode{proto: n, text: w}
	}
	return nil
}

// parseDir parses the rest of a direction qualifier whose first word w was consumed:
// "src", "dst", "src or dst", "src and dst" (and "dst or src", "dst and src").
func (p *parser) parseDir(w string) dir {
	other := map[string]string{"src": "dst", "dst": "src"}[w]
	if c := p.peek(); (isAnd(c) || isOr(c)) && word(p.peek2()) == other {
		p.next()
		p.next()
		if isAnd(c) {
			return dirSrcAndDst
		}
		return dirSrcOrDst
	}
	if w == "src" {
		return dirSrc
	}
	return dirDst
}

// parseTyped parses a type keyword and its value after a direction (d) and protocol
// prefix (pre). A direction followed directly by a value means "host".
func (p *parser) parseTyped(d dir, pre node, prev token) (node, error) {
	t := p.peek()
	w := word(t)
	var q qual
	switch {
	case w == "host":
		q = qual{k: kHost}
	case w == "net":
		q = qual{k: kNet}
	case w == "port":
		q = qual{k: kPort}
	case typeWords[w]:
		if pre != nil {
			return nil, p.errAt(t, "%q cannot follow a protocol", t.text)
		}
		q = qual{k: kCmp, a: attrByName[w]}
	case d != dirNone && t.kind == tWord && !reserved(w):
		// "src 10.0.0.1"
		q = qual{d: d, k: kHost, pre: pre, what: "host"}
		return p.parseValue(q, true)
	default:
		return nil, p.errAt(t, "expected host, net, port, pkts, bytes, appbytes, loss, ttl, tos, vid, rate, load or ploss after %q, found %s", prev.text, t)
	}
	p.next()
	q.d, q.pre, q.what = d, pre, w
	if q.k == kCmp {
		q.op = p.parseOp()
	}
	return p.parseValue(q, true)
}

// parseOp parses an optional comparison operator; none means "eq".
func (p *parser) parseOp() cmpOp {
	t := p.peek()
	s := t.text
	if t.kind == tWord {
		s = strings.ToLower(s)
	} else if t.kind != tOp {
		return opEq
	}
	var op cmpOp
	switch s {
	case "gt", ">":
		op = opGt
	case "gte", "ge", ">=":
		op = opGte
	case "lt", "<":
		op = opLt
	case "lte", "le", "<=":
		op = opLte
	case "eq", "=", "==":
		op = opEq
	case "ne", "!=":
		op = opNe
	default:
		return opEq
	}
	p.next()
	return op
}

// parseValue parses the value token of a primitive with qualifier q. explicit is
// false for the shorthand, whose failure the caller reports as an unexpected token.
func (p *parser) parseValue(q qual, explicit bool) (node, error) {
	t := p.next()
	if t.kind != tWord || (reserved(word(t)) && !(q.k == kProto && protoWord(word(t)) != nil)) {
		return nil, p.errAt(t, "expected %s after %q, found %s", valueNames[q.k], q.what, t)
	}
	v := t.text
	var n node
	switch q.k {
	case kHost:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return nil, p.errAt(t, "bad address %q", v)
		}
		a = a.Unmap()
		h := &hostNode{d: q.d, fam: 6, addr: a.As16(), text: a.String()}
		if a.Is4() {
			h.fam = 4
			h.addr = [16]byte{}
			a4 := a.As4()
			copy(h.addr[:], a4[:])
		}
		n = h
	case kNet:
		pfx, err := parseNet(v)
		if err != nil {
			return nil, p.errAt(t, "bad network %q", v)
		}
		if word(p.peek()) == "mask" {
			// "net 10.0.0.0 mask 255.0.0.0": tcpdump's older spelling of a prefix.
			p.next()
			m := p.next()
			if pfx, err = maskedNet(v, m.text); err != nil || m.kind != tWord {
				return nil, p.errAt(m, "bad mask %q for network %q", m.text, v)
			}
		}
		n = newNetNode(q.d, pfx)
	case kPort:
		lo, hi, ok := parsePortRange(v)
		if !ok {
			return nil, p.errAt(t, "bad port %q", v)
		}
		n = &portNode{d: q.d, lo: lo, hi: hi}
	case kProto:
		num, ok := parseProto(v)
		if !ok {
			return nil, p.errAt(t, "bad protocol %q", v)
		}
		text := "proto " + strconv.Itoa(int(num))
		if q.fam != 0 {
			text = "ipv" + strconv.Itoa(int(q.fam)) + " " + text
		}
		n = &protoNode{fam: q.fam, proto: num, text: text}
	case kSrcID:
		id, ok := parseSrcID(v)
		if !ok {
			return nil, p.errAt(t, "bad srcid %q", v)
		}
		n = &srcidNode{id}
	case kCmp:
		if q.a.real() {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, p.errAt(t, "bad number %q for %s", v, attrNames[q.a])
			}
			n = &fcmpNode{d: q.d, a: q.a, op: q.op, v: f}
			break
		}
		num, err := strconv.ParseUint(v, 10, 64)
		if err != nil || num > attrMax[q.a] {
			return nil, p.errAt(t, "bad number %q for %s", v, attrNames[q.a])
		}
		n = &cmpNode{d: q.d, a: q.a, op: q.op, n: num}
	}
	p.last = q
	if q.pre != nil {
		n = &andNode{q.pre, n}
	}
	return n, nil
}

var valueNames = [...]string{kNone: "a value", kHost: "an address", kNet: "a network",
	kPort: "a port", kProto: "a protocol", kSrcID: "a srcid", kCmp: "a number"}

// parseNet parses "A/len", or a full address (a host prefix), or 1 to 3 leading IPv4
// octets ("10", "10.1", "10.1.2": /8, /16, /24), as tcpdump does.
func parseNet(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		pfx, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, err
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(pfx.Bits()-96, 0))
		}
		return pfx.Masked(), nil
	}
	if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		return netip.Prefix{}, fmt.Errorf("bad network")
	}
	var b [4]byte
	for i, s := range parts {
		o, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return netip.Prefix{}, err
		}
		b[i] = byte(o)
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), 8*len(parts)), nil
}

// maskedNet parses an address and a dotted mask ("10.0.0.0", "255.0.0.0") into the
// prefix they mean. The mask must be contiguous ones and of the address's family.
func maskedNet(addr, mask string) (netip.Prefix, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, err
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || a.Unmap().Is4() != m.Unmap().Is4() {
		return netip.Prefix{}, fmt.Errorf("bad mask")
	}
	a, m = a.Unmap(), m.Unmap()
	mb := m.AsSlice()
	bits, done := 0, false
	for _, c := range mb {
		for i := 7; i >= 0; i-- {
			one := c>>i&1 == 1
			if one && done {
				return netip.Prefix{}, fmt.Errorf("mask %s is not contiguous", mask)
			}
			if one {
				bits++
			} else {
				done = true
			}
		}
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

func newNetNode(d dir, pfx netip.Prefix) *netNode {
	n := &netNode{d: d, fam: 6, text: pfx.String()}
	a := pfx.Addr()
	if a.Is4() {
		n.fam = 4
		a4 := a.As4()
		copy(n.addr[:], a4[:])
	} else {
		n.addr = a.As16()
	}
	for i := 0; i < pfx.Bits(); i++ {
		n.mask[i/8] |= 0x80 >> (i % 8)
	}
	return n
}

func parsePortRange(v string) (lo, hi uint16, ok bool) {
	a, b, isRange := strings.Cut(v, "-")
	l, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, false
	}
	h := l
	if isRange {
		if h, err = strconv.ParseUint(b, 10, 16); err != nil || h < l {
			return 0, 0, false
		}
	}
	return uint16(l), uint16(h), true
}

func parseProto(v string) (uint8, bool) {
	if n, err := strconv.ParseUint(v, 10, 8); err == nil {
		return uint8(n), true
	}
	if pn, ok := protoWord(strings.ToLower(v)).(*protoNode); ok {
		return pn.proto, true
	}
	return 0, false
}

// parseSrcID parses a srcid: a number, or an IPv4 address (Argus sensors are often
// named by address).
func parseSrcID(v string) (uint32, bool) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return uint32(n), true
	}
	if a, err := netip.ParseAddr(v); err == nil && a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
	}
	return 0, false
}
