package netio

import "time"

// Adaptive receive coalescing (Config.CoalesceBudget).
//
// Voice clients send smoothly: at tens of thousands of packets per second
// from thousands of independent senders, a shard blocked in recvmmsg is
// woken for almost every datagram, and the wake-up and the two system calls
// of each turn (recvmmsg, sendmmsg) cost more than the packet's own work.
// When recent batches are small while packets keep coming, the shard
// instead pauses briefly (a plain nanosleep, no socket waiter, so the
// senders do not pay a wake-up either) before its next receive, so that
// datagrams accumulate in the socket buffer and the next recvmmsg returns
// a batch. The pause is bounded by the budget, so no datagram waits in the
// buffer longer than about the budget plus one turn of processing.
//
// The pause is never taken when the shard is idle or the rate is low: it
// is taken only when at least coalesceMinExpected datagrams are expected
// within the budget (from a moving average of the time between
// datagrams), and only after a batch smaller than the target.

const (
	// coalesceTarget is the batch the pause aims to gather: enough that a
	// turn's fixed cost (wake-up, recvmmsg, sendmmsg) is spread thin.
	coalesceTarget = 16
	// coalesceMinExpected: pause only when at least this many datagrams
	// are expected within the budget; below that the rate is too low for
	// waiting to gather anything worth the latency.
	coalesceMinExpected = 4
	// coalesceMinPause: a shorter pause is not worth its system call.
	coalesceMinPause = 20 * time.Microsecond
	// coalesceGapShift: the moving average of the gap between datagrams
	// weights a new sample 1/8 (1 << 3).
	coalesceGapShift = 3
)

// coalescer decides the pause before each receive. It belongs to the
// shard's goroutine; time is passed in (nanoseconds of Now), so its
// decisions are deterministic.
type coalescer struct {
	budget int64 // ns; 0 = off
	target int   // batch aimed at: min(coalesceTarget, BatchSize)
	gap    int64 // moving average of ns between datagrams; 0 = no estimate
	last   int64 // when the previous receive returned datagrams; 0 = never
}

func newCoalescer(budget time.Duration, batch int) coalescer {
	return coalescer{budget: int64(budget), target: min(coalesceTarget, batch)}
}

// received records a receive that returned n datagrams at now (n may be
// 0: a timeout or a wake-up, which leaves the estimate as it was until
// datagrams come again: the gap since the last batch then counts).
func (c *coalescer) received(now int64, n int) {
	if c.budget == 0 || n <= 0 {
		return
	}
	if c.last != 0 && now > c.last {
		g := (now - c.last) / int64(n)
		if c.gap == 0 {
			c.gap = g
		} else {
			c.gap += (g - c.gap) >> coalesceGapShift
		}
	}
	c.last = now
}

// pause returns how long to wait (ns) before the next receive, given that
// the last batch had n datagrams and was received at c.last; now is the
// time the turn ends. 0: receive at once.
func (c *coalescer) pause(now int64, n int) int64 {
	if c.budget == 0 || n <= 0 || n >= c.target || c.gap <= 0 {
		return 0
	}
	if c.gap*coalesceMinExpected > c.budget {
		return 0 // too few datagrams expected within the budget
	}
	// Since the last receive, the turn's own processing already let
	// datagrams accumulate; wait for the rest of the target, within budget.
	d := min(c.gap*int64(c.target), c.budget) - (now - c.last)
	if d < int64(coalesceMinPause) {
		return 0
	}
	return d
}
