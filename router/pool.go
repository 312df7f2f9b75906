package router

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voxfleet/vox/api"
)

// The warm pool (the second buffer). In Agones mode (Config.Allocator
// set) new sessions go only to pods whose reports say their GameServer is
// Allocated (Ready pods are Agones' buffer, not the router's). One
// goroutine, the refill loop (pool.run), keeps the pool's free session
// slots at or above a target by allocating whole Ready pods through the
// Allocator ahead of demand, so an admission is a lookup, never an
// allocation's batching. It owns every decision (what is in flight, which
// allocated pods are still to join, the backoff) and publishes them as a
// snapshot for /v1/status and /metrics. The request path only reads that
// snapshot, records the new sessions it places (the rate), and, when the
// pool is empty, nudges the loop and waits for it (bounded, counted).

// Defaults of RefillConfig's zero fields.
const (
	// DefaultPoolFloor is the least free session slots the pool keeps.
	DefaultPoolFloor = 8
	// DefaultPoolMargin multiplies rate × latency into the target.
	DefaultPoolMargin = 2.0
	// DefaultPoolMaxInFlight bounds the allocations asked at once.
	DefaultPoolMaxInFlight = 4
	// DefaultPoolJoinTimeout: an allocated pod counts as future free
	// slots until its report says Allocated, at most this long.
	DefaultPoolJoinTimeout = 10 * time.Second
	// DefaultPoolWaitTimeout bounds an admission's wait on an empty pool.
	DefaultPoolWaitTimeout = 5 * time.Second
	// DefaultPoolTick is the loop's period when nothing wakes it.
	DefaultPoolTick = 100 * time.Millisecond
	// DefaultPoolBackoffMin and DefaultPoolBackoffMax bound the wait after
	// a refused allocation (jittered, doubling per refusal in a row): the
	// next batch of the allocator first (docs/agones.md, Retry).
	DefaultPoolBackoffMin = 100 * time.Millisecond
	DefaultPoolBackoffMax = time.Second
	// DefaultPoolCallTimeout bounds one Allocate call.
	DefaultPoolCallTimeout = 30 * time.Second
	// DefaultPoolPodSlots are the free session slots assumed of a pod
	// allocated but not reported yet, until a pod has reported its limit.
	DefaultPoolPodSlots = 100
	// DefaultPoolLatency is the allocation latency assumed before one was
	// measured: the allocator's batch wait and a report interval.
	DefaultPoolLatency = 1500 * time.Millisecond
)

// LabelAccepting is the label voxd keeps on its GameServer while it
// admits new sessions (agones.LabelAccepting through the SDK's prefix);
// the refill loop's allocations match it.
const LabelAccepting = "agones.dev/sdk-vox-accepting"

// RefillConfig tunes the refill loop of the warm pool (Agones mode).
// Zero fields take the defaults (DefaultPool*).
type RefillConfig struct {
	// Floor is the least free session slots kept in the pool.
	Floor int
	// Margin multiplies the recent new-session rate × allocation latency
	// (the slots used while an allocation is under way) into the target.
	Margin float64
	// MaxInFlight bounds the allocations asked at once.
	MaxInFlight int
	// JoinTimeout, WaitTimeout, Tick, CallTimeout: see the defaults.
	JoinTimeout, WaitTimeout, Tick, CallTimeout time.Duration
	// BackoffMin and BackoffMax bound the backoff after a refusal.
	BackoffMin, BackoffMax time.Duration
	// PodSlots are the slots assumed of an allocated pod not reported yet
	// (0: the largest session limit a pod reported, else DefaultPoolPodSlots).
	PodSlots int
	// MatchLabels of every allocation; nil means
	// {LabelAccepting: "true"}.
	MatchLabels map[string]string
}

func (c RefillConfig) withDefaults() RefillConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Floor == 0 {
		c.Floor = DefaultPoolFloor
	}
	if c.Margin == 0 {
		c.Margin = DefaultPoolMargin
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultPoolMaxInFlight
	}
	def(&c.JoinTimeout, DefaultPoolJoinTimeout)
	def(&c.WaitTimeout, DefaultPoolWaitTimeout)
	def(&c.Tick, DefaultPoolTick)
	def(&c.CallTimeout, DefaultPoolCallTimeout)
	def(&c.BackoffMin, DefaultPoolBackoffMin)
	def(&c.BackoffMax, DefaultPoolBackoffMax)
	if c.MatchLabels == nil {
		c.MatchLabels = map[string]string{LabelAccepting: "true"}
	}
	return c
}

func (c RefillConfig) validate() error {
	if c.Floor < 0 || c.Margin < 0 || c.MaxInFlight < 0 || c.PodSlots < 0 || c.JoinTimeout < 0 || c.WaitTimeout < 0 ||
		c.Tick < 0 || c.CallTimeout < 0 || c.BackoffMin < 0 || c.BackoffMax < c.BackoffMin {
		return fmt.Errorf("%w: refill: negative values, or BackoffMax below BackoffMin", ErrBadConfig)
	}
	return nil
}

// pool is the warm pool's refill loop and what the request path shares
// with it.
type pool struct {
	r     *Router
	cfg   RefillConfig
	alloc Allocator
	name  string // the router's pool (what its pods report)
	fleet string // what the allocations ask for (AllocationRequest.Pool)

	kick    chan struct{}    // wakes the loop (a waiter, a report); buffered 1
	results chan allocResult // answers of the allocations in flight
	rate    rateMeter        // new sessions placed; written by the request path
	status  atomic.Pointer[api.PoolStatus]

	down         atomic.Bool   // the allocator failed (not "nothing allocatable") twice in a row
	waiting      atomic.Int32  // admissions waiting on an empty pool now
	waited       atomic.Uint64 // admissions that waited
	waitTimeouts atomic.Uint64 // of which in vain

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed (and replaced) when the pool gains room for waiters

	// Owned by run's goroutine.
	inFlight      int
	joining       map[string]joining
	inPool        map[string]time.Time // placeable pods → when the loop first saw them so
	lat           [8]time.Duration     // recent allocation latencies
	latN, latNext int
	refusals      int // allocations refused in a row
	failedInRow   int // allocations failed in a row (not "nothing allocatable")
	backoffUntil  time.Time
	downLogged    bool
	lastWakeFree  int       // free slots at the last wake-up of waiters
	lastWake      time.Time // when
	podSlots      int       // the largest session limit reported
	allocations   uint64
	retries       uint64
	failures      uint64
	joinTimeouts  uint64
}

// joining is a pod allocated whose report does not say Allocated yet.
type joining struct {
	asked     time.Time // when its allocation was asked
	allocated time.Time // when it was answered
}

// allocResult is one allocation's answer.
type allocResult struct {
	asked time.Time
	a     Allocation
	err   error
}

func newPool(r *Router, a Allocator, name, fleet string, cfg RefillConfig) *pool {
	return &pool{r: r, alloc: a, name: name, fleet: fleet, cfg: cfg, kick: make(chan struct{}, 1),
		results: make(chan allocResult, cfg.MaxInFlight), changed: make(chan struct{}),
		joining: map[string]joining{}, inPool: map[string]time.Time{}}
}

// RunPool runs the refill loop of every pool with an allocator until ctx
// ends (none: it returns at once). Server.Start runs it; an embedder
// without a Server runs it itself, once.
func (r *Router) RunPool(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range r.pools.refills {
		wg.Go(func() { p.run(ctx) })
	}
	wg.Wait()
}

// nudgePools wakes every refill loop (a report: a pod may have joined).
func (r *Router) nudgePools() {
	for _, p := range r.pools.refills {
		p.nudge()
	}
}

// nudge wakes the loop (never blocks).
func (p *pool) nudge() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *pool) run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Tick)
	defer t.Stop()
	p.r.log.Info("router: warm pool refill running", "allocator", p.alloc.Name(), "pool", p.name, "fleet", p.fleet,
		"floor", p.cfg.Floor, "margin", p.cfg.Margin, "max_in_flight", p.cfg.MaxInFlight)
	for {
		p.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		case res := <-p.results:
			p.answered(res)
		}
	}
}

// step looks at the pool and decides: who joined, what is free, the
// target, and the allocations to ask for.
func (p *pool) step(ctx context.Context) {
	now := p.r.cfg.Now()
	free, placeable := p.freeSlots(ctx, now)
	future := p.settleJoining(now) + p.inFlight*p.slotsPerPod()
	rate := p.rate.perSecond(now)
	lat := p.latency()
	target := max(p.cfg.Floor, int(math.Ceil(rate*lat.Seconds()*p.cfg.Margin)))
	if v := p.r.pools.view(p.name); v.weight <= 0 || v.draining {
		target = 0 // it takes no new session (rolled back, or being drained): no warm pool
	}
	need := target - free - future
	waiting := p.waiting.Load() > 0
	if waiting && free == 0 && future == 0 {
		need = max(need, 1) // someone waits on an empty pool: never leave it so
	}
	if waiting && free > 0 && (free > p.lastWakeFree || now.Sub(p.lastWake) >= p.cfg.Tick) {
		p.wake()
		p.lastWakeFree, p.lastWake = free, now
	}
	if free == 0 {
		p.lastWakeFree = 0
	}
	for need > 0 && p.inFlight < p.cfg.MaxInFlight && !now.Before(p.backoffUntil) && ctx.Err() == nil {
		p.ask(ctx, now)
		need -= p.slotsPerPod()
		future += p.slotsPerPod()
	}
	backoff := max(0, p.backoffUntil.Sub(now))
	p.status.Store(&api.PoolStatus{Allocator: p.alloc.Name(), Pool: p.fleet, FreeSlots: free, FutureSlots: future,
		TargetSlots: target, Floor: p.cfg.Floor, PlaceablePods: placeable, NewSessionsPerSecond: rate,
		AllocationLatencyMS: float64(lat.Microseconds()) / 1000, InFlight: p.inFlight, Joining: len(p.joining),
		BackoffMS: backoff.Milliseconds(), Allocations: p.allocations, AllocRetries: p.retries,
		AllocFailures: p.failures, JoinTimeouts: p.joinTimeouts, AdmissionsWaited: p.waited.Load(),
		WaitTimeouts: p.waitTimeouts.Load()})
}

// freeSlots counts the session slots free on the placeable pods (their
// pending placements counted) and the pods.
func (p *pool) freeSlots(ctx context.Context, now time.Time) (free, pods int) {
	cands := p.r.reg.candidates(now, p.name)
	seen := make(map[string]time.Time, len(cands))
	for _, c := range cands {
		seen[c.Pod] = now
		if t, ok := p.inPool[c.Pod]; ok {
			seen[c.Pod] = t
		}
	}
	p.inPool = seen
	for _, c := range cands {
		p.podSlots = max(p.podSlots, c.MaxSessions)
		slots, err := p.r.store.Pending(ctx, c.Pod)
		if err != nil {
			p.r.log.Warn("router: pool: store: pending slots", "pod", c.Pod, "err", err)
			continue
		}
		ps, pp := Load(slots)
		free += max(0, min(c.MaxSessions-c.Sessions-ps, c.MaxParticipants-c.Participants-pp))
		pods++
	}
	return free, pods
}

// settleJoining drops the allocated pods whose reports now say Allocated
// (recording their latency) or that took longer than JoinTimeout, and
// returns the slots the others will bring.
func (p *pool) settleJoining(now time.Time) (future int) {
	for name, j := range p.joining {
		st, room, known := p.r.reg.gameServer(name)
		switch {
		case known && strings.EqualFold(st, "Allocated"):
			delete(p.joining, name)
			p.lat[p.latNext] = now.Sub(j.asked)
			p.latNext = (p.latNext + 1) % len(p.lat)
			p.latN = min(p.latN+1, len(p.lat))
		case now.Sub(j.allocated) > p.cfg.JoinTimeout:
			delete(p.joining, name)
			p.joinTimeouts++
			p.r.log.Warn("router: pool: an allocated pod did not report Allocated in time", "pod", name,
				"timeout", p.cfg.JoinTimeout, "reported", known, "state", st)
		case known:
			future += room
		default:
			future += p.slotsPerPod()
		}
	}
	return future
}

// latency is the recent allocation latency: the longest of the last few
// (ask → reported Allocated), or DefaultPoolLatency before any.
func (p *pool) latency() time.Duration {
	if p.latN == 0 {
		return DefaultPoolLatency
	}
	var d time.Duration
	for _, l := range p.lat[:p.latN] {
		d = max(d, l)
	}
	return d
}

func (p *pool) slotsPerPod() int {
	switch {
	case p.cfg.PodSlots > 0:
		return p.cfg.PodSlots
	case p.podSlots > 0:
		return p.podSlots
	}
	return DefaultPoolPodSlots
}

// ask starts one allocation; its answer comes back on p.results.
func (p *pool) ask(ctx context.Context, now time.Time) {
	p.inFlight++
	req := AllocationRequest{Pool: p.fleet, MatchLabels: p.cfg.MatchLabels, ReadyOnly: true}
	go func() {
		cctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
		defer cancel()
		a, err := p.alloc.Allocate(cctx, req)
		p.results <- allocResult{asked: now, a: a, err: err} // buffered: MaxInFlight
	}()
}

// answered takes one allocation's answer.
func (p *pool) answered(res allocResult) {
	p.inFlight--
	now := p.r.cfg.Now()
	if res.err == nil {
		name := res.a.GameServer
		_, isJoining := p.joining[name]
		since, placeable := p.inPool[name]
		if isJoining || (placeable && since.Before(res.asked)) {
			// An Allocator that ignored ReadyOnly gave a pod already in
			// the pool: nothing gained; back off as after a refusal.
			p.failures++
			p.refused(now)
			p.r.log.Warn("router: pool: the allocator returned a pod already in the pool", "pod", name)
			return
		}
		p.allocations++
		p.refusals, p.downLogged, p.failedInRow = 0, false, 0
		p.down.Store(false)
		p.joining[name] = joining{asked: res.asked, allocated: now}
		p.r.log.Debug("router: pool: pod allocated", "pod", name, "took", res.a.Took)
		return
	}
	if errors.Is(res.err, ErrAllocRetry) {
		p.failedInRow = 0
		p.down.Store(false)
	} else if p.failedInRow++; p.failedInRow >= 2 {
		p.down.Store(true) // new sessions go to another pool rather than wait on this one
	}
	switch {
	case errors.Is(res.err, ErrAllocRetry):
		p.retries++
	case errors.Is(res.err, ErrAllocatorDown):
		p.failures++
		if !p.downLogged {
			p.downLogged = true
			p.r.log.Warn("router: pool: allocator unreachable; retrying with backoff (logged once per outage)",
				"allocator", p.alloc.Name(), "err", res.err)
		}
	default:
		p.failures++
		p.r.log.Warn("router: pool: allocation failed", "allocator", p.alloc.Name(), "err", res.err)
	}
	p.refused(now)
}

// refused backs off after a refusal: BackoffMin doubled per refusal in a
// row up to BackoffMax, jittered to between half and 1.5 times that.
func (p *pool) refused(now time.Time) {
	p.refusals++
	d := p.cfg.BackoffMin
	for i := 1; i < p.refusals && d < p.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.cfg.BackoffMax)
	p.backoffUntil = now.Add(d/2 + time.Duration(mrand.Int64N(int64(d)+1)))
}

// wake wakes the admissions waiting on an empty pool.
func (p *pool) wake() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// await waits, on the request path, for the refill loop to bring room:
// true when woken (look again), false at deadline or when ctx ends.
func (p *pool) await(ctx context.Context, deadline time.Time) bool {
	p.mu.Lock()
	ch := p.changed
	p.mu.Unlock()
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	p.nudge()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// reserve takes a new-session slot for session id on the fullest pod
// with room of the first pool in the session's ranking (rankPools) that
// has room now. When none has, the admission waits (at most WaitTimeout;
// counted in vox_router_admissions_waited_total) for the refill loop of
// the first ranked pool whose allocator is not down, and looks again.
//
// spilled is true when the slot is not in the session's first pool.
func (r *Router) reserve(ctx context.Context, id, region string, exclude []string) (slot Slot, spilled bool, err error) {
	var deadline time.Time
	for {
		ranked := r.rankPools(ctx, id, region)
		for i, name := range ranked {
			slot, err := r.store.Reserve(ctx, id, r.reg.candidates(r.cfg.Now(), name, exclude...))
			if !errors.Is(err, ErrNoRoom) {
				return slot, i > 0, err
			}
		}
		var rf *pool
		for _, name := range ranked {
			if p := r.pools.refills[name]; p != nil && !p.down.Load() {
				rf = p
				break
			}
		}
		if rf == nil {
			return Slot{}, false, ErrNoRoom
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(rf.cfg.WaitTimeout)
			rf.waited.Add(1)
		}
		if !rf.await(ctx, deadline) {
			if ctx.Err() == nil {
				rf.waitTimeouts.Add(1)
			}
			return Slot{}, false, ErrNoRoom
		}
	}
}

// placed records a new session placed on pod's pool (its refill target's
// rate, and the pool's count).
func (r *Router) placed(pod string) {
	pool := r.reg.poolOfPod(pod)
	r.pools.counter(pool).Add(1)
	if rf := r.pools.refills[pool]; rf != nil {
		rf.rate.note(r.cfg.Now())
	}
}

// gameServer returns the GameServer state a pod last reported and the
// session slots it has free, known false for an unknown pod.
func (g *registry) gameServer(name string) (state string, room int, known bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pods[name]
	if p == nil {
		return "", 0, false
	}
	return p.report.GameServerState, max(0, p.report.Limits.MaxSessions-len(p.sessions)), true
}

// Rate buckets: rateSlot wide, rateSlots of them.
const (
	rateSlot  = 250 * time.Millisecond
	rateSlots = 40
)

// rateMeter counts events in time buckets: the rate is the higher of the
// last second's and the last ten seconds' (up fast, down slowly).
type rateMeter struct {
	mu      sync.Mutex // guards buckets
	buckets [rateSlots]struct {
		slot int64
		n    int
	}
}

func (m *rateMeter) note(now time.Time) {
	slot := now.UnixNano() / int64(rateSlot)
	m.mu.Lock()
	b := &m.buckets[slot%rateSlots]
	if b.slot != slot {
		b.slot, b.n = slot, 0
	}
	b.n++
	m.mu.Unlock()
}

func (m *rateMeter) perSecond(now time.Time) float64 {
	slot := now.UnixNano() / int64(rateSlot)
	perSec := int64(time.Second / rateSlot)
	var short, long int
	m.mu.Lock()
	for _, b := range m.buckets {
		if age := slot - b.slot; age >= 0 && age < rateSlots {
			long += b.n
			if age < perSec {
				short += b.n
			}
		}
	}
	m.mu.Unlock()
	return max(float64(short), float64(long)*float64(perSec)/rateSlots)
}

// snapshot returns the refill loop's last decision, nil before its first
// step.
func (p *pool) snapshot() *api.PoolStatus {
	st := p.status.Load()
	if st == nil {
		return nil
	}
	c := *st
	c.AdmissionsWaited, c.WaitTimeouts = p.waited.Load(), p.waitTimeouts.Load()
	return &c
}

// poolStatus returns the refill loops' last decisions, summed over the
// pools with an allocator (each one is in /v1/pools), nil in static mode.
func (r *Router) poolStatus() *api.PoolStatus {
	var out *api.PoolStatus
	for _, name := range slices.Sorted(maps.Keys(r.pools.refills)) {
		st := r.pools.refills[name].snapshot()
		if st == nil {
			continue
		}
		if out == nil {
			out = st
			continue
		}
		out.Allocator += "," + st.Allocator
		out.Pool += "," + st.Pool
		out.FreeSlots += st.FreeSlots
		out.FutureSlots += st.FutureSlots
		out.TargetSlots += st.TargetSlots
		out.Floor += st.Floor
		out.PlaceablePods += st.PlaceablePods
		out.NewSessionsPerSecond += st.NewSessionsPerSecond
		out.AllocationLatencyMS = max(out.AllocationLatencyMS, st.AllocationLatencyMS)
		out.InFlight += st.InFlight
		out.Joining += st.Joining
		out.BackoffMS = max(out.BackoffMS, st.BackoffMS)
		out.Allocations += st.Allocations
		out.AllocRetries += st.AllocRetries
		out.AllocFailures += st.AllocFailures
		out.JoinTimeouts += st.JoinTimeouts
		out.AdmissionsWaited += st.AdmissionsWaited
		out.WaitTimeouts += st.WaitTimeouts
	}
	return out
}

// registerPoolMetrics adds the vox_router_pool_* series of each pool with
// an allocator (label pool) and vox_router_admissions_waited_total
// (always, 0 in static mode).
func (r *Router) registerPoolMetrics() {
	s := r.metrics
	s.NewGauge(`vox_router_admissions_waited_total`, func() float64 {
		var n uint64
		for _, rf := range r.pools.refills {
			n += rf.waited.Load()
		}
		return float64(n)
	})
	for _, name := range slices.Sorted(maps.Keys(r.pools.refills)) {
		rf := r.pools.refills[name]
		g := func(metric, labels string, f func(st *api.PoolStatus) float64) {
			if labels != "" {
				labels = "," + labels
			}
			s.NewGauge(fmt.Sprintf(`%s{pool=%q%s}`, metric, name, labels), func() float64 {
				if st := rf.snapshot(); st != nil {
					return f(st)
				}
				return 0
			})
		}
		g(`vox_router_pool_free_slots`, "", func(st *api.PoolStatus) float64 { return float64(st.FreeSlots) })
		g(`vox_router_pool_future_slots`, "", func(st *api.PoolStatus) float64 { return float64(st.FutureSlots) })
		g(`vox_router_pool_target_slots`, "", func(st *api.PoolStatus) float64 { return float64(st.TargetSlots) })
		g(`vox_router_pool_placeable_pods`, "", func(st *api.PoolStatus) float64 { return float64(st.PlaceablePods) })
		g(`vox_router_pool_new_sessions_per_second`, "", func(st *api.PoolStatus) float64 { return st.NewSessionsPerSecond })
		g(`vox_router_pool_allocation_latency_seconds`, "", func(st *api.PoolStatus) float64 { return st.AllocationLatencyMS / 1000 })
		g(`vox_router_pool_allocations_in_flight`, "", func(st *api.PoolStatus) float64 { return float64(st.InFlight) })
		g(`vox_router_pool_pods_joining`, "", func(st *api.PoolStatus) float64 { return float64(st.Joining) })
		g(`vox_router_pool_allocations_total`, `result="ok"`, func(st *api.PoolStatus) float64 { return float64(st.Allocations) })
		g(`vox_router_pool_allocations_total`, `result="retry"`, func(st *api.PoolStatus) float64 { return float64(st.AllocRetries) })
		g(`vox_router_pool_allocations_total`, `result="failed"`, func(st *api.PoolStatus) float64 { return float64(st.AllocFailures) })
		g(`vox_router_pool_join_timeouts_total`, "", func(st *api.PoolStatus) float64 { return float64(st.JoinTimeouts) })
		g(`vox_router_pool_wait_timeouts_total`, "", func(st *api.PoolStatus) float64 { return float64(st.WaitTimeouts) })
		g(`vox_router_pool_admissions_waited_total`, "", func(st *api.PoolStatus) float64 { return float64(st.AdmissionsWaited) })
	}
}
