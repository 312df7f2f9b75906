package sessionmgr

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/netio"
)

// Tests of the line between the Manager (control plane, its books under
// its mutex) and the engines (one per shard, their own goroutine): under
// any interleaving the books must equal what the shards hold.

// shardView is what the shards hold, read on each shard.
type shardView struct {
	ssrcs map[uint32]string // participant SSRC -> session id
	rooms map[string]int    // session id -> members
}

func readShards(t *testing.T, m *Manager) shardView {
	t.Helper()
	v := shardView{ssrcs: map[uint32]string{}, rooms: map[string]int{}}
	for _, e := range m.engines {
		var ssrcs []uint32
		var ids []string
		rooms := map[string]int{}
		if err := e.shard.Do(context.Background(), func(int64, *netio.SendQueue) {
			for ssrc, pt := range e.parts {
				ssrcs = append(ssrcs, ssrc)
				ids = append(ids, pt.room.id)
			}
			for _, r := range e.rooms {
				rooms[r.id] += len(r.members)
			}
		}); err != nil {
			t.Fatal(err)
		}
		for i, s := range ssrcs {
			v.ssrcs[s] = ids[i]
		}
		for id, n := range rooms {
			if _, dup := v.rooms[id]; dup {
				t.Errorf("session %q has rooms on two shards", id)
			}
			v.rooms[id] = n
		}
	}
	return v
}

// checkBooks compares the Manager's books with the shards, exactly.
func checkBooks(t *testing.T, m *Manager) {
	t.Helper()
	v := readShards(t, m)
	st := m.Status()
	if st.Participants != len(v.ssrcs) {
		t.Errorf("books have %d participants, shards %d", st.Participants, len(v.ssrcs))
	}
	m.mu.Lock()
	booked := map[uint32]string{}
	sessions := map[string]int{}
	for id, s := range m.sessions {
		for _, b := range s.members {
			booked[b.ssrc] = id
			sessions[id]++
		}
	}
	m.mu.Unlock()
	for ssrc, id := range v.ssrcs {
		if booked[ssrc] != id {
			t.Errorf("shard holds SSRC %d of %q; the books have it in %q", ssrc, id, booked[ssrc])
		}
	}
	for ssrc, id := range booked {
		if v.ssrcs[ssrc] != id {
			t.Errorf("books have SSRC %d in %q; the shards %q", ssrc, id, v.ssrcs[ssrc])
		}
	}
	// Every SSRC the books hold (pending, live, leaving) is on a shard once
	// the shards have run what they were asked, and the other way round.
	m.mu.Lock()
	for ssrc, b := range m.bySSRC {
		if _, ok := v.ssrcs[ssrc]; !ok {
			t.Errorf("books hold SSRC %d (%s, %q in %q) that no shard has", ssrc, b.state, b.id, b.s.id)
		}
	}
	for ssrc := range v.ssrcs {
		if m.bySSRC[ssrc] == nil {
			t.Errorf("a shard has SSRC %d that the books do not hold", ssrc)
		}
	}
	if len(m.ssrcs) != 2*len(m.bySSRC) {
		t.Errorf("%d SSRCs taken for %d bookings (each has 2)", len(m.ssrcs), len(m.bySSRC))
	}
	m.mu.Unlock()
	for id, n := range v.rooms {
		if sessions[id] != n {
			t.Errorf("session %q: %d members on its shard, %d in the books", id, n, sessions[id])
		}
	}
	for id, n := range sessions {
		if v.rooms[id] != n {
			t.Errorf("session %q: %d members in the books, %d on its shard", id, n, v.rooms[id])
		}
	}
}

// A datagram that reaches a shard before anything else happened must not
// race with the Manager's start (defect: Start patched the engines' limits
// while the shards already served packets). Meaningful under -race.
func TestStartDoesNotRaceWithPackets(t *testing.T) {
	for range 5 {
		m, err := New(Config{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if prev := runtime.GOMAXPROCS(0); prev <= 2 {
			runtime.GOMAXPROCS(3)
			t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
		}
		srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 2, TickInterval: time.Millisecond},
			m.NewHandler, netio.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(srv); err != nil {
			srv.Close()
			t.Fatal(err)
		}
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.LocalAddr()))
		if err != nil {
			srv.Close()
			t.Fatal(err)
		}
		pkt := make([]byte, 40)
		pkt[0], pkt[1] = 0x80, 111
		binary.BigEndian.PutUint32(pkt[8:], 12345)
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the datagram to be counted", func() bool { return m.Status().Totals.DropUnknownSSRC == 1 })
		conn.Close()
		srv.Close()
	}
}

// A removal the shard decides (here a join timeout) of an admission the
// control plane already removed must not unbook the participant that was
// admitted again under the same id since (defect: removals were matched by
// participant id, not by the admission's SSRC).
func TestStaleRemovalKeepsReadmittedParticipant(t *testing.T) {
	cfg := Config{Logger: quiet, JoinTimeout: 300 * time.Millisecond}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 1, TickInterval: time.Millisecond, Mailbox: 2},
		m.NewHandler, netio.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := m.Start(srv); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := admit(t, m, "s", "alice") // never sends: its join timeout will fire

	// Wedge the shard and fill its mailbox, so the removal below cannot
	// reach the shard: the first admission stays there until its timeout.
	sh := srv.Shard(0)
	release, running := make(chan struct{}), make(chan struct{})
	if err := sh.Post(func(int64, *netio.SendQueue) { close(running); <-release }); err != nil {
		t.Fatal(err)
	}
	<-running
	for sh.Post(func(int64, *netio.SendQueue) {}) == nil {
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	_ = m.RemoveParticipant(rctx, "s", "alice")
	cancel()
	close(release)

	// alice again, talking: a new admission with a new SSRC.
	var again Admission
	waitFor(t, "the shard to take mail again", func() bool {
		again, err = m.Admit(ctx, "s", AdmitRequest{ParticipantID: "alice"})
		if err != nil && !errors.Is(err, netio.ErrMailboxFull) {
			t.Fatal(err)
		}
		return err == nil
	})
	if again.SSRC == first.SSRC {
		t.Fatal("the new admission reused the SSRC of the old one still on the shard")
	}
	c := newRawClient(t, again)
	c.send(make([]byte, 20))
	waitFor(t, "the second alice to latch", func() bool {
		info, err := m.Session(ctx, "s")
		return err == nil && len(info.Participants) == 1 && info.Participants[0].Address != ""
	})
	waitFor(t, "the first alice's join timeout", func() bool {
		return m.Status().Totals.Removed[ReasonJoinTimeout] == 1
	})
	checkBooks(t, m)
	info, err := m.Session(ctx, "s")
	if err != nil || len(info.Participants) != 1 || info.Participants[0].SSRC != again.SSRC {
		t.Fatalf("session after the stale removal: %+v, %v", info, err)
	}
}

// An admission whose caller gives up (its context ends) while the shard is
// inserting the participant leaves nothing behind: either the admission
// completes or nothing of it stays, in the books and on the shard (defect:
// the shard checked the booking, released the mutex, inserted, and marked it
// live after the caller had unbooked it). The Manager's mutex is held here
// while both the shard function and the giving-up caller wait for it, so
// both orders are forced, one after the other (Go hands a mutex waited on
// for over 1 ms to its waiters in order).
func TestCancelledAdmissionLeavesNoOrphan(t *testing.T) {
	m, srv := startManager(t, Config{}, 1)
	sh := srv.Shard(0)
	for i := range 3 {
		release, running := make(chan struct{}), make(chan struct{})
		if err := sh.Post(func(int64, *netio.SendQueue) { close(running); <-release }); err != nil {
			t.Fatal(err)
		}
		<-running
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := m.Admit(ctx, "s", AdmitRequest{ParticipantID: fmt.Sprint("p", i)})
			errc <- err
		}()
		waitFor(t, "the admission to be booked", func() bool { return m.Status().Participants == 1 })
		time.Sleep(5 * time.Millisecond) // its shard function is queued
		m.mu.Lock()
		close(release) // the shard function now waits for the mutex
		time.Sleep(5 * time.Millisecond)
		cancel() // and so does the caller, giving up
		time.Sleep(5 * time.Millisecond)
		m.mu.Unlock()
		err := <-errc
		if err := sh.Do(context.Background(), func(int64, *netio.SendQueue) {}); err != nil {
			t.Fatal(err)
		}
		checkBooks(t, m)
		if err == nil {
			if m.RemoveParticipant(context.Background(), "s", fmt.Sprint("p", i)) != nil {
				t.Fatal("a completed admission is not removable")
			}
		}
		checkBooks(t, m)
		if t.Failed() {
			t.Fatalf("round %d (admission: %v)", i, err)
		}
	}
}

// The hammer: admissions with contexts cancelled at random points,
// removals, re-admissions under the same ids and session deletions, in
// parallel with traffic; afterwards the books equal the shards exactly.
func TestBoundaryHammer(t *testing.T) {
	ops := 3000
	if testing.Short() {
		ops = 600
	}
	m, srv := startManager(t, Config{JoinTimeout: 10 * time.Second}, 2)
	const sessions, ids = 6, 5
	var (
		mu      sync.Mutex
		clients []*rawClient
	)
	// Traffic: every admitted client sends now and then (the packets of
	// removed participants are dropped as unknown SSRCs).
	stop := make(chan struct{})
	var traffic sync.WaitGroup
	traffic.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			cs := slices.Clone(clients)
			mu.Unlock()
			for _, c := range cs {
				c.send(make([]byte, 20))
			}
		}
	})

	// Something else holds the Manager's mutex now and then (as the
	// status, metrics and Agones readers do), which widens every window in
	// which a shard function waits for it.
	traffic.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			m.mu.Lock()
			for i := 0; i < 2000; i++ {
				_ = m.participants
			}
			m.mu.Unlock()
			runtime.Gosched()
		}
	})

	var wg sync.WaitGroup
	var admitted, cancelled, removed, deleted, refused [4]int
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range ops / 4 {
				sid := fmt.Sprintf("s%d", rng.IntN(sessions))
				pid := fmt.Sprintf("p%d", rng.IntN(ids))
				switch op := rng.IntN(10); {
				case op < 5:
					ctx, cancel := context.WithCancel(context.Background())
					if rng.IntN(2) == 0 {
						// Cancel at a random point of the admission.
						delay := time.Duration(rng.IntN(300)) * time.Microsecond
						time.AfterFunc(delay, cancel)
					}
					adm, err := m.Admit(ctx, sid, AdmitRequest{ParticipantID: pid})
					cancel()
					switch {
					case err == nil:
						admitted[w]++
						if rng.IntN(4) == 0 {
							c := newRawClient(t, adm)
							mu.Lock()
							if len(clients) < 40 {
								clients = append(clients, c)
							}
							mu.Unlock()
						}
					case errors.Is(err, context.Canceled):
						cancelled[w]++
					default:
						refused[w]++
					}
				case op < 8:
					if m.RemoveParticipant(context.Background(), sid, pid) == nil {
						removed[w]++
					}
				default:
					if m.DeleteSession(context.Background(), sid) == nil {
						deleted[w]++
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	traffic.Wait()
	// Let every message still queued run, then compare.
	for i := range srv.NumShards() {
		if err := srv.Shard(i).Do(context.Background(), func(int64, *netio.SendQueue) {}); err != nil {
			t.Fatal(err)
		}
	}
	checkBooks(t, m)
	sum := func(a [4]int) int { return a[0] + a[1] + a[2] + a[3] }
	t.Logf("admitted %d, cancelled %d, refused %d, removed %d, sessions deleted %d, participants left %d",
		sum(admitted), sum(cancelled), sum(refused), sum(removed), sum(deleted), m.Status().Participants)
}

// testRoom is the room spec of session id in tests that drive an engine
// without a Manager's books (its key derived from the id).
func testRoom(id string, mix bool) roomSpec {
	h := fnv.New64a()
	h.Write([]byte(id))
	return roomSpec{key: h.Sum64(), id: id, mix: mix}
}

// GET /v1/sessions promises each session as GET /v1/sessions/{id} shows it.
func TestSessionsListsWhatSessionShows(t *testing.T) {
	m, _ := startManager(t, Config{}, 2)
	ctx := context.Background()
	admit(t, m, "s1", "a")
	admit(t, m, "s1", "b")
	admit(t, m, "s2", "c")
	if _, _, err := m.PutSession(ctx, "s3", SessionOptions{MaxSpeakers: 2}); err != nil {
		t.Fatal(err)
	}
	if err := m.SetMuted(ctx, "s1", "b", true); err != nil {
		t.Fatal(err)
	}
	if err := m.SetChannel(ctx, "s1", "a", "team-red"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetMutes(ctx, "s2", "c", MuteList{Participants: []string{"z"}, SSRCs: []uint32{7}}); err != nil {
		t.Fatal(err)
	}
	list, err := m.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("%d sessions listed", len(list))
	}
	for _, got := range list {
		want, err := m.Session(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("listed %+v\n  alone %+v", got, want)
		}
	}
	if p := list[0].Participants; len(p) != 2 || p[0].Channel != "team-red" || !p[1].Muted || p[0].Stats.LastPacketAgoMS != -1 {
		t.Errorf("s1 as listed: %+v", p)
	}
}

// A copy not sent because the listener has no address yet is no_address,
// not withheld (policy) and not forwarded.
func TestNoAddressIsNotWithheld(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	a := newRawClient(t, admit(t, m, "s", "a"))
	admit(t, m, "s", "b") // never sends: no latched address
	for range 3 {
		a.send(make([]byte, 20))
	}
	waitFor(t, "the three packets", func() bool { return m.Status().Totals.NoAddress == 3 })
	if tot := m.Status().Totals; tot.Withheld != 0 || tot.Forwarded != 0 || tot.DropMalformed != 0 || tot.EncryptErrors != 0 {
		t.Fatalf("totals: %+v", tot)
	}
}
