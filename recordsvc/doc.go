// Package recordsvc is the live record service: the protocol, server and client that
// carry flow records over TCP (optionally TLS) from a sensor or relay (`-P PORT`) to the
// tools (`read -S HOST:PORT`) and to relays, as Argus's port 561 does for ra and radium.
// It is not Argus's protocol: Argus's `ra -S` cannot read a Panoptes service, and
// Panoptes's `-S` cannot read an Argus server.
//
// # Protocol, version 1
//
// The client speaks first, with its filter (ra's language; empty selects everything):
//
//	hello:  'P' 'N' 'P' 'S' | version (1) | filter length (uint16, LE) | filter text
//
// The server compiles the filter and answers:
//
//	reply:  'P' 'N' 'P' 'S' | version (1) | status | message length (uint16, LE) | message
//
//	status 0 ok
//	       1 refused: the filter's one-line error, or a hello this server cannot read
//	         (another protocol version: the reply carries the server's version)
//	       2 busy: the server serves --max-clients clients already; try again later
//
// A refusal ends the connection. After an OK the server
// sends frames until it closes:
//
//	frame:  type (uint8) | uvarint payload length | payload
//
//	type 1 data:   bytes of one record stream (package record's format); the first data
//	               frame starts with the stream header, and the payloads of all data
//	               frames, concatenated, are that stream
//	type 2 drops:  uvarint N: the server dropped N records for this client since the
//	               previous notice, because the client read too slowly; sent where the
//	               gap is (after the records queued before it)
//	type 3 end:    empty: the server closes the stream on purpose (shutdown, end of a
//	               replayed file); a connection that ends without it was lost
//
// A payload is at most MaxFrame bytes. The client sends nothing after its hello; the
// server reads from the connection only to notice that the client has gone.
//
// # Flow control
//
// Publish (the sensor's writer) only appends the record to a bounded queue (65,536
// records) for one fan-out goroutine, which matches each client's filter and fills
// each client's bounded queue of encoded records; so the number of clients never
// slows the writer. A record that does not fit in a client's queue (ClientBuffer),
// or in the memory all queues may hold together (QueueMemory), is dropped for that
// client only, counted, reported to the client in a drops frame and logged by the
// server; a record the fan-out queue cannot take is reported to every client. A slow
// or stalled client therefore never slows capture or the other clients, and at most
// MaxClients clients are served at once.
package recordsvc
