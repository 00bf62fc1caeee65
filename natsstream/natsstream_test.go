package natsstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"panoptes/internal/peer"
	"panoptes/record"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Target
		bad  bool
	}{
		{in: "nats://127.0.0.1:4222", want: Target{URL: "nats://127.0.0.1:4222", Durable: DefaultDurable}},
		{in: "nats://broker:4222/site1.records?stream=SITE1&durable=archiver", want: Target{URL: "nats://broker:4222", Subject: "site1.records", Stream: "SITE1", Durable: "archiver"}},
		// Wildcards are a consumer's (NewPublisher refuses them).
		{in: "nats://b:1/panoptes.>", want: Target{URL: "nats://b:1", Subject: "panoptes.>", Durable: DefaultDurable}},
		{in: "nats://b:1/panoptes.*.tap1", want: Target{URL: "nats://b:1", Subject: "panoptes.*.tap1", Durable: DefaultDurable}},
		// Several servers, credentials, stream settings.
		{in: "nats://u:pw@h1:4222,h2:4222,h3:4222/panoptes.berlin.tap1?replicas=3&max_age=30d&max_bytes=500G&discard=old",
			want: Target{URL: "nats://u:pw@h1:4222,h2:4222,h3:4222", Subject: "panoptes.berlin.tap1", Durable: DefaultDurable,
				Settings: StreamSettings{Replicas: 3, MaxAge: 30 * 24 * time.Hour, MaxBytes: 500 << 30, Discard: "old"}}},
		{in: "nats://b:1?max_age=36h&discard=new&max_bytes=1024", want: Target{URL: "nats://b:1", Durable: DefaultDurable,
			Settings: StreamSettings{MaxAge: 36 * time.Hour, MaxBytes: 1024, Discard: "new"}}},
		{in: "http://broker:4222", bad: true},
		{in: "nats:///x", bad: true},
		{in: "nats://b:1/a..b", bad: true},
		{in: "nats://b:1/a.b*", bad: true},
		{in: "nats://b:1/a.>.b", bad: true},
		{in: "nats://b:1/x?stream=A.B", bad: true},
		{in: "nats://b:1/x?replicas=0", bad: true},
		{in: "nats://b:1/x?replicas=6", bad: true},
		{in: "nats://b:1/x?max_age=soon", bad: true},
		{in: "nats://b:1/x?max_bytes=-1", bad: true},
		{in: "nats://b:1/x?discard=all", bad: true},
		{in: "nats://b:1/x?replica=3", bad: true}, // a typo is not ignored
		{in: "nats://b:1/x?stream=A&stream=B", bad: true},
		{in: "nats://h1:1,,h2:2/x", bad: true},
	} {
		got, err := ParseURL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: accepted as %+v", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// startNATS runs a JetStream-enabled nats-server on a free loopback port with its
// store in a temporary directory, and returns its URL.
func startNATS(t testing.TB) string {
	t.Helper()
	bin := peer.Need(t, "nats-server", "nats-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nats-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "nats://" + addr
}

func mkrec(i int) record.Record {
	return record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, SrcPort: 5353, DstPort: 53, Seq: uint32(i),
		StartTime: 1_700_000_000e9 + int64(i), LastTime: 1_700_000_001e9 + int64(i), Src: record.Side{Pkts: 1, Bytes: 80}}
}

// consumeN reads n records with the target's durable consumer and returns their seqs.
func consumeN(t *testing.T, tg Target, n int) []uint32 {
	t.Helper()
	return consumeWith(t, tg, ConsumeOptions{Logf: t.Logf}, n)
}

// consumeWith is consumeN with options.
func consumeWith(t *testing.T, tg Target, o ConsumeOptions, n int) []uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var seqs []uint32
	err := Consume(ctx, tg, o, func(r *record.Record) error {
		seqs = append(seqs, r.Seq)
		if len(seqs) == n {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) < n {
		t.Fatalf("consumed %d records, want %d", len(seqs), n)
	}
	return seqs
}

// TestPublishConsume: batches published to a stream that did not exist are consumed in
// order by a durable consumer, which resumes after the last acknowledged message.
func TestPublishConsume(t *testing.T) {
	url := startNATS(t)
	tg, err := ParseURL(url + "/test.records?durable=archiver")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		p, err := NewPublisher(context.Background(), tg, PublisherOptions{BatchRecords: 1000, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			r := mkrec(i)
			p.Write(&r)
		}
		if err := p.Close(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if p.Sent() != uint64(to-from) {
			t.Fatalf("sent %d, want %d", p.Sent(), to-from)
		}
	}
	publish(0, 2500)
	seqs := consumeN(t, tg, 2500)
	for i, s := range seqs[:2500] {
		if s != uint32(i) {
			t.Fatalf("record %d has seq %d", i, s)
		}
	}
	publish(2500, 2600)
	seqs = consumeN(t, tg, 100)
	if len(seqs) != 100 || seqs[0] != 2500 || seqs[99] != 2599 {
		t.Fatalf("after resuming: %d records from %d", len(seqs), seqs[0])
	}
}

// TestFlushEvery: a partial batch is published after FlushEvery without a Flush.
func TestFlushEvery(t *testing.T) {
	url := startNATS(t)
	tg, _ := ParseURL(url)
	p, err := NewPublisher(context.Background(), tg, PublisherOptions{FlushEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(time.Second)
	r := mkrec(7)
	p.Write(&r)
	if seqs := consumeN(t, tg, 1); seqs[0] != 7 {
		t.Fatalf("got seq %d", seqs[0])
	}
}

func TestNoServer(t *testing.T) {
	tg, _ := ParseURL("nats://127.0.0.1:1")
	if _, err := NewPublisher(context.Background(), tg, PublisherOptions{}); err == nil {
		t.Fatal("connected to nothing")
	}
}

// publishN publishes records from..to-1 to url and returns the publisher's Close error.
func publishN(t *testing.T, url string, from, to int) error {
	t.Helper()
	tg, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPublisher(context.Background(), tg, PublisherOptions{Logf: t.Logf})
	if err != nil {
		return err
	}
	for i := from; i < to; i++ {
		r := mkrec(i)
		p.Write(&r)
	}
	return p.Close(10 * time.Second)
}

// TestFleetSubjects: sensors of two sites publish under panoptes.SITE.SRCID into the
// one stream the first of them creates (capturing panoptes.>); a consumer of
// panoptes.> gets both, one of panoptes.berlin.* only Berlin's. Before issue #15 the
// stream was created for the first publisher's subject alone, and the second site's
// publisher failed after 10 s with "gave up waiting for acknowledgements".
func TestFleetSubjects(t *testing.T) {
	url := startNATS(t)
	if err := publishN(t, url+"/panoptes.berlin.tap1", 0, 1500); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := publishN(t, url+"/panoptes.paris.tap7", 1500, 2000); err != nil {
		t.Fatalf("second site: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second site took %v", d)
	}
	all, _ := ParseURL(url + "?durable=all") // no subject: panoptes.>
	if seqs := consumeN(t, all, 2000); len(seqs) != 2000 {
		t.Fatalf("panoptes.>: %d records", len(seqs))
	}
	berlin, _ := ParseURL(url + "/panoptes.berlin.*?durable=berlin")
	seqs := consumeN(t, berlin, 1500)
	if len(seqs) != 1500 || seqs[0] != 0 || seqs[1499] != 1499 {
		t.Fatalf("panoptes.berlin.*: %d records from %d", len(seqs), seqs[0])
	}
}

// TestSubjectNoStreamCaptures: a subject outside every stream is one error naming it,
// at once. Before issue #15 the publisher was created and its Close failed after 10 s
// ("gave up waiting for acknowledgements"), the subject not named.
func TestSubjectNoStreamCaptures(t *testing.T) {
	url := startNATS(t)
	if err := publishN(t, url+"/siteA.records", 0, 10); err != nil { // creates PANOPTES for siteA.records
		t.Fatal(err)
	}
	start := time.Now()
	err := publishN(t, url+"/siteB.records", 0, 10)
	if err == nil || !strings.Contains(err.Error(), "no stream captures subject siteB.records") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want one line naming siteB.records", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the error took %v", d)
	}
	tg, _ := ParseURL(url + "/panoptes.>")
	if _, err := NewPublisher(context.Background(), tg, PublisherOptions{}); err == nil || !strings.Contains(err.Error(), "wildcard") {
		t.Fatalf("publishing to a wildcard: %v", err)
	}
}

// TestStreamSettings: the URL's settings make the stream Panoptes creates; an
// existing stream named with stream= is used as it is (its own subjects and settings),
// with a warning naming the settings it does not have.
func TestStreamSettings(t *testing.T) {
	url := startNATS(t)
	if err := publishN(t, url+"/panoptes.a.b?max_age=36h&max_bytes=64M&discard=new", 0, 10); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if c.MaxAge != 36*time.Hour || c.MaxBytes != 64<<20 || c.Discard != jetstream.DiscardNew || c.Replicas != 1 ||
		!slices.Equal(c.Subjects, []string{FleetSubjects}) || c.Duplicates != dupWindow {
		t.Fatalf("stream config %+v", c)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MINE", Subjects: []string{"mine.>"}}); err != nil {
		t.Fatal(err)
	}
	var logs []string
	tg, _ := ParseURL(url + "/mine.x?stream=MINE&max_age=1h")
	p, err := NewPublisher(ctx, tg, PublisherOptions{Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	r := mkrec(1)
	p.Write(&r)
	if err := p.Close(10 * time.Second); err != nil || p.Sent() != 1 {
		t.Fatalf("publishing into MINE: %v, %d sent", err, p.Sent())
	}
	st, _ = js.Stream(ctx, "MINE")
	if c := st.CachedInfo().Config; c.MaxAge != 0 || !slices.Equal(c.Subjects, []string{"mine.>"}) {
		t.Fatalf("MINE was changed: %+v", c)
	}
	if !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, "stream MINE exists with max_age 0s, not 1h0m0s") }) {
		t.Fatalf("no warning about max_age: %q", logs)
	}
	// A subject outside the named stream: one error naming it.
	tg, _ = ParseURL(url + "/panoptes.a.b?stream=MINE")
	if _, err := NewPublisher(ctx, tg, PublisherOptions{}); err == nil || !strings.Contains(err.Error(), "no stream captures subject panoptes.a.b: stream MINE captures mine.>") {
		t.Fatalf("got %v", err)
	}
}

func TestSubjectIn(t *testing.T) {
	for _, tc := range []struct {
		subj, pattern string
		want          bool
	}{
		{"panoptes.a.b", "panoptes.>", true},
		{"panoptes", "panoptes.>", false},
		{"panoptes.>", "panoptes.>", true},
		{"panoptes.*.b", "panoptes.>", true},
		{">", "panoptes.>", false},
		{"panoptes.a.b", "panoptes.*.b", true},
		{"panoptes.a.c", "panoptes.*.b", false},
		{"panoptes.*.b", "panoptes.a.b", false},
		{"panoptes.a.>", "panoptes.*.b", false},
		{"a.b", "a.b", true},
		{"a.b.c", "a.b", false},
		{"a", "*", true},
		{"a.b", "*", false},
	} {
		if got := SubjectIn(tc.subj, tc.pattern); got != tc.want {
			t.Errorf("SubjectIn(%q, %q) = %v", tc.subj, tc.pattern, got)
		}
	}
}

// FuzzParseURL: an accepted URL has a valid subject and names, and the target made
// from its canonical form is the same.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"nats://b:1", "nats://u:p@h1:1,h2:2/panoptes.a.>?stream=S&durable=D&replicas=3&max_age=2w&max_bytes=1G&discard=new",
		"tls://h/x.*.y", "nats://b:1/a..b", "nats://b:1?max_bytes=1e300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseURL(s)
		if err != nil {
			return
		}
		if tg.Subject != "" && checkSubject(tg.Subject) != nil || tg.Durable == "" || tg.Settings.Replicas > 5 ||
			tg.Settings.MaxAge < 0 || tg.Settings.MaxBytes < 0 {
			t.Fatalf("%q accepted as %+v", s, tg)
		}
		q := url.Values{}
		for k, v := range map[string]string{"stream": tg.Stream, "durable": tg.Durable, "discard": tg.Settings.Discard} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if tg.Settings.Replicas != 0 {
			q.Set("replicas", strconv.Itoa(tg.Settings.Replicas))
		}
		if tg.Settings.MaxAge != 0 {
			q.Set("max_age", tg.Settings.MaxAge.String())
		}
		if tg.Settings.MaxBytes != 0 {
			q.Set("max_bytes", strconv.FormatInt(tg.Settings.MaxBytes, 10))
		}
		again, err := ParseURL(tg.URL + "/" + tg.Subject + "?" + q.Encode())
		if err != nil || again != tg {
			t.Fatalf("%q: %+v, again %+v, %v", s, tg, again, err)
		}
	})
}

// FuzzDecodeMessage: the in-place message decoder gives exactly the records
// record.Reader reads from the same bytes, and fails where the reader fails.
func FuzzDecodeMessage(f *testing.F) {
	var buf bytes.Buffer
	w, _ := record.NewWriter(&buf)
	for i := range 5 {
		r := mkrec(i)
		w.Write(&r)
	}
	w.Flush()
	f.Add(buf.Bytes())
	f.Add(append(bytes.Clone(buf.Bytes()), buf.Bytes()...)) // a header again at a record boundary
	f.Add(buf.Bytes()[:buf.Len()-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var want []record.Record
		var wantErr error
		if rd, err := record.NewReader(bytes.NewReader(b), "m"); err != nil {
			wantErr = err
		} else {
			for {
				var r record.Record
				if err := rd.Read(&r); err != nil {
					if err != io.EOF {
						wantErr = err
					}
					break
				}
				want = append(want, r)
			}
		}
		var d msgDecoder
		var got []record.Record
		var rec record.Record
		err := d.decode(b, &rec, func(r *record.Record) error { got = append(got, *r); return nil })
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decode: %v; record.Reader: %v", err, wantErr)
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("decode gave %d records, record.Reader %d (or different ones)", len(got), len(want))
		}
	})
}
