package relay

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"panoptes/ipfix"
	"panoptes/record"
	"panoptes/sflow"
)

// collectDrain is how long the collector keeps reading after it is told to stop, for
// the datagrams already queued in its socket (an exporter's last flows are often there
// when SIGINT comes); a deadline in the past would discard them unread.
const collectDrain = 250 * time.Millisecond

// collector is the -C input: its socket, the exporters it takes datagrams from, the
// decoders (NetFlow/IPFIX, which keeps each exporter's templates within budgets, and
// sFlow, told apart by their first bytes), and its counters.
type collector struct {
	conn  *net.UDPConn
	allow []netip.Prefix // empty: every exporter
	dec   *ipfix.Decoder
	sfl   *sflow.Decoder
	logf  func(string, ...any)

	// The metrics read these while run counts.
	datagrams, denied, malformed atomic.Uint64
	lost                         uint64       // templates evicted and refused, as last logged
	lastLog                      [3]time.Time // per kind of trouble: malformed, denied, templates
}

const (
	logMalformed = iota
	logDenied
	logTemplates
)

func newCollector(conn *net.UDPConn, allow []netip.Prefix, logf func(string, ...any)) *collector {
	return &collector{conn: conn, allow: allow, dec: ipfix.NewDecoder(ipfix.DecoderOptions{}), sfl: sflow.NewDecoder(sflow.Options{}), logf: logf}
}

// parseAllow reads --allow: CIDR prefixes, or addresses for one exporter each.
func parseAllow(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("--allow %q: want ADDR/BITS or ADDR", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// run decodes NetFlow/IPFIX and sFlow datagrams until ctx ends (and collectDrain more).
func (c *collector) run(ctx context.Context, put func(*record.Record)) {
	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Now().Add(collectDrain)) })
	defer stop()
	buf := make([]byte, 65535)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.logf("-C: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c.handle(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), put)
	}
}

// handle takes one datagram: dropped (counted, logged at most once a minute) when its
// exporter is outside --allow, else decoded; a malformed one is counted and logged the
// same way, and so are templates lost to the budgets.
func (c *collector) handle(b []byte, from netip.AddrPort, put func(*record.Record)) {
	c.datagrams.Add(1)
	if !c.allowed(from.Addr()) {
		c.limited(logDenied, "-C: datagram from %s outside --allow dropped (%d so far)", from, c.denied.Add(1))
		return
	}
	if sflow.IsSFlow(b) {
		if err := c.sfl.Decode(b, from, put); err != nil {
			c.limited(logMalformed, "-C: %v (%d malformed datagrams so far)", err, c.malformed.Add(1))
		}
		return
	}
	if err := c.dec.Decode(b, from, put); err != nil {
		c.limited(logMalformed, "-C: %v (%d malformed datagrams so far)", err, c.malformed.Add(1))
	}
	if st := c.dec.Stats(); st.TemplatesEvicted+st.TemplatesRefused != c.lost {
		c.lost = st.TemplatesEvicted + st.TemplatesRefused
		c.limited(logTemplates, "-C: templates from %s beyond the budgets: %d evicted (oldest first), %d refused so far in all",
			from.Addr(), st.TemplatesEvicted, st.TemplatesRefused)
	}
}

func (c *collector) allowed(a netip.Addr) bool {
	return len(c.allow) == 0 || slices.ContainsFunc(c.allow, func(p netip.Prefix) bool { return p.Contains(a) })
}

// limited logs at most once a minute per kind of trouble.
func (c *collector) limited(kind int, format string, args ...any) {
	if time.Since(c.lastLog[kind]) > time.Minute {
		c.logf(format, args...)
		c.lastLog[kind] = time.Now()
	}
}

// maxSummaryExporters bounds the exporters the exit summary names.
const maxSummaryExporters = 20

// summary logs the counters at exit: in all, then the exporters that lost templates or
// data, most first.
func (c *collector) summary() {
	st := c.dec.Stats()
	c.logf("-C summary: %d datagrams, %d dropped from outside --allow, %d malformed; %d records; templates: %d held (%d bytes), %d evicted, %d refused, %d expired; %d data sets without their template",
		c.datagrams.Load(), c.denied.Load(), c.malformed.Load(), st.Records, st.TemplatesHeld, st.TemplateBytes,
		st.TemplatesEvicted, st.TemplatesRefused, st.TemplatesExpired, st.NoTemplate)
	if sf := c.sfl.Stats(); sf.Datagrams+sf.Malformed > 0 {
		// Records from samples are estimates (sampling field); say how many there were
		// and what was not turned into records.
		c.logf("-C sflow: %d datagrams, %d malformed, %d missing from the agents' sequence numbers; %d flow samples -> %d records (counts scaled by the sampling rate), %d without a flow; %d counter samples; skipped: %d samples and %d flow records of other formats, %d flow records too short",
			sf.Datagrams, sf.Malformed, sf.LostDatagrams, sf.FlowSamples, sf.Records, sf.NoFlow, sf.CounterSamples, sf.UnknownSamples, sf.SkippedRecords, sf.BadRecords)
	}
	loss := func(e ipfix.ExporterTemplates) uint64 { return e.Evicted + e.Refused + e.Expired + e.NoTemplate }
	ex := slices.DeleteFunc(c.dec.Exporters(), func(e ipfix.ExporterTemplates) bool { return loss(e) == 0 })
	slices.SortStableFunc(ex, func(a, b ipfix.ExporterTemplates) int { return cmp.Compare(loss(b), loss(a)) })
	for i, e := range ex {
		if i == maxSummaryExporters {
			c.logf("-C: %d more exporters lost templates or data", len(ex)-i)
			break
		}
		c.logf("-C exporter %s: %d templates held (%d bytes), %d evicted, %d refused, %d expired, %d data sets without their template",
			e.Exporter, e.Templates, e.TemplateBytes, e.Evicted, e.Refused, e.Expired, e.NoTemplate)
	}
}
