package agones_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
)

// fakePod is a Pod whose report and liveness the test sets.
type fakePod struct {
	mu    sync.Mutex
	r     agones.Report
	alive error
}

func (p *fakePod) Report() agones.Report { p.mu.Lock(); defer p.mu.Unlock(); return p.r }
func (p *fakePod) Alive() error          { p.mu.Lock(); defer p.mu.Unlock(); return p.alive }
func (p *fakePod) set(f func(*agones.Report)) {
	p.mu.Lock()
	f(&p.r)
	p.mu.Unlock()
}
func (p *fakePod) setAlive(err error) { p.mu.Lock(); p.alive = err; p.mu.Unlock() }

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

type harness struct {
	sc        *agonestest.Sidecar
	pod       *fakePod
	lc        *agones.Lifecycle
	logs      *syncLog
	addrs     chan [2]any
	deletions atomic.Int32
}

func start(t *testing.T, cfg agones.LifecycleConfig, prep func(*agonestest.Sidecar)) *harness {
	t.Helper()
	h := &harness{sc: agonestest.NewSidecar(), pod: &fakePod{r: agones.Report{Accepting: true, SessionCapacity: 40}},
		logs: &syncLog{}, addrs: make(chan [2]any, 16)}
	t.Cleanup(h.sc.Close)
	if prep != nil {
		prep(h.sc)
	}
	c, err := agones.New(h.sc.URL(), agones.Config{BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond,
		AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 20 * time.Millisecond
	}
	if cfg.ReportInterval == 0 {
		cfg.ReportInterval = 50 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.NewTextHandler(h.logs, nil))
	cfg.OnAddress = func(a string, p int) { h.addrs <- [2]any{a, p} }
	cfg.OnDeleting = func() { h.deletions.Add(1) }
	h.lc = agones.NewLifecycle(c, h.pod, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.lc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.lc.Stop)
	return h
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLifecycleReadyHealthAndReports(t *testing.T) {
	h := start(t, agones.LifecycleConfig{}, func(s *agonestest.Sidecar) { s.DeclareCounter("sessions", 0, 10) })
	if h.sc.State() != agones.StateReady {
		t.Fatalf("state %s", h.sc.State())
	}
	waitFor(t, "health pings", func() bool { return len(h.sc.CallsTo("POST", "/health")) >= 3 })
	h.pod.set(func(r *agones.Report) { r.Sessions, r.Participants, r.CPUPercent = 3, 11, 42.4 })
	waitFor(t, "labels", func() bool {
		l := h.sc.Labels()
		return l["agones.dev/sdk-vox-sessions"] == "3" && l["agones.dev/sdk-vox-participants"] == "11" &&
			l["agones.dev/sdk-vox-cpu"] == "42" && l["agones.dev/sdk-vox-accepting"] == "true"
	})
	waitFor(t, "counter", func() bool {
		c := h.sc.GameServer().Status.Counters["sessions"]
		return c.Count == 3 && c.Capacity == 40
	})
	// Sessions running on a Ready GameServer: it allocates itself.
	waitFor(t, "self-allocation", func() bool { return h.sc.State() == agones.StateAllocated })
	if n := len(h.sc.CallsTo("POST", "/allocate")); n != 1 {
		t.Fatalf("%d allocations", n)
	}
}

func TestLifecycleWritesOnlyChangesCoalesced(t *testing.T) {
	h := start(t, agones.LifecycleConfig{ReportInterval: 300 * time.Millisecond}, func(s *agonestest.Sidecar) {
		s.DeclareCounter("sessions", 0, 40)
	})
	waitFor(t, "first report", func() bool { return h.lc.WriteRounds() == 1 })
	h.sc.ResetCalls()
	rounds := h.lc.WriteRounds()
	// A burst of 500 joins and leaves, well inside one report interval
	// (~100 ms of 300): it may straddle one round boundary, never two.
	burst := time.Now()
	for i := range 500 {
		h.pod.set(func(r *agones.Report) { r.Participants = i % 7; r.Sessions = i % 3 })
		if i%50 == 49 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// On a loaded machine the burst may last longer: it can then straddle
	// one more boundary per interval it lasted.
	allowed := int64(2 + time.Since(burst)/(300*time.Millisecond))
	h.pod.set(func(r *agones.Report) { r.Participants, r.Sessions = 5, 2 })
	time.Sleep(700 * time.Millisecond) // two more intervals
	if got := h.lc.WriteRounds() - rounds; got > allowed {
		t.Fatalf("%d write rounds for a burst inside one interval, want at most %d", got, allowed)
	}
	if n := len(h.sc.CallsTo("PUT", "/metadata/label")); int64(n) > allowed*3 {
		t.Fatalf("%d label writes", n)
	}
	if l := h.sc.Labels(); l["agones.dev/sdk-vox-sessions"] != "2" || l["agones.dev/sdk-vox-participants"] != "5" {
		t.Fatalf("final labels %v", l)
	}
	// Nothing changes: nothing is written.
	h.sc.ResetCalls()
	time.Sleep(400 * time.Millisecond)
	if n := len(h.sc.CallsTo("PUT", "/metadata/label")) + len(h.sc.CallsTo("PATCH", "/v1beta1/counters/sessions")); n != 0 {
		t.Fatalf("%d writes without a change", n)
	}
}

func TestLifecycleCPUHysteresis(t *testing.T) {
	h := start(t, agones.LifecycleConfig{}, nil)
	h.pod.set(func(r *agones.Report) { r.CPUPercent = 50 })
	waitFor(t, "cpu 50", func() bool { return h.sc.Labels()["agones.dev/sdk-vox-cpu"] == "50" })
	for _, c := range []float64{52, 47.6, 53.9, 46.1} {
		h.pod.set(func(r *agones.Report) { r.CPUPercent = c })
		time.Sleep(70 * time.Millisecond)
		if got := h.sc.Labels()["agones.dev/sdk-vox-cpu"]; got != "50" {
			t.Fatalf("cpu %.1f rewrote the label to %s (hysteresis 5)", c, got)
		}
	}
	h.pod.set(func(r *agones.Report) { r.CPUPercent = 56 })
	waitFor(t, "cpu 56", func() bool { return h.sc.Labels()["agones.dev/sdk-vox-cpu"] == "56" })
}

func TestLifecycleUndeclaredCounterSkipped(t *testing.T) {
	h := start(t, agones.LifecycleConfig{}, nil)
	for i := range 5 {
		h.pod.set(func(r *agones.Report) { r.Sessions = i })
		time.Sleep(60 * time.Millisecond)
	}
	if n := len(h.sc.CallsTo("PATCH", "/v1beta1/counters/sessions")); n != 1 {
		t.Fatalf("%d counter writes to an undeclared counter, want 1 (then skip)", n)
	}
	if n := h.logs.count("declares no Counter"); n != 1 {
		t.Fatalf("logged %d times", n)
	}
}

func TestLifecycleWatchAddressAndDeletion(t *testing.T) {
	h := start(t, agones.LifecycleConfig{PortName: "media"}, nil)
	select {
	case a := <-h.addrs:
		if a[0] != agonestest.DefaultAddress || a[1] != agonestest.DefaultPort {
			t.Fatalf("initial address %v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no address from the watch")
	}
	h.sc.SetAddress("203.0.113.7", []agones.Port{{Name: "admin", Port: 8081}, {Name: "media", Port: 7123}})
	select {
	case a := <-h.addrs:
		if a[0] != "203.0.113.7" || a[1] != 7123 {
			t.Fatalf("changed address %v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("address change not seen")
	}
	h.sc.SetDeletionTimestamp()
	waitFor(t, "deletion", func() bool { return h.deletions.Load() == 1 })
	h.sc.SetAddress("203.0.113.8", nil) // more changes: OnDeleting stays at once
	time.Sleep(50 * time.Millisecond)
	if h.deletions.Load() != 1 {
		t.Fatal("OnDeleting called twice")
	}
}

func TestLifecycleWedgedShardStopsPings(t *testing.T) {
	h := start(t, agones.LifecycleConfig{}, nil)
	waitFor(t, "pings", func() bool { return len(h.sc.CallsTo("POST", "/health")) >= 2 })
	h.pod.setAlive(errors.New("shard 1 stalled"))
	time.Sleep(30 * time.Millisecond)
	n := len(h.sc.CallsTo("POST", "/health"))
	time.Sleep(150 * time.Millisecond)
	if m := len(h.sc.CallsTo("POST", "/health")); m > n+1 {
		t.Fatalf("pinged %d more times while wedged", m-n)
	}
	h.pod.setAlive(nil)
	waitFor(t, "pings resume", func() bool { return len(h.sc.CallsTo("POST", "/health")) >= n+3 })
	if h.logs.count("health pings stopped") != 1 {
		t.Fatal("wedge not logged once")
	}
}

func TestLifecycleSidecarOutageDegrades(t *testing.T) {
	h := start(t, agones.LifecycleConfig{}, nil)
	waitFor(t, "pings", func() bool { return len(h.sc.CallsTo("POST", "/health")) >= 2 })
	h.sc.SetDown(true)
	h.pod.set(func(r *agones.Report) { r.Sessions = 7 })
	time.Sleep(400 * time.Millisecond) // ~20 failed pings, ~8 failed reports
	if n := h.logs.count("health ping failing"); n != 1 {
		t.Fatalf("ping failure logged %d times, want once", n)
	}
	h.sc.SetDown(false)
	waitFor(t, "labels catch up", func() bool { return h.sc.Labels()["agones.dev/sdk-vox-sessions"] == "7" })
	waitFor(t, "recovery logged", func() bool { return h.logs.count("health ping works again") == 1 })
	// Errors answered by the sidecar are retried.
	h.sc.FailNext(2, 500)
	h.pod.set(func(r *agones.Report) { r.Sessions = 8 })
	waitFor(t, "after 500s", func() bool { return h.sc.Labels()["agones.dev/sdk-vox-sessions"] == "8" })
}

func TestLifecycleShutdown(t *testing.T) {
	h := start(t, agones.LifecycleConfig{}, nil)
	if err := h.lc.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.sc.State() != agones.StateShutdown {
		t.Fatalf("state %s", h.sc.State())
	}
	n := len(h.sc.CallsTo("POST", "/health"))
	time.Sleep(60 * time.Millisecond)
	if len(h.sc.CallsTo("POST", "/health")) != n {
		t.Fatal("pinging after Shutdown")
	}
}
