package tools

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"panoptes/internal/cli"
	"panoptes/record"
)

const portsUsage = "-r FILE | -R ARCHIVE [-t RANGE] [-M dst|src] [-- FILTER]"

// PortsMain is `panoptes ports`, Argus's raports: a port inventory. For each address
// and transport protocol, the ports it served (-M dst, the default: destination
// addresses and ports) or used (-M src: source addresses and ports), with their
// number, runs of consecutive ports written "first - last":
// `10.0.0.80 tcp: (3) 22, 80 - 81`. Addresses print in address order, protocols by
// number. Only protocols with ports count (tcp, udp, sctp, dccp, udplite; raports has
// tcp and udp).
func PortsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("ports", portsUsage, stderr)
	var c common
	c.register(fs)
	mode := fs.StringP("mode", "M", "dst", "`SIDE`: dst (ports served, by destination) or src (ports used, by source)")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	var src bool
	switch *mode {
	case "dst":
	case "src":
		src = true
	default:
		return cli.Usagef("unsupported -M %q (have: dst, src)", *mode)
	}
	type hostProto struct {
		addr  netip.Addr
		proto uint8
	}
	ports := map[hostProto]map[uint16]bool{}
	err = scan("ports", &c, stdin, stderr, func(r *record.Record) bool {
		if r.Kind != record.KindFlow || !r.HasPorts() || !flt.Match(r) {
			return true
		}
		k := hostProto{r.Addr(src), r.Proto}
		port := r.DstPort
		if src {
			port = r.SrcPort
		}
		if k.addr.IsUnspecified() {
			return true // as raports: 0.0.0.0 is no host
		}
		m := ports[k]
		if m == nil {
			m = map[uint16]bool{}
			ports[k] = m
		}
		m[port] = true
		return true
	})
	if err != nil {
		return err
	}
	if len(ports) == 0 {
		return cli.ErrNoMatch
	}
	keys := make([]hostProto, 0, len(ports))
	for k := range ports {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c := keys[i].addr.Compare(keys[j].addr); c != 0 {
			return c < 0
		}
		return keys[i].proto < keys[j].proto
	})
	var b strings.Builder
	var pr record.Record
	for _, k := range keys {
		ps := make([]int, 0, len(ports[k]))
		for p := range ports[k] {
			ps = append(ps, int(p))
		}
		sort.Ints(ps)
		pr.Family, pr.Proto = 4, k.proto
		b.Reset()
		fmt.Fprintf(&b, "%s %s: (%d) ", k.addr, record.AppendProto(nil, &pr, o.Format.Numeric), len(ps))
		writeRuns(&b, len(ps), func(i int) (string, bool) {
			return strconv.Itoa(ps[i]), i > 0 && ps[i-1]+1 == ps[i]
		})
		b.WriteByte('\n')
		if _, err := io.WriteString(stdout, b.String()); err != nil {
			return err
		}
	}
	return nil
}
