package client

import (
	"maps"

	"github.com/voxfleet/vox/media"
)

// Speaker is what the server's roster says about one SSRC the participant
// receives (docs/protocol.md, "Who is talking"): the participant id (RTCP
// SDES CNAME) and display name (SDES NAME, empty if none) of a member, or,
// for the mixed stream's SSRC (its own server SSRC), Mix true.
type Speaker struct {
	ParticipantID string
	Name          string
	Mix           bool
}

// roster is the participant's view of the server's roster. p.rxMu guards
// it.
type roster struct {
	by   map[uint32]Speaker
	byes uint64
}

// rosterPrefixMix starts the CNAME of a mixed stream ("mix:" + session
// id; ':' is not in participant ids).
const rosterPrefixMix = "mix:"

// handleSDES records the chunks of an authenticated SDES packet from the
// current server. p.rxMu is not held.
func (p *Participant) handleSDES(pk media.RTCPPacket) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	if p.ros.by == nil {
		p.ros.by = make(map[uint32]Speaker)
	}
	for it := media.NewSDESIter(pk); it.Next(); {
		c := it.Chunk()
		if len(c.CNAME) == 0 {
			continue
		}
		cname := string(c.CNAME)
		s := Speaker{ParticipantID: cname, Name: string(c.Name)}
		if len(cname) > len(rosterPrefixMix) && cname[:len(rosterPrefixMix)] == rosterPrefixMix {
			s = Speaker{Mix: true, Name: string(c.Name)}
		}
		if old, ok := p.ros.by[c.SSRC]; !ok || old != s {
			p.ros.by[c.SSRC] = s
		}
	}
}

// handleRosterBye forgets the SSRCs of an authenticated BYE from the
// current server.
func (p *Participant) handleRosterBye(pk media.RTCPPacket) {
	bye, err := media.ParseBye(pk)
	if err != nil {
		return
	}
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	for i := range bye.Len() {
		delete(p.ros.by, bye.SSRC(i))
		p.ros.byes++
	}
}

// clearRoster forgets the roster (a move to another server: its SSRCs are
// new). p.rxMu is not held.
func (p *Participant) clearRoster() {
	p.rxMu.Lock()
	clear(p.ros.by)
	p.rxMu.Unlock()
}

// Speaker returns what the roster says about ssrc (a forwarded stream's
// SSRC, a CSRC of the mixed stream, or the mixed stream's own SSRC).
func (p *Participant) Speaker(ssrc uint32) (Speaker, bool) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	s, ok := p.ros.by[ssrc]
	return s, ok
}

// Roster returns a copy of the roster: every SSRC the server has named and
// not said BYE for, on the current server.
func (p *Participant) Roster() map[uint32]Speaker {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	return maps.Clone(p.ros.by)
}

// RosterByes returns how many SSRCs the server said BYE for.
func (p *Participant) RosterByes() uint64 {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	return p.ros.byes
}
