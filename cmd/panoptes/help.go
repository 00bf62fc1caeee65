package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"panoptes/internal/cli"
	"panoptes/internal/clidoc"
)

// filterHelp is the filter language's page: `panoptes help filter` and panoptes-filter(7).
//
//go:embed filter.txt
var filterHelp string

// helpPrinter is a command's stderr while it parses -h: cli.NewFlagSet hands it the
// flag set, which it prints on stdout with the command's summary.
type helpPrinter struct {
	io.Writer // stderr: anything else the command writes
	stdout    io.Writer
	name      string
	cmd       command
}

func (h *helpPrinter) Help(_, usage string, fs *pflag.FlagSet) {
	doc(h.name, h.cmd, usage, fs).WriteHelp(h.stdout)
}

// doc describes a command by its flag set.
func doc(name string, cmd command, usage string, fs *pflag.FlagSet) clidoc.Command {
	if len(cmd.helpArgs) > 0 {
		usage = strings.Join(cmd.helpArgs, " ") + " " + usage
	}
	return clidoc.FromFlagSet(name, cmd.summary, usage, fs)
}

// flagCapture is the stderr of a command run with --help by describe: it keeps the flag
// set instead of printing it.
type flagCapture struct {
	bytes.Buffer
	usage string
	fs    *pflag.FlagSet
}

func (c *flagCapture) Help(_, usage string, fs *pflag.FlagSet) { c.usage, c.fs = usage, fs }

// describe returns a command's description, from the flag set its Main builds: Main is
// run with --help, which every Main parses before it does anything else.
func describe(name string) (clidoc.Command, error) {
	cmd, ok := commands[name]
	if !ok {
		return clidoc.Command{}, cli.Usagef("unknown command %q (commands: %s)", name, strings.Join(names(), ", "))
	}
	var c flagCapture
	args := append(append([]string{}, cmd.helpArgs...), "--help")
	err := cmd.main(args, strings.NewReader(""), io.Discard, &c)
	if c.fs == nil || !errors.Is(err, cli.ErrHelp) {
		return clidoc.Command{}, fmt.Errorf("panoptes %s --help gave no flag set (%v): %s", name, err, c.String())
	}
	return doc(name, cmd, c.usage, c.fs), nil
}

// help is `panoptes help [COMMAND|filter]`.
func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		args = []string{"help"} // help's own help
	}
	switch {
	case len(args) == 0:
		usage(stdout)
		return cli.ExitOK
	case len(args) > 1:
		fmt.Fprintln(stderr, "panoptes help: want one command (panoptes help COMMAND)")
		return cli.ExitUsage
	case args[0] == "filter":
		io.WriteString(stdout, filterHelp)
		return cli.ExitOK
	}
	for _, b := range builtins {
		if args[0] == b.name {
			fmt.Fprintf(stdout, "panoptes %s: %s\n", b.name, b.summary)
			return cli.ExitOK
		}
	}
	c, err := describe(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "panoptes help: %v\n", err)
		return cli.ExitUsage
	}
	c.WriteHelp(stdout)
	return cli.ExitOK
}
