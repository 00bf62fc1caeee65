// Package sflow reads sFlow version 5 datagrams (sflow.org's sFlow v5 specification)
// from switches and routers and turns their flow samples into records; `panoptes relay
// -C` takes them on the same socket as NetFlow and IPFIX (IsSFlow tells them apart).
//
// # Wire format
//
// Everything is big-endian 32-bit XDR words; opaque data is a length, the bytes, and
// zero padding to a multiple of 4.
//
//	datagram:
//	+---------+-------------------+------------------+-----------+-----+--------+-----------+
//	| version | agent addr type   | agent address    | sub-agent | seq | uptime | samples N |
//	| (5)     | (1 IPv4, 2 IPv6)  | (4 or 16 bytes)  |           |     | (ms)   |           |
//	+---------+-------------------+------------------+-----------+-----+--------+-----------+
//	| N x { enterprise << 12 | format, opaque sample }                                     |
//	+---------------------------------------------------------------------------------------+
//
//	flow sample (format 1; expanded: format 3, source id and interfaces in two words each):
//	  seq | source id (type << 24 | index) | sampling rate | pool | drops |
//	  input (format << 30 | value) | output | records M | M x { format, opaque record }
//	counter sample (format 2; expanded: 4):
//	  seq | source id | records M | M x { format, opaque record }
//
// Unmarshal reads a datagram into a Datagram (compact samples held in the expanded
// form) and AppendDatagram writes one; every error names the byte offset.
//
// # Records
//
// Each flow sample becomes one record, as nfdump's sfcapd makes one per sample: its
// counts are the sampled packet's scaled by the sampling rate (packets = N, bytes = N x
// the frame length), and its sampling field says N, so that totals read as estimates.
// Records are not aggregated in the collector: `panoptes cluster` merges them into flows
// afterwards, over whatever interval the question needs.
//
// The flow is read from the sample's raw packet header record (sampled_header:
// Ethernet, PPP, IPv4 or IPv6 headers) with the sensor's own packet decoder, so that a
// sampled packet gives the same addresses, ports, VLAN, MPLS and flags as a captured
// one; without a header, from a sampled_ipv4/sampled_ipv6 record (bytes are then the
// IP length). sampled_ethernet adds MAC addresses and extended_switch the VLAN when the
// header has none. Bytes count the frame as a capture sees it: the sample's
// frame_length less the bytes the agent stripped (the FCS).
//
// Records carry FlagFlowExport ('N' in flgs), cause Status, clock "user" and the
// collector's time of arrival (samples carry no time). Their srcid is the agent address
// of the datagram (IPv4: the address as a big-endian uint32; IPv6: FNV-1a over its 16
// bytes), or the sender's when the agent address is unknown.
//
// Counter samples are counted, not decoded. Samples of other formats or enterprises
// and flow records of formats not listed above are skipped and counted (Stats).
package sflow
