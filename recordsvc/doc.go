// Package recordsvc is the live record service: the protocol, server and client that
// carry flow records over TCP (optionally TLS) or a Unix socket from a sensor or relay (`-P PORT`) to the
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
// A refusal ends the connection. A server out of room for connections (see Limits)
// may send a busy reply as soon as it accepts, before the hello arrives. After an OK the server
// sends frames until it closes:
//
//	frame:  type (uint8) | uvarint payload length | payload
//
//	type 1 data:   bytes of one record stream (package record's format); the first data
//	               frame starts with the stream header, and the payloads of all data
//	               frames, concatenated, are that stream
//	type 2 drops:  uvarint N: the server dropped N records for this client since the
//	               previous notice, because the client read too slowly or the server's
//	               fan-out fell behind its writer (the server's log says which); sent
//	               where the gap is (after the records queued before it)
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
//
// # Limits
//
// At most MaxClients clients are served at once (256), fewer when RLIMIT_NOFILE less
// the descriptors open at start and ReserveFDs (64) leaves less room: the archive and
// capture must never be the ones to get "too many open files". Connections waiting for
// their hello are bounded apart: at most 32 at once, 8 from one peer (an IPv4 address,
// an IPv6 /64, a user on the Unix socket); a new one beyond either bound closes the
// oldest waiting one (of its peer, else of all) once that has been silent for a second,
// else it is answered "busy", so connections that never send a hello cannot keep
// clients out; failed hellos are logged at most once per 10 s. Beyond
// clients, waiting connections and 8 being closed, a connection gets a busy reply at
// once and is closed. Client connections over TCP have keepalive (30 s idle, 3 probes 10 s apart)
// and TCP_USER_TIMEOUT (60 s), so vanished peers are reaped. Error messages and log
// lines repeat at most about 240 bytes of a client's filter.
//
// # Access
//
// `-P unix:/run/panoptes/records.sock` serves on a Unix socket of mode 0660, group
// panoptes when that group exists: other local users cannot connect. TCP listens on
// loopback unless --listen says otherwise; a TCP listener on another address without
// TLS client certificates is warned about at start.
//
// # Argus clients
//
// ListenArgus (--argus-port) serves Argus's own protocol instead (argus.go; the
// protocol is described in package argus, client.go) to ra -S, radium -S and
// rasqlinsert -S: the greeting is Argus's initial MAR, the hello is Argus's "FILTER: "
// (answered "OK" or "ER") and "START: ", and records go unframed as Argus records.
// Filters, queues, limits and the fan-out are the same; there is no drop notice, so an
// Argus client's drops are only logged and counted.
package recordsvc
