package tools

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"panoptes/internal/cli"
	"panoptes/record"
)

const portsUsage = "-r FILE | -R ARCHIVE [-t RANGE] [-M dst|src] [--json] [-- FILTER]"

// PortsMain is `panoptes ports`, Argus's raports: a port inventory. For each address
// and transport protocol, the ports it served (-M dst, the default: destination
// addresses and ports) or used (-M src: source addresses and ports), with their
// number, runs of consecutive ports written "first - last":
// `10.0.0.80 tcp: (3) 22, 80 - 81`. Addresses print in address order, protocols by
// number. Only protocols with ports count (tcp, udp, sctp, dccp, udplite; raports has
// tcp and udp).
func PortsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("ports", portsUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	mode := fs.StringP("mode", "M", "dst", "`SIDE`: dst (ports served, by destination) or src (ports used, by source)")
	maxKeys := fs.Int64("max-keys", defaultMaxItems(20_000_000, portEntrySize), "hold at most `N` (address, protocol, port) entries in memory")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if err := cli.IntRange("--max-keys", *maxKeys, 1, math.MaxInt32); err != nil {
		return err
	}
	if o.Delim != "" {
		return refuseDelim("ports", "ports")
	}
	var src bool
	switch *mode {
	case "dst":
	case "src":
		src = true
	default:
		return cli.Usagef("unsupported -M %q (have: dst, src)", *mode)
	}
	// One set of (address, protocol, port) entries rather than a map of ports per
	// address: a map per address costs hundreds of bytes for an address with one port.
	set := map[portKey]struct{}{}
	c.keyFilter = flt // fn passes over the records flt rejects
	err = scan("ports", &c, stdin, stderr, func(r *record.Record) bool {
		if r.Kind != record.KindFlow || !r.HasPorts() || !flt.Match(r) {
			return true
		}
		k := portKey{addr: r.Addr(src), proto: r.Proto, port: r.DstPort}
		if src {
			k.port = r.SrcPort
		}
		if k.addr.IsUnspecified() {
			return true // as raports: 0.0.0.0 is no host
		}
		set[k] = struct{}{}
		return int64(len(set)) <= *maxKeys
	})
	if err != nil {
		return err
	}
	if int64(len(set)) > *maxKeys {
		return fmt.Errorf("more than --max-keys %d (address, protocol, port) entries (about %d MB of memory per million): raise --max-keys, or select fewer records with -t or a filter",
			*maxKeys, portEntrySize*1_000_000>>20)
	}
	if len(set) == 0 {
		return cli.ErrNoMatch
	}
	return writePorts(stdout, sortedPorts(set), o.Format.Numeric, o.JSON)
}

// portKey is one port an address serves or uses.
type portKey struct {
	addr  netip.Addr
	proto uint8
	port  uint16
}

// portEntrySize is what ports holds per entry: its slot in the set (twice over while
// the set grows) and its place in the sorted list (TestInventoryBounds measures it).
const portEntrySize = 240

// sortedPorts returns the entries in order of address, protocol and port.
func sortedPorts(set map[portKey]struct{}) []portKey {
	keys := make([]portKey, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if c := a.addr.Compare(b.addr); c != 0 {
			return c < 0
		}
		if a.proto != b.proto {
			return a.proto < b.proto
		}
		return a.port < b.port
	})
	return keys
}

// writePorts prints one line per address and protocol: its number of ports and their
// list; with asJSON, {"addr":"10.0.0.80","proto":"tcp","count":3,"ports":[22,80,81]}.
func writePorts(stdout io.Writer, keys []portKey, numeric, asJSON bool) error {
	var b strings.Builder
	var pr record.Record
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j].addr == keys[i].addr && keys[j].proto == keys[i].proto {
			j++
		}
		ps := keys[i:j]
		pr.Family, pr.Proto = 4, keys[i].proto
		b.Reset()
		if asJSON {
			fmt.Fprintf(&b, `{"addr":"%s","proto":%s,"count":%d,"ports":[`, keys[i].addr, jsonString(string(record.AppendProto(nil, &pr, numeric))), len(ps))
			for k, p := range ps {
				if k > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Itoa(int(p.port)))
			}
			b.WriteString("]}\n")
			if _, err := io.WriteString(stdout, b.String()); err != nil {
				return err
			}
			i = j
			continue
		}
		fmt.Fprintf(&b, "%s %s: (%d) ", keys[i].addr, record.AppendProto(nil, &pr, numeric), len(ps))
		writeRuns(&b, len(ps), func(k int) (string, bool) {
			return strconv.Itoa(int(ps[k].port)), k > 0 && ps[k-1].port+1 == ps[k].port
		})
		b.WriteByte('\n')
		if _, err := io.WriteString(stdout, b.String()); err != nil {
			return err
		}
		i = j
	}
	return nil
}
