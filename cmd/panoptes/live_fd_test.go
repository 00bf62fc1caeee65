package main

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/recordsvc"
)

// TestServiceDescriptorLimit: a relay writing an archive, run with `ulimit -n 128`,
// while 200 idle clients connect to its -P. The clients it has no descriptors for are
// answered "busy" and counted; the archive still gets every record and the relay exits
// 0. Before the fix the clients took every descriptor: dials hung unanswered, and the
// archive failed with "too many open files" (as 400 clients under `ulimit -n 200`
// left 0 of 3,786 records in the archive, exit 2).
func TestServiceDescriptorLimit(t *testing.T) {
	bin := binarytest.Build(t)
	flows := importCapture(t, "get.pcap", "dns.pcap", "icmp.pcap", "http_ipv6.pcap")
	upstream := binarytest.Start(t, bin, "relay", "-r", flows, "-P", "0", "--wait-clients", "2")
	upAddr := upstream.WaitStderr(binarytest.ServingRE, 10*time.Second)[1]
	archive := filepath.Join(t.TempDir(), "archive") + "/"
	down := binarytest.Start(t, "sh", "-c", `ulimit -n 128 && exec "$0" relay -S "$1" -P 0 -w "$2"`, bin, upAddr, archive)
	downAddr := down.WaitStderr(binarytest.ServingRE, 10*time.Second)[1]
	down.WaitStderr(regexp.MustCompile(`upstream \S+: connected`), 10*time.Second)

	var mu sync.Mutex
	var idle []*recordsvc.Stream
	busy, other := 0, []error{}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := recordsvc.Dial(context.Background(), downAddr, "man", recordsvc.DialConfig{Timeout: 5 * time.Second})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				idle = append(idle, s)
			case errors.Is(err, recordsvc.ErrBusy):
				busy++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, s := range idle {
			s.Close()
		}
	}()
	t.Logf("%d idle clients served, %d busy, %d other errors", len(idle), busy, len(other))

	// The test's own client to the upstream starts the replay.
	trigger, err := recordsvc.Dial(context.Background(), upAddr, "", recordsvc.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer trigger.Close()
	if code := upstream.Wait(15 * time.Second); code != 0 {
		t.Fatalf("upstream: exit %d", code)
	}
	down.WaitStderr(regexp.MustCompile(`ended its stream after \d+ records`), 15*time.Second)
	code := down.Interrupt(15 * time.Second)
	if len(other) > 0 || busy == 0 || code != 0 {
		t.Fatalf("relay exit %d; %d clients served, %d busy, %d failed otherwise (first: %v); want exit 0, busy refusals only",
			code, len(idle), busy, len(other), errors.Join(other...))
	}
	got := filepath.Join(t.TempDir(), "got.pnp")
	if _, errs, code := panoptes(t, nil, "read", "-R", archive, "-w", got); code != 0 {
		t.Fatalf("read -R: exit %d: %s", code, errs)
	}
	// The archive returns records in time order, the file has them in capture order.
	gotRecs, wantRecs := binarytest.Records(t, got), binarytest.Records(t, flows)
	slices.Sort(gotRecs)
	slices.Sort(wantRecs)
	binarytest.Same(t, "archive under ulimit -n 128", gotRecs, wantRecs)
	if !regexp.MustCompile(`[1-9]\d* clients refused`).MatchString(down.Stderr()) {
		t.Errorf("the refusals are not in the exit summary:\n%s", down.Stderr())
	}
}
