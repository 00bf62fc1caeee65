package relay

import (
	"testing"
	"time"

	"panoptes/filter"
	"panoptes/internal/dbtest"
	"panoptes/record"
	"panoptes/sqlrepo"
)

// manTap is a database output that also keeps the management records handed to it
// (the database leaves them out), as the relay's clients would get them.
type manTap struct {
	*sqlrepo.Sink
	man []record.Management
}

func (m *manTap) Write(r *record.Record) error {
	if r.Man != nil {
		m.man = append(m.man, *r.Man)
	}
	return m.Sink.Write(r)
}

// TestOutputDropsInManagementRecords: records a relay's database output drops (the
// database is down and the queue full) are added to the OutputDrops of the management
// records it passes on; before, only its exit error said so.
func TestOutputDropsInManagementRecords(t *testing.T) {
	srv := dbtest.StartPostgres(t)
	out, err := sqlrepo.Open("postgres://postgres@/postgres/flows_%Y%m%d?host="+srv.Sock,
		sqlrepo.Options{BatchSize: 10, Queue: 1, Workers: 1, GiveUp: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	flt, err := filter.Compile("")
	if err != nil {
		t.Fatal(err)
	}
	tap := &manTap{Sink: out}
	h := &hub{flt: flt, sink: tap, fail: func() {}}
	now := time.Now().UnixNano()
	for i := range 500 {
		r := record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, StartTime: now, LastTime: now, SrcPort: uint16(i)}
		h.put(&r)
	}
	upstream := &record.Management{PktsSeen: 9, OutputDrops: 3} // the sensor's own drops
	h.put(&record.Record{Kind: record.KindMan, StartTime: now, LastTime: now, Man: upstream})
	dropped := out.Dropped()
	out.Close()
	if dropped == 0 {
		t.Fatal("the output dropped nothing: the test did not fill the queue")
	}
	if len(tap.man) != 1 || tap.man[0].OutputDrops != 3+dropped || tap.man[0].PktsSeen != 9 {
		t.Fatalf("management records passed on: %+v; want OutputDrops %d (3 upstream + %d here)", tap.man, 3+dropped, dropped)
	}
	if upstream.OutputDrops != 3 {
		t.Error("the upstream's management record was changed in place")
	}
}
