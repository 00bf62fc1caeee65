package argus

// Version-3 Argus record format, as written by Argus 3.0.x and 5.0 (both write record
// version 3 in files). Every multi-byte value on disk is big-endian (Argus converts
// its host-order structures with ArgusHtoN before writing). The names follow Argus's
// argus_def.h and argus_out.h, so that a reader can find each value in Argus's sources;
// the code is our own.

// RecordHeader is the 4-byte header every record starts with:
//
//	 0               1               2               3
//	+-------+-------+-------+-------+-------------------------------+
//	| Type  | Vers  | Cause | Opt   |   Length (32-bit words)       |
//	+-------+-------+-------+-------+-------------------------------+
//
// Byte 0 holds the record type in its high nibble and the version in its low nibble;
// byte 1 the cause in its high nibble and options in its low nibble; bytes 2-3 the
// record's length in 32-bit words, this header included.
const (
	RecordHeaderLen = 4

	// Byte 0, high nibble: record type.
	TypeMask     = 0xF0
	TypeFAR      = 0x10 // flow activity record
	TypeIndex    = 0x20
	TypeNetflow  = 0x30 // FAR converted from Cisco NetFlow
	TypeEvent    = 0x40
	TypeAFlow    = 0x50
	TypeDataSup  = 0x60
	TypeArchival = 0x70
	TypeMAR      = 0x80 // management record

	// Byte 0, low nibble: record version.
	VersionMask = 0x0F
	Version3    = 3
	Version5    = 5 // in-memory version of Argus 5 clients; files are still written as 3

	// Byte 1, high nibble: cause.
	CauseMask     = 0xF0
	CauseStart    = 0x10
	CauseStatus   = 0x20
	CauseStop     = 0x30
	CauseTimeout  = 0x40
	CauseFlush    = 0x50
	CauseShutdown = 0x60
	CauseClosed   = 0x70
	CauseError    = 0x80

	// Byte 1, low nibble: options.
	OptMask        = 0x0F
	OptSrcRadium   = 0x08
	OptAccessDeny  = 0x01
	OptMaxListenEx = 0x02

	// MaxRecordLen is the largest record Argus reads or writes (ARGUS_MAXRECORDSIZE).
	MaxRecordLen = 0x40000
)

// Cookies in a MAR's argusid field at offset 8 of the first record of a stream. A
// file (or an Argus server's greeting) starts with a MAR of type TypeMAR|Version3 and
// one of these; that is the magic Panoptes recognises.
const (
	CookieV2 = 0xE5617ACB
	CookieV3 = 0xE5712DCB
	CookieV5 = 0xE57150CB
)

// MAR layout (struct ArgusMarStruct, 124 bytes after the record header; the record is
// 128 bytes, length 32 words). Offsets are from the start of the record, header
// included.
//
//	  4 status             u32   ARGUS_IDIS_* type of argusid in bits 20-23 for a status MAR
//	  8 argusid            u32   the cookie in the first MAR, else the sensor's id
//	 12 localnet           u32
//	 16 netmask            u32
//	 20 nextMrSequenceNum  u32
//	 24 startime           sec u32, usec u32: sensor start
//	 32 now                sec u32, usec u32: this record's time
//	 40 major, minor       u8, u8
//	 42 interfaceType      u8
//	 43 interfaceStatus    u8
//	 44 reportInterval     u16
//	 46 argusMrInterval    u16
//	 48 pktsRcvd           u64
//	 56 bytesRcvd          u64
//	 64 drift              i64
//	 72 records            u32
//	 76 flows              u32
//	 80 dropped            u32
//	 84 queue              u32
//	 88 output             u32
//	 92 clients            u32
//	 96 bufs               u32
//	100 bytes              u32
//	104 suserlen, duserlen u16, u16
//	108 pad                3 x u32
//	120 thisid             u32
//	124 record_len         i32   -1 in a stream's first MAR
const (
	MARLen = 128

	MAROffStatus      = 4
	MAROffArgusID     = 8
	MAROffLocalnet    = 12
	MAROffNetmask     = 16
	MAROffNextSeq     = 20
	MAROffStartSec    = 24
	MAROffStartUsec   = 28
	MAROffNowSec      = 32
	MAROffNowUsec     = 36
	MAROffMajor       = 40
	MAROffMinor       = 41
	MAROffIfType      = 42
	MAROffIfStatus    = 43
	MAROffReportIntvl = 44
	MAROffMarIntvl    = 46
	MAROffPktsRcvd    = 48
	MAROffBytesRcvd   = 56
	MAROffDrift       = 64
	MAROffRecords     = 72
	MAROffFlows       = 76
	MAROffDropped     = 80
	MAROffQueue       = 84
	MAROffOutput      = 88
	MAROffClients     = 92
	MAROffBufs        = 96
	MAROffBytes       = 100
	MAROffSUserLen    = 104
	MAROffDUserLen    = 106
	MAROffThisID      = 120
	MAROffRecordLen   = 124

	// MAR status: how argusid is to be read.
	IDIsMask   = 0x00F00000
	IDIncInf   = 0x00100000
	IDIsString = 0x00200000
	IDIsInt    = 0x00400000
	IDIsIPv6   = 0x00600000
	IDIsIPv4   = 0x00800000
	IDIsUUID   = 0x00A00000
	InitMAR    = 0x00100000
	SASLAuth   = 0x00001000
)

// A FAR is the record header followed by Data Specific Records (DSRs) up to the
// record's length. Each DSR starts with a 4-byte header:
//
//	 0               1               2               3
//	+-+-------------+---------------+---------------+---------------+
//	|I|   Type      |   SubType     |   Qualifier   | Length (words)|
//	+-+-------------+---------------+---------------+---------------+
//
// Length counts 32-bit words, this header included. With I (ImmediateData) set the
// DSR is exactly 4 bytes and bytes 2-3 are data. The data DSR (DSRData) has a 16-bit
// length in bytes 2-3 instead of qualifier and length.
const (
	DSRHeaderLen  = 4
	ImmediateData = 0x80
	MaxDSRLen     = 0xFF // words, for 8-bit lengths
	LenBits16     = 0x80 // subtype bit: 16-bit length (data DSR)
)

// DSR types (byte 0).
const (
	DSRTransport = 0x01
	DSRFlow      = 0x02
	DSRTime      = 0x03
	DSRTimeAdj   = 0x09
	DSRMeter     = 0x10 // metrics: packets, bytes, application bytes per direction
	DSRPSize     = 0x12 // packet sizes
	DSREncaps    = 0x20
	DSRNetwork   = 0x30 // TCP/ICMP/ESP/RTP/... state
	DSRASN       = 0x32
	DSRICMP      = 0x34
	DSRIB        = 0x35
	DSRISIS      = 0x36
	DSRRSVP      = 0x37
	DSRESP       = 0x38
	DSRLCP       = 0x39
	DSRATM       = 0x3A
	DSRVLAN      = 0x40
	DSRMAC       = 0x42
	DSRMPLS      = 0x44
	DSRJitter    = 0x46
	DSRHisto     = 0x47
	DSRIPAttr    = 0x48
	DSRData      = 0x50 // user data (payload bytes)
	DSRBehavior  = 0x54
	DSRScore     = 0x55
	DSRAgr       = 0x60 // aggregation: record count, active/idle statistics
	DSRCor       = 0x62
	DSRCoCode    = 0x64 // country codes
	DSRLabel     = 0x66
	DSRGeo       = 0x68
	DSRLocal     = 0x6A
)

// DSRName names a DSR type for warnings ("skipped 12 jitter DSRs").
func DSRName(t uint8) string {
	switch t &^ ImmediateData {
	case DSRTransport:
		return "transport"
	case DSRFlow:
		return "flow"
	case DSRTime:
		return "time"
	case DSRTimeAdj:
		return "time-adjust"
	case DSRMeter:
		return "metric"
	case DSRPSize:
		return "psize"
	case DSREncaps:
		return "encaps"
	case DSRNetwork:
		return "net"
	case DSRASN:
		return "asn"
	case DSRICMP:
		return "icmp"
	case DSRIB:
		return "ib"
	case DSRISIS:
		return "isis"
	case DSRRSVP:
		return "rsvp"
	case DSRESP:
		return "esp"
	case DSRLCP:
		return "lcp"
	case DSRATM:
		return "atm"
	case DSRVLAN:
		return "vlan"
	case DSRMAC:
		return "mac"
	case DSRMPLS:
		return "mpls"
	case DSRJitter:
		return "jitter"
	case DSRHisto:
		return "histo"
	case DSRIPAttr:
		return "ipattr"
	case DSRData:
		return "user-data"
	case DSRBehavior:
		return "behavior"
	case DSRScore:
		return "score"
	case DSRAgr:
		return "agr"
	case DSRCor:
		return "cor"
	case DSRCoCode:
		return "cocode"
	case DSRLabel:
		return "label"
	case DSRGeo:
		return "geo"
	case DSRLocal:
		return "local"
	}
	return "unknown"
}

// Qualifiers shared by several DSRs.
const (
	QualSrc        = 0x01
	QualDst        = 0x02
	QualSrcChanged = 0x04
	QualDstChanged = 0x08

	TypeIPv4      = 0x01
	TypeIPv6      = 0x02
	TypeEther     = 0x03
	TypeARP       = 0x04
	TypeRARP      = 0x05
	TypeMPLS      = 0x06
	TypeVLAN      = 0x07
	TypeWLAN      = 0x08
	TypeLCP       = 0x09
	TypeISIS      = 0x0A
	TypeIBLocal   = 0x0B
	TypeIBGlobal  = 0x0C
	TypeInterface = 0x10
	TypeInt       = 0x20
	TypeString    = 0x21
	TypeUUID      = 0x22
)

// Transport DSR (srcid and sequence number):
//
//	0 hdr: 0x01, subtype (SrcID|Seq|...), qualifier (id type), length
//	4 srcid: 4 bytes (IPv4, int, or 4 chars); 16 bytes for IPv6 / UUID ids
//	  [interface name: 4 chars, if subtype has TransInterface]
//	  seqnum u32, if subtype has TransSeq
const (
	TransSrcID     = 0x01 // subtype bit
	TransSeq       = 0x02 // subtype bit
	TransInterface = 0x10 // qualifier bit in Argus 5: a 4-char interface name follows the id
	TransQualType  = 0x0F // qualifier: TypeIPv4, TypeIPv6, TypeInt, TypeString...
)

// Flow DSR. Subtype: key bit, direction, and the flow kind; qualifier: address type
// and flags.
const (
	FlowSubtypeMask    = 0x3F
	FlowKeyAttribute   = 0x80
	FlowClassic5Tuple  = 0x01
	FlowLayer2Matrix   = 0x02
	FlowLayer3Matrix   = 0x03
	FlowMPLS           = 0x04
	FlowVLAN           = 0x05
	FlowARP            = 0x06
	FlowComposite      = 0x08
	FlowRMON           = 0x40 // subtype bit
	FlowQualTypeMask   = 0x1F
	FlowQualReverse    = 0x40 // Argus 3: source and destination swapped from first packet
	FlowQualUnidir     = 0x10
	FlowQualBidir      = 0x20
	FlowQualMaskLen    = 0x40
	FlowQualFragment   = 0x80
	FlowQualSystemFlow = 0x20
	FlowDirectionBit   = 0x40 // subtype bit ("D" in argus_def.h)
)

// Flow DSR bodies (after the 4-byte header).
//
//	IPv4 (qual TypeIPv4, 5 words):  src u32, dst u32, proto u8, tp_p u8, sport u16, dport u16, smask u8, dmask u8
//	IPv4 ICMP:                      src, dst, proto u8, tp_p u8, type u8, code u8, id u16, ip_id u16
//	IPv4 fragment (qual FlowQualFragment): src, dst, proto, tp_p, pad u16 x2, ip_id u16
//	IPv6 (qual TypeIPv6, 11 words): src [16], dst [16], proto u8 | 4 bits | flow label 20 bits, sport u16, dport u16, smask u16, dmask u16
//	IPv6 ICMPv6:                    src, dst, proto/flow u32, type u8, code u8, id u16
//	Ether (qual TypeEther):         dst mac [6], src mac [6], ethertype u16, dsap u8, ssap u8
//	ARP (qual TypeARP):             hrd u16, pro u16, hln u8, pln u8, op u16, spa u32, tpa u32, haddr [6]
//	RARP (qual TypeRARP):           hrd u16, pro u16, hln u8, pln u8, op u16, tpa u32, shaddr, dhaddr
const (
	FlowIPv4Len = 4 + 16 // header + body
	FlowIPv6Len = 4 + 40

	FlowOffSrc    = 4
	FlowOffDst4   = 8
	FlowOffProto4 = 12
	FlowOffSport4 = 14
	FlowOffDport4 = 16
	FlowOffDst6   = 20
	FlowOffProto6 = 36
	FlowOffSport6 = 40
	FlowOffDport6 = 42
)

// Time DSR. Subtype: absolute timestamp/range encodings and which timestamps are
// present; qualifier: unit.
//
//	hdr: 0x03, subtype, qualifier, length
//	src start (sec u32, usec/nsec u32), src end, dst start, dst end: each present as
//	flagged in the subtype (TimeSrcStart...); with none of those bits (older files),
//	ABSOLUTE_TIMESTAMP carries one time and ABSOLUTE_RANGE a start and an end.
const (
	TimeAbsTimestamp = 0x01
	TimeAbsRange     = 0x02
	TimeAbsRelRange  = 0x03
	TimeRelTimestamp = 0x04
	TimeRelRange     = 0x05
	TimeSrcStart     = 0x08
	TimeSrcEnd       = 0x10
	TimeDstStart     = 0x20
	TimeDstEnd       = 0x40
	TimeMask         = TimeSrcStart | TimeSrcEnd | TimeDstStart | TimeDstEnd
	TimeTypeMask     = 0x07
	TimeUTCMicro     = 0x18
	TimeUTCNano      = 0x19
	TimeMicro        = 0x1A
	TimeNano         = 0x1B
)

// Metric DSR (DSRMeter). Subtype: packets+bytes, or packets+bytes+appbytes;
// qualifier: which directions and the counter width.
//
//	PKTS_BYTES:     per present direction: pkts, bytes
//	PKTS_BYTES_APP: per present direction: pkts, bytes, appbytes
//	widths: byte (u8), short (u16), int (u32), long long (u64); source first.
const (
	MeterPktsBytes    = 0x01
	MeterPktsBytesApp = 0x04

	SrcDstByte     = 0x01
	SrcDstShort    = 0x02
	SrcDstInt      = 0x03
	SrcDstLongLong = 0x04
	SrcByte        = 0x05
	SrcShort       = 0x06
	SrcInt         = 0x07
	SrcLongLong    = 0x08
	DstByte        = 0x09
	DstShort       = 0x0A
	DstInt         = 0x0B
	DstLongLong    = 0x0C
)

// Packet size DSR (DSRPSize): qualifier as the metric DSR's (short or int), subtype
// says which directions; per direction min then max, then optional 8-byte histograms
// with PSizeHisto.
const (
	PSizeSrcMaxMin = 0x01
	PSizeDstMaxMin = 0x02
	PSizeHisto     = 0x04
)

// Network DSR (DSRNetwork) subtypes. TCP_PERF carries struct ArgusTCPObject:
//
//	 4 status u32 (TCP state bits below)
//	 8 state u32
//	12 options u32
//	16 synAckuSecs u32
//	20 ackDatauSecs u32
//	24 src: lasttime (sec, usec), status, seqbase, seq, ack, winnum, bytes,
//	   retrans, ackbytes, winbytes (u32 each), win u16, flags u8, winshift u8  (48 bytes)
//	72 dst: the same (48 bytes)
//
// TCP_STATUS is the short form (status u32, src flags u8, dst flags u8, pad u16);
// TCP_INIT the first record's form (status, seqbase, options u32; win u16, flags u8,
// winshift u8).
const (
	NetTCPInit   = 0x03
	NetTCPStatus = 0x04
	NetTCPPerf   = 0x05
	NetUDT       = 0x0D
	NetRTCP      = 0x09
	NetRTP       = 0x0A
	NetARP       = 0x10
	NetFrag      = 0x45

	TCPObjectLen    = 4 + 20 + 48 + 48
	TCPOffStatus    = 4
	TCPOffState     = 8
	TCPOffOptions   = 12
	TCPOffSynAck    = 16
	TCPOffAckDat    = 20
	TCPOffSrc       = 24
	TCPOffDst       = 72
	TCPMetricsLen   = 48
	TCPMOffLastSec  = 0
	TCPMOffLastUsec = 4
	TCPMOffStatus   = 8
	TCPMOffSeqBase  = 12
	TCPMOffSeq      = 16
	TCPMOffAck      = 20
	TCPMOffWinNum   = 24
	TCPMOffBytes    = 28
	TCPMOffRetrans  = 32
	TCPMOffAckBytes = 36
	TCPMOffWinBytes = 40
	TCPMOffWin      = 44
	TCPMOffFlags    = 46
	TCPMOffWinShift = 47
)

// TCP status bits (ArgusTCPObject.status).
const (
	TCPSawSyn         = 0x00000001
	TCPSawSynSent     = 0x00000002
	TCPConEstablished = 0x00000004
	TCPFin            = 0x00000008
	TCPFinAck         = 0x00000010
	TCPNormalClose    = 0x00000020
	TCPCloseWaiting   = 0x00000040
	TCPSrcPktsRetrans = 0x00000100
	TCPDstPktsRetrans = 0x00000200
	TCPSrcWindowShut  = 0x00000400
	TCPDstWindowShut  = 0x00000800
	TCPSrcReset       = 0x00001000
	TCPDstReset       = 0x00002000
	TCPSrcCongested   = 0x00004000
	TCPDstCongested   = 0x00008000
	TCPSrcOutOfOrder  = 0x00010000
	TCPDstOutOfOrder  = 0x00020000
	TCPSrcDuplicates  = 0x00040000
	TCPDstDuplicates  = 0x00080000
	TCPSrcGap         = 0x00400000
	TCPDstGap         = 0x00800000
	TCPSrcPktsDrop    = 0x10 // ARGUS_SRC_PKTS_DROP, in the per-direction status
	TCPDstPktsDrop    = 0x20

	// Options (ArgusTCPObject.options).
	TCPOptMaxSeg    = 0x00100000
	TCPOptWScale    = 0x00200000
	TCPOptSackOK    = 0x00400000
	TCPOptSack      = 0x00800000
	TCPOptEcho      = 0x01000000
	TCPOptEchoReply = 0x02000000
	TCPOptTimestamp = 0x04000000
	TCPOptCC        = 0x08000000
	TCPOptCCNew     = 0x10000000
	TCPOptCCEcho    = 0x20000000
	TCPOptSrcECN    = 0x40000000
	TCPOptDstECN    = 0x80000000
)

// VLAN DSR: qualifier QualSrc/QualDst says which ids are present;
//
//	4 sid u16 (802.1Q TCI), 6 did u16
const (
	VLANLen    = 8
	VLANOffSrc = 4
	VLANOffDst = 6
)

// MPLS DSR: subtype MPLSSrcLabel/MPLSDstLabel says which label stacks are present,
// each a u32 label stack entry (label in the top 20 bits).
const (
	MPLSSrcLabel        = 0x01
	MPLSDstLabel        = 0x02
	MPLSSrcLabelChanged = 0x10
	MPLSDstLabelChanged = 0x20
)

// MAC DSR: struct ArgusMacStruct, an Ethernet header:
//
//	4 dst mac [6], 10 src mac [6], 16 ethertype u16, 18 dsap u8, 19 ssap u8
//
// Qualifier: multipath bits.
const (
	MACLen          = 20
	MACOffDst       = 4
	MACOffSrc       = 10
	MACOffType      = 16
	MACSrcMultipath = 0x01
	MACDstMultipath = 0x02
	MACPortIndex    = 0x04
)

// Jitter DSR: qualifier says which of the four statistics are present, in the order
// src active, src idle, dst active, dst idle. Each is struct ArgusStatObject on disk:
//
//	n i32, minval f32, meanval f32, stdev f32, maxval f32 (20 bytes)
//	[fdist 8 bytes, only with the histogram subtype]
//
// Values are microseconds.
const (
	JitterSrcActive = 0x01
	JitterSrcIdle   = 0x02
	JitterDstActive = 0x04
	JitterDstIdle   = 0x08
	StatObjectLen   = 20
	StatFDistLen    = 8
)

// IP attribute DSR: qualifier says which sides (and options) are present; each side
// is struct ArgusIPAttrObject:
//
//	ttl u8, tos u8, ip_id u16, [options u32 with IPAttrSrcOptions / IPAttrDstOptions]
const (
	IPAttrSrc          = 0x01
	IPAttrDst          = 0x02
	IPAttrSrcOptions   = 0x04
	IPAttrDstOptions   = 0x08
	IPAttrSrcFragments = 0x10
	IPAttrDstFragments = 0x20
)

// Aggregation DSR (struct ArgusAgrStruct): record count, then times and statistics.
//
//	4 count u32, 8 laststartime (sec, usec), 16 lasttime (sec, usec), 24 act stats, idle stats
const (
	AgrOffCount = 4
)

// Country code DSR: 4 src [2]char, 6 dst [2]char.
const (
	CoCodeLen    = 8
	CoCodeOffSrc = 4
	CoCodeOffDst = 6
)

// Label DSR: NUL-padded text after the header, length words in the header.
const (
	LabelSvc  = 0x01
	LabelProc = 0x04
)

// Encapsulation DSR: 4 src mask u32, 8 dst mask u32 (ARGUS_ENCAPS_* bits, from
// Argus's argus_encapsulations.h).
const (
	EncapsMPLS   = 0x00001
	EncapsEther  = 0x00002
	Encaps8021Q  = 0x00004
	EncapsLLC    = 0x00008
	EncapsPPP    = 0x00010
	EncapsISL    = 0x00020
	EncapsGRE    = 0x00040
	EncapsAH     = 0x00080
	EncapsIP     = 0x00100
	EncapsIPv6   = 0x00200
	EncapsHDLC   = 0x00400
	EncapsCHDLC  = 0x00800
	EncapsATM    = 0x01000
	EncapsSLL    = 0x02000
	EncapsFDDI   = 0x04000
	EncapsSLIP   = 0x08000
	EncapsARCNET = 0x10000
	Encaps80211  = 0x20000
	EncapsPrism  = 0x40000
	EncapsAVS    = 0x80000
)
