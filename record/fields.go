package record

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Format holds the output options that change how a field prints (ra's -p, -n, -u).
type Format struct {
	Precision int            // decimal places for fractional values and times (ra -p); default 6
	Numeric   bool           // print protocols as numbers (ra -n prints numbers, not names)
	Epoch     bool           // print times as seconds since the epoch (ra -u)
	Location  *time.Location // time zone for text times; nil means time.Local
	FullDate  bool           // print the date as well as the time of day
	Layout    *TimeLayout    // text times in this strftime-style layout (--time-format, RA_TIME_FORMAT); nil: ra's default
}

// DefaultFormat is what ra prints with no options.
var DefaultFormat = Format{Precision: 6}

// ValueKind says what kind of value a field holds; the filter and sorting use it.
type ValueKind uint8

const (
	KindNumber ValueKind = iota // an unsigned count or code (Uint)
	KindFloat                   // a real number (Float)
	KindTime                    // a time in ns since the epoch (Uint holds it as int64 bits)
	KindAddr                    // an address (Addr)
	KindText                    // text only
)

// Field is one entry of the field registry: an Argus field name usable in -s, -m, the
// filter and JSON output.
type Field struct {
	Name  string
	Label string // column header, as ra prints it
	Width int    // default text column width
	Kind  ValueKind
	Left  bool // left-align in text output
	// Uint returns the value of a KindNumber or KindTime field.
	Uint func(r *Record) uint64
	// Float returns the value of a KindFloat field.
	Float func(r *Record) float64
	// Text appends the text form of the value.
	Text func(dst []byte, r *Record, f *Format) []byte
	// JSON appends the JSON form of the value; nil means Uint as a number, or Text as a
	// string.
	JSON func(dst []byte, r *Record) []byte
}

// Registry lists every field by name, in the order `ra -s +all`-style listings use.
var Registry []*Field

// Reads returns the groups of a record's fields, beyond its flow key and times, that
// f's value and text read (AllFields unless f is known to read fewer): a reader that
// prints only such fields may decode only those (ColumnDecoder.SetFields).
// TestFieldReads checks each against records with the other fields cleared.
func (f *Field) Reads() Fields {
	if r, ok := fieldReads[f.Name]; ok {
		return r
	}
	return AllFields
}

// fieldReads lists the fields that read fewer than every field. The ports' text reads
// the protocol (a port of a protocol without ports prints empty); an address's reads
// the MAC of a non-IP flow.
var fieldReads = map[string]Fields{
	"stime": FieldsKey, "ltime": FieldsKey, "dur": FieldsKey, "srcid": FieldsKey, "proto": FieldsKey,
	"sport": FieldsKey, "dport": FieldsKey, "saddr": FieldsMAC, "daddr": FieldsMAC,
	"pkts": FieldsCounts, "spkts": FieldsCounts, "dpkts": FieldsCounts,
	"bytes": FieldsCounts, "sbytes": FieldsCounts, "dbytes": FieldsCounts,
	"flgs": FieldsStatus, "state": FieldsCounts | FieldsStatus, "cause": FieldsStatus, "dir": FieldsCounts | FieldsStatus,
}

var byName = map[string]*Field{}

// Lookup returns the field with the given Argus name.
func Lookup(name string) (*Field, bool) {
	f, ok := byName[strings.ToLower(name)]
	return f, ok
}

func register(f *Field) {
	if f.Text == nil {
		switch f.Kind {
		case KindNumber:
			u := f.Uint
			f.Text = func(dst []byte, r *Record, _ *Format) []byte { return strconv.AppendUint(dst, u(r), 10) }
		case KindFloat:
			fl := f.Float
			f.Text = func(dst []byte, r *Record, o *Format) []byte {
				return strconv.AppendFloat(dst, fl(r), 'f', o.Precision, 64)
			}
		}
	}
	Registry = append(Registry, f)
	byName[f.Name] = f
}

func num(name, label string, width int, u func(r *Record) uint64) {
	register(&Field{Name: name, Label: label, Width: width, Kind: KindNumber, Uint: u})
}

func realField(name, label string, width int, fl func(r *Record) float64) {
	register(&Field{Name: name, Label: label, Width: width, Kind: KindFloat, Float: fl})
}

func text(name, label string, width int, left bool, t func(dst []byte, r *Record, f *Format) []byte) {
	register(&Field{Name: name, Label: label, Width: width, Kind: KindText, Left: left, Text: t})
}

// sideNum registers the source and destination variants of a per-side count.
func sideNum(sname, slabel, dname, dlabel string, width int, u func(s *Side) uint64) {
	num(sname, slabel, width, func(r *Record) uint64 { return u(&r.Src) })
	num(dname, dlabel, width, func(r *Record) uint64 { return u(&r.Dst) })
}

func sideReal(sname, slabel, dname, dlabel string, width int, fl func(s *Side) float64) {
	realField(sname, slabel, width, func(r *Record) float64 { return fl(&r.Src) })
	realField(dname, dlabel, width, func(r *Record) float64 { return fl(&r.Dst) })
}

// jsonTime is RFC 3339 in UTC with all nine fractional digits. time.RFC3339Nano drops
// trailing zeros, which makes the strings' order differ from the times' order
// ("…:47.39512Z" sorts after "…:47.395121Z"), so sort and jq comparisons would misorder.
const jsonTime = "2006-01-02T15:04:05.000000000Z07:00"

func timeField(name, label string, get func(r *Record) int64) {
	register(&Field{
		Name: name, Label: label, Width: 15, Kind: KindTime,
		Uint: func(r *Record) uint64 { return uint64(get(r)) },
		Text: func(dst []byte, r *Record, f *Format) []byte { return AppendTime(dst, get(r), f) },
		JSON: func(dst []byte, r *Record) []byte {
			dst = append(dst, '"')
			dst = time.Unix(0, get(r)).UTC().AppendFormat(dst, jsonTime)
			return append(dst, '"')
		},
	})
}

func addrField(name, label string, src bool) {
	register(&Field{
		Name: name, Label: label, Width: 18, Kind: KindAddr,
		Text: func(dst []byte, r *Record, _ *Format) []byte { return AppendAddr(dst, r, src) },
	})
}

// AppendTime appends a time as ra prints it: time of day with Precision decimals (or
// in Layout), or epoch seconds with -u.
func AppendTime(dst []byte, ns int64, f *Format) []byte {
	if f.Epoch {
		return strconv.AppendFloat(dst, float64(ns)/1e9, 'f', f.Precision, 64)
	}
	loc := f.Location
	if loc == nil {
		loc = time.Local
	}
	t := time.Unix(0, ns).In(loc)
	if f.Layout != nil {
		return f.Layout.Append(dst, t, f.Precision)
	}
	if f.FullDate {
		dst = t.AppendFormat(dst, "2006/01/02.")
	}
	dst = t.AppendFormat(dst, "15:04:05")
	if f.Precision > 0 {
		// Digits of the nanoseconds, most significant first, without allocating.
		ns := t.Nanosecond()
		dst = append(dst, '.')
		div := 100000000
		for i := 0; i < min(f.Precision, 9); i++ {
			dst = append(dst, byte('0'+ns/div%10))
			div /= 10
		}
	}
	return dst
}

// AppendAddr appends the source or destination address: an IP address, the ARP
// protocol address for ARP, or the MAC address for other non-IP flows.
func AppendAddr(dst []byte, r *Record, src bool) []byte {
	switch {
	case r.Family == 4 || r.Family == 6:
		return r.Addr(src).AppendTo(dst)
	case r.EtherType == 0x0806 || r.EtherType == 0x8035:
		a := r.DstAddr
		if src {
			a = r.SrcAddr
		}
		return netip.AddrFrom4([4]byte(a[:4])).AppendTo(dst)
	}
	if src {
		return AppendMAC(dst, r.Src.MAC)
	}
	return AppendMAC(dst, r.Dst.MAC)
}

// AppendMAC appends a MAC address in colon-separated hex.
func AppendMAC(dst []byte, m [6]byte) []byte {
	for i, b := range m {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = hex.AppendEncode(dst, []byte{b})
	}
	return dst
}

var protoNames = map[uint8]string{
	0: "hopopt", 1: "icmp", 2: "igmp", 4: "ipv4", 6: "tcp", 8: "egp", 9: "igp", 17: "udp",
	27: "rdp", 33: "dccp", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp", 47: "gre",
	50: "esp", 51: "ah", 58: "ipv6-icmp", 59: "ipv6-nonxt", 60: "ipv6-opts", 88: "eigrp", 89: "ospf",
	94: "ipip", 103: "pim", 112: "vrrp", 115: "l2tp", 132: "sctp", 135: "mobility-header",
	136: "udplite", 137: "mpls-in-ip",
}

var etherNames = map[uint16]string{
	0x0806: "arp", 0x8035: "rarp", 0x88cc: "lldp", 0x8137: "ipx", 0x888e: "eapol",
	0x88f7: "ptp", 0x8863: "pppoed", 0x8100: "802.1q", 0x9000: "loop", 0x86dd: "ipv6", 0x0800: "ip",
}

// ProtoNumber returns the IP protocol number for a protocol name ("tcp", "ipv6-icmp"...).
func ProtoNumber(name string) (uint8, bool) {
	for n, s := range protoNames {
		if s == name {
			return n, true
		}
	}
	return 0, false
}

// AppendProto appends the protocol as ra prints it: its name, or its number with -n;
// for non-IP flows, the EtherType's name or hex value.
func AppendProto(dst []byte, r *Record, numeric bool) []byte {
	if r.Family == 0 {
		if n, ok := etherNames[r.EtherType]; ok && !numeric {
			return append(dst, n...)
		}
		if r.EtherType == 0 {
			return append(dst, "llc"...)
		}
		return append(append(dst, "0x"...), hex.AppendEncode(nil, []byte{byte(r.EtherType >> 8), byte(r.EtherType)})...)
	}
	if n, ok := protoNames[r.Proto]; ok && !numeric {
		return append(dst, n...)
	}
	return strconv.AppendUint(dst, uint64(r.Proto), 10)
}

// HasPorts reports whether the record's protocol has ports (TCP, UDP, SCTP...).
func (r *Record) HasPorts() bool {
	if r.Family == 0 {
		return false
	}
	switch r.Proto {
	case 6, 17, 132, 33, 136:
		return true
	}
	return false
}

// IsICMP reports whether the record is an ICMP or ICMPv6 flow.
func (r *Record) IsICMP() bool {
	return (r.Family == 4 && r.Proto == 1) || (r.Family == 6 && r.Proto == 58)
}

func appendPort(dst []byte, r *Record, p uint16) []byte {
	if r.HasPorts() || r.IsICMP() {
		return strconv.AppendUint(dst, uint64(p), 10)
	}
	return dst
}

// Dir returns the direction indicator ra prints: "->" when the source is known to have
// started the flow, "<->" for traffic both ways, "<?>" or "?>" when a TCP flow was
// joined midstream, and "who" for ARP requests.
func (r *Record) Dir() string {
	both := r.Src.Pkts > 0 && r.Dst.Pkts > 0
	if r.Family == 0 && (r.EtherType == 0x0806 || r.EtherType == 0x8035) {
		if both {
			return "<->"
		}
		return "who"
	}
	if r.Family != 0 && r.Proto == 6 {
		switch {
		case r.TCPState&TCPSawSyn != 0:
			return "->"
		case both:
			return "<?>"
		case r.Src.Pkts == 0 && r.Dst.Pkts > 0:
			return "<?" // only the destination was heard (a record read from Argus)
		default:
			return "?>"
		}
	}
	if both {
		return "<->"
	}
	if r.Dst.Pkts > 0 && r.Src.Pkts == 0 {
		return "<-"
	}
	return "->"
}

// Flags returns ra's flgs column: nine positions, each a character or a space.
func (r *Record) FlagString() [9]byte {
	var f [9]byte
	for i := range f {
		f[i] = ' '
	}
	if r.Flags&FlagFlowExport != 0 {
		f[0] = 'N'
	}
	switch {
	case r.Flags&FlagGRE != 0:
		f[1] = 'G'
	case r.Flags&FlagMPLS != 0:
		f[1] = 'm'
	case r.Flags&FlagVLAN != 0:
		f[1] = 'v'
	case r.Flags&FlagPPP != 0:
		f[1] = 'p'
	case r.Flags&FlagEthernet != 0:
		f[1] = 'e'
	}
	sl, dl := r.Src.Retrans+r.Src.Loss > 0, r.Dst.Retrans+r.Dst.Loss > 0
	switch {
	case sl && dl:
		f[3] = '*'
	case sl:
		f[3] = 's'
	case dl:
		f[3] = 'd'
	}
	so, do := r.Src.OutOfOrder > 0, r.Dst.OutOfOrder > 0
	switch {
	case so && do:
		f[4] = '&'
	case so:
		f[4] = 'i'
	case do:
		f[4] = 'r'
	}
	sw, dw := r.TCPState&TCPSrcWinShut != 0, r.TCPState&TCPDstWinShut != 0
	switch {
	case sw && dw:
		f[5] = '@'
	case sw:
		f[5] = 'S'
	case dw:
		f[5] = 'D'
	}
	if r.TCPState&(TCPSrcEcn|TCPDstEcn) != 0 {
		f[6] = 'E'
	}
	switch {
	case r.Flags&FlagFragPartial != 0:
		f[7] = 'f'
	case r.Flags&FlagFragments != 0:
		f[7] = 'F'
	}
	return f
}

// State returns the state name ra prints (REQ ACC CON CLO FIN RST TIM INT, the ICMP
// names ECO ECR URP ..., STA/STP/... for management records).
func (r *Record) State() string {
	if r.Kind == KindMan {
		switch r.Cause {
		case CauseStart:
			return "STA"
		case CauseStop:
			return "STP"
		}
		return "CON"
	}
	if r.Family != 0 && r.Proto == 6 {
		s := r.TCPState
		switch {
		case s&TCPReset != 0:
			return "RST"
		case s&(TCPSrcFin|TCPDstFin) != 0:
			return "FIN"
		case s&TCPClosed != 0:
			return "CLO"
		case s&TCPTimedOut != 0:
			return "TIM"
		case s&TCPEstablished != 0:
			return "CON"
		case s&TCPSawSynAck != 0:
			return "ACC"
		case s&TCPSawSyn != 0:
			return "REQ"
		}
		return "CON"
	}
	if r.IsICMP() {
		if s := icmpState(r); s != "" {
			return s
		}
	}
	if r.Src.Pkts > 0 && r.Dst.Pkts > 0 {
		return "CON"
	}
	return "INT"
}

var icmpUnreach = [...]string{"URN", "URH", "URPRO", "URP", "URF", "URS", "URNU", "URHU", "URISO",
	"URNPRO", "URHPRO", "URNTOS", "URHTOS", "URFIL", "URPRE", "URCUT"}

func icmpState(r *Record) string {
	t, c := r.SrcPort, r.DstPort
	if r.Family == 4 {
		switch t {
		case 8, 0:
			if t == 0 && r.Dst.Pkts == 0 {
				return "ECR"
			}
			return "ECO"
		case 3:
			if int(c) < len(icmpUnreach) {
				return icmpUnreach[c]
			}
			return "UNR"
		case 4:
			return "SRC"
		case 5:
			return "RED"
		case 9:
			return "RTA"
		case 10:
			return "RTS"
		case 11:
			return "TXD"
		case 12:
			return "PAR"
		case 13:
			return "TST"
		case 14:
			return "TSR"
		case 15:
			return "IRQ"
		case 16:
			return "IRR"
		case 17:
			return "MAS"
		case 18:
			return "MSR"
		}
		return ""
	}
	switch t {
	case 128, 129:
		if t == 129 && r.Dst.Pkts == 0 {
			return "ECR"
		}
		return "ECO"
	case 1:
		switch c {
		case 0:
			return "URN"
		case 1:
			return "URFIL"
		case 3:
			return "URH"
		case 4:
			return "URP"
		}
		return "UNR"
	case 2:
		return "PTB"
	case 3:
		return "TXD"
	case 4:
		return "PAR"
	case 130:
		return "MRQ"
	case 131, 143:
		return "MHR"
	case 133:
		return "NRS"
	case 134:
		return "NRA"
	case 135:
		return "NNS"
	case 136:
		return "NNA"
	case 137:
		return "RED"
	}
	return ""
}

func rtt(ns int64) float64 { return float64(ns) / 1e9 }

func init() {
	timeField("stime", "StartTime", func(r *Record) int64 { return r.StartTime })
	timeField("ltime", "LastTime", func(r *Record) int64 { return r.LastTime })
	realField("dur", "Dur", 10, (*Record).Dur)
	num("srcid", "SrcId", 10, func(r *Record) uint64 { return uint64(r.SrcID) })
	text("inf", "Inf", 6, true, func(dst []byte, r *Record, _ *Format) []byte {
		for _, c := range r.Inf {
			if c == 0 {
				break
			}
			dst = append(dst, c)
		}
		return dst
	})
	num("seq", "Seq", 10, func(r *Record) uint64 { return uint64(r.Seq) })
	num("trans", "Trans", 6, func(r *Record) uint64 { return uint64(max(r.Trans, 1)) })
	// N of 1-in-N packet sampling (sFlow): the record's counts are estimates scaled by
	// N; 0 when every packet was counted. Not an Argus field.
	num("sampling", "Sampling", 8, func(r *Record) uint64 { return uint64(r.Sampling) })
	register(&Field{Name: "proto", Label: "Proto", Width: 6, Kind: KindNumber,
		Uint: func(r *Record) uint64 { return uint64(r.Proto) },
		Text: func(dst []byte, r *Record, f *Format) []byte { return AppendProto(dst, r, f.Numeric) },
		JSON: func(dst []byte, r *Record) []byte {
			return AppendJSONString(dst, AppendProto(nil, r, false))
		},
	})
	addrField("saddr", "SrcAddr", true)
	register(&Field{Name: "sport", Label: "Sport", Width: 6, Kind: KindNumber, Left: true,
		Uint: func(r *Record) uint64 { return uint64(r.SrcPort) },
		Text: func(dst []byte, r *Record, _ *Format) []byte { return appendPort(dst, r, r.SrcPort) }})
	text("dir", "Dir", 5, false, func(dst []byte, r *Record, _ *Format) []byte { return append(dst, r.Dir()...) })
	addrField("daddr", "DstAddr", false)
	register(&Field{Name: "dport", Label: "Dport", Width: 6, Kind: KindNumber, Left: true,
		Uint: func(r *Record) uint64 { return uint64(r.DstPort) },
		Text: func(dst []byte, r *Record, _ *Format) []byte { return appendPort(dst, r, r.DstPort) }})
	num("pkts", "TotPkts", 8, (*Record).Pkts)
	sideNum("spkts", "SrcPkts", "dpkts", "DstPkts", 8, func(s *Side) uint64 { return s.Pkts })
	num("bytes", "TotBytes", 10, (*Record).Bytes)
	sideNum("sbytes", "SrcBytes", "dbytes", "DstBytes", 10, func(s *Side) uint64 { return s.Bytes })
	num("appbytes", "TotAppByte", 10, func(r *Record) uint64 { return r.Src.AppBytes + r.Dst.AppBytes })
	sideNum("sappbytes", "SAppBytes", "dappbytes", "DAppBytes", 10, func(s *Side) uint64 { return s.AppBytes })
	text("state", "State", 5, true, func(dst []byte, r *Record, _ *Format) []byte { return append(dst, r.State()...) })
	text("flgs", "Flgs", 9, true, func(dst []byte, r *Record, _ *Format) []byte {
		f := r.FlagString()
		return append(dst, f[:]...)
	})
	text("cause", "Cause", 6, false, func(dst []byte, r *Record, _ *Format) []byte { return append(dst, r.Cause.String()...) })
	text("clock", "Clock", 5, false, func(dst []byte, r *Record, _ *Format) []byte { return append(dst, r.Clock.String()...) })
	for _, s := range []struct {
		name, label string
		src         bool
	}{{"smac", "SrcMac", true}, {"dmac", "DstMac", false}} {
		s := s
		register(&Field{Name: s.name, Label: s.label, Width: 17, Kind: KindText,
			Text: func(dst []byte, r *Record, _ *Format) []byte {
				side := &r.Dst
				if s.src {
					side = &r.Src
				}
				if side.MAC == ([6]byte{}) {
					return dst
				}
				return AppendMAC(dst, side.MAC)
			}})
	}
	sideNum("svlan", "sVlan", "dvlan", "dVlan", 5, func(s *Side) uint64 { return uint64(s.VLAN) })
	sideNum("smpls", "sMpls", "dmpls", "dMpls", 7, func(s *Side) uint64 { return uint64(s.MPLS) })
	sideNum("sttl", "sTtl", "dttl", "dTtl", 4, func(s *Side) uint64 { return uint64(s.TTL) })
	sideNum("stos", "sTos", "dtos", "dTos", 4, func(s *Side) uint64 { return uint64(s.ToS) })
	num("sdsb", "sDSb", 4, func(r *Record) uint64 { return uint64(r.Src.ToS >> 2) })
	num("ddsb", "dDSb", 4, func(r *Record) uint64 { return uint64(r.Dst.ToS >> 2) })
	realField("tcprtt", "TcpRtt", 10, func(r *Record) float64 { return rtt(r.SynAck + r.AckDat) })
	realField("synack", "SynAck", 10, func(r *Record) float64 { return rtt(r.SynAck) })
	realField("ackdat", "AckDat", 10, func(r *Record) float64 { return rtt(r.AckDat) })
	sideNum("sloss", "SrcLoss", "dloss", "DstLoss", 7, func(s *Side) uint64 { return s.Loss })
	num("loss", "Loss", 7, func(r *Record) uint64 { return r.Src.Loss + r.Dst.Loss })
	realField("ploss", "pLoss", 7, func(r *Record) float64 {
		if p := r.Pkts(); p > 0 {
			return 100 * float64(r.Src.Loss+r.Dst.Loss) / float64(p)
		}
		return 0
	})
	sideNum("sretrans", "SrcRetra", "dretrans", "DstRetra", 8, func(s *Side) uint64 { return s.Retrans })
	sideNum("sooo", "SrcOoo", "dooo", "DstOoo", 6, func(s *Side) uint64 { return s.OutOfOrder })
	sideReal("sjit", "SrcJitter", "djit", "DstJitter", 10, (*Side).Jitter)
	sideReal("sintpkt", "SIntPkt", "dintpkt", "DIntPkt", 10, (*Side).IntPkt)
	sideReal("smeansz", "sMeanPktSz", "dmeansz", "dMeanPktSz", 10, (*Side).MeanSize)
	sideNum("smaxsz", "sMaxPktSz", "dmaxsz", "dMaxPktSz", 9, func(s *Side) uint64 { return uint64(s.MaxSize) })
	sideNum("sminsz", "sMinPktSz", "dminsz", "dMinPktSz", 9, func(s *Side) uint64 { return uint64(s.MinSize) })
	sideNum("stcpb", "SrcTCPBase", "dtcpb", "DstTCPBase", 10, func(s *Side) uint64 { return uint64(s.BaseSeq) })
	sideNum("swin", "SrcWin", "dwin", "DstWin", 6, func(s *Side) uint64 { return uint64(s.Win) })
	// Management record counters (zero for flow records): what `read -- man` shows
	// about the sensor's health.
	manNum := func(name, label string, get func(m *Management) uint64) {
		num(name, label, 10, func(r *Record) uint64 {
			if r.Man == nil {
				return 0
			}
			return get(r.Man)
		})
	}
	manNum("seen", "PktsSeen", func(m *Management) uint64 { return m.PktsSeen })
	manNum("written", "Records", func(m *Management) uint64 { return m.RecordsWritten })
	manNum("flows", "Flows", func(m *Management) uint64 { return m.FlowsActive })
	manNum("drops", "Drops", func(m *Management) uint64 { return m.Drops })
	manNum("nicdrops", "NICDrops", func(m *Management) uint64 { return m.NICDrops })
	manNum("evictions", "Evicted", func(m *Management) uint64 { return m.Evictions })
	manNum("perrs", "ParseErrs", func(m *Management) uint64 { return m.ParseErrors })
	manNum("skipped", "Skipped", func(m *Management) uint64 { return m.SkippedLink })
	manNum("rdrops", "RecDrops", func(m *Management) uint64 { return m.RecordDrops })
	manNum("future", "Future", func(m *Management) uint64 { return m.Future })
	manNum("crefused", "CliRefused", func(m *Management) uint64 { return m.ClientsRefused })
	manNum("cdrops", "CliDrops", func(m *Management) uint64 { return m.ClientDrops })
	manNum("odrops", "OutDrops", func(m *Management) uint64 { return m.OutputDrops })
	// The live capture's loss counters, summed over its receive queues; `queues` lists
	// them per queue.
	queueSum := func(name, label string, get func(q *QueueStats) uint64) {
		manNum(name, label, func(m *Management) uint64 {
			var n uint64
			for i := range m.Queues {
				n += get(&m.Queues[i])
			}
			return n
		})
	}
	queueSum("xdpseen", "XDPSeen", func(q *QueueStats) uint64 { return q.Seen })
	queueSum("xdppassed", "XDPPassed", func(q *QueueStats) uint64 { return q.Passed })
	queueSum("xdperrs", "XDPErrs", func(q *QueueStats) uint64 { return q.XDPErrors })
	queueSum("rxdropped", "RxDropped", func(q *QueueStats) uint64 { return q.RxDropped })
	queueSum("ringfull", "RingFull", func(q *QueueStats) uint64 { return q.RxRingFull })
	queueSum("fillempty", "FillEmpty", func(q *QueueStats) uint64 { return q.FillRingEmpty })
	queueSum("invalid", "Invalid", func(q *QueueStats) uint64 { return q.RxInvalid })
	text("queues", "Queues", 20, true, func(dst []byte, r *Record, _ *Format) []byte {
		if r.Man == nil {
			return dst
		}
		for i := range r.Man.Queues {
			q := &r.Man.Queues[i]
			if i > 0 {
				dst = append(dst, ' ')
			}
			// No commas: the list stays one field of -c , output.
			dst = fmt.Appendf(dst, "%s{seen=%d;rcvd=%d;passed=%d;xdperr=%d;rxdrop=%d;ringfull=%d;fillempty=%d;invalid=%d}",
				q.Name, q.Seen, q.Received, q.Passed, q.XDPErrors, q.RxDropped, q.RxRingFull, q.FillRingEmpty, q.RxInvalid)
		}
		return dst
	})
	realField("rate", "Rate", 10, func(r *Record) float64 { return rate(r.Pkts(), r) })
	realField("srate", "SrcRate", 10, func(r *Record) float64 { return rate(r.Src.Pkts, r) })
	realField("drate", "DstRate", 10, func(r *Record) float64 { return rate(r.Dst.Pkts, r) })
	realField("load", "Load", 10, func(r *Record) float64 { return 8 * rate(r.Bytes(), r) })
	realField("sload", "SrcLoad", 10, func(r *Record) float64 { return 8 * rate(r.Src.Bytes, r) })
	realField("dload", "DstLoad", 10, func(r *Record) float64 { return 8 * rate(r.Dst.Bytes, r) })
	// Labels added by `panoptes label` (ralabel).
	text("sco", "sCo", 3, false, func(dst []byte, r *Record, _ *Format) []byte { return AppendCountry(dst, r.SrcCountry) })
	text("dco", "dCo", 3, false, func(dst []byte, r *Record, _ *Format) []byte { return AppendCountry(dst, r.DstCountry) })
	num("sas", "sAS", 8, func(r *Record) uint64 { return uint64(r.SrcAS) })
	num("das", "dAS", 8, func(r *Record) uint64 { return uint64(r.DstAS) })
	text("label", "Label", 20, true, func(dst []byte, r *Record, _ *Format) []byte { return append(dst, r.Label...) })
}

// AppendCountry appends a 2-letter country code, or nothing when it is unknown.
func AppendCountry(dst []byte, cc [2]byte) []byte {
	if cc == ([2]byte{}) {
		return dst
	}
	return append(dst, cc[0], cc[1])
}

// rate is units per second over the record's duration (0 for a zero-length record, as
// ra prints).
func rate(n uint64, r *Record) float64 {
	d := r.Dur()
	if d <= 0 || n < 2 {
		return 0
	}
	return float64(n-1) / d
}

// ParseFieldList parses a -s field list: comma- or space-separated names, each
// optionally with ":width". It returns the fields and widths (0 = default).
func ParseFieldList(spec []string) ([]*Field, []int, error) {
	var fields []*Field
	var widths []int
	for _, s := range spec {
		for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			w := 0
			if i := strings.IndexByte(name, ':'); i >= 0 {
				n, err := strconv.Atoi(name[i+1:])
				if err != nil || n <= 0 || n > 256 {
					return nil, nil, fmt.Errorf("field %q: bad width %q", name[:i], name[i+1:])
				}
				w, name = n, name[:i]
			}
			f, ok := Lookup(name)
			if !ok {
				return nil, nil, fmt.Errorf("unknown field %q", name)
			}
			fields = append(fields, f)
			widths = append(widths, w)
		}
	}
	return fields, widths, nil
}

// AppendJSONValue appends field f of r as a JSON value.
func AppendJSONValue(dst []byte, f *Field, r *Record) []byte {
	if f.JSON != nil {
		return f.JSON(dst, r)
	}
	switch f.Kind {
	case KindNumber:
		return strconv.AppendUint(dst, f.Uint(r), 10)
	case KindFloat:
		v := f.Float(r)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, v, 'f', -1, 64)
	}
	return AppendJSONString(dst, f.Text(nil, r, &DefaultFormat))
}

// AppendJSONString appends s as a JSON string: quotes, backslash escapes for '"', '\\'
// and control characters, and \ufffd for bytes that are not UTF-8.
func AppendJSONString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
