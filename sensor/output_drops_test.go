package sensor

import (
	"strings"
	"testing"
	"time"

	"panoptes/capture/capturetest"
	"panoptes/internal/dbtest"
	"panoptes/metrics"
	"panoptes/record"
	"panoptes/sqlrepo"
)

// dbTap writes to a database output and keeps the last management record (which the
// database leaves out); Dropped is the output's (record.Dropper).
type dbTap struct {
	*sqlrepo.Sink
	man lastMan
}

func (d *dbTap) Write(r *record.Record) error {
	if r.Kind == record.KindMan {
		d.man.Write(r)
	}
	return d.Sink.Write(r)
}

// TestOutputDropsCounted: a database output that is down and whose queue is full drops
// flow records; the sensor's last management record, its Prometheus counter and its
// exit summary all say how many. Before, only the exit's error line did (the counter
// was in none of the three).
func TestOutputDropsCounted(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	out, err := sqlrepo.Open("postgres://postgres@/postgres/flows_%Y%m%d?host="+srv.Sock,
		sqlrepo.Options{BatchSize: 10, Queue: 2, Workers: 1, GiveUp: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop() // the database goes away: batches fail, the queue fills, records are dropped
	frames := udpFrames(2000)
	src := capturetest.New("lo", [][][]byte{frames}, nil, 1, 512, time.Now())
	cfg := LiveConfig{}
	cfg.Flow.StatusInterval = time.Minute
	var prom metrics.Snapshot
	cfg.Observe = func(ls *LiveState) func() {
		return func() { s := ls.Snapshot(); prom = s.Metrics() }
	}
	w := &dbTap{Sink: out}
	st := runFake(t, cfg, src, w)
	if err := out.Close(); err == nil || !strings.Contains(err.Error(), "records dropped") {
		t.Errorf("Close: %v, want records dropped", err)
	}
	fams := gather(t, metrics.NewCollector(func() (metrics.Snapshot, bool) { return prom, true }))
	promDrops := -1.0
	for _, f := range fams {
		if f.GetName() == "panoptes_output_dropped_total" {
			promDrops = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	man := w.man.man
	if man == nil {
		t.Fatal("no management record written")
	}
	drops := st.OutputDrops
	// All but the few batches queued or in flight when the queue filled.
	if drops < 2000-100 || drops > 2000 {
		t.Fatalf("exit counters: %d records dropped by the output, want nearly all of 2000", drops)
	}
	if man.Man.OutputDrops != drops || uint64(promDrops) != drops {
		t.Errorf("dropped: management record %d, prometheus %v, exit %d; want all alike", man.Man.OutputDrops, promDrops, drops)
	}
	var sum strings.Builder
	st.WriteSummary(&sum)
	if !strings.Contains(sum.String(), " flow records dropped by the output") {
		t.Errorf("exit summary says nothing of the output's drops:\n%s", sum.String())
	}
}
