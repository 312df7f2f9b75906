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

func start(t *testing.T, cfg agones.LifecycleConfig, prep func(*agonestest.Sidecar), opts ...agonestest.Option) *harness {
	t.Helper()
	h := newHarness(t, cfg, prep, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.lc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// newHarness makes the sidecar and the Lifecycle, not started; the
// Lifecycle is stopped when the test ends.
func newHarness(t *testing.T, cfg agones.LifecycleConfig, prep func(*agonestest.Sidecar), opts ...agonestest.Option) *harness {
	t.Helper()
	h := &harness{sc: agonestest.NewSidecar(opts...), pod: &fakePod{r: agones.Report{Accepting: true, SessionCapacity: 40}},
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
	cfg.OnDeleting = func() { h.deletions.Add(1) }
	if cfg.OnAddress == nil {
		cfg.OnAddress = func(a string, p int) { h.addrs <- [2]any{a, p} }
	}
	h.lc = agones.NewLifecycle(c, h.pod, cfg)
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

// TestLifecycleUndeclaredCounterSkipped: an undeclared Counter, in the
// wording of the sidecar in a cluster or of the local SDK server, stops the
// Counter writes after the first, logged once.
func TestLifecycleUndeclaredCounterSkipped(t *testing.T) {
	for _, w := range []struct {
		name    string
		wording agonestest.Wording
		msg     string
	}{{"in cluster", agonestest.InCluster, "counter not found: sessions"},
		{"local SDK server", agonestest.LocalSDK, "not found. sessions Counter not found"}} {
		t.Run(w.name, func(t *testing.T) {
			h := start(t, agones.LifecycleConfig{}, nil, agonestest.WithWording(w.wording))
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
			if n := h.logs.count(w.msg); n != 1 {
				t.Fatalf("the sidecar's answer %q logged %d times", w.msg, n)
			}
			// The labels are still written.
			waitFor(t, "labels", func() bool { return h.sc.Labels()["agones.dev/sdk-vox-sessions"] == "4" })
		})
	}
}

// counter returns the sessions Counter's count on the sidecar.
func (h *harness) counter() int64 { return h.sc.GameServer().Status.Counters["sessions"].Count }

// TestLifecycleAllocationNeverArrives: the allocator's +1 stays while the
// allocation is in flight, also across another session's end (which must
// not erase it), and goes once the allocation timeout and one report
// interval have passed.
func TestLifecycleAllocationNeverArrives(t *testing.T) {
	const timeout, interval = 400 * time.Millisecond, 50 * time.Millisecond
	h := newHarness(t, agones.LifecycleConfig{AllocationTimeout: timeout, ReportInterval: interval},
		func(s *agonestest.Sidecar) { s.DeclareCounter("sessions", 0, 40) })
	h.pod.set(func(r *agones.Report) { r.Sessions = 2 })
	if err := h.lc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Counter at 2", func() bool { return h.counter() == 2 })
	if _, err := h.sc.Allocate("sessions"); err != nil {
		t.Fatal(err)
	}
	seen := time.Now()
	waitFor(t, "the allocation seen", func() bool { return h.lc.InFlight() == 1 })
	h.pod.set(func(r *agones.Report) { r.Sessions = 1 }) // another session ends
	waitFor(t, "the Counter at 1 + 1", func() bool { return h.counter() == 2 && h.lc.InFlight() == 1 })
	time.Sleep(4 * interval) // several report rounds: the slot stays
	if c, n := h.counter(), h.lc.InFlight(); time.Since(seen) < timeout-interval && (c != 2 || n != 1) {
		t.Fatalf("Counter %d, %d in flight, inside the timeout: want 2 and 1", c, n)
	}
	waitFor(t, "the Counter back to the sessions", func() bool { return h.counter() == 1 })
	if el := time.Since(seen); el < timeout {
		t.Fatalf("the slot went after %v, before the timeout %v", el, timeout)
	}
	// Bound: timeout + one interval, plus the time waitFor polls and the
	// race detector's slowness.
	if el := time.Since(seen); el > timeout+interval+500*time.Millisecond {
		t.Fatalf("the slot went after %v, want about %v", el, timeout+interval)
	}
	if h.lc.InFlight() != 0 {
		t.Fatal("still in flight after the timeout")
	}
}

// TestLifecycleAllocationsConcurrent allocates concurrently with the pod's
// own writes, sessions arriving (before or after the watch shows their
// allocation), sessions ending and allocations that never arrive. No slot is
// lost or doubled: once quiet, the Counter is sessions + in flight; once
// every arrived allocation is matched it holds only the in-flight ones that
// never arrived, and after the timeout, exactly the sessions.
func TestLifecycleAllocationsConcurrent(t *testing.T) {
	const timeout, interval = 1500 * time.Millisecond, 20 * time.Millisecond
	h := newHarness(t, agones.LifecycleConfig{AllocationTimeout: timeout, ReportInterval: interval},
		func(s *agonestest.Sidecar) { s.DeclareCounter("sessions", 0, 40) })
	if err := h.lc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var allocated, refused atomic.Int32
	for g := range 4 {
		wg.Go(func() {
			for i := range 8 {
				if _, err := h.sc.Allocate("sessions"); err != nil {
					refused.Add(1)
					continue
				}
				allocated.Add(1)
				switch (g + i) % 4 {
				case 0: // the session arrives at once, often before the watch
					h.pod.set(func(r *agones.Report) { r.Sessions++ })
				case 1: // it arrives a little later
					time.Sleep(15 * time.Millisecond)
					h.pod.set(func(r *agones.Report) { r.Sessions++ })
				case 2: // an older session ends, then this one arrives
					h.pod.set(func(r *agones.Report) { r.Sessions = max(0, r.Sessions-1) })
					time.Sleep(30 * time.Millisecond)
					h.pod.set(func(r *agones.Report) { r.Sessions++ })
				case 3: // never arrives
				}
				time.Sleep(time.Duration(5+g*3) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if allocated.Load() == 0 {
		t.Fatal("nothing allocated")
	}
	// Quiet: the Counter is the sessions plus what is still in flight.
	waitFor(t, "count == sessions + in flight", func() bool {
		return h.counter() == int64(h.pod.Report().Sessions+h.lc.InFlight())
	})
	if c, s := h.counter(), h.pod.Report().Sessions; c < int64(s) {
		t.Fatalf("Counter %d below the %d sessions", c, s)
	}
	// After the timeout nothing is in flight: exactly the sessions.
	waitFor(t, "count == sessions after the timeout", func() bool {
		return h.lc.InFlight() == 0 && h.counter() == int64(h.pod.Report().Sessions)
	})
	t.Logf("%d allocated, %d refused, %d sessions", allocated.Load(), refused.Load(), h.pod.Report().Sessions)
}

// TestLifecycleArrivalsNeverDoubleCount: every allocation's session
// arrives, some before the watch shows the allocation: the Counter comes
// back to the sessions long before the timeout, with no correction write
// of an allocator's slot that a session took.
func TestLifecycleArrivalsNeverDoubleCount(t *testing.T) {
	const interval = 30 * time.Millisecond
	h := newHarness(t, agones.LifecycleConfig{AllocationTimeout: time.Minute, ReportInterval: interval},
		func(s *agonestest.Sidecar) { s.DeclareCounter("sessions", 0, 40) })
	if err := h.lc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if _, err := h.sc.Allocate("sessions"); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			time.Sleep(10 * time.Millisecond)
		}
		h.pod.set(func(r *agones.Report) { r.Sessions++ })
		if i%3 == 0 {
			time.Sleep(interval)
		}
	}
	waitFor(t, "Counter = 12 sessions, nothing in flight", func() bool {
		return h.counter() == 12 && h.lc.InFlight() == 0
	})
	if st := h.lc.FlightState(); !strings.Contains(st, "credits 0") {
		t.Fatalf("unmatched arrivals left: %s", st)
	}
	time.Sleep(3 * interval)
	if c, n := h.counter(), h.lc.InFlight(); c != 12 || n != 0 {
		t.Fatalf("Counter %d, %d in flight; want 12, 0", c, n)
	}
	// Two coalesced allocations count as two.
	h.sc.CoalesceWatch(func() {
		_, _ = h.sc.Allocate("sessions")
		_, _ = h.sc.Allocate("sessions")
	})
	waitFor(t, "two in flight", func() bool { return h.lc.InFlight() == 2 })
	time.Sleep(3 * interval)
	if c := h.counter(); c != 14 {
		t.Fatalf("Counter %d, want 14 (12 sessions + 2 in flight)", c)
	}
}

// TestLifecycleReadyAfterAddress: a GameServer without an address (not yet
// on a node) is not made Ready until the watch brings one, and the address
// is applied before Ready.
func TestLifecycleReadyAfterAddress(t *testing.T) {
	var mu sync.Mutex
	var applied time.Time
	h := newHarness(t, agones.LifecycleConfig{AddressTimeout: 50 * time.Millisecond,
		OnAddress: func(string, int) {
			mu.Lock()
			applied = time.Now()
			mu.Unlock()
		}}, func(s *agonestest.Sidecar) { s.SetAddress("", nil) })
	done := make(chan error, 1)
	go func() { done <- h.lc.Start(t.Context()) }()
	// Two address timeouts pass.
	waitFor(t, "the wait logged", func() bool { return h.logs.count("still has no address; still not Ready") >= 2 })
	if n := len(h.sc.CallsTo("POST", "/ready")); n != 0 {
		t.Fatalf("%d Ready calls before the GameServer had an address", n)
	}
	if len(h.sc.CallsTo("POST", "/health")) == 0 {
		t.Fatal("no health pings while waiting (the GameServer would turn Unhealthy)")
	}
	h.sc.SetAddress("203.0.113.7", []agones.Port{{Name: "media", Port: 7123}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ready := h.sc.CallsTo("POST", "/ready")
	mu.Lock()
	defer mu.Unlock()
	if len(ready) != 1 || applied.IsZero() || ready[0].Time.Before(applied) {
		t.Fatalf("Ready at %v, the address applied at %v", ready, applied)
	}
	if h.sc.State() != agones.StateReady {
		t.Fatalf("state %s", h.sc.State())
	}
}

// TestLifecycleReadyWithoutAddress: with ReadyWithoutAddress, Start goes
// Ready after AddressTimeout without the GameServer's address; without
// it, Start gives up only with its context.
func TestLifecycleReadyWithoutAddress(t *testing.T) {
	h := newHarness(t, agones.LifecycleConfig{AddressTimeout: 50 * time.Millisecond, ReadyWithoutAddress: true},
		func(s *agonestest.Sidecar) { s.SetAddress("", nil) })
	if err := h.lc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h.sc.State() != agones.StateReady || h.logs.count("going Ready with the configured public address") != 1 {
		t.Fatalf("state %s", h.sc.State())
	}

	h2 := newHarness(t, agones.LifecycleConfig{AddressTimeout: 50 * time.Millisecond},
		func(s *agonestest.Sidecar) { s.SetAddress("", nil) })
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	if err := h2.lc.Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want the context's deadline", err)
	}
	if n := len(h2.sc.CallsTo("POST", "/ready")); n != 0 {
		t.Fatalf("%d Ready calls without an address", n)
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
