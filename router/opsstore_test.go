package router

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/router/redistest"
)

// testOpsStore checks an OpsStore: settings and drains read back as
// written, one leader at a time (taken over after its TTL when it stops
// renewing).
func testOpsStore(t *testing.T, a, b OpsStore, ttl time.Duration, wait func(time.Duration)) {
	ctx := context.Background()
	w := 0.25
	region := "eu"
	if err := a.SetPoolSetting(ctx, "v2", PoolSetting{Weight: &w, Region: &region, Draining: true}); err != nil {
		t.Fatal(err)
	}
	st, err := b.PoolSettings(ctx)
	if err != nil || st["v2"].Weight == nil || *st["v2"].Weight != 0.25 || *st["v2"].Region != "eu" || !st["v2"].Draining {
		t.Fatalf("settings read back: %+v %v", st, err)
	}
	now := time.Date(2026, 12, 2, 1, 2, 3, 0, time.UTC)
	d := api.PodDrain{Pod: "p1", Pool: "v1", Reason: api.DrainReasonPool, Phase: api.FleetDrainQueued, StartedAt: now,
		GraceUntil: now, ParticipantsAtStart: 7, Participants: 3, Rate: 12.5}
	if err := a.PutDrain(ctx, d); err != nil {
		t.Fatal(err)
	}
	drains, err := b.Drains(ctx)
	if err != nil || len(drains) != 1 || !drains["p1"].StartedAt.Equal(now) || drains["p1"].Rate != 12.5 ||
		drains["p1"].Phase != api.FleetDrainQueued {
		t.Fatalf("drains read back: %+v %v", drains, err)
	}
	if err := b.DeleteDrain(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if drains, err := a.Drains(ctx); err != nil || len(drains) != 0 {
		t.Fatalf("after delete: %+v %v", drains, err)
	}
	if b == a {
		return // one replica: always the leader
	}
	if ok, err := a.Lead(ctx, "A", ttl); !ok || err != nil {
		t.Fatalf("A takes the lead: %v %v", ok, err)
	}
	if ok, err := b.Lead(ctx, "B", ttl); ok || err != nil {
		t.Fatalf("B takes a held lead: %v %v", ok, err)
	}
	if ok, err := a.Lead(ctx, "A", ttl); !ok || err != nil {
		t.Fatalf("A renews: %v %v", ok, err)
	}
	wait(2 * ttl) // A stops renewing
	if ok, err := b.Lead(ctx, "B", ttl); !ok || err != nil {
		t.Fatalf("B after A's TTL: %v %v", ok, err)
	}
	if ok, _ := a.Lead(ctx, "A", ttl); ok {
		t.Fatal("A leads beside B")
	}
}

func TestOpsStoreMem(t *testing.T) {
	m := NewMemStore()
	testOpsStore(t, m, m, time.Second, func(time.Duration) {})
}

func TestOpsStoreRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := newTestRedisStore(t, srv, RedisConfig{Prefix: "{ops}:"})
	b := newTestRedisStore(t, srv, RedisConfig{Prefix: "{ops}:"})
	testOpsStore(t, a, b, 200*time.Millisecond, time.Sleep)
}

// TestMemStoreStateFile: a single replica's pool settings and drains
// survive its restart through the state file; a file that does not parse
// is refused, not ignored.
func TestMemStoreStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	a, err := NewMemStoreWithState(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMemStoreWithState(path)
	if err != nil {
		t.Fatal(err)
	}
	testOpsStore(t, a, a, time.Second, func(time.Duration) {})
	w := 0.001
	ctx := context.Background()
	if err := a.SetPoolSetting(ctx, "v2", PoolSetting{Weight: &w}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutDrain(ctx, api.PodDrain{Pod: "p1", Phase: api.FleetDrainQueued}); err != nil {
		t.Fatal(err)
	}
	_ = b // made before the changes: a restart reads the file anew
	c, err := NewMemStoreWithState(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.PoolSettings(ctx)
	d, _ := c.Drains(ctx)
	if st["v2"].Weight == nil || *st["v2"].Weight != 0.001 || d["p1"].Phase != api.FleetDrainQueued {
		t.Fatalf("after a restart: %+v %+v", st, d)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMemStoreWithState(path); err == nil {
		t.Fatal("a state file that does not parse was accepted")
	}
}

// TestMemStoreStateFileUnwritable: a change the state file cannot take is
// refused and leaves memory as the file (nothing half-done).
func TestMemStoreStateFileUnwritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "state.json")
	m, err := NewMemStoreWithState(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w := 0.5
	if err := m.SetPoolSetting(ctx, "v2", PoolSetting{Weight: &w}); err == nil {
		t.Fatal("a setting the file could not take was accepted")
	}
	if err := m.PutDrain(ctx, api.PodDrain{Pod: "p1", Phase: api.FleetDrainQueued}); err == nil {
		t.Fatal("a drain the file could not take was accepted")
	}
	st, _ := m.PoolSettings(ctx)
	d, _ := m.Drains(ctx)
	if len(st) != 0 || len(d) != 0 {
		t.Fatalf("memory changed although the file did not: %+v %+v", st, d)
	}
}
