package agones_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
)

// watching runs WatchGameServer on its own goroutine, handing each
// GameServer to the returned channel; the watch stops at the test's end.
func watching(t *testing.T, c *agones.Client) <-chan agones.GameServer {
	t.Helper()
	ch := make(chan agones.GameServer, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.WatchGameServer(ctx, func(gs agones.GameServer) { ch <- gs }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("WatchGameServer returned %v, want context.Canceled", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("WatchGameServer did not return after cancel")
		}
	})
	return ch
}

// recv waits for the next GameServer.
func recv(t *testing.T, ch <-chan agones.GameServer) agones.GameServer {
	t.Helper()
	select {
	case gs := <-ch:
		return gs
	case <-time.After(2 * time.Second):
		t.Fatal("no GameServer in 2 s")
		return agones.GameServer{}
	}
}

// next waits for a GameServer satisfying ok, skipping others.
func next(t *testing.T, ch <-chan agones.GameServer, what string, ok func(agones.GameServer) bool) agones.GameServer {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for range 100 {
		select {
		case gs := <-ch:
			if ok(gs) {
				return gs
			}
		case <-timeout:
			t.Fatalf("no GameServer with %s", what)
		}
	}
	t.Fatalf("no GameServer with %s in 100 updates", what)
	return agones.GameServer{}
}

func TestWatchInitialStateAndChanges(t *testing.T) {
	sc := newSidecar(t)
	sc.DeclareCounter("sessions", 0, 40)
	c := newClient(t, sc, fastConfig())
	ch := watching(t, c)
	first := next(t, ch, "the initial state", func(agones.GameServer) bool { return true })
	if first.Status.State != agones.StateScheduled || first.ObjectMeta.Name != agonestest.DefaultName {
		t.Fatalf("initial = %+v", first)
	}
	ctx := testContext(t)
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	gs := recv(t, ch) // exactly one line per change
	if gs.Status.State != agones.StateReady {
		t.Fatalf("after Ready: state %s", gs.Status.State)
	}
	if err := c.SetLabel(ctx, "vox-sessions", "3"); err != nil {
		t.Fatal(err)
	}
	gs = recv(t, ch)
	if gs.ObjectMeta.Labels["agones.dev/sdk-vox-sessions"] != "3" {
		t.Fatalf("after SetLabel: labels %v", gs.ObjectMeta.Labels)
	}
	if _, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{CountDiff: ptr(2)}); err != nil {
		t.Fatal(err)
	}
	gs = recv(t, ch)
	if gs.Status.Counters["sessions"].Count != 2 {
		t.Fatalf("after UpdateCounter: %+v", gs.Status.Counters)
	}
	sc.SetAddress("198.51.100.9", []agones.Port{{Name: "media", Port: 7123}})
	gs = recv(t, ch)
	if p, _ := gs.Port("media"); gs.Status.Address != "198.51.100.9" || p != 7123 {
		t.Fatalf("after SetAddress: %+v", gs.Status)
	}
	sc.SetDeletionTimestamp()
	if gs = recv(t, ch); !gs.Deleting() {
		t.Fatal("deletion timestamp not seen")
	}
	if err := c.Allocate(ctx); err != nil {
		t.Fatal(err)
	}
	if gs = recv(t, ch); gs.Status.State != agones.StateAllocated {
		t.Fatalf("after Allocate: state %s", gs.Status.State)
	}
}

func TestWatchReconnects(t *testing.T) {
	sc := newSidecar(t)
	cfg := fastConfig()
	cfg.BackoffBase, cfg.BackoffCap = 2*time.Millisecond, 10*time.Millisecond
	c := newClient(t, sc, cfg)
	ch := watching(t, c)
	next(t, ch, "the initial state", func(agones.GameServer) bool { return true })

	sc.SetDown(true)
	// The GameServer changes while the stream is broken.
	sc.SetState(agones.StateAllocated)
	sc.SetDeletionTimestamp()
	time.Sleep(30 * time.Millisecond) // a few failed reconnections
	sc.SetDown(false)
	gs := next(t, ch, "the state after the reconnection", func(gs agones.GameServer) bool {
		return gs.Status.State == agones.StateAllocated
	})
	if !gs.Deleting() {
		t.Error("deletion timestamp lost across the reconnection")
	}
	if n := len(sc.CallsTo("GET", "/watch/gameserver")); n < 2 {
		t.Errorf("%d watch requests, want a reconnection", n)
	}
	// The new stream follows changes.
	sc.SetState(agones.StateReady)
	next(t, ch, "Ready on the new stream", func(gs agones.GameServer) bool { return gs.Status.State == agones.StateReady })
}

func TestWatchRetriesErrorAnswers(t *testing.T) {
	sc := newSidecar(t)
	c := newClient(t, sc, fastConfig())
	sc.FailNext(2, 500)
	ch := watching(t, c)
	next(t, ch, "the initial state", func(agones.GameServer) bool { return true })
	if n := len(sc.CallsTo("GET", "/watch/gameserver")); n != 3 {
		t.Errorf("%d watch requests, want 3", n)
	}
}

func TestWatchStopsWhenSidecarAbsent(t *testing.T) {
	sc := newSidecar(t)
	sc.SetDown(true)
	c := newClient(t, sc, fastConfig())
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := c.WatchGameServer(ctx, func(agones.GameServer) { t.Error("callback without a sidecar") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}
