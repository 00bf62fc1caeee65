package recordsvc

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"panoptes/argus"
	"panoptes/record"
)

// argusReader reads an Argus stream in the background, keeping the flow records' seqs.
type argusReader struct {
	seqs []uint32
	man  int
	err  error
	n    atomic.Int64 // flow records read so far
	done chan struct{}
}

func (rd *argusReader) run(s *argus.Stream) {
	defer close(rd.done)
	var r record.Record
	for {
		if err := s.Read(&r); err != nil {
			if err != io.EOF {
				rd.err = err
			}
			return
		}
		if r.Kind == record.KindMan {
			rd.man++
			continue
		}
		rd.seqs = append(rd.seqs, r.Seq)
		rd.n.Store(int64(len(rd.seqs)))
	}
}

// TestArgusStalledClient is TestStalledClient for Argus clients (argus.Dial, as ra
// connects): two reading clients with filters get every record they selected, in
// order; one that reads nothing while records flow gets what was queued for it, and
// what it missed is counted in the server's Stats (Argus's protocol has no drop
// notice).
func TestArgusStalledClient(t *testing.T) {
	srv, err := ListenArgus("127.0.0.1:0", Config{ClientBuffer: 64 << 10, Logf: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	ctx := context.Background()
	dial := func(flt string) (*argus.Stream, *argusReader) {
		s, err := argus.Dial(ctx, addr, flt, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, &argusReader{done: make(chan struct{})}
	}
	tcpS, tcpR := dial("tcp")
	udpS, udpR := dial("udp and dst port 53")
	allS, allR := dial("")
	go tcpR.run(tcpS)
	go udpR.run(udpS)
	waitFor(t, "three clients", func() bool { return srv.Clients() == 3 })

	const total = 100_000 // ~10 MB of FARs: more than the stalled client's buffers and queue
	for i := 0; i < total; i++ {
		r := mkrec(i)
		srv.Publish(&r)
		if i%400 == 399 { // FARs are about twice the size of Panoptes's records
			want := int64(i+1) / 2
			waitFor(t, "readers to catch up", func() bool { return tcpR.n.Load() >= want && udpR.n.Load() >= want })
		}
	}
	closed := make(chan error)
	go func() { closed <- srv.Close(20 * time.Second) }()
	go allR.run(allS)
	for _, rd := range []*argusReader{tcpR, udpR, allR} {
		<-rd.done
		if rd.err != nil {
			t.Fatalf("reader: %v", rd.err)
		}
		if rd.man != 1 {
			t.Errorf("%d management records, want the greeting's MAR alone", rd.man)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for name, rd := range map[string]*argusReader{"tcp": tcpR, "udp": udpR} {
		if len(rd.seqs) != total/2 {
			t.Fatalf("%s client: %d records, want %d", name, len(rd.seqs), total/2)
		}
		for k, s := range rd.seqs {
			if want := uint32(2 * k); name == "udp" && s != want+1 || name == "tcp" && s != want {
				t.Fatalf("%s client: record %d has seq %d", name, k, s)
			}
		}
	}
	got, dropped := uint64(len(allR.seqs)), srv.Stats().Dropped
	if dropped == 0 || got+dropped != total {
		t.Fatalf("stalled client: %d records + %d counted dropped, want a drop and %d in all", got, dropped, total)
	}
	if st := srv.Stats().Summary(); !strings.HasPrefix(st, "--argus-port: ") {
		t.Errorf("summary %q does not name --argus-port", st)
	}
	t.Logf("stalled client: %d records, %d dropped", got, dropped)
}

// TestArgusBadFilterRefused: a filter the server cannot compile is answered "ER" (ra
// then gives up), counted as refused, and the client is not served.
func TestArgusBadFilterRefused(t *testing.T) {
	srv, err := ListenArgus("127.0.0.1:0", Config{Logf: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(time.Second)
	_, err = argus.Dial(context.Background(), srv.Addr().String(), "tcp and foo 1", 0)
	var ref *argus.RefusedError
	if !errors.As(err, &ref) || ref.Filter != "tcp and foo 1" {
		t.Fatalf("got %v, want a refusal of the filter", err)
	}
	if st := srv.Stats(); st.Refused != 1 || st.Clients != 0 {
		t.Fatalf("stats %+v after a refused filter, want 1 refused and no client", st)
	}
}

// TestArgusRejectsPanoptesClient: a Panoptes client (recordsvc.Dial) reaching an Argus
// service, and an Argus client reaching a Panoptes one, each fail with an error that
// says what is at the other end.
func TestArgusRejectsPanoptesClient(t *testing.T) {
	asrv, err := ListenArgus("127.0.0.1:0", Config{Logf: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer asrv.Close(time.Second)
	psrv, err := Listen("127.0.0.1:0", Config{Logf: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer psrv.Close(time.Second)
	ctx := context.Background()
	if _, err := Dial(ctx, asrv.Addr().String(), "", DialConfig{Timeout: 2 * time.Second}); err == nil {
		t.Fatal("a Panoptes client was served by the Argus service")
	}
	_, err = argus.Dial(ctx, psrv.Addr().String(), "", 2*time.Second)
	if !errors.Is(err, argus.ErrNotServer) && (err == nil || !strings.Contains(err.Error(), "greeting")) {
		t.Fatalf("an Argus client of a Panoptes service: %v", err)
	}
	waitFor(t, "the refusals counted", func() bool { return asrv.Stats().Refused == 1 })
}

// FuzzArgusCommands checks parseArgusCommands on any bytes: it never panics, and what
// it accepts is a list of known commands whose arguments hold no command name, which
// written back out (name, argument) parse to the same list.
func FuzzArgusCommands(f *testing.F) {
	for _, s := range []string{"FILTER: man or (tcp)", "START: ", "DONE: ", "FILTER: udpSTART: ", "MODEL: x FILE: y", "\x00\x01", "PANO", "START: START: "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cmds, err := parseArgusCommands(in)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(in, "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		var out strings.Builder
		for _, c := range cmds {
			known := false
			for _, n := range argusCommands {
				known = known || c.name == n
				if strings.Contains(c.arg, n) {
					t.Fatalf("argument %q holds the command %q", c.arg, n)
				}
			}
			if !known {
				t.Fatalf("unknown command %q", c.name)
			}
			out.WriteString(c.name + c.arg + "\n")
		}
		again, err := parseArgusCommands(out.String())
		if err != nil || len(again) != len(cmds) {
			t.Fatalf("%q parsed to %v; written back %q parses to %v, %v", in, cmds, out.String(), again, err)
		}
		for i := range cmds {
			if again[i] != cmds[i] {
				t.Fatalf("%q parsed to %v; written back %q parses to %v", in, cmds, out.String(), again)
			}
		}
	})
}

// BenchmarkServeArgusRecords is BenchmarkServeRecords for an Argus service: records/s
// from Publish through the Argus encoding, loopback TCP and argus.Stream's decoder.
func BenchmarkServeArgusRecords(b *testing.B) {
	b.ReportAllocs()
	srv, err := ListenArgus("127.0.0.1:0", Config{ClientBuffer: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	s, err := argus.Dial(context.Background(), srv.Addr().String(), "", 0)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan uint64)
	go func() {
		var r record.Record
		var n uint64
		for s.Read(&r) == nil {
			if r.Kind != record.KindMan {
				n++
			}
		}
		done <- n
	}()
	for srv.Clients() != 1 {
		time.Sleep(time.Millisecond)
	}
	recs := make([]record.Record, 1024)
	for i := range recs {
		recs[i] = mkrec(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srv.Publish(&recs[i%len(recs)])
		if i%4096 == 4095 {
			for queued(srv) > 8<<20 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	srv.Close(time.Minute)
	n := <-done
	b.StopTimer()
	// Records the fan-out could not offer (the publisher outran it) are counted apart.
	if st := srv.Stats(); n+st.Dropped+st.Unoffered != uint64(b.N) {
		b.Fatalf("%d records received + %d dropped + %d not offered, want %d", n, st.Dropped, st.Unoffered, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
