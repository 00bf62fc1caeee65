package tools

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"panoptes/index"
	"panoptes/internal/cli"
)

// HostsMain is `panoptes hosts -R ARCHIVE ADDR...`: when each address was first and
// last seen, and in how many records, per source id, answered from the archive's
// address index without reading segments (Argus's rahosts, for an archive).
func HostsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("hosts", "-R ARCHIVE ADDR...", stderr)
	arch := fs.StringP("archive", "R", "", "the archive directory")
	epoch := fs.BoolP("epoch", "u", false, "print times as seconds since the epoch")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if *arch == "" || len(rest) == 0 {
		return cli.Usagef("hosts: give -R ARCHIVE and one or more addresses")
	}
	var addrs []netip.Addr
	for _, s := range rest {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cli.Usagef("hosts: %q is not an IP address", s)
		}
		addrs = append(addrs, a)
	}
	a, err := index.Open(*arch, index.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer a.Close()
	when := func(ns int64) string {
		if *epoch {
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
