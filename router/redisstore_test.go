package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/router/redistest"
)

// prefixes makes each store of a test its own key space on one server.
var prefixes atomic.Int64

func newTestRedisStore(t *testing.T, srv *redistest.Server, cfg RedisConfig) *RedisStore {
	t.Helper()
	cfg.Addr = srv.Addr()
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("{t%d}:", prefixes.Add(1))
	}
	if cfg.RebuildWait == 0 {
		cfg.RebuildWait = -1
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := NewRedisStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStoreConformanceRedis(t *testing.T) {
	srv := redistest.Start(t)
	testStoreConformance(t, func(t *testing.T) Store { return newTestRedisStore(t, srv, RedisConfig{}) })
}

// TestRedisSlotsExpire: a slot nobody stamps or releases (its replica
// died) stops counting after SlotTTL.
func TestRedisSlotsExpire(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestRedisStore(t, srv, RedisConfig{SlotTTL: 150 * time.Millisecond})
	ctx := context.Background()
	cands := []Candidate{{Pod: "a", MaxSessions: 1, MaxParticipants: 10}}
	if _, err := s.Reserve(ctx, "s1", cands); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, "s2", cands); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("full pod: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if p, err := s.Pending(ctx, "a"); err != nil || len(p) != 0 {
		t.Fatalf("pending after the TTL: %+v %v", p, err)
	}
	if _, err := s.Reserve(ctx, "s2", cands); err != nil {
		t.Fatalf("after the TTL: %v", err)
	}
}

func testReport(name, instance string, seq uint64, sessions, participants int) api.PodReport {
	rep := api.PodReport{Name: name, Instance: instance, Seq: seq, AdminURL: "http://127.0.0.1:1",
		Limits:    api.Limits{MaxSessions: 4, MaxParticipants: 100},
		Accepting: true, State: api.StateAccepting, Participants: participants}
	for i := range sessions {
		rep.Sessions = append(rep.Sessions, api.PodSession{ID: fmt.Sprint("x", i), Participants: 1})
	}
	return rep
}

// TestRedisSharedReports: reports shared by one replica are read by
// another; an older seq of the same instance never replaces a newer one;
// a new instance does; what the reader has is not sent again; a silent
// pod's report expires.
func TestRedisSharedReports(t *testing.T) {
	srv := redistest.Start(t)
	a := newTestRedisStore(t, srv, RedisConfig{ReportTTL: 300 * time.Millisecond})
	b := newTestRedisStore(t, srv, RedisConfig{Prefix: a.cfg.Prefix, ReportTTL: 300 * time.Millisecond})
	ctx := context.Background()
	at := time.UnixMilli(1_700_000_000_123)
	none := func(string) (string, uint64, bool) { return "", 0, false }
	if err := a.ShareReport(ctx, testReport("p1", "i1", 5, 2, 3), at); err != nil {
		t.Fatal(err)
	}
	_ = a.ShareReport(ctx, testReport("p1", "i1", 4, 0, 0), at.Add(time.Second)) // late
	got, err := b.SharedReports(ctx, none)
	if err != nil || len(got) != 1 || got[0].Report.Seq != 5 || len(got[0].Report.Sessions) != 2 || !got[0].Received.Equal(at) {
		t.Fatalf("shared: %+v %v", got, err)
	}
	if got, _ := b.SharedReports(ctx, func(string) (string, uint64, bool) { return "i1", 5, true }); len(got) != 0 {
		t.Fatalf("sent again: %+v", got)
	}
	_ = a.ShareReport(ctx, testReport("p1", "i2", 1, 0, 0), at) // restarted pod
	if got, _ := b.SharedReports(ctx, func(string) (string, uint64, bool) { return "i1", 5, true }); len(got) != 1 || got[0].Report.Instance != "i2" {
		t.Fatalf("new instance: %+v", got)
	}
	time.Sleep(400 * time.Millisecond)
	if got, err := b.SharedReports(ctx, none); err != nil || len(got) != 0 {
		t.Fatalf("after the TTL: %+v %v", got, err)
	}
	if n, _ := b.c.SCard(ctx, b.keyPod).Result(); n != 0 {
		t.Fatalf("the pods set keeps %d expired names", n)
	}
}

// TestRedisSharedLoad: with ShareReports, Reserve counts a pod's load as
// its latest shared report gives it (whichever replica received it), not
// as the caller's possibly older view, and skips a pod without one; a
// stamp takes the shared seq when it is higher than the caller's.
func TestRedisSharedLoad(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestRedisStore(t, srv, RedisConfig{ShareReports: true})
	ctx := context.Background()
	stale := []Candidate{{Pod: "p1", MaxSessions: 4, MaxParticipants: 100}} // the caller saw it empty
	if _, err := s.Reserve(ctx, "s0", stale); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("a pod without a shared report: %v", err)
	}
	_ = s.ShareReport(ctx, testReport("p1", "i1", 7, 3, 3), time.Now()) // 3 of 4 sessions
	if _, err := s.Reserve(ctx, "s1", stale); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, "s2", stale); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("the shared load says full: %v", err)
	}
	j, _ := s.Join(ctx, "x0", "p1")
	_ = s.Stamp(ctx, j, 2) // the caller's view: seq 2; shared: 7
	if got, _ := s.Settle(ctx, "p1", 7); len(got) != 0 {
		t.Fatalf("settled with a stale seq: %+v", got)
	}
	// Settle never goes beyond the seq the latest shared report
	// replaced: report 8 (replacing 7) settles nothing stamped 7, report
	// 9 (replacing 8) does.
	_ = s.ShareReport(ctx, testReport("p1", "i1", 8, 3, 3), time.Now())
	if got, _ := s.Settle(ctx, "p1", 8); len(got) != 0 {
		t.Fatalf("settled beyond the replaced seq: %+v", got)
	}
	_ = s.ShareReport(ctx, testReport("p1", "i1", 9, 3, 3), time.Now())
	if got, _ := s.Settle(ctx, "p1", 8); len(got) != 1 || got[0].Seq != 7 {
		t.Fatalf("settle after seq 8: %+v", got)
	}
}

// TestRedisOutage: with Redis gone, calls fail fast with
// ErrStoreUnavailable, Lookup answers the sessions this store saw, Join
// takes no slot but does not fail; after a restart (empty) Reserve waits
// for the rebuild, Lookup keeps answering from the cache meanwhile.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestRedisStore(t, srv, RedisConfig{RebuildWait: 400 * time.Millisecond})
	ctx := context.Background()
	// The first connection finds Redis empty (no boot key): a new store
	// waits for the pods' reports too.
	if err := s.Ping(ctx); err != nil || !s.rebuilding() {
		t.Fatalf("ping: %v, rebuilding %t", err, s.rebuilding())
	}
	time.Sleep(450 * time.Millisecond)
	cands := []Candidate{{Pod: "a", MaxSessions: 10, MaxParticipants: 10}}
	if _, err := s.Reserve(ctx, "known", cands); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PlaceIfAbsent(ctx, "known", "a"); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	start := time.Now()
	if _, err := s.Reserve(ctx, "new", cands); !errors.Is(err, ErrStoreUnavailable) || !errors.Is(err, api.ErrStoreUnavailable) {
		t.Fatalf("reserve without Redis: %v", err)
	}
	if _, _, err := s.PlaceIfAbsent(ctx, "new", "a"); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("place without Redis: %v", err)
	}
	if pod, ok, err := s.Lookup(ctx, "known"); pod != "a" || !ok || err != nil {
		t.Fatalf("lookup of a known session without Redis: %q %t %v", pod, ok, err)
	}
	if _, _, err := s.Lookup(ctx, "unknown"); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("lookup of an unknown session without Redis: %v", err)
	}
	if sl, err := s.Join(ctx, "known", "a"); err != nil || sl.ID != 0 {
		t.Fatalf("join without Redis: %+v %v", sl, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("failing took %v", d)
	}
	srv.Restart()
	// The first call meets the empty Redis; the rebuild wait starts.
	if _, err := s.Reserve(ctx, "new", cands); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("reserve on the empty Redis: %v", err)
	}
	if pod, ok, err := s.Lookup(ctx, "known"); pod != "a" || !ok || err != nil {
		t.Fatalf("lookup while rebuilding: %q %t %v", pod, ok, err)
	}
	if _, _, err := s.PlaceIfAbsent(ctx, "new", "a"); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("place while rebuilding: %v", err)
	}
	if res, err := s.PlaceAllIfAbsent(ctx, "a", []string{"known", "other"}); err != nil || len(res) != 2 || !res[0].Placed || res[1].Pod != "a" {
		t.Fatalf("a report's sessions while rebuilding: %+v %v", res, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Reserve(ctx, "new", cands)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrStoreUnavailable) || time.Now().After(deadline) {
			t.Fatalf("reserve after the rebuild wait: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Rebuilt: the map is what the reports put there; the cache no
	// longer answers.
	if pod, ok, err := s.Lookup(ctx, "other"); pod != "a" || !ok || err != nil {
		t.Fatalf("lookup after the rebuild: %q %t %v", pod, ok, err)
	}
	_, _ = s.DeleteIfStill(ctx, "known", "a")
	if _, ok, err := s.Lookup(ctx, "known"); ok || err != nil {
		t.Fatalf("lookup of a deleted session: %t %v", ok, err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
