package record

import (
	"math"
	"net/netip"
	"strings"
)

// Kind says what a record describes.
type Kind uint8

const (
	KindFlow Kind = 1 // a bidirectional flow (Argus FAR)
	KindMan  Kind = 2 // a management record (Argus MAR): sensor start, status, stop
)

// Cause says why a record was emitted (Argus's "cause" field).
type Cause uint8

const (
	CauseStart   Cause = 1 // first record of a flow, or sensor start
	CauseStatus  Cause = 2 // periodic status record of a flow still active
	CauseStop    Cause = 3 // sensor stop (management) or end of input flush
	CauseClose   Cause = 4 // the flow ended: TCP close/reset or idle timeout
	CauseError   Cause = 5 // emitted because of an error
	CauseEvicted Cause = 6 // exported early because the flow table was full (Panoptes only)
)

var causeNames = [...]string{"", "Start", "Status", "Stop", "Close", "Error", "Evict"}

func (c Cause) String() string {
	if int(c) < len(causeNames) && c != 0 {
		return causeNames[c]
	}
	return "Unknown"
}

// Clock says which clock stamped a record's packets.
type Clock uint8

const (
	ClockFile     Clock = 0 // timestamps read from a capture file
	ClockHardware Clock = 1 // NIC hardware timestamp converted to wall time
	ClockXDP      Clock = 2 // software timestamp taken in the XDP program
	ClockUser     Clock = 3 // software timestamp taken in user space
)

var clockNames = [...]string{"file", "hw", "xdp", "user"}

func (c Clock) String() string {
	if int(c) < len(clockNames) {
		return clockNames[c]
	}
	return "unknown"
}

// Flag bits (Record.Flags): what was seen on the flow, printed in the flgs column.
const (
	FlagEthernet    uint32 = 1 << iota // Ethernet encapsulation ('e')
	FlagVLAN                           // 802.1Q tagged ('v')
	FlagMPLS                           // MPLS labelled ('m')
	FlagPPP                            // PPP / PPPoE ('p')
	FlagSLL                            // Linux cooked capture
	FlagFragments                      // IP fragments seen ('F')
	FlagFragPartial                    // fragments without their first fragment ('f')
	FlagMultiPath                      // TTL changed within a direction
	FlagTimeout                        // closed by idle timeout (dir 'o')
	FlagFlowExport                     // derived from NetFlow/IPFIX ('N')
	FlagLLC                            // 802.2 LLC
	FlagTruncated                      // some packets were truncated below the transport header
	FlagGRE                            // carried in GRE (or ERSPAN) and decapsulated ('G')
	// FlagFuture: stamped further in the future than the archive writer's clock allows
	// (index.FutureTolerance): stored as it came, never taken as "now" by retention.
	// Not in flgs (whose letters are Argus's); the filter word "future" selects it.
	FlagFuture
)

// TCP status bits (Record.TCPState): the events Argus derives its state name from.
const (
	TCPSawSyn      uint16 = 1 << iota // SYN from the source
	TCPSawSynAck                      // SYN-ACK from the destination
	TCPEstablished                    // handshake completed (ACK of the SYN-ACK)
	TCPSrcFin                         // FIN from the source
	TCPDstFin                         // FIN from the destination
	TCPClosed                         // both FINs seen (normal close)
	TCPReset                          // RST seen
	TCPTimedOut                       // closed by idle timeout
	TCPSrcWinShut                     // source advertised a zero window
	TCPDstWinShut                     // destination advertised a zero window
	TCPSrcEcn                         // ECN marks from the source
	TCPDstEcn
)

// Side is one direction of a flow: packets from the source (Src) or from the
// destination (Dst).
type Side struct {
	Pkts     uint64
	Bytes    uint64 // frame bytes on the wire, L2 header included, as Argus counts
	AppBytes uint64 // transport payload bytes
	MinSize  uint32 // smallest frame
	MaxSize  uint32 // largest frame
	TTL      uint8  // last IP TTL / hop limit
	ToS      uint8  // last IP ToS / traffic class
	VLAN     uint16 // last 802.1Q VLAN id
	MPLS     uint32 // last top MPLS label
	MAC      [6]byte

	// Inter-packet arrival times, kept as count, mean and sum of squared deviations
	// (Welford) so that records can be merged exactly (Chan et al.).
	IntN    uint64
	IntMean float64 // nanoseconds
	IntM2   float64 // nanoseconds squared

	// TCP.
	TCPFlags   uint8  // OR of the TCP flags seen
	BaseSeq    uint32 // initial sequence number seen
	Win        uint32 // last advertised window (unscaled)
	Retrans    uint64 // segments that repeat data already seen
	Loss       uint64 // segments estimated lost before the sensor (sequence gaps later filled)
	OutOfOrder uint64 // segments that arrived after a later segment
}

// Management holds the counters a management record carries.
type Management struct {
	PktsSeen       uint64 // packets read from all sources
	BytesSeen      uint64
	RecordsWritten uint64 // flow records written so far (management records not counted)
	FlowsActive    uint64 // flows in the tables when the record was made
	ParseErrors    uint64 // packets that failed to decode (truncated or malformed)
	SkippedLink    uint64 // packets of link types the decoder does not understand
	Evictions      uint64 // flows exported early because a table was full
	Drops          uint64 // packets the capture path lost (0 for files)
	NICDrops       uint64 // packets the NIC itself dropped (missed, FIFO and overrun errors)
	RecordDrops    uint64 // flow records lost inside the sensor (a shard's ring to the writer was full)
	// Future counts the records the archive writer stored stamped in the future
	// (FlagFuture), so far in this run.
	Future uint64
	// ClientsRefused and ClientDrops are the record service's (-P): clients refused
	// (busy, a bad hello or filter) and records dropped for slow clients or a fan-out
	// that fell behind; the records themselves are in the output all the same.
	ClientsRefused uint64
	ClientDrops    uint64
	// OutputDrops is the flow records the -w output dropped: a database output's
	// queue was full while the database refused its batches (package sqlrepo). A relay
	// adds its own to the count of the management records it passes on.
	OutputDrops uint64
	// Queues are the live capture's counters per receive queue (none for files); at
	// most MaxManQueues, the rest summed into a last entry named "other".
	Queues []QueueStats
}

// QueueStats are one receive queue's counters since the capture started: the XDP
// program's, and the AF_XDP socket's (XDP_STATISTICS); an AF_PACKET socket fills
// Received and RxDropped only.
type QueueStats struct {
	Name          string // "iface/queue"
	Seen          uint64 // frames the XDP program saw
	Redirected    uint64 // frames it redirected to the socket
	Passed        uint64 // frames it passed to the kernel's stack (no socket bound)
	XDPErrors     uint64 // frames whose metadata the program could not write
	Received      uint64 // frames the sensor took from the socket
	RxDropped     uint64 // dropped by the kernel: no fill-ring frame, or too long
	RxRingFull    uint64 // dropped: the RX ring was full (the sensor fell behind)
	FillRingEmpty uint64 // times the fill ring was empty (in copy mode also in RxDropped)
	RxInvalid     uint64 // invalid descriptors (a sensor bug if ever non-zero)
}

// MaxManQueues bounds the per-queue entries of one management record, so that it stays
// within MaxRecordLen.
const MaxManQueues = 32

// Record is one flow or management record. It is a plain value: the flow table keeps
// records inline, and encoding or decoding one allocates nothing (Man, used only by
// management records, is the exception).
type Record struct {
	Kind  Kind
	Cause Cause
	Clock Clock
	Flags uint32 // FlagXxx bits
	SrcID uint32 // observation point (sensor or import case) id
	Seq   uint32 // record sequence number within one sensor run

	StartTime int64 // nanoseconds since the Unix epoch
	LastTime  int64

	Family    uint8 // 4, 6, or 0 for non-IP flows (keyed by MAC pair and EtherType)
	Proto     uint8 // IP protocol
	EtherType uint16
	SrcAddr   [16]byte // IPv4 in the first 4 bytes
	DstAddr   [16]byte
	SrcPort   uint16 // ICMP: type
	DstPort   uint16 // ICMP: code
	ICMPID    uint16 // ICMP echo identifier
	ICMPSeq   uint16 // ICMP echo sequence number

	TCPState uint16 // TCPXxx bits
	SynAck   int64  // ns from SYN to SYN-ACK
	AckDat   int64  // ns from SYN-ACK to the ACK that completes the handshake

	Trans uint32 // records merged into this one (1 for a sensor record)

	// Sampling is N when the record was estimated from packets sampled 1 in N (sFlow
	// flow samples, scaled by N: counts are estimates, not exact); 0 when every packet
	// was counted. A merge keeps the largest N, so a total that includes sampled
	// records still says so.
	Sampling uint32

	// Inf names the capture interface (live capture) or pcapng interface the flow was
	// first seen on, NUL-padded; empty for plain pcap files.
	Inf [16]byte

	Src, Dst Side

	// Labels added by `panoptes label` (ralabel): ISO 3166 country codes of the two
	// addresses (zero if unknown), their autonomous system numbers, and free-form label
	// text (";"-separated). Records without labels carry the empty string: nothing to
	// allocate or copy on the hot path.
	SrcCountry, DstCountry [2]byte
	SrcAS, DstAS           uint32
	Label                  string

	Man *Management // set only for KindMan
}

// Addr returns the source or destination address as a netip.Addr (invalid for non-IP).
func (r *Record) Addr(src bool) netip.Addr {
	a := &r.DstAddr
	if src {
		a = &r.SrcAddr
	}
	switch r.Family {
	case 4:
		return netip.AddrFrom4([4]byte(a[:4]))
	case 6:
		return netip.AddrFrom16(*a)
	}
	return netip.Addr{}
}

// Pkts returns the total packets of both directions.
func (r *Record) Pkts() uint64 { return r.Src.Pkts + r.Dst.Pkts }

// Bytes returns the total bytes of both directions.
func (r *Record) Bytes() uint64 { return r.Src.Bytes + r.Dst.Bytes }

// Dur returns the record's duration in seconds.
func (r *Record) Dur() float64 { return float64(r.LastTime-r.StartTime) / 1e9 }

// MeanSize returns the mean frame size of one side.
func (s *Side) MeanSize() float64 {
	if s.Pkts == 0 {
		return 0
	}
	return float64(s.Bytes) / float64(s.Pkts)
}

// IntPkt returns the mean inter-packet time of one side in milliseconds.
func (s *Side) IntPkt() float64 { return s.IntMean / 1e6 }

// Jitter returns the standard deviation of the inter-packet time of one side in
// milliseconds.
func (s *Side) Jitter() float64 {
	if s.IntN < 2 {
		return 0
	}
	return math.Sqrt(s.IntM2/float64(s.IntN)) / 1e6
}

// AddInterval folds one inter-packet time (ns) into the running mean and variance.
func (s *Side) AddInterval(ns int64) {
	s.IntN++
	d := float64(ns) - s.IntMean
	s.IntMean += d / float64(s.IntN)
	s.IntM2 += d * (float64(ns) - s.IntMean)
}

// mergeSide adds o's counters into s. Last-value fields (TTL, ToS, MAC...) take o's
// values when o saw packets, since o is the later record.
func mergeSide(s, o *Side) {
	if o.Pkts == 0 {
		return
	}
	if s.Pkts == 0 || o.MinSize < s.MinSize {
		s.MinSize = o.MinSize
	}
	if o.MaxSize > s.MaxSize {
		s.MaxSize = o.MaxSize
	}
	if s.Pkts == 0 {
		s.BaseSeq = o.BaseSeq
		if s.MAC == ([6]byte{}) {
			s.MAC = o.MAC
		}
	}
	s.Pkts += o.Pkts
	s.Bytes += o.Bytes
	s.AppBytes += o.AppBytes
	s.TTL, s.ToS, s.VLAN, s.MPLS = o.TTL, o.ToS, o.VLAN, o.MPLS
	if o.MAC != ([6]byte{}) {
		s.MAC = o.MAC
	}
	if o.IntN > 0 {
		n := s.IntN + o.IntN
		d := o.IntMean - s.IntMean
		s.IntM2 += o.IntM2 + d*d*float64(s.IntN)*float64(o.IntN)/float64(n)
		s.IntMean += d * float64(o.IntN) / float64(n)
		s.IntN = n
	}
	s.TCPFlags |= o.TCPFlags
	s.Win = o.Win
	s.Retrans += o.Retrans
	s.Loss += o.Loss
	s.OutOfOrder += o.OutOfOrder
}

// Reverse swaps the source and destination of r: addresses, ports and both sides'
// counters, and the direction-specific TCP bits. Cluster uses it to merge the two
// half-records of one conversation.
func (r *Record) Reverse() {
	r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
	r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
	r.Src, r.Dst = r.Dst, r.Src
	r.SrcCountry, r.DstCountry = r.DstCountry, r.SrcCountry
	r.SrcAS, r.DstAS = r.DstAS, r.SrcAS
	st := r.TCPState &^ (TCPSrcFin | TCPDstFin | TCPSrcWinShut | TCPDstWinShut | TCPSrcEcn | TCPDstEcn)
	swap := func(a, b uint16) {
		if r.TCPState&a != 0 {
			st |= b
		}
		if r.TCPState&b != 0 {
			st |= a
		}
	}
	swap(TCPSrcFin, TCPDstFin)
	swap(TCPSrcWinShut, TCPDstWinShut)
	swap(TCPSrcEcn, TCPDstEcn)
	r.TCPState = st
}

// Merge folds o into r, as racluster does: counters are summed, the time span widened,
// status bits combined, and last-value fields take the later record's values.
// o must describe the same direction as r (call Reverse first if it does not).
func (r *Record) Merge(o *Record) {
	later := o.LastTime >= r.LastTime
	if o.StartTime < r.StartTime {
		r.StartTime = o.StartTime
	}
	if o.LastTime > r.LastTime {
		r.LastTime = o.LastTime
	}
	mergeSide(&r.Src, &o.Src)
	mergeSide(&r.Dst, &o.Dst)
	r.Flags |= o.Flags
	r.TCPState |= o.TCPState
	if r.SynAck == 0 {
		r.SynAck = o.SynAck
	}
	if r.AckDat == 0 {
		r.AckDat = o.AckDat
	}
	r.Trans += max(o.Trans, 1)
	r.Sampling = max(r.Sampling, o.Sampling)
	if later {
		r.Cause = o.Cause
	}
	mergeLabels(r, o)
}

// mergeLabels keeps the first known country and AS of each side, and joins the label
// texts as ralabel's merge does: each ";"-separated label once, in order of first
// appearance. Records whose labels agree (the common case) allocate nothing.
func mergeLabels(r, o *Record) {
	if r.SrcCountry == ([2]byte{}) {
		r.SrcCountry = o.SrcCountry
	}
	if r.DstCountry == ([2]byte{}) {
		r.DstCountry = o.DstCountry
	}
	if r.SrcAS == 0 {
		r.SrcAS = o.SrcAS
	}
	if r.DstAS == 0 {
		r.DstAS = o.DstAS
	}
	if o.Label == "" || o.Label == r.Label {
		return
	}
	if r.Label == "" {
		r.Label = o.Label
		return
	}
	r.Label = JoinLabels(r.Label, o.Label)
}

// JoinLabels appends to a the ";"-separated labels of b that a does not hold yet.
func JoinLabels(a, b string) string {
	out := a
	for _, l := range strings.Split(b, ";") {
		if l == "" || hasLabel(out, l) {
			continue
		}
		if out != "" {
			out += ";"
		}
		out += l
	}
	return out
}

func hasLabel(list, l string) bool {
	for _, x := range strings.Split(list, ";") {
		if x == l {
			return true
		}
	}
	return false
}
