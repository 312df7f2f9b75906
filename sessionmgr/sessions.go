package sessionmgr

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
	"github.com/voxfleet/vox/netio"
)

// The session API: create, admit, remove, end and describe. Each call
// changes the books under the Manager's mutex, then runs its shard part on
// the owning shard (onShard) without holding the mutex.

// sessionOpts are SessionOptions with the defaults applied.
type sessionOpts struct {
	max          int
	profile      media.Profile
	speakers     int // as given: 0 means the pod default
	mix          bool
	emptyTimeout time.Duration
}

// resolveLocked applies defaults and limits to session options.
func (m *Manager) resolveLocked(opts SessionOptions) (sessionOpts, error) {
	if opts.Mix && !mixer.OpusAvailable {
		return sessionOpts{}, fmt.Errorf("%w: mix: %v", ErrInvalid, mixer.ErrNoOpus)
	}
	max := opts.MaxParticipants
	if max == 0 {
		max = m.cfg.Limits.MaxSessionParticipants
		if opts.Mix {
			max = min(max, mixer.MaxMixMembers)
		}
	}
	if opts.Mix && max > mixer.MaxMixMembers {
		return sessionOpts{}, fmt.Errorf("%w: max_participants %d: a mix session has at most %d", ErrInvalid, max, mixer.MaxMixMembers)
	}
	if max < 2 || max > m.cfg.Limits.MaxSessionParticipants {
		return sessionOpts{}, fmt.Errorf("%w: max_participants %d outside 2..%d", ErrInvalid, opts.MaxParticipants, m.cfg.Limits.MaxSessionParticipants)
	}
	if opts.MaxSpeakers < 0 || opts.MaxSpeakers > MaxMaxSpeakers {
		return sessionOpts{}, fmt.Errorf("%w: max_speakers %d outside 0..%d", ErrInvalid, opts.MaxSpeakers, MaxMaxSpeakers)
	}
	empty := durationOr(opts.EmptyTimeout, m.cfg.EmptyTimeout)
	if empty < MinEmptyTimeout || empty > MaxEmptyTimeout {
		return sessionOpts{}, fmt.Errorf("%w: empty_timeout %v outside %v..%v", ErrInvalid, empty, MinEmptyTimeout, MaxEmptyTimeout)
	}
	profile := m.cfg.DefaultProfile
	if opts.Profile != nil {
		if !opts.Profile.Valid() {
			return sessionOpts{}, fmt.Errorf("%w: SRTP profile", ErrInvalid)
		}
		profile = mediaProfile(*opts.Profile)
	}
	return sessionOpts{max: max, profile: profile, speakers: opts.MaxSpeakers, mix: opts.Mix, emptyTimeout: empty}, nil
}

// conflict reports (ErrSessionConflict) options that differ from the
// session's (max_speakers compared as in effect: 0 is the pod default). The
// empty timeout only matters to a PUT session.
func (s *sessionRec) conflict(o sessionOpts, defSpeakers int) error {
	eff := func(n int) int {
		if n == 0 {
			return defSpeakers
		}
		return n
	}
	if o.max != s.max || o.profile != s.profile || eff(o.speakers) != eff(s.speakers) || o.mix != s.mix {
		return fmt.Errorf("%w: %q has max_participants %d, profile %s, max_speakers %d, mix %t", ErrSessionConflict,
			s.id, s.max, s.profile, s.speakers, s.mix)
	}
	return nil
}

// PutSession creates session id with opts, or confirms it exists with the
// same options (created false). Existing with other options:
// ErrSessionConflict. A session made or confirmed by PUT stays until it is
// deleted or has been empty for its empty timeout.
func (m *Manager) PutSession(ctx context.Context, id string, opts SessionOptions) (SessionInfo, bool, error) {
	if err := m.ready(); err != nil {
		return SessionInfo{}, false, err
	}
	if !ValidID(id) {
		return SessionInfo{}, false, fmt.Errorf("%w: session id %q", ErrInvalid, id)
	}
	m.mu.Lock()
	o, err := m.resolveLocked(opts)
	if err != nil {
		m.mu.Unlock()
		return SessionInfo{}, false, err
	}
	created := false
	if s := m.sessions[id]; s != nil {
		if err := s.conflict(o, m.cfg.MaxSpeakers); err != nil {
			m.mu.Unlock()
			return SessionInfo{}, false, err
		}
		if s.explicit && opts.EmptyTimeout != 0 && o.emptyTimeout != s.emptyTimeout {
			m.mu.Unlock()
			return SessionInfo{}, false, fmt.Errorf("%w: %q has empty_timeout %v", ErrSessionConflict, id, s.emptyTimeout)
		}
		if !s.explicit {
			s.explicit, s.emptyTimeout = true, o.emptyTimeout
			if len(s.members) == 0 {
				s.emptySince = netio.Now()
			}
		}
	} else {
		if m.closed {
			m.mu.Unlock()
			return SessionInfo{}, false, ErrClosed
		}
		if _, err := m.createLocked(id, o, true); err != nil {
			m.mu.Unlock()
			return SessionInfo{}, false, err
		}
		created = true
	}
	m.mu.Unlock()
	info, err := m.Session(ctx, id)
	return info, created, err
}

// Admit admits a participant to session sessionID, creating the session if
// needed (with req.Session's options; for an existing session those, if
// given, must agree), and returns what the client needs to talk.
//
// The booking is pending until the shard commits it. If ctx ends first the
// booking is cancelled and nothing stays; if the shard committed it just
// before, the participant is removed (ReasonAdmissionCancelled): nobody
// got its keys.
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
	if req.DisplayName != "" && !api.ValidDisplayName(req.DisplayName) {
		return Admission{}, fmt.Errorf("%w: display name (1-%d bytes of UTF-8, no control characters)", ErrInvalid, api.MaxDisplayName)
	}
	if req.Profile != nil && !req.Profile.Valid() {
		return Admission{}, fmt.Errorf("%w: SRTP profile", ErrInvalid)
	}
	if req.Mix && !mixer.OpusAvailable {
		return Admission{}, fmt.Errorf("%w: mix: %v", ErrInvalid, mixer.ErrNoOpus)
	}

	m.mu.Lock()
	b, err := m.reserveLocked(sessionID, req)
	m.mu.Unlock()
	if err != nil {
		return Admission{}, err
	}

	keys, err := media.GenerateSessionKeys(b.profile)
	var pt *participant
	if err == nil {
		pt, err = newParticipant(b.id, b.serial, b.ssrc, b.serverSSRC, b.profile, keys)
	}
	if err == nil {
		pt.name = b.name
	}
	if err != nil {
		m.mu.Lock()
		m.cancelLocked(b)
		m.mu.Unlock()
		return Admission{}, err
	}
	s := b.s
	spec := s.spec()
	var addErr error
	committed := false
	err = m.onShard(ctx, s.shard, func(now int64, e *engine, _ *netio.SendQueue) {
		if addErr = e.admit(now, pt, spec, req.Mix); addErr != nil {
			return
		}
		m.mu.Lock()
		committed = b.state == bookPending
		if committed {
			b.state = bookLive
		}
		m.mu.Unlock()
		if !committed {
			e.undoAdmit(pt) // cancelled meanwhile: nothing stays
		}
	})
	if err == nil {
		// The shard function ran: its results are visible.
		switch {
		case addErr != nil:
			m.mu.Lock()
			m.cancelLocked(b)
			m.mu.Unlock()
			return Admission{}, addErr
		case !committed:
			return Admission{}, fmt.Errorf("%w: %q ended or the participant was removed during admission", ErrSessionNotFound, sessionID)
		}
		return Admission{
			SessionID:             s.id,
			ParticipantID:         b.id,
			SSRC:                  b.ssrc,
			ServerSSRC:            b.serverSSRC,
			Media:                 m.mediaAddr(),
			SRTP:                  apiKeys(keys),
			AudioLevelExtensionID: m.cfg.AudioLevelExtensionID,
			JoinTimeoutMS:         m.cfg.JoinTimeout.Milliseconds(),
			IdleTimeoutMS:         m.cfg.IdleTimeout.Milliseconds(),
		}, nil
	}
	// The caller gave up (or the shard could not be asked): cancel a
	// pending booking; remove one the shard committed meanwhile.
	m.mu.Lock()
	live := b.state == bookLive
	if live {
		m.leaveLocked(b, ReasonAdmissionCancelled)
	} else {
		m.cancelLocked(b)
	}
	m.mu.Unlock()
	if live {
		m.postShard(s.shard, func(_ int64, e *engine, _ *netio.SendQueue) {
			e.removeParticipant(b.ssrc, b.serial, ReasonAdmissionCancelled)
		})
	}
	return Admission{}, err
}

// RemoveParticipant removes a participant now. An admission still in
// flight is cancelled (it fails). The removal is in the books at once; the
// shard carries it out (if it cannot be asked now, the janitor asks again).
func (m *Manager) RemoveParticipant(ctx context.Context, sessionID, participantID string) error {
	if err := m.ready(); err != nil {
		return err
	}
	if !ValidID(sessionID) || !ValidID(participantID) {
		return fmt.Errorf("%w: id", ErrInvalid)
	}
	m.mu.Lock()
	s := m.sessions[sessionID]
	if s == nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrSessionNotFound, sessionID)
	}
	b := s.members[participantID]
	if b == nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q in %q", ErrParticipantNotFound, participantID, sessionID)
	}
	if b.state == bookPending {
		m.cancelLocked(b)
		m.mu.Unlock()
		return nil
	}
	m.leaveLocked(b, ReasonRemoved)
	m.mu.Unlock()
	err := m.onShard(ctx, s.shard, func(_ int64, e *engine, q *netio.SendQueue) {
		e.noticeAndRemove(b.ssrc, b.serial, ReasonRemoved, media.ReconnectRemoved, q)
	})
	if errors.Is(err, errNotPosted) && !errors.Is(err, netio.ErrClosed) {
		return nil // booked out; the janitor asks the shard again
	}
	return err
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
	onShard := m.endSessionLocked(s, ReasonSessionEnd)
	m.mu.Unlock()
	if !onShard {
		return nil
	}
	err := m.onShard(ctx, s.shard, func(_ int64, e *engine, q *netio.SendQueue) {
		e.noticeRoom(s.key, media.ReconnectSessionClosed, q)
		e.endRoom(s.key, ReasonSessionEnd)
	})
	if errors.Is(err, errNotPosted) && !errors.Is(err, netio.ErrClosed) {
		return nil // booked out; the janitor asks the shard again
	}
	return err
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
	q := m.infoQueryLocked(s)
	m.mu.Unlock()
	err := m.onShard(ctx, s.shard, func(now int64, e *engine, _ *netio.SendQueue) { e.fillInfo(now, q) })
	if err != nil {
		return SessionInfo{}, err
	}
	return q.result(), nil
}

// Sessions lists every session as Session describes it (members with their
// live statistics), sorted by id: one call on each shard.
func (m *Manager) Sessions(ctx context.Context) ([]SessionInfo, error) {
	if err := m.ready(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	perShard := make([][]*infoQuery, len(m.engines))
	n := 0
	for _, s := range m.sessions {
		perShard[s.shard] = append(perShard[s.shard], m.infoQueryLocked(s))
		n++
	}
	m.mu.Unlock()
	out := make([]SessionInfo, 0, n)
	for k, qs := range perShard {
		if len(qs) == 0 {
			continue
		}
		if err := m.onShard(ctx, k, func(now int64, e *engine, _ *netio.SendQueue) {
			for _, q := range qs {
				e.fillInfo(now, q)
			}
		}); err != nil {
			return nil, err
		}
		for _, q := range qs {
			out = append(out, q.result())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// infoQuery is a session's description being made: the books' part, then
// the shard's (fillInfo) for each live member.
type infoQuery struct {
	info    SessionInfo
	members []infoMember
}

type infoMember struct {
	ssrc   uint32
	serial uint64
	found  bool
	p      ParticipantInfo
}

func (m *Manager) infoQueryLocked(s *sessionRec) *infoQuery {
	speakers := s.speakers
	if speakers == 0 {
		speakers = m.cfg.MaxSpeakers
	}
	q := &infoQuery{info: SessionInfo{ID: s.id, CreatedAt: s.created, Shard: s.shard, MaxParticipants: s.max,
		MaxSpeakers: speakers, Mix: s.mix, Profile: apiProfile(s.profile)}}
	if s.explicit {
		q.info.EmptyTimeout = Duration(s.emptyTimeout)
	}
	for _, b := range s.liveMembers() {
		q.members = append(q.members, infoMember{ssrc: b.ssrc, serial: b.serial,
			p: ParticipantInfo{ID: b.id, DisplayName: b.name, SSRC: b.ssrc, Profile: apiProfile(b.profile), AdmittedAt: b.admittedAt}})
	}
	return q
}

// result is the description with the members the shard still had.
func (q *infoQuery) result() SessionInfo {
	info := q.info
	info.Participants = make([]ParticipantInfo, 0, len(q.members))
	for _, im := range q.members {
		if im.found {
			info.Participants = append(info.Participants, im.p)
		}
	}
	return info
}
