package label

import (
	"encoding/binary"
	"net/netip"

	"panoptes/record"
)

// memoLimit bounds the per-address memo of database lookups.
const memoLimit = 1 << 18

// Labeller labels records. Address sources are consulted in order: the RIR file for
// countries, then each MaxMind database for what is still unknown. Lookups are
// memoized per address (flows repeat addresses). It is not safe for concurrent use.
type Labeller struct {
	RIR   *RIR
	MMDB  []*MMDB
	Rules []Rule

	memo map[netip.Addr]addrInfo
}

type addrInfo struct {
	cc [2]byte
	as uint32
}

// Record labels r in place: country and AS of both addresses (only where the record
// has none yet), then the labels of the matching rules, joined to r's own with ";".
// Management records are left alone.
func (l *Labeller) Record(r *record.Record) error {
	if r.Kind == record.KindMan {
		return nil
	}
	if r.Family == 4 || r.Family == 6 {
		for _, src := range []bool{true, false} {
			cc, as := &r.DstCountry, &r.DstAS
			if src {
				cc, as = &r.SrcCountry, &r.SrcAS
			}
			info, err := l.lookup(r.Addr(src))
			if err != nil {
				return err
			}
			if *cc == ([2]byte{}) {
				*cc = info.cc
			}
			if *as == 0 {
				*as = info.as
			}
		}
	}
	for _, rule := range l.Rules {
		if !rule.Filter.Match(r) {
			continue
		}
		if r.Label == "" {
			r.Label = rule.Label
		} else {
			r.Label = record.JoinLabels(r.Label, rule.Label)
		}
		if !rule.Cont {
			break
		}
	}
	return nil
}

func (l *Labeller) lookup(a netip.Addr) (addrInfo, error) {
	if info, ok := l.memo[a]; ok {
		return info, nil
	}
	var info addrInfo
	if l.RIR != nil {
		if a.Is4() {
			b := a.As4()
			info.cc = l.RIR.Country4(binary.BigEndian.Uint32(b[:]))
		} else {
			info.cc = l.RIR.Country16(a.As16())
		}
	}
	for _, db := range l.MMDB {
		if info.as != 0 && info.cc != ([2]byte{}) {
			break
		}
		cc, as, err := db.Lookup(a)
		if err != nil {
			return info, err
		}
		if info.cc == ([2]byte{}) {
			info.cc = cc
		}
		if info.as == 0 {
			info.as = as
		}
	}
	if l.memo == nil || len(l.memo) >= memoLimit {
		l.memo = make(map[netip.Addr]addrInfo)
	}
	l.memo[a] = info
	return info, nil
}
