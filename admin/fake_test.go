package admin

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/sessionmgr"
)

// fakeBackend is an in-memory Backend. err, when set, is returned by every
// method that can fail; panicMsg makes them panic.
type fakeBackend struct {
	mu       sync.Mutex // guards every field
	sessions map[string]*fakeSession
	status   sessionmgr.Status
	err      error
	panicMsg string
	nextPID  int
	lastReq  sessionmgr.AdmitRequest

	// Drainer state.
	drain        *sessionmgr.DrainStatus
	drainReason  string
	drainReq     sessionmgr.DrainRequest
	reconnectReq *sessionmgr.ReconnectRequest
	drainCalls   int // calls of the Drainer methods
	routeCalls   int // calls of the Router methods
}

type fakeSession struct {
	info sessionmgr.SessionInfo
	opts sessionmgr.SessionOptions
}

var (
	_ Backend = (*fakeBackend)(nil)
	_ Drainer = (*fakeBackend)(nil)
	_ Router  = (*fakeBackend)(nil)
)

var fakeNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func newFake() *fakeBackend {
	return &fakeBackend{
		sessions: map[string]*fakeSession{},
		status: sessionmgr.Status{
			State: sessionmgr.StateAccepting, Accepting: true,
			Limits: sessionmgr.Limits{MaxSessions: 100, MaxParticipants: 1000, MaxSessionParticipants: 16},
		},
	}
}

func (f *fakeBackend) fail() error {
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	return f.err
}

func (f *fakeBackend) PutSession(_ context.Context, id string, opts sessionmgr.SessionOptions) (sessionmgr.SessionInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return sessionmgr.SessionInfo{}, false, err
	}
	if s, ok := f.sessions[id]; ok {
		if !reflect.DeepEqual(s.opts, opts) {
			return sessionmgr.SessionInfo{}, false, fmt.Errorf("%w: session %q", sessionmgr.ErrSessionConflict, id)
		}
		return s.info, false, nil
	}
	s := f.createLocked(id, opts)
	return s.info, true, nil
}

func (f *fakeBackend) createLocked(id string, opts sessionmgr.SessionOptions) *fakeSession {
	info := sessionmgr.SessionInfo{ID: id, CreatedAt: fakeNow, MaxParticipants: 16, Profile: api.DefaultProfile}
	if opts.MaxParticipants != 0 {
		info.MaxParticipants = opts.MaxParticipants
	}
	if opts.Profile != nil {
		info.Profile = *opts.Profile
	}
	s := &fakeSession{info: info, opts: opts}
	f.sessions[id] = s
	return s
}

func (f *fakeBackend) Session(_ context.Context, id string) (sessionmgr.SessionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return sessionmgr.SessionInfo{}, err
	}
	s, ok := f.sessions[id]
	if !ok {
		return sessionmgr.SessionInfo{}, fmt.Errorf("%w: %q", sessionmgr.ErrSessionNotFound, id)
	}
	return s.info, nil
}

func (f *fakeBackend) Sessions(context.Context) ([]sessionmgr.SessionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return nil, err
	}
	var out []sessionmgr.SessionInfo
	for _, s := range f.sessions {
		out = append(out, s.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeBackend) DeleteSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return err
	}
	if _, ok := f.sessions[id]; !ok {
		return fmt.Errorf("%w: %q", sessionmgr.ErrSessionNotFound, id)
	}
	delete(f.sessions, id)
	return nil
}

func (f *fakeBackend) Admit(_ context.Context, sessionID string, req sessionmgr.AdmitRequest) (sessionmgr.Admission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastReq = req
	if err := f.fail(); err != nil {
		return sessionmgr.Admission{}, err
	}
	s, ok := f.sessions[sessionID]
	if !ok {
		var opts sessionmgr.SessionOptions
		if req.Session != nil {
			opts = *req.Session
		}
		s = f.createLocked(sessionID, opts)
	}
	pid := req.ParticipantID
	if pid == "" {
		f.nextPID++
		pid = fmt.Sprintf("p%d", f.nextPID)
	}
	for _, p := range s.info.Participants {
		if p.ID == pid {
			return sessionmgr.Admission{}, fmt.Errorf("%w: %q", sessionmgr.ErrParticipantExists, pid)
		}
	}
	if len(s.info.Participants) >= s.info.MaxParticipants {
		return sessionmgr.Admission{}, fmt.Errorf("%w: %d participants", sessionmgr.ErrSessionFull, s.info.MaxParticipants)
	}
	profile := s.info.Profile
	if req.Profile != nil {
		profile = *req.Profile
	}
	ssrc := uint32(0x1000 + len(s.info.Participants))
	s.info.Participants = append(s.info.Participants, sessionmgr.ParticipantInfo{
		ID: pid, SSRC: ssrc, Profile: profile, AdmittedAt: fakeNow, Stats: sessionmgr.StreamStats{AudioLevel: -1, LastPacketAgoMS: -1},
	})
	keys := func(b byte) api.Keys {
		return api.Keys{Key: []byte{b, b, b, b}, Salt: []byte{b + 1, b + 1}}
	}
	return sessionmgr.Admission{
		SessionID: sessionID, ParticipantID: pid, SSRC: ssrc, ServerSSRC: 0xabcd,
		Media:                 sessionmgr.MediaAddr{Address: "203.0.113.7", Port: 7000},
		SRTP:                  sessionmgr.SRTPKeys{Profile: profile, ClientToServer: keys(1), ServerToClient: keys(3)},
		AudioLevelExtensionID: 1, JoinTimeoutMS: 10000, IdleTimeoutMS: 30000,
	}, nil
}

func (f *fakeBackend) RemoveParticipant(_ context.Context, sessionID, participantID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return err
	}
	s, ok := f.sessions[sessionID]
	if !ok {
		return fmt.Errorf("%w: %q", sessionmgr.ErrSessionNotFound, sessionID)
	}
	for i, p := range s.info.Participants {
		if p.ID == participantID {
			s.info.Participants = append(s.info.Participants[:i], s.info.Participants[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", sessionmgr.ErrParticipantNotFound, participantID)
}

func (f *fakeBackend) Status() sessionmgr.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	if f.drain != nil {
		d := *f.drain
		st.Drain = &d
	}
	return st
}

func (f *fakeBackend) set(fn func(f *fakeBackend)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// The Drainer methods model the session manager's drain state machine:
// accept-stop/resume, a drain in grace (cancellable), notifying (not),
// drained, cancelled.

func (f *fakeBackend) StopAccepting(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drainCalls++
	if reason == "" {
		reason = "stopped by operator"
	}
	if f.drainRunningLocked() {
		return
	}
	f.status.State, f.status.Accepting, f.status.Reason = sessionmgr.StateStopped, false, reason
}

func (f *fakeBackend) StopNewSessions(reason string) {
	if reason == "" {
		reason = "new sessions stopped by operator"
	}
	f.StopAccepting(reason)
}

func (f *fakeBackend) drainRunningLocked() bool {
	return f.drain != nil && (f.drain.Phase == sessionmgr.DrainGrace || f.drain.Phase == sessionmgr.DrainNotifying)
}

func (f *fakeBackend) ResumeAccepting() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drainCalls++
	if err := f.fail(); err != nil {
		return err
	}
	if f.drainRunningLocked() {
		return fmt.Errorf("%w: a drain is running (phase %s)", sessionmgr.ErrDrainConflict, f.drain.Phase)
	}
	f.status.State, f.status.Accepting, f.status.Reason = sessionmgr.StateAccepting, true, ""
	return nil
}

func (f *fakeBackend) StartDrain(reason string, req sessionmgr.DrainRequest) (sessionmgr.DrainStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drainCalls++
	if err := f.fail(); err != nil {
		return sessionmgr.DrainStatus{}, err
	}
	if f.drainRunningLocked() {
		return sessionmgr.DrainStatus{}, fmt.Errorf("%w: a drain is already running", sessionmgr.ErrDrainConflict)
	}
	if req.Rate < 0 {
		return sessionmgr.DrainStatus{}, fmt.Errorf("%w: rate %v", sessionmgr.ErrInvalid, req.Rate)
	}
	grace, deadline, window := time.Duration(req.Grace), time.Duration(req.Deadline), time.Duration(req.Window)
	if grace == 0 {
		grace = time.Minute
	}
	if deadline == 0 {
		deadline = 14 * time.Minute
	}
	if window == 0 {
		window = 2 * time.Second
	}
	if deadline < grace {
		return sessionmgr.DrainStatus{}, fmt.Errorf("%w: deadline %v before the end of the grace period %v", sessionmgr.ErrInvalid, deadline, grace)
	}
	rate := req.Rate
	if rate == 0 {
		rate = 200
	}
	f.drainReason, f.drainReq = reason, req
	f.drain = &sessionmgr.DrainStatus{
		Phase: sessionmgr.DrainGrace, Reason: reason, StartedAt: fakeNow,
		GraceUntil: fakeNow.Add(grace), Deadline: fakeNow.Add(deadline),
		Rate: rate, WindowMS: window.Milliseconds(), Exit: req.Exit != nil && *req.Exit,
		ParticipantsLeft: f.status.Participants, SessionsLeft: f.status.Sessions,
	}
	f.status.State, f.status.Accepting, f.status.Reason = sessionmgr.StateDraining, false, reason
	return *f.drain, nil
}

func (f *fakeBackend) CancelDrain() (sessionmgr.DrainStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drainCalls++
	if err := f.fail(); err != nil {
		return sessionmgr.DrainStatus{}, err
	}
	switch {
	case !f.drainRunningLocked():
		return sessionmgr.DrainStatus{}, fmt.Errorf("%w: nothing to cancel", sessionmgr.ErrNoDrain)
	case f.drain.Phase != sessionmgr.DrainGrace:
		return sessionmgr.DrainStatus{}, fmt.Errorf("%w: the drain is past its grace period", sessionmgr.ErrDrainConflict)
	}
	f.drain.Phase = sessionmgr.DrainCancelled
	f.status.State, f.status.Accepting, f.status.Reason = sessionmgr.StateAccepting, true, ""
	return *f.drain, nil
}

func (f *fakeBackend) Reconnect(req sessionmgr.ReconnectRequest) (sessionmgr.ReconnectAnswer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drainCalls++
	f.reconnectReq = &req
	if err := f.fail(); err != nil {
		return sessionmgr.ReconnectAnswer{}, err
	}
	ids := req.Sessions
	if len(ids) == 0 {
		for id := range f.sessions {
			ids = append(ids, id)
		}
	}
	var ans sessionmgr.ReconnectAnswer
	for _, id := range ids {
		s, ok := f.sessions[id]
		if !ok {
			return sessionmgr.ReconnectAnswer{}, fmt.Errorf("%w: %q", sessionmgr.ErrSessionNotFound, id)
		}
		ans.Sessions++
		ans.Participants += len(s.info.Participants)
	}
	rate := req.Rate
	if rate == 0 {
		rate = 200
	}
	ans.ETA = sessionmgr.Duration(time.Duration(float64(ans.Participants) / rate * float64(time.Second)))
	return ans, nil
}

// The Router methods only count their calls; the participant must exist.

func (f *fakeBackend) route(sessionID, participantID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routeCalls++
	if err := f.fail(); err != nil {
		return err
	}
	s, ok := f.sessions[sessionID]
	if !ok {
		return fmt.Errorf("%w: %q", sessionmgr.ErrSessionNotFound, sessionID)
	}
	for _, p := range s.info.Participants {
		if p.ID == participantID {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", sessionmgr.ErrParticipantNotFound, participantID)
}

func (f *fakeBackend) SetMuted(_ context.Context, sessionID, participantID string, _ bool) error {
	return f.route(sessionID, participantID)
}

func (f *fakeBackend) SetMutes(_ context.Context, sessionID, participantID string, _ sessionmgr.MuteList) error {
	return f.route(sessionID, participantID)
}

func (f *fakeBackend) SetChannel(_ context.Context, sessionID, participantID, _ string) error {
	return f.route(sessionID, participantID)
}

func (f *fakeBackend) SetMix(_ context.Context, sessionID, participantID string, _ bool) error {
	return f.route(sessionID, participantID)
}
