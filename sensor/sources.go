package sensor

import (
	"strings"
	"time"

	"panoptes/afpacket"
	"panoptes/capture"
	"panoptes/record"
	"panoptes/ringbuf"
	"panoptes/sensor/decode"
	"panoptes/xdp"
)

// openSource opens the capture on one interface as configured: LiveConfig.Open if set
// (tests), else AF_PACKET or AF_XDP.
func openSource(cfg *LiveConfig, iface string, warn func(string)) (capture.Capture, error) {
	switch {
	case cfg.Open != nil:
		return cfg.Open(iface)
	case cfg.AFPacket:
		return afpacket.Open(iface, cfg.Queues)
	}
	xc := cfg.XDP
	xc.Interface, xc.Queues = iface, cfg.Queues
	return xdp.OpenSource(xc, warn)
}

// openSources opens the capture on every interface and makes a shard for each of
// their queues. On error what was opened is closed.
func openSources(cfg *LiveConfig, warn func(string)) ([]capture.Capture, []*shard, error) {
	var caps []capture.Capture
	var shards []*shard
	for _, name := range cfg.Interfaces {
		c, err := openSource(cfg, name, warn)
		if err != nil {
			closeSources(caps)
			return nil, nil, err
		}
		caps = append(caps, c)
		for _, q := range c.Queues() {
			shards = append(shards, &shard{q: q, ring: ringbuf.New[record.Record](cfg.RingSize)})
		}
	}
	return caps, shards, nil
}

func closeSources(caps []capture.Capture) {
	for _, c := range caps {
		c.Close()
	}
}

// reshardRing is the packets buffered from each receiver to each flow shard.
const reshardRing = 8192

// newFlowShards makes one flow shard per receive queue and gives every receiver a
// ring to every shard (reshard mode).
func newFlowShards(cfg *LiveConfig, caps []capture.Capture, shards []*shard) []*flowShard {
	n := len(shards)
	perShard := cfg.Flow.Share(n)
	perShard.EarliestIsSource = true
	perShard.SkewTolerance = cfg.ClockSkew
	if cfg.ClockSkew < 0 {
		perShard.SkewTolerance = 0
		for _, c := range caps {
			if c.HardwareClock() && len(cfg.Interfaces) > 1 {
				perShard.SkewTolerance = time.Millisecond
			}
		}
	}
	copy(perShard.Inf[:], strings.Join(cfg.Interfaces, ","))
	ringSize := cfg.reshardRing
	if ringSize <= 0 {
		ringSize = reshardRing
	}
	var flowShards []*flowShard
	for i := 0; i < n; i++ {
		flowShards = append(flowShards, &flowShard{cfg: perShard, ring: ringbuf.New[record.Record](cfg.RingSize)})
	}
	for _, s := range shards {
		for _, fs := range flowShards {
			r := ringbuf.New[decode.Packet](ringSize)
			s.fwd = append(s.fwd, r)
			fs.in = append(fs.in, r)
		}
	}
	return flowShards
}
