package sessionmgr

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/media"
)

// noticeLog collects the authenticated reconnect notices clients receive.
type noticeLog struct {
	mu   sync.Mutex
	got  map[string][]time.Time // participant -> arrival of each copy
	by   map[string]media.ReconnectNotice
	stop chan struct{}
	wg   sync.WaitGroup
}

func watchNotices(t *testing.T, clients map[string]*rawClient) *noticeLog {
	l := &noticeLog{got: map[string][]time.Time{}, by: map[string]media.ReconnectNotice{}, stop: make(chan struct{})}
	for id, c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				_, rtcp, err := c.recv(20 * time.Millisecond)
				if err != nil || rtcp == nil {
					continue
				}
				n, err := media.ParseReconnectNotice(rtcp)
				if err != nil {
					continue // a receiver report
				}
				if n.SSRC != c.adm.ServerSSRC {
					t.Errorf("%s: notice from SSRC %#x, want %#x", id, n.SSRC, c.adm.ServerSSRC)
				}
				l.mu.Lock()
				l.got[id] = append(l.got[id], time.Now())
				l.by[id] = n
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.close)
	return l
}

func (l *noticeLog) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *noticeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

// firsts returns each participant's first notice time.
func (l *noticeLog) firsts() map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]time.Time{}
	for id, ts := range l.got {
		out[id] = ts[0]
	}
	return out
}

// populate makes sessions×size latched raw clients ("s0/p0"...), sessions
// created in order.
func populate(t *testing.T, m *Manager, sessions, size int) map[string]*rawClient {
	clients := map[string]*rawClient{}
	for s := range sessions {
		for p := range size {
			c := newRawClient(t, admit(t, m, fmt.Sprintf("s%d", s), fmt.Sprintf("p%d", p)))
			c.send(nil)
			clients[fmt.Sprintf("s%d/p%d", s, p)] = c
		}
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	waitFor(t, "latched", func() bool { return m.Status().Totals.RxPackets >= uint64(sessions*size) })
	return clients
}

func TestDrainNoticesPacedGroupedOrdered(t *testing.T) {
	m, _ := startManager(t, Config{}, 2)
	const sessions, size, rate = 6, 4, 40.0
	clients := populate(t, m, sessions, size)
	notices := watchNotices(t, clients)
	start := time.Now()
	if _, err := m.StartDrain("test", DrainRequest{Grace: Duration(50 * time.Millisecond), Rate: rate,
		Deadline: Duration(time.Minute), Window: Duration(1500 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every participant notified", func() bool { return notices.count() == sessions*size })
	firsts := notices.firsts()

	// The rate: in any 100 ms window, at most rate/10 plus one session per
	// shard (a session is notified whole).
	var ts []time.Time
	for _, at := range firsts {
		ts = append(ts, at)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	for i := range ts {
		n := 0
		for j := i; j < len(ts) && ts[j].Sub(ts[i]) < 100*time.Millisecond; j++ {
			n++
		}
		if max := int(rate/10) + 2*size; n > max {
			t.Fatalf("%d first notices within 100 ms (rate %v, tolerance one session per shard: max %d)", n, rate, max)
		}
	}
	// Overall pace: 24 notices at 40/s take about 0.6 s (the first ones go
	// at once), not much less.
	if span := ts[len(ts)-1].Sub(ts[0]); span < 300*time.Millisecond {
		t.Fatalf("24 notices at %v/s sent within %v: not paced", rate, span)
	}
	_ = start
	// A session's members are notified together, and oldest sessions
	// first on each shard.
	for s := range sessions {
		var lo, hi time.Time
		for p := range size {
			at := firsts[fmt.Sprintf("s%d/p%d", s, p)]
			if lo.IsZero() || at.Before(lo) {
				lo = at
			}
			if at.After(hi) {
				hi = at
			}
		}
		if hi.Sub(lo) > 30*time.Millisecond {
			t.Fatalf("session s%d notified over %v, not together", s, hi.Sub(lo))
		}
	}
	info := map[int]int{} // session -> shard
	for s := range sessions {
		si, _ := m.Session(context.Background(), fmt.Sprintf("s%d", s))
		info[s] = si.Shard
	}
	for a := range sessions {
		for b := a + 1; b < sessions; b++ {
			if info[a] == info[b] && firsts[fmt.Sprintf("s%d/p0", b)].Before(firsts[fmt.Sprintf("s%d/p0", a)].Add(-10*time.Millisecond)) {
				t.Fatalf("s%d (newer) notified before s%d on shard %d", b, a, info[a])
			}
		}
	}
	for id, n := range notices.by {
		if n.Reason != media.ReconnectDrain || n.WindowMS != 1500 {
			t.Fatalf("%s: notice %+v", id, n)
		}
	}
	// Repeats until they leave.
	waitFor(t, "a repeat", func() bool {
		notices.mu.Lock()
		defer notices.mu.Unlock()
		return len(notices.got["s0/p0"]) >= 2
	})
	// Everybody leaves: drained.
	for _, c := range clients {
		bye, _ := media.AppendBye(nil, c.adm.SSRC)
		c.sendRTCP(bye)
	}
	select {
	case <-m.Drained():
	case <-time.After(5 * time.Second):
		t.Fatal("not drained")
	}
	st := m.Status()
	if st.State != StateDrained || st.Drain.NoticesSent != sessions*size || st.Drain.Reconnected != sessions*size ||
		st.Drain.NoticesRepeated == 0 || st.Drain.ParticipantsLeft != 0 {
		t.Fatalf("drain status %+v", st.Drain)
	}
}

func TestDrainCancelDuringGraceOnly(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	admit(t, m, "s", "a")
	if _, err := m.CancelDrain(); !errors.Is(err, ErrNoDrain) {
		t.Fatalf("cancel without a drain: %v", err)
	}
	m.StopAccepting("maintenance")
	if _, err := m.StartDrain("op", DrainRequest{Grace: Duration(time.Hour), Deadline: Duration(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st, err := m.CancelDrain()
	if err != nil || st.Phase != DrainCancelled {
		t.Fatalf("cancel: %+v %v", st, err)
	}
	if s := m.Status(); s.State != StateStopped || s.Reason != "maintenance" {
		t.Fatalf("after cancel the operator's stop stays: %+v", s)
	}
	m.ResumeAccepting()
	if !m.Status().Accepting {
		t.Fatal("not accepting after cancel + resume")
	}
	// Past the grace period a drain cannot be cancelled.
	if _, err := m.StartDrain("op", DrainRequest{Grace: Duration(10 * time.Millisecond), Deadline: Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "notifying", func() bool { return m.Status().Drain.Phase == DrainNotifying })
	if _, err := m.CancelDrain(); !errors.Is(err, ErrDrainConflict) {
		t.Fatalf("cancel while notifying: %v", err)
	}
}

func TestDrainDeadlineRemovesTheRest(t *testing.T) {
	m, _ := startManager(t, Config{}, 2)
	clients := populate(t, m, 2, 3)
	never := admit(t, m, "s0", "silent") // never sends: cannot be notified
	_ = never
	notices := watchNotices(t, clients)
	if _, err := m.StartDrain("test", DrainRequest{Grace: Duration(20 * time.Millisecond), Rate: 1000,
		Deadline: Duration(400 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Drained():
	case <-time.After(5 * time.Second):
		t.Fatal("deadline did not end the drain")
	}
	st := m.Status()
	if st.Participants != 0 || st.Sessions != 0 || st.Drain.RemovedAtDeadline != 7 || st.Drain.NoticesSent != 6 ||
		st.Drain.Unreachable != 1 || st.Totals.Removed[ReasonDrainDeadline] != 7 {
		t.Fatalf("after the deadline: %+v removed %v", st.Drain, st.Totals.Removed)
	}
	// The last word to each client: a shutdown notice with no window.
	waitFor(t, "shutdown notice", func() bool {
		notices.mu.Lock()
		defer notices.mu.Unlock()
		n := notices.by["s1/p2"]
		return n.Reason == media.ReconnectShutdown && n.WindowMS == 0
	})
}

func TestReconnectWithoutDrain(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	clients := populate(t, m, 2, 2)
	notices := watchNotices(t, clients)
	if _, err := m.Reconnect(ReconnectRequest{Sessions: []string{"nope"}}); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	if _, err := m.Reconnect(ReconnectRequest{Rate: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad rate: %v", err)
	}
	ans, err := m.Reconnect(ReconnectRequest{Sessions: []string{"s1"}, Rate: 100})
	if err != nil || ans.Participants != 2 || ans.Sessions != 1 {
		t.Fatalf("%+v %v", ans, err)
	}
	waitFor(t, "s1 notified", func() bool { return notices.count() == 2 })
	time.Sleep(50 * time.Millisecond)
	f := notices.firsts()
	if _, ok := f["s0/p0"]; ok || notices.count() != 2 {
		t.Fatalf("notices went beyond s1: %v", f)
	}
	if st := m.Status(); !st.Accepting || st.ReconnectNotices != 2 || st.Drain != nil {
		t.Fatalf("status %+v", st)
	}
}

func TestDrainRequestValidation(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	for _, r := range []DrainRequest{
		{Grace: Duration(time.Minute), Deadline: Duration(time.Second)},
		{Rate: -5},
		{Rate: 1e9},
		{Window: Duration(2 * time.Hour)},
	} {
		if _, err := m.StartDrain("x", r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	var d Duration
	for _, bad := range []string{`5`, `"-1s"`, `"soon"`} {
		if err := d.UnmarshalJSON([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if err := d.UnmarshalJSON([]byte(`"1m30s"`)); err != nil || time.Duration(d) != 90*time.Second {
		t.Fatalf("1m30s: %v %v", d, err)
	}
}

func TestDrainAfterReconnectNotifiesAgain(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	clients := populate(t, m, 1, 2)
	notices := watchNotices(t, clients)
	if _, err := m.Reconnect(ReconnectRequest{Rate: 1000}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconnect notices", func() bool { return notices.count() == 2 })
	if _, err := m.StartDrain("test", DrainRequest{Grace: Duration(10 * time.Millisecond), Rate: 1000,
		Deadline: Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drain notifies them again", func() bool { return m.Status().Drain.NoticesSent == 2 })
}
