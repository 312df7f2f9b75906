package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// opsPod is a pod of the fleet operations' tests: an admin API stub that
// admits while it accepts and has room, takes accept-stop (new sessions
// only or all), accept-resume and drain, and reports what it holds.
type opsPod struct {
	name, pool string
	srv        *httptest.Server

	mu         sync.Mutex // guards the fields below
	sessions   map[string]int
	stoppedNew bool
	reason     string
	drain      *api.DrainRequest
	gsState    string
	cpu        float64
	seq        uint64
	calls      []string
}

func newOpsPod(t *testing.T, name, pool string) *opsPod {
	p := &opsPod{name: name, pool: pool, sessions: map[string]int{}, gsState: "Allocated"}
	answer := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.calls = append(p.calls, r.Method+" "+r.URL.Path)
		switch {
		case r.URL.Path == "/v1/accept-stop":
			var req api.AcceptStopRequest
			_ = json.Unmarshal(body, &req)
			p.stoppedNew, p.reason = req.NewSessionsOnly, req.Reason
			answer(w, http.StatusOK, api.Status{})
		case r.URL.Path == "/v1/accept-resume":
			if p.drain != nil {
				answer(w, http.StatusConflict, api.ErrorResponse{Error: "draining", Code: api.CodeDrainConflict})
				return
			}
			p.stoppedNew = false
			answer(w, http.StatusOK, api.Status{})
		case r.URL.Path == "/v1/drain" && r.Method == http.MethodPost:
			if p.drain != nil {
				answer(w, http.StatusConflict, api.ErrorResponse{Error: "draining", Code: api.CodeDrainConflict})
				return
			}
			var req api.DrainRequest
			if err := json.Unmarshal(body, &req); err != nil {
				answer(w, http.StatusBadRequest, api.ErrorResponse{Error: err.Error(), Code: api.CodeInvalidRequest})
				return
			}
			p.drain = &req
			answer(w, http.StatusAccepted, api.DrainStatus{Phase: api.DrainNotifying, Rate: req.Rate})
		case strings.HasSuffix(r.URL.Path, "/participants") && r.Method == http.MethodPost:
			id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/sessions/"), "/participants")
			_, known := p.sessions[id]
			if p.drain != nil || !known && (p.stoppedNew || len(p.sessions) >= stubMaxSessions) {
				answer(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: "no", Code: api.CodeNotAccepting})
				return
			}
			p.sessions[id]++
			answer(w, http.StatusCreated, api.Admission{SessionID: id, ParticipantID: "p", SSRC: 1,
				SRTP: api.SRTPKeys{Profile: api.DefaultProfile}})
		default:
			answer(w, http.StatusNotFound, api.ErrorResponse{Error: "no route", Code: api.CodeNotFound})
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *opsPod) report() api.PodReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	rep := api.PodReport{Name: p.name, Pool: p.pool, Instance: "i", Seq: p.seq, AdminURL: p.srv.URL,
		GameServerState: p.gsState, CPUPercent: p.cpu,
		Limits: api.Limits{MaxSessions: stubMaxSessions, MaxParticipants: 100}, Accepting: true, State: api.StateAccepting}
	if p.stoppedNew {
		rep.Accepting, rep.State, rep.Reason = false, api.StateStopped, p.reason
	}
	if p.drain != nil {
		rep.Accepting, rep.State, rep.DrainPhase = false, api.StateDraining, api.DrainNotifying
		if len(p.sessions) == 0 {
			rep.State, rep.DrainPhase = api.StateDrained, api.DrainDrained
		}
	}
	for id, n := range p.sessions {
		rep.Sessions = append(rep.Sessions, api.PodSession{ID: id, Participants: n})
		rep.Participants += n
	}
	return rep
}

// end removes a session (it ended, or its members followed their notices).
func (p *opsPod) end(id string) {
	p.mu.Lock()
	delete(p.sessions, id)
	p.mu.Unlock()
}

func (p *opsPod) sessionIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.sessions))
	for id := range p.sessions {
		out = append(out, id)
	}
	return out
}

func (p *opsPod) drainReq() *api.DrainRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drain
}

func (p *opsPod) isStoppedNew() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stoppedNew
}

// opsFixture is a router whose clock the test moves, with stub pods that
// report when the test says so, and the ops loop stepped by hand.
type opsFixture struct {
	t    *testing.T
	r    *Router
	pods map[string]*opsPod

	mu  sync.Mutex
	now time.Time
}

func newOpsFixture(t *testing.T, cfg Config, pods ...*opsPod) *opsFixture {
	t.Helper()
	f := &opsFixture{t: t, pods: map[string]*opsPod{}, now: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
	cfg.Now = f.clock
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	for _, p := range pods {
		f.pods[p.name] = p
	}
	f.reportAll()
	return f
}

func (f *opsFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *opsFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *opsFixture) reportAll() {
	f.t.Helper()
	for _, p := range f.pods {
		if err := f.r.Report(context.Background(), p.report()); err != nil {
			f.t.Fatal(err)
		}
	}
}

// tick reports every pod, then steps the ops loop once.
func (f *opsFixture) tick() {
	f.reportAll()
	f.r.opsStep(context.Background())
}

func (f *opsFixture) admit(id string) string {
	f.t.Helper()
	adm, err := f.r.Admit(context.Background(), id, api.AdmitRequest{}, "")
	if err != nil {
		f.t.Fatalf("admit %s: %v", id, err)
	}
	return adm.Pod
}

func (f *opsFixture) drain(pod string) api.PodDrain {
	f.t.Helper()
	d, err := f.r.Drains(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, x := range d.Drains {
		if x.Pod == pod {
			return x
		}
	}
	return api.PodDrain{}
}

func weight(w float64) *float64 { return &w }

// TestPoolSplitFollowsWeights: new sessions split across pools by weight,
// per session id (the same id ranks the pools alike every time), within
// four standard deviations of the binomial; raising one weight only moves
// sessions to that pool; weight 0 takes nothing.
func TestPoolSplitFollowsWeights(t *testing.T) {
	r, err := New(Config{Pools: []PoolConfig{{Name: "v1", Weight: weight(1)}, {Name: "v2", Weight: weight(0.01)}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 20000
	first := make([]string, n)
	count := func() (v2 int) {
		for i := range n {
			rank := r.rankPools(ctx, fmt.Sprintf("s%d", i), "")
			if rank[0] == "v2" {
				v2++
			}
			if first[i] == "" {
				first[i] = rank[0]
			}
		}
		return v2
	}
	for _, step := range []struct{ w2 float64 }{{0.01}, {1.0 / 99}, {10.0 / 90}, {1}, {0}, {99}} {
		if _, err := r.SetPool(ctx, "v2", api.PoolUpdate{Weight: weight(step.w2)}); err != nil {
			t.Fatal(err)
		}
		p := step.w2 / (1 + step.w2)
		got := count()
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(float64(got)-n*p) > 4*sd+1 {
			t.Errorf("weight %v: %d of %d sessions ranked v2 first, want %.0f ± %.0f", step.w2, got, n, n*p, 4*sd)
		}
	}
	// Stable: a session ranks alike every time.
	for i := range 100 {
		id := fmt.Sprintf("s%d", i)
		if a, b := r.rankPools(ctx, id, ""), r.rankPools(ctx, id, ""); strings.Join(a, ",") != strings.Join(b, ",") {
			t.Fatalf("%s ranked %v then %v", id, a, b)
		}
	}
	// Rendezvous: raising v2's weight moves sessions only to v2.
	if _, err := r.SetPool(ctx, "v2", api.PoolUpdate{Weight: weight(0.1)}); err != nil {
		t.Fatal(err)
	}
	before := make([]string, n)
	for i := range n {
		before[i] = r.rankPools(ctx, fmt.Sprintf("s%d", i), "")[0]
	}
	if _, err := r.SetPool(ctx, "v2", api.PoolUpdate{Weight: weight(0.5)}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if after := r.rankPools(ctx, fmt.Sprintf("s%d", i), "")[0]; after != before[i] && after != "v2" {
			t.Fatalf("s%d moved from %s to %s when only v2's weight rose", i, before[i], after)
		}
	}
	// Weight 0: left out of the ranking.
	if _, err := r.SetPool(ctx, "v2", api.PoolUpdate{Weight: weight(0)}); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		for _, p := range r.rankPools(ctx, fmt.Sprintf("s%d", i), "") {
			if p == "v2" {
				t.Fatal("a pool of weight 0 ranked")
			}
		}
	}
}

// TestPoolSettingsSurviveRestart: a weight set through the API is in the
// store; a new router on the same store (a restart, or another replica)
// ranks with it, over the configured one.
func TestPoolSettingsSurviveRestart(t *testing.T) {
	st := NewMemStore()
	cfg := Config{Store: st, Pools: []PoolConfig{{Name: "v1", Weight: weight(1)}, {Name: "v2", Weight: weight(1), Region: "eu"}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r1.SetPool(ctx, "v2", api.PoolUpdate{Weight: weight(0)}); err != nil {
		t.Fatal(err)
	}
	r2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r2.Pool(ctx, "v2")
	if err != nil || p.Weight != 0 || p.Region != "eu" || p.Share != 0 {
		t.Fatalf("v2 after a restart: %+v %v", p, err)
	}
	for i := range 200 {
		if rank := r2.rankPools(ctx, fmt.Sprintf("s%d", i), "eu"); len(rank) == 0 || rank[0] == "v2" {
			t.Fatalf("rank %v: v2 is at weight 0", rank)
		}
	}
	if _, err := r2.SetPool(ctx, "v2", api.PoolUpdate{Weight: weight(1)}); err != nil {
		t.Fatal(err)
	}
	// Region: asked for eu, v2 (eu) comes first for every session.
	for i := range 200 {
		if rank := r2.rankPools(ctx, fmt.Sprintf("s%d", i), "eu"); rank[0] != "v2" {
			t.Fatalf("rank %v for region eu", rank)
		}
	}
	for _, bad := range []api.PoolUpdate{{}, {Weight: weight(-1)}, {Weight: weight(math.Inf(1))}, {Region: new("no spaces")}} {
		if _, err := r2.SetPool(ctx, "v2", bad); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("SetPool(%+v): %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := r2.Pool(ctx, "nope"); !errors.Is(err, api.ErrPoolNotFound) {
		t.Errorf("unknown pool: %v", err)
	}
}

// TestRegionAndWeightPlacement: with pods in two pools, admissions land
// by the ranking; a region asked lands there; weight 0 (a rollback) takes
// effect for the next admission while placed sessions stay sticky.
func TestRegionAndWeightPlacement(t *testing.T) {
	a, b := newOpsPod(t, "a-1", "onprem"), newOpsPod(t, "b-1", "cloud")
	f := newOpsFixture(t, Config{Pools: []PoolConfig{{Name: "onprem", Region: "eu"}, {Name: "cloud", Region: "us"}}}, a, b)
	ctx := context.Background()
	for i := range 8 {
		if pod, err := f.r.AdmitIn(ctx, fmt.Sprintf("eu%d", i), api.AdmitRequest{}, "", "eu"); err != nil || pod.Pod != "a-1" {
			t.Fatalf("eu admission on %q: %v", pod.Pod, err)
		}
	}
	if _, err := f.r.SetPool(ctx, "onprem", api.PoolUpdate{Weight: weight(0)}); err != nil {
		t.Fatal(err)
	}
	if pod, err := f.r.AdmitIn(ctx, "eu-late", api.AdmitRequest{}, "", "eu"); err != nil || pod.Pod != "b-1" {
		t.Fatalf("after the rollback, a new eu session on %q: %v", pod.Pod, err)
	}
	if pod := f.admit("eu3"); pod != "a-1" {
		t.Fatalf("a member of a placed session went to %s", pod)
	}
}

// TestPodDrainLifecycle: an operator's drain stops new sessions on the
// pod (members still join), queues after the grace, drains at most
// MaxDraining pods at once at Budget/MaxDraining each, and is done when
// the pod is empty; cancel works before the drain only.
func TestPodDrainLifecycle(t *testing.T) {
	pods := []*opsPod{newOpsPod(t, "p1", ""), newOpsPod(t, "p2", ""), newOpsPod(t, "p3", ""), newOpsPod(t, "p4", "")}
	f := newOpsFixture(t, Config{Ops: OpsConfig{Budget: 60, MaxDraining: 2, NoConsolidation: true}}, pods...)
	ctx := context.Background()
	for i := range 12 {
		f.admit(fmt.Sprintf("s%d", i))
	}
	if _, err := f.r.DrainPod(ctx, "nope", 0); !errors.Is(err, api.ErrPodNotFound) {
		t.Fatalf("unknown pod: %v", err)
	}
	for _, p := range pods[:3] {
		if _, err := f.r.DrainPod(ctx, p.name, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if !p.isStoppedNew() {
			t.Fatalf("%s: new sessions not stopped on the pod", p.name)
		}
	}
	// Nothing new lands on a pod being drained; members still join there.
	for i := range 5 {
		if pod := f.admit(fmt.Sprintf("new%d", i)); pod != "p4" {
			t.Fatalf("a new session on %s, which is being drained", pod)
		}
	}
	if ids := pods[0].sessionIDs(); len(ids) > 0 {
		if pod := f.admit(ids[0]); pod != "p1" {
			t.Fatalf("a member of %s went to %s", ids[0], pod)
		}
	}
	f.tick()
	if d := f.drain("p1"); d.Phase != api.FleetDrainStopped {
		t.Fatalf("during the grace: %+v", d)
	}
	// Cancel during the grace: back to serving.
	if d, err := f.r.CancelPodDrain(ctx, "p3"); err != nil || d.Phase != api.FleetDrainCancelled || pods[2].isStoppedNew() {
		t.Fatalf("cancel: %+v %v (stopped %v)", d, err, pods[2].isStoppedNew())
	}
	f.advance(31 * time.Second)
	f.tick()
	drains, _ := f.r.Drains(ctx)
	if drains.Draining != 2 || drains.Assigned != 60 || drains.Assigned > drains.Budget {
		t.Fatalf("drains %+v", drains)
	}
	var metrics strings.Builder
	f.r.Metrics().WritePrometheus(&metrics)
	for _, want := range []string{`vox_router_drains{phase="draining"} 2`, `vox_router_reconnect_assigned_per_second 60`,
		`vox_router_reconnect_budget_per_second 60`, `vox_router_drain_overdue 0`, `vox_router_pool_weight{pool="default"} 1`} {
		if !strings.Contains(metrics.String(), want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, metrics.String())
		}
	}
	for _, p := range pods[:2] {
		if req := p.drainReq(); req == nil || req.Rate != 30 || req.Exit == nil || !*req.Exit {
			t.Fatalf("%s drain request %+v", p.name, req)
		}
	}
	if _, err := f.r.CancelPodDrain(ctx, "p1"); !errors.Is(err, api.ErrDrainConflict) {
		t.Fatalf("cancel while draining: %v", err)
	}
	// A third drain waits for a slot.
	if _, err := f.r.DrainPod(ctx, "p3", 0); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if d := f.drain("p3"); d.Phase != api.FleetDrainQueued || pods[2].drainReq() != nil {
		t.Fatalf("p3 with two pods draining: %+v", d)
	}
	// p1 empties: done; p3 takes its slot.
	for _, id := range pods[0].sessionIDs() {
		pods[0].end(id)
	}
	f.tick()
	if d := f.drain("p1"); d.Phase != api.FleetDrainDone || d.EndedAt == nil {
		t.Fatalf("p1 empty: %+v", d)
	}
	f.tick()
	// (p3 holds nothing: packing filled p1 and p2, so it is done at once.)
	if d := f.drain("p3"); d.Phase != api.FleetDrainDraining && d.Phase != api.FleetDrainDone || pods[2].drainReq() == nil {
		t.Fatalf("p3 after p1 ended: %+v", d)
	}
	// Ended drains are forgotten after KeepEnded.
	f.advance(DefaultKeepEnded + time.Second)
	f.tick()
	if d := f.drain("p1"); d.Pod != "" {
		t.Fatalf("an old ended drain still listed: %+v", d)
	}
}

// TestPoolDrain: draining a pool takes it out of the ranking and drains
// every pod of it at the budget; the other pool takes the new sessions.
func TestPoolDrain(t *testing.T) {
	old1, old2, nu := newOpsPod(t, "old-1", "v1"), newOpsPod(t, "old-2", "v1"), newOpsPod(t, "new-1", "v2")
	f := newOpsFixture(t, Config{Pools: []PoolConfig{{Name: "v1"}, {Name: "v2", Weight: weight(0)}},
		Ops: OpsConfig{Budget: 50, MaxDraining: 1, NoConsolidation: true}}, old1, old2, nu)
	ctx := context.Background()
	for i := range 6 {
		if pod := f.admit(fmt.Sprintf("s%d", i)); !strings.HasPrefix(pod, "old-") {
			t.Fatalf("placed on %s, weight 0", pod)
		}
	}
	if _, err := f.r.SetPool(ctx, "v2", api.PoolUpdate{Weight: weight(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.DrainPool(ctx, "nope"); !errors.Is(err, api.ErrPoolNotFound) {
		t.Fatalf("unknown pool: %v", err)
	}
	p, err := f.r.DrainPool(ctx, "v1")
	if err != nil || !p.Draining {
		t.Fatalf("drain v1: %+v %v", p, err)
	}
	for i := range 5 {
		if pod := f.admit(fmt.Sprintf("n%d", i)); pod != "new-1" {
			t.Fatalf("a new session on %s of a draining pool", pod)
		}
	}
	f.tick()
	f.tick()
	draining := 0
	for _, pod := range []*opsPod{old1, old2} {
		if pod.drainReq() != nil {
			draining++
			if pod.drainReq().Rate != 50 {
				t.Fatalf("rate %v", pod.drainReq().Rate)
			}
		}
	}
	if draining != 1 {
		t.Fatalf("%d pods of v1 draining, want 1 (max draining)", draining)
	}
	pools, _ := f.r.Pools(ctx)
	for _, p := range pools.Pools {
		if p.Name == "v1" && (!p.Draining || p.Share != 0) || p.Name == "v2" && p.Share != 1 {
			t.Fatalf("pools %+v", pools.Pools)
		}
	}
}

// noAllocator has nothing to allocate.
type noAllocator struct{}

func (noAllocator) Name() string { return "none" }
func (noAllocator) Allocate(context.Context, AllocationRequest) (Allocation, error) {
	return Allocation{}, fmt.Errorf("nothing Ready: %w", ErrAllocRetry)
}

// TestConsolidation: with more free slots than the pool needs (its refill
// target plus one pod) for longer than ConsolidateAfter, the router
// chooses the pod whose departure moves the fewest participants, only
// while the rest keep target + margin, stops new sessions on it, and drains
// it after the grace; when load rises again it cancels a drain still in
// its grace.
func TestConsolidation(t *testing.T) {
	pods := []*opsPod{newOpsPod(t, "p1", ""), newOpsPod(t, "p2", ""), newOpsPod(t, "p3", ""), newOpsPod(t, "p4", "")}
	f := newOpsFixture(t, Config{Allocator: noAllocator{}, Refill: RefillConfig{Floor: 5, MaxInFlight: 1},
		Ops: OpsConfig{ConsolidateAfter: time.Minute, Grace: 30 * time.Second, Budget: 10, MaxDraining: 1}}, pods...)
	ctx := context.Background()
	rf := f.r.pools.refills[DefaultPool]
	tick := func() {
		f.reportAll()
		f.reportAll() // a slot is settled by the second report after its admission
		rf.step(ctx)
		f.r.opsStep(ctx)
	}
	for i := range 12 {
		f.admit(fmt.Sprintf("s%d", i)) // packed: p1 10, p2 2
	}
	f.advance(time.Minute) // the new-session rate falls back to 0: target = floor
	tick()
	if d, _ := f.r.Drains(ctx); d.Consolidation.SurplusSlots != 28-5-10 || len(d.Drains) != 0 || !d.Consolidation.Enabled {
		t.Fatalf("surplus seen: %+v", d)
	}
	f.advance(30 * time.Second)
	tick()
	if d, _ := f.r.Drains(ctx); len(d.Drains) != 0 {
		t.Fatalf("chosen before the surplus lasted ConsolidateAfter: %+v", d.Drains)
	}
	f.advance(31 * time.Second)
	tick()
	tick()
	tick()
	d, _ := f.r.Drains(ctx)
	if len(d.Drains) != 1 || d.Drains[0].Pod != "p3" || d.Drains[0].Reason != api.DrainReasonConsolidation ||
		d.Drains[0].Phase != api.FleetDrainStopped || !pods[2].isStoppedNew() || d.Consolidation.Chosen != 1 {
		t.Fatalf("after the surplus lasted: %+v (p3 stopped %v)", d, pods[2].isStoppedNew())
	}
	// Load rises: 15 new sessions leave 3 free slots, under the target
	// (5): the drain still in its grace is cancelled.
	for i := range 15 {
		if pod := f.admit(fmt.Sprintf("n%d", i)); pod == "p3" {
			t.Fatal("a new session on a pod chosen to retire")
		}
	}
	tick()
	if dd := f.drain("p3"); dd.Phase != api.FleetDrainCancelled || pods[2].isStoppedNew() {
		t.Fatalf("after load rose: %+v (stopped %v)", dd, pods[2].isStoppedNew())
	}
	if d, _ := f.r.Drains(ctx); d.Consolidation.Cancelled != 1 {
		t.Fatalf("cancelled count: %+v", d.Consolidation)
	}
	// Load falls again: the sessions on p2, p3 and p4 end.
	for _, p := range pods[1:] {
		for _, id := range p.sessionIDs() {
			p.end(id)
		}
	}
	f.advance(time.Minute)
	tick()
	f.advance(2 * time.Minute)
	tick()
	var chosen string
	for _, dd := range mustDrains(t, f.r).Drains {
		if active(dd) {
			chosen = dd.Pod
		}
	}
	if chosen != "p2" {
		t.Fatalf("chose %q, want p2 (empty, first by name; p1 holds every participant)", chosen)
	}
	f.advance(31 * time.Second)
	tick()
	tick()
	if req := f.pods[chosen].drainReq(); req == nil || req.Rate != 10 {
		t.Fatalf("%s after its grace: drain %+v", chosen, req)
	}
}

func mustDrains(t *testing.T, r *Router) api.FleetDrains {
	t.Helper()
	d, err := r.Drains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestChooseRetireeCPU: a pod whose sessions only hot pods (over the CPU
// mark) could take stays; one whose sessions fit on cool pods goes.
func TestChooseRetireeCPU(t *testing.T) {
	r, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name string, sessions int, cpu float64) podState {
		return podState{name: name, sessions: sessions, participants: sessions, maxSessions: 10, maxParts: 100, cpu: cpu}
	}
	ctx := context.Background()
	cool, hot1, hot2 := pod("q1", 2, 10), pod("q2", 5, 95), pod("q3", 5, 95)
	q, ok := r.chooseRetiree(ctx, []podState{cool, hot1, hot2}, 18, 5)
	if !ok || q.name != "q2" {
		t.Fatalf("chose %q %v, want q2 (q1's sessions would land on hot pods only)", q.name, ok)
	}
	if q, ok := r.chooseRetiree(ctx, []podState{cool, pod("q2", 5, 95)}, 13, 3); !ok || q.name != "q2" {
		t.Fatalf("chose %q %v, want q2 (q1's sessions have only a hot pod to go to)", q.name, ok)
	}
	if q, ok := r.chooseRetiree(ctx, []podState{pod("q1", 2, 95), pod("q2", 5, 95)}, 13, 3); ok {
		t.Fatalf("chose %q with every pod hot", q.name)
	}
	if q, ok := r.chooseRetiree(ctx, []podState{cool, pod("q2", 5, 10)}, 13, 3); !ok || q.name != "q1" {
		t.Fatalf("chose %q %v, want q1 (fewest participants, room on a cool pod)", q.name, ok)
	}
}

// TestOrphanStopResumed: a pod the router stopped whose drain record is
// gone (an in-memory store lost it at a restart) is resumed by the next
// leader tick; a pod an operator stopped is left alone.
func TestOrphanStopResumed(t *testing.T) {
	mine, theirs := newOpsPod(t, "p1", ""), newOpsPod(t, "p2", "")
	mine.stoppedNew, mine.reason = true, "router: consolidation"
	theirs.stoppedNew, theirs.reason = true, "maintenance"
	f := newOpsFixture(t, Config{Ops: OpsConfig{NoConsolidation: true}}, mine, theirs)
	f.tick()
	if mine.isStoppedNew() {
		t.Fatal("the router's orphaned stop was not lifted")
	}
	if !theirs.isStoppedNew() {
		t.Fatal("an operator's stop was lifted")
	}
}

// TestSetPoolConcurrent: a weight and a region set at once on one pool
// (one replica) both stay: the read-modify-write is serialised.
func TestSetPoolConcurrent(t *testing.T) {
	r, err := New(Config{Pools: []PoolConfig{{Name: "v1"}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		var wg sync.WaitGroup
		w, region := float64(i), fmt.Sprintf("r%d", i)
		wg.Go(func() { _, _ = r.SetPool(ctx, "v1", api.PoolUpdate{Weight: &w}) })
		wg.Go(func() { _, _ = r.SetPool(ctx, "v1", api.PoolUpdate{Region: &region}) })
		wg.Wait()
		p, err := r.Pool(ctx, "v1")
		if err != nil || p.Weight != w || p.Region != region {
			t.Fatalf("round %d: %+v %v, want weight %v region %s", i, p, err, w, region)
		}
	}
}
