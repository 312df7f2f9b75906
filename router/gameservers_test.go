package router

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// TestObserveGameServer: a GameServer deleted, being deleted or Shutdown
// leaves placement at once (while its pod still reports itself accepting),
// its sessions move on re-admission, other states change nothing, and the
// mark goes with the forgotten pod.
func TestObserveGameServer(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	r, err := New(Config{Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	report := func(name string, seq uint64, sessions ...api.PodSession) {
		t.Helper()
		rp := rep(seq, "i1", sessions...)
		rp.Name = name
		if err := r.Report(ctx, rp); err != nil {
			t.Fatal(err)
		}
	}
	placeable := func() map[string]bool {
		m := map[string]bool{}
		for _, c := range r.reg.candidates(now, "") {
			m[c.Pod] = true
		}
		return m
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		report(n, 1)
	}
	report("a", 2, api.PodSession{ID: "s1", Participants: 1})

	r.ObserveGameServer(GameServerEvent{Name: "a", State: "Allocated"})
	r.ObserveGameServer(GameServerEvent{Name: "b", State: "Ready"})
	if p := placeable(); len(p) != 4 {
		t.Fatalf("placeable %v after Allocated/Ready events, want all four", p)
	}
	r.ObserveGameServer(GameServerEvent{Name: "a", State: "Allocated", Deleting: true})
	r.ObserveGameServer(GameServerEvent{Name: "b", State: "Shutdown"})
	r.ObserveGameServer(GameServerEvent{Name: "c", Deleted: true})
	r.ObserveGameServer(GameServerEvent{Name: "c", Deleted: true}) // repeated: counted once
	if p := placeable(); len(p) != 1 || !p["d"] {
		t.Fatalf("placeable %v, want only d", p)
	}
	if n := r.stats.gameServerExits.Load(); n != 3 {
		t.Errorf("gameserver exits %d, want 3", n)
	}
	// A later report of the pod (still accepting) does not bring it back.
	report("a", 3, api.PodSession{ID: "s1", Participants: 1})
	if placeable()["a"] {
		t.Fatal("a report brought a deleting GameServer back")
	}
	// Its session is not kept there: the next re-admission moves it.
	if v, ok := r.reg.view(now, "a", "s1"); !ok || !v.draining {
		t.Fatalf("view of a deleting GameServer: %+v, want draining", v)
	}
	list, err := r.Pods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, p := range list.Pods {
		why[p.Name] = p.Why
	}
	if why["a"] != "gameserver deleting" || why["b"] != "gameserver shutdown" || why["c"] != "gameserver deleted" || why["d"] != "" {
		t.Errorf("why = %v", why)
	}
	// A GameServer marked before its pod ever reported is out from its
	// first report.
	r.ObserveGameServer(GameServerEvent{Name: "e", State: "Unhealthy"})
	report("e", 1)
	if placeable()["e"] {
		t.Fatal("an Unhealthy GameServer's first report made it placeable")
	}
	// Forgotten pods take their marks with them (at ForgetAfter).
	now = now.Add(DefaultForgetAfter + time.Second)
	r.Sweep(ctx)
	r.reg.mu.Lock()
	left := len(r.reg.gone)
	r.reg.mu.Unlock()
	if left != 0 {
		t.Errorf("%d marks left after every pod was forgotten", left)
	}
}
