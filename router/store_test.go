package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestPickPacks(t *testing.T) {
	none := func(string) (int, int) { return 0, 0 }
	cands := []Candidate{
		{Pod: "a", Sessions: 1, Participants: 10, MaxSessions: 10, MaxParticipants: 100},
		{Pod: "b", Sessions: 1, Participants: 50, MaxSessions: 10, MaxParticipants: 100},
		{Pod: "c", Sessions: 10, Participants: 90, MaxSessions: 10, MaxParticipants: 100}, // full by sessions
		{Pod: "d", Sessions: 1, Participants: 100, MaxSessions: 10, MaxParticipants: 100}, // full by participants
	}
	if i := pick(cands, none); cands[i].Pod != "b" {
		t.Fatalf("picked %s, want b", cands[i].Pod)
	}
	// Pending load counts: b has its participants' room taken.
	if i := pick(cands, func(p string) (int, int) {
		if p == "b" {
			return 9, 9
		}
		return 0, 0
	}); cands[i].Pod != "a" {
		t.Fatalf("picked %s, want a once b is full with pending slots", cands[i].Pod)
	}
	if i := pick(cands[2:], none); i != -1 {
		t.Fatalf("picked %d among full pods", i)
	}
	// Ties go by name.
	tie := []Candidate{{Pod: "z", MaxSessions: 1, MaxParticipants: 1}, {Pod: "y", MaxSessions: 1, MaxParticipants: 1}}
	if i := pick(tie, none); tie[i].Pod != "y" {
		t.Fatalf("tie: %s", tie[i].Pod)
	}
}

// TestMemStoreSlots: reserve up to the limit, settle by seq, release.
func TestMemStoreSlots(t *testing.T) {
	ctx := context.Background()
	m := NewMemStore()
	cands := []Candidate{{Pod: "a", MaxSessions: 2, MaxParticipants: 10}}
	s1, err := m.Reserve(ctx, "s1", cands)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := m.Reserve(ctx, "s2", cands)
	if _, err := m.Reserve(ctx, "s3", cands); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("third session: %v", err)
	}
	j, _ := m.Join(ctx, "s1", "a")
	_ = m.Stamp(ctx, s1, 4)
	_ = m.Stamp(ctx, j, 5)
	// s2 is still in flight: never settled.
	if got, _ := m.Settle(ctx, "a", 5); len(got) != 1 || got[0].ID != s1.ID {
		t.Fatalf("settled %+v, want s1 only (seq 4 < 5)", got)
	}
	if p, _ := m.Pending(ctx, "a"); len(p) != 2 {
		t.Fatalf("pending %+v", p)
	}
	_ = m.Release(ctx, s2)
	if s, p := Load(must(m.Pending(ctx, "a"))); s != 0 || p != 1 {
		t.Fatalf("load %d %d", s, p)
	}
	_ = m.DropPod(ctx, "a")
	if p, _ := m.Pending(ctx, "a"); len(p) != 0 {
		t.Fatalf("after DropPod: %+v", p)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMemStoreMapping: place-if-absent and move-if-still decide once under
// concurrency.
func TestMemStoreMapping(t *testing.T) {
	ctx := context.Background()
	m := NewMemStore()
	var wg sync.WaitGroup
	var mu sync.Mutex
	placed, moved := 0, 0
	for i := range 20 {
		wg.Go(func() {
			_, ok, _ := m.PlaceIfAbsent(ctx, "s", fmt.Sprint("p", i))
			mu.Lock()
			defer mu.Unlock()
			if ok {
				placed++
			}
		})
	}
	wg.Wait()
	from, _, _ := m.Lookup(ctx, "s")
	for i := range 20 {
		wg.Go(func() {
			_, ok, _ := m.MoveIfStill(ctx, "s", from, fmt.Sprint("q", i))
			mu.Lock()
			defer mu.Unlock()
			if ok {
				moved++
			}
		})
	}
	wg.Wait()
	if placed != 1 || moved != 1 {
		t.Fatalf("placed %d, moved %d", placed, moved)
	}
	cur, _, _ := m.Lookup(ctx, "s")
	if ok, _ := m.DeleteIfStill(ctx, "s", from); ok {
		t.Fatal("deleted under the old pod")
	}
	if ok, _ := m.DeleteIfStill(ctx, "s", cur); !ok {
		t.Fatal("not deleted")
	}
	if n, _ := m.Sessions(ctx); n != 0 {
		t.Fatalf("%d sessions", n)
	}
}
