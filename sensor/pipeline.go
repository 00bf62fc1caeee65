package sensor

import (
	"bytes"
	"cmp"
	"slices"

	"panoptes/record"
	"panoptes/sensor/decode"
	"panoptes/sensor/flow"
)

// The sharded pipeline: one reader decodes packets and deals them to shards by flow
// hash (as RSS deals them to NIC queues); each shard owns a flow table on its own
// goroutine; one writer collects the records.
//
// Packets travel in rounds: every round carries one batch to every shard, stamped with
// the packet clock at the end of the round, and each shard runs its timers at the end
// of its batch. Timers therefore fire at the same packet positions whatever the number
// of shards, and the writer, which takes each round's records from all shards and sorts
// them, writes the same records in the same order for 1 shard or 16.

const roundPackets = 4096 // packets per round, over all shards

type batch struct {
	pkts  []decode.Packet
	now   int64
	flush bool
	out   []record.Record
	stats flow.Stats
}

// roundInfo is what the reader tells the writer about a round.
type roundInfo struct {
	counters record.Management // reader-side counters at the end of the round
	first    int64             // time of the first packet read so far (0 if none)
	now      int64
	man      bool // write a management status record after this round
	final    bool
}

type pipeline struct {
	shards  int
	in      []chan *batch
	free    []chan *batch
	results []chan *batch
	rounds  chan roundInfo
	cur     []*batch
	count   int // packets in the current round
}

func newPipeline(shards int, cfg flow.Config) *pipeline {
	pl := &pipeline{shards: shards, rounds: make(chan roundInfo, 8)}
	// The flow and fragment limits are for the whole import: each shard holds its share.
	cfg = cfg.Share(shards)
	for s := 0; s < shards; s++ {
		in, free, res := make(chan *batch, 4), make(chan *batch, 4), make(chan *batch, 4)
		for i := 0; i < 4; i++ {
			// Batches start small and grow to what the traffic needs; they are recycled,
			// so the packet path stops allocating once they have grown.
			free <- &batch{pkts: make([]decode.Packet, 0, 64), out: make([]record.Record, 0, 16)}
		}
		pl.in, pl.free, pl.results = append(pl.in, in), append(pl.free, free), append(pl.results, res)
		go runShard(in, res, cfg)
	}
	pl.cur = make([]*batch, shards)
	for s := range pl.cur {
		pl.cur[s] = <-pl.free[s]
	}
	return pl
}

func runShard(in <-chan *batch, out chan<- *batch, cfg flow.Config) {
	var cur *batch
	tbl := flow.NewTable(cfg, func(r *record.Record) { cur.out = append(cur.out, *r) })
	for b := range in {
		cur = b
		for i := range b.pkts {
			tbl.Update(&b.pkts[i])
		}
		tbl.Advance(b.now)
		if b.flush {
			tbl.Flush()
		}
		b.stats = tbl.Stats()
		out <- b
	}
	close(out)
}

// add appends a decoded packet to the batch of the shard its hash picks.
func (pl *pipeline) add(hash uint32, p *decode.Packet) {
	s := 0
	if pl.shards > 1 {
		s = int(hash % uint32(pl.shards))
	}
	b := pl.cur[s]
	b.pkts = append(b.pkts, *p)
	pl.count++
}

// full reports whether the round should be sent.
func (pl *pipeline) full() bool {
	return pl.count >= roundPackets
}

// send ends the round: every shard gets its batch, the writer gets the round's info.
func (pl *pipeline) send(ri roundInfo) {
	for s, b := range pl.cur {
		b.now, b.flush = ri.now, ri.final
		pl.in[s] <- b
		if !ri.final {
			pl.cur[s] = <-pl.free[s]
		}
	}
	pl.count = 0
	pl.rounds <- ri
	if ri.final {
		for _, in := range pl.in {
			close(in)
		}
		close(pl.rounds)
	}
}

// round is one round's output as the writer sees it: the records of every shard, in
// an order that does not depend on the number of shards.
type round struct {
	info    roundInfo
	recs    []*record.Record // into the batches' out slices; valid until release
	stats   flow.Stats       // the shards' table statistics, summed
	batches []*batch
}

// collect runs in the writer: it returns the next round, its records sorted so that
// the output does not depend on the number of shards. ok is false after the final
// round. The caller must release the round once it has written the records.
func (pl *pipeline) collect(rd *round) (ok bool) {
	rd.info, ok = <-pl.rounds
	if !ok {
		return false
	}
	rd.recs, rd.batches, rd.stats = rd.recs[:0], rd.batches[:0], flow.Stats{}
	for s := 0; s < pl.shards; s++ {
		b := <-pl.results[s]
		for i := range b.out {
			rd.recs = append(rd.recs, &b.out[i])
		}
		st := &rd.stats
		st.Packets += b.stats.Packets
		st.Flows += b.stats.Flows
		st.Records += b.stats.Records
		st.Evictions += b.stats.Evictions
		st.FragOrph += b.stats.FragOrph
		st.Active += b.stats.Active
		rd.batches = append(rd.batches, b)
	}
	// Sorting pointers, not the records themselves: a record is a few hundred bytes.
	slices.SortFunc(rd.recs, compareRecords)
	return true
}

// release gives a written round's batches back to the reader.
func (pl *pipeline) release(rd *round) {
	for s, b := range rd.batches {
		b.pkts, b.out = b.pkts[:0], b.out[:0]
		if !rd.info.final {
			pl.free[s] <- b
		}
	}
}

// compareRecords orders records by end time, then start time, then flow identity: a
// total order for the records of one round.
func compareRecords(a, b *record.Record) int {
	if c := cmp.Compare(a.LastTime, b.LastTime); c != 0 {
		return c
	}
	if c := cmp.Compare(a.StartTime, b.StartTime); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Family, b.Family); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
		return c
	}
	if c := cmp.Compare(a.EtherType, b.EtherType); c != 0 {
		return c
	}
	if c := slices.Compare(a.SrcAddr[:], b.SrcAddr[:]); c != 0 {
		return c
	}
	if c := slices.Compare(a.DstAddr[:], b.DstAddr[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.SrcPort, b.SrcPort); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DstPort, b.DstPort); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ICMPID, b.ICMPID); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ICMPSeq, b.ICMPSeq); c != 0 {
		return c
	}
	if c := slices.Compare(a.Src.MAC[:], b.Src.MAC[:]); c != 0 {
		return c
	}
	if c := slices.Compare(a.Dst.MAC[:], b.Dst.MAC[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Cause, b.Cause); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Src.Pkts+a.Dst.Pkts, b.Src.Pkts+b.Dst.Pkts); c != 0 {
		return c
	}
	// Two records alike in all of the above (damaged or crafted traffic): their
	// encodings decide, so that the order is total and the output deterministic.
	return bytes.Compare(record.AppendRecord(nil, a), record.AppendRecord(nil, b))
}
