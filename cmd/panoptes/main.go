// Command panoptes is the Panoptes network audit sensor and its tools: one binary with
// subcommands (import, read, cluster, ...). It only picks the subcommand and maps its
// error to an exit code: 0 ok, 1 nothing matched (as ra), 2 usage or input error, 3 a
// partial result (a fleet site of -R nats:// did not answer). Help
// (-h, --help, `panoptes help CMD`) and the version go to stdout with exit 0; usage
// errors go to stderr.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"panoptes/bench/loss"
	"panoptes/doctor"
	"panoptes/index"
	"panoptes/internal/buildinfo"
	"panoptes/internal/cli"
	"panoptes/relay"
	"panoptes/sensor"
	"panoptes/tools"
)

type command struct {
	main    func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
	summary string
	// helpArgs are the words before --help that reach the command's flag set: bench's
	// flags are those of `bench loss`.
	helpArgs []string
}

var commands = map[string]command{
	"import":  {main: sensor.ImportMain, summary: "turn pcap/pcapng captures into flow records (argus -r)"},
	"sensor":  {main: sensor.SensorMain, summary: "capture live with XDP/AF_XDP and write flow records (argus -i)"},
	"read":    {main: tools.ReadMain, summary: "read, filter and print flow records (ra)"},
	"anon":    {main: tools.AnonMain, summary: "anonymize records for sharing: Crypto-PAn addresses, ports, times, MACs (ranonymize)"},
	"label":   {main: tools.LabelMain, summary: "add country codes, AS numbers and rule labels to records (ralabel)"},
	"cluster": {main: tools.ClusterMain, summary: "merge records that share a key (racluster)"},
	"sort":    {main: tools.SortMain, summary: "sort records by fields (rasort)"},
	"count":   {main: tools.CountMain, summary: "count records, packets and bytes, per protocol and address type (racount)"},
	"doctor":  {main: doctor.Main, summary: "check a capture interface's NIC, driver and kernel settings for the sensor"},
	"index":   {main: index.Main, summary: "rebuild or verify an archive's time index"},
	"bins":    {main: tools.BinsMain, summary: "cut records at time-bin boundaries and merge them per bin and key (rabins)"},
	"split":   {main: tools.SplitMain, summary: "write records into files by time bin, count or size (rasplit)"},
	"ports":   {main: tools.PortsMain, summary: "ports each host served or used (raports)"},
	"convert": {main: tools.ConvertMain, summary: "turn delimited text as read -c prints it back into records (raconvert)"},
	"bench":   {main: loss.BenchMain, summary: "bench loss: the zero-loss capture rate, and where frames are lost", helpArgs: []string{"loss"}},
	"hosts":   {main: tools.HostsMain, summary: "each host and its peers (rahosts); with -R ARCHIVE ADDR...: when an address was first and last seen, from the address index"},
	"relay":   {main: relay.Main, summary: "collect records from sensors, relays, NetFlow/IPFIX and NATS, and serve them to clients (radium)"},
	"top":     {main: tools.TopMain, summary: "live view of the busiest flows or hosts (ratop)"},
}

// builtins are the commands main.go answers itself, listed after the others.
var builtins = []struct{ name, summary string }{
	{"help", "help COMMAND prints a command's flags; help filter, the filter language"},
	{"version", "print the version, VCS revision and Go version (also --version)"},
	{"completion", "print the shell completion script: completion bash|zsh|fish"},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: panoptes COMMAND [flags] [-- FILTER]")
	fmt.Fprintln(w, "\ncommands:")
	for _, n := range names() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	for _, b := range builtins {
		fmt.Fprintf(w, "  %-10s %s\n", b.name, b.summary)
	}
	fmt.Fprintln(w, "\nRun 'panoptes help COMMAND' (or 'panoptes COMMAND -h') for a command's flags,")
	fmt.Fprintln(w, "'panoptes help filter' for the filter language.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return cli.ExitUsage
	}
	for _, b := range builtins {
		if args[0] == b.name && b.name != "help" && asksHelp(args[1:]) {
			return help(args[:1], stdout, stderr) // `panoptes version -h`
		}
	}
	switch args[0] {
	case "-h", "--help":
		usage(stdout)
		return cli.ExitOK
	case "help":
		return help(args[1:], stdout, stderr)
	case "version", "--version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "panoptes %s: takes no arguments\n", args[0])
			return cli.ExitUsage
		}
		fmt.Fprintln(stdout, buildinfo.Read())
		return cli.ExitOK
	case "completion":
		return completionMain(args[1:], stdout, stderr)
	case completeCommand:
		return complete(args[1:], stdout, stderr)
	case manCommand:
		return writeMan(args[1:], stdout, stderr)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "panoptes: unknown command %q (commands: %s)\n", args[0], strings.Join(names(), ", "))
		return cli.ExitUsage
	}
	errw := stderr
	if asksHelp(args[1:]) && !startsWith(args[1:], cmd.helpArgs) {
		return help(args[:1], stdout, stderr) // `bench -h`: the flags are bench loss's
	}
	if asksHelp(args[1:]) {
		// Help goes to stdout, with the command's summary; a command whose flags take
		// "-h" as a value never asks for help, and its errors still reach stderr.
		errw = &helpPrinter{Writer: stderr, stdout: stdout, name: args[0], cmd: cmd}
	}
	err := cmd.main(args[1:], stdin, stdout, errw)
	if err != nil && cli.ExitCode(err) == cli.ExitUsage {
		fmt.Fprintf(stderr, "panoptes %s: %v\n", args[0], err)
	}
	return cli.ExitCode(err)
}

// asksHelp says whether -h or --help comes before the filter ("--").
func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help":
			return true
		}
	}
	return false
}

func startsWith(args, prefix []string) bool {
	return len(args) >= len(prefix) && slices.Equal(args[:len(prefix)], prefix)
}

func names() []string {
	n := make([]string, 0, len(commands))
	for k := range commands {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}
