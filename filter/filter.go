// Package filter compiles ra(1) filter expressions (the tcpdump-like language Argus
// users type after "--") into a tree that selects flow records.
//
// Grammar (ra(1)'s, checked against ra 3.0.8; see notes/peer-systems.md §4c):
//
//	expr      = unary { ("and" | "&&" | "or" | "||") unary }   same precedence, left to right
//	unary     = ("not" | "!") unary | "(" expr ")" | primitive
//	primitive = "man"
//	          | "tcp" | "udp" | "icmp" | "icmpv6" | "ipv6-icmp" | NAME   IP protocol by name
//	          | "ip" | "ipv4" | "ipv6" | "arp" | "rarp"
//	          | ["ip" | "ipv4" | "ipv6"] "proto" (N | NAME)
//	          | [PROTO] [dir] "host" ADDR
//	          | [PROTO] [dir] "net" (CIDR | ADDR | 10 | 10.1 | 10.1.2 | ADDR "mask" MASK)
//	          | [PROTO] [dir] "port" (N | N-M)
//	          | [dir] ("pkts"|"bytes"|"appbytes"|"loss"|"ttl"|"tos"|"vid") [op] N
//	          | [dir] ("rate"|"load"|"ploss") [op] REAL             pkts/s, bits/s, percent
//	          | dir ADDR                                       (= dir host ADDR)
//	          | "srcid" (N | A.B.C.D)
//	          | "syn" | "synack" | "est" | "fin" | "reset" | "con" | "winshut" | "ecn"
//	          | "timeout" | "retrans" | "outoforder" | "frag" | "future" | "sampled"
//	          | "echo" | "unreach" | "redirect" | "timexed"          ICMP and ICMPv6 kinds
//	          | ID                                             the id-without-keyword shorthand
//	dir       = "src" | "dst" | "src or dst" | "src and dst"
//	op        = "gt" | "gte" | "lt" | "lte" | "eq" | ">" | ">=" | "<" | "<=" | "=" | "=="
//	          | "ne" | "!="                                    (a Panoptes extension)
//
// An ID without a keyword reuses the last qualifier: "host 10.0.0.1 or 10.0.0.2" is
// "host 10.0.0.1 or host 10.0.0.2", "port 53 or 123" is "port 53 or port 123"; with no
// earlier qualifier it means "host ID". Keywords are case-insensitive.
//
// Semantics worth knowing:
//   - "icmp" is IP protocol 1 (ra's meaning); "icmpv6"/"ipv6-icmp" is protocol 58.
//   - "port" matches only protocols with ports (TCP, UDP, SCTP, DCCP, UDP-Lite).
//   - "host" and "net" also match the IPv4 protocol addresses of ARP flows.
//   - Comparisons with no direction match if either side does, as in ra 3.0.8 ("src
//     or dst" is the default direction): "pkts gt 5" selects a flow with 6 packets one
//     way, not one with 3 each way. A side without packets has all values 0 (ttl
//     and tos too), and as in ra only IPv4 flows have a ttl or tos (an IPv6 hop limit
//     never matches "ttl").
//   - "con" and "est" are flows with packets both ways, of any protocol, and TCP flows
//     joined midstream (no SYN, FIN or RST seen), as in ra 3.0.8 (a TCP SYN answered
//     by a RST is "est"). "fin" is a TCP flow that saw a FIN; "synack" one whose SYN was
//     answered by a SYN-ACK.
//   - rate, load and ploss are per side (srate, sload...): (packets-1)/duration, 0 for
//     a side of one packet or a record of zero length.
//   - echo/unreach/redirect/timexed test the ICMP type of the flow's first packet
//     (ICMPv4 8/0, 3, 5, 11; ICMPv6 128/129, 1, 137, 3).
//   - Protocol names: record.ProtoNumber's table (tcp udp icmp igmp gre esp ah ospf pim
//     sctp vrrp ...). ra 3.0.8 rejects some of them (sctp, gre) as words; "ip proto N"
//     works in both.
//   - Management records match only "man" (and its negations): every other primitive
//     is false for them, so "tcp" excludes them and "not tcp" includes them.
//
// Not implemented from ra's grammar: ether/gateway/multicast/broadcast, encaps, co,
// vpri/mid, seq, normal/wait, fragonly/multipath, tcpopt words, service names for
// ports, and the "local" prefix. They are parsed by adding keywords to parsePrimitive;
// the node set is open.
//
// Compile builds the tree once; Filter.Match walks it without allocating.
package filter

import "panoptes/record"

// Filter is a compiled expression. The zero value and nil match every record.
type Filter struct {
	expr string
	root node
}

// Compile parses expr. An empty (or all-blank) expression matches everything. Errors
// are *SyntaxError values (errors.Is(err, ErrSyntax)).
func Compile(expr string) (*Filter, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	f := &Filter{expr: expr}
	if toks[0].kind == tEOF {
		f.root = trueNode{}
		return f, nil
	}
	p := &parser{expr: expr, toks: toks}
	root, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, p.errAt(t, "unmatched \")\"")
		}
		return nil, p.errAt(t, "unexpected %q (expected \"and\", \"or\" or the end)", t.text)
	}
	f.root = root
	return f, nil
}

// MustCompile is Compile for expressions known to be valid; it panics on error.
func MustCompile(expr string) *Filter {
	f, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return f
}

// Match reports whether r passes the filter. It does not allocate.
func (f *Filter) Match(r *record.Record) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(r)
}

// Expr returns the expression as given to Compile.
func (f *Filter) Expr() string {
	if f == nil {
		return ""
	}
	return f.expr
}

// String returns the canonical, fully parenthesized form of the filter, which compiles
// to the same filter ("" for the match-everything filter).
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return ""
	}
	return string(f.root.appendTo(nil))
}
