// Package anon anonymizes flow records for sharing, as Argus's ranonymize does:
// prefix-preserving Crypto-PAn for IPv4 and IPv6 addresses, a keyed permutation of the
// ports outside the preserved ranges, a fixed time offset, offsets for TCP base
// sequence numbers and record sequence numbers, and keyed permutations of the MAC
// station part (vendor kept) and AS numbers. Everything derives from one 32-byte key,
// so the same key maps the same address, port or MAC the same way in every file and
// run. Options come from a ranonymize.conf-style file (ParseConfig).
package anon
