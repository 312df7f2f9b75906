package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// poolPod is a pod of the pool tests: an admin API stub that admits
// anything while it has room, and its GameServer state.
type poolPod struct {
	name string
	srv  *httptest.Server

	mu       sync.Mutex // guards the fields below
	sessions map[string]int
	state    string // Ready, Allocated
	seq      uint64
}

const stubMaxSessions = 10

func newPoolPod(t *testing.T, name string) *poolPod {
	p := &poolPod{name: name, sessions: map[string]int{}, state: "Ready"}
	answer := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/sessions/"), "/participants")
		p.mu.Lock()
		_, known := p.sessions[id]
		full := !known && len(p.sessions) >= stubMaxSessions
		if !full {
			p.sessions[id]++
		}
		p.mu.Unlock()
		if full {
			answer(w, http.StatusServiceUnavailable, api.ErrorResponse{Error: "full", Code: api.CodeNotAccepting})
			return
		}
		answer(w, http.StatusCreated, api.Admission{SessionID: id, ParticipantID: "p", SSRC: 1,
			SRTP: api.SRTPKeys{Profile: api.DefaultProfile}})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *poolPod) setState(s string) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

func (p *poolPod) report() api.PodReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	rep := api.PodReport{Name: p.name, Instance: "i", Seq: p.seq, AdminURL: p.srv.URL, GameServerState: p.state,
		Limits: api.Limits{MaxSessions: stubMaxSessions, MaxParticipants: 100}, Accepting: true, State: api.StateAccepting}
	for id, n := range p.sessions {
		rep.Sessions = append(rep.Sessions, api.PodSession{ID: id, Participants: n})
		rep.Participants += n
	}
	return rep
}

// fakeAllocator allocates the stub pods that are Ready, one per call, or
// answers err when set; it records when it was called.
type fakeAllocator struct {
	mu    sync.Mutex // guards the fields below
	pods  []*poolPod
	err   error
	calls []time.Time
}

func (f *fakeAllocator) Name() string { return "fake" }

func (f *fakeAllocator) Allocate(_ context.Context, req AllocationRequest) (Allocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	if !req.ReadyOnly || req.MatchLabels[LabelAccepting] != "true" {
		return Allocation{}, errors.New("the refill loop must ask for a Ready, accepting pod")
	}
	if f.err != nil {
		return Allocation{}, f.err
	}
	for _, p := range f.pods {
		p.mu.Lock()
		ready := p.state == "Ready"
		if ready {
			p.state = "Allocated"
		}
		p.mu.Unlock()
		if ready {
			return Allocation{GameServer: p.name, Address: "127.0.0.1", Port: 7000}, nil
		}
	}
	return Allocation{}, fmt.Errorf("simulated UnAllocated: %w", ErrAllocRetry)
}

func (f *fakeAllocator) add(p *poolPod) {
	f.mu.Lock()
	f.pods = append(f.pods, p)
	f.mu.Unlock()
}

func (f *fakeAllocator) callTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

// poolFixture is a router in Agones mode with its refill loop running and
// its pods reporting every 20 ms.
type poolFixture struct {
	r     *Router
	alloc *fakeAllocator
	pods  []*poolPod
}

func newPoolFixture(t *testing.T, pods int, cfg RefillConfig) *poolFixture {
	t.Helper()
	f := &poolFixture{alloc: &fakeAllocator{}}
	for i := range pods {
		p := newPoolPod(t, fmt.Sprintf("pod-%02d", i))
		f.pods = append(f.pods, p)
		f.alloc.add(p)
	}
	cfg.Tick = 10 * time.Millisecond
	r, err := New(Config{Allocator: f.alloc, Refill: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { r.RunPool(ctx) })
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			f.alloc.mu.Lock()
			all := append([]*poolPod(nil), f.alloc.pods...)
			f.alloc.mu.Unlock()
			for _, p := range all {
				_ = r.Report(ctx, p.report())
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	waitFor(t, "the loop's first step", 2*time.Second, func() bool { return r.pools.refills[DefaultPool].status.Load() != nil })
	return f
}

func (f *poolFixture) status(t *testing.T) api.PoolStatus {
	t.Helper()
	st, err := f.r.Status(context.Background())
	if err != nil || st.Pool == nil {
		t.Fatalf("status: %v, pool %v", err, st.Pool)
	}
	return *st.Pool
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPoolRefillKeepsTarget: the loop fills the pool up to its floor
// before any admission, placement uses only Allocated pods, and under a
// steady rate of new sessions it keeps allocating ahead so no admission
// ever waits.
func TestPoolRefillKeepsTarget(t *testing.T) {
	f := newPoolFixture(t, 12, RefillConfig{Floor: 15, MaxInFlight: 2})
	waitFor(t, "the floor", 5*time.Second, func() bool {
		st := f.status(t)
		return st.FreeSlots >= 15 && st.Joining == 0
	})
	if st := f.status(t); st.PlaceablePods != 2 || st.Allocations != 2 {
		t.Fatalf("floor 15 with pods of 10: want 2 pods allocated, got %+v", st)
	}
	ctx := context.Background()
	tick := time.NewTicker(10 * time.Millisecond) // 100 new sessions/s
	defer tick.Stop()
	for i := range 60 {
		<-tick.C
		adm, err := f.r.Admit(ctx, fmt.Sprintf("s%03d", i), api.AdmitRequest{}, "")
		if err != nil {
			t.Fatalf("admission %d: %v", i, err)
		}
		if st, _, _ := f.r.reg.gameServer(adm.Pod); st != "Allocated" {
			t.Fatalf("session placed on a %s pod", st)
		}
	}
	st := f.status(t)
	if st.AdmissionsWaited != 0 {
		t.Fatalf("%d admissions waited on an allocation under a steady rate: %+v", st.AdmissionsWaited, st)
	}
	if st.NewSessionsPerSecond < 20 || st.TargetSlots < 15 {
		t.Fatalf("the target did not follow the rate: %+v", st)
	}
	waitFor(t, "the target kept", 5*time.Second, func() bool {
		st := f.status(t)
		return st.FreeSlots+st.FutureSlots >= st.TargetSlots
	})
	if got := metricValue(t, f.r, "vox_router_admissions_waited_total"); got != "0" {
		t.Fatalf("vox_router_admissions_waited_total %s", got)
	}
}

// TestPoolEmptyWaits: with no pod in the pool and none Ready, an
// admission waits (counted); a pod turning Ready is allocated, joins the
// pool when it reports Allocated, and the admission lands on it. With no
// pod at all the wait ends at WaitTimeout with no_pod.
func TestPoolEmptyWaits(t *testing.T) {
	f := newPoolFixture(t, 0, RefillConfig{Floor: 1, WaitTimeout: 3 * time.Second,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond})
	late := newPoolPod(t, "late")
	late.setState("Scheduled")
	f.alloc.add(late)
	done := make(chan error, 1)
	var adm api.RouterAdmission
	go func() {
		var err error
		adm, err = f.r.Admit(context.Background(), "s1", api.AdmitRequest{}, "")
		done <- err
	}()
	waitFor(t, "the admission to wait", 2*time.Second, func() bool { return f.r.pools.refills[DefaultPool].waiting.Load() == 1 })
	late.setState("Ready")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if adm.Pod != "late" {
		t.Fatalf("landed on %q", adm.Pod)
	}
	if st := f.status(t); st.AdmissionsWaited != 1 || st.WaitTimeouts != 0 {
		t.Fatalf("want 1 admission waited, none in vain: %+v", st)
	}
	if got := metricValue(t, f.r, "vox_router_admissions_waited_total"); got != "1" {
		t.Fatalf("vox_router_admissions_waited_total %s", got)
	}

	g := newPoolFixture(t, 0, RefillConfig{WaitTimeout: 100 * time.Millisecond})
	if _, err := g.r.Admit(context.Background(), "s1", api.AdmitRequest{}, ""); !errors.Is(err, ErrNoPod) {
		t.Fatalf("no pod at all: %v", err)
	}
	if st := g.status(t); st.AdmissionsWaited != 1 || st.WaitTimeouts != 1 {
		t.Fatalf("want 1 admission waited in vain: %+v", st)
	}
}

// TestPoolBackoff: refused allocations (UnAllocated) are retried after a
// jittered backoff that doubles up to BackoffMax, not in a tight loop;
// the loop says so in its status.
func TestPoolBackoff(t *testing.T) {
	const lo, hi = 20 * time.Millisecond, 160 * time.Millisecond
	f := newPoolFixture(t, 0, RefillConfig{MaxInFlight: 1, BackoffMin: lo, BackoffMax: hi})
	f.alloc.mu.Lock()
	f.alloc.err = fmt.Errorf("UnAllocated: %w", ErrAllocRetry)
	f.alloc.mu.Unlock()
	time.Sleep(1500 * time.Millisecond)
	calls := f.alloc.callTimes()
	// With no backoff the loop would call every tick (10 ms) or faster:
	// ≥ 150. Doubling from 20 ms to 160 ms, halved by the jitter at worst:
	// 10+20+40+80 ms, then ≥ 80 ms apart: at most ~22 calls.
	if len(calls) < 5 || len(calls) > 25 {
		t.Fatalf("%d allocations in 1.5 s", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < lo/2-2*time.Millisecond {
			t.Fatalf("retry %d after %v, below half of BackoffMin", i, gap)
		}
	}
	late := 0
	for i := 6; i < len(calls); i++ {
		if calls[i].Sub(calls[i-1]) >= hi/2-2*time.Millisecond {
			late++
		}
	}
	if late < len(calls)-6 {
		t.Fatalf("backoff did not reach BackoffMax/2 between late retries: %v", calls)
	}
	if st := f.status(t); st.AllocRetries < uint64(len(calls))-1 || st.Allocations != 0 {
		t.Fatalf("status: %+v", st)
	}
}

func metricValue(t *testing.T, r *Router, name string) string {
	t.Helper()
	var b strings.Builder
	r.Metrics().WritePrometheus(&b)
	for line := range strings.SplitSeq(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}
