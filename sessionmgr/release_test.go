package sessionmgr

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/netio"
)

// TestAdmitRemoveReleasesEverything admits and removes 100,000
// participants (10,000 under -race or -short) in a real Manager on a real
// shard, twice, some of them with channels and mute lists, half removed
// one by one and half with their sessions. Everything a pod keeps per
// session and participant must be released when they go:
//   - after each round the books and the shard hold nothing (maps and
//     slices empty, counts zero);
//   - the live heap after the third round is within 4 bytes per
//     participant of the heap after the second (Go maps keep the slots
//     they grew to, so the first rounds' peak stays allocated; a leak of
//     anything per participant or per session, the smallest being a map
//     entry of 8 bytes or more, would show as growth from one round to the
//     next);
//   - no goroutine is left behind.
func TestAdmitRemoveReleasesEverything(t *testing.T) {
	n := 100_000
	if raceEnabled || testing.Short() {
		n = 10_000
	}
	m, srv := startManager(t, Config{
		JoinTimeout: time.Hour, IdleTimeout: time.Hour,
		Limits: Limits{MaxSessions: n, MaxParticipants: n, MaxSessionParticipants: 8},
	}, 1)
	stop := pokeShard(t, srv)
	defer stop()
	ctx := context.Background()

	round := func(r int) {
		const size = 4
		sessions := n / size
		err := parallel(256, n, func(i int) error {
			s, p := fmt.Sprintf("r%d-s%d", r, i/size), fmt.Sprintf("p%d", i%size)
			if _, err := m.Admit(ctx, s, AdmitRequest{ParticipantID: p}); err != nil {
				return fmt.Errorf("admit %s/%s: %w", s, p, err)
			}
			if i%100 == 0 {
				if err := m.SetChannel(ctx, s, p, "team"); err != nil {
					return err
				}
				if err := m.SetMutes(ctx, s, p, MuteList{Participants: []string{"p1", "p2"}, SSRCs: []uint32{1, 2, 3}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if st := m.Status(); st.Participants != n || st.Sessions != sessions {
			t.Fatalf("round %d: %d participants in %d sessions, want %d in %d", r, st.Participants, st.Sessions, n, sessions)
		}
		// Half the sessions lose their members one by one, the other half
		// are deleted whole.
		err = parallel(256, sessions, func(s int) error {
			id := fmt.Sprintf("r%d-s%d", r, s)
			if s%2 == 1 {
				return m.DeleteSession(ctx, id)
			}
			for p := range size {
				if err := m.RemoveParticipant(ctx, id, fmt.Sprintf("p%d", p)); err != nil {
					return fmt.Errorf("remove %s/p%d: %w", id, p, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkEmpty(t, m)
	}

	goroutines := runtime.NumGoroutine()
	h0 := liveHeap()
	round(1) // the maps grow to the peak here
	h1 := liveHeap()
	round(2) // and may grow once more (Go's maps rehash their deleted slots)
	h2 := liveHeap()
	round(3)
	h3 := liveHeap()
	mib := func(h uint64) float64 { return float64(h) / (1 << 20) }
	t.Logf("%d participants a round: live heap %.2f MiB before, %.2f, %.2f and %.2f MiB after rounds 1, 2 and 3",
		n, mib(h0), mib(h1), mib(h2), mib(h3))
	if grow := int64(h3) - int64(h2); grow > int64(4*n) {
		t.Errorf("the live heap grew by %d bytes from one round of %d participants to the next (%.1f per participant)",
			grow, n, float64(grow)/float64(n))
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("%d goroutines after the rounds, %d before", g, goroutines)
	}
}

// checkEmpty fails unless the Manager's books and its shards hold nothing.
func checkEmpty(t *testing.T, m *Manager) {
	t.Helper()
	checkBooks(t, m)
	m.mu.Lock()
	books := fmt.Sprintf("sessions %d bySSRC %d ssrcs %d participants %d shardParts %v shardRooms %v",
		len(m.sessions), len(m.bySSRC), len(m.ssrcs), m.participants, m.shardParts, m.shardRooms)
	empty := len(m.sessions) == 0 && len(m.bySSRC) == 0 && len(m.ssrcs) == 0 && m.participants == 0
	for i := range m.shardParts {
		empty = empty && m.shardParts[i] == 0 && m.shardRooms[i] == 0
	}
	m.mu.Unlock()
	if !empty {
		t.Errorf("the books are not empty: %s", books)
	}
	for _, e := range m.engines {
		var shard string
		if err := e.shard.Do(context.Background(), func(int64, *netio.SendQueue) {
			if len(e.parts)+len(e.rooms)+len(e.mixRooms)+len(e.notified)+len(e.notify.sessions) != 0 ||
				e.c.participants.Load() != 0 || e.c.rooms.Load() != 0 {
				shard = fmt.Sprintf("parts %d rooms %d mixRooms %d notified %d notify %d counted %d/%d",
					len(e.parts), len(e.rooms), len(e.mixRooms), len(e.notified), len(e.notify.sessions),
					e.c.participants.Load(), e.c.rooms.Load())
			}
		}); err != nil {
			t.Fatal(err)
		}
		if shard != "" {
			t.Errorf("shard %d is not empty: %s", e.shard.ID(), shard)
		}
	}
}

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// parallel runs f(0..n-1) on conc goroutines and returns the first error.
func parallel(conc, n int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range conc {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// pokeShard sends the server a 1-byte datagram every 100 µs until stopped:
// a shard with work waits for datagrams with a receive timeout of a tick,
// which the kernel rounds up to its clock (4-8 ms), so each Shard.Do would
// wait that long; a datagram wakes it at once (and is dropped as too short).
func pokeShard(t *testing.T, srv *netio.Server) (stop func()) {
	t.Helper()
	poke, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			default:
			}
			_, _ = poke.Write([]byte{0})
			time.Sleep(100 * time.Microsecond)
		}
	}()
	return func() { close(done); <-finished; poke.Close() }
}
