package sensor

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"panoptes/internal/binarytest"
	"panoptes/internal/cli"
	"panoptes/internal/liveout"
	"panoptes/metrics"
	"panoptes/record"
)

// scrape fetches and parses /metrics.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	return parseMetrics(t, body)
}

func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// gather writes an exporter's metrics as /metrics serves them, and parses them.
func gather(t *testing.T, e metrics.Exporter) map[string]*dto.MetricFamily {
	t.Helper()
	var b bytes.Buffer
	if err := metrics.WriteText(&b, e); err != nil {
		t.Fatal(err)
	}
	return parseMetrics(t, b.Bytes())
}

// sum adds a family's samples whose labels include want.
func sum(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	var total float64
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		}
	}
	return total
}

// TestSensorMetrics runs `panoptes sensor` (its Main, with a configuration file that the
// command line overrides) on a veth pair in both capture modes, replays a known number
// of packets, scrapes /metrics while it runs and checks the numbers against what was
// sent; then checks the logfmt lines it wrote.
func TestSensorMetrics(t *testing.T) {
	requireLive(t)
	for _, tc := range []struct {
		mode    string
		archive bool
	}{{"xdp", true}, {"afpacket", false}} {
		t.Run(tc.mode, func(t *testing.T) {
			v := newVeth(t, 2)
			dir := t.TempDir()
			out := filepath.Join(dir, "out.pnp")
			if tc.archive {
				out = filepath.Join(dir, "archive") + "/"
			}
			conf := filepath.Join(dir, "sensor.conf")
			// interface is overridden by -i on the command line.
			os.WriteFile(conf, []byte(fmt.Sprintf("# test\ninterface = nosuchif0\nmode = %s\nmetrics = 127.0.0.1:0\nlog-format = logfmt\nstatus-interval = 1s\nqueues = 2\n", tc.mode)), 0o644)
			var stderr binarytest.SyncBuffer
			done := make(chan error, 1)
			go func() {
				done <- SensorMain([]string{"--config", conf, "-i", v.Here, "-w", out, "--duration", "5s"}, nil, io.Discard, &stderr)
			}()
			addrRe := regexp.MustCompile(`metrics at http://([0-9.:]+)/metrics`)
			var addr string
			for deadline := time.Now().Add(5 * time.Second); ; {
				s := stderr.String()
				if m := addrRe.FindStringSubmatch(s); m != nil && strings.Contains(s, "msg=capturing") {
					addr = m[1]
					break
				}
				select {
				case err := <-done:
					t.Fatalf("sensor ended before capturing: %v\n%s", err, stderr.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("no capturing line and metrics address after 5 s:\n%s", stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			const flows, loops = 32, 5
			replay(t, v, "--loop", fmt.Sprint(loops), manyFlows(t, flows))
			sent := float64(flows * 4 * loops)
			var fams map[string]*dto.MetricFamily
			for deadline := time.Now().Add(3 * time.Second); ; {
				fams = scrape(t, addr)
				if sum(fams, "panoptes_packets_total") >= sent && sum(fams, "panoptes_records_written_total") > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			drops := sum(fams, "panoptes_drops_total", "cause", "socket_rx_dropped") + sum(fams, "panoptes_drops_total", "cause", "socket_ring_full") +
				sum(fams, "panoptes_drops_total", "cause", "afpacket_ring_full")
			checks := []struct {
				what      string
				got, want float64
			}{
				{"capture_up", sum(fams, "panoptes_capture_up"), 1},
				{"packets decoded + socket drops", sum(fams, "panoptes_packets_total") + drops, sent},
				{"frames seen by XDP / the socket", max(0, sum(fams, "panoptes_xdp_seen_total")) + max(0, sum(fams, "panoptes_afpacket_packets_total")), sent},
				{"received + dropped", sum(fams, "panoptes_socket_received_total") + drops, sent},
				{"bytes (replayed sizes)", sum(fams, "panoptes_bytes_total"), float64(loops * bytesOfManyFlows(flows))},
				{"flows in the tables", sum(fams, "panoptes_flow_table_flows"), flows},
				{"record ring full", sum(fams, "panoptes_drops_total", "cause", "record_ring_full"), 0},
				{"evictions", sum(fams, "panoptes_evictions_total"), 0},
				{"queues reported", float64(len(fams["panoptes_packets_total"].GetMetric())), 2},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
				}
			}
			if w := sum(fams, "panoptes_records_written_total"); w <= 0 {
				t.Errorf("records written %v after a 1 s status interval, want > 0", w)
			}
			if tc.archive {
				if a := sum(fams, "panoptes_archive_size_bytes"); a <= 0 {
					t.Errorf("archive size %v, want > 0", a)
				}
			}
			for name, typ := range map[string]dto.MetricType{"panoptes_packets_total": dto.MetricType_COUNTER, "panoptes_drops_total": dto.MetricType_COUNTER,
				"panoptes_flow_table_flows": dto.MetricType_GAUGE, "panoptes_record_ring_occupancy": dto.MetricType_GAUGE} {
				f := fams[name]
				if f == nil || f.GetType() != typ || f.GetHelp() == "" {
					t.Errorf("%s: missing, not a %v, or without HELP: %v", name, typ, f)
				}
			}
			if err := <-done; err != nil {
				t.Fatalf("sensor: %v\n%s", err, stderr.String())
			}
			log := stderr.String()
			for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
				if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=") || !strings.Contains(line, " msg=") {
					t.Errorf("not a logfmt line: %q", line)
				}
			}
			for _, want := range []string{"level=INFO msg=capturing cmd=sensor iface=" + v.Here, `msg="queue counters"`, `msg="capture ended"`} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
		})
	}
}

// bytesOfManyFlows is the wire bytes of one replay of manyFlows(n).
func bytesOfManyFlows(n int) int {
	total := 0
	for i := 0; i < n; i++ {
		total += 2 * ((14 + 20 + 8 + 40 + i%50) + (14 + 20 + 8 + 100 + i%70))
	}
	return total
}

// TestSensorConfigErrors checks that configuration mistakes are one usage error naming
// the file and line, before anything is opened.
func TestSensorConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ conf, want string }{
		{"interface = eth0\nbogus = 1\n", "sensor.conf:2: unknown key \"bogus\""},
		{"# c\n\nqueues = all\nstatus-interval = soon\n", "sensor.conf:4: status-interval = soon"},
		{"reshard = maybe\n", "sensor.conf:1: reshard = maybe"},
		{"interface eth0\n", "sensor.conf:1: want KEY = VALUE"},
		{"write = a\nwrite = b\n", "sensor.conf:2: write is already set on line 1"},
		{"filter = \"tcp\n", "sensor.conf:1: filter: bad quoted value"},
		{"log-format = xml\ninterface = lo\nwrite = -\n", "--log-format \"xml\""},
	} {
		conf := filepath.Join(dir, "sensor.conf")
		os.WriteFile(conf, []byte(tc.conf), 0o644)
		var stderr bytes.Buffer
		err := SensorMain([]string{"--config", conf}, nil, io.Discard, &stderr)
		if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want exit 2 and %q", tc.conf, err, tc.want)
		}
	}
	err := SensorMain([]string{"--config", filepath.Join(dir, "missing.conf"), "-i", "lo", "-w", "-"}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing.conf") || cli.ExitCode(err) != cli.ExitUsage {
		t.Errorf("missing --config file: %v", err)
	}
}

// TestServiceLogLevels checks that the record services' addresses are logged at INFO
// (they were WARN, so a log shipper alerting on warnings fired at every start) and
// warnings still at WARN.
func TestServiceLogLevels(t *testing.T) {
	var b strings.Builder
	format := "logfmt"
	o := &sensorOps{logFormat: &format}
	warn, err := o.logger(&b, []string{"eth1"})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	w, _ := record.NewWriter(&file)
	f := serveFlags{Flags: liveout.Flags{Port: "0", ArgusPort: "0", Listen: "127.0.0.1", ClientBuffer: 1 << 20, MaxClients: 8, QueueMemory: 64 << 20}}
	logf := func(format string, args ...any) { warn(fmt.Sprintf(format, args...)) }
	sink, err := f.wrap(record.WithClose(w, w.Flush), logf, o.infoLog(warn))
	if err != nil {
		t.Fatal(err)
	}
	logf("warning: %s", "slow client")
	sink.Close()
	log := b.String()
	for _, re := range []string{`level=INFO msg="serving records on 127\.0\.0\.1:\d+"`, `level=INFO msg="serving Argus clients on 127\.0\.0\.1:\d+"`, `level=WARN msg="warning: slow client"`} {
		if !regexp.MustCompile(re).MatchString(log) {
			t.Errorf("log lacks %s:\n%s", re, log)
		}
	}
}
