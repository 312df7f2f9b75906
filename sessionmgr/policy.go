package sessionmgr

import "fmt"

// Admission policy: whether the pod takes a new session or participant
// now, and the state it reports. Every function here reads and writes the
// Manager's books under its mutex (…Locked: the caller holds it).

// admitCheckLocked is the admission decision: may a new session
// (newSession) or a participant of an existing session join? A pod full by
// session count still takes joins to existing sessions; full by
// participants or CPU, it takes nothing new. Operator stop and drain refuse
// everything.
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

// ResumeAccepting undoes StopAccepting. It cannot undo a drain
// (ErrDrainConflict): cancel the drain instead, during its grace period.
func (m *Manager) ResumeAccepting() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.draining {
		return fmt.Errorf("%w: the pod is draining (cancel the drain during its grace period instead)", ErrDrainConflict)
	}
	m.stopped = ""
	m.noteStateLocked()
	return nil
}
