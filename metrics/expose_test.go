package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type exporterFunc func(*Scrape)

func (f exporterFunc) Collect(s *Scrape) { f(s) }

// goldenSnapshot is the snapshot testdata/client_golang-v1.25.0.txt was scraped from:
// client_golang's registry and handler (ContinueOnError) with the Go and process
// collectors, at the commit before this package wrote the format itself.
func goldenSnapshot() Snapshot {
	s := snapshot(2)
	s.FlowShards = []FlowShard{{Shard: 3, Flows: 9, RecordRingLen: 2, RecordRingCap: 64, RecordRingDropped: 1}}
	s.Queues[0].Counters = append(s.Queues[0].Counters, Counter{Metric: "weird_total", Help: "a \\ b\nc \"q\"", Value: 1 << 40})
	s.Queues[1].Iface = "e\"t\\h\n2"
	return s
}

// sampleLine is a sample's name and labels: what stays of a line when the value, which
// changes from scrape to scrape for go_* and process_*, is cut.
var sampleLine = regexp.MustCompile(`^([^ {]+(\{.*\})?) (\S+)$`)

// TestSameAsClientGolang serves the golden snapshot and compares it with what
// client_golang served: every line the same, in the same order, but for the values of
// the go_* and process_* samples (the process's own state). process_start_time_seconds
// and process_network_* are left out of the comparison where /proc does not give them.
func TestSameAsClientGolang(t *testing.T) {
	golden, err := os.ReadFile("testdata/client_golang-v1.25.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	var g Gate
	g.Set(func() Snapshot { return goldenSnapshot() })
	srv, err := Serve("127.0.0.1:0", NewCollector(g.Source()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + srv.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	// The Go client asks for gzip and unzips transparently: check that it was asked.
	if !resp.Uncompressed {
		t.Error("the response was not gzipped")
	}

	var skip []string
	if _, err := os.Stat("/proc/stat"); err != nil {
		skip = append(skip, "process_start_time_seconds")
	}
	if _, err := os.Stat("/proc/self/net/netstat"); err != nil {
		skip = append(skip, "process_network_")
	}
	lines := func(b []byte) []string {
		var out []string
		for l := range strings.Lines(string(b)) {
			l = strings.TrimSuffix(l, "\n")
			if slices.ContainsFunc(skip, func(p string) bool { return strings.Contains(l, " "+p) || strings.HasPrefix(l, p) }) {
				continue
			}
			if m := sampleLine.FindStringSubmatch(l); m != nil && (strings.HasPrefix(l, "go_") || strings.HasPrefix(l, "process_")) {
				l = m[1] + " VALUE"
			}
			out = append(out, l)
		}
		return out
	}
	want, got := lines(golden), lines(body)
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Fatalf("line %d:\n got %q\nwant %q\nwhole output:\n%s", i+1, g, w, body)
		}
	}
}

// TestPlainAndGzip: a client that does not accept gzip gets the text as it is, with its
// length; one that does gets the same text gzipped.
func TestPlainAndGzip(t *testing.T) {
	h := Handler(exporterFunc(func(s *Scrape) {
		s.Add(NewDesc("x_total", "X.", CounterValue, "a"), 3, "b")
	}))
	const want = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"b\"} 3\n"
	for _, c := range []struct {
		accept string
		gzip   bool
	}{{"", false}, {"identity", false}, {"gzip", true}, {"deflate, gzip;q=0.5", true}, {"gzip;q=0", false}, {"*", true}} {
		req, _ := http.NewRequest("GET", "/metrics", nil)
		if c.accept != "" {
			req.Header.Set("Accept-Encoding", c.accept)
		}
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, req)
		body := rec.body.Bytes()
		if gz := rec.header.Get("Content-Encoding") == "gzip"; gz != c.gzip {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", c.accept, gz, c.gzip)
		} else if gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if string(body) != want {
			t.Errorf("Accept-Encoding %q: %q, want %q", c.accept, body, want)
		}
	}
}

type recorder struct {
	header http.Header
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(int)             {}

// TestFloats: the values as client_golang (expfmt) wrote them.
func TestFloats(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1: "1", -1: "-1", 100: "100", 0.25: "0.25", 1 << 20: "1.048576e+06", 1e-7: "1e-07",
		math.Inf(1): "+Inf", math.Inf(-1): "-Inf", math.NaN(): "NaN", math.MaxUint64: "1.8446744073709552e+19",
		123456: "123456", 1234567: "1.234567e+06", -0.5: "-0.5",
	} {
		if got := string(appendFloat(nil, v)); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
}

// TestErrors: samples Prometheus could not take are left out and reported; the rest
// is written.
func TestErrors(t *testing.T) {
	ok := NewDesc("ok", "Fine.", GaugeValue, "l")
	for name, add := range map[string]func(s *Scrape){
		"bad name":         func(s *Scrape) { s.Add(NewDesc("1x", "", GaugeValue), 1) },
		"bad label":        func(s *Scrape) { s.Add(NewDesc("x", "", GaugeValue, "a-b"), 1, "v") },
		"reserved label":   func(s *Scrape) { s.Add(NewDesc("x", "", GaugeValue, "__a"), 1, "v") },
		"label twice":      func(s *Scrape) { s.Add(NewDesc("x", "", GaugeValue, "a", "b", "a"), 1, "v", "w", "u") },
		"label count":      func(s *Scrape) { s.Add(ok, 1) },
		"not UTF-8":        func(s *Scrape) { s.Add(ok, 1, "\xff") },
		"same labels":      func(s *Scrape) { s.Add(ok, 2, "a") },
		"described twice":  func(s *Scrape) { s.Add(NewDesc("ok", "Other.", GaugeValue, "l"), 2, "b") },
		"typed twice":      func(s *Scrape) { s.Add(NewDesc("ok", "Fine.", CounterValue, "l"), 2, "b") },
		"quantile labeled": func(s *Scrape) { s.addSummary(NewDesc("x", "", summaryValue, "quantile"), 1, 1, nil) },
	} {
		var b bytes.Buffer
		err := WriteText(&b, exporterFunc(func(s *Scrape) {
			s.Add(ok, 1, "a")
			add(s)
		}))
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if want := "# HELP ok Fine.\n# TYPE ok gauge\nok{l=\"a\"} 1\n"; b.String() != want {
			t.Errorf("%s: wrote %q, want %q", name, b.String(), want)
		}
	}
	// The same family from two descriptions alike is one family.
	var b bytes.Buffer
	err := WriteText(&b, exporterFunc(func(s *Scrape) {
		s.Add(ok, 1, "b")
		s.Add(NewDesc("ok", "Fine.", GaugeValue, "l"), 2, "a")
	}))
	if want := "# HELP ok Fine.\n# TYPE ok gauge\nok{l=\"a\"} 2\nok{l=\"b\"} 1\n"; err != nil || b.String() != want {
		t.Errorf("two descriptions alike: %v, %q, want %q", err, b.String(), want)
	}
}

// TestSummary: a summary's quantiles in order, then _sum and _count, as Prometheus
// reads them.
func TestSummary(t *testing.T) {
	var b bytes.Buffer
	d := NewDesc("pause_seconds", "Pauses.", summaryValue)
	if err := WriteText(&b, exporterFunc(func(s *Scrape) {
		s.addSummary(d, 7, 0.5, [][2]float64{{1, 0.3}, {0, 0.01}, {0.5, 0.1}})
	})); err != nil {
		t.Fatal(err)
	}
	const want = "# HELP pause_seconds Pauses.\n# TYPE pause_seconds summary\n" +
		"pause_seconds{quantile=\"0\"} 0.01\npause_seconds{quantile=\"0.5\"} 0.1\npause_seconds{quantile=\"1\"} 0.3\n" +
		"pause_seconds_sum 0.5\npause_seconds_count 7\n"
	if b.String() != want {
		t.Fatalf("%q\nwant %q", b.String(), want)
	}
	fams := parse(t, b.Bytes())
	s := fams["pause_seconds"].GetMetric()[0].GetSummary()
	if s.GetSampleCount() != 7 || s.GetSampleSum() != 0.5 || len(s.GetQuantile()) != 3 || s.GetQuantile()[1].GetValue() != 0.1 {
		t.Errorf("parsed: %v", s)
	}
}

func parse(t testing.TB, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, text)
	}
	return fams
}

// randText is a string of runes drawn mostly from those the format escapes or quotes.
func randText(r *rand.Rand, n int) string {
	const special = "\\\"\n{},= #\t'é😀"
	sp := []rune(special)
	var b strings.Builder
	for range r.IntN(n + 1) {
		if r.IntN(2) == 0 {
			b.WriteRune(sp[r.IntN(len(sp))])
		} else {
			b.WriteRune(rune(' ' + r.IntN(95)))
		}
	}
	return b.String()
}

func randName(r *rand.Rand, colon bool) string {
	const first = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
	rest := first + "0123456789"
	if colon {
		rest += ":"
	}
	b := []byte{first[r.IntN(len(first))]}
	for range r.IntN(12) {
		b = append(b, rest[r.IntN(len(rest))])
	}
	return string(b)
}

func randValue(r *rand.Rand) float64 {
	switch r.IntN(8) {
	case 0:
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.MaxFloat64, math.SmallestNonzeroFloat64}[r.IntN(6)]
	case 1, 2:
		return float64(r.Uint64() >> r.IntN(64))
	case 3:
		return -float64(r.IntN(1000))
	}
	return math.Float64frombits(r.Uint64()) // any float, NaNs included
}

// TestRoundTrip is the property: whatever names, labels, HELP texts and values are
// written, Prometheus's own parser reads back the same families, and the families and
// their samples come in order.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		type want struct {
			d       *Desc
			samples map[string]float64 // by labels joined with \xff
		}
		wants := map[string]*want{}
		var adds []func(*Scrape)
		for range 1 + r.IntN(6) {
			name := randName(r, true)
			if strings.HasPrefix(name, "__") || wants[name] != nil {
				continue
			}
			// HELP's leading blanks are lost: the parser skips them as the separator.
			help := strings.TrimLeft(randText(r, 30), " \t")
			var labels []string
			for range r.IntN(4) {
				if l := randName(r, false); !strings.HasPrefix(l, "__") && !slices.Contains(labels, l) {
					labels = append(labels, l)
				}
			}
			d := NewDesc(name, help, []ValueType{CounterValue, GaugeValue}[r.IntN(2)], labels...)
			w := &want{d: d, samples: map[string]float64{}}
			wants[name] = w
			for range 1 + r.IntN(5) {
				values := make([]string, len(labels))
				for i := range values {
					values[i] = randText(r, 12)
				}
				key := strings.Join(values, "\xff")
				if _, dup := w.samples[key]; dup {
					continue
				}
				v := randValue(r)
				w.samples[key] = v
				adds = append(adds, func(s *Scrape) { s.Add(d, v, values...) })
			}
		}
		r.Shuffle(len(adds), func(i, j int) { adds[i], adds[j] = adds[j], adds[i] })
		var b bytes.Buffer
		if err := WriteText(&b, exporterFunc(func(s *Scrape) {
			for _, a := range adds {
				a(s)
			}
		})); err != nil {
			t.Fatal(err)
		}
		fams := parse(t, b.Bytes())
		if len(fams) != len(wants) {
			t.Fatalf("#%d: %d families read back, want %d:\n%s", iter, len(fams), len(wants), b.String())
		}
		for name, w := range wants {
			f := fams[name]
			typ := map[ValueType]dto.MetricType{CounterValue: dto.MetricType_COUNTER, GaugeValue: dto.MetricType_GAUGE}[w.d.typ]
			if f == nil || f.GetHelp() != w.d.help || f.GetType() != typ || len(f.GetMetric()) != len(w.samples) {
				t.Fatalf("#%d: family %s read back as %v; want help %q, %d samples:\n%s", iter, name, f, w.d.help, len(w.samples), b.String())
			}
			for _, m := range f.GetMetric() {
				got := map[string]string{}
				for _, l := range m.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				values := make([]string, len(w.d.labels))
				for i, l := range w.d.labels {
					values[i] = got[l]
				}
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				want, ok := w.samples[strings.Join(values, "\xff")]
				if !ok || len(got) != len(values) || !(v == want || math.IsNaN(v) && math.IsNaN(want)) {
					t.Fatalf("#%d: %s %v = %v read back; want %v (there: %v):\n%s", iter, name, got, v, want, ok, b.String())
				}
			}
		}
		// Order: families by name, samples by label values (labels by name).
		var names, keys []string
		for l := range strings.Lines(b.String()) {
			if n, ok := strings.CutPrefix(l, "# TYPE "); ok {
				names = append(names, strings.Fields(n)[0])
			}
		}
		if !slices.IsSorted(names) {
			t.Fatalf("#%d: families out of order: %q", iter, names)
		}
		for _, name := range names {
			keys = keys[:0]
			d := wants[name].d
			for _, m := range fams[name].GetMetric() { // in the order of the text
				got := map[string]string{}
				for _, l := range m.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				var k []string
				for _, i := range d.byName {
					k = append(k, got[d.labels[i]])
				}
				keys = append(keys, strings.Join(k, "\x00"))
			}
			if !slices.IsSortedFunc(keys, func(a, b string) int { return slices.Compare(strings.Split(a, "\x00"), strings.Split(b, "\x00")) }) {
				t.Fatalf("#%d: samples of %s out of order: %q", iter, name, keys)
			}
		}
	}
}

// FuzzEscape: a HELP text and a label value, whatever their bytes, read back the same
// through Prometheus's parser (HELP but for its leading blanks, which the format cannot
// hold); text that is not UTF-8 is refused, not written.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a", `\`, `\\n`, "\n", `"`, `\"`, "é\n\\\"x", "{a=\"b\"}", "\xff"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, help, value string) {
		help = strings.TrimLeft(help, " \t")
		var b bytes.Buffer
		d := NewDesc("m", help, GaugeValue, "l")
		err := WriteText(&b, exporterFunc(func(s *Scrape) { s.Add(d, 1, value) }))
		if !utf8Valid(value) {
			if err == nil || strings.Contains(b.String(), "m{") {
				t.Fatalf("label value %q not UTF-8: written %q, error %v", value, b.String(), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !utf8Valid(help) {
			return // the parser takes HELP's bytes as they are; nothing to compare in UTF-8
		}
		f := parse(t, b.Bytes())["m"]
		if f.GetHelp() != help || f.GetMetric()[0].GetLabel()[0].GetValue() != value {
			t.Fatalf("wrote help %q, value %q; read %q, %q:\n%s", help, value, f.GetHelp(), f.GetMetric()[0].GetLabel()[0].GetValue(), b.String())
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }
