package sessionmgr

import "fmt"

// Admission policy: whether the pod takes a new session or participant
// now, and the state it reports. Every function here reads and writes the
// Manager's books under its mutex (…Locked: the caller holds it).

// admitCheckLocked is the admission decision: may a new session
// (newSession) or a participant of an existing session join? A pod full by
// session count still takes joins to existing sessions; full by
// participants or CPU, it takes nothing new. Operator stop, a hold and a
// drain refuse everything.
func (m *Manager) admitCheckLocked(newSession bool) error {
	if m.closed {
		return ErrClosed
	}
	if m.draining {
		return fmt.Errorf("%w: draining (%s)", ErrNotAccepting, m.drain.status.Reason)
	}
	if m.stopped != "" {
		return fmt.Errorf("%w: %s", ErrNotAccepting, m.stopped)
	}
	if m.held != "" {
		return fmt.Errorf("%w: %s", ErrNotAccepting, m.held)
	}
	if newSession && m.stoppedNew != "" {
		return fmt.Errorf("%w: %s", ErrNotAccepting, m.stoppedNew)
	}
	if m.cpuFull {
		return fmt.Errorf("%w: CPU %.0f%% passed the high mark %.0f%% (admitting again below %.0f%%)",
			ErrNotAccepting, m.cpu, m.cfg.CPUHigh, m.cfg.CPULow)
	}
	if m.participants >= m.cfg.Limits.MaxParticipants {
		return fmt.Errorf("%w: pod has its most participants (%d)", ErrNotAccepting, m.cfg.Limits.MaxParticipants)
	}
	if newSession && len(m.sessions) >= m.cfg.Limits.MaxSessions {
		return fmt.Errorf("%w: pod has its most sessions (%d)", ErrNotAccepting, m.cfg.Limits.MaxSessions)
	}
	return nil
}

// stateLocked is the pod's admission state as reported (accepting means
// it takes new sessions).
func (m *Manager) stateLocked() (State, string) {
	err := m.admitCheckLocked(true)
	switch {
	case err == nil:
		return StateAccepting, ""
	case m.draining && (m.participants == 0 || m.drain.status.Phase == DrainDrained):
		return StateDrained, m.drain.status.Reason
	case m.draining:
		return StateDraining, m.drain.status.Reason
	case m.closed:
		return StateStopped, "shutting down"
	case m.stopped != "":
		return StateStopped, m.stopped
	case m.held != "":
		return StateStopped, m.held
	case m.stoppedNew != "":
		return StateStopped, m.stoppedNew
	default:
		return StateFull, err.Error()
	}
}

// noteStateLocked logs each admission state transition once, with why.
func (m *Manager) noteStateLocked() {
	st, reason := m.stateLocked()
	if st == m.lastState && reason == m.lastReason {
		return
	}
	if st != m.lastState || st != StateFull {
		m.cfg.Logger.Info("admission state", "state", string(st), "reason", reason, "sessions", len(m.sessions),
			"participants", m.participants, "cpu_percent", int(m.cpu))
	}
	m.lastState, m.lastReason = st, reason
}

// SetCPU gives the Manager the process's smoothed CPU use in percent of its
// allowance (CPUSampler). Admission stops at or above Config.CPUHigh and
// resumes below Config.CPULow.
func (m *Manager) SetCPU(percent float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cpu = percent
	switch {
	case !m.cpuFull && percent >= m.cfg.CPUHigh:
		m.cpuFull = true
	case m.cpuFull && percent < m.cfg.CPULow:
		m.cpuFull = false
	}
	m.noteStateLocked()
}

// StopAccepting stops admitting new sessions and participants (reason is
// reported); ResumeAccepting undoes it. The drain work builds on these.
func (m *Manager) StopAccepting(reason string) {
	if reason == "" {
		reason = "stopped by operator"
	}
	m.mu.Lock()
	m.stopped = reason
	m.noteStateLocked()
	m.mu.Unlock()
}

// StopNewSessions stops admitting new sessions only: members still join
// the sessions in progress (a chat group stays together on the pod). The
// pod reports StateStopped with reason. The fleet router uses it on a pod
// it chose to retire, during the grace in which its sessions may end by
// themselves. ResumeAccepting undoes it too.
func (m *Manager) StopNewSessions(reason string) {
	if reason == "" {
		reason = "new sessions stopped by operator"
	}
	m.mu.Lock()
	m.stoppedNew = reason
	m.noteStateLocked()
	m.mu.Unlock()
}

// ResumeAccepting undoes StopAccepting and StopNewSessions. It leaves a
// Hold in place, and it cannot undo a drain (ErrDrainConflict): cancel the
// drain instead, during its grace period.
func (m *Manager) ResumeAccepting() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.draining {
		return fmt.Errorf("%w: the pod is draining (cancel the drain during its grace period instead)", ErrDrainConflict)
	}
	m.stopped, m.stoppedNew = "", ""
	m.noteStateLocked()
	return nil
}

// Hold stops admission under its own name, apart from an operator's
// StopAccepting and from a drain: while held, new sessions and participants
// are refused with ErrNotAccepting (503 not_accepting) and the pod reports
// StateStopped with reason (an operator stop or a drain, if any, is
// reported instead). Release ends the hold and nothing else: ResumeAccepting
// does not end a hold, and Release does not undo an operator stop or a
// drain. There is one hold; a second Hold only changes its reason.
//
// The Agones empty return holds a vacant pod (Vacant) while it gives it
// back: an admission booked before the hold lands and makes the pod not
// vacant; one after it is refused.
func (m *Manager) Hold(reason string) {
	if reason == "" {
		reason = "admission held"
	}
	m.mu.Lock()
	m.held = reason
	m.noteStateLocked()
	m.mu.Unlock()
}

// Release ends a Hold (nothing if none).
func (m *Manager) Release() {
	m.mu.Lock()
	m.held = ""
	m.noteStateLocked()
	m.mu.Unlock()
}

// Vacant reports, atomically under the Manager's mutex, whether the pod
// hosts nothing and nobody but a Hold has stopped its admission: no session
// (one created by PUT and waiting for members counts), no participant and
// no admission in flight (a booking counts from its reservation, before its
// shard has it, until its shard has removed it), and no operator stop, drain
// or close (nor a stop of new sessions). Under a Hold a vacant pod stays vacant until Release, as nothing
// can be booked, unless an operator stop, a drain or a close comes.
func (m *Manager) Vacant() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions) == 0 && m.participants == 0 && m.stopped == "" && m.stoppedNew == "" && !m.draining && !m.closed
}
