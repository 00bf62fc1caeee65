// Package record defines the Panoptes flow record: its fields (Record, Side), the field
// registry with Argus's field names (used by -s, -m, the filter and JSON output), and the
// versioned, self-describing binary stream format that `-w FILE` writes and that archive
// segments hold. Both the sensor (which makes records) and the tools (which read them)
// import it; it imports nothing else of ours.
//
// # Stream format, version 1
//
// A stream is a header followed by records. All multi-byte fixed-width integers are
// little-endian; "uvarint"/"varint" are Go's encoding/binary LEB128 varints (varint is
// zigzag-encoded).
//
//	header:
//	+------+------+------+-------+---------+------------+----------------------------+
//	| 'P'  | 'N'  | 'P'  | 'T'   | version | flags (0)  | header length (uint16, LE) |
//	+------+------+------+-------+---------+------------+----------------------------+
//	| uvarint N = number of field declarations                                       |
//	+--------------------------------------------------------------------------------+
//	| N x { id: uint8 | wire type: uint8 | name length: uint8 | name bytes }         |
//	+--------------------------------------------------------------------------------+
//
//	record:
//	+---------------------+-------------+----------------------------------------------+
//	| uvarint body length | kind: uint8 | fields: { id: uint8 | value } ...            |
//	+---------------------+-------------+----------------------------------------------+
//	                      <----------------------- body ----------------------------->
//
//	value, by the wire type the header declares for the id:
//	  0 uvarint         1 zigzag varint
//	  2 uvarint length, then that many bytes (addresses: 4 or 16; MACs: 6)
//	  3 8-byte IEEE 754 float64, little-endian
//
// Kind 1 is a flow record, kind 2 a management record. Fields whose value is zero are
// not written, so a record costs only what it carries (a typical TCP flow is ~60 bytes).
// Times: "stime" is nanoseconds since the Unix epoch, "dur" the nanoseconds from stime to
// ltime. Source-side per-direction fields have ids 22..40; the destination side uses the
// same ids plus 32. Labels (`panoptes label`: sco dco sas das label) use ids 90..94, the
// sampling rate of records estimated from sampled packets (sFlow) id 95.
// Management counters use ids 100 and up.
//
// Because the header declares every id with its wire type, a reader skips fields it does
// not know: a newer writer may add fields (new ids, never renumbered) without breaking
// older readers. A change that older readers cannot skip bumps the version byte; a
// reader refuses a stream of a newer version with ErrNewer (one line: file, offset, both
// versions), and OpenAppend never appends to or cuts a file holding one.
// A body is at most MaxRecordLen bytes; a longer length prefix means corruption.
//
// A file may hold several streams one after another: a writer that appends to an
// existing stream file (`-w` on an existing file, as Argus's does) starts with its own
// header. Readers take a header wherever a record could start; a record cannot begin
// with the magic, because its kind byte would be 'N' (78), which is no kind.
//
// # Buffer lifetimes
//
// Reader.Read decodes into the caller's Record and reuses its own buffer: nothing is
// allocated per record. AppendRecord appends into the caller's slice.
package record
