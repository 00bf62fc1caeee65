package tools

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/record"
)

const hostsUsage = "-R ARCHIVE ADDR... | -r FILE | -R ARCHIVE [-t RANGE] [-- FILTER]"

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
func HostsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("hosts", hostsUsage, stderr)
	var c common
	c.register(fs)
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	addrArgs := rest
	if d := fs.ArgsLenAtDash(); d >= 0 {
		addrArgs = rest[:d]
	}
	if len(addrArgs) > 0 && len(c.inputs) == 0 {
		if len(c.archives) != 1 || fs.ArgsLenAtDash() >= 0 {
			return cli.Usagef("give -R ARCHIVE once and one or more addresses (or -r FILE for an inventory)")
		}
		return hostLookup(c.archives[0], addrArgs, c.epoch, stdout, stderr)
	}
	flt, err := compileFilter(rest)
	if err != nil {
		return err
	}
	peers := map[netip.Addr]map[netip.Addr]bool{}
	err = scan("hosts", &c, stdin, stderr, func(r *record.Record) bool {
		if r.Kind != record.KindFlow || (r.Family != 4 && r.Family != 6) || !flt.Match(r) {
			return true
		}
		s, d := r.Addr(true), r.Addr(false)
		if s.IsUnspecified() || d.IsUnspecified() {
			return true // as rahosts: 0.0.0.0 is no host
		}
		m := peers[s]
		if m == nil {
			m = map[netip.Addr]bool{}
			peers[s] = m
		}
		m[d] = true
		return true
	})
	if err != nil {
		return err
	}
	if len(peers) == 0 {
		return cli.ErrNoMatch
	}
	var b strings.Builder
	for _, s := range sortedAddrs(peers) {
		ds := sortedAddrs(peers[s])
		b.Reset()
		fmt.Fprintf(&b, "%s: (%d) ", s, len(ds))
		writeRuns(&b, len(ds), func(i int) (string, bool) {
			return ds[i].String(), i > 0 && ds[i-1].Next() == ds[i]
		})
		b.WriteByte('\n')
		if _, err := io.WriteString(stdout, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// sortedAddrs returns the keys of m in address order (IPv4 before IPv6).
func sortedAddrs[V any](m map[netip.Addr]V) []netip.Addr {
	a := make([]netip.Addr, 0, len(m))
	for k := range m {
		a = append(a, k)
	}
	sort.Slice(a, func(i, j int) bool { return a[i].Less(a[j]) })
	return a
}

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

// hostLookup answers `hosts -R ARCHIVE ADDR...` from the archive's address index.
func hostLookup(arch string, args []string, epoch bool, stdout, stderr io.Writer) error {
	var addrs []netip.Addr
	for _, s := range args {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cli.Usagef("%q is not an IP address", s)
		}
		addrs = append(addrs, a)
	}
	a, err := index.Open(arch, index.Options{ReadOnly: true, Logf: func(format string, args ...any) {
		fmt.Fprintf(stderr, "panoptes hosts: "+format+"\n", args...)
	}})
	if err != nil {
		return err
	}
	defer a.Close()
	when := func(ns int64) string {
		if epoch {
			return fmt.Sprintf("%.6f", float64(ns)/1e9)
		}
		return time.Unix(0, ns).Local().Format("2006/01/02.15:04:05.000000")
	}
	fmt.Fprintf(stdout, "%-39s %10s %26s %26s %10s %8s\n", "Address", "SrcId", "FirstSeen", "LastSeen", "Records", "Segments")
	found := 0
	for _, addr := range addrs {
		seen, err := a.Host(addr)
		if err != nil {
			return err
		}
		for _, h := range seen {
			found++
			fmt.Fprintf(stdout, "%-39s %10d %26s %26s %10d %8d\n", strings.TrimPrefix(addr.String(), "::ffff:"), h.SrcID, when(h.First), when(h.Last), h.Records, h.Segments)
		}
	}
	if found == 0 {
		return cli.ErrNoMatch
	}
	return nil
}
