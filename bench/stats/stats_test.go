package stats

import (
	"testing"
	"time"
)

const us = time.Microsecond

func TestHistogramExactSmall(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10; i++ { // 1..10 µs, exact buckets
		h.Record(time.Duration(i) * us)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * us}, {0.9, 9 * us}, {0.99, 10 * us}, {1, 10 * us}, {0.01, 1 * us}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("q%.2f = %v, want %v", c.q, got, c.want)
		}
	}
	if h.Count() != 10 || h.Max() != 10*us || h.Min() != us || h.Mean() != 5500*time.Nanosecond {
		t.Fatalf("count %d max %v min %v mean %v", h.Count(), h.Max(), h.Min(), h.Mean())
	}
}

func TestHistogramPercentilesLarge(t *testing.T) {
	var h Histogram
	// 1000 samples of 1 ms, 9 of 50 ms, 1 of 2 s: p50 ~1 ms, p99 ~1 ms,
	// p99.9 ~50 ms, max 2 s exactly.
	for range 990 {
		h.Record(time.Millisecond)
	}
	for range 9 {
		h.Record(50 * time.Millisecond)
	}
	h.Record(2 * time.Second)
	within := func(got, want time.Duration) bool {
		return got >= want && float64(got) <= float64(want)*1.0625
	}
	if got := h.Quantile(0.5); !within(got, time.Millisecond) {
		t.Errorf("p50 %v", got)
	}
	if got := h.Quantile(0.99); !within(got, time.Millisecond) {
		t.Errorf("p99 %v", got)
	}
	if got := h.Quantile(0.999); !within(got, 50*time.Millisecond) {
		t.Errorf("p99.9 %v", got)
	}
	if got := h.Quantile(1); got != 2*time.Second || h.Max() != 2*time.Second {
		t.Errorf("max %v %v", got, h.Max())
	}
	var m Histogram
	m.Merge(&h)
	m.Merge(&h)
	if m.Count() != 2000 || m.Quantile(0.999) != h.Quantile(0.999) || m.Max() != h.Max() {
		t.Errorf("merge: %d %v", m.Count(), m.Quantile(0.999))
	}
	if allocs := testing.AllocsPerRun(100, func() { h.Record(3 * time.Millisecond) }); allocs != 0 {
		t.Errorf("Record allocates %v", allocs)
	}
}

func TestBuckets(t *testing.T) {
	// Every value lies in its bucket, and buckets are at most 6.25 % wide.
	for _, v := range []uint64{0, 1, 15, 16, 17, 31, 32, 33, 1000, 1023, 1024, 123456, 1 << 40} {
		i := bucketOf(v)
		up := bucketUpper(i)
		lo := uint64(0)
		if i > 0 {
			lo = bucketUpper(i-1) + 1
		}
		if v < lo || v > up {
			t.Errorf("%d in bucket %d [%d,%d]", v, i, lo, up)
		}
		if lo >= 16 && float64(up-lo+1) > float64(lo)/16 {
			t.Errorf("bucket %d [%d,%d] too wide", i, lo, up)
		}
	}
	if bucketOf(1<<62) != nBuckets-1 {
		t.Error("huge value not in the last bucket")
	}
}

func TestStream(t *testing.T) {
	var s Stream
	s.Grow(8)
	// 0 1 2 4 3 3 6 5 9 (7, 8 lost): 8 distinct, 1 dup, 2 reordered (3, 5).
	for _, seq := range []uint32{0, 1, 2, 4, 3, 3, 6, 5, 9} {
		s.Add(seq, time.Millisecond)
	}
	if s.Received != 8 || s.Duplicates != 1 || s.Reordered != 2 || s.Jitter != 0 {
		t.Fatalf("%+v", s)
	}
	if got := Loss(10, s.Received); got != 0.2 {
		t.Fatalf("loss %v", got)
	}
	if Loss(0, 0) != 0 || Loss(5, 7) != 0 || Loss(4, 0) != 1 {
		t.Fatal("loss edge cases")
	}
	// Grows past the bitmap; a large seq is accepted.
	if !s.Add(100000, time.Millisecond) || s.Add(100000, 0) {
		t.Fatal("grow")
	}
}

func TestStreamJitter(t *testing.T) {
	// Transit alternating 1 ms and 3 ms: |D| = 2 ms each time, so J
	// converges to 2 ms (RFC 3550 A.8).
	var s Stream
	for i := range uint32(2000) {
		tr := time.Millisecond
		if i%2 == 1 {
			tr = 3 * time.Millisecond
		}
		s.Add(i, tr)
	}
	if s.Jitter < 1990*us || s.Jitter > 2*time.Millisecond {
		t.Fatalf("jitter %v", s.Jitter)
	}
}
