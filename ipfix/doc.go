// Package ipfix holds the flow-export wire formats: it writes records as RFC 7011 IPFIX
// with RFC 5103 bidirectional flow elements (Exporter), and turns NetFlow v5, NetFlow v9
// and IPFIX messages from other exporters into records (Decoder, ReadIPFIXStream).
//
// # Export
//
// Each record is one IPFIX data record of one of two templates (256 for IPv4, 257 for
// IPv6): start and end time (milliseconds, or nanoseconds with
// ExporterOptions.Nanoseconds), the 5-tuple, ICMP type and code, the source side's
// counters, TCP flags, ToS, TTL and VLAN, both MAC addresses, the destination side's
// counters, TCP flags, ToS, TTL and VLAN as RFC 5103 reverse elements (enterprise number
// 29305), biflowDirection (initiator when the source sent the SYN, else arbitrary) and
// flowEndReason from the record's cause. The observation domain is the record's srcid;
// sequence numbers count data records per domain, as RFC 7011 says. Byte counts are the
// record's own (frame bytes, layer 2 header included, as Argus counts them), not
// layer-3 octets. Management records and non-IP flows are not exported (counted).
//
// On UDP every message fits in ExporterOptions.MTU bytes, the templates are re-sent
// every TemplateInterval or TemplateMessages messages, whichever comes first, messages
// can be paced (Pace), and a refused datagram costs its records (counted in Lost), not
// the exporter. On a stream (TCP) templates are sent once per domain and a write error
// is final. A message waits at most MaxDelay for more records.
//
// # Collection
//
// The decoder keeps templates per exporter (address and port), version and observation
// domain (v9 source id), so two exporters may use the same template ids. It reads v9 and
// IPFIX templates and options templates (options data is skipped, except
// systemInitTimeMilliseconds, which sysUpTime-relative IPFIX times need), template
// withdrawals, variable-length fields, and skips enterprise elements it does not know.
// RFC 5103 reverse elements and v9's OUT_BYTES/OUT_PKTS fill the record's destination
// side. Times relative to the exporter's uptime (v5, v9 FIRST/LAST_SWITCHED) are turned
// into wall time with the message header's clock.
//
// Records are marked as derived from flow export (FlagFlowExport, 'N' in flgs); their
// srcid is the exporter's IPv4 address as a big-endian uint32, or for an IPv6 exporter
// the FNV-1a 32-bit hash of its 16 address bytes (DecoderOptions.SrcID overrides both).
// TCP state comes from the OR of the TCP flags of each direction. A malformed or
// truncated message gives an error naming the exporter and byte offset (records before
// the fault are kept) and is counted in Stats. Nothing in a message can make the
// decoder panic; template fields of length 0 are refused, so decoding costs at most
// a step per byte.
//
// # Template budgets
//
// No exporter can make the decoder hold more than its budget of templates, nor take
// another exporter's. A template costs 8 bytes per field and 160 more, a domain with
// templates 256. Each exporter address (whatever its ports and domains: an exporter
// that restarts on a new port is the same exporter) holds at most 4096 templates and
// 2 MiB, the decoder at most 65536 and 64 MiB (DecoderOptions). A new template that
// does not fit evicts the exporter's oldest (least recently sent or used) templates, or,
// over the total, the oldest of the exporter that holds the most bytes: the newest are
// kept, and a flood costs the flooder. A template larger than a whole exporter budget is
// refused. A template neither sent again nor used for TemplateLifetime (30 minutes; RFC
// 7011 8.4) expires. Per-domain state (systemInitTimeMilliseconds) lives as long as the
// domain has templates. Evictions, refusals, expiries and data sets without their
// template are counted in Stats and, per exporter, in Decoder.Exporters.
package ipfix
