package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voxfleet/vox/api"
)

// Fleet operations: the router drains pods for the whole fleet.
//
// A drain is a record in the OpsStore (api.PodDrain), created by an
// operator (POST /v1/pods/{pod}/drain), by a pool drain (every pod of the
// pool) or by consolidation (scale-in), and advanced by one loop on the
// leading replica (RunOps; the lead is a key with a TTL in the store):
//
//	stopped   the router places no new session on the pod and asked it to
//	          stop new sessions (members still join their groups); the
//	          sessions may end by themselves until GraceUntil. Cancellable.
//	queued    the grace is over; the pod waits for a drain slot: at most
//	          MaxDraining pods drain at once, each at Budget/MaxDraining
//	          reconnect notices per second, so the notices of the whole
//	          fleet never exceed Budget per second.
//	draining  the pod drains (POST /v1/drain at its rate, no further
//	          grace); its participants follow their notices back through
//	          the router, which places each session, together, on the pods
//	          that stay.
//	done      the pod has no participant left (or is gone): under Agones
//	          it shuts down and the Fleet shrinks.
//
// Every replica reads the records each tick and keeps the pods being
// drained out of placement (registry.retiring).

// Defaults of OpsConfig's zero fields.
const (
	// DefaultReconnectBudget: reconnect notices per second across the
	// fleet, well below one replica's admission capacity (each notice is
	// one re-admission, and a session's members arrive together).
	DefaultReconnectBudget = 100.0
	// DefaultMaxDraining caps the pods draining at once.
	DefaultMaxDraining = 2
	// DefaultConsolidateGrace: a pod chosen by consolidation keeps its
	// sessions this long, so that most end by themselves.
	DefaultConsolidateGrace = 2 * time.Minute
	// DefaultConsolidateAfter: the surplus must last this long before a
	// pod is chosen (load that dips for a minute is no reason to move
	// anyone).
	DefaultConsolidateAfter = 2 * time.Minute
	// DefaultConsolidateCPU: the pods that stay must be below this CPU
	// percentage to take the sessions moved.
	DefaultConsolidateCPU = 70.0
	// DefaultOpsTick is the loop's period.
	DefaultOpsTick = time.Second
	// DefaultLeaderTTL: a leading replica that stops renewing loses the
	// lead after this long.
	DefaultLeaderTTL = 5 * time.Second
	// DefaultKeepEnded: ended drains stay listed this long.
	DefaultKeepEnded = 10 * time.Minute
	// drainStartGrace is the grace of the pod's own drain when the router
	// starts it: the router's grace (stopped) is over by then.
	drainStartGrace = time.Millisecond
	// podDrainDeadline is a pod's drain deadline when OpsConfig sets none
	// (sessionmgr.DefaultDrainDeadline, voxd's --drain-deadline default).
	podDrainDeadline = 10 * time.Minute
	// overdueSlack: a drain still running this long past its deadline is
	// overdue (vox_router_drain_overdue): the pod should have removed
	// everyone at the deadline.
	overdueSlack = 30 * time.Second
)

// OpsConfig tunes the fleet operations. Zero fields take the defaults.
type OpsConfig struct {
	// Budget is the fleet-wide reconnect notices per second.
	Budget float64
	// MaxDraining caps the pods draining at once.
	MaxDraining int
	// Grace is how long a pod chosen by consolidation keeps its sessions
	// before it drains; PoolGrace the same for a pool's drain (0: none,
	// the pods queue at once). An operator's drain gives its own (0: none).
	Grace, PoolGrace time.Duration
	// DrainDeadline is the pods' drain deadline from the start of their
	// drain (0: the pod's own default, sessionmgr.DefaultDrainDeadline).
	DrainDeadline time.Duration
	// Window is the notices' reconnect window (0: the pod's default).
	Window time.Duration
	// NoConsolidation turns scale-in off (drains on request still run).
	NoConsolidation bool
	// ConsolidateAfter: the surplus must last this long.
	ConsolidateAfter time.Duration
	// ConsolidateMargin are the free session slots kept above a pool's
	// refill target before any pod is chosen (0: one pod's sessions).
	ConsolidateMargin int
	// ConsolidateCPU: the staying pods must be below this CPU percentage.
	ConsolidateCPU float64
	// Tick is the loop's period; LeaderTTL the lead's; KeepEnded how long
	// an ended drain stays listed.
	Tick, LeaderTTL, KeepEnded time.Duration
}

func (c OpsConfig) withDefaults() OpsConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Budget == 0 {
		c.Budget = DefaultReconnectBudget
	}
	if c.MaxDraining == 0 {
		c.MaxDraining = DefaultMaxDraining
	}
	if c.ConsolidateCPU == 0 {
		c.ConsolidateCPU = DefaultConsolidateCPU
	}
	def(&c.Grace, DefaultConsolidateGrace)
	def(&c.ConsolidateAfter, DefaultConsolidateAfter)
	def(&c.Tick, DefaultOpsTick)
	def(&c.LeaderTTL, DefaultLeaderTTL)
	def(&c.KeepEnded, DefaultKeepEnded)
	return c
}

func (c OpsConfig) validate() error {
	if !(c.Budget > 0) || c.MaxDraining < 1 || c.Grace < 0 || c.PoolGrace < 0 || c.DrainDeadline < 0 ||
		c.Window < 0 || c.ConsolidateAfter < 0 || c.ConsolidateMargin < 0 || c.ConsolidateCPU <= 0 ||
		c.Tick <= 0 || c.LeaderTTL <= c.Tick || c.KeepEnded < 0 {
		return fmt.Errorf("%w: fleet operations: budget > 0, max draining ≥ 1, leader TTL above the tick, nothing negative", ErrBadConfig)
	}
	return nil
}

// fleetOps is the loop's state: owned by RunOps's goroutine but for the
// atomics, which the API reads.
type fleetOps struct {
	holder string // this replica's name for the lead

	leading   atomic.Bool
	chosen    atomic.Uint64
	cancelled atomic.Uint64
	surplus   atomic.Int64 // slots, summed over the pools
	surplusMS atomic.Int64 // the longest surplus now

	mu           sync.Mutex           // serialises the API's record changes with the loop's
	surplusSince map[string]time.Time // pool → when its surplus began (loop only)
}

func newFleetOps() *fleetOps {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &fleetOps{holder: hex.EncodeToString(b), surplusSince: map[string]time.Time{}}
}

// active reports whether a drain still holds its pod out of placement.
func active(d api.PodDrain) bool {
	switch d.Phase {
	case api.FleetDrainStopped, api.FleetDrainQueued, api.FleetDrainDraining:
		return true
	}
	return false
}

// refreshDrains reads the drain records and keeps the pods they hold out
// of placement. It returns the records (nil on a store error).
func (r *Router) refreshDrains(ctx context.Context) map[string]api.PodDrain {
	drains, err := r.ops.Drains(ctx)
	if err != nil {
		r.log.Debug("router: store: drains", "err", err)
		return nil
	}
	retiring := map[string]bool{}
	for pod, d := range drains {
		if active(d) {
			retiring[pod] = true
		}
	}
	r.reg.setRetiring(retiring)
	return drains
}

// DrainPod starts a router-driven drain of pod (POST /v1/pods/{pod}/drain):
// no new session from now on, grace for its sessions to end by
// themselves, then a drain at the fleet's budget. A drain already under
// way is returned as it is.
func (r *Router) DrainPod(ctx context.Context, pod string, grace time.Duration) (api.PodDrain, error) {
	if !api.ValidID(pod) {
		return api.PodDrain{}, fmt.Errorf("%w: pod name %q", api.ErrInvalid, pod)
	}
	if grace < 0 {
		return api.PodDrain{}, fmt.Errorf("%w: negative grace", api.ErrInvalid)
	}
	st, ok := r.podState(pod)
	if !ok {
		return api.PodDrain{}, fmt.Errorf("%w: %q", api.ErrPodNotFound, pod)
	}
	return r.startDrain(ctx, st, api.DrainReasonOperator, grace)
}

// startDrain records a new drain of st (or returns the active one) and
// stops new sessions on the pod.
func (r *Router) startDrain(ctx context.Context, st podState, reason string, grace time.Duration) (api.PodDrain, error) {
	r.fops.mu.Lock()
	defer r.fops.mu.Unlock()
	drains, err := r.ops.Drains(ctx)
	if err != nil {
		return api.PodDrain{}, fmt.Errorf("router: store: %w", err)
	}
	d, err := r.startDrainLocked(ctx, st, reason, grace, drains)
	if err != nil {
		return api.PodDrain{}, fmt.Errorf("router: store: %w", err)
	}
	return d, nil
}

// CancelPodDrain cancels pod's drain while it has not begun to drain
// (stopped or queued): the pod takes new sessions again.
// api.ErrNoDrain without an active drain, api.ErrDrainConflict once the
// pod drains.
func (r *Router) CancelPodDrain(ctx context.Context, pod string) (api.PodDrain, error) {
	if !api.ValidID(pod) {
		return api.PodDrain{}, fmt.Errorf("%w: pod name %q", api.ErrInvalid, pod)
	}
	r.fops.mu.Lock()
	defer r.fops.mu.Unlock()
	drains, err := r.ops.Drains(ctx)
	if err != nil {
		return api.PodDrain{}, fmt.Errorf("router: store: %w", err)
	}
	d, ok := drains[pod]
	if !ok || !active(d) {
		return api.PodDrain{}, fmt.Errorf("%w: pod %q is not being drained by the router", api.ErrNoDrain, pod)
	}
	if d.Phase == api.FleetDrainDraining {
		return d, fmt.Errorf("%w: pod %q drains already (its participants are being asked to reconnect)", api.ErrDrainConflict, pod)
	}
	return r.cancelLocked(ctx, d, "operator")
}

// cancelLocked ends d as cancelled and lets its pod take sessions again.
func (r *Router) cancelLocked(ctx context.Context, d api.PodDrain, why string) (api.PodDrain, error) {
	now := r.cfg.Now()
	d.Phase, d.EndedAt = api.FleetDrainCancelled, &now
	if err := r.ops.PutDrain(ctx, d); err != nil {
		return api.PodDrain{}, fmt.Errorf("router: store: %w", err)
	}
	r.reg.retire(d.Pod, false)
	if st, ok := r.podState(d.Pod); ok && st.api != nil {
		if _, err := st.api.AcceptResume(ctx); err != nil {
			r.log.Warn("router: could not resume a pod whose drain was cancelled", "pod", d.Pod, "err", err)
		}
	}
	r.log.Info("router: pod drain cancelled", "pod", d.Pod, "reason", d.Reason, "by", why)
	return d, nil
}

// DrainPool moves every session off pool (POST /v1/pools/{pool}/drain):
// it takes no new session from now on, and each of its pods drains at the
// fleet's budget (retiring a Fleet version or a cluster).
func (r *Router) DrainPool(ctx context.Context, pool string) (api.PoolInfo, error) {
	if !api.ValidID(pool) {
		return api.PoolInfo{}, fmt.Errorf("%w: pool name %q", api.ErrInvalid, pool)
	}
	if !r.knownPool(pool) {
		return api.PoolInfo{}, fmt.Errorf("%w: %q", api.ErrPoolNotFound, pool)
	}
	if err := r.changePool(ctx, pool, func(st *PoolSetting) { st.Draining = true }); err != nil {
		return api.PoolInfo{}, err
	}
	r.log.Info("router: pool drain started", "pool", pool)
	if err := r.drainPoolPods(ctx, pool); err != nil {
		return api.PoolInfo{}, err
	}
	return r.Pool(ctx, pool)
}

// CancelPoolDrain stops a pool's drain: the pool takes new sessions again
// (by its weight) and its pods not yet draining are given back.
func (r *Router) CancelPoolDrain(ctx context.Context, pool string) (api.PoolInfo, error) {
	if !api.ValidID(pool) {
		return api.PoolInfo{}, fmt.Errorf("%w: pool name %q", api.ErrInvalid, pool)
	}
	if !r.knownPool(pool) {
		return api.PoolInfo{}, fmt.Errorf("%w: %q", api.ErrPoolNotFound, pool)
	}
	if !r.pools.view(pool).draining {
		return api.PoolInfo{}, fmt.Errorf("%w: pool %q is not draining", api.ErrNoDrain, pool)
	}
	if err := r.changePool(ctx, pool, func(st *PoolSetting) { st.Draining = false }); err != nil {
		return api.PoolInfo{}, err
	}
	r.fops.mu.Lock()
	drains, err := r.ops.Drains(ctx)
	if err == nil {
		for _, d := range drains {
			if d.Pool == pool && d.Reason == api.DrainReasonPool && (d.Phase == api.FleetDrainStopped || d.Phase == api.FleetDrainQueued) {
				if _, err = r.cancelLocked(ctx, d, "pool drain cancelled"); err != nil {
					break
				}
			}
		}
	}
	r.fops.mu.Unlock()
	if err != nil {
		return api.PoolInfo{}, fmt.Errorf("router: store: %w", err)
	}
	r.log.Info("router: pool drain cancelled", "pool", pool)
	return r.Pool(ctx, pool)
}

// drainPoolPods starts the drain of every pod of a draining pool that has
// none under way.
func (r *Router) drainPoolPods(ctx context.Context, pool string) error {
	for _, st := range r.reg.podStates(r.cfg.Now()) {
		if st.pool != pool || !poolDrainable(st) {
			continue
		}
		if _, err := r.startDrain(ctx, st, api.DrainReasonPool, r.opsCfg.PoolGrace); err != nil {
			return err
		}
	}
	return nil
}

// poolDrainable reports whether a pool's drain must drain the pod: it
// reports, and serves sessions (a Ready pod is Agones' buffer, for the
// Fleet's own scale-down; a pod draining by itself needs no drain).
func poolDrainable(st podState) bool {
	return st.fresh && st.why != "not allocated" && st.why != "draining" && st.why != "stale"
}

// podState returns one pod's state now.
func (r *Router) podState(pod string) (podState, bool) {
	for _, st := range r.reg.podStates(r.cfg.Now()) {
		if st.name == pod {
			return st, true
		}
	}
	return podState{}, false
}

// Drains lists the drains and the budget they share (GET /v1/drains).
func (r *Router) Drains(ctx context.Context) (api.FleetDrains, error) {
	drains, err := r.ops.Drains(ctx)
	if err != nil {
		return api.FleetDrains{}, fmt.Errorf("router: store: %w", err)
	}
	out := api.FleetDrains{Budget: r.opsCfg.Budget, MaxDraining: r.opsCfg.MaxDraining, Drains: []api.PodDrain{},
		Consolidation: api.Consolidation{Enabled: !r.opsCfg.NoConsolidation && len(r.pools.refills) > 0,
			SurplusSlots: int(r.fops.surplus.Load()), SurplusForMS: r.fops.surplusMS.Load(),
			Chosen: r.fops.chosen.Load(), Cancelled: r.fops.cancelled.Load()}}
	for _, d := range drains {
		if d.Phase == api.FleetDrainDraining {
			out.Draining++
			out.Assigned += d.Rate
		}
		out.Drains = append(out.Drains, d)
	}
	slices.SortFunc(out.Drains, func(a, b api.PodDrain) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Pod, b.Pod)
	})
	return out, nil
}

// RunOps runs the fleet operations' loop until ctx ends: every Tick each
// replica refreshes the drains it must keep out of placement; the leading
// one also advances them and consolidates. Server.Start runs it.
func (r *Router) RunOps(ctx context.Context) {
	t := time.NewTicker(r.opsCfg.Tick)
	defer t.Stop()
	for {
		r.opsStep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// opsStep is one tick of the loop.
func (r *Router) opsStep(ctx context.Context) {
	lead, err := r.ops.Lead(ctx, r.fops.holder, r.opsCfg.LeaderTTL)
	if err != nil {
		r.log.Debug("router: store: lead", "err", err)
	}
	if r.fops.leading.Swap(lead) != lead {
		r.log.Info("router: fleet operations", "leading", lead)
	}
	if !lead {
		r.publishOps(r.refreshDrains(ctx))
		return
	}
	r.loadSettings(ctx)
	r.fops.mu.Lock()
	defer r.fops.mu.Unlock()
	now := r.cfg.Now()
	states := map[string]podState{}
	for _, st := range r.reg.podStates(now) {
		states[st.name] = st
	}
	drains := r.refreshDrains(ctx)
	if drains == nil {
		return
	}
	// Pools being drained: every pod of theirs gets a drain.
	for _, name := range r.pools.names(nil) {
		if !r.pools.view(name).draining {
			continue
		}
		for _, st := range states {
			if d, ok := drains[st.name]; st.pool != name || !poolDrainable(st) || ok && active(d) {
				continue
			}
			_, _ = r.startDrainLocked(ctx, st, api.DrainReasonPool, r.opsCfg.PoolGrace, drains)
		}
	}
	r.advance(ctx, now, states, drains)
	r.resumeOrphans(ctx, states, drains)
	if !r.opsCfg.NoConsolidation {
		r.consolidate(ctx, now, states, drains)
	}
	r.publishOps(drains)
}

// publishOps sets the fleet operations' gauges from the drains read this
// tick (nil: the store did not answer; they keep their values).
func (r *Router) publishOps(drains map[string]api.PodDrain) {
	if drains == nil {
		return
	}
	now := r.cfg.Now()
	phases := map[string]int{api.FleetDrainStopped: 0, api.FleetDrainQueued: 0, api.FleetDrainDraining: 0}
	var assigned float64
	overdue := 0
	for _, d := range drains {
		if _, ok := phases[d.Phase]; ok {
			phases[d.Phase]++
		}
		if d.Phase == api.FleetDrainDraining {
			assigned += d.Rate
			if d.Deadline != nil && now.Sub(*d.Deadline) > overdueSlack {
				overdue++
			}
		}
	}
	s := r.metrics
	for phase, n := range phases {
		s.GetOrCreateGauge(fmt.Sprintf(`vox_router_drains{phase=%q}`, phase), nil).Set(float64(n))
	}
	s.GetOrCreateGauge(`vox_router_reconnect_assigned_per_second`, nil).Set(assigned)
	s.GetOrCreateGauge(`vox_router_drain_overdue`, nil).Set(float64(overdue))
	for _, name := range r.pools.names(r.reg.pools(now)) {
		v := r.pools.view(name)
		w := v.weight
		if v.draining {
			w = 0
		}
		s.GetOrCreateGauge(fmt.Sprintf(`vox_router_pool_weight{pool=%q}`, name), nil).Set(w)
	}
}

// registerOpsMetrics adds the fleet operations' fixed series (the rest are
// set each tick by publishOps).
func (r *Router) registerOpsMetrics() {
	s := r.metrics
	s.NewGauge(`vox_router_reconnect_budget_per_second`, func() float64 { return r.opsCfg.Budget })
	s.NewGauge(`vox_router_ops_leader`, func() float64 {
		if r.fops.leading.Load() {
			return 1
		}
		return 0
	})
	s.NewGauge(`vox_router_consolidation_surplus_slots`, func() float64 { return float64(r.fops.surplus.Load()) })
	s.NewGauge(`vox_router_consolidation_chosen_total`, func() float64 { return float64(r.fops.chosen.Load()) })
	s.NewGauge(`vox_router_consolidation_cancelled_total`, func() float64 { return float64(r.fops.cancelled.Load()) })
	r.publishOps(map[string]api.PodDrain{})
}

// stopReasonPrefix starts the reason of every stop the router asks of a
// pod (StopNewSessions), so that a stop without a drain record (the
// record was lost with an in-memory store at a restart) is recognised.
const stopReasonPrefix = "router: "

// resumeOrphans lets pods take sessions again that a router stopped but
// that no active drain holds any more (a restart lost the record): left
// alone they would stay out of placement for ever.
func (r *Router) resumeOrphans(ctx context.Context, states map[string]podState, drains map[string]api.PodDrain) {
	for _, st := range states {
		if st.state != api.StateStopped || !strings.HasPrefix(st.reason, stopReasonPrefix) || !st.fresh || st.api == nil {
			continue
		}
		if d, ok := drains[st.name]; ok && active(d) {
			continue
		}
		if _, err := st.api.AcceptResume(ctx); err != nil {
			r.log.Warn("router: could not resume a pod it had stopped", "pod", st.name, "err", err)
			continue
		}
		r.log.Info("router: resumed a pod stopped by a drain no record holds", "pod", st.name, "reason", st.reason)
	}
}

func (r *Router) putDrain(ctx context.Context, d api.PodDrain) {
	if err := r.ops.PutDrain(ctx, d); err != nil {
		r.log.Warn("router: store: put a drain", "pod", d.Pod, "err", err)
	}
}

// advance moves each drain along its phases.
func (r *Router) advance(ctx context.Context, now time.Time, states map[string]podState, drains map[string]api.PodDrain) {
	list := make([]api.PodDrain, 0, len(drains))
	draining := 0
	for _, d := range drains {
		list = append(list, d)
		if d.Phase == api.FleetDrainDraining {
			draining++
		}
	}
	slices.SortFunc(list, func(a, b api.PodDrain) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Pod, b.Pod)
	})
	rate := r.opsCfg.Budget / float64(r.opsCfg.MaxDraining)
	for _, d := range list {
		before := d
		st, known := states[d.Pod]
		gone := !known || strings.EqualFold(st.gsState, "shutdown")
		if known {
			d.Participants, d.PodPhase = st.participants, st.drainPhase
		}
		switch d.Phase {
		case api.FleetDrainStopped:
			switch {
			case gone:
				r.endDrain(&d, now)
			case !now.Before(d.GraceUntil):
				d.Phase = api.FleetDrainQueued
			}
		}
		switch d.Phase {
		case api.FleetDrainQueued:
			switch {
			case gone:
				r.endDrain(&d, now)
			case draining < r.opsCfg.MaxDraining && st.api != nil:
				exit := true
				req := api.DrainRequest{Grace: api.Duration(drainStartGrace), Rate: rate,
					Deadline: api.Duration(r.opsCfg.DrainDeadline), Window: api.Duration(r.opsCfg.Window), Exit: &exit}
				_, err := st.api.Drain(ctx, req)
				if err != nil && !errors.Is(err, api.ErrDrainConflict) {
					r.log.Warn("router: could not start a pod's drain; retrying", "pod", d.Pod, "err", err)
					break
				}
				deadline := r.opsCfg.DrainDeadline
				if deadline == 0 {
					deadline = podDrainDeadline
				}
				since, until := now, now.Add(deadline)
				d.Phase, d.Rate, d.DrainingSince, d.Deadline = api.FleetDrainDraining, rate, &since, &until
				draining++
				r.log.Info("router: pod draining", "pod", d.Pod, "rate", rate, "participants", d.Participants)
			}
		case api.FleetDrainDraining:
			// A pod that stopped reporting while it drained exited (or
			// will be forgotten): its own drain goes on without the router.
			if gone || !st.fresh || st.drainPhase == api.DrainDrained || st.participants == 0 && st.sessions == 0 {
				r.endDrain(&d, now)
				draining--
			}
		case api.FleetDrainDone, api.FleetDrainCancelled:
			if d.EndedAt != nil && now.Sub(*d.EndedAt) > r.opsCfg.KeepEnded {
				if err := r.ops.DeleteDrain(ctx, d.Pod); err != nil {
					r.log.Warn("router: store: delete a drain", "pod", d.Pod, "err", err)
				}
				continue
			}
		}
		if d != before {
			r.putDrain(ctx, d)
			drains[d.Pod] = d
		}
	}
}

func (r *Router) endDrain(d *api.PodDrain, now time.Time) {
	d.Phase, d.EndedAt = api.FleetDrainDone, &now
	r.reg.retire(d.Pod, false)
	r.log.Info("router: pod drain done", "pod", d.Pod, "reason", d.Reason, "took", now.Sub(d.StartedAt).Round(time.Millisecond))
}

// consolidate looks, in each pool with an allocator, for more free session
// slots than the pool needs (its refill target plus a margin) for longer
// than ConsolidateAfter, and then chooses the pod whose departure moves
// the fewest participants (then sessions) and can go without leaving the
// pool short or pushing the staying pods over their CPU mark. When free
// slots fall below the target again it cancels the newest consolidation
// drains still in their grace (or queued), one per tick.
func (r *Router) consolidate(ctx context.Context, now time.Time, states map[string]podState, drains map[string]api.PodDrain) {
	var surplusSum int64
	var longest time.Duration
	for name, rf := range r.pools.refills {
		snap := rf.snapshot()
		if snap == nil {
			continue
		}
		target := snap.TargetSlots
		var placeable []podState
		free, podSlots := 0, 0
		for _, st := range states {
			if st.pool != name {
				continue
			}
			podSlots = max(podSlots, st.maxSessions)
			if st.why != "" {
				continue
			}
			placeable = append(placeable, st)
			free += r.podFree(ctx, st)
		}
		margin := r.opsCfg.ConsolidateMargin
		if margin == 0 {
			margin = podSlots
		}
		surplus := free - target - margin
		if free < target {
			delete(r.fops.surplusSince, name)
			r.cancelNewest(ctx, name, drains)
			continue
		}
		if surplus <= 0 {
			delete(r.fops.surplusSince, name)
			continue
		}
		surplusSum += int64(surplus)
		since, ok := r.fops.surplusSince[name]
		if !ok {
			since = now
			r.fops.surplusSince[name] = now
		}
		longest = max(longest, now.Sub(since))
		if now.Sub(since) < r.opsCfg.ConsolidateAfter {
			continue
		}
		if q, ok := r.chooseRetiree(ctx, placeable, free, target+margin); ok {
			if _, err := r.startDrainLocked(ctx, q, api.DrainReasonConsolidation, r.opsCfg.Grace, drains); err == nil {
				r.fops.chosen.Add(1)
			}
		}
	}
	r.fops.surplus.Store(surplusSum)
	r.fops.surplusMS.Store(longest.Milliseconds())
}

// podFree is a pod's free session slots, its pending placements counted.
func (r *Router) podFree(ctx context.Context, st podState) int {
	ps, pp := 0, 0
	if slots, err := r.store.Pending(ctx, st.name); err == nil {
		ps, pp = Load(slots)
	}
	return max(0, min(st.maxSessions-st.sessions-ps, st.maxParts-st.participants-pp))
}

// chooseRetiree picks the placeable pod whose departure moves the fewest
// participants, then sessions, such that the others keep need free slots
// after taking its sessions, on pods below the CPU mark.
func (r *Router) chooseRetiree(ctx context.Context, placeable []podState, free, need int) (podState, bool) {
	slices.SortFunc(placeable, func(a, b podState) int {
		if a.participants != b.participants {
			return a.participants - b.participants
		}
		if a.sessions != b.sessions {
			return a.sessions - b.sessions
		}
		return strings.Compare(a.name, b.name)
	})
	for _, q := range placeable {
		qFree := r.podFree(ctx, q)
		if free-qFree-q.sessions < need {
			continue
		}
		cool := 0
		for _, o := range placeable {
			if o.name != q.name && o.cpu < r.opsCfg.ConsolidateCPU {
				cool += r.podFree(ctx, o)
			}
		}
		if cool < q.sessions {
			continue
		}
		return q, true
	}
	return podState{}, false
}

// startDrainLocked is startDrain for the loop (fops.mu held), with the
// records it read.
func (r *Router) startDrainLocked(ctx context.Context, st podState, reason string, grace time.Duration, drains map[string]api.PodDrain) (api.PodDrain, error) {
	if d, ok := drains[st.name]; ok && active(d) {
		return d, nil
	}
	now := r.cfg.Now()
	d := api.PodDrain{Pod: st.name, Pool: st.pool, Reason: reason, Phase: api.FleetDrainStopped,
		StartedAt: now, GraceUntil: now.Add(grace), ParticipantsAtStart: st.participants, Participants: st.participants}
	if err := r.ops.PutDrain(ctx, d); err != nil {
		r.log.Warn("router: store: put a drain", "pod", st.name, "err", err)
		return api.PodDrain{}, err
	}
	drains[st.name] = d
	r.reg.retire(st.name, true)
	if st.api != nil {
		if _, err := st.api.StopNewSessions(ctx, stopReasonPrefix+reason); err != nil {
			r.log.Warn("router: could not stop new sessions on a pod being drained", "pod", st.name, "err", err)
		}
	}
	r.log.Info("router: pod drain started", "pod", st.name, "pool", st.pool, "reason", reason,
		"grace", grace, "participants", st.participants, "sessions", st.sessions)
	return d, nil
}

// cancelNewest cancels the newest consolidation drain of pool that has not
// begun to drain.
func (r *Router) cancelNewest(ctx context.Context, pool string, drains map[string]api.PodDrain) {
	var newest *api.PodDrain
	for _, d := range drains {
		if d.Pool == pool && d.Reason == api.DrainReasonConsolidation &&
			(d.Phase == api.FleetDrainStopped || d.Phase == api.FleetDrainQueued) &&
			(newest == nil || d.StartedAt.After(newest.StartedAt)) {
			d := d
			newest = &d
		}
	}
	if newest == nil {
		return
	}
	if d, err := r.cancelLocked(ctx, *newest, "load rose again"); err == nil {
		drains[d.Pod] = d
		r.fops.cancelled.Add(1)
	}
}
