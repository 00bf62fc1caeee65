package relay

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"panoptes/internal/binarytest"
	"panoptes/natsstream"
)

// publish publishes records from..to-1 to url.
func publish(t *testing.T, url string, from, to int) {
	t.Helper()
	tg, err := natsstream.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	p, err := natsstream.NewPublisher(context.Background(), tg, natsstream.PublisherOptions{Logf: t.Logf})
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
}

// TestRelayFleetService: a relay set up as a service (everything in its --config
// file, logfmt lines, metrics) subscribes to two sites with wildcards, each with its
// own durable consumer, and archives both; the metrics count the records per
// subscription and show no lag once it has caught up. Before issue #15 a wildcard
// subject was refused and a second --subscribe replaced the first.
func TestRelayFleetService(t *testing.T) {
	nats := "nats://" + binarytest.NATSServer(t)
	publish(t, nats+"/panoptes.berlin.tap1", 0, 1500)
	publish(t, nats+"/panoptes.berlin.tap2", 1500, 2000)
	publish(t, nats+"/panoptes.paris.tap1", 2000, 2700)
	publish(t, nats+"/panoptes.rome.tap1", 2700, 3000) // not subscribed to

	dir := t.TempDir()
	out := filepath.Join(dir, "fleet.pnp")
	conf := filepath.Join(dir, "relay.conf")
	os.WriteFile(conf, []byte(`# the relay of an archive host
subscribe = `+nats+`/panoptes.berlin.*?durable=berlin
subscribe = `+nats+`/panoptes.paris.>?durable=paris
write = `+out+`
log-format = logfmt
metrics = 127.0.0.1:0
filter = "tcp or udp"
`), 0o644)
	_, stderr, stop := startRelay(t, "--config", conf)
	var metricsURL string
	waitFor(t, "the metrics address", func() bool {
		m := regexp.MustCompile(`metrics at (http://\S+/metrics)`).FindStringSubmatch(stderr.String())
		if m != nil {
			metricsURL = m[1]
		}
		return m != nil
	})
	scrape := func() string {
		resp, err := http.Get(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	berlin := `panoptes_relay_records_in_total{source="--subscribe ` + nats + `/panoptes.berlin.*?durable=berlin"} 2000`
	paris := `panoptes_relay_records_in_total{source="--subscribe ` + nats + `/panoptes.paris.>?durable=paris"} 700`
	var m string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if m = scrape(); strings.Contains(m, berlin) && strings.Contains(m, paris) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 2000 + 700 records in:\n%s\nlog:\n%s", m, stderr)
		}
	}
	waitFor(t, "the archive counter", func() bool {
		m = scrape()
		return strings.Contains(m, `panoptes_relay_records_out_total{output="archive"} 2700`)
	})
	for _, want := range []string{
		`panoptes_relay_nats_pending_messages{subscription="` + nats + `/panoptes.berlin.*?durable=berlin"} 0`,
		`panoptes_relay_records_filtered_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := binarytest.Count(out); n != 2700 {
		t.Fatalf("archived %d records, want 2700", n)
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !regexp.MustCompile(`^time=\S+ level=(INFO|WARN) msg=.* cmd=relay$`).MatchString(l) {
			t.Errorf("not a logfmt line: %q", l)
		}
	}
}

// TestRelaySubscribeBadFlags: repeated --subscribe needs a durable consumer each;
// the log format and the filter are checked.
func TestRelaySubscribeBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--subscribe", "nats://b:1/panoptes.a.>", "--subscribe", "nats://b:1/panoptes.b.>", "-w", "x"}, "same durable consumer panoptes-relay"},
		{[]string{"--subscribe", "nats://b:1/a.>x", "-w", "x"}, "wildcard"},
		{[]string{"--subscribe", "nats://b:1?replica=3", "-w", "x"}, `unknown parameter "replica"`},
		{[]string{"-S", "x:1", "-P", "0", "--log-format", "xml"}, "--log-format"},
		{[]string{"-S", "x:1", "-P", "0", "--filter", "udp", "--", "tcp"}, "--filter"},
		{[]string{"-S", "x:1", "-P", "0", "--config", "/nonexistent/relay.conf"}, "--config"},
		{[]string{"-S", "x:1", "--publish", "nats://b:1/panoptes.*.x"}, "wildcard"},
	} {
		err := Main(tc.args, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line with %q", tc.args, err, tc.want)
		}
	}
}
