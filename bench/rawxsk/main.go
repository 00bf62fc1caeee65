// Command rawxsk is the raw AF_XDP receive ceiling for bench/loss.sh: the same XDP
// program, sockets and ring sizes as `panoptes sensor`, but the frames are only touched
// (one byte read) and given back — no decoding, no flow table, no records. The rate it
// sustains without loss is what any AF_XDP consumer on this machine can reach; panoptes'
// zero-loss rate is compared with it.
//
//	rawxsk -i IFACE [--queues N] [--xdp-mode auto|native|generic] [--ring-size N] [--umem-frames N]
//
// It runs until SIGINT or SIGTERM, then prints a totals line in the layout of
// `panoptes sensor`'s exit table (seen received passed rx_dropped ring_full fill_empty
// invalid meta_err) and the CPU time it used.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"panoptes/capture"
	"panoptes/xdp"
)

func main() {
	iface := pflag.StringP("interface", "i", "", "capture `IFACE`")
	queues := pflag.Int("queues", 0, "sockets for queues 0..N-1 (0: every RX queue)")
	mode := pflag.String("xdp-mode", "auto", "auto|native|generic")
	ring := pflag.Int("ring-size", 0, "fill and RX ring entries (0: the sensor's default)")
	frames := pflag.Int("umem-frames", 0, "UMEM frames per socket (0: the sensor's default)")
	pflag.Parse()
	if *iface == "" {
		fmt.Fprintln(os.Stderr, "rawxsk: give -i IFACE")
		os.Exit(2)
	}
	c, err := xdp.Open(xdp.Config{Interface: *iface, Queues: *queues, Mode: xdp.Mode(*mode), HWTS: "off", RingSize: *ring, Frames: *frames},
		func(s string) { fmt.Fprintln(os.Stderr, "rawxsk:", s) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawxsk:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "rawxsk: %s attached (%s mode, %d queues)\n", *iface, c.Mode, len(c.Queues))
	var stop atomic.Bool
	var wg sync.WaitGroup
	sums := make([]uint64, len(c.Queues))
	for i, q := range c.Queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			var sum uint64
			for !stop.Load() {
				n, err := q.Receive(50 * time.Millisecond)
				if err != nil {
					fmt.Fprintln(os.Stderr, "rawxsk:", err)
					return
				}
				if n == 0 {
					continue
				}
				descs := q.Batch(n)
				for _, d := range descs {
					if f := q.Frame(d); len(f.Data) > 0 {
						sum += uint64(f.Data[len(f.Data)-1])
					}
				}
				q.Release(descs)
			}
			sums[i] = sum
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	stop.Store(true)
	wg.Wait()
	qc, err := c.Counters()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawxsk:", err)
	}
	capture.WriteTable(os.Stderr, "rawxsk receiver:", qc)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(os.Stderr, "rawxsk: cpu user %.3f s sys %.3f s (checksum %d)\n", tv(ru.Utime), tv(ru.Stime), sumAll(sums))
	c.Close()
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func sumAll(s []uint64) (t uint64) {
	for _, v := range s {
		t += v
	}
	return t
}
