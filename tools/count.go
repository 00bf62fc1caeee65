package tools

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"

	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/record"
)

const countUsage = "-r FILE [-r FILE]... | -R ARCHIVE [-t RANGE] [-M proto] [-M addr] [-c SEP | --json] [-- FILTER]"

// counts are the totals one line of count prints.
type counts struct {
	recs, spkts, dpkts, sbytes, dbytes uint64
}

// add counts r: one record (racount counts the records it reads, not the records
// merged into them), and its packets and bytes.
func (c *counts) add(r *record.Record) {
	c.recs++
	c.spkts += r.Src.Pkts
	c.dpkts += r.Dst.Pkts
	c.sbytes += r.Src.Bytes
	c.dbytes += r.Dst.Bytes
}

// addTotals adds the totals of whole archive blocks (index.QueryTotals).
func (c *counts) addTotals(t index.Totals) {
	c.recs += t.Flows
	c.spkts += t.SrcPkts
	c.dpkts += t.DstPkts
	c.sbytes += t.SrcBytes
	c.dbytes += t.DstBytes
}

// appendRow appends racount's columns after a 10-character label.
func (c *counts) appendRow(b []byte, label string) []byte {
	return fmt.Appendf(b, "%s%-11d %-14d %-14d %-14d %-18d %-18d %-18d\n", label,
		c.recs, c.spkts+c.dpkts, c.spkts, c.dpkts, c.sbytes+c.dbytes, c.sbytes, c.dbytes)
}

// CountMain is `panoptes count`, Argus's racount: one line of totals over the flow
// records that pass the filter (records, packets and bytes, in total and per
// direction), with -M proto a line per protocol, and with -M addr how many distinct
// source and destination addresses of each IANA address type were seen. The output
// is racount's, column for column.
//
// Differences from racount 3.0.8 (record/ARGUS-DIFFERENCES.md): racount's record
// count is one more than the records it read (its counter starts at 1); and it tallies
// IPv6 addresses once per record, not once per address, and leaves global IPv6
// unicast addresses out, where count counts distinct IPv6 addresses as it does IPv4
// ones and prints "IPv6 Global".
func CountMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("count", countUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	var modes []string
	fs.StringArrayVarP(&modes, "mode", "M", nil, "`MODE`: proto (a line per protocol), addr (address types); repeatable")
	maxKeys := fs.Int64("max-keys", defaultMaxItems(20_000_000, addrEntrySize), "with -M addr, hold at most `N` distinct addresses in memory")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if err := cli.IntRange("--max-keys", *maxKeys, 1, math.MaxInt32); err != nil {
		return err
	}
	var protoMode, addrMode bool
	for _, s := range modes {
		for _, m := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			switch m {
			case "proto":
				protoMode = true
			case "addr":
				addrMode = true
			default:
				return cli.Usagef("unsupported -M mode %q (have: proto, addr)", m)
			}
		}
	}
	var total counts
	tally := newProtoTally()
	addrs := newAddrTally(int(*maxKeys))
	matched := 0
	c.keyFilter = flt // fn passes over the records flt rejects
	c.anyOrder = true // sums and tallies
	// The sums read the counters, the tallies the protocol and addresses (flow key).
	c.readFields, c.readSome = record.FieldsCounts, true
	if !protoMode && !addrMode {
		// Only sums: an archive's blocks inside -t give theirs from its index (with no
		// filter; scanOneArchive decides).
		c.totals = func(t index.Totals) {
			total.addTotals(t)
			matched += int(t.Flows)
		}
	}
	err = scan("count", &c, stdin, stderr, func(r *record.Record) bool {
		if r.Kind == record.KindMan || !flt.Match(r) {
			return true
		}
		matched++
		total.add(r)
		if protoMode {
			tally.add(r)
		}
		if addrMode {
			addrs.add(r)
		}
		return !addrs.full
	})
	if err != nil {
		return err
	}
	if addrs.full {
		return fmt.Errorf("more than --max-keys %d distinct addresses (about %d MB of memory per million): raise --max-keys, or select fewer records with -t or a filter",
			addrs.max, addrEntrySize*1_000_000>>20)
	}
	if o.JSON || o.Delim != "" {
		var t *protoTally
		var a *addrTally
		if protoMode {
			t = tally
		}
		if addrMode {
			a = addrs
		}
		if err := writeCountRows(stdout, o, &total, t, a); err != nil {
			return err
		}
		if matched == 0 {
			return cli.ErrNoMatch
		}
		return nil
	}
	w := bufio.NewWriter(stdout)
	fmt.Fprintln(w, "racount   records     total_pkts     src_pkts       dst_pkts       total_bytes        src_bytes          dst_bytes")
	w.Write(total.appendRow(nil, "    sum   "))
	if protoMode {
		tally.print(w)
	}
	if addrMode {
		addrs.print(w)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if matched == 0 {
		return cli.ErrNoMatch
	}
	return nil
}

// protoTally keeps counts per IP protocol (IPv4 and IPv6 together, as racount), per
// EtherType, and for ARP and RARP.
type protoTally struct {
	ip    [256]*counts
	ether map[uint16]*counts
	arp   [2]*counts // arp, rarp
	first [256]*record.Record
}

func newProtoTally() *protoTally { return &protoTally{ether: map[uint16]*counts{}} }

func (t *protoTally) add(r *record.Record) {
	var c **counts
	switch {
	case r.Family != 0:
		c = &t.ip[r.Proto]
		if t.first[r.Proto] == nil {
			rec := *r
			rec.Man = nil
			t.first[r.Proto] = &rec
		}
	case r.EtherType == 0x0806:
		c = &t.arp[0]
	case r.EtherType == 0x8035:
		c = &t.arp[1]
	default:
		e := t.ether[r.EtherType]
		if e == nil {
			e = &counts{}
			t.ether[r.EtherType] = e
		}
		e.add(r)
		return
	}
	if *c == nil {
		*c = &counts{}
	}
	(*c).add(r)
}

// protoLabel formats a protocol name as racount does: the name and a blank, right
// aligned in (and cut to) 8 characters, then two blanks.
func protoLabel(name string) string {
	s := name + " "
	if len(s) > 8 {
		s = s[:8]
	}
	return fmt.Sprintf("%8s  ", s)
}

func (t *protoTally) print(w *bufio.Writer) {
	fmt.Fprintln(w, "Protocol Summary")
	t.each(func(name string, c *counts) { w.Write(c.appendRow(nil, protoLabel(name))) })
}

// each calls fn for each protocol counted, in racount's order: IP protocols by number,
// EtherTypes, then ARP and RARP.
func (t *protoTally) each(fn func(name string, c *counts)) {
	for p, c := range t.ip {
		if c != nil {
			fn(string(record.AppendProto(nil, t.first[p], false)), c)
		}
	}
	for e := 0; e < 0x10000; e++ {
		if c := t.ether[uint16(e)]; c != nil {
			r := record.Record{EtherType: uint16(e)}
			fn(string(record.AppendProto(nil, &r, false)), c)
		}
	}
	for i, name := range []string{"arp", "rarp"} {
		if c := t.arp[i]; c != nil {
			fn(name, c)
		}
	}
}

// addrType is an IANA address category racount reports.
type addrType uint8

const (
	v4Unicast addrType = iota
	v4ThisNet
	v4Private
	v4Loopback
	v4LinkLocal
	v4TestNet
	v4Reserved
	v4McastLocal
	v4McastInternet
	v4McastAdHoc
	v4McastReserved
	v4McastSdpSap
	v4McastNasdaq
	v4McastDisTrans
	v4McastSrcSpec
	v4McastGlop
	v4McastOrgLocal
	v4McastSiteLocal
	v6Unspecified
	v6Loopback
	v6LinkLocal
	v6SiteLocal
	v6Global
	v6McastNodeLocal
	v6McastLinkLocal
	v6McastSiteLocal
	v6McastOrgLocal
	v6McastGlobal
	v6V4Compat // counted, not printed (as racount)
	v6V4Mapped
	numAddrTypes
)

// addrTypeLabels are racount's row labels, in its order.
var addrTypeLabels = [numAddrTypes]string{
	"IPv4 Unicast", "IPv4 Unicast This Network", "IPv4 Unicast Private", "IPv4 Unicast LoopBack",
	"IPv4 Unicast Link Local", "IPv4 Unicast Test Net", "IPv4 Unicast Reserved", "IPv4 Multicast Local",
	"IPv4 Multicast Internet", "IPv4 Multicast AdHoc", "IPv4 Multicast Reserved", "IPv4 Multicast SdpSap",
	"IPv4 Multicast Nasdaq", "IPv4 Multicast DisTrans", "IPv4 Multicast Src Spec", "IPv4 Multicast GLOP Blk",
	"IPv4 Multicast OrgLocal", "IPv4 Multicast SiteLocal", "IPv6 Unspecified", "IPv6 Loopback",
	"IPv6 LinkLocal", "IPv6 SiteLocal", "IPv6 Global", "IPv6 Multicast Node Local",
	"IPv6 Multicast Link Local", "IPv6 Multicast Site Local", "IPv6 Multicast Org  Local", "IPv6 Multicast Global",
	"", "",
}

// classifyV4 puts an IPv4 address in racount's categories. racount uses an old IANA
// allocation table, so some blocks that are allocated today still count as
// "Reserved" (1-2/8, 5/8, 23/8, 27/8, 36-37/8, 41/8, 48/8, 73-79/8, 89-126/8,
// 173-187/8, 190-191/8, 197/8, 223/8, 240/4): kept, so the numbers agree. A
// multicast address may count in two categories, as there.
func classifyV4(a [4]byte, add func(addrType)) {
	hi := a[0]
	if hi >= 224 && hi < 240 {
		lo := uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		switch {
		case hi == 224:
			switch {
			case lo < 0x100:
				add(v4McastLocal)
			case lo < 0x200:
				add(v4McastInternet)
			case lo < 0xff00:
				add(v4McastAdHoc)
			case lo < 0x20000:
				add(v4McastReserved)
			case lo < 0x30000:
				add(v4McastSdpSap)
			case lo < 0x30040:
				add(v4McastNasdaq)
			case lo < 0xfd0000:
				add(v4McastReserved)
			case lo == 0xfd0000:
				add(v4McastDisTrans)
			}
		case hi < 232:
			add(v4McastReserved)
		case hi == 232:
			add(v4McastSrcSpec)
		case hi == 233:
			add(v4McastGlop)
			add(v4McastReserved)
		case hi <= 238:
			add(v4McastReserved)
		default: // 239
			add(v4McastAdmin(a[1]))
		}
		return
	}
	switch {
	case hi == 0:
		add(v4ThisNet)
	case hi < 3, hi == 5, hi == 23, hi == 27, hi == 36, hi == 37, hi == 41, hi == 48,
		hi >= 73 && hi < 80, hi >= 89 && hi < 127:
		add(v4Reserved)
	case hi == 127:
		add(v4Loopback)
	case hi == 172 && a[1] == 16:
		add(v4Private)
	case hi >= 173 && hi < 188:
		add(v4Reserved)
	case hi >= 190 && hi < 192:
		add(v4Reserved)
	case hi == 192:
		switch {
		case a[1] == 0 && a[2] == 2:
			add(v4TestNet)
		case a[1] == 168:
			add(v4Private)
		default:
			add(v4Unicast)
		}
	case hi == 197, hi == 223, hi >= 240:
		add(v4Reserved)
	case hi == 10:
		add(v4Private)
	default:
		add(v4Unicast)
	}
}

// v4McastAdmin classifies 239.x.0.0 (administratively scoped): racount counts it
// as Admin (not printed) and also as Reserved, OrgLocal or SiteLocal by the second
// octet.
func v4McastAdmin(b1 byte) addrType {
	switch {
	case b1 >= 0xfc:
		return v4McastSiteLocal
	case b1 >= 0xc0:
		return v4McastOrgLocal
	case b1 > 0:
		return v4McastReserved
	}
	return numAddrTypes // 239.0/16: Admin only, which racount does not print
}

func classifyV6(a [16]byte) addrType {
	var zero [10]byte
	switch {
	case a == [16]byte{}:
		return v6Unspecified
	case a == [16]byte{15: 1}:
		return v6Loopback
	case [12]byte(a[:12]) == [12]byte{}:
		return v6V4Compat
	case [10]byte(a[:10]) == zero && a[10] == 0xff && a[11] == 0xff:
		return v6V4Mapped
	case a[0] == 0xfe && a[1]&0xc0 == 0x80:
		return v6LinkLocal
	case a[0] == 0xfe && a[1]&0xc0 == 0xc0:
		return v6SiteLocal
	case a[0] == 0xff:
		switch a[1] & 0xf {
		case 1:
			return v6McastNodeLocal
		case 2:
			return v6McastLinkLocal
		case 5:
			return v6McastSiteLocal
		case 8:
			return v6McastOrgLocal
		case 0xe:
			return v6McastGlobal
		}
		return numAddrTypes
	}
	return v6Global
}

// addrTally counts distinct source and destination addresses per type, holding at
// most max of them (sources and destinations together).
type addrTally struct {
	seen [2]map[[17]byte]bool // src, dst: family byte + address
	n    [2][numAddrTypes + 1]uint64
	max  int
	full bool // a new address went beyond max
}

// addrEntrySize is what count -M addr holds per distinct address: its slot in a set
// (twice over while the set grows; TestInventoryBounds measures it).
const addrEntrySize = 96

func newAddrTally(max int) *addrTally {
	return &addrTally{seen: [2]map[[17]byte]bool{{}, {}}, max: max}
}

func (t *addrTally) add(r *record.Record) {
	if r.Family != 4 && r.Family != 6 {
		return
	}
	for side, a := range [2]*[16]byte{&r.SrcAddr, &r.DstAddr} {
		var k [17]byte
		k[0] = r.Family
		copy(k[1:], a[:])
		if t.seen[side][k] {
			continue
		}
		if len(t.seen[0])+len(t.seen[1]) >= t.max {
			t.full = true
			return
		}
		t.seen[side][k] = true
		if r.Family == 4 {
			classifyV4([4]byte(a[:4]), func(c addrType) { t.n[side][c]++ })
		} else {
			t.n[side][classifyV6(*a)]++
		}
	}
}

func (t *addrTally) print(w *bufio.Writer) {
	fmt.Fprintln(w, "Address Summary")
	t.each(func(label string, src, dst uint64) {
		fmt.Fprintf(w, "  %-25s src %-10d  dst %-10d\n", label, src, dst)
	})
}

// each calls fn for each address type seen, with its distinct source and destination
// addresses.
func (t *addrTally) each(fn func(label string, src, dst uint64)) {
	for c := addrType(0); c < numAddrTypes; c++ {
		if addrTypeLabels[c] == "" || t.n[0][c]+t.n[1][c] == 0 {
			continue
		}
		fn(addrTypeLabels[c], t.n[0][c], t.n[1][c])
	}
}
