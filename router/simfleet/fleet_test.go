package simfleet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/router"
	"github.com/voxfleet/vox/router/simfleet"
	"github.com/voxfleet/vox/sessionmgr"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readyWithRoom: every pod Ready with its Counter's capacity written by
// voxd and accepting.
func readyWithRoom(f *simfleet.Fleet, n int) func() bool {
	return func() bool {
		pods := f.Pods()
		if len(pods) != n {
			return false
		}
		for _, p := range pods {
			if p.State != agones.StateReady || p.Counter.Capacity == 0 {
				return false
			}
		}
		return true
	}
}

// TestAllocatorBatching follows docs/agones.md (Batching) and Agones'
// ListenAndAllocate: of 20 concurrent allocations with 2 pods with room,
// 2 are Allocated (each GameServer once in the batch) and 18 UnAllocated
// at once; the answer has the real shape; Packed prefers the Allocated
// GameServer with room (by name at equal Counters); ReadyOnly takes only Ready.
func TestAllocatorBatching(t *testing.T) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer sink.Close()
	const wait = time.Second // long enough for 20 goroutines to queue on a loaded machine
	f, err := simfleet.Start(simfleet.Config{RouterURL: sink.URL, Replicas: 2, Buffer: -1, BatchWait: wait,
		ReportInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	waitFor(t, "2 Ready pods with room", 10*time.Second, readyWithRoom(f, 2))
	ctx := context.Background()
	a := f.Allocator()
	// A request nothing matches ends a batch: the next 20 arrive while
	// the allocator sleeps, and form one batch.
	nothing := simfleet.Request(router.AllocationRequest{MatchLabels: map[string]string{"nope": "x"}})
	if g, err := a.AllocateGSA(ctx, nothing); err != nil || g.Status.State != simfleet.StateUnAllocated {
		t.Fatalf("%v %+v", err, g.Status)
	}
	var mu sync.Mutex
	got := map[string]int{}
	var allocated []simfleet.GameServerAllocationStatus
	var wg sync.WaitGroup
	start := time.Now()
	for range 20 {
		wg.Go(func() {
			g, err := a.AllocateGSA(ctx, simfleet.Request(router.AllocationRequest{}))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			got[g.Status.State]++
			if g.Status.State == simfleet.StateAllocated {
				allocated = append(allocated, g.Status)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); got[simfleet.StateAllocated] != 2 || got[simfleet.StateUnAllocated] != 18 || took > 2*wait {
		t.Fatalf("20 concurrent allocations over 2 pods: %v in %v; want 2 Allocated, 18 UnAllocated in one batch", got, took)
	}
	if allocated[0].GameServerName == allocated[1].GameServerName {
		t.Fatal("one GameServer taken twice in a batch")
	}
	for _, st := range allocated {
		if st.Address != "127.0.0.1" || len(st.Ports) != 1 || st.Ports[0].Name != "media" || st.Source != "local" ||
			st.Counters[simfleet.CounterName].Count != 1 || st.Metadata == nil ||
			st.Metadata.Annotations[agones.AnnotationLastAllocated] == "" {
			t.Fatalf("answer shape: %+v", st)
		}
	}
	// Both are Allocated with room now (Counter 1 each): Packed takes
	// the first by name; ReadyOnly finds nothing. (Which is fuller after
	// that depends on voxd's own Counter writes, sessions + allocations in
	// flight, so it is not asserted.)
	if _, err := a.Allocate(ctx, router.AllocationRequest{ReadyOnly: true}); !errors.Is(err, router.ErrAllocRetry) {
		t.Fatalf("ReadyOnly with no Ready pod: %v", err)
	}
	al, err := a.Allocate(ctx, router.AllocationRequest{})
	if err != nil || al.GameServer != "vox-001" || al.Port == 0 || al.Took <= 0 {
		t.Fatalf("Packed: %+v %v", al, err)
	}
}

// TestPodKilledUnderLoad: sessions of 3 spread over the fleet through a
// router in Agones mode; the pod with the most sessions is killed; every
// participant of its sessions comes back through the router (retrying
// while the router still believes the pod alive) and each session's
// members land together on one other pod.
func TestPodKilledUnderLoad(t *testing.T) {
	fl, err := simfleet.New(simfleet.Config{Replicas: 3, Buffer: 1,
		StartDelay: 100 * time.Millisecond, SyncPeriod: 50 * time.Millisecond, BatchWait: 50 * time.Millisecond,
		ReportInterval: 100 * time.Millisecond, Limits: limits(8), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	rt, err := router.New(router.Config{Allocator: fl.Allocator(), StaleAfter: 400 * time.Millisecond,
		Refill: router.RefillConfig{Floor: 10, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := router.NewServer(router.ServerConfig{Addr: "127.0.0.1:0"}, rt)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	t0 := time.Now()
	if err := fl.Run("http://" + srv.Addr()); err != nil {
		t.Fatal(err)
	}
	t.Logf("ran in %v", time.Since(t0))
	defer func() { t0 := time.Now(); fl.Close(); t.Logf("closed in %v", time.Since(t0)) }()
	c, _ := client.NewAPI("http://"+srv.Addr(), "")
	ctx := context.Background()
	admit := func(session, who string) (api.RouterAdmission, error) {
		var ra api.RouterAdmission
		_, err := c.Do(ctx, http.MethodPost, "/v1/sessions/"+session+"/participants", api.AdmitRequest{ParticipantID: who}, &ra)
		return ra, err
	}
	t0 = time.Now()
	const sessions, size = 16, 3
	where := map[string]string{}
	for i := range sessions {
		id := fmt.Sprintf("s%02d", i)
		for j := range size {
			ra, err := admit(id, fmt.Sprintf("p%d", j))
			if err != nil {
				t.Fatalf("%s/%d: %v", id, j, err)
			}
			if where[id] == "" {
				where[id] = ra.Pod
			} else if where[id] != ra.Pod {
				t.Fatalf("%s split over %s and %s", id, where[id], ra.Pod)
			}
		}
	}
	perPod := map[string][]string{}
	for id, pod := range where {
		perPod[pod] = append(perPod[pod], id)
	}
	victim := ""
	for pod, ids := range perPod {
		if victim == "" || len(ids) > len(perPod[victim]) {
			victim = pod
		}
	}
	if len(perPod) < 2 {
		t.Fatalf("16 sessions of pods of 8 on %d pods", len(perPod))
	}
	t.Logf("admitted in %v", time.Since(t0))
	t0 = time.Now()
	if err := fl.Kill(victim); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	landed := map[string]map[string]bool{}
	var wg sync.WaitGroup
	for _, id := range perPod[victim] {
		for j := range size {
			wg.Go(func() {
				deadline := time.Now().Add(10 * time.Second)
				for {
					ra, err := admit(id, fmt.Sprintf("p%d", j))
					if err == nil {
						mu.Lock()
						if landed[id] == nil {
							landed[id] = map[string]bool{}
						}
						landed[id][ra.Pod] = true
						mu.Unlock()
						return
					}
					if time.Now().After(deadline) {
						t.Errorf("%s/p%d never came back: %v", id, j, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
	t.Logf("re-admitted in %v; status %+v", time.Since(t0), must(rt.Status(ctx)).Pool)
	for _, id := range perPod[victim] {
		if len(landed[id]) != 1 || landed[id][victim] {
			t.Fatalf("session %s of the killed pod %s: members landed on %v", id, victim, landed[id])
		}
	}
}

func limits(sessions int) sessionmgr.Limits {
	return sessionmgr.Limits{MaxSessions: sessions, MaxParticipants: sessions * 8, MaxSessionParticipants: 8}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
