package record

import (
	"math"
	"time"
)

// BinStart returns the start of the bin of width size that holds t (ns since the
// epoch). Bins are aligned in local time, so that 1d bins start at local midnight as
// Argus's do (for widths up to an hour this is the same as aligning to the epoch).
func BinStart(t int64, size time.Duration) int64 {
	_, off := time.Unix(0, t).Zone()
	lt := t + int64(off)*int64(time.Second)
	m := lt % int64(size)
	if m < 0 {
		m += int64(size)
	}
	return t - m
}

// SplitAtBins cuts r at the bin boundaries it spans and calls fn with each piece, in
// time order (fn may keep nothing: the piece is reused). As Argus's record alignment
// does, each piece but the last gets floor(packets x its share of the remaining
// duration) of each side's packets, and bytes (and app bytes, retransmissions, loss,
// out-of-order) in proportion to the packets it got; the last piece gets what is left,
// so the pieces sum to the record. A record within one bin, or of zero duration, is
// passed whole. Pieces without packets are skipped.
//
// Argus prorates each direction over that direction's own first and last packet
// times; a Panoptes record keeps one span for both, so where the two directions' spans
// differ a piece can get a packet more or less than rabins gives it (the record's
// totals are the same).
func SplitAtBins(r *Record, size time.Duration, fn func(*Record)) {
	start := BinStart(r.StartTime, size)
	if r.LastTime <= start+int64(size) {
		fn(r)
		return
	}
	rem := *r
	for {
		end := BinStart(rem.StartTime, size) + int64(size)
		if rem.LastTime <= end {
			if rem.Src.Pkts+rem.Dst.Pkts > 0 {
				fn(&rem)
			}
			return
		}
		frac := float64(end-rem.StartTime) / float64(rem.LastTime-rem.StartTime)
		piece := rem
		piece.LastTime = end
		takeShare(&piece.Src, &rem.Src, frac)
		takeShare(&piece.Dst, &rem.Dst, frac)
		rem.StartTime = end
		if piece.Src.Pkts+piece.Dst.Pkts > 0 {
			fn(&piece)
		}
	}
}

// takeShare sets piece's counters to frac of rem's (rounded down, bytes following
// packets) and takes them out of rem.
func takeShare(piece, rem *Side, frac float64) {
	total := rem.Pkts
	p := uint64(math.Floor(float64(total) * frac))
	share := func(v uint64) uint64 {
		if total == 0 {
			return 0
		}
		return uint64(math.Floor(float64(v) * float64(p) / float64(total)))
	}
	piece.Pkts = p
	piece.Bytes = share(rem.Bytes)
	piece.AppBytes = share(rem.AppBytes)
	piece.Retrans = share(rem.Retrans)
	piece.Loss = share(rem.Loss)
	piece.OutOfOrder = share(rem.OutOfOrder)
	piece.IntN = share(rem.IntN)
	piece.IntM2 = rem.IntM2 * float64(p) / math.Max(float64(total), 1)
	rem.Pkts -= piece.Pkts
	rem.Bytes -= piece.Bytes
	rem.AppBytes -= piece.AppBytes
	rem.Retrans -= piece.Retrans
	rem.Loss -= piece.Loss
	rem.OutOfOrder -= piece.OutOfOrder
	rem.IntN -= piece.IntN
	rem.IntM2 -= piece.IntM2
}
