package sessionmgr

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/voxfleet/vox/netio"
)

// Drain.
//
//	StartDrain ─▶ grace ──(grace over)──▶ notifying ──(no participant left)──▶ drained
//	                │                          └──(deadline)── remove the rest ──▶ drained
//	                └─ CancelDrain ─▶ cancelled (admission as before)
//
// During the grace period sessions may end by themselves. Then every shard
// sends reconnect notices to its remaining participants, oldest sessions
// first and a whole session at a time (a chat group lands together on its
// next server), paced by a token bucket whose rate is the shard's share of
// the drain rate (rate × the shard's participants ÷ all participants), so
// the pod's notices never exceed the rate by more than one session per
// shard in any interval. Each notified participant gets NoticeRepeats more
// copies, NoticeRepeatEvery apart, until it leaves.

// drainState is a drain's parameters and phase (guarded by Manager.mu).
type drainState struct {
	status   DrainStatus
	window   time.Duration
	grace    time.Duration
	deadline time.Duration
	cancel   chan struct{}
	base     noticeCounters // engine counters at the start (the drain's are the difference)
}

// noticeCounters are the notice-related counters summed over the engines.
type noticeCounters struct {
	sent, repeated, reconnected, timedOut, atDeadline, unreachable, reconnectAPI uint64
}

func (m *Manager) noticeCounters() noticeCounters {
	var t noticeCounters
	for _, e := range m.engines {
		c := &e.c
		t.sent += c.noticesSent.Load()
		t.repeated += c.noticesRepeated.Load()
		t.reconnected += c.reconnected.Load()
		t.timedOut += c.timedOut.Load()
		t.atDeadline += c.atDeadline.Load()
		t.unreachable += c.unreachable.Load()
		t.reconnectAPI += c.reconnectNotices.Load()
	}
	return t
}

// drainStatusLocked fills in the live figures of the current drain.
func (m *Manager) drainStatusLocked() *DrainStatus {
	if m.drain == nil {
		return nil
	}
	st := m.drain.status
	c, b := m.noticeCounters(), m.drain.base
	st.NoticesSent = c.sent - b.sent
	st.NoticesRepeated = c.repeated - b.repeated
	st.Reconnected = c.reconnected - b.reconnected
	st.TimedOut = c.timedOut - b.timedOut
	st.RemovedAtDeadline = c.atDeadline - b.atDeadline
	st.Unreachable = c.unreachable - b.unreachable
	if st.Phase != DrainCancelled {
		st.ParticipantsLeft, st.SessionsLeft = m.participants, len(m.sessions)
	}
	return &st
}

// StartDrain starts draining the pod (see the diagram above). reason is
// reported (e.g. "SIGTERM", "GameServer deleted", "operator").
func (m *Manager) StartDrain(reason string, req DrainRequest) (DrainStatus, error) {
	if err := m.ready(); err != nil {
		return DrainStatus{}, err
	}
	grace, deadline, window := time.Duration(req.Grace), time.Duration(req.Deadline), time.Duration(req.Window)
	if grace == 0 {
		grace = DefaultDrainGrace
	}
	if deadline == 0 {
		deadline = m.cfg.DrainDeadline
	}
	if window == 0 {
		window = DefaultNoticeWindow
	}
	rate := req.Rate
	if rate == 0 {
		rate = DefaultDrainRate
	}
	switch {
	case grace < 0 || deadline < 0 || window < 0 || rate < 0:
		return DrainStatus{}, fmt.Errorf("%w: negative drain parameter", ErrInvalid)
	case rate < 0.1 || rate > 1e6:
		return DrainStatus{}, fmt.Errorf("%w: rate %g outside 0.1..1e6 notices per second", ErrInvalid, rate)
	case deadline <= grace:
		return DrainStatus{}, fmt.Errorf("%w: deadline %v must be after the grace period %v", ErrInvalid, deadline, grace)
	case window > time.Hour:
		return DrainStatus{}, fmt.Errorf("%w: window %v longer than an hour", ErrInvalid, window)
	case grace > MaxDrainDuration || deadline > MaxDrainDuration:
		return DrainStatus{}, fmt.Errorf("%w: grace %v and deadline %v must be at most %v", ErrInvalid, grace, deadline, MaxDrainDuration)
	}
	if reason == "" {
		reason = "operator"
	}
	exit := m.cfg.DrainExit
	if req.Exit != nil {
		exit = *req.Exit
	}
	now := m.cfg.Now()

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drain != nil && m.drain.status.Phase != DrainCancelled {
		return *m.drainStatusLocked(), fmt.Errorf("%w: a drain is already %s (since %s, %s)", ErrDrainConflict,
			m.drain.status.Phase, m.drain.status.StartedAt.Format(time.RFC3339), m.drain.status.Reason)
	}
	d := &drainState{window: window, grace: grace, deadline: deadline, cancel: make(chan struct{}),
		base: m.noticeCounters(),
		status: DrainStatus{Phase: DrainGrace, Reason: reason, StartedAt: now, GraceUntil: now.Add(grace),
			Deadline: now.Add(deadline), Rate: rate, WindowMS: window.Milliseconds(), Exit: exit}}
	m.drain = d
	m.draining = true
	m.noteStateLocked()
	m.cfg.Logger.Info("drain started", "reason", reason, "grace", grace.String(), "rate", rate,
		"deadline", deadline.String(), "window", window.String(), "participants", m.participants, "sessions", len(m.sessions))
	go m.runDrain(d)
	return *m.drainStatusLocked(), nil
}

// CancelDrain cancels a drain during its grace period; admission is then as
// before the drain (an operator's accept-stop stays).
func (m *Manager) CancelDrain() (DrainStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drain == nil || m.drain.status.Phase == DrainCancelled {
		return DrainStatus{}, fmt.Errorf("%w: no drain is running", ErrNoDrain)
	}
	if m.drain.status.Phase != DrainGrace {
		return *m.drainStatusLocked(), fmt.Errorf("%w: the drain is %s: past its grace period it cannot be cancelled",
			ErrDrainConflict, m.drain.status.Phase)
	}
	m.drain.status.Phase = DrainCancelled
	close(m.drain.cancel)
	m.draining = false
	m.noteStateLocked()
	m.cfg.Logger.Info("drain cancelled during its grace period")
	return *m.drainStatusLocked(), nil
}

// Drained is closed when a drain has completed (every participant gone, or
// the deadline passed and the rest was removed).
func (m *Manager) Drained() <-chan struct{} { return m.drainedCh }

// DrainExit reports whether the completed or running drain asked voxd to
// exit when drained.
func (m *Manager) DrainExit() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.drain != nil && m.drain.status.Exit
}

// runDrain is the drain's timeline.
func (m *Manager) runDrain(d *drainState) {
	grace := time.NewTimer(d.grace)
	defer grace.Stop()
	deadline := time.NewTimer(d.deadline)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	notifying := false
	for {
		select {
		case <-d.cancel:
			return
		case <-grace.C:
			m.mu.Lock()
			if d.status.Phase != DrainGrace {
				m.mu.Unlock()
				return
			}
			d.status.Phase = DrainNotifying
			m.mu.Unlock()
			notifying = true
			n := m.notifyAll(nil, d.status.Rate, d.window, true)
			m.cfg.Logger.Info("drain: grace period over, sending reconnect notices", "participants", n, "rate", d.status.Rate)
		case <-poll.C:
			m.mu.Lock()
			empty := m.participants == 0 && d.status.Phase != DrainCancelled
			m.mu.Unlock()
			if empty {
				m.finishDrain(d, "every participant has left")
				return
			}
		case <-deadline.C:
			left := m.removeAll()
			m.cfg.Logger.Warn("drain deadline: removed the participants still there", "removed", left, "notices_sent", notifying)
			m.finishDrain(d, "deadline")
			return
		}
	}
}

func (m *Manager) finishDrain(d *drainState, why string) {
	m.mu.Lock()
	d.status.Phase = DrainDrained
	m.noteStateLocked()
	st := m.drainStatusLocked()
	m.mu.Unlock()
	m.cfg.Logger.Info("drained", "why", why, "notices_sent", st.NoticesSent, "reconnected", st.Reconnected,
		"timed_out", st.TimedOut, "removed_at_deadline", st.RemovedAtDeadline)
	close(m.drainedCh)
}

// removeAll removes every participant now (the drain's deadline), after a
// last notice with reason shutdown and no window. It returns how many.
func (m *Manager) removeAll() int {
	total := 0
	for k := range m.engines {
		var n int
		if m.onShard(context.Background(), k, func(_ int64, e *engine, q *netio.SendQueue) {
			n = e.removeAllAtDeadline(q)
		}) == nil {
			total += n
		}
	}
	return total
}

// Reconnect asks the participants of the chosen sessions (all when none is
// named) to reconnect elsewhere, at the given rate, without draining.
func (m *Manager) Reconnect(req ReconnectRequest) (ReconnectAnswer, error) {
	if err := m.ready(); err != nil {
		return ReconnectAnswer{}, err
	}
	rate, window := req.Rate, time.Duration(req.Window)
	if rate == 0 {
		rate = DefaultDrainRate
	}
	if window == 0 {
		window = DefaultNoticeWindow
	}
	if rate < 0.1 || rate > 1e6 || window < 0 || window > time.Hour {
		return ReconnectAnswer{}, fmt.Errorf("%w: rate %g (0.1..1e6) or window %v (0..1h)", ErrInvalid, rate, window)
	}
	if req.Sessions != nil && len(req.Sessions) == 0 {
		return ReconnectAnswer{}, fmt.Errorf("%w: an empty sessions list names no session (leave it out for every session)", ErrInvalid)
	}
	var only map[string]bool
	if len(req.Sessions) > 0 {
		only = map[string]bool{}
		m.mu.Lock()
		for _, id := range req.Sessions {
			if m.sessions[id] == nil {
				m.mu.Unlock()
				return ReconnectAnswer{}, fmt.Errorf("%w: %q", ErrSessionNotFound, id)
			}
			only[id] = true
		}
		m.mu.Unlock()
	}
	n := m.notifyAll(only, rate, window, false)
	m.mu.Lock()
	sessions := len(m.sessions)
	if only != nil {
		sessions = len(only)
	}
	m.mu.Unlock()
	m.cfg.Logger.Info("reconnect requested", "sessions", sessions, "participants", n, "rate", rate)
	return ReconnectAnswer{Sessions: sessions, Participants: n, ETA: Duration(time.Duration(float64(n) / rate * float64(time.Second)))}, nil
}

// notifyAll plans notices for the chosen sessions (all when only is nil),
// oldest first, and hands each shard its share of the rate. It returns the
// number of participants planned.
func (m *Manager) notifyAll(only map[string]bool, rate float64, window time.Duration, drain bool) int {
	m.mu.Lock()
	type item struct {
		id      string
		key     uint64
		created int64
		n       int
	}
	perShard := make([][]item, len(m.engines))
	total := 0
	for id, s := range m.sessions {
		if only != nil && !only[id] {
			continue
		}
		n := len(s.liveMembers())
		perShard[s.shard] = append(perShard[s.shard], item{id, s.key, s.createdNs, n})
		total += n
	}
	m.mu.Unlock()
	if total == 0 {
		return 0
	}
	for k, items := range perShard {
		if len(items) == 0 {
			continue
		}
		sort.Slice(items, func(i, j int) bool {
			return items[i].created < items[j].created || (items[i].created == items[j].created && items[i].id < items[j].id)
		})
		keys := make([]uint64, len(items))
		n := 0
		for i, it := range items {
			keys[i] = it.key
			n += it.n
		}
		share := rate * float64(n) / float64(total)
		_ = m.onShard(context.Background(), k, func(now int64, e *engine, _ *netio.SendQueue) {
			e.startNotices(now, keys, share, window, drain)
		})
	}
	return total
}
