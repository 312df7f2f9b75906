package sessionmgr

import (
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

// The roster: who is talking, in-band (docs/protocol.md, "Who is
// talking"). Each listener learns over SRTCP which participant every SSRC
// it receives belongs to:
//
//   - when a member's stream first reaches a listener (the first forwarded
//     packet, or the first mixed packet listing it as a CSRC), the server
//     sends that listener, before the RTP packet, a compound RR + SDES with
//     the member's chunk: CNAME = participant id, NAME = display name;
//   - every RosterRepeatEvery it repeats, to each listener, the chunks of
//     every member it has been told about (UDP loses packets; a client may
//     start listening late), packed into as few packets as fit;
//   - when a member leaves, each listener that had been told about it gets
//     an RR + BYE for its SSRC at the shard's next tick;
//   - a mix listener is told that its mixed stream's SSRC (its server SSRC)
//     is the mix (CNAME "mix:" + session id, NAME "mix"), and each mixed
//     packet's CSRC list names the members whose voice is in it.
//
// Everything is built in the engine's preallocated rtcpBuf and sent through
// the shard's send queue: no allocation per packet (a listener's known
// slice grows once per room slot, as its sequence rewriters do). Bounded per
// listener: one announcement per member it starts to receive, one BYE per
// member that leaves, and at most ceil(members/rosterChunksPerPacket)
// packets per RosterRepeatEvery.

// RosterRepeatEvery is how often a listener's roster is repeated.
const RosterRepeatEvery = 5 * time.Second

// rosterBudget is the most plaintext bytes of one roster packet (below the
// default --max-datagram once SRTCP's index and tag are added; a smaller
// --max-datagram lowers it).
const rosterBudget = 1000

// rosterState is a listener's view of the roster, on its shard.
type rosterState struct {
	// known[i] is 1 + the serial of the member in room slot i that this
	// listener has been told about (0: none).
	known    []uint64
	count    int  // non-zero entries of known
	mixNamed bool // its mixed stream's SSRC was named
	// byes are the SSRCs of members it knew that left, to say BYE for at
	// the next tick (at most media.MaxSDESChunks; beyond, the repeat
	// simply stops naming them).
	byes []uint32
	next int64 // netio.Now of the next repeat
}

// knows reports whether l has been told about m.
func (l *participant) knows(m *participant) bool {
	return m.idx < len(l.ros.known) && l.ros.known[m.idx] == m.serial+1
}

// markKnown records that l has been told about m.
func (l *participant) markKnown(m *participant, now int64) {
	if m.idx >= len(l.ros.known) {
		l.ros.known = append(l.ros.known, make([]uint64, m.idx+1-len(l.ros.known))...)
	}
	if l.ros.known[m.idx] == 0 {
		l.ros.count++
	}
	l.ros.known[m.idx] = m.serial + 1
	if l.ros.next == 0 {
		l.ros.next = now + int64(RosterRepeatEvery)
	}
}

// rosterBegin starts a roster packet for l in the engine's rtcpBuf: an
// empty RR from l's server SSRC (so that the compound starts with a report
// and its SRTCP index is that of the server's other RTCP to l), then an
// SDES header. It returns the buffer and the SDES packet's offset.
func (e *engine) rosterBegin(l *participant) ([]byte, int) {
	b, _ := media.AppendReceiverReport(e.rtcpBuf[:0], l.serverSSRC)
	return media.BeginSDES(b)
}

// announce tells listener l who m is (its stream is about to reach l for
// the first time) and records it.
func (e *engine) announce(now int64, l, m *participant, q *netio.SendQueue) {
	b, start := e.rosterBegin(l)
	b = media.AppendSDESChunk(b, m.ssrc, m.id, m.name)
	b = media.EndSDES(b, start, 1)
	if e.sendRTCP(l, b, q) {
		e.c.rosterOut.Add(1)
	}
	l.markKnown(m, now)
}

// announceMix tells mix listener l that its mixed stream (its server
// SSRC) is the mix.
func (e *engine) announceMix(now int64, l *participant, q *netio.SendQueue) {
	b, start := e.rosterBegin(l)
	b = media.AppendSDESChunk(b, l.serverSSRC, l.room.mixCNAME, mixName)
	b = media.EndSDES(b, start, 1)
	if e.sendRTCP(l, b, q) {
		e.c.rosterOut.Add(1)
	}
	l.ros.mixNamed = true
	if l.ros.next == 0 {
		l.ros.next = now + int64(RosterRepeatEvery)
	}
}

// mixName is the SDES NAME of a mixed stream.
const mixName = "mix"

// repeatRoster sends l the chunks of every member it has been told about
// (and of its mix), as few packets as fit. Housekeeping only.
func (e *engine) repeatRoster(now int64, l *participant, q *netio.SendQueue) {
	l.ros.next = now + int64(RosterRepeatEvery)
	if l.ros.count == 0 && !l.ros.mixNamed {
		return
	}
	budget := min(rosterBudget, e.cfg.maxPlain) // a small --max-datagram too
	b, start := e.rosterBegin(l)
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		b = media.EndSDES(b, start, n)
		if e.sendRTCP(l, b, q) {
			e.c.rosterOut.Add(1)
		}
		b, start = e.rosterBegin(l)
		n = 0
	}
	add := func(ssrc uint32, cname, name string) {
		if n == media.MaxSDESChunks || len(b)+media.SDESChunkSize(cname, name) > budget {
			flush()
		}
		b = media.AppendSDESChunk(b, ssrc, cname, name)
		n++
	}
	if l.ros.mixNamed && l.mix.mm != nil && l.mix.mm.Listening() {
		add(l.serverSSRC, l.room.mixCNAME, mixName)
	}
	for _, m := range l.room.members {
		if m != l && l.knows(m) {
			add(m.ssrc, m.id, m.name)
		}
	}
	flush()
}

// rosterLeave runs when pt leaves room r (detach): every member that had
// been told about pt is due a BYE for its SSRC.
func (e *engine) rosterLeave(r *room, pt *participant) {
	for _, m := range r.members {
		if !m.knows(pt) {
			continue
		}
		m.ros.known[pt.idx] = 0
		m.ros.count--
		if len(m.ros.byes) == media.MaxSDESChunks {
			continue
		}
		if len(m.ros.byes) == 0 {
			e.byes = append(e.byes, m)
		}
		m.ros.byes = append(m.ros.byes, pt.ssrc)
	}
}

// sendByes sends every listener due BYEs an RR + BYE for them (Tick).
func (e *engine) sendByes(q *netio.SendQueue) {
	for i, l := range e.byes {
		e.byes[i] = nil
		if e.parts[l.ssrc] != l || len(l.ros.byes) == 0 {
			continue // left meanwhile
		}
		b, _ := media.AppendReceiverReport(e.rtcpBuf[:0], l.serverSSRC)
		b, err := media.AppendBye(b, l.ros.byes...)
		l.ros.byes = l.ros.byes[:0]
		if err == nil && e.sendRTCP(l, b, q) {
			e.c.rosterOut.Add(1)
		}
	}
	e.byes = e.byes[:0]
}

// mixCSRCs fills e.csrcs with the SSRCs of the members of r whose voice is
// in listener l's mix of this tick (the talkers other than l, at most
// media.MaxCSRCs), announcing to l each one it has not been told about.
func (e *engine) mixCSRCs(now int64, r *room, l *participant, q *netio.SendQueue) []uint32 {
	if !l.ros.mixNamed {
		e.announceMix(now, l, q)
	}
	cs := e.csrcs[:0]
	for _, m := range r.members {
		if m == l || m.mix.mm == nil || !m.mix.mm.Talking() {
			continue
		}
		if len(cs) == media.MaxCSRCs {
			break
		}
		if !l.knows(m) {
			e.announce(now, l, m, q)
		}
		cs = append(cs, m.ssrc)
	}
	return cs
}

// noticeAndRemove sends the participant of an admission one reconnect
// notice with reason (no window: it is not asked to come back soon) and
// removes it (DELETE .../participants/{pid}: reason removed). One copy
// only: the participant is gone at once, so nothing repeats it.
func (e *engine) noticeAndRemove(ssrc uint32, serial uint64, reasonName string, reason media.ReconnectReason, q *netio.SendQueue) {
	pt := e.participant(ssrc, serial)
	if pt == nil {
		return
	}
	if pt.addr.IsValid() {
		e.sendNotice(pt, reason, 0, q)
	}
	e.remove(pt, reasonName)
}

// noticeRoom sends every member of the session with key one reconnect
// notice with reason and no window (DELETE /v1/sessions/{id}: session
// closed), before the room ends.
func (e *engine) noticeRoom(key uint64, reason media.ReconnectReason, q *netio.SendQueue) {
	r := e.rooms[key]
	if r == nil {
		return
	}
	for _, pt := range r.members {
		if pt.addr.IsValid() {
			e.sendNotice(pt, reason, 0, q)
		}
	}
}
