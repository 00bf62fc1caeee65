// Command panoptes is the Panoptes network audit sensor and its tools: one binary with
// subcommands (import, read, cluster, ...). It only picks the subcommand and maps its
// error to an exit code: 0 ok, 1 nothing matched (as ra), 2 usage or input error.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"panoptes/bench/loss"
	"panoptes/doctor"
	"panoptes/index"
	"panoptes/internal/cli"
	"panoptes/relay"
	"panoptes/sensor"
	"panoptes/tools"
)

type command struct {
	main    func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
	summary string
}

var commands = map[string]command{
	"import":  {sensor.ImportMain, "turn pcap/pcapng captures into flow records (argus -r)"},
	"sensor":  {sensor.SensorMain, "capture live with XDP/AF_XDP and write flow records (argus -i)"},
	"read":    {tools.ReadMain, "read, filter and print flow records (ra)"},
	"anon":    {tools.AnonMain, "anonymize records for sharing: Crypto-PAn addresses, ports, times, MACs (ranonymize)"},
	"label":   {tools.LabelMain, "add country codes, AS numbers and rule labels to records (ralabel)"},
	"cluster": {tools.ClusterMain, "merge records that share a key (racluster)"},
	"sort":    {tools.SortMain, "sort records by fields (rasort)"},
	"count":   {tools.CountMain, "count records, packets and bytes, per protocol and address type (racount)"},
	"doctor":  {doctor.Main, "check a capture interface's NIC, driver and kernel settings for the sensor"},
	"index":   {index.Main, "rebuild or verify an archive's time index"},
	"bins":    {tools.BinsMain, "cut records at time-bin boundaries and merge them per bin and key (rabins)"},
	"split":   {tools.SplitMain, "write records into files by time bin, count or size (rasplit)"},
	"ports":   {tools.PortsMain, "ports each host served or used (raports)"},
	"convert": {tools.ConvertMain, "turn delimited text as read -c prints it back into records (raconvert)"},
	"bench":   {loss.BenchMain, "bench loss: the zero-loss capture rate, and where frames are lost"},
	"hosts":   {tools.HostsMain, "each host and its peers (rahosts); with -R ARCHIVE ADDR...: when an address was first and last seen, from the address index"},
	"relay":   {relay.Main, "collect records from sensors, relays, NetFlow/IPFIX and NATS, and serve them to clients (radium)"},
	"top":     {tools.TopMain, "live view of the busiest flows or hosts (ratop)"},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: panoptes COMMAND [flags] [-- FILTER]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'panoptes COMMAND -h' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "panoptes: unknown command %q (commands: %s)\n", args[0], strings.Join(names(), ", "))
		return cli.ExitUsage
	}
	err := cmd.main(args[1:], stdin, stdout, stderr)
	if err != nil && cli.ExitCode(err) == cli.ExitUsage {
		fmt.Fprintf(stderr, "panoptes %s: %v\n", args[0], err)
	}
	return cli.ExitCode(err)
}

func names() []string {
	n := make([]string, 0, len(commands))
	for k := range commands {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
