package sessionmgr

import (
	"context"
	"fmt"
	"slices"

	"github.com/voxfleet/vox/mixer"
	"github.com/voxfleet/vox/netio"
)

// Forward-mode controls: server mutes, a listener's own mute list, and
// channels. Each runs on the session's shard; the participant must be in
// the session (an admission still in flight is not found).

// MaxMutes bounds a listener's own mute list (participants plus SSRCs).
const MaxMutes = 256

// SetMuted mutes (or unmutes) a participant on the server: nobody hears it.
func (m *Manager) SetMuted(ctx context.Context, sessionID, participantID string, muted bool) error {
	return m.onParticipant(ctx, sessionID, participantID, func(pt *participant) {
		pt.setMuted(muted)
	})
}

// SetMutes replaces a listener's own mute list: it stops hearing the
// participants named (also when they join later) and the SSRCs listed.
func (m *Manager) SetMutes(ctx context.Context, sessionID, participantID string, mutes MuteList) error {
	if len(mutes.Participants)+len(mutes.SSRCs) > MaxMutes {
		return fmt.Errorf("%w: more than %d mutes", ErrInvalid, MaxMutes)
	}
	for _, id := range mutes.Participants {
		if !ValidID(id) {
			return fmt.Errorf("%w: participant id %q", ErrInvalid, id)
		}
	}
	ids := slices.Clone(mutes.Participants)
	ssrcs := slices.Clone(mutes.SSRCs)
	return m.onParticipant(ctx, sessionID, participantID, func(pt *participant) {
		pt.muteIDs, pt.muteSSRCs = ids, ssrcs
		pt.resolveMutes()
	})
}

// SetChannel puts a participant in a channel ("" or "global": the global
// channel). See mixer.Hears for who hears whom.
func (m *Manager) SetChannel(ctx context.Context, sessionID, participantID, channel string) error {
	if channel != "" && !ValidID(channel) {
		return fmt.Errorf("%w: channel %q (1-64 of [A-Za-z0-9._-])", ErrInvalid, channel)
	}
	return m.onParticipant(ctx, sessionID, participantID, func(pt *participant) {
		if pt.channel != channel && !(channel == mixer.GlobalChannel && pt.channel == "") {
			pt.setChannel(channel)
		}
	})
}

// SetMix turns a participant's own mixed stream on or off in a forward
// session (see AdmitRequest.Mix): while on, it receives one mixed stream
// of the other members (not those muted by the server) with its server
// SSRC instead of their forwarded streams, and its own mute list and
// channel do not apply to what it hears. The others are unaffected. A
// no-op in a mix session. Without -tags opus: ErrInvalid.
func (m *Manager) SetMix(ctx context.Context, sessionID, participantID string, on bool) error {
	if on && !mixer.OpusAvailable {
		return fmt.Errorf("%w: mix: %v", ErrInvalid, mixer.ErrNoOpus)
	}
	var err error
	if e := m.onEngine(ctx, sessionID, participantID, func(now int64, e *engine, pt *participant) {
		err = e.setMix(now, pt, on)
	}); e != nil {
		return e
	}
	return err
}

// onParticipant runs f on the participant's shard.
func (m *Manager) onParticipant(ctx context.Context, sessionID, participantID string, f func(pt *participant)) error {
	return m.onEngine(ctx, sessionID, participantID, func(_ int64, _ *engine, pt *participant) { f(pt) })
}

// onEngine runs f on the participant's shard with the shard's engine and
// the participant (a live admission: one in flight is not found).
func (m *Manager) onEngine(ctx context.Context, sessionID, participantID string, f func(now int64, e *engine, pt *participant)) error {
	if err := m.ready(); err != nil {
		return err
	}
	m.mu.Lock()
	s, b, err := m.memberLocked(sessionID, participantID)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	found := false
	err = m.onShard(ctx, s.shard, func(now int64, e *engine, _ *netio.SendQueue) {
		if pt := e.participant(b.ssrc, b.serial); pt != nil {
			found = true
			f(now, e, pt)
		}
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: %q in %q", ErrParticipantNotFound, participantID, sessionID)
	}
	return err
}

// routing reports pt's forward-mode state (on the shard's goroutine).
func (pt *participant) routing(p *ParticipantInfo) {
	p.Muted = pt.mem.Muted
	p.Channel = pt.channel
	if p.Channel == "" {
		p.Channel = mixer.GlobalChannel
	}
	p.Mutes = MuteList{Participants: slices.Clone(pt.muteIDs), SSRCs: slices.Clone(pt.muteSSRCs)}
	if p.Mutes.Participants == nil {
		p.Mutes.Participants = []string{}
	}
	if p.Mutes.SSRCs == nil {
		p.Mutes.SSRCs = []uint32{}
	}
	p.Selected = !pt.mem.Muted && pt.room.sels[pt.mem.Channel].Selected(pt.ssrc)
	if pt.room.mixAll && pt.mix.mm != nil {
		p.Selected = pt.mix.mm.Talking() // in the last 20 ms mix
	}
	p.Mix = pt.room.mixAll || pt.mix.want
}
