package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
)

// Router places sessions on pods and proxies the game backend's calls to
// them. Its methods are safe for concurrent use.
type Router struct {
	cfg     Config
	store   Store
	reg     *registry
	log     *slog.Logger
	started time.Time
	flight  flight
	stats   stats
	metrics *metrics.Set
	latency *metrics.Summary
	// addedLatency: the router's part of each admission (its latency but
	// the pod's answer).
	addedLatency *metrics.Summary
	refresh      refresher
	pools        *poolSet  // the pools, their settings and refill loops (pools.go)
	ops          OpsStore  // the fleet operations' shared state
	opsCfg       OpsConfig // the fleet operations' tuning
	fops         *fleetOps // the fleet operations' loop (drains.go)

	splitMu sync.Mutex        // guards splitOf
	splitOf map[string]string // session → the pod that lost it, logged once
}

// New returns a Router.
func New(cfg Config) (*Router, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Router{
		cfg:     cfg,
		store:   cfg.Store,
		reg:     newRegistry(cfg.StaleAfter, cfg.PodToken, cfg.HTTPClient),
		log:     cfg.Logger,
		started: cfg.Now(),
		flight:  flight{m: map[string]chan struct{}{}},
		metrics: metrics.NewSet(),
		splitOf: map[string]string{},
	}
	r.reg.defaultPool = DefaultPool
	r.pools = newPoolSet(cfg.Pools, DefaultPool)
	r.ops = opsOf(cfg.Store)
	r.opsCfg = cfg.Ops
	r.fops = newFleetOps()
	for _, pc := range cfg.Pools {
		if pc.Allocator != nil {
			r.pools.refills[pc.Name] = newPool(r, pc.Allocator, pc.Name, pc.Fleet, pc.Refill)
			r.reg.allocated[pc.Name] = true
		}
	}
	r.registerMetrics()
	r.registerPoolMetrics()
	r.registerOpsMetrics()
	return r, nil
}

// Metrics returns the router's metrics set (vox_router_*).
func (r *Router) Metrics() *metrics.Set { return r.metrics }

// Ready reports whether the router should get traffic: it has heard from
// a pod, or ReadyGrace has passed since it started (static mode with no
// pod yet: admissions then answer no_pod, which is the truth).
func (r *Router) Ready() bool {
	return r.reg.heardAny() || r.cfg.Now().Sub(r.started) >= r.cfg.ReadyGrace
}

// Sweep forgets the pods silent for longer than ForgetAfter, with their
// sessions' mappings and slots. The server runs it every second.
func (r *Router) Sweep(ctx context.Context) {
	for _, f := range r.reg.sweep(r.cfg.Now(), r.cfg.ForgetAfter) {
		if err := r.store.DropPod(ctx, f.name); err != nil {
			r.log.Warn("router: store: drop a forgotten pod's slots", "pod", f.name, "err", err)
		}
		for _, id := range f.sessions {
			r.forgetSplit(id, f.name)
			if _, err := r.store.DeleteIfStill(ctx, id, f.name); err != nil {
				r.log.Warn("router: store: forget a session", "session", id, "err", err)
			}
		}
		r.log.Info("router: forgot a silent pod", "pod", f.name, "sessions", len(f.sessions))
	}
}

// Session says where session id lives.
func (r *Router) Session(ctx context.Context, id string) (api.RouterSession, error) {
	if !api.ValidID(id) {
		return api.RouterSession{}, fmt.Errorf("%w: session id %q", api.ErrInvalid, id)
	}
	pod, ok, err := r.store.Lookup(ctx, id)
	if err != nil {
		return api.RouterSession{}, fmt.Errorf("router: store: %w", err)
	}
	if !ok {
		return api.RouterSession{}, fmt.Errorf("%w: %q", api.ErrSessionNotFound, id)
	}
	out := api.RouterSession{ID: id, Pod: pod}
	if v, known := r.reg.view(r.cfg.Now(), pod, id); known {
		out.Media, out.Participants, out.Reported = v.media, v.count, v.listed
	}
	return out, nil
}

// RemoveParticipant removes a participant on its session's pod; the
// pod's answer is relayed.
func (r *Router) RemoveParticipant(ctx context.Context, session, participant string) error {
	v, err := r.podOf(ctx, session)
	if err != nil {
		return err
	}
	return r.podErr(ctx, v.name, v.api.RemoveParticipant(ctx, session, participant))
}

// DeleteSession ends a session on its pod and forgets it.
func (r *Router) DeleteSession(ctx context.Context, session string) error {
	v, err := r.podOf(ctx, session)
	if err != nil {
		return err
	}
	err = v.api.DeleteSession(ctx, session)
	if err == nil || errors.Is(err, api.ErrSessionNotFound) {
		if _, serr := r.store.DeleteIfStill(ctx, session, v.name); serr != nil {
			return fmt.Errorf("router: store: %w", serr)
		}
	}
	return r.podErr(ctx, v.name, err)
}

// podOf returns the pod of an existing session.
func (r *Router) podOf(ctx context.Context, session string) (podView, error) {
	if !api.ValidID(session) {
		return podView{}, fmt.Errorf("%w: session id %q", api.ErrInvalid, session)
	}
	pod, ok, err := r.store.Lookup(ctx, session)
	if err != nil {
		return podView{}, fmt.Errorf("router: store: %w", err)
	}
	if !ok {
		return podView{}, fmt.Errorf("%w: %q", api.ErrSessionNotFound, session)
	}
	v, known := r.reg.view(r.cfg.Now(), pod, session)
	if !known && r.refreshFor(ctx, pod) {
		v, known = r.reg.view(r.cfg.Now(), pod, session)
	}
	if !known {
		return podView{}, fmt.Errorf("%w: %s (forgotten)", ErrUnreachable, pod)
	}
	return v, nil
}

// podErr turns a pod call's error into the router's: the pod's own answer
// (PodError), the caller's context, or ErrUnreachable.
func (r *Router) podErr(ctx context.Context, pod string, err error) error {
	if err == nil {
		return nil
	}
	if ae, ok := errors.AsType[*client.APIError](err); ok {
		return &PodError{Pod: pod, Err: ae}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, pod, err)
}

// Pods lists the pods as the router sees them, with their pending slots.
func (r *Router) Pods(ctx context.Context) (api.PodList, error) {
	list := r.reg.snapshot(r.cfg.Now())
	for i := range list {
		slots, err := r.store.Pending(ctx, list[i].Name)
		if err != nil {
			return api.PodList{}, fmt.Errorf("router: store: %w", err)
		}
		list[i].PendingSessions, list[i].PendingParticipants = Load(slots)
	}
	return api.PodList{Pods: list}, nil
}

// Status is the router at a glance.
func (r *Router) Status(ctx context.Context) (api.RouterStatus, error) {
	now := r.cfg.Now()
	st := api.RouterStatus{
		Ready:            r.Ready(),
		Admissions:       r.stats.admissions.Load(),
		AdmissionsFailed: r.stats.failed.Load(),
		Retries:          r.stats.retries.Load(),
		NoPod:            r.stats.noPod.Load(),
		Moves:            r.stats.moves.Load(),
		Spills:           r.stats.spills.Load(),
		Splits:           r.stats.splits.Load(),
		Reports:          r.stats.reports.Load(),
	}
	for _, p := range r.reg.snapshot(now) {
		st.Pods++
		if p.Placeable {
			st.PodsPlaceable++
		}
		if p.Stale {
			st.PodsStale++
		}
		st.Participants += p.Participants
	}
	n, err := r.store.Sessions(ctx)
	if err != nil {
		return st, fmt.Errorf("router: store: %w", err)
	}
	st.Sessions = n
	st.Pool = r.poolStatus()
	rate, window := r.stats.rate(now)
	st.AdmissionsPerSecond, st.RateWindowMS = rate, window.Milliseconds()
	p := r.stats.percentiles(0.5, 0.9, 0.99)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	st.LatencyP50MS, st.LatencyP90MS, st.LatencyP99MS = ms(p[0]), ms(p[1]), ms(p[2])
	a := r.stats.addedPercentiles(0.5, 0.99, 0.999)
	st.AddedP50MS, st.AddedP99MS, st.AddedP999MS = ms(a[0]), ms(a[1]), ms(a[2])
	return st, nil
}

// flight makes concurrent placements of one session wait for the first
// (within one replica; across replicas the Store's atomic operations
// decide).
type flight struct {
	mu sync.Mutex               // guards m
	m  map[string]chan struct{} // session → closed when its leader is done
}

// begin makes the caller the leader for session (wait nil; call done when
// finished) or returns the leader's channel to wait on.
func (f *flight) begin(session string) (wait <-chan struct{}, done func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.m[session]; ok {
		return ch, nil
	}
	ch := make(chan struct{})
	f.m[session] = ch
	return nil, func() {
		f.mu.Lock()
		delete(f.m, session)
		f.mu.Unlock()
		close(ch)
	}
}
