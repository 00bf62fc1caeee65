package sensor

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"panoptes/record"
)

// TestPerDirectionFields checks the per-direction fields of the flow model
// (packets, bytes on the wire, application bytes, smallest/largest/mean frame, TTL, ToS,
// MAC, VLAN, MPLS label, mean inter-packet time and jitter, TCP window closure) against values computed
// independently from the same captures with gopacket's pcap reader and layers. The
// comparison with Argus (TestAgainstArgus) checks only packets and bytes, and Argus
// computes the rest only with options off by default, so this is their oracle.
//
// Fields are compared per endpoint (address and port), so the check does not depend on
// which side Panoptes calls the source. Timers are pushed out of the way so that each
// conversation is one record, except the short trailing record a TCP close leaves; the
// interval statistics are compared only for conversations reported in one record,
// because a new record starts a new run of intervals.
func TestPerDirectionFields(t *testing.T) {
	captures := []string{"../testdata/get.pcap", "../testdata/dns.pcap", "../testdata/http_ipv6.pcap", "../testdata/q-in-q.pcap"}
	for _, name := range []string{"mpls-in-vlan.pcap", "mixed-vlan-mpls.pcap", "443-curl.pcap", "1kxun.pcap",
		"206_example_b.pcap", "edonkey.pcap", "ethereum.pcap"} { // the last three: zero windows
		if p := filepath.Join("..", "..", "shared", "pcaps", name); fileExists(p) {
			captures = append(captures, p)
		}
	}
	hour := time.Hour
	cfg := ImportConfig{Workers: 2}
	cfg.Flow.StatusInterval, cfg.Flow.TCPTimeout, cfg.Flow.UDPTimeout = hour, hour, hour
	cfg.Flow.ICMPTimeout, cfg.Flow.OtherTimeout, cfg.Flow.MaxFlows = hour, hour, 1<<16
	for _, capture := range captures {
		t.Run(filepath.Base(capture), func(t *testing.T) {
			want := gopacketEndpoints(t, capture)
			b, _, _, err := importBytes(t, []string{capture}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := map[endpointKey]*endpointStats{}
			records := map[convKey]int{}
			for _, r := range readAll(t, b) {
				if r.Kind != record.KindFlow || (r.Proto != 6 && r.Proto != 17) || r.Flags&record.FlagFragments != 0 {
					continue
				}
				src := endpointKey{r.Proto, netip.AddrPortFrom(r.Addr(true), r.SrcPort), netip.AddrPortFrom(r.Addr(false), r.DstPort)}
				dst := endpointKey{r.Proto, src.peer, src.self}
				records[src.conv()]++
				for _, e := range []struct {
					k endpointKey
					s *record.Side
				}{{src, &r.Src}, {dst, &r.Dst}} {
					if e.s.Pkts == 0 {
						continue
					}
					g := got[e.k]
					if g == nil {
						g = &endpointStats{min: math.MaxUint32}
						got[e.k] = g
					}
					g.pkts += e.s.Pkts
					g.bytes += e.s.Bytes
					g.app += e.s.AppBytes
					g.min = min(g.min, e.s.MinSize)
					g.max = max(g.max, e.s.MaxSize)
					g.ttl, g.tos, g.mac, g.vlan, g.mpls = e.s.TTL, e.s.ToS, e.s.MAC, e.s.VLAN, e.s.MPLS
					g.intMs, g.jitMs = e.s.IntPkt(), e.s.Jitter()
				}
				if r.Proto == 6 {
					got[src].winShut = got[src].winShut || r.TCPState&record.TCPSrcWinShut != 0
					if got[dst] != nil {
						got[dst].winShut = got[dst].winShut || r.TCPState&record.TCPDstWinShut != 0
					}
				}
			}
			if len(want) == 0 {
				t.Fatal("gopacket found no TCP or UDP conversation")
			}
			compared := 0
			for k, w := range want {
				g := got[k]
				if g == nil {
					t.Errorf("%v: %d packets in the capture, none in the records", k, w.pkts)
					continue
				}
				compared++
				check := func(field string, got, want any) {
					if got != want {
						t.Errorf("%v %s = %v, want %v", k, field, got, want)
					}
				}
				check("pkts", g.pkts, w.pkts)
				check("bytes", g.bytes, w.bytes)
				check("appbytes", g.app, w.app)
				check("minsz", g.min, w.min)
				check("maxsz", g.max, w.max)
				check("meansz", fmt.Sprintf("%.6f", float64(g.bytes)/float64(g.pkts)), fmt.Sprintf("%.6f", float64(w.bytes)/float64(w.pkts)))
				check("ttl", g.ttl, w.ttl)
				check("tos", g.tos, w.tos)
				check("mac", g.mac, w.mac)
				check("vlan", g.vlan, w.vlan)
				check("mpls", g.mpls, w.mpls)
				check("window closed", g.winShut, w.winShut)
				if records[k.conv()] == 1 {
					mean, jit := w.intervals()
					if math.Abs(g.intMs-mean) > 1e-6*max(1, mean) || math.Abs(g.jitMs-jit) > 1e-6*max(1, jit) {
						t.Errorf("%v intpkt, jitter = %.6f, %.6f ms; want %.6f, %.6f ms", k, g.intMs, g.jitMs, mean, jit)
					}
				}
			}
			for k := range got {
				if want[k] == nil {
					t.Errorf("%v: in the records, not in the capture", k)
				}
			}
			t.Logf("%d endpoints compared", compared)
		})
	}
}

// endpointKey is one side of a conversation: what it sent, to whom.
type endpointKey struct {
	proto      uint8
	self, peer netip.AddrPort
}

type convKey struct {
	proto uint8
	a, b  netip.AddrPort
}

func (k endpointKey) conv() convKey {
	if k.self.Compare(k.peer) < 0 {
		return convKey{k.proto, k.self, k.peer}
	}
	return convKey{k.proto, k.peer, k.self}
}

type endpointStats struct {
	pkts, bytes, app uint64
	min, max         uint32
	ttl, tos         uint8
	mac              [6]byte
	vlan             uint16
	mpls             uint32
	intMs, jitMs     float64
	winShut          bool // advertised a zero window (not in a SYN, FIN or RST)
	times            []time.Time
}

// intervals returns the mean and the population standard deviation of the times between
// consecutive packets, in milliseconds (Argus's sintpkt and sjit).
func (s *endpointStats) intervals() (mean, jitter float64) {
	n := len(s.times) - 1
	if n < 1 {
		return 0, 0
	}
	for i := 1; i <= n; i++ {
		mean += float64(s.times[i].Sub(s.times[i-1]).Nanoseconds())
	}
	mean /= float64(n)
	if n < 2 {
		return mean / 1e6, 0
	}
	var ss float64
	for i := 1; i <= n; i++ {
		d := float64(s.times[i].Sub(s.times[i-1]).Nanoseconds()) - mean
		ss += d * d
	}
	return mean / 1e6, math.Sqrt(ss/float64(n)) / 1e6
}

// gopacketEndpoints reads an Ethernet capture with gopacket and sums the TCP and UDP
// packets of each endpoint. Fragmented packets are left out (Panoptes marks their flows
// and the test skips those).
func gopacketEndpoints(t *testing.T, path string) map[endpointKey]*endpointStats {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rd interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	if r, err := pcapgo.NewReader(f); err == nil {
		rd = r
	} else if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	} else if rd, err = pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if rd.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("%s: link type %v, the test reads Ethernet only", path, rd.LinkType())
	}
	out := map[endpointKey]*endpointStats{}
	for {
		data, ci, err := rd.ReadPacketData()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		var (
			src, dst netip.Addr
			ttl, tos uint8
			ipPay    int
		)
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
				continue
			}
			ttl, tos = ip.TTL, ip.TOS
			src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
			ipPay = int(ip.Length) - int(ip.IHL)*4
		case *layers.IPv6:
			if pkt.Layer(layers.LayerTypeIPv6Fragment) != nil {
				continue
			}
			ttl, tos = ip.HopLimit, ip.TrafficClass
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
			ipPay = int(ip.Length)
		default:
			continue
		}
		var (
			proto        uint8
			sport, dport uint16
			app          int
			zeroWin      bool
		)
		switch l := pkt.TransportLayer().(type) {
		case *layers.TCP:
			proto, sport, dport = 6, uint16(l.SrcPort), uint16(l.DstPort)
			app = ipPay - int(l.DataOffset)*4
			zeroWin = l.Window == 0 && !l.SYN && !l.FIN && !l.RST
		case *layers.UDP:
			proto, sport, dport = 17, uint16(l.SrcPort), uint16(l.DstPort)
			app = int(l.Length) - 8
		default:
			continue
		}
		if pkt.NetworkLayer().LayerType() == layers.LayerTypeIPv6 {
			// IPv6 extension headers sit between the fixed header and the transport.
			if tl := pkt.TransportLayer(); tl != nil {
				app = len(tl.LayerPayload())
			}
		}
		k := endpointKey{proto, netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)}
		s := out[k]
		if s == nil {
			s = &endpointStats{min: math.MaxUint32}
			out[k] = s
		}
		s.pkts++
		s.bytes += uint64(ci.Length)
		s.app += uint64(max(app, 0))
		s.min = min(s.min, uint32(ci.Length))
		s.max = max(s.max, uint32(ci.Length))
		s.ttl, s.tos = ttl, tos
		if eth != nil {
			s.mac = [6]byte(eth.SrcMAC)
		}
		// The outermost VLAN tag and MPLS label, as Argus reports them.
		s.vlan, s.mpls = 0, 0
		if d, ok := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
			s.vlan = d.VLANIdentifier
		}
		if m, ok := pkt.Layer(layers.LayerTypeMPLS).(*layers.MPLS); ok {
			s.mpls = m.Label
		}
		s.times = append(s.times, ci.Timestamp)
		s.winShut = s.winShut || zeroWin
	}
	return out
}
