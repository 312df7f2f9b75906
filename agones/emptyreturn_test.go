package agones_test

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/netio"
	"github.com/voxfleet/vox/sessionmgr"
)

// fakeClock is a Clock the test moves: each After registers a waiter,
// fired when the test moves time to it.
type fakeClock struct {
	mu         sync.Mutex
	now        time.Time
	waiters    []fakeWaiter
	registered int // Afters so far
}

type fakeWaiter struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), d: d, ch: ch})
	c.registered++
	return ch
}

func (c *fakeClock) state() (pending, registered int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters), c.registered
}

// fire moves time to the one pending waiter and fires it, returning its
// duration and how many Afters there were before.
func (c *fakeClock) fire(t *testing.T) (time.Duration, int) {
	t.Helper()
	waitFor(t, "the empty return to wait", func() bool { p, _ := c.state(); return p == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiters[0]
	c.waiters = c.waiters[:0]
	c.now = w.at
	w.ch <- w.at
	return w.d, c.registered
}

// managerPod is what a Lifecycle sees of a real session manager.
type managerPod struct{ m *sessionmgr.Manager }

func (p managerPod) Report() agones.Report {
	st := p.m.Status()
	return agones.Report{Sessions: st.Sessions, Participants: st.Participants, Accepting: st.Accepting,
		SessionCapacity: st.Limits.MaxSessions}
}
func (managerPod) Alive() error { return nil }

// hookedVacancy is the Manager, with a hook run just before each Hold.
type hookedVacancy struct {
	*sessionmgr.Manager
	beforeHold func()
}

func (v hookedVacancy) Hold(reason string) {
	if v.beforeHold != nil {
		v.beforeHold()
	}
	v.Manager.Hold(reason)
}

const (
	testAfter  = 4 * time.Second
	testPoll   = time.Second
	testSettle = 5 * time.Second
)

type erHarness struct {
	sc    *agonestest.Sidecar
	m     *sessionmgr.Manager
	srv   *netio.Server
	lc    *agones.Lifecycle
	er    *agones.EmptyReturn
	clock *fakeClock
	logs  *syncLog
	done  chan struct{}
	exits chan struct{}
}

// startEmptyReturn runs a real session manager on one shard, its Lifecycle
// against the sidecar double (Allocated), and an EmptyReturn on a fake
// clock (After 4 s, polls every 1 s, settle 5 s).
func startEmptyReturn(t *testing.T, action agones.EmptyAction, beforeHold func()) *erHarness {
	t.Helper()
	h := &erHarness{sc: agonestest.NewSidecar(), clock: &fakeClock{now: time.Unix(1e9, 0)}, logs: &syncLog{},
		done: make(chan struct{}), exits: make(chan struct{}, 1)}
	t.Cleanup(h.sc.Close)
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	var err error
	if h.m, err = sessionmgr.New(sessionmgr.Config{Logger: log}); err != nil {
		t.Fatal(err)
	}
	if prev := runtime.GOMAXPROCS(0); prev <= 1 {
		runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	h.srv, err = netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 1, TickInterval: time.Millisecond},
		h.m.NewHandler, netio.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.srv.Close() })
	if err := h.m.Start(h.srv); err != nil {
		t.Fatal(err)
	}
	c, err := agones.New(h.sc.URL(), agones.Config{BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond,
		AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The allocation below is in flight (its +1 whose session never
	// comes) until AllocationTimeout: short, so the pod is vacant soon.
	h.lc = agones.NewLifecycle(c, managerPod{h.m}, agones.LifecycleConfig{HealthInterval: 20 * time.Millisecond,
		ReportInterval: 20 * time.Millisecond, AllocationTimeout: 20 * time.Millisecond, Logger: log})
	if err := h.lc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.lc.Stop)
	h.sc.MarkAllocated()
	waitFor(t, "Allocated on the watch", func() bool { return h.lc.State() == agones.StateAllocated })
	waitFor(t, "the allocation no longer in flight", func() bool { return h.lc.InFlight() == 0 })
	waitFor(t, "accepting reported", func() bool { return h.sc.Labels()[label(agones.LabelAccepting)] == "true" })
	h.er, err = agones.NewEmptyReturn(h.lc, hookedVacancy{h.m, beforeHold}, agones.EmptyReturnConfig{
		After: testAfter, Poll: testPoll, Settle: testSettle, Action: action, Clock: h.clock, Logger: log,
		OnShutdown: func() { h.exits <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(h.done); h.er.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-h.done })
	return h
}

func label(k string) string { return agones.SDKPrefix + k }

// step fires the pending wait and waits until the empty return waits again
// (or has ended); it returns the duration of the wait fired.
func (h *erHarness) step(t *testing.T) time.Duration {
	t.Helper()
	d, n := h.clock.fire(t)
	waitFor(t, "the empty return to act", func() bool {
		select {
		case <-h.done:
			return true
		default:
		}
		_, r := h.clock.state()
		return r > n
	})
	return d
}

// untilHold steps polls until the hold: After from the first poll that
// saw the pod empty, then the settle wait is pending.
func (h *erHarness) untilHold(t *testing.T) {
	t.Helper()
	for i := 0; ; i++ {
		if d := h.step(t); d != testPoll {
			t.Fatalf("waited %v, want polls", d)
		}
		if _, ok := h.pending(); ok {
			if i != int(testAfter/testPoll) {
				t.Fatalf("held after %d polls, want %d", i+1, testAfter/testPoll+1)
			}
			return
		}
		if i > 10 {
			t.Fatal("no hold")
		}
	}
}

// pending reports whether the settle wait is the one pending.
func (h *erHarness) pending() (time.Duration, bool) {
	h.clock.mu.Lock()
	defer h.clock.mu.Unlock()
	if len(h.clock.waiters) == 1 && h.clock.waiters[0].d == testSettle {
		return testSettle, true
	}
	return 0, false
}

func TestEmptyReturnGivesBackToReady(t *testing.T) {
	h := startEmptyReturn(t, agones.EmptyReady, nil)
	ctx := context.Background()

	// A session resets the empty period.
	h.step(t)
	h.step(t)
	if _, err := h.m.Admit(ctx, "s", sessionmgr.AdmitRequest{ParticipantID: "a"}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		h.step(t)
	}
	if h.er.Stats().Holds != 0 {
		t.Fatal("held a busy pod")
	}
	if err := h.m.DeleteSession(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "vacant", h.m.Vacant)

	h.untilHold(t)
	st := h.m.Status()
	if st.State != sessionmgr.StateStopped || !strings.Contains(st.Reason, "returning the GameServer to Ready") {
		t.Fatalf("held: %+v", st)
	}
	waitFor(t, "vox-accepting=false reported", func() bool {
		return h.sc.Labels()[label(agones.LabelAccepting)] == "false"
	})
	// An admission after the hold is refused with 503 not_accepting, and
	// leaves nothing.
	_, err := h.m.Admit(ctx, "late", sessionmgr.AdmitRequest{})
	if code, status, _ := api.CodeOf(err); code != "not_accepting" || status != http.StatusServiceUnavailable {
		t.Fatalf("admission during the hold: %v (%s %d)", err, code, status)
	}
	if !h.m.Vacant() || len(h.sc.CallsTo("POST", "/ready")) != 1 {
		t.Fatal("the refused admission left something, or Ready came early")
	}

	if d := h.step(t); d != testSettle {
		t.Fatalf("waited %v, want the settle wait", d)
	}
	if h.sc.State() != agones.StateReady || len(h.sc.CallsTo("POST", "/ready")) != 2 {
		t.Fatalf("not back to Ready: %s", h.sc.State())
	}
	if st := h.m.Status(); !st.Accepting {
		t.Fatalf("not accepting after the return: %+v", st)
	}
	waitFor(t, "vox-accepting=true reported", func() bool {
		return h.sc.Labels()[label(agones.LabelAccepting)] == "true"
	})
	if got := h.er.Stats(); got != (agones.EmptyReturnStats{Holds: 1, Returned: 1}) {
		t.Fatalf("stats %+v", got)
	}
	// A Ready pod is left alone.
	for range 6 {
		h.step(t)
	}
	if h.er.Stats().Holds != 1 {
		t.Fatal("held a Ready pod")
	}

	// The caller that was refused retries and lands here again: the pod
	// allocates itself, and the return starts over once it is empty.
	if _, err := h.m.Admit(ctx, "late", sessionmgr.AdmitRequest{ParticipantID: "b"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "self-allocated", func() bool { return h.sc.State() == agones.StateAllocated })
	waitFor(t, "Allocated on the watch", func() bool { return h.lc.State() == agones.StateAllocated })
	if err := h.m.DeleteSession(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "vacant", h.m.Vacant)
	h.untilHold(t)
	h.step(t)
	if h.sc.State() != agones.StateReady || h.er.Stats().Returned != 2 {
		t.Fatalf("second return: %s %+v", h.sc.State(), h.er.Stats())
	}
	for _, s := range []string{"admission held", "GameServer back to Ready"} {
		if n := h.logs.count(s); n != 2 {
			t.Errorf("%q logged %d times, want 2", s, n)
		}
	}
}

// An admission booked just before the hold lands during the settle wait:
// the return is aborted, the pod stays Allocated and accepts again.
func TestEmptyReturnAdmissionDuringSettleAborts(t *testing.T) {
	var h *erHarness
	release := make(chan struct{})
	admitted := make(chan error, 1)
	h = startEmptyReturn(t, agones.EmptyReady, func() {
		// The shard is busy, so the admission is booked and stays in
		// flight across the hold.
		running := make(chan struct{})
		if err := h.srv.Shard(0).Post(func(int64, *netio.SendQueue) { close(running); <-release }); err != nil {
			t.Error(err)
			return
		}
		<-running
		go func() {
			_, err := h.m.Admit(context.Background(), "s", sessionmgr.AdmitRequest{ParticipantID: "early"})
			admitted <- err
		}()
		for h.m.Status().Participants == 0 {
			time.Sleep(time.Millisecond)
		}
	})
	h.untilHold(t)
	if _, err := h.m.Admit(context.Background(), "other", sessionmgr.AdmitRequest{}); err == nil {
		t.Fatal("admitted during the hold")
	}
	close(release) // the admission lands during the settle wait
	if err := <-admitted; err != nil {
		t.Fatalf("the admission booked before the hold: %v", err)
	}
	h.step(t)
	if got := h.er.Stats(); got != (agones.EmptyReturnStats{Holds: 1, Aborted: 1}) {
		t.Fatalf("stats %+v", got)
	}
	if h.sc.State() != agones.StateAllocated || len(h.sc.CallsTo("POST", "/ready")) != 1 {
		t.Fatalf("returned with a participant: %s", h.sc.State())
	}
	if st := h.m.Status(); !st.Accepting || st.Participants != 1 {
		t.Fatalf("after the abort: %+v", st)
	}
	if _, err := h.m.Admit(context.Background(), "s", sessionmgr.AdmitRequest{ParticipantID: "next"}); err != nil {
		t.Fatalf("not accepting after the abort: %v", err)
	}
	if h.logs.count("no longer empty and Allocated after the hold") != 1 {
		t.Error("the abort is not logged once")
	}
}

// An operator's stop during the settle wait aborts the return, and the
// Release that follows leaves the operator's stop in place.
func TestEmptyReturnLeavesOperatorStop(t *testing.T) {
	h := startEmptyReturn(t, agones.EmptyReady, nil)
	h.untilHold(t)
	h.m.StopAccepting("maintenance")
	h.step(t)
	if st := h.m.Status(); st.State != sessionmgr.StateStopped || st.Reason != "maintenance" {
		t.Fatalf("after the abort: %+v", st)
	}
	if h.sc.State() != agones.StateAllocated || h.er.Stats().Aborted != 1 {
		t.Fatalf("returned a pod the operator stopped: %s %+v", h.sc.State(), h.er.Stats())
	}
	for range 6 {
		h.step(t)
	}
	if h.er.Stats().Holds != 1 {
		t.Fatal("held a pod the operator stopped")
	}
}

// A Ready call that fails leaves the pod Allocated and accepting; the next
// empty period tries again.
func TestEmptyReturnReadyFails(t *testing.T) {
	h := startEmptyReturn(t, agones.EmptyReady, nil)
	h.untilHold(t)
	h.sc.FailNext(1000, http.StatusInternalServerError)
	h.step(t)
	h.sc.FailNext(0, 0)
	if got := h.er.Stats(); got != (agones.EmptyReturnStats{Holds: 1, Failed: 1}) {
		t.Fatalf("stats %+v", got)
	}
	if !h.m.Status().Accepting {
		t.Fatal("held after the failure")
	}
	h.untilHold(t)
	h.step(t)
	if h.sc.State() != agones.StateReady || h.er.Stats().Returned != 1 {
		t.Fatalf("no return on the second try: %s %+v", h.sc.State(), h.er.Stats())
	}
}

func TestEmptyReturnShutdown(t *testing.T) {
	h := startEmptyReturn(t, agones.EmptyShutdown, nil)
	h.untilHold(t)
	if st := h.m.Status(); !strings.Contains(st.Reason, "shutting down") {
		t.Fatalf("held: %+v", st)
	}
	h.step(t)
	select {
	case <-h.exits:
	default:
		t.Fatal("OnShutdown not called")
	}
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end")
	}
	if st := h.m.Status(); st.Accepting {
		t.Fatal("the hold was released before the exit")
	}
	if len(h.sc.CallsTo("POST", "/ready")) != 1 || h.er.Stats() != (agones.EmptyReturnStats{Holds: 1, Shutdowns: 1}) {
		t.Fatalf("stats %+v", h.er.Stats())
	}
}

func TestNewEmptyReturnChecks(t *testing.T) {
	c, err := agones.New("http://127.0.0.1:1", agones.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lc := agones.NewLifecycle(c, &fakePod{}, agones.LifecycleConfig{ReportInterval: 5 * time.Second})
	for _, cfg := range []agones.EmptyReturnConfig{
		{},
		{After: -time.Second},
		{After: time.Second, Action: "later"},
		{After: time.Second, Action: agones.EmptyShutdown},
		{After: time.Second, Settle: -1},
	} {
		if _, err := agones.NewEmptyReturn(lc, nil, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	var a agones.EmptyAction
	if a.Set("shutdown") != nil || a != agones.EmptyShutdown || a.Set("ready") != nil || a != agones.EmptyReady ||
		a.Set("Ready") == nil {
		t.Error("EmptyAction.Set")
	}
	for ri, want := range map[time.Duration]time.Duration{
		time.Second: 3 * time.Second, 1500 * time.Millisecond: 3 * time.Second, 5 * time.Second: 10 * time.Second,
	} {
		if got := agones.DefaultSettle(ri); got != want {
			t.Errorf("DefaultSettle(%v) = %v, want %v", ri, got, want)
		}
	}
}
