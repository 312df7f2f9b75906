package router

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// The Store contract, run against every implementation (MemStore here,
// RedisStore in redisstore_test.go): the same answers to the same calls,
// and one decision per call under concurrency.

// storeMaker returns a new, empty store for one sub-test.
type storeMaker func(t *testing.T) Store

func TestStoreConformanceMem(t *testing.T) {
	testStoreConformance(t, func(*testing.T) Store { return NewMemStore() })
}

func testStoreConformance(t *testing.T, mk storeMaker) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, Store)
	}{
		{"Mapping", conformMapping},
		{"ConcurrentPlace", conformConcurrentPlace},
		{"ConcurrentMove", conformConcurrentMove},
		{"Slots", conformSlots},
		{"PickLikeMemStore", conformPick},
		{"ConcurrentReserve", conformConcurrentReserve},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, mk(t)) })
	}
}

func conformMapping(t *testing.T, s Store) {
	ctx := context.Background()
	if _, ok, err := s.Lookup(ctx, "s"); ok || err != nil {
		t.Fatalf("lookup of nothing: %t %v", ok, err)
	}
	if cur, moved, err := s.MoveIfStill(ctx, "s", "a", "b"); cur != "" || moved || err != nil {
		t.Fatalf("move of nothing: %q %t %v", cur, moved, err)
	}
	if cur, placed, err := s.PlaceIfAbsent(ctx, "s", "a"); cur != "a" || !placed || err != nil {
		t.Fatalf("place: %q %t %v", cur, placed, err)
	}
	if cur, placed, err := s.PlaceIfAbsent(ctx, "s", "b"); cur != "a" || placed || err != nil {
		t.Fatalf("place again: %q %t %v", cur, placed, err)
	}
	if pod, ok, err := s.Lookup(ctx, "s"); pod != "a" || !ok || err != nil {
		t.Fatalf("lookup: %q %t %v", pod, ok, err)
	}
	if cur, moved, err := s.MoveIfStill(ctx, "s", "x", "b"); cur != "a" || moved || err != nil {
		t.Fatalf("move from the wrong pod: %q %t %v", cur, moved, err)
	}
	if cur, moved, err := s.MoveIfStill(ctx, "s", "a", "b"); cur != "b" || !moved || err != nil {
		t.Fatalf("move: %q %t %v", cur, moved, err)
	}
	_, _, _ = s.PlaceIfAbsent(ctx, "t", "c")
	if n, err := s.Sessions(ctx); n != 2 || err != nil {
		t.Fatalf("sessions: %d %v", n, err)
	}
	if ok, err := s.DeleteIfStill(ctx, "s", "a"); ok || err != nil {
		t.Fatalf("delete under the old pod: %t %v", ok, err)
	}
	if ok, err := s.DeleteIfStill(ctx, "s", "b"); !ok || err != nil {
		t.Fatalf("delete: %t %v", ok, err)
	}
	if ok, err := s.DeleteIfStill(ctx, "nothing", "b"); ok || err != nil {
		t.Fatalf("delete of nothing: %t %v", ok, err)
	}
	if _, ok, _ := s.Lookup(ctx, "s"); ok {
		t.Fatal("deleted session still mapped")
	}
	if n, _ := s.Sessions(ctx); n != 1 {
		t.Fatalf("sessions after delete: %d", n)
	}
}

// conformConcurrentPlace: 16 goroutines place each of 50 sessions on
// their own pod at once: one placement per session, and every caller is
// told the same pod.
func conformConcurrentPlace(t *testing.T, s Store) {
	ctx := context.Background()
	const workers, sessions = 16, 50
	placed := make([]atomic.Int32, sessions)
	answers := make([][]string, sessions)
	for i := range answers {
		answers[i] = make([]string, workers)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range sessions {
				cur, ok, err := s.PlaceIfAbsent(ctx, fmt.Sprint("s", i), fmt.Sprint("pod", w))
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					placed[i].Add(1)
				}
				answers[i][w] = cur
			}
		})
	}
	wg.Wait()
	for i := range sessions {
		if placed[i].Load() != 1 {
			t.Errorf("s%d placed %d times", i, placed[i].Load())
		}
		for w := range workers {
			if answers[i][w] != answers[i][0] {
				t.Errorf("s%d: worker %d told %s, worker 0 %s", i, w, answers[i][w], answers[i][0])
			}
		}
	}
}

// conformConcurrentMove: of 16 moves off one pod at once, one wins and
// the others are told where it went.
func conformConcurrentMove(t *testing.T, s Store) {
	ctx := context.Background()
	_, _, _ = s.PlaceIfAbsent(ctx, "s", "old")
	var moved atomic.Int32
	answers := make([]string, 16)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			cur, ok, err := s.MoveIfStill(ctx, "s", "old", fmt.Sprint("new", i))
			if err != nil {
				t.Error(err)
			}
			if ok {
				moved.Add(1)
			}
			answers[i] = cur
		})
	}
	wg.Wait()
	pod, _, _ := s.Lookup(ctx, "s")
	if moved.Load() != 1 || pod == "old" {
		t.Fatalf("moved %d times, now on %s", moved.Load(), pod)
	}
	for i, a := range answers {
		if a != pod {
			t.Errorf("mover %d told %q, the session is on %q", i, a, pod)
		}
	}
}

// conformSlots: reserve up to the limit, join, stamp, settle by seq,
// release, drop.
func conformSlots(t *testing.T, s Store) {
	ctx := context.Background()
	cands := []Candidate{{Pod: "a", MaxSessions: 2, MaxParticipants: 10}}
	s1, err := s.Reserve(ctx, "s1", cands)
	if err != nil || s1.Pod != "a" || !s1.NewSession || s1.Session != "s1" || s1.ID == 0 {
		t.Fatalf("reserve: %+v %v", s1, err)
	}
	s2, err := s.Reserve(ctx, "s2", cands)
	if err != nil || s2.ID == s1.ID {
		t.Fatalf("second reserve: %+v %v", s2, err)
	}
	if _, err := s.Reserve(ctx, "s3", cands); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("third session: %v, want ErrNoRoom", err)
	}
	if _, err := s.Reserve(ctx, "s3", nil); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("no candidates: %v, want ErrNoRoom", err)
	}
	j, err := s.Join(ctx, "s1", "a")
	if err != nil || j.NewSession || j.Pod != "a" || j.ID == 0 {
		t.Fatalf("join: %+v %v", j, err)
	}
	if err := s.Stamp(ctx, s1, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Stamp(ctx, j, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Stamp(ctx, Slot{ID: 1 << 40, Pod: "a"}, 1); err != nil {
		t.Fatalf("stamp of an unknown slot: %v", err)
	}
	// s2 is still in flight: never settled.
	got, err := s.Settle(ctx, "a", 5)
	if err != nil || len(got) != 1 || got[0].ID != s1.ID || !got[0].Stamped || got[0].Seq != 4 ||
		got[0].Session != "s1" || !got[0].NewSession || got[0].Pod != "a" {
		t.Fatalf("settled %+v %v, want s1 only (seq 4 < 5)", got, err)
	}
	pending, err := s.Pending(ctx, "a")
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending %+v %v", pending, err)
	}
	if ss, pp := Load(pending); ss != 1 || pp != 2 {
		t.Fatalf("load %d %d", ss, pp)
	}
	if err := s.Release(ctx, s2); err != nil {
		t.Fatal(err)
	}
	pending, _ = s.Pending(ctx, "a")
	if ss, pp := Load(pending); ss != 0 || pp != 1 || pending[0].ID != j.ID || !pending[0].Stamped || pending[0].Seq != 5 {
		t.Fatalf("after release: %+v", pending)
	}
	// The released room is free again.
	if _, err := s.Reserve(ctx, "s4", cands); err != nil {
		t.Fatal(err)
	}
	if err := s.DropPod(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pending(ctx, "a"); len(p) != 0 {
		t.Fatalf("after DropPod: %+v", p)
	}
	if p, _ := s.Pending(ctx, "never"); len(p) != 0 {
		t.Fatalf("pending of an unknown pod: %+v", p)
	}
}

// conformPick: random fleets and random sequences of reservations and
// joins: the store picks what a MemStore picks.
func conformPick(t *testing.T, s Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 30 {
		ref := NewMemStore()
		var cands []Candidate
		for i := range 1 + rng.IntN(6) {
			maxS, maxP := 1+rng.IntN(6), 1+rng.IntN(20)
			ses := rng.IntN(maxS + 1)
			cands = append(cands, Candidate{Pod: fmt.Sprintf("r%d-%c", round, 'f'-i), Sessions: ses,
				Participants: ses + rng.IntN(maxP+1), MaxSessions: maxS, MaxParticipants: maxP})
		}
		rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		for step := range 12 {
			id := fmt.Sprintf("r%d-s%d", round, step)
			if rng.IntN(3) == 0 {
				pod := cands[rng.IntN(len(cands))].Pod
				_, _ = ref.Join(ctx, id, pod)
				if _, err := s.Join(ctx, id, pod); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, werr := ref.Reserve(ctx, id, cands)
			got, err := s.Reserve(ctx, id, cands)
			if !errors.Is(err, werr) && !(err == nil && werr == nil) {
				t.Fatalf("round %d step %d: %v, MemStore %v (cands %+v)", round, step, err, werr, cands)
			}
			if got.Pod != want.Pod {
				t.Fatalf("round %d step %d: picked %q, MemStore %q (cands %+v)", round, step, got.Pod, want.Pod, cands)
			}
		}
	}
}

// conformConcurrentReserve: 32 goroutines reserve 200 sessions on 5 pods
// of 7 sessions and 12 participants (with joins taking participants):
// no pod ever holds more than its limits, and exactly the room there is
// is taken.
func conformConcurrentReserve(t *testing.T, s Store) {
	ctx := context.Background()
	const pods, maxS, maxP = 5, 7, 12
	var cands []Candidate
	for i := range pods {
		cands = append(cands, Candidate{Pod: fmt.Sprint("p", i), MaxSessions: maxS, MaxParticipants: maxP})
	}
	var ok, full atomic.Int32
	var next atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > 200 {
					return
				}
				sl, err := s.Reserve(ctx, fmt.Sprint("s", i), cands)
				switch {
				case errors.Is(err, ErrNoRoom):
					full.Add(1)
				case err != nil:
					t.Error(err)
					return
				default:
					ok.Add(1)
					if i%3 == 0 { // a second member: counts against participants only
						if _, err := s.Join(ctx, sl.Session, sl.Pod); err != nil {
							t.Error(err)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, c := range cands {
		pending, err := s.Pending(ctx, c.Pod)
		if err != nil {
			t.Fatal(err)
		}
		ss, pp := Load(pending)
		total += ss
		if ss > maxS {
			t.Errorf("%s: %d sessions (limit %d)", c.Pod, ss, maxS)
		}
		// A join may take the last participant after a reservation saw
		// room: a reservation never goes beyond it.
		if pp > maxP+ss {
			t.Errorf("%s: %d participants with %d sessions (limit %d)", c.Pod, pp, ss, maxP)
		}
	}
	if int(ok.Load()) != total || ok.Load()+full.Load() != 200 {
		t.Fatalf("%d reserved, %d refused, %d pending", ok.Load(), full.Load(), total)
	}
	// Every pod is full by sessions or by participants: nothing left.
	if _, err := s.Reserve(ctx, "last", cands); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("after filling: %v", err)
	}
}
