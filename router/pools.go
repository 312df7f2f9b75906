package router

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/voxfleet/vox/api"
)

// Pools. A pod belongs to the pool its reports name (DefaultPool when
// none): a Fleet in one cluster, with its own allocator (or none: static),
// a weight and a region. New sessions are split across the pools by
// weight, decided per session id by weighted rendezvous hashing (stable:
// every retry and every replica ranks the pools of one session alike, and
// a weight change moves only the share it must); a placed session is
// sticky (its members join it wherever it is). An admission may ask for a
// region: the pools of that region come first. A pool with no room now
// gives way to the next in the session's ranking; only when none has room
// does the admission wait on a refill (the first ranked pool whose
// allocator is not down).
//
// Settings (weight, region, draining) changed through the API are kept in
// the store (OpsStore): they override the configured ones, survive a
// restart and are read by every replica at each new session's placement.

// DefaultPoolWeight is the weight of a pool neither configured nor set.
const DefaultPoolWeight = 1.0

// PoolConfig configures one pool.
type PoolConfig struct {
	// Name is the pool's name, as its pods report it (ValidID).
	Name string
	// Weight is its share of new sessions (relative; 0: none). Nil
	// means DefaultPoolWeight.
	Weight *float64
	// Region is where its pods run, if the admissions care.
	Region string
	// Allocator allocates its pods ahead of demand (Agones); nil: static
	// (the pods that report are the pool).
	Allocator Allocator
	// Fleet is what its allocations ask for (AllocationRequest.Pool: the
	// Agones Fleet); default Name.
	Fleet string
	// Refill tunes the pool's refill loop (with an Allocator).
	Refill RefillConfig
}

// PoolSetting is a pool's setting changed through the API, kept in the
// store. Nil fields keep the configured value.
type PoolSetting struct {
	Weight   *float64 `json:"weight,omitempty"`
	Region   *string  `json:"region,omitempty"`
	Draining bool     `json:"draining,omitempty"`
}

// poolSet is the router's pools: the configured ones (immutable after
// New), the settings last read from the store, and the new sessions each
// pool got.
type poolSet struct {
	def     string // the pool of the pods that name none: always known
	conf    map[string]PoolConfig
	refills map[string]*pool // pools with an Allocator: their refill loops

	// changeMu serialises this replica's read-modify-write of a setting
	// (changePool); across replicas the last write of a pool's setting wins.
	changeMu sync.Mutex

	mu       sync.Mutex // guards the fields below
	settings map[string]PoolSetting
	placed   map[string]*atomic.Uint64
}

func newPoolSet(confs []PoolConfig, defaultPool string) *poolSet {
	ps := &poolSet{def: defaultPool, conf: map[string]PoolConfig{}, refills: map[string]*pool{},
		settings: map[string]PoolSetting{}, placed: map[string]*atomic.Uint64{}}
	for _, c := range confs {
		ps.conf[c.Name] = c
	}
	return ps
}

// validatePools checks the configured pools.
func validatePools(confs []PoolConfig) error {
	seen := map[string]bool{}
	for _, c := range confs {
		if !api.ValidID(c.Name) {
			return fmt.Errorf("%w: pool name %q", ErrBadConfig, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("%w: pool %q configured twice", ErrBadConfig, c.Name)
		}
		seen[c.Name] = true
		if c.Weight != nil && !validWeight(*c.Weight) {
			return fmt.Errorf("%w: pool %q: weight %v (a finite number ≥ 0)", ErrBadConfig, c.Name, *c.Weight)
		}
		if c.Region != "" && !api.ValidID(c.Region) {
			return fmt.Errorf("%w: pool %q: region %q", ErrBadConfig, c.Name, c.Region)
		}
		if err := c.Refill.validate(); err != nil {
			return err
		}
	}
	return nil
}

func validWeight(w float64) bool { return w >= 0 && !math.IsInf(w, 0) && !math.IsNaN(w) }

// poolView is one pool's effective settings.
type poolView struct {
	name      string
	weight    float64
	region    string
	draining  bool
	allocator string
}

// view returns pool name's effective settings.
func (ps *poolSet) view(name string) poolView {
	ps.mu.Lock()
	st := ps.settings[name]
	ps.mu.Unlock()
	return ps.viewWith(name, st)
}

func (ps *poolSet) viewWith(name string, st PoolSetting) poolView {
	v := poolView{name: name, weight: DefaultPoolWeight, allocator: "static"}
	if c, ok := ps.conf[name]; ok {
		if c.Weight != nil {
			v.weight = *c.Weight
		}
		v.region = c.Region
		if c.Allocator != nil {
			v.allocator = c.Allocator.Name()
		}
	}
	if st.Weight != nil {
		v.weight = *st.Weight
	}
	if st.Region != nil {
		v.region = *st.Region
	}
	v.draining = st.Draining
	return v
}

// names returns every pool known: configured (or the default one when
// none is), set, or reported by pods.
func (ps *poolSet) names(reported map[string]poolLoad) []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	set := map[string]bool{}
	if len(ps.conf) == 0 {
		set[ps.def] = true // the one pool of an unconfigured router
	}
	for n := range ps.conf {
		set[n] = true
	}
	for n := range ps.settings {
		set[n] = true
	}
	for n := range reported {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// counter returns pool name's new-session counter.
func (ps *poolSet) counter(name string) *atomic.Uint64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	c := ps.placed[name]
	if c == nil {
		c = new(atomic.Uint64)
		ps.placed[name] = c
	}
	return c
}

// loadSettings reads the pools' settings from the store; on failure the
// last ones read stay (logged at debug: the store's outage is logged by
// the store).
func (r *Router) loadSettings(ctx context.Context) {
	st, err := r.ops.PoolSettings(ctx)
	if err != nil {
		r.log.Debug("router: store: pool settings", "err", err)
		return
	}
	r.pools.mu.Lock()
	r.pools.settings = st
	r.pools.mu.Unlock()
}

// rankPools returns the pools a new session id may go to, best first:
// those of region first (when asked), each group by weighted rendezvous
// hashing of the session id. Pools of weight 0 or draining are left out,
// and so is every pool when all weights are 0.
func (r *Router) rankPools(ctx context.Context, id, region string) []string {
	r.loadSettings(ctx)
	names := r.pools.names(r.reg.pools(r.cfg.Now()))
	type ranked struct {
		name   string
		local  bool
		weight float64
		score  float64
	}
	list := make([]ranked, 0, len(names))
	for _, n := range names {
		v := r.pools.view(n)
		if v.weight <= 0 || v.draining {
			continue
		}
		list = append(list, ranked{name: n, local: region != "" && v.region == region, weight: v.weight,
			score: -math.Log(unitHash(n, id)) / v.weight})
	}
	slices.SortFunc(list, func(a, b ranked) int {
		switch {
		case a.local != b.local:
			if a.local {
				return -1
			}
			return 1
		case a.score != b.score:
			if a.score < b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.name
	}
	return out
}

// unitHash maps (pool, session) to a number in (0, 1), uniformly.
func unitHash(pool, session string) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(pool))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(session))
	x := h.Sum64()
	// splitmix64's finalizer: FNV's low bits are weak for short inputs.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return (float64(x>>11) + 0.5) / (1 << 53)
}

// Pools lists the pools with their settings and load.
func (r *Router) Pools(ctx context.Context) (api.PoolList, error) {
	r.loadSettings(ctx)
	loads := r.reg.pools(r.cfg.Now())
	names := r.pools.names(loads)
	out := api.PoolList{Pools: make([]api.PoolInfo, 0, len(names))}
	var sum float64
	for _, n := range names {
		v := r.pools.view(n)
		l := loads[n]
		info := api.PoolInfo{Name: n, Weight: v.weight, Region: v.region, Allocator: v.allocator, Draining: v.draining,
			Pods: l.pods, PodsPlaceable: l.placeable, Sessions: l.sessions, Participants: l.participants,
			NewSessions: r.pools.counter(n).Load()}
		if rf := r.pools.refills[n]; rf != nil {
			info.Refill = rf.snapshot()
		}
		if !v.draining {
			sum += v.weight
		}
		out.Pools = append(out.Pools, info)
	}
	for i := range out.Pools {
		if p := &out.Pools[i]; sum > 0 && !p.Draining {
			p.Share = p.Weight / sum
		}
	}
	return out, nil
}

// Pool returns one pool; api.ErrPoolNotFound if nothing knows it.
func (r *Router) Pool(ctx context.Context, name string) (api.PoolInfo, error) {
	list, err := r.Pools(ctx)
	if err != nil {
		return api.PoolInfo{}, err
	}
	for _, p := range list.Pools {
		if p.Name == name {
			return p, nil
		}
	}
	return api.PoolInfo{}, fmt.Errorf("%w: %q", api.ErrPoolNotFound, name)
}

// SetPool changes a pool's weight or region (PUT /v1/pools/{pool}); it
// takes effect for the next admission on every replica. A pool not
// configured and not reported yet may be set ahead (a Fleet about to
// start).
func (r *Router) SetPool(ctx context.Context, name string, u api.PoolUpdate) (api.PoolInfo, error) {
	if !api.ValidID(name) {
		return api.PoolInfo{}, fmt.Errorf("%w: pool name %q", api.ErrInvalid, name)
	}
	if u.Weight != nil && !validWeight(*u.Weight) {
		return api.PoolInfo{}, fmt.Errorf("%w: weight %v: a finite number ≥ 0", api.ErrInvalid, *u.Weight)
	}
	if u.Region != nil && *u.Region != "" && !api.ValidID(*u.Region) {
		return api.PoolInfo{}, fmt.Errorf("%w: region %q", api.ErrInvalid, *u.Region)
	}
	if u.Weight == nil && u.Region == nil {
		return api.PoolInfo{}, fmt.Errorf("%w: nothing to change (weight, region)", api.ErrInvalid)
	}
	err := r.changePool(ctx, name, func(st *PoolSetting) {
		if u.Weight != nil {
			w := *u.Weight
			st.Weight = &w
		}
		if u.Region != nil {
			reg := *u.Region
			st.Region = &reg
		}
	})
	if err != nil {
		return api.PoolInfo{}, err
	}
	v := r.pools.view(name)
	r.log.Info("router: pool changed", "pool", name, "weight", v.weight, "region", v.region)
	return r.Pool(ctx, name)
}

// changePool applies f to pool name's setting in the store and here.
func (r *Router) changePool(ctx context.Context, name string, f func(*PoolSetting)) error {
	r.pools.changeMu.Lock()
	defer r.pools.changeMu.Unlock()
	r.loadSettings(ctx)
	r.pools.mu.Lock()
	st := r.pools.settings[name]
	r.pools.mu.Unlock()
	f(&st)
	if err := r.ops.SetPoolSetting(ctx, name, st); err != nil {
		return fmt.Errorf("router: store: %w", err)
	}
	r.pools.mu.Lock()
	m := make(map[string]PoolSetting, len(r.pools.settings)+1)
	for k, v := range r.pools.settings {
		m[k] = v
	}
	m[name] = st
	r.pools.settings = m
	r.pools.mu.Unlock()
	return nil
}

// knownPool reports whether name is configured, set or reported.
func (r *Router) knownPool(name string) bool {
	return slices.Contains(r.pools.names(r.reg.pools(r.cfg.Now())), name)
}
