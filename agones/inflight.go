package agones

import (
	"time"
)

// inflight counts the allocations in flight on the pod, so that the
// sessions Counter can be kept at sessions + allocations in flight: the
// allocator adds 1 to the Counter when it allocates the pod
// (GameServerAllocation counters: {sessions: {action: Increment, amount:
// 1}}), and the session that allocation is for arrives at the pod's admin
// API some time later, or never.
//
// # What is in flight
//
// An allocation is in flight from the moment the pod sees it until a new
// session arrives or the allocation timeout passes, whichever is first:
//
//   - The pod sees an allocation when the GameServer's annotation
//     agones.dev/last-allocated changes on the watch. The allocator sets
//     it on every allocation, a re-allocation of an Allocated GameServer
//     included (applyAllocationToGameServer in
//     pkg/gameserverallocations/allocator.go). The pod's own self-allocation
//     sets it too (updateState in pkg/sdkserver/sdkserver.go) without
//     touching the Counter; it is recognised and not counted.
//   - Several allocations can reach the pod in one watch event (the
//     sidecar's informer coalesces updates). How many the allocator added
//     is read from the Counter in the same event: n = count - base, where
//     base is the count before them. base is ambiguous while one of the
//     pod's own absolute writes may still land (the real sidecar answers a
//     counter write before it applies it, and applies it up to about a
//     second later): the write may have landed before the allocations
//     (base = the written count) or not yet (base = the count last
//     observed). The smaller reading is taken: base = the largest of the
//     two, and n at least 1, since the annotation did change. So an
//     allocation is never counted twice and the pod's own write, echoed
//     back, is never taken for allocations; the price is that an
//     allocation can be missed in that ambiguous window (an undercount,
//     healed as below).
//   - A session arrives when the pod's session count rises between two
//     samples (taken on every watch event and every report round). Each
//     arrival ends one allocation in flight: the one seen last (LIFO, see
//     the bound below). An arrival with nothing in flight — the admin API
//     can admit the session before the sidecar's watch shows the
//     allocation — is kept as a credit for the timeout, and the next
//     allocation seen consumes it instead of going in flight: the session
//     is counted once, as a session.
//
// # The bound
//
// Every entry (allocation in flight) and credit lives at most the timeout
// from the moment it was recorded. Compare the tracked entries with those
// a perfect observer would hold (same rule, no missed or phantom
// allocation, no hidden arrival). One discrepancy — an allocation missed at
// time t, or an extra entry recorded at t (an arrival hidden by a session
// ending between the same two samples leaves one) — always sits on an
// entry seen at or before t: an arrival removes the newest entry of each
// side, so when it removes the discrepant entry from one side the other
// side loses its newest instead, which is older still. Entries expire in
// the order they were seen, so by t + timeout the discrepancy is gone. Each
// discrepancy heals on its own the same way. With a FIFO rule the
// discrepancy could move to newer entries and outlive the timeout under
// steady traffic, hence LIFO.
//
// The Lifecycle writes the absolute count sessions + in flight (capped by
// the capacity) whenever it differs from what the Counter holds, at most
// once per report interval, so the Counter is never wrong for longer than
// the timeout plus one report interval (plus the sidecar's own delay).
//
// inflight is not safe for concurrent use; the Lifecycle guards it. Every
// method takes the time now, so that tests drive it with any clock.
type inflight struct {
	timeout time.Duration
	// echo is how long a write is taken to be landing: the pod's own
	// writes are candidates for base that long, or until the watch shows
	// them.
	echo time.Duration

	entries []time.Time // when each allocation in flight was seen, oldest first
	credits []time.Time // arrivals with nothing in flight, oldest first

	sessions int // the session count last sampled
	sampled  bool

	seen       bool   // a GameServer was observed
	annotation string // last-allocated as last observed
	observed   counterState
	hasCounter bool
	writes     []pendingWrite // the pod's writes not yet seen landed, oldest first
	selfAlloc  time.Time      // when the pod allocated itself; zero when not pending
}

// counterState is a count and capacity of the Counter.
type counterState struct{ count, capacity int64 }

// pendingWrite is a write of the Counter that may not have landed yet.
type pendingWrite struct {
	counterState
	at time.Time
}

func newInflight(timeout, echo time.Duration) *inflight {
	return &inflight{timeout: timeout, echo: echo}
}

// expire forgets entries and credits older than the timeout, writes older
// than echo and a self-allocation whose stamp never showed.
func (a *inflight) expire(now time.Time) {
	cut := now.Add(-a.timeout)
	a.entries = dropUntil(a.entries, cut)
	a.credits = dropUntil(a.credits, cut)
	i := 0
	for i < len(a.writes) && now.Sub(a.writes[i].at) >= a.echo {
		i++
	}
	a.writes = a.writes[i:]
	if !a.selfAlloc.IsZero() && now.Sub(a.selfAlloc) >= a.echo {
		a.selfAlloc = time.Time{}
	}
}

// dropUntil drops the leading times at or before cut (ts is sorted).
func dropUntil(ts []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	if i == len(ts) {
		return ts[:0]
	}
	return ts[i:]
}

// sample records the pod's session count: each session more than at the
// last sample ends the newest allocation in flight, or becomes a credit.
func (a *inflight) sample(now time.Time, sessions int) {
	a.expire(now)
	if a.sampled {
		for range sessions - a.sessions { // no iteration when it fell
			if k := len(a.entries); k > 0 {
				a.entries = a.entries[:k-1]
			} else {
				a.credits = append(a.credits, now)
			}
		}
	}
	a.sessions, a.sampled = sessions, true
}

// observe records a GameServer from the watch (or read at start):
// lastAllocated is its annotation, ctr its Counter (has false when the
// Counter is not declared). Sample the sessions first.
func (a *inflight) observe(now time.Time, lastAllocated string, ctr counterState, has bool) {
	a.expire(now)
	if !a.seen {
		// The first look: slots the Counter holds beyond the sessions are
		// counted in flight (a pod restarted while allocations were on
		// their way) until the timeout.
		a.seen, a.annotation, a.observed, a.hasCounter = true, lastAllocated, ctr, has
		if has {
			for range ctr.count - int64(a.sessions) {
				a.entries = append(a.entries, now)
			}
		}
		return
	}
	if lastAllocated != a.annotation {
		a.annotation = lastAllocated
		a.allocated(now, a.newAllocations(ctr, has))
	} else if has {
		// No allocation: a count the pod wrote is now seen, so it and
		// every earlier write have landed.
		for i := len(a.writes) - 1; i >= 0; i-- {
			if a.writes[i].counterState == ctr {
				a.writes = a.writes[i+1:]
				break
			}
		}
	}
	a.observed, a.hasCounter = ctr, has
}

// newAllocations returns how many allocations an annotation change
// carries: the smallest number the Counter allows (see inflight).
func (a *inflight) newAllocations(ctr counterState, has bool) int {
	if !has || !a.hasCounter {
		return 1
	}
	if !a.selfAlloc.IsZero() && ctr.count <= a.observed.count {
		// The stamp of the pod's own Allocate: the Counter did not move.
		a.selfAlloc = time.Time{}
		return 0
	}
	base := a.observed.count
	for _, w := range a.writes {
		base = max(base, w.count)
	}
	return int(max(ctr.count-base, 1))
}

// allocated records n allocations seen now: each consumes a credit (its
// session came first) or goes in flight.
func (a *inflight) allocated(now time.Time, n int) {
	for range n {
		if len(a.credits) > 0 {
			a.credits = a.credits[1:]
		} else {
			a.entries = append(a.entries, now)
		}
	}
}

// wrote records a write of the Counter about to be sent.
func (a *inflight) wrote(now time.Time, c counterState) {
	a.writes = append(a.writes, pendingWrite{counterState: c, at: now})
}

// selfAllocated records that the pod is about to allocate itself.
func (a *inflight) selfAllocated(now time.Time) { a.selfAlloc = now }

// count returns the allocations in flight.
func (a *inflight) count(now time.Time) int {
	a.expire(now)
	return len(a.entries)
}

// counter returns what the Counter holds as far as the pod knows: its
// latest write not yet seen landed, else what the watch showed last; ok is
// false before either.
func (a *inflight) counter() (c counterState, ok bool) {
	if k := len(a.writes); k > 0 {
		return a.writes[k-1].counterState, true
	}
	return a.observed, a.seen && a.hasCounter
}
