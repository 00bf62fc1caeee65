package ipfix

// Information element ids (IANA IPFIX registry; NetFlow v9 uses the same numbers for
// the fields it shares with IPFIX).
const (
	ieOctetDelta       = 1
	iePacketDelta      = 2
	ieProtocol         = 4
	ieToS              = 5
	ieTCPFlags         = 6
	ieSrcPort          = 7
	ieSrcIPv4          = 8
	ieDstPort          = 11
	ieDstIPv4          = 12
	ieEndSysUpTime     = 21
	ieStartSysUpTime   = 22
	iePostOctetDelta   = 23 // NetFlow v9 OUT_BYTES: the reverse direction's bytes
	iePostPacketDelta  = 24 // NetFlow v9 OUT_PKTS
	ieSrcIPv6          = 27
	ieDstIPv6          = 28
	ieICMPTypeCode4    = 32
	ieMinTTL           = 52
	ieMaxTTL           = 53
	ieSrcMAC           = 56
	ieVlanID           = 58
	ieIPVersion        = 60
	ieDstMAC           = 80
	ieFlowEndReason    = 136
	ieICMPTypeCode6    = 139
	ieStartSeconds     = 150
	ieEndSeconds       = 151
	ieStartMillis      = 152
	ieEndMillis        = 153
	ieStartMicros      = 154
	ieEndMicros        = 155
	ieStartNanos       = 156
	ieEndNanos         = 157
	ieStartDeltaMicros = 158
	ieEndDeltaMicros   = 159
	ieSysInitMillis    = 160
	ieICMPType4        = 176
	ieICMPCode4        = 177
	ieICMPType6        = 178
	ieICMPCode6        = 179
	ieIPTTL            = 192
	ieBiflowDirection  = 239
	ieDot1qVlanID      = 243
)

// penReverse is the private enterprise number RFC 5103 reserves for reverse elements.
const penReverse = 29305

// enterpriseBit marks a field specifier that carries an enterprise number (RFC 7011 3.2).
const enterpriseBit = 0x8000

// varLen is the field length that announces a variable-length field.
const varLen = 0xffff

// flowEndReason values (RFC 7011 / IANA).
const (
	endIdle     = 1
	endActive   = 2
	endOfFlow   = 3
	endForced   = 4
	endResource = 5
)

// biflowDirection values (RFC 5103 6.3).
const (
	biflowArbitrary = 0
	biflowInitiator = 1
	biflowReverse   = 2
)

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix).
const ntpEpochOffset = 2208988800

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)
