package sessionmgr

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

// The Manager's books: sessions and the bookings of their members, all
// guarded by Manager.mu. Every admission is a booking with a state:
//
//	reserve ─▶ pending ──(its shard commits it)──────────▶ live ──(the control plane removes it)──▶ leaving
//	              │                                          │                                         │
//	              └─(the caller gives up, the session ends)─▶ cancelled (unbooked at once)            │
//	                                                         └──(its shard removes it: removed)──────┴─▶ unbooked
//
// The state changes only under Manager.mu. The shard commits a booking
// only while it is pending (else it undoes its insertion in the same shard
// function, so nothing stays), and the caller cancels only a pending one.
// A booking's SSRC stays taken, and counted, until its shard says the
// participant is gone (removed, keyed by the SSRC and the booking's serial),
// so an SSRC is never given out while a participant still uses it, and a
// late removal can never unbook a newer admission under the same id.

// bookingState is where an admission stands.
type bookingState uint8

const (
	bookPending   bookingState = iota // reserved; its shard has not committed it
	bookLive                          // on its shard
	bookLeaving                       // removed by the control plane; its shard has not confirmed yet
	bookCancelled                     // given up before its shard committed it; unbooked
)

func (s bookingState) String() string {
	return [...]string{"pending", "live", "leaving", "cancelled"}[s]
}

// booking is one admission in the books.
type booking struct {
	s          *sessionRec
	id         string
	serial     uint64 // unique per booking; the shard's participant carries it
	ssrc       uint32
	serverSSRC uint32
	name       string // display name ("" none)
	profile    media.Profile
	admittedAt time.Time
	state      bookingState
	// leaving: why, and when the shard was last asked to remove it (the
	// janitor asks again if it could not be asked, or did not do it).
	reason  string
	askedAt int64
}

// sessionRec is a session in the books.
type sessionRec struct {
	id        string
	key       uint64 // unique per session record: names its room on the shard
	created   time.Time
	createdNs int64
	shard     int
	max       int
	profile   media.Profile
	speakers  int  // max_speakers as given (0: the pod default)
	mix       bool // mix mode
	// explicit: created (or confirmed) by PUT; it then stays while empty
	// for emptyTimeout (since emptySince), else it ends with its last member.
	explicit     bool
	emptyTimeout time.Duration
	emptySince   int64
	members      map[string]*booking // pending and live, by participant id
	ended        bool
}

// liveMembers returns the session's live bookings in admission order.
func (s *sessionRec) liveMembers() []*booking {
	out := make([]*booking, 0, len(s.members))
	for _, b := range s.members {
		if b.state == bookLive {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].serial < out[j].serial })
	return out
}

// spec is what the shard needs to make the session's room.
func (s *sessionRec) spec() roomSpec {
	return roomSpec{key: s.key, id: s.id, maxSpeakers: s.speakers, mix: s.mix}
}

// createLocked makes a new session on the least loaded shard.
func (m *Manager) createLocked(id string, o sessionOpts, explicit bool) (*sessionRec, error) {
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
	m.nextKey++
	now := netio.Now()
	s := &sessionRec{id: id, key: m.nextKey, created: m.cfg.Now(), createdNs: now, shard: shard, max: o.max,
		profile: o.profile, speakers: o.speakers, mix: o.mix, explicit: explicit, emptyTimeout: o.emptyTimeout,
		emptySince: now, members: make(map[string]*booking)}
	m.sessions[id] = s
	m.shardRooms[shard]++
	m.noteStateLocked()
	return s, nil
}

// reserveLocked books a participant in session sessionID (made if needed):
// every limit is checked and the booking made under one lock, so parallel
// admissions never overshoot.
func (m *Manager) reserveLocked(sessionID string, req AdmitRequest) (*booking, error) {
	if m.closed {
		return nil, ErrClosed
	}
	var want *sessionOpts
	if req.Session != nil {
		o, err := m.resolveLocked(*req.Session)
		if err != nil {
			return nil, err
		}
		want = &o
	}
	s := m.sessions[sessionID]
	if s == nil {
		o := sessionOpts{}
		if want != nil {
			o = *want
		} else {
			var err error
			if o, err = m.resolveLocked(SessionOptions{}); err != nil {
				return nil, err
			}
		}
		var err error
		if s, err = m.createLocked(sessionID, o, false); err != nil {
			return nil, err
		}
	} else {
		if want != nil {
			if err := s.conflict(*want, m.cfg.MaxSpeakers); err != nil {
				return nil, err
			}
		}
		if err := m.admitCheckLocked(false); err != nil {
			return nil, err
		}
	}
	if len(s.members) >= s.max {
		m.endIfEmptyLocked(s)
		return nil, fmt.Errorf("%w: %q has %d participants", ErrSessionFull, sessionID, s.max)
	}
	id := req.ParticipantID
	if id == "" {
		id = randomID()
	}
	if _, dup := s.members[id]; dup {
		return nil, fmt.Errorf("%w: %q in %q", ErrParticipantExists, id, sessionID)
	}
	profile := s.profile
	if req.Profile != nil {
		profile = mediaProfile(*req.Profile)
	}
	m.nextKey++
	b := &booking{s: s, id: id, serial: m.nextKey, name: req.DisplayName, profile: profile, admittedAt: m.cfg.Now(),
		ssrc:       m.newSSRCLocked(s.shard),
		serverSSRC: m.newSSRCLocked(-1)}
	s.members[id] = b
	m.bySSRC[b.ssrc] = b
	m.participants++
	m.shardParts[s.shard]++
	m.noteStateLocked()
	return b, nil
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

// cancelLocked gives up a pending booking: it is unbooked at once (its
// shard function, if it runs, finds it cancelled and undoes its insertion).
func (m *Manager) cancelLocked(b *booking) {
	if b.state != bookPending {
		return
	}
	b.state = bookCancelled
	m.forgetMemberLocked(b)
	m.unbookLocked(b)
}

// leaveLocked marks a live booking removed by the control plane: its id is
// free in the session at once; its SSRC and its count stay until the shard
// confirms (removed).
func (m *Manager) leaveLocked(b *booking, reason string) {
	if b.state != bookLive {
		return
	}
	b.state = bookLeaving
	b.reason = reason
	b.askedAt = netio.Now()
	m.forgetMemberLocked(b)
}

// forgetMemberLocked takes b out of its session's members; a session left
// with none ends (or, made by PUT, starts its empty timeout).
func (m *Manager) forgetMemberLocked(b *booking) {
	s := b.s
	if s.members[b.id] != b {
		return
	}
	delete(s.members, b.id)
	m.endIfEmptyLocked(s)
}

// endIfEmptyLocked ends a session left without members, unless it was made
// by PUT: that one starts counting its empty timeout (the janitor ends it).
func (m *Manager) endIfEmptyLocked(s *sessionRec) {
	if len(s.members) > 0 || s.ended {
		return
	}
	if s.explicit {
		s.emptySince = netio.Now()
		return
	}
	m.endSessionLocked(s, ReasonSessionEnd)
}

// unbookLocked frees a booking's SSRCs and count (the participant is not,
// or no longer, on its shard).
func (m *Manager) unbookLocked(b *booking) {
	if m.bySSRC[b.ssrc] != b {
		return
	}
	delete(m.bySSRC, b.ssrc)
	delete(m.ssrcs, b.ssrc)
	delete(m.ssrcs, b.serverSSRC)
	m.participants--
	m.shardParts[b.s.shard]--
	m.noteStateLocked()
}

// endSessionLocked is the one place a session ends: its pending admissions
// are cancelled, its live members marked leaving (reason), and it leaves
// the books (its id is free at once). It reports whether the shard has
// members to remove (endRoom).
func (m *Manager) endSessionLocked(s *sessionRec, reason string) bool {
	if s.ended {
		return false
	}
	s.ended = true
	onShard := false
	for _, b := range s.members {
		switch b.state {
		case bookPending:
			b.state = bookCancelled
			m.unbookLocked(b)
		case bookLive:
			b.state = bookLeaving
			b.reason = reason
			b.askedAt = netio.Now()
			onShard = true
		}
	}
	s.members = map[string]*booking{}
	if m.sessions[s.id] == s {
		delete(m.sessions, s.id)
		m.shardRooms[s.shard]--
	}
	m.noteStateLocked()
	return onShard
}

// removed is the engines' removal callback (on the shard's goroutine): the
// participant with ssrc and serial has left its shard, for reason. Only the
// booking of that admission is unbooked.
func (m *Manager) removed(ssrc uint32, serial uint64, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removedBy[reason]++
	b := m.bySSRC[ssrc]
	if b == nil || b.serial != serial {
		return
	}
	m.forgetMemberLocked(b)
	m.unbookLocked(b)
}

// memberLocked finds a participant's live booking: ErrSessionNotFound or
// ErrParticipantNotFound when there is none (an admission in flight is
// not found).
func (m *Manager) memberLocked(sessionID, participantID string) (*sessionRec, *booking, error) {
	if !ValidID(sessionID) || !ValidID(participantID) {
		return nil, nil, fmt.Errorf("%w: id", ErrInvalid)
	}
	s := m.sessions[sessionID]
	if s == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrSessionNotFound, sessionID)
	}
	b := s.members[participantID]
	if b == nil || b.state != bookLive {
		return nil, nil, fmt.Errorf("%w: %q in %q", ErrParticipantNotFound, participantID, sessionID)
	}
	return s, b, nil
}

// Janitor ends sessions made by PUT that have been empty for their empty
// timeout, and asks shards again to remove participants whose removal
// could not be queued. Call it periodically; voxd runs it every second.
func (m *Manager) Janitor() { m.janitor(netio.Now()) }

// janitorRetry is how long a removal may stay unconfirmed before the
// janitor asks the shard again.
const janitorRetry = int64(time.Second)

func (m *Manager) janitor(now int64) {
	type retry struct {
		shard  int
		ssrc   uint32
		serial uint64
		reason string
	}
	var retries []retry
	m.mu.Lock()
	for _, s := range m.sessions {
		if s.explicit && len(s.members) == 0 && now-s.emptySince > int64(s.emptyTimeout) {
			m.endSessionLocked(s, ReasonSessionEnd)
			m.expiredSessions++
		}
	}
	for _, b := range m.bySSRC {
		if b.state == bookLeaving && now-b.askedAt > janitorRetry {
			b.askedAt = now
			retries = append(retries, retry{shard: b.s.shard, ssrc: b.ssrc, serial: b.serial, reason: b.reason})
		}
	}
	m.mu.Unlock()
	for _, r := range retries {
		m.postShard(r.shard, func(_ int64, e *engine, _ *netio.SendQueue) {
			e.removeParticipant(r.ssrc, r.serial, r.reason)
		})
	}
}
