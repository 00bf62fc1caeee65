package flow

import (
	"panoptes/record"
	"panoptes/sensor/decode"
)

// fragment attributes an IP fragment to its flow, as Argus counts fragments with the
// flow. The first fragment (offset 0) carries the transport header; the others are
// matched to it by (addresses, protocol, IP id). Fragments that arrive before their
// first fragment wait in a pending group, and join the flow when it arrives; a group
// whose first fragment never comes is reported on its own when it times out.
func (t *Table) fragment(p *decode.Packet) {
	fk := fragKey{Family: p.Net, Proto: p.Proto, Src: p.SrcAddr, Dst: p.DstAddr, ID: p.FragID}
	gi, ok := t.frags[fk]
	if p.FragOffset == 0 {
		k, senderIsA := keyOf(p)
		fi := t.account(p, &k, senderIsA, true)
		if !ok {
			gi = t.newFragGroup(&fk, p.Timestamp)
		}
		g := t.at(gi)
		if !g.fragKnown {
			g.fragKnown, g.key, g.fragSenderIsA = true, k, senderIsA
			g.fragHasL4 = p.L4
			if p.L4 {
				// Without a complete transport header the flow is keyed without ports,
				// and so are the other fragments.
				g.fragSport, g.fragDport, g.fragICMPID, g.fragICMPSeq = p.SrcPort, p.DstPort, p.ICMPID, p.ICMPSeq
			}
			if g.rec.Src.Pkts > 0 {
				t.joinPending(g, t.at(fi))
			}
		}
		t.touchFrag(gi, p.Timestamp)
		return
	}
	if !ok {
		gi = t.newFragGroup(&fk, p.Timestamp)
	}
	g := t.at(gi)
	t.touchFrag(gi, p.Timestamp)
	if !g.fragKnown {
		s := &g.rec.Src
		if s.Pkts == 0 || p.Timestamp < g.rec.StartTime {
			g.rec.StartTime = p.Timestamp
		}
		if p.Timestamp > g.rec.LastTime {
			g.rec.LastTime = p.Timestamp
		}
		if s.Pkts == 0 || p.WireLen < s.MinSize {
			s.MinSize = p.WireLen
		}
		s.MaxSize = max(s.MaxSize, p.WireLen)
		s.Pkts++
		s.Bytes += uint64(p.WireLen)
		s.AppBytes += uint64(p.AppLen)
		s.TTL, s.ToS = p.TTL, p.ToS
		if p.HasMAC {
			s.MAC = p.SrcMAC
			g.rec.Dst.MAC = p.DstMAC
		}
		g.rec.Flags |= encapFlags(p.Encaps)
		return
	}
	// Give the fragment its datagram's ports, then account it without transport
	// processing (its payload is the middle of a segment, not a header).
	q := *p
	q.SrcPort, q.DstPort, q.ICMPID, q.ICMPSeq, q.L4 = g.fragSport, g.fragDport, g.fragICMPID, g.fragICMPSeq, g.fragHasL4
	k, senderIsA := keyOf(&q)
	q.L4 = false
	t.account(&q, &k, senderIsA, true)
}

func (t *Table) newFragGroup(fk *fragKey, ts int64) int32 {
	if len(t.frags) >= t.cfg.MaxFrags {
		t.evictOldestFrag()
	}
	gi := t.alloc()
	g := t.at(gi)
	g.frag = *fk
	g.inUse = true
	g.class = classFrag
	g.last = ts
	t.idle[classFrag].add(t, gi, ts)
	t.frags[*fk] = gi
	return gi
}

func (t *Table) touchFrag(gi int32, ts int64) {
	g := t.at(gi)
	if ts > g.last {
		g.last = ts
	}
	t.idle[classFrag].touch(t, gi, g.last)
}

// joinPending moves the counts of fragments that arrived before their first fragment
// into the flow.
func (t *Table) joinPending(g, f *entry) {
	pend := &g.rec.Src
	s := &f.rec.Src
	if g.fragSenderIsA != f.srcIsA {
		s = &f.rec.Dst
	}
	if pend.MinSize < s.MinSize || s.Pkts == 0 {
		s.MinSize = pend.MinSize
	}
	s.MaxSize = max(s.MaxSize, pend.MaxSize)
	s.Pkts += pend.Pkts
	s.Bytes += pend.Bytes
	s.AppBytes += pend.AppBytes
	if g.rec.StartTime < f.rec.StartTime {
		f.rec.StartTime = g.rec.StartTime
	}
	f.rec.Flags |= record.FlagFragments
	g.rec.Src = record.Side{}
}

// evictOldestFrag ends the fragment group idle longest, to make room. Fragment groups
// are bounded apart from flows (by MaxFrags), so that a flood of fragments
// whose first fragment never comes (each datagram its own group) cannot grow the table
// without bound, and so that making room for a group never ends the flow or group the
// packet at hand is being added to. Its pending fragments are reported (cause Evict),
// not dropped.
func (t *Table) evictOldestFrag() {
	if h := t.idle[classFrag].oldest(t); h != nilIdx {
		t.stats.Evictions++
		t.expireFrag(h, record.CauseEvicted)
	}
}

// expireFrag ends a fragment group. Pending fragments whose first fragment never came
// are reported as a flow of their own, without ports, flagged as partial, with cause
// (Close when it timed out, Evict when its place was needed).
func (t *Table) expireFrag(gi int32, cause record.Cause) {
	g := t.at(gi)
	if !g.fragKnown && g.rec.Src.Pkts > 0 {
		r := &g.rec
		r.Kind = record.KindFlow
		r.Cause = cause
		r.Clock = t.cfg.Clock
		r.SrcID = t.cfg.SrcID
		r.Family, r.Proto = g.frag.Family, g.frag.Proto
		r.SrcAddr, r.DstAddr = g.frag.Src, g.frag.Dst
		r.Flags |= record.FlagFragments | record.FlagFragPartial
		r.Trans = 1
		t.emit(r)
		t.stats.Records++
		t.stats.FragOrph++
	}
	t.idle[classFrag].remove(t, gi)
	delete(t.frags, g.frag)
	t.release(gi)
}
