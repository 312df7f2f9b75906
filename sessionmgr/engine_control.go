package sessionmgr

import (
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
	"github.com/voxfleet/vox/netio"
)

// The engine's control side: what the Manager runs on the shard (through
// Manager.onShard) and what the shard decides itself (removals, notices).
// Shard goroutine only, like every engine method.

// roomSpec is what a shard needs to make a session's room.
type roomSpec struct {
	key         uint64 // the session record's key
	id          string
	maxSpeakers int // 0: the pod default
	mix         bool
}

// admit inserts an admitted participant into its session's room (made if
// needed) and, when wantMix, turns its own mix on. On failure nothing of it
// stays (an empty room it made is ended).
func (e *engine) admit(now int64, pt *participant, spec roomSpec, wantMix bool) error {
	r, err := e.join(spec)
	if err != nil {
		return err
	}
	if err := e.add(pt, r, now); err != nil {
		if len(r.members) == 0 {
			e.dropRoom(r)
		}
		return err
	}
	if wantMix {
		if err := e.setMix(now, pt, true); err != nil {
			e.detach(pt)
			return err
		}
	}
	return nil
}

// undoAdmit takes back an insertion whose admission was cancelled before
// it was committed: the Manager is not told (the booking is already gone).
func (e *engine) undoAdmit(pt *participant) { e.detach(pt) }

// participant returns the participant of an admission (ssrc and serial),
// nil if it is not on the shard.
func (e *engine) participant(ssrc uint32, serial uint64) *participant {
	if pt := e.parts[ssrc]; pt != nil && pt.serial == serial {
		return pt
	}
	return nil
}

// removeParticipant removes the participant of an admission (ssrc and
// serial) if it is still on the shard, telling the Manager.
func (e *engine) removeParticipant(ssrc uint32, serial uint64, reason string) {
	if pt := e.participant(ssrc, serial); pt != nil {
		e.remove(pt, reason)
	}
}

// endRoom removes every member of the session with key, telling the
// Manager of each (the room ends with its last member).
func (e *engine) endRoom(key uint64, reason string) {
	r := e.rooms[key]
	if r == nil {
		return
	}
	for _, pt := range append([]*participant(nil), r.members...) {
		e.remove(pt, reason)
	}
}

// fillInfo completes a session description with the live state of each
// member still on the shard.
func (e *engine) fillInfo(now int64, q *infoQuery) {
	for i := range q.members {
		im := &q.members[i]
		pt := e.participant(im.ssrc, im.serial)
		if pt == nil {
			continue
		}
		im.found = true
		im.p.Address, im.p.Stats = pt.info(now)
		pt.routing(&im.p)
	}
}

// sendControl encrypts and sends one server-built RTCP packet to the
// participant of an admission: found false if it is not on the shard,
// sent false if it has no latched address yet.
func (e *engine) sendControl(ssrc uint32, serial uint64, build func(dst []byte, serverSSRC uint32) []byte, q *netio.SendQueue) (found, sent bool) {
	pt := e.participant(ssrc, serial)
	if pt == nil {
		return false, false
	}
	return true, e.sendRTCP(pt, build(e.rtcpBuf[:0], pt.serverSSRC), q)
}

// removeAllAtDeadline removes every participant (a drain's deadline), each
// after a last notice with reason shutdown and no window. It returns how
// many.
func (e *engine) removeAllAtDeadline(q *netio.SendQueue) int {
	n := 0
	for _, pt := range e.parts {
		if pt.addr.IsValid() {
			e.sendNotice(pt, media.ReconnectShutdown, 0, q)
		}
		e.c.atDeadline.Add(1)
		e.remove(pt, ReasonDrainDeadline)
		n++
	}
	return n
}

// add inserts an admitted participant into room r. In a mix room it fails
// if the participant cannot join the Mixer (an empty room is then ended).
func (e *engine) add(pt *participant, r *room, now int64) error {
	if r.mix != nil {
		if err := pt.addMix(r); err != nil && r.mixAll {
			if len(r.members) == 0 {
				e.dropRoom(r)
			}
			return err
		}
		// In a forward room a member the Mixer cannot take (full) is
		// forwarded as usual but not in the mixes.
	}
	pt.room = r
	pt.mem.SSRC = pt.ssrc
	pt.mem.Channel = r.channelID(pt.channel)
	if n := len(r.free); n > 0 {
		pt.idx = r.free[n-1]
		r.free = r.free[:n-1]
	} else {
		pt.idx = r.slots
		r.slots++
	}
	pt.admitted = now
	pt.probeAt = now
	pt.probeTokens = float64(e.cfg.probeBurst)
	pt.level = -1
	pt.nextReport = now + e.cfg.reportInterval
	r.members = append(r.members, pt)
	e.parts[pt.ssrc] = pt
	e.c.participants.Add(1)
	for _, m := range r.members {
		m.resolveMutes()
	}
	return nil
}

// room returns the room of spec's session, making it (with its
// maxSpeakers, 0 meaning the pod default) if needed.
func (e *engine) room(spec roomSpec) *room {
	r := e.rooms[spec.key]
	if r == nil {
		maxSpeakers := spec.maxSpeakers
		if maxSpeakers <= 0 {
			maxSpeakers = e.cfg.maxSpeakers
		}
		r = newRoom(spec.key, spec.id, maxSpeakers)
		e.rooms[spec.key] = r
		e.c.rooms.Add(1)
	}
	return r
}

// resolveMutes recomputes l's mute list: its SSRCs, and those of the
// members it muted by id.
func (l *participant) resolveMutes() {
	l.mem.Mutes = append(l.mem.Mutes[:0], l.muteSSRCs...)
	if len(l.muteIDs) == 0 {
		return
	}
	for _, m := range l.room.members {
		for _, id := range l.muteIDs {
			if m.id == id {
				l.mem.Mutes = append(l.mem.Mutes, m.ssrc)
			}
		}
	}
}

// setChannel moves pt to a channel ("" or "global": the global one).
func (pt *participant) setChannel(name string) {
	if name == mixer.GlobalChannel {
		name = ""
	}
	r := pt.room
	r.sels[pt.mem.Channel].Remove(pt.ssrc)
	pt.channel = name
	pt.mem.Channel = r.channelID(name)
}

// setMuted mutes or unmutes pt for everybody.
func (pt *participant) setMuted(muted bool) {
	if muted {
		pt.room.sels[pt.mem.Channel].Remove(pt.ssrc)
	}
	pt.mem.Muted = muted
}

// remove deletes pt from the shard and tells the Manager (removed).
func (e *engine) remove(pt *participant, reason string) {
	if pt.notices > 0 {
		switch reason {
		case ReasonBye:
			e.c.reconnected.Add(1)
		case ReasonIdle:
			e.c.timedOut.Add(1)
		}
	}
	if e.detach(pt) {
		e.removed(pt.ssrc, pt.serial, reason)
	}
}

// detach deletes pt from the shard's maps and its room (ending an empty
// room); false if pt was not on the shard.
func (e *engine) detach(pt *participant) bool {
	if e.parts[pt.ssrc] != pt {
		return false
	}
	delete(e.parts, pt.ssrc)
	e.c.participants.Add(-1)
	r := pt.room
	for i, m := range r.members {
		if m == pt {
			r.members = append(r.members[:i], r.members[i+1:]...)
			break
		}
	}
	e.rosterLeave(r, pt)
	r.sels[pt.mem.Channel].Remove(pt.ssrc)
	if pt.mix.mm != nil {
		r.mix.Remove(pt.mix.mm)
		pt.mix.mm = nil
	}
	if pt.mix.want {
		pt.mix.want = false
		r.mixers--
		if r.mixers == 0 && !r.mixAll && len(r.members) > 0 {
			e.closeMix(r)
		}
	}
	for _, m := range r.members {
		if pt.idx < len(m.rw) {
			m.rw[pt.idx].Reset()
		}
		m.resolveMutes()
	}
	r.free = append(r.free, pt.idx)
	if len(r.members) == 0 {
		e.dropRoom(r)
	}
	return true
}

// info reports pt for the API (on the shard's goroutine).
func (pt *participant) info(now int64) (addr string, st StreamStats) {
	if pt.addr.IsValid() {
		addr = pt.addr.String()
	}
	st = StreamStats{
		PacketsIn:       pt.stats.Packets(),
		BytesIn:         pt.stats.Bytes(),
		RTCPIn:          pt.rtcpIn,
		PacketsOut:      pt.packetsOut,
		BytesOut:        pt.bytesOut,
		Lost:            pt.stats.CumulativeLost(),
		LossRatio:       pt.stats.LossRatio(),
		JitterMS:        float64(pt.stats.Jitter()) * 1000 / media.DefaultClockRate,
		Rebinds:         pt.rebinds,
		AuthFailures:    pt.authFailures,
		Replays:         pt.replays,
		Withheld:        pt.withheld,
		AudioLevel:      int(pt.level),
		LastPacketAgoMS: -1,
	}
	if pt.lastAuth != 0 {
		st.LastPacketAgoMS = (now - pt.lastAuth) / int64(time.Millisecond)
	}
	return addr, st
}

// startNotices queues reconnect notices for sessions (in order) at rate
// first notices per second (on the shard's goroutine). A new request
// replaces the queue of an older one.
func (e *engine) startNotices(now int64, sessions []uint64, rate float64, window time.Duration, drain bool) {
	e.notify = noticeQueue{sessions: sessions, rate: rate, tokens: 1, last: now, window: window, drain: drain,
		gen: e.notify.gen + 1}
}

// sendNotices sends what the token bucket allows of the queued sessions,
// one whole session at a time (the bucket may go negative to pay for the
// group: the average rate holds, and no burst exceeds one session), then
// the repeats that are due.
func (e *engine) sendNotices(now int64, q *netio.SendQueue) {
	n := &e.notify
	if len(n.sessions) > 0 {
		n.tokens += float64(now-n.last) * n.rate / float64(time.Second)
		n.last = now
		if n.tokens > 1 {
			n.tokens = 1
		}
		for n.tokens > 0 && len(n.sessions) > 0 {
			r := e.rooms[n.sessions[0]]
			n.sessions = n.sessions[1:]
			if r == nil { // ended meanwhile
				continue
			}
			for _, pt := range r.members {
				if pt.noticeGen == n.gen {
					continue // notified by this request already
				}
				if !e.sendNotice(pt, media.ReconnectDrain, n.window, q) {
					e.c.unreachable.Add(1)
					continue
				}
				n.tokens--
				if pt.noticeGen == 0 || pt.genCopies > NoticeRepeats {
					e.notified = append(e.notified, pt) // not already in the repeat list
				}
				pt.noticeGen, pt.genCopies = n.gen, 1
				pt.nextNotice = now + int64(NoticeRepeatEvery)
				if n.drain {
					e.c.noticesSent.Add(1)
				} else {
					e.c.reconnectNotices.Add(1)
				}
			}
		}
		if len(n.sessions) == 0 {
			n.sessions = nil
		}
	}
	// Repeats, until the participant leaves (UDP loses packets).
	kept := e.notified[:0]
	for _, pt := range e.notified {
		if e.parts[pt.ssrc] != pt || pt.genCopies > NoticeRepeats {
			continue // gone, or done repeating
		}
		if now >= pt.nextNotice {
			e.sendNotice(pt, media.ReconnectDrain, time.Duration(pt.window)*time.Millisecond, q)
			pt.genCopies++
			pt.nextNotice = now + int64(NoticeRepeatEvery)
			e.c.noticesRepeated.Add(1)
		}
		kept = append(kept, pt)
	}
	clear(e.notified[len(kept):])
	e.notified = kept
}

// sendNotice sends pt one VOX1 reconnect notice; false when pt has no
// address yet.
func (e *engine) sendNotice(pt *participant, reason media.ReconnectReason, window time.Duration, q *netio.SendQueue) bool {
	pt.window = uint32(window / time.Millisecond)
	plain := media.AppendReconnectNotice(e.rtcpBuf[:0], media.ReconnectNotice{SSRC: pt.serverSSRC, Reason: reason, WindowMS: pt.window})
	if !e.sendRTCP(pt, plain, q) {
		return false
	}
	pt.notices++
	return true
}
