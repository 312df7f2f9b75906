package sessionmgr

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
	"github.com/voxfleet/vox/netio"
)

// Manager is the control plane of the sessions on one pod: it admits and
// removes participants, keeps the books (who is where, counts, limits),
// assigns SSRCs and keys, and hands every change to the owning shard.
type Manager struct {
	cfg Config
	srv *netio.Server

	enginesMu sync.Mutex // guards engines until Start returns
	engines   []*engine
	started   chan struct{}

	mu sync.Mutex // guards everything below
	// sessions by id; a session is on one shard with all its members.
	sessions        map[string]*sessionRec
	ssrcs           map[uint32]struct{} // every SSRC in use (participant and server)
	participants    int
	shardParts      []int             // participants per shard
	shardRooms      []int             // sessions per shard
	removedBy       map[string]uint64 // participants removed, by reason
	expiredSessions uint64            // sessions created empty that nobody joined
	stopped         string            // non-empty: operator stopped admission, with why
	closed          bool
	cpu             float64 // last CPU percentage given to SetCPU
	cpuFull         bool    // CPU passed the high mark and has not yet fallen below the low one
	draining        bool    // a drain runs (or ran): no new work
	drain           *drainState
	drainedCh       chan struct{} // closed when a drain completes
	lastState       State         // last admission state logged
	lastReason      string
}

type sessionRec struct {
	id        string
	created   time.Time
	createdNs int64
	shard     int
	max       int
	profile   media.Profile
	speakers  int  // max_speakers as given (0: the pod default)
	mix       bool // mix mode
	explicit  bool // created by PUT with these options (PUT again must agree)
	members   map[string]*memberRec
	joined    bool // has had a member
	deleted   bool
}

type memberRec struct {
	id         string
	ssrc       uint32
	serverSSRC uint32
	profile    media.Profile
	admittedAt time.Time
	live       bool // inserted on the shard (an admission in flight is not)
}

// New makes a Manager. Plug its NewHandler into netio.Listen, then call
// Start with the server.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Manager{
		cfg:       cfg,
		lastState: StateAccepting,
		drainedCh: make(chan struct{}),
		started:   make(chan struct{}),
		sessions:  make(map[string]*sessionRec),
		ssrcs:     make(map[uint32]struct{}),
		removedBy: make(map[string]uint64),
	}, nil
}

// NewHandler is the netio.NewHandler of the Manager's shards.
func (m *Manager) NewHandler(sh *netio.Shard) netio.Handler {
	e := newEngine(m, sh, netio.DefaultMaxDatagram)
	m.enginesMu.Lock()
	defer m.enginesMu.Unlock()
	for len(m.engines) <= sh.ID() {
		m.engines = append(m.engines, nil)
	}
	m.engines[sh.ID()] = e
	return e
}

// Start binds the Manager to the UDP core serving its handlers. It waits
// (briefly) until every shard has made its engine.
func (m *Manager) Start(srv *netio.Server) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.enginesMu.Lock()
		n := 0
		for _, e := range m.engines {
			if e != nil {
				n++
			}
		}
		m.enginesMu.Unlock()
		if n == srv.NumShards() {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sessionmgr: only %d of %d shards started", n, srv.NumShards())
		}
		time.Sleep(time.Millisecond)
	}
	maxDatagram := srv.Config().MaxDatagram
	for _, e := range m.engines {
		e.maxPlain = maxDatagram - maxSRTPOverhead
	}
	m.mu.Lock()
	m.srv = srv
	m.shardParts = make([]int, srv.NumShards())
	m.shardRooms = make([]int, srv.NumShards())
	m.mu.Unlock()
	close(m.started)
	if !srv.Steering() && srv.NumShards() > 1 {
		m.cfg.Logger.Error("SSRC steering is off with several shards: packets of a session may reach a shard that does not own it and be dropped; run with one shard")
	}
	return nil
}

func (m *Manager) ready() error {
	select {
	case <-m.started:
		return nil
	default:
		return fmt.Errorf("%w: not started", ErrClosed)
	}
}

// PutSession creates session id with opts, or confirms it exists with the
// same options (created false). Existing with other options: ErrSessionConflict.
func (m *Manager) PutSession(ctx context.Context, id string, opts SessionOptions) (SessionInfo, bool, error) {
	if err := m.ready(); err != nil {
		return SessionInfo{}, false, err
	}
	if !ValidID(id) {
		return SessionInfo{}, false, fmt.Errorf("%w: session id %q", ErrInvalid, id)
	}
	m.mu.Lock()
	s, ok := m.sessions[id]
	if ok {
		max, profile, err := m.resolveLocked(opts)
		if err == nil && (max != s.max || profile != s.profile || opts.MaxSpeakers != s.speakers || opts.Mix != s.mix) {
			err = fmt.Errorf("%w: %q has max_participants %d, profile %s, max_speakers %d, mix %t", ErrSessionConflict, id, s.max, s.profile, s.speakers, s.mix)
		}
		m.mu.Unlock()
		if err != nil {
			return SessionInfo{}, false, err
		}
		info, err := m.Session(ctx, id)
		return info, false, err
	}
	s, err := m.createLocked(id, opts)
	if s != nil {
		s.explicit = true
	}
	m.mu.Unlock()
	if err != nil {
		return SessionInfo{}, false, err
	}
	info, err := m.Session(ctx, id)
	return info, true, err
}

// resolveLocked applies defaults and limits to session options.
func (m *Manager) resolveLocked(opts SessionOptions) (int, media.Profile, error) {
	if opts.Mix && !mixer.OpusAvailable {
		return 0, 0, fmt.Errorf("%w: mix: %v", ErrInvalid, mixer.ErrNoOpus)
	}
	max := opts.MaxParticipants
	if max == 0 {
		max = m.cfg.Limits.MaxSessionParticipants
		if opts.Mix {
			max = min(max, mixer.MaxMixMembers)
		}
	}
	if opts.Mix && max > mixer.MaxMixMembers {
		return 0, 0, fmt.Errorf("%w: max_participants %d: a mix session has at most %d", ErrInvalid, max, mixer.MaxMixMembers)
	}
	if max < 2 || max > m.cfg.Limits.MaxSessionParticipants {
		return 0, 0, fmt.Errorf("%w: max_participants %d outside 2..%d", ErrInvalid, opts.MaxParticipants, m.cfg.Limits.MaxSessionParticipants)
	}
	if opts.MaxSpeakers < 0 || opts.MaxSpeakers > MaxMaxSpeakers {
		return 0, 0, fmt.Errorf("%w: max_speakers %d outside 0..%d", ErrInvalid, opts.MaxSpeakers, MaxMaxSpeakers)
	}
	profile := m.cfg.DefaultProfile
	if opts.Profile != nil {
		if !opts.Profile.Valid() {
			return 0, 0, fmt.Errorf("%w: SRTP profile", ErrInvalid)
		}
		profile = mediaProfile(*opts.Profile)
	}
	return max, profile, nil
}

// createLocked makes a new session on the least loaded shard.
func (m *Manager) createLocked(id string, opts SessionOptions) (*sessionRec, error) {
	if m.closed {
		return nil, ErrClosed
	}
	max, profile, err := m.resolveLocked(opts)
	if err != nil {
		return nil, err
	}
	if err := m.admitCheckLocked(true); err != nil {
		return nil, err
	}
	shard := 0
	for i := range m.shardParts {
		if m.shardParts[i] < m.shardParts[shard] ||
			(m.shardParts[i] == m.shardParts[shard] && m.shardRooms[i] < m.shardRooms[shard]) {
			shard = i
		}
	}
	s := &sessionRec{id: id, created: m.cfg.Now(), createdNs: netio.Now(), shard: shard, max: max,
		profile: profile, speakers: opts.MaxSpeakers, mix: opts.Mix, members: make(map[string]*memberRec)}
	m.sessions[id] = s
	m.shardRooms[shard]++
	m.noteStateLocked()
	return s, nil
}

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

// Admit admits a participant to session sessionID, creating the session if
// needed, and returns what the client needs to talk.
func (m *Manager) Admit(ctx context.Context, sessionID string, req AdmitRequest) (Admission, error) {
	if err := m.ready(); err != nil {
		return Admission{}, err
	}
	if !ValidID(sessionID) {
		return Admission{}, fmt.Errorf("%w: session id %q", ErrInvalid, sessionID)
	}
	if req.ParticipantID != "" && !ValidID(req.ParticipantID) {
		return Admission{}, fmt.Errorf("%w: participant id %q", ErrInvalid, req.ParticipantID)
	}
	if req.Profile != nil && !req.Profile.Valid() {
		return Admission{}, fmt.Errorf("%w: SRTP profile", ErrInvalid)
	}
	if req.Mix && !mixer.OpusAvailable {
		return Admission{}, fmt.Errorf("%w: mix: %v", ErrInvalid, mixer.ErrNoOpus)
	}

	// Reserve: every limit is checked and the member booked under one lock,
	// so parallel admissions can never overshoot.
	m.mu.Lock()
	s, mr, err := m.reserveLocked(sessionID, req)
	m.mu.Unlock()
	if err != nil {
		return Admission{}, err
	}

	keys, err := media.GenerateSessionKeys(mr.profile)
	var in *media.Inbound
	var out *media.Outbound
	if err == nil {
		in, err = media.NewInbound(mr.profile, keys.ClientToServer)
	}
	if err == nil {
		out, err = media.NewOutbound(mr.profile, keys.ServerToClient)
	}
	if err == nil {
		pt := &participant{id: mr.id, ssrc: mr.ssrc, serverSSRC: mr.serverSSRC, in: in, out: out}
		e := m.engines[s.shard]
		var addErr error
		err = e.shard.Do(ctx, func(now int64, _ *netio.SendQueue) {
			// Still booked? A DELETE may have come in meanwhile.
			m.mu.Lock()
			ok := !s.deleted && s.members[mr.id] == mr
			m.mu.Unlock()
			if !ok {
				return
			}
			// A DELETE that books out now runs its shard work after
			// this function: it finds pt on the shard.
			if _, addErr = e.join(s.id, s.speakers, s.mix); addErr == nil {
				addErr = e.add(pt, s.id, now)
				if addErr == nil && req.Mix {
					if addErr = e.setMix(now, pt, true); addErr != nil {
						e.detach(pt)
					}
				}
			}
			if addErr == nil {
				m.mu.Lock()
				mr.live = true
				m.mu.Unlock()
			}
		})
		if err == nil && addErr != nil {
			err = addErr
		} else if err == nil {
			m.mu.Lock()
			if !mr.live {
				err = fmt.Errorf("%w: %q ended during admission", ErrSessionNotFound, sessionID)
			}
			m.mu.Unlock()
		}
	}
	if err != nil {
		m.mu.Lock()
		if s.members[mr.id] == mr && !mr.live {
			m.unbookLocked(s, mr)
		}
		m.mu.Unlock()
		return Admission{}, err
	}
	return Admission{
		SessionID:             s.id,
		ParticipantID:         mr.id,
		SSRC:                  mr.ssrc,
		ServerSSRC:            mr.serverSSRC,
		Media:                 m.mediaAddr(),
		SRTP:                  apiKeys(keys),
		AudioLevelExtensionID: m.cfg.AudioLevelExtensionID,
		JoinTimeoutMS:         m.cfg.JoinTimeout.Milliseconds(),
		IdleTimeoutMS:         m.cfg.IdleTimeout.Milliseconds(),
	}, nil
}

func (m *Manager) reserveLocked(sessionID string, req AdmitRequest) (*sessionRec, *memberRec, error) {
	if m.closed {
		return nil, nil, ErrClosed
	}
	s := m.sessions[sessionID]
	if s == nil {
		var opts SessionOptions
		if req.Session != nil {
			opts = *req.Session
		}
		var err error
		if s, err = m.createLocked(sessionID, opts); err != nil {
			return nil, nil, err
		}
	} else if err := m.admitCheckLocked(false); err != nil {
		return nil, nil, err
	}
	if len(s.members) >= s.max {
		m.dropIfUnusedLocked(s)
		return nil, nil, fmt.Errorf("%w: %q has %d participants", ErrSessionFull, sessionID, s.max)
	}
	id := req.ParticipantID
	if id == "" {
		id = randomID()
	}
	if _, dup := s.members[id]; dup {
		return nil, nil, fmt.Errorf("%w: %q in %q", ErrParticipantExists, id, sessionID)
	}
	profile := s.profile
	if req.Profile != nil {
		profile = mediaProfile(*req.Profile)
	}
	mr := &memberRec{id: id, profile: profile, admittedAt: m.cfg.Now(),
		ssrc:       m.newSSRCLocked(s.shard),
		serverSSRC: m.newSSRCLocked(-1)}
	s.members[id] = mr
	s.joined = true
	m.participants++
	m.shardParts[s.shard]++
	m.noteStateLocked()
	return s, mr, nil
}

// newSSRCLocked picks an unused random SSRC that steers to shard (any shard
// when shard < 0). Zero is never used.
func (m *Manager) newSSRCLocked(shard int) uint32 {
	n := uint32(len(m.shardParts))
	for {
		var b [4]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		v := binary.BigEndian.Uint32(b[:])
		if shard >= 0 && n > 1 {
			base := v - v%n
			if uint64(base)+uint64(shard) > 0xFFFFFFFF {
				continue
			}
			v = base + uint32(shard)
		}
		if _, used := m.ssrcs[v]; v == 0 || used {
			continue
		}
		m.ssrcs[v] = struct{}{}
		return v
	}
}

func (m *Manager) unbookLocked(s *sessionRec, mr *memberRec) {
	delete(s.members, mr.id)
	delete(m.ssrcs, mr.ssrc)
	delete(m.ssrcs, mr.serverSSRC)
	m.participants--
	m.shardParts[s.shard]--
	m.dropIfUnusedLocked(s)
	m.noteStateLocked()
}

// dropIfUnusedLocked ends a session whose members have all gone. A session
// created empty (PUT) that never had a member waits for the janitor.
func (m *Manager) dropIfUnusedLocked(s *sessionRec) {
	if len(s.members) == 0 && s.joined && !s.deleted {
		s.deleted = true
		delete(m.sessions, s.id)
		m.shardRooms[s.shard]--
	}
}

// removed is called by an engine (on its shard) after it removed a member.
func (m *Manager) removed(sessionID, participantID, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removedBy[reason]++
	s := m.sessions[sessionID]
	if s == nil {
		return
	}
	if mr := s.members[participantID]; mr != nil {
		m.unbookLocked(s, mr)
	}
}

// memberLocked finds a participant's booking: ErrSessionNotFound or
// ErrParticipantNotFound when there is none.
func (m *Manager) memberLocked(sessionID, participantID string) (*sessionRec, *memberRec, error) {
	s := m.sessions[sessionID]
	if s == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrSessionNotFound, sessionID)
	}
	mr := s.members[participantID]
	if mr == nil {
		return nil, nil, fmt.Errorf("%w: %q in %q", ErrParticipantNotFound, participantID, sessionID)
	}
	return s, mr, nil
}

// RemoveParticipant removes a participant now.
func (m *Manager) RemoveParticipant(ctx context.Context, sessionID, participantID string) error {
	if err := m.ready(); err != nil {
		return err
	}
	if !ValidID(sessionID) || !ValidID(participantID) {
		return fmt.Errorf("%w: id", ErrInvalid)
	}
	m.mu.Lock()
	s, mr, err := m.memberLocked(sessionID, participantID)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	m.unbookLocked(s, mr)
	m.removedBy[ReasonRemoved]++
	e := m.engines[s.shard]
	m.mu.Unlock()
	return e.shard.Do(ctx, func(int64, *netio.SendQueue) {
		if pt := e.parts[mr.ssrc]; pt != nil && pt.id == participantID {
			e.detach(pt)
		}
	})
}

// DeleteSession ends a session and removes its members now.
func (m *Manager) DeleteSession(ctx context.Context, id string) error {
	if err := m.ready(); err != nil {
		return err
	}
	if !ValidID(id) {
		return fmt.Errorf("%w: session id %q", ErrInvalid, id)
	}
	m.mu.Lock()
	s := m.sessions[id]
	if s == nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrSessionNotFound, id)
	}
	for _, mr := range s.members {
		delete(m.ssrcs, mr.ssrc)
		delete(m.ssrcs, mr.serverSSRC)
		m.participants--
		m.shardParts[s.shard]--
		m.removedBy[ReasonSessionEnd]++
	}
	s.members = map[string]*memberRec{}
	s.deleted = true
	delete(m.sessions, id)
	m.shardRooms[s.shard]--
	m.noteStateLocked()
	e := m.engines[s.shard]
	m.mu.Unlock()
	return e.shard.Do(ctx, func(int64, *netio.SendQueue) {
		if r := e.rooms[id]; r != nil {
			for _, pt := range append([]*participant(nil), r.members...) {
				e.detach(pt)
			}
		}
	})
}

// Session describes one session with its members' live statistics (read on
// the owning shard).
func (m *Manager) Session(ctx context.Context, id string) (SessionInfo, error) {
	if err := m.ready(); err != nil {
		return SessionInfo{}, err
	}
	if !ValidID(id) {
		return SessionInfo{}, fmt.Errorf("%w: session id %q", ErrInvalid, id)
	}
	m.mu.Lock()
	s := m.sessions[id]
	if s == nil {
		m.mu.Unlock()
		return SessionInfo{}, fmt.Errorf("%w: %q", ErrSessionNotFound, id)
	}
	info := m.infoLocked(s)
	e := m.engines[s.shard]
	m.mu.Unlock()
	err := e.shard.Do(ctx, func(now int64, _ *netio.SendQueue) {
		for i := range info.Participants {
			p := &info.Participants[i]
			if pt := e.parts[p.SSRC]; pt != nil && pt.id == p.ID {
				p.Address, p.Stats = pt.info(now)
				pt.routing(p)
			}
		}
	})
	return info, err
}

// Sessions lists every session with its members (without live statistics),
// sorted by id.
func (m *Manager) Sessions(ctx context.Context) ([]SessionInfo, error) {
	if err := m.ready(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	out := make([]SessionInfo, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, m.infoLocked(s))
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, ctx.Err()
}

func (m *Manager) infoLocked(s *sessionRec) SessionInfo {
	speakers := s.speakers
	if speakers == 0 {
		speakers = m.cfg.MaxSpeakers
	}
	info := SessionInfo{ID: s.id, CreatedAt: s.created, Shard: s.shard, MaxParticipants: s.max,
		MaxSpeakers: speakers, Mix: s.mix, Profile: apiProfile(s.profile), Participants: make([]ParticipantInfo, 0, len(s.members))}
	for _, mr := range s.members {
		info.Participants = append(info.Participants, ParticipantInfo{ID: mr.id, SSRC: mr.ssrc,
			Profile: apiProfile(mr.profile), AdmittedAt: mr.admittedAt, Channel: mixer.GlobalChannel,
			Mutes: MuteList{Participants: []string{}, SSRCs: []uint32{}},
			Stats: StreamStats{AudioLevel: -1, LastPacketAgoMS: -1}})
	}
	sort.Slice(info.Participants, func(i, j int) bool {
		return info.Participants[i].AdmittedAt.Before(info.Participants[j].AdmittedAt) ||
			(info.Participants[i].AdmittedAt.Equal(info.Participants[j].AdmittedAt) && info.Participants[i].ID < info.Participants[j].ID)
	})
	return info
}

// Status is a snapshot of the pod: admission state, counts, per-shard load
// and counters. It never waits for a shard.
func (m *Manager) Status() Status {
	m.mu.Lock()
	st := Status{
		State:           StateAccepting,
		Sessions:        len(m.sessions),
		Participants:    m.participants,
		Limits:          m.cfg.Limits,
		ExpiredSessions: m.expiredSessions,
	}
	st.State, st.Reason = m.stateLocked()
	st.Accepting = st.State == StateAccepting
	st.CPUPercent = m.cpu
	if m.srv != nil {
		st.Drain = m.drainStatusLocked()
		st.ReconnectNotices = m.noticeCounters().reconnectAPI
	}
	removed := make(map[string]uint64, len(m.removedBy))
	for k, v := range m.removedBy {
		removed[k] = v
	}
	parts := append([]int(nil), m.shardParts...)
	rooms := append([]int(nil), m.shardRooms...)
	srv := m.srv
	m.mu.Unlock()
	if srv == nil {
		return st
	}
	st.Steering = srv.Steering()
	for i, e := range m.engines {
		c := e.counters()
		ns := srv.Shard(i).Stats()
		c.RxPackets, c.RxBytes, c.TxPackets, c.TxBytes = ns.RxPackets, ns.RxBytes, ns.TxPackets, ns.TxBytes
		c.DropTruncated, c.KernelDrops = ns.DropTruncated, ns.KernelDrops
		c.SendErrors = ns.TxDropFull + ns.TxRefused + ns.TxUnreachable + ns.TxErrors + ns.TxBadAddr
		st.Shards = append(st.Shards, ShardStatus{ID: i, Sessions: rooms[i], Participants: parts[i], Counters: c})
		st.Totals = st.Totals.Add(c)
	}
	st.Totals.Removed = removed
	return st
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

// Members returns the participant ids of a session, in admission order.
func (m *Manager) Members(id string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %q", ErrSessionNotFound, id)
	}
	info := m.infoLocked(s)
	ids := make([]string, len(info.Participants))
	for i, p := range info.Participants {
		ids[i] = p.ID
	}
	return ids, nil
}

// SendControl builds a plaintext RTCP packet for one participant with build
// (given the participant's server SSRC and a scratch buffer), then encrypts
// and sends it on the owning shard. It reports whether it was sent (false:
// the participant has no latched address yet).
func (m *Manager) SendControl(ctx context.Context, sessionID, participantID string, build func(dst []byte, serverSSRC uint32) []byte) (bool, error) {
	m.mu.Lock()
	s, mr, err := m.memberLocked(sessionID, participantID)
	if err != nil {
		m.mu.Unlock()
		return false, err
	}
	e := m.engines[s.shard]
	m.mu.Unlock()
	sent := false
	err = e.shard.Do(ctx, func(_ int64, q *netio.SendQueue) {
		pt := e.parts[mr.ssrc]
		if pt == nil || pt.id != participantID {
			return
		}
		sent = e.sendRTCP(pt, build(e.rtcpBuf[:0], pt.serverSSRC), q)
	})
	return sent, err
}

// Janitor ends sessions created empty (PUT) that nobody joined within the
// join timeout. Call it periodically; voxd runs it every second.
func (m *Manager) Janitor() { m.janitor(netio.Now()) }

func (m *Manager) janitor(now int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.sessions {
		if !s.joined && len(s.members) == 0 && now-s.createdNs > int64(m.cfg.JoinTimeout) {
			s.deleted = true
			delete(m.sessions, id)
			m.shardRooms[s.shard]--
			m.expiredSessions++
		}
	}
}

// Close stops admitting for good. The UDP core is closed by its owner.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.noteStateLocked()
	m.mu.Unlock()
}

// SetMediaAddr changes the address and port that admissions from now on
// tell clients to send to (under Agones: the GameServer's status address
// and hostPort). An empty addr or a zero port leaves that part unchanged.
func (m *Manager) SetMediaAddr(addr string, port int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr != "" {
		m.cfg.PublicAddr = addr
	}
	if port > 0 && port <= 65535 {
		m.cfg.PublicPort = port
	}
}

func (m *Manager) mediaAddr() MediaAddr {
	m.mu.Lock()
	addr, port := m.cfg.PublicAddr, m.cfg.PublicPort
	m.mu.Unlock()
	local := m.srv.LocalAddr()
	if port == 0 {
		port = int(local.Port())
	}
	if addr == "" {
		a := local.Addr()
		if a.IsUnspecified() {
			a = netip.IPv4Unspecified()
		}
		addr = a.Unmap().String()
	}
	return MediaAddr{Address: addr, Port: port}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "p-" + hex.EncodeToString(b[:])
}
