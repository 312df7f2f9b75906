package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/sessionmgr"
)

// mover is one game client of the drain test.
type mover struct {
	id      string // "room-N/pK"
	session string
	p       *client.Participant

	mu       sync.Mutex
	notices  []time.Time
	movedAt  time.Time
	heardNew map[string]int // mate id -> packets heard on the new server
	heardOld map[string]int
	seq      atomic.Int64
}

func TestDrainMovesEveryoneToAnotherServer(t *testing.T) {
	const sessions, size = 52, 4 // 208 participants
	const rate = 200.0
	scA := agonestest.NewSidecar()
	defer scA.Close()
	a, apiA, logsA, doneA, _ := runVoxd(t, map[string]string{"VOX_AGONES": "on", "AGONES_SDK_HTTP_PORT": scA.Port(),
		"VOX_DRAIN_GRACE": "300ms", "VOX_DRAIN_RATE": fmt.Sprint(rate), "VOX_DRAIN_WINDOW": "300ms",
		"VOX_DRAIN_DEADLINE": "30s"})
	b, apiB, _, _, _ := runVoxd(t, map[string]string{"VOX_AGONES": "off"})
	waitUntil(t, "A ready", func() bool { return scA.State() == agones.StateReady })
	ctx := context.Background()
	// Under Agones, A advertises the GameServer's address and hostPort:
	// point them at A's real loopback port.
	port := a.udp.LocalAddr().Port()
	scA.SetAddress("127.0.0.1", []agones.Port{{Name: "media", Port: int32(port)}})
	waitUntil(t, "A advertises its port", func() bool {
		adm, err := apiA.Admit(ctx, "probe", sessionmgr.AdmitRequest{})
		if err == nil {
			apiA.DeleteSession(ctx, "probe")
		}
		return err == nil && adm.Media.Port == int(port)
	})

	var movers []*mover
	byID := map[string]*mover{}
	for s := range sessions {
		for k := range size {
			m := &mover{id: fmt.Sprintf("room-%d/p%d", s, k), session: fmt.Sprintf("room-%d", s),
				heardNew: map[string]int{}, heardOld: map[string]int{}}
			adm, err := apiA.Admit(ctx, m.session, sessionmgr.AdmitRequest{ParticipantID: fmt.Sprintf("p%d", k)})
			if err != nil {
				t.Fatal(err)
			}
			m.p, err = client.Join(ctx, adm, client.Options{
				// The routing service: same session id, same participant id, on B.
				Readmit: func(ctx context.Context, old sessionmgr.Admission, _ media.ReconnectNotice) (sessionmgr.Admission, error) {
					return apiB.Admit(ctx, old.SessionID, sessionmgr.AdmitRequest{ParticipantID: old.ParticipantID})
				},
				OnReconnect: func(media.ReconnectNotice) {
					m.mu.Lock()
					m.notices = append(m.notices, time.Now())
					m.mu.Unlock()
				},
				OnMoved: func(_, _ sessionmgr.Admission) {
					m.mu.Lock()
					m.movedAt = time.Now()
					m.mu.Unlock()
				},
				OnRTP: func(pk *client.Packet) {
					from, _, _ := strings.Cut(string(pk.Payload), "#")
					m.mu.Lock()
					if m.movedAt.IsZero() {
						m.heardOld[from]++
					} else {
						m.heardNew[from]++
					}
					m.mu.Unlock()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.p.Close() })
			movers = append(movers, m)
			byID[m.id] = m
		}
	}
	for _, m := range movers {
		m.p.SendRTCP()
	}
	waitUntil(t, "all latched on A", func() bool { return a.sessions.Status().Totals.RTCPIn >= sessions*size })

	// Everybody talks, 20 ms frames, for the whole test.
	stop := make(chan struct{})
	var talkers sync.WaitGroup
	talkers.Add(1)
	go func() {
		defer talkers.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case <-stop:
				return
			case <-deadline:
				return
			case <-tick.C:
				for _, m := range movers {
					m.p.Send([]byte(fmt.Sprintf("%s#%d", m.id, m.seq.Add(1))))
				}
			}
		}
	}()
	defer func() { close(stop); talkers.Wait() }()
	waitUntil(t, "voice flowing on A", func() bool {
		for _, m := range movers {
			m.mu.Lock()
			n := len(m.heardOld)
			m.mu.Unlock()
			if n < size-1 {
				return false
			}
		}
		return true
	})

	// The GameServer is deleted: A drains.
	removedBefore := a.sessions.Status().Totals.Removed
	drainStart := time.Now()
	scA.SetDeletionTimestamp()
	waitUntil(t, "everyone moved", func() bool {
		for _, m := range movers {
			if m.p.Stats().Moves != 1 {
				return false
			}
		}
		return true
	})
	select {
	case code := <-doneA:
		if code != exitOK {
			t.Fatalf("A exit %d:\n%s", code, logsA.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("A did not exit after draining:\n%s", logsA.String())
	}
	if len(scA.CallsTo("POST", "/shutdown")) != 1 {
		t.Fatal("A did not call Agones Shutdown")
	}
	st := a.sessions.Status()
	if st.Drain == nil || st.Drain.Phase != sessionmgr.DrainDrained || st.Drain.NoticesSent != sessions*size ||
		st.Drain.Reconnected != sessions*size || st.Drain.RemovedAtDeadline != 0 || st.Drain.TimedOut != 0 {
		t.Fatalf("A's drain: %+v", st.Drain)
	}
	// Nobody was dropped before its notice: A only ever removed by BYE.
	for reason, n := range st.Totals.Removed {
		if reason != sessionmgr.ReasonBye && n != removedBefore[reason] {
			t.Fatalf("A removed %d participants for %s during the drain", n-removedBefore[reason], reason)
		}
	}
	if n := st.Totals.Removed[sessionmgr.ReasonBye] - removedBefore[sessionmgr.ReasonBye]; n != sessions*size {
		t.Fatalf("%d BYEs on A, want %d", n, sessions*size)
	}

	// Every participant got an authenticated notice; first notices paced.
	var firsts []time.Time
	for _, m := range movers {
		m.mu.Lock()
		if len(m.notices) == 0 {
			t.Fatalf("%s moved without a notice", m.id)
		}
		firsts = append(firsts, m.notices[0])
		if m.notices[0].Before(drainStart.Add(250 * time.Millisecond)) {
			t.Fatalf("%s notified during the grace period", m.id)
		}
		m.mu.Unlock()
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i].Before(firsts[j]) })
	maxIn100 := 0
	for i := range firsts {
		n := 0
		for j := i; j < len(firsts) && firsts[j].Sub(firsts[i]) < 100*time.Millisecond; j++ {
			n++
		}
		maxIn100 = max(maxIn100, n)
	}
	maxIn500 := 0
	for i := range firsts {
		n := 0
		for j := i; j < len(firsts) && firsts[j].Sub(firsts[i]) < 500*time.Millisecond; j++ {
			n++
		}
		maxIn500 = max(maxIn500, n)
	}
	// Stated tolerance. The server's bound in any window T is rate·T plus
	// one whole session per shard (each shard's bucket may overdraw to
	// notify a group together). Times are taken where the clients
	// receive, on a loaded 2-core machine, so arrivals bunch: allow one
	// more session per shard for that jitter.
	const shards = 2
	if limit := int(rate/2) + 2*shards*size; maxIn500 > limit {
		t.Fatalf("%d first notices within 500 ms, limit %d (rate %v/s)", maxIn500, limit, rate)
	}
	// No bound on 100 ms windows here: a client goroutine stalled for tens
	// of milliseconds on a loaded machine stamps the notices queued
	// meanwhile at once (seen: 43 in 100 ms at 200/s in 1 of 10 runs under
	// -race with other builds running). The pacing itself is checked at
	// the server's own granularity in sessionmgr
	// (TestDrainNoticesPacedGroupedOrdered); here the 500 ms bound says
	// the drip held end to end, and the 100 ms figure is logged.
	t.Logf("first notices spread over %v, at most %d in any 100 ms and %d in any 500 ms (rate %v/s)",
		firsts[len(firsts)-1].Sub(firsts[0]).Round(time.Millisecond), maxIn100, maxIn500, rate)

	// On B, every chat group is together and talking: each member hears
	// each of its mates.
	waitUntil(t, "groups talking on B", func() bool {
		for _, m := range movers {
			m.mu.Lock()
			for k := range size {
				mate := fmt.Sprintf("%s/p%d", m.session, k)
				if mate != m.id && m.heardNew[mate] == 0 {
					m.mu.Unlock()
					return false
				}
			}
			m.mu.Unlock()
		}
		return true
	})
	if bst := b.sessions.Status(); bst.Sessions != sessions || bst.Participants != sessions*size {
		t.Fatalf("B holds %d sessions, %d participants", bst.Sessions, bst.Participants)
	}
	_ = byID
}
