// Package fleet answers record queries across archive hosts over NATS: an archive host
// (a sensor or relay writing an archive) runs a Service that answers for its site, and
// the tools' `-R nats://BROKER/SITES` runs Query, which sends the filter and the time
// range to every matching site and merges what they send back in start-time order.
//
// The sites run the query on their own archives, with the time index (and the address
// index for a filter that names its hosts), and send only the matching records.
//
// Subjects (core NATS, no JetStream: nothing here is stored):
//
//	panoptes-query.SITE     a query; the archive hosts of SITE subscribe in one queue
//	                        group, so one of them answers (several hosts may serve
//	                        copies of one archive)
//	panoptes-query-ping     discovery: every archive host answers with its site name
//
// They are outside panoptes.> on purpose: a JetStream stream that captures the
// records' subjects (panoptes.SITE.SRCID) would also capture, store and acknowledge
// the queries.
//
// One query, client (C) and archive host (H):
//
//	C: sub INBOX; pub panoptes-query.SITE reply=INBOX  {request, JSON}
//	H: pub INBOX reply=CTL  start
//	H: pub INBOX reply=CTL  data seq=1 {a record stream: header, records}   <= window
//	H: pub INBOX            beat   (each second without data, so C can tell "slow")
//	C: pub CTL              ack 1  (after handing the batch on; "stop" ends the query)
//	H: pub INBOX            end {records, damaged blocks, error}
//
// Flow control: H sends at most Window batches beyond the last one C acknowledged, and
// a batch is at most about Batch bytes, so a slow client holds H (not memory) and a
// fast site cannot flood it. A site that sends nothing (no start, data, beat or end)
// for the client's timeout is left out and named; the result is then partial.
package fleet

import (
	"encoding/json"
	"fmt"
	"net/netip"
)

// Subjects.
const (
	QueryPrefix = "panoptes-query."
	PingSubject = "panoptes-query-ping"
	queueGroup  = "panoptes-query"
)

// Message kinds (header hKind) and the other headers.
const (
	hKind    = "Panoptes-Fleet"
	hSite    = "Panoptes-Site"
	hSeq     = "Panoptes-Seq"
	kStart   = "start"
	kData    = "data"
	kBeat    = "beat"
	kEnd     = "end"
	ctlStop  = "stop"
	protoVer = 1
)

// Query kinds.
const (
	KindRecords = "records" // the matching records, in start-time order
	KindHosts   = "hosts"   // the address index's entries for some addresses
)

// Request is what a client asks of every site.
type Request struct {
	V      int      `json:"v"`
	Kind   string   `json:"kind"`
	Filter string   `json:"filter,omitempty"` // ra filter text; "" matches everything
	Time   bool     `json:"time,omitempty"`   // T0 and T1 bound the records' time spans
	T0     int64    `json:"t0,omitempty"`     // ns, inclusive: records whose span intersects [T0, T1]
	T1     int64    `json:"t1,omitempty"`
	Addrs  []string `json:"addrs,omitempty"` // KindHosts
	Window int      `json:"window,omitempty"`
	Batch  int      `json:"batch,omitempty"`
	Strict bool     `json:"strict,omitempty"` // a damaged block is an error
}

// Defaults of Request's flow control.
const (
	DefaultWindow = 8
	DefaultBatch  = 256 << 10
	maxWindow     = 64
	maxBatch      = 1 << 20 // under NATS's default 1 MB payload limit, with the headers
)

// HostSeen is one site's address-index entry for an address and source id.
type HostSeen struct {
	Addr     netip.Addr `json:"addr"`
	SrcID    uint32     `json:"srcid"`
	First    int64      `json:"first"`
	Last     int64      `json:"last"`
	Records  uint64     `json:"records"`
	Segments int        `json:"segments"`
}

// endReport is the body of an end message.
type endReport struct {
	Records        uint64     `json:"records"`
	DamagedBlocks  uint64     `json:"damaged_blocks,omitempty"`
	DamagedRecords uint64     `json:"damaged_records,omitempty"`
	Hosts          []HostSeen `json:"hosts,omitempty"`
	Err            string     `json:"error,omitempty"`
}

// pingReply is an archive host's answer to a discovery ping.
type pingReply struct {
	Site string `json:"site"`
}

func (r *Request) check() error {
	if r.V != protoVer {
		return fmt.Errorf("request version %d (this archive host speaks %d)", r.V, protoVer)
	}
	switch r.Kind {
	case KindRecords, KindHosts:
	default:
		return fmt.Errorf("unknown query kind %q", r.Kind)
	}
	if r.Window <= 0 {
		r.Window = DefaultWindow
	}
	r.Window = min(r.Window, maxWindow)
	if r.Batch <= 0 {
		r.Batch = DefaultBatch
	}
	r.Batch = min(r.Batch, maxBatch)
	return nil
}

func decodeRequest(b []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("bad request: %w", err)
	}
	return r, r.check()
}
