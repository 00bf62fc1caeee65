// Package loss is `panoptes bench loss`: the packet-loss benchmark of bench/loss.sh as
// a command for operators. It sends 64-byte (or --size) UDP frames from one port (or a
// veth end in a network namespace) to another at a paced rate, captures them there with
// `panoptes sensor` (one process per trial, records discarded), and accounts for
// every frame sent: received, or dropped at a named counter (the link or NIC, the XDP
// program, the socket ring, the fill ring, the record ring). It finds the zero-loss
// rate by stepping the rate up until frames are lost, then bisecting.
package loss

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"panoptes/internal/cli"
	"panoptes/xdp"
)

// Options is one benchmark run.
type Options struct {
	RX, TX, Netns string
	Rate          float64 // frames/s; 0 = as fast as the generator goes
	Search        bool    // step up from Rate until loss, then bisect
	Frames        uint64  // per trial
	Size          int     // frame bytes without FCS
	AFPacket      bool
	Queues        int
	Iterations    int // bisection trials
	XDP           xdp.Config
	// Sensor is the command that runs `panoptes sensor` (default: this executable).
	Sensor []string
}

// Trial is one send-and-capture run and where its frames went.
type Trial struct {
	Requested float64 // frames/s asked for (0: maximum)
	Rate      float64 // frames/s achieved by the generator
	Sent      uint64  // frames the generator's socket accepted
	// TxDropped is frames the sending interface dropped (veth: the receiver's XDP ring
	// was full; a NIC: its TX queue).
	TxDropped uint64
	NICDrops  uint64 // the receiving NIC's missed/FIFO/overrun counters
	Seen      uint64 // frames the XDP program (AF_PACKET: the socket) saw
	Passed    uint64 // frames XDP passed to the stack instead of a socket
	// Socket drops: rx_dropped (fill-ring-empty drops included in it) and RX ring full.
	RxDropped, RingFull, FillEmpty, Invalid uint64
	Received                                uint64 // frames the sensor took off its sockets
	RecordDrops                             uint64 // records lost to a full record ring
}

// Lost is every frame sent that the sensor did not receive.
func (t *Trial) Lost() uint64 {
	if t.Received >= t.Sent {
		return 0
	}
	return t.Sent - t.Received
}

// Accounted is the frames lost at a counter that says where.
func (t *Trial) Accounted() uint64 {
	return t.TxDropped + t.NICDrops + t.Passed + t.RxDropped + t.RingFull
}

// Unaccounted is frames lost with no counter for them (sent - received - accounted),
// negative if the counters count more than was lost.
func (t *Trial) Unaccounted() int64 {
	return int64(t.Sent) - int64(t.Received) - int64(t.Accounted())
}

// Where names the counters that lost frames.
func (t *Trial) Where() string {
	var w []string
	add := func(n uint64, what string) {
		if n > 0 {
			w = append(w, fmt.Sprintf("%s %d", what, n))
		}
	}
	add(t.TxDropped, "link/TX")
	add(t.NICDrops, "NIC")
	add(t.Passed, "XDP passed")
	add(t.RxDropped-min(t.RxDropped, t.FillEmpty), "socket rx_dropped")
	add(t.FillEmpty, "fill ring empty")
	add(t.RingFull, "socket ring full")
	add(t.Invalid, "invalid descriptors")
	add(t.RecordDrops, "record ring (records)")
	if u := t.Unaccounted(); u != 0 {
		w = append(w, fmt.Sprintf("unaccounted %d", u))
	}
	if len(w) == 0 {
		return "-"
	}
	return strings.Join(w, ", ")
}

// sensorEvent is a JSON log line of `panoptes sensor --log-format json`: the events the
// trial reads (capturing, queue counters, capture ended).
type sensorEvent struct {
	Msg                    string
	Seen, Received, Passed uint64
	Packets, Drops         uint64 // AF_PACKET's names for seen and rx_dropped
	Invalid                uint64
	RxDroppedJ             uint64 `json:"rx_dropped"`
	RingFullJ              uint64 `json:"ring_full"`
	FillEmptyJ             uint64 `json:"fill_empty"`
	RingDroppedJ           uint64 `json:"ring_dropped"`
	NICDropsJ              uint64 `json:"nic_drops"`
}

// runTrial runs `panoptes sensor` on the RX interface (a process per trial, as an
// operator runs it; the kernel also frees AF_XDP sockets only when their mappings go,
// which a process exit guarantees) while sending frames at rate, then stops it with
// SIGINT and reads its loss accounting from its JSON log lines.
//
// The kernel frees the previous trial's AF_XDP sockets some time after that process
// ended, so a queue can still be busy: the start is retried for up to 5 s.
func runTrial(ctx context.Context, o *Options, snd *sender, rate float64, warn func(string)) (Trial, error) {
	for i := 0; ; i++ {
		t, err := tryTrial(ctx, o, snd, rate)
		if err == nil || i == 25 || !strings.Contains(err.Error(), "resource busy") || ctx.Err() != nil {
			return t, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tryTrial(ctx context.Context, o *Options, snd *sender, rate float64) (Trial, error) {
	t := Trial{Requested: rate}
	mode := "xdp"
	if o.AFPacket {
		mode = "afpacket"
	}
	args := append(append([]string{}, o.Sensor[1:]...), "--config", "", "-i", o.RX, "-w", os.DevNull, "--mode", mode,
		"--hwts", "off", "--log-format", "json", "--ring-size", strconv.Itoa(o.XDP.RingSize), "--umem-frames", strconv.Itoa(o.XDP.Frames))
	if o.Queues > 0 {
		args = append(args, "--queues", strconv.Itoa(o.Queues))
	}
	cmd := exec.Command(o.Sensor[0], args...)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return t, err
	}
	if err := cmd.Start(); err != nil {
		return t, fmt.Errorf("starting the sensor: %w", err)
	}
	events := make(chan sensorEvent, 64)
	var log []string
	go func() {
		defer close(events)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			var e sensorEvent
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				log = append(log, sc.Text()) // the final error line is plain
				continue
			}
			events <- e
		}
	}()
	fail := func(err error) (Trial, error) {
		cmd.Process.Signal(os.Interrupt)
		for range events {
		}
		cmd.Wait()
		return t, fmt.Errorf("%w%s", err, strings.Join(append([]string{""}, log...), "\n"))
	}
	for ready := false; !ready; {
		select {
		case e, ok := <-events:
			if !ok {
				return fail(fmt.Errorf("the sensor on %s ended before capturing", o.RX))
			}
			ready = e.Msg == "capturing"
		case <-time.After(10 * time.Second):
			return fail(fmt.Errorf("the sensor on %s was not capturing after 10 s", o.RX))
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
	// The sockets' fill rings are filled right after the capturing event.
	time.Sleep(200 * time.Millisecond)
	_, txd0, err := snd.txCounters()
	if err != nil {
		return fail(err)
	}
	sent, took, err := snd.send(o.Frames, rate)
	t.Sent = sent
	t.Rate = float64(sent) / took.Seconds()
	if err != nil {
		return fail(err)
	}
	_, txd1, _ := snd.txCounters()
	t.TxDropped = txd1 - txd0
	// Let the last frames through the rings before stopping.
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	ended := false
	for e := range events {
		switch e.Msg {
		case "queue counters":
			t.Seen += e.Seen + e.Packets
			t.Passed += e.Passed
			t.RxDropped += e.RxDroppedJ + e.Drops
			t.RingFull += e.RingFullJ
			t.FillEmpty += e.FillEmptyJ
			t.Invalid += e.Invalid
			t.Received += e.Received
		case "capture ended":
			t.NICDrops, t.RecordDrops, ended = e.NICDropsJ, e.RingDroppedJ, true
		}
	}
	if err := cmd.Wait(); err != nil || !ended {
		return t, fmt.Errorf("the sensor on %s: %v%s", o.RX, err, strings.Join(append([]string{""}, log...), "\n"))
	}
	return t, nil
}

// Run runs the trials (one, or a search) and reports each to w as it ends. It returns
// the trials and the zero-loss rate found (0 if every trial lost frames).
func Run(ctx context.Context, o *Options, w io.Writer, warn func(string)) ([]Trial, float64, error) {
	rxIf, err := net.InterfaceByName(o.RX)
	if err != nil {
		return nil, 0, cli.Usagef("bench loss: --rx %s: %v", o.RX, err)
	}
	snd, err := newSender(o.TX, o.Netns, o.Size, rxIf.HardwareAddr)
	if err != nil {
		return nil, 0, cli.Usagef("bench loss: %v", err)
	}
	defer snd.close()
	fmt.Fprintf(w, "%-5s %12s %12s %10s %10s %8s %s\n", "trial", "requested/s", "sent/s", "sent", "received", "loss%", "where lost")
	var trials []Trial
	var best float64 // highest rate without loss
	trial := func(rate float64) (*Trial, error) {
		t, err := runTrial(ctx, o, snd, rate, warn)
		if err != nil {
			return nil, err
		}
		trials = append(trials, t)
		req := "max"
		if rate > 0 {
			req = strconv.FormatFloat(rate, 'f', 0, 64)
		}
		fmt.Fprintf(w, "%-5d %12s %12.0f %10d %10d %8.4f %s\n", len(trials), req, t.Rate, t.Sent, t.Received,
			100*float64(t.Lost())/float64(max(t.Sent, 1)), t.Where())
		if t.Lost() == 0 && t.Rate > best {
			best = t.Rate
		}
		return &trials[len(trials)-1], ctx.Err()
	}
	t, err := trial(o.Rate)
	if err != nil {
		return trials, best, err
	}
	if !o.Search && o.Rate > 0 {
		return trials, best, nil
	}
	lo, hi := 0.0, 0.0
	if t.Lost() > 0 {
		hi = t.Rate
	} else {
		// Step up: double the rate until frames are lost or the generator cannot go
		// faster (it reached less than 90% of the rate asked for).
		lo = t.Rate
		for rate := 2 * t.Rate; o.Rate > 0; rate *= 2 {
			t, err = trial(rate)
			if err != nil {
				return trials, best, err
			}
			if t.Lost() > 0 {
				hi = t.Rate
				break
			}
			lo = t.Rate
			if t.Rate < 0.9*rate {
				break
			}
		}
	}
	for i := 0; hi > 0 && i < o.Iterations; i++ {
		mid := (lo + hi) / 2
		t, err = trial(mid)
		if err != nil {
			return trials, best, err
		}
		if t.Lost() > 0 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return trials, best, nil
}

// BenchMain is `panoptes bench loss [flags]`.
func BenchMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "loss" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "usage: panoptes bench loss [flags] (panoptes bench loss -h)")
			return cli.ErrHelp
		}
		return cli.Usagef("bench: want `panoptes bench loss [flags]`")
	}
	fs := cli.NewFlagSet("bench loss", "--rx IFACE (--tx IFACE | --netns NAME --tx IFACE) | --demo  [flags]", stderr)
	var o Options
	fs.StringVar(&o.RX, "rx", "", "capture on this interface (the sensor's side)")
	fs.StringVar(&o.TX, "tx", "", "send from this interface (linked to --rx: a cable, a veth peer)")
	fs.StringVar(&o.Netns, "netns", "", "--tx is in this network namespace (ip netns)")
	rate := fs.String("rate", "max", "frames/s per trial, or max (as fast as the generator goes)")
	fs.BoolVar(&o.Search, "search", false, "with --rate R: double the rate from R until frames are lost, then bisect (--rate max searches whenever frames are lost)")
	fs.Uint64Var(&o.Frames, "frames", 1000000, "frames per trial")
	fs.IntVar(&o.Size, "size", 64, "frame size in bytes with FCS (64: 60 bytes sent)")
	mode := fs.String("mode", "xdp", "capture path: xdp or afpacket")
	fs.IntVar(&o.Queues, "queues", 0, "RX queues to capture (0: all; afpacket: fanout members, default one per CPU)")
	fs.IntVar(&o.Iterations, "iterations", 5, "bisection trials of the search")
	fs.IntVar(&o.XDP.RingSize, "ring-size", 8192, "AF_XDP fill and RX ring entries per queue")
	fs.IntVar(&o.XDP.Frames, "umem-frames", 16384, "UMEM frames per queue")
	demo := fs.Bool("demo", false, "create a veth pair (the sending end in a new network namespace) for the run, and remove it after")
	demoQueues := fs.Int("demo-queues", 1, "queues of the --demo veth pair")
	rest, err := cli.Parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return cli.Usagef("bench loss: unexpected argument %q", rest[0])
	}
	if *rate != "max" {
		r, err := strconv.ParseFloat(*rate, 64)
		if err != nil || r <= 0 {
			return cli.Usagef("bench loss: --rate %q: want frames per second or max", *rate)
		}
		o.Rate = r
	}
	switch *mode {
	case "xdp":
	case "afpacket":
		o.AFPacket = true
	default:
		return cli.Usagef("bench loss: --mode %q: want xdp or afpacket", *mode)
	}
	// The sensor checks its own flags again; these fail here, before a veth pair is
	// made or a sensor started.
	if err := cli.FirstError(
		cli.IntRange("--frames", o.Frames, 1, 1<<40),
		cli.IntRange("--size", o.Size, 64, 1518),
		cli.IntRange("--iterations", o.Iterations, 0, 64),
		cli.IntRange("--queues", o.Queues, 0, 1024),
		cli.IntRange("--demo-queues", *demoQueues, 1, 256),
		cli.IntRange("--umem-frames", o.XDP.Frames, 1, 1<<18),
		cli.IntRange("--ring-size", o.XDP.RingSize, 1, 1<<18),
	); err != nil {
		return err
	}
	o.Size -= 4 // the FCS is the NIC's
	o.XDP.HWTS = "off"
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *demo {
		if o.RX != "" || o.TX != "" || o.Netns != "" {
			return cli.Usagef("bench loss: --demo creates its own interfaces: leave out --rx, --tx, --netns")
		}
		cleanup, err := demoPair(&o, *demoQueues)
		if err != nil {
			return err
		}
		defer cleanup()
	}
	if o.RX == "" || o.TX == "" {
		return cli.Usagef("bench loss: give --rx IFACE and --tx IFACE (with --netns NAME if it is in a namespace), or --demo")
	}
	warn := func(s string) { fmt.Fprintf(stderr, "panoptes bench loss: %s\n", s) }
	if o.Sensor == nil {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		o.Sensor = []string{self, "sensor"}
	}
	trials, best, err := Run(ctx, &o, stdout, warn)
	if err != nil {
		return err
	}
	path := "xdp"
	if o.AFPacket {
		path = "afpacket"
	}
	var maxRate float64
	for _, t := range trials {
		maxRate = max(maxRate, t.Rate)
	}
	switch {
	case best == 0:
		fmt.Fprintf(stdout, "zero-loss rate: none found (every trial lost frames; lowest tried %.0f frames/s)\n", trials[len(trials)-1].Rate)
	case best >= maxRate*0.99 && (o.Rate == 0 || o.Search):
		fmt.Fprintf(stdout, "zero-loss rate: at least %.0f frames/s (%d-byte frames, %s on %s): no loss at the generator's highest rate, a lower bound\n", best, o.Size+4, path, o.RX)
	default:
		fmt.Fprintf(stdout, "zero-loss rate: %.0f frames/s (%d-byte frames, %s on %s)\n", best, o.Size+4, path, o.RX)
	}
	return nil
}

// demoPair creates a veth pair whose sending end is in a new network namespace, sets
// o to use it, and returns the function removing both.
func demoPair(o *Options, queues int) (func(), error) {
	id := os.Getpid() % 100000
	ns, rx, tx := fmt.Sprintf("pnbloss%d", id), fmt.Sprintf("pnblrx%d", id), fmt.Sprintf("pnbltx%d", id)
	cleanup := func() {
		exec.Command("ip", "link", "del", rx).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	}
	q := strconv.Itoa(queues)
	for _, c := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", rx, "numtxqueues", q, "numrxqueues", q, "type", "veth", "peer", "name", tx, "numtxqueues", q, "numrxqueues", q, "netns", ns},
		{"sysctl", "-qw", "net.ipv6.conf." + rx + ".disable_ipv6=1"},
		{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf." + tx + ".disable_ipv6=1"},
		{"ip", "link", "set", rx, "up"},
		{"ip", "-n", ns, "link", "set", tx, "up"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			cleanup()
			return nil, fmt.Errorf("bench loss --demo: %s: %v: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out)))
		}
	}
	o.RX, o.TX, o.Netns = rx, tx, ns
	return cleanup, nil
}
