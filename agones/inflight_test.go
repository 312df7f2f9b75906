package agones

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 23, 54, 10, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// ctr is a Counter of capacity 40.
func ctr(n int64) counterState { return counterState{n, 40} }

func TestInflightAllocationArrivesOrTimesOut(t *testing.T) {
	a := newInflight(10*time.Second, 2*time.Second)
	a.sample(at(0), 0)
	a.observe(at(0), "", ctr(0), true)
	a.observe(at(100), "t1", ctr(1), true) // the allocator's +1
	if n := a.count(at(100)); n != 1 {
		t.Fatalf("in flight %d, want 1", n)
	}
	a.sample(at(400), 1) // its session
	if n := a.count(at(400)); n != 0 {
		t.Fatalf("in flight after the arrival %d, want 0", n)
	}
	a.observe(at(1000), "t2", ctr(2), true) // one that never arrives
	if n := a.count(at(10999)); n != 1 {
		t.Fatalf("in flight before the timeout %d, want 1", n)
	}
	if n := a.count(at(11000)); n != 0 {
		t.Fatalf("in flight at the timeout %d, want 0", n)
	}
}

func TestInflightSessionBeforeWatch(t *testing.T) {
	a := newInflight(10*time.Second, 2*time.Second)
	a.sample(at(0), 0)
	a.observe(at(0), "", ctr(0), true)
	a.sample(at(100), 1)                   // admitted before the watch shows the allocation
	a.observe(at(300), "t1", ctr(1), true) // the allocation: its session is here already
	if n := a.count(at(300)); n != 0 {
		t.Fatalf("in flight %d, want 0 (the session is counted once)", n)
	}
	// A credit does not outlive the timeout.
	a.sample(at(1000), 2)
	a.observe(at(11000), "t2", ctr(2), true)
	if n := a.count(at(11000)); n != 1 {
		t.Fatalf("in flight %d, want 1 (the credit had expired)", n)
	}
}

func TestInflightCoalescedAndOwnWrites(t *testing.T) {
	a := newInflight(10*time.Second, 2*time.Second)
	a.sample(at(0), 3)
	a.observe(at(0), "", ctr(3), true)
	// Two allocations in one event.
	a.observe(at(100), "t2", ctr(5), true)
	if n := a.count(at(100)); n != 2 {
		t.Fatalf("in flight %d, want 2", n)
	}
	// The pod writes 5 (3 sessions + 2); its echo is no allocation.
	a.wrote(at(200), ctr(5))
	a.observe(at(300), "t2", ctr(5), true)
	if n := a.count(at(300)); n != 2 {
		t.Fatalf("in flight after the echo %d, want 2", n)
	}
	if c, ok := a.counter(); !ok || c != ctr(5) {
		t.Fatalf("counter %v %v", c, ok)
	}
	// A session ends: the pod writes 4 (2 sessions + 2). Before that write
	// lands an allocation comes, and the event shows 5: was it 5 + 1 with
	// the write still to land, or 4 + 1? The smaller reading: 1.
	a.sample(at(400), 2)
	a.wrote(at(400), ctr(4))
	a.observe(at(500), "t3", ctr(5), true)
	if n := a.count(at(500)); n != 3 {
		t.Fatalf("in flight %d, want 3", n)
	}
	// The pod's write raised the count (4 → 6 say) and an allocation
	// landed after it: the event shows 7, only 1 is new.
	a.wrote(at(600), ctr(6))
	a.observe(at(700), "t4", ctr(7), true)
	if n := a.count(at(700)); n != 4 {
		t.Fatalf("in flight %d, want 4 (the write's own raise is no allocation)", n)
	}
	// Seen landed: a later echo of 7 drops the writes.
	if len(a.writes) == 0 {
		t.Fatal("writes dropped before any echo")
	}
	a.observe(at(800), "t4", ctr(6), true) // an older state: writes kept
	if c, _ := a.counter(); c != ctr(6) {
		t.Fatalf("counter %v, want the pending write 6", c)
	}
	a.observe(at(900), "t4", ctr(6), true)
	if len(a.writes) != 0 {
		t.Fatalf("writes %v after their echo", a.writes)
	}
	// A write never seen stops counting after echo.
	a.wrote(at(1000), ctr(9))
	if c, _ := a.counter(); c != ctr(9) {
		t.Fatalf("counter %v", c)
	}
	a.expire(at(3000))
	if c, _ := a.counter(); c != ctr(6) {
		t.Fatalf("counter %v after the echo window, want the observed 6", c)
	}
}

func TestInflightSelfAllocation(t *testing.T) {
	a := newInflight(10*time.Second, 2*time.Second)
	a.sample(at(0), 1)
	a.observe(at(0), "", ctr(1), true)
	a.selfAllocated(at(100))
	a.observe(at(200), "self", ctr(1), true) // the sidecar's own stamp, no +1
	if n := a.count(at(200)); n != 0 {
		t.Fatalf("in flight %d after a self-allocation, want 0", n)
	}
	a.observe(at(300), "alloc", ctr(1), true) // the allocator at a full counter: still one
	if n := a.count(at(300)); n != 1 {
		t.Fatalf("in flight %d, want 1", n)
	}
}

func TestInflightFirstLookAndNoCounter(t *testing.T) {
	a := newInflight(time.Second, time.Second)
	a.sample(at(0), 1)
	a.observe(at(0), "old", ctr(3), true) // 2 slots beyond the sessions
	if n := a.count(at(0)); n != 2 {
		t.Fatalf("in flight %d at the first look, want 2", n)
	}
	if n := a.count(at(1000)); n != 0 {
		t.Fatalf("in flight %d after the timeout, want 0", n)
	}
	b := newInflight(time.Second, time.Second)
	b.sample(at(0), 0)
	b.observe(at(0), "", counterState{}, false)
	b.observe(at(10), "t1", counterState{}, false)
	if n := b.count(at(10)); n != 1 {
		t.Fatalf("in flight %d without a Counter, want 1", n)
	}
	if _, ok := b.counter(); ok {
		t.Fatal("a Counter known though undeclared")
	}
}

// TestInflightMissHealsWithinTimeout checks the bound of the doc comment:
// a tracker that missed one allocation agrees again with a perfect one
// within the timeout of the miss, under steady traffic that always has
// allocations in flight (one allocation a second, each session 3 s later,
// timeout 10 s), and so does a tracker with one phantom.
func TestInflightMissHealsWithinTimeout(t *testing.T) {
	const timeout = 10 * time.Second
	for _, tc := range []struct {
		name  string
		extra int // allocations the tracker under test adds at 5 s: -1 missed, +1 phantom
	}{{"missed", -1}, {"phantom", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			truth, got := newInflight(timeout, time.Second), newInflight(timeout, time.Second)
			sessions := 0
			for ms := 0; ms <= 60000; ms += 100 {
				now := at(ms)
				if ms%1000 == 0 && ms >= 3000 && ms <= 50000 {
					sessions++ // the session of the allocation of 3 s ago
				}
				truth.sample(now, sessions)
				got.sample(now, sessions)
				if ms%1000 == 0 && ms <= 47000 {
					truth.allocated(now, 1)
					got.allocated(now, max(0, 1+tc.extra*boolInt(ms == 5000)))
				}
				if ms >= 5000+int(timeout/time.Millisecond) {
					if g, w := got.count(now), truth.count(now); g != w {
						t.Fatalf("at %s: %d in flight, the truth %d", time.Duration(ms)*time.Millisecond, g, w)
					}
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
