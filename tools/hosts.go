package tools

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"panoptes/fleet"
	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/record"
)

const hostsUsage = "-R ARCHIVE [-c SEP | --json] ADDR... | -r FILE | -R ARCHIVE [-t RANGE] [--json] [-- FILTER]"

// HostsMain is `panoptes hosts`, in two forms.
//
// With addresses (`hosts -R ARCHIVE ADDR...`): when each address was first and last
// seen, and in how many records, per source id, answered from the archive's address
// index without reading segments.
//
// With records (`hosts -r FILE`, `hosts -R ARCHIVE -t RANGE`, a filter after --): the
// inventory Argus's rahosts prints, one line per source address with the number of
// distinct addresses it sent to and their list, runs of consecutive addresses written
// as "first - last": `10.0.0.1: (3) 8.8.8.8, 10.0.0.53 - 10.0.0.54`.
func HostsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("hosts", hostsUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	maxKeys := fs.Int64("max-keys", defaultMaxItems(20_000_000, hostPairSize), "hold at most `N` (source, destination) pairs in memory")
	c.noRarcFilter = true // the words may be addresses
	rest, err := c.parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := cli.IntRange("--max-keys", *maxKeys, 1, math.MaxInt32); err != nil {
		return err
	}
	if c.json && c.delim != "" {
		return cli.Usagef("--json and -c cannot be used together")
	}
	addrArgs := rest
	if d := fs.ArgsLenAtDash(); d >= 0 {
		addrArgs = rest[:d]
	}
	if len(addrArgs) > 0 && len(c.inputs) == 0 {
		if len(c.archives) != 1 || fs.ArgsLenAtDash() >= 0 {
			return cli.Usagef("give -R ARCHIVE once and one or more addresses (or -r FILE for an inventory)")
		}
		return hostLookup(&c, c.archives[0], addrArgs, lookupFormat{epoch: c.epoch, json: c.json, delim: c.delim}, stdout, stderr)
	}
	if c.delim != "" {
		return refuseDelim("hosts", "peers")
	}
	flt, err := c.compileFilter(rest)
	if err != nil {
		return err
	}
	// One set of (source, destination) pairs rather than a map of peers per source: a
	// map per source costs some 600 bytes for a source with one peer.
	pairs := map[[2]netip.Addr]struct{}{}
	c.keyFilter = flt // fn passes over the records flt rejects
	err = scan("hosts", &c, stdin, stderr, func(r *record.Record) bool {
		if r.Kind != record.KindFlow || (r.Family != 4 && r.Family != 6) || !flt.Match(r) {
			return true
		}
		s, d := r.Addr(true), r.Addr(false)
		if s.IsUnspecified() || d.IsUnspecified() {
			return true // as rahosts: 0.0.0.0 is no host
		}
		pairs[[2]netip.Addr{s, d}] = struct{}{}
		return int64(len(pairs)) <= *maxKeys
	})
	if err != nil {
		return err
	}
	if int64(len(pairs)) > *maxKeys {
		return fmt.Errorf("more than --max-keys %d (source, destination) pairs (about %d MB of memory per million): raise --max-keys, or select fewer records with -t or a filter",
			*maxKeys, hostPairSize*1_000_000>>20)
	}
	if len(pairs) == 0 {
		return cli.ErrNoMatch
	}
	return writeHosts(stdout, sortedPairs(pairs), c.json)
}

// sortedPairs returns the pairs in order of source, then destination (IPv4 before IPv6).
func sortedPairs(m map[[2]netip.Addr]struct{}) [][2]netip.Addr {
	a := make([][2]netip.Addr, 0, len(m))
	for k := range m {
		a = append(a, k)
	}
	sort.Slice(a, func(i, j int) bool {
		if a[i][0] != a[j][0] {
			return a[i][0].Less(a[j][0])
		}
		return a[i][1].Less(a[j][1])
	})
	return a
}

// writeHosts prints one line per source: its number of peers and their list; with
// asJSON, {"saddr":"10.0.0.1","count":3,"daddrs":["8.8.8.8","10.0.0.53","10.0.0.54"]}.
func writeHosts(stdout io.Writer, pairs [][2]netip.Addr, asJSON bool) error {
	var b strings.Builder
	for i := 0; i < len(pairs); {
		j := i + 1
		for j < len(pairs) && pairs[j][0] == pairs[i][0] {
			j++
		}
		ds := pairs[i:j]
		b.Reset()
		if asJSON {
			fmt.Fprintf(&b, `{"saddr":"%s","count":%d,"daddrs":[`, pairs[i][0], len(ds))
			for k, d := range ds {
				if k > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"%s"`, d[1])
			}
			b.WriteString("]}\n")
			if _, err := io.WriteString(stdout, b.String()); err != nil {
				return err
			}
			i = j
			continue
		}
		fmt.Fprintf(&b, "%s: (%d) ", pairs[i][0], len(ds))
		writeRuns(&b, len(ds), func(k int) (string, bool) {
			return ds[k][1].String(), k > 0 && ds[k-1][1].Next() == ds[k][1]
		})
		b.WriteByte('\n')
		if _, err := io.WriteString(stdout, b.String()); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// hostPairSize is what hosts holds per (source, destination) pair: its slot in the set
// (twice over while the set grows) and its place in the sorted list (TestHostsBound
// measures it).
const hostPairSize = 320

// writeRuns writes n sorted items separated by ", ", a run of items that each follow
// the one before (item reports it) as "first - last", as rahosts and raports do.
func writeRuns(b *strings.Builder, n int, item func(i int) (text string, follows bool)) {
	for i := 0; i < n; {
		first, _ := item(i)
		j := i + 1
		for j < n {
			if _, f := item(j); !f {
				break
			}
			j++
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(first)
		if j-1 > i {
			last, _ := item(j - 1)
			b.WriteString(" - ")
			b.WriteString(last)
		}
		i = j
	}
}

// lookupFormat is how hostLookup prints: a padded table (times as text, or with -u
// seconds since the epoch), the same columns separated by delim (-c), or JSON Lines
// (times in RFC 3339, or with -u seconds).
type lookupFormat struct {
	epoch, json bool
	delim       string
}

// hostLookup answers `hosts -R ARCHIVE ADDR...` from the archive's address index.
func hostLookup(c *common, arch string, args []string, f lookupFormat, stdout, stderr io.Writer) error {
	epoch := f.epoch
	f.delim = strings.NewReplacer(`\t`, "\t", `\s`, " ").Replace(f.delim)
	var addrs []netip.Addr
	for _, s := range args {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cli.Usagef("%q is not an IP address", s)
		}
		addrs = append(addrs, a)
	}
	var rows []hostRow
	var err error
	site := fleet.IsURL(arch) // one row per site, address and source id
	if site {
		rows, err = fleetHosts(c, arch, addrs, stderr)
	} else {
		rows, err = localHosts(arch, addrs, stderr)
	}
	if err != nil {
		return err
	}
	when := func(ns int64) string {
		if epoch {
			return fmt.Sprintf("%.6f", float64(ns)/1e9)
		}
		return time.Unix(0, ns).Local().Format("2006/01/02.15:04:05.000000")
	}
	switch {
	case f.json:
	case f.delim != "":
		cols := []string{"Address", "SrcId", "FirstSeen", "LastSeen", "Records", "Segments"}
		if site {
			cols = append([]string{"Site"}, cols...)
		}
		fmt.Fprintln(stdout, strings.Join(cols, f.delim))
	default:
		if site {
			fmt.Fprintf(stdout, "%-16s ", "Site")
		}
		fmt.Fprintf(stdout, "%-39s %10s %26s %26s %10s %8s\n", "Address", "SrcId", "FirstSeen", "LastSeen", "Records", "Segments")
	}
	jsonWhen := func(ns int64) string {
		if epoch {
			return fmt.Sprintf("%.6f", float64(ns)/1e9)
		}
		return `"` + time.Unix(0, ns).UTC().Format(time.RFC3339Nano) + `"`
	}
	for _, h := range rows {
		a := strings.TrimPrefix(h.addr.String(), "::ffff:")
		switch {
		case f.json:
			siteField := ""
			if site {
				siteField = fmt.Sprintf(`"site":%q,`, h.site)
			}
			fmt.Fprintf(stdout, `{%s"addr":"%s","srcid":%d,"first":%s,"last":%s,"records":%d,"segments":%d}`+"\n",
				siteField, a, h.srcid, jsonWhen(h.first), jsonWhen(h.last), h.records, h.segments)
		case f.delim != "":
			cols := []string{a, fmt.Sprint(h.srcid), when(h.first), when(h.last), fmt.Sprint(h.records), fmt.Sprint(h.segments)}
			if site {
				cols = append([]string{h.site}, cols...)
			}
			fmt.Fprintln(stdout, strings.Join(cols, f.delim))
		default:
			if site {
				fmt.Fprintf(stdout, "%-16s ", h.site)
			}
			fmt.Fprintf(stdout, "%-39s %10d %26s %26s %10d %8d\n", a, h.srcid, when(h.first), when(h.last), h.records, h.segments)
		}
	}
	if len(rows) == 0 {
		return cli.ErrNoMatch
	}
	return nil
}

// hostRow is one line of a host lookup: an address seen under a source id (at a site).
type hostRow struct {
	site        string
	addr        netip.Addr
	srcid       uint32
	first, last int64
	records     uint64
	segments    int
}

// localHosts answers a host lookup from an archive's address index.
func localHosts(arch string, addrs []netip.Addr, stderr io.Writer) ([]hostRow, error) {
	a, err := index.Open(arch, index.Options{ReadOnly: true, Logf: func(format string, args ...any) {
		fmt.Fprintf(stderr, "panoptes hosts: "+format+"\n", args...)
	}})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	var rows []hostRow
	for _, addr := range addrs {
		seen, err := a.Host(addr)
		if err != nil {
			return nil, err
		}
		for _, h := range seen {
			rows = append(rows, hostRow{addr: addr, srcid: h.SrcID, first: h.First, last: h.Last, records: h.Records, segments: h.Segments})
		}
	}
	return rows, nil
}

// fleetHosts answers a host lookup from the address index of every site of an -R
// nats:// URL: rows by site, then in the order of the addresses.
func fleetHosts(c *common, url string, addrs []netip.Addr, stderr io.Writer) ([]hostRow, error) {
	t, err := fleet.ParseURL(url, "")
	if err != nil {
		return nil, cli.Usagef("-R %v", err)
	}
	req := fleet.Request{Kind: fleet.KindHosts}
	for _, a := range addrs {
		req.Addrs = append(req.Addrs, a.String())
	}
	res, err := fleet.Query(context.Background(), t, req, fleet.QueryOptions{Timeout: c.timeout}, func(string, *record.Record) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("-R %w", err)
	}
	warnFleet("hosts", c, t, res, stderr)
	var rows []hostRow
	for _, s := range res.Sites {
		for _, a := range addrs {
			for _, h := range s.Hosts {
				if h.Addr == a {
					rows = append(rows, hostRow{site: s.Site, addr: a, srcid: h.SrcID, first: h.First, last: h.Last, records: h.Records, segments: h.Segments})
				}
			}
		}
	}
	return rows, nil
}
