// Package doctor is `panoptes doctor`: it reads a capture interface's state (driver and
// firmware, link, queues and RSS, offloads, rings, coalescing, interrupts, timestamping,
// XDP support, drop counters) through rtnetlink, the ethtool ioctls and sysfs, and says
// what would make `panoptes sensor` lose or misreport traffic, with the command that
// fixes it and the firmware-notes/ page that explains why.
//
// Reading (Inspect) and judging (Check) are separate so that every decision is tested
// with plain State values, without a NIC.
package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"panoptes/internal/cli"
)

// Report is one interface's findings, as --json prints it.
type Report struct {
	Interface string    `json:"interface"`
	Findings  []Finding `json:"findings"`
}

// ErrFailed is returned (exit status 1) when any check failed.
var ErrFailed = fmt.Errorf("a check failed: %w", cli.ErrNoMatch)

// Main is `panoptes doctor -i IFACE[,IFACE...] [--json] [--frame-size N] [--queues all|N]
// [--mode xdp|afpacket] [--probe-xdp]`.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("doctor", "-i IFACE[,IFACE...] [--json] [--frame-size 2048] [--queues all|N] [--mode xdp|afpacket] [--probe-xdp]", stderr)
	ifaces := fs.StringP("interface", "i", "", "interfaces to check, comma-separated")
	asJSON := fs.Bool("json", false, "print one JSON object per interface per line: {\"interface\":...,\"findings\":[{check,status,detail,fix,page}...]}")
	var o Options
	fs.IntVar(&o.FrameSize, "frame-size", 2048, "the sensor's --frame-size, to check the MTU against")
	queues := fs.String("queues", "all", "the sensor's --queues: all or N")
	fs.StringVar(&o.Mode, "mode", "xdp", "the sensor's --mode: xdp or afpacket")
	fs.BoolVar(&o.ProbeXDP, "probe-xdp", false, "attach a pass-everything XDP program in native mode for a moment to see whether the driver runs XDP (may drop frames while the driver reconfigures)")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return cli.Usagef("unexpected argument %q", rest[0])
	}
	if *ifaces == "" {
		return cli.Usagef("no interface: give -i IFACE")
	}
	if o.Mode != "xdp" && o.Mode != "afpacket" {
		return cli.Usagef("--mode %q: want xdp or afpacket", o.Mode)
	}
	if o.FrameSize != 2048 && o.FrameSize != 4096 {
		return cli.Usagef("--frame-size %d: want 2048 or 4096", o.FrameSize)
	}
	if *queues != "all" {
		n, err := strconv.Atoi(*queues)
		if err != nil || n <= 0 {
			return cli.Usagef("--queues %q: want all or a positive number", *queues)
		}
		o.Queues = n
	}
	var states []*State
	for _, name := range strings.Split(*ifaces, ",") {
		if name == "" {
			return cli.Usagef("empty interface name in -i %q", *ifaces)
		}
		s, err := Inspect(name, o)
		if errors.Is(err, ErrNoInterface) {
			return cli.Usagef("interface %q does not exist", name)
		}
		if err != nil {
			return err
		}
		states = append(states, s)
	}
	failed := false
	color := !*asJSON && cli.IsTerminal(stdout)
	for i, s := range states {
		r := Report{Interface: s.Name, Findings: Check(s, o)}
		for _, f := range r.Findings {
			failed = failed || f.Status == Fail
		}
		if *asJSON {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\n", b)
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		writeTable(stdout, r, color)
	}
	if failed {
		return ErrFailed
	}
	return nil
}

// writeTable prints one interface's findings as an aligned table; each finding that is
// not ok gets its fix and page on the next line.
func writeTable(w io.Writer, r Report, color bool) {
	width := len("check")
	for _, f := range r.Findings {
		width = max(width, len(f.Check))
	}
	counts := map[Status]int{}
	fmt.Fprintf(w, "%s\n", r.Interface)
	fmt.Fprintf(w, "  %-*s  %-6s %s\n", width, "check", "status", "detail")
	for _, f := range r.Findings {
		counts[f.Status]++
		status := fmt.Sprintf("%-6s", f.Status)
		if color {
			status = paint(f.Status, status)
		}
		fmt.Fprintf(w, "  %-*s  %s %s\n", width, f.Check, status, f.Detail)
		if f.Status != OK {
			indent := strings.Repeat(" ", 2+width+2+7)
			if f.Fix != "" {
				fmt.Fprintf(w, "%sfix: %s\n", indent, f.Fix)
			}
			fmt.Fprintf(w, "%ssee: firmware-notes/%s\n", indent, f.Page)
		}
	}
	fmt.Fprintf(w, "%s: %d ok, %d warn, %d fail\n", r.Interface, counts[OK], counts[Warn], counts[Fail])
}

func paint(s Status, text string) string {
	code := map[Status]string{OK: "32", Warn: "33", Fail: "31"}[s]
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}
