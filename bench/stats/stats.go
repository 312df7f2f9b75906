// Package stats is voxbench's arithmetic: a fixed-bucket latency histogram
// (no allocation per sample) and the per-stream receive accounting of one
// listener hearing one sender (delivered, duplicates, reordering, jitter).
// Every value is recorded on the receiving goroutine; nothing here locks.
package stats

import (
	"math"
	"math/bits"
	"time"
)

// subBits is the log2 of the sub-buckets per power of two: 16 sub-buckets,
// so a bucket's width is at most 1/16 of its lower bound (6.25 %).
const subBits = 4

const (
	sub      = 1 << subBits
	maxExp   = 40 // values up to 2^44 µs (~200 days) fit
	nBuckets = sub + maxExp*sub
)

// Histogram counts durations in microsecond buckets: exact below 16 µs,
// then 16 log-linear sub-buckets per power of two (relative error below
// 6.25 %). The exact minimum, maximum and sum are kept too. Its zero value
// is ready; it is a fixed-size value (about 5 KiB) and never allocates.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sumUS  float64
	min    time.Duration
	max    time.Duration
}

func bucketOf(us uint64) int {
	if us < sub {
		return int(us)
	}
	e := bits.Len64(us) - subBits - 1 // us>>e in [16, 32)
	i := sub + e*sub + int(us>>e) - sub
	if i >= nBuckets {
		return nBuckets - 1
	}
	return i
}

// bucketUpper returns the largest value (µs) bucket i holds.
func bucketUpper(i int) uint64 {
	if i < sub {
		return uint64(i)
	}
	e := (i - sub) / sub
	m := uint64((i-sub)%sub + sub)
	return (m+1)<<e - 1
}

// Record adds one sample; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d/time.Microsecond))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sumUS += float64(d) / float64(time.Microsecond)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sumUS += o.sumUS
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest sample (exact), 0 without samples.
func (h *Histogram) Max() time.Duration { return h.max }

// Min returns the smallest sample (exact), 0 without samples.
func (h *Histogram) Min() time.Duration { return h.min }

// Mean returns the mean sample, 0 without samples.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sumUS / float64(h.n) * float64(time.Microsecond))
}

// Quantile returns the q-quantile (0 < q ≤ 1) by the nearest-rank method:
// the upper bound of the bucket holding the ceil(q·n)-th smallest sample,
// clamped to [Min, Max]; 0 without samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketUpper(i)) * time.Microsecond
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return v
		}
	}
	return h.max
}

// Stream is what one listener received from one sender: the sender's
// packets are numbered 0, 1, 2, ... in their payload, and only those the
// caller deems inside the measured window are passed to Add. Its zero value
// is ready; Grow preallocates the duplicate bitmap.
type Stream struct {
	// Received counts distinct sequence numbers received.
	Received uint64
	// Duplicates counts copies of a sequence number already received.
	Duplicates uint64
	// Reordered counts packets that arrived after one with a higher
	// sequence number (late, not duplicated).
	Reordered uint64
	// Jitter is the RFC 3550 A.8 interarrival jitter estimate over the
	// one-way transit times (send to arrival).
	Jitter time.Duration

	seen        []uint64 // bitmap by sequence number
	maxSeq      uint32
	any         bool
	lastTransit time.Duration
}

// Grow makes room for sequence numbers below n without allocating later.
func (s *Stream) Grow(n uint32) {
	words := int(n/64) + 1
	if words > len(s.seen) {
		s.seen = append(s.seen, make([]uint64, words-len(s.seen))...)
	}
}

// Add accounts one packet with sequence number seq and one-way transit
// time transit. It reports whether the packet was new (not a duplicate).
func (s *Stream) Add(seq uint32, transit time.Duration) bool {
	w, b := int(seq/64), uint64(1)<<(seq%64)
	if w >= len(s.seen) {
		s.Grow(seq + seq/2 + 64)
	}
	if s.seen[w]&b != 0 {
		s.Duplicates++
		return false
	}
	s.seen[w] |= b
	s.Received++
	if s.any {
		if seq < s.maxSeq {
			s.Reordered++
		}
		// RFC 3550 A.8: J += (|D| - J) / 16, D the change in transit.
		d := transit - s.lastTransit
		if d < 0 {
			d = -d
		}
		s.Jitter += (d - s.Jitter) / 16
	}
	if !s.any || seq > s.maxSeq {
		s.maxSeq = seq
	}
	s.any = true
	s.lastTransit = transit
	return true
}

// Loss returns the lost fraction of expected packets given delivered,
// 0 when nothing was expected. More delivered than expected counts as no
// loss (a sender counted short), never as negative loss.
func Loss(expected, delivered uint64) float64 {
	if expected == 0 || delivered >= expected {
		return 0
	}
	return float64(expected-delivered) / float64(expected)
}
