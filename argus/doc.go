// Package argus reads (and, with its writer, writes) Argus version-3 flow record files,
// the format of Argus 3.0.x and 5.0 (argus -w, ra -w), and maps them to and from
// Panoptes's record.Record.
//
// An Argus stream is a sequence of records, each a 4-byte header and a body:
//
//	+------+------+--------+------------------------+
//	| type | cause| length |  body (length*4 - 4)   |
//	| vers | opt  | words  |                        |
//	+------+------+--------+------------------------+
//
// The first record is a management record (MAR, 128 bytes) whose argusid holds the
// cookie 0xE5712DCB (CookieV3); that is the file's magic. Flow records (FAR) carry a
// list of Data Specific Records (DSRs), each with its own 4-byte header (type,
// subtype, qualifier, length in words): transport (srcid, sequence), flow key, time,
// metrics, network (TCP state), IP attributes, jitter, MAC, VLAN, MPLS, packet sizes,
// aggregation, country codes, labels and more. format.go lists the layouts with the
// names of Argus's argus_def.h and argus_out.h. All values are big-endian.
//
// A reader maps each DSR Panoptes models into the record and counts the others by
// type, so that a tool can warn once per file about what it did not carry over.
package argus
