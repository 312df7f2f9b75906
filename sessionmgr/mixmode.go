package sessionmgr

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
	"github.com/voxfleet/vox/netio"
)

// Mix mode on the engine (docs/architecture.md, "Mix mode in the engine"):
// a mix session's room owns a mixer.Mixer and each participant a
// MixMember. The receive path pushes each authenticated, decrypted Opus
// payload into the sender's member instead of forwarding it; the shard's
// Tick runs every mix room's Mixer once per 20 ms frame and sends each
// listener its Output as one SRTP packet of its own stream (its
// ServerSSRC, PT 111).

// mixFrame is the mixer's tick: one 20 ms Opus frame.
const mixFrame = int64(20 * time.Millisecond)

// mixMaxLag is how far a room's next tick may fall behind the shard's
// clock before the schedule restarts from now (a stalled shard does not
// run a burst of ticks to catch up beyond it).
const mixMaxLag = 3 * mixFrame

// MixPayloadType is the RTP payload type of the mixed stream (Opus, as the
// clients send it).
const MixPayloadType = 111

// mixListener is a participant's mix-mode state: its member of the room's
// Mixer and the RTP numbering of the mixed stream it receives.
type mixListener struct {
	mm   *mixer.MixMember
	want bool   // in a forward room: it asked for a mix (and gets no forwarded streams)
	off  int64  // in a forward room: when its mix was last turned off (0: never on)
	seq  uint16 // of the next packet sent
	ts   uint32 // of the next tick, sent or not
	gap  bool   // the last tick sent nothing: the next packet gets the marker
}

// join returns the room of spec's session, making it if needed (with a
// Mixer for a mix session).
func (e *engine) join(spec roomSpec) (*room, error) {
	if r := e.rooms[spec.key]; r != nil || !spec.mix {
		return e.room(spec), nil
	}
	mx, err := mixer.NewMixer(mixer.MixOptions{})
	if err != nil {
		return nil, err
	}
	r := e.room(spec)
	r.mixAll = true
	e.startMix(r, mx)
	return r, nil
}

// startMix gives r the Mixer mx and ticks it.
func (e *engine) startMix(r *room, mx *mixer.Mixer) {
	r.mix = mx
	r.nextMix = 0
	e.mixDue = 0
	e.mixRooms = append(e.mixRooms, r)
	if e.mixBuf == nil {
		e.mixBuf = make([]byte, 0, media.RTPHeaderSize+4*media.MaxCSRCs+mixer.MaxOpusPacket)
	}
}

// setMix turns pt's own mix on or off in a forward room (a no-op in a mix
// session, where everybody gets one). The room's Mixer is made, with every
// member as an input, by the first member asking for a mix, and closed
// when the last one stops; only mix listeners' mixes are encoded. A mix
// listener's own mute list and channel do not apply to its mix (it hears
// every other member who is not server-muted).
// While the mix is off its stream's timestamp does not advance; turning it
// back on adds the time it was off, so the timestamp keeps the real gap.
func (e *engine) setMix(now int64, pt *participant, on bool) error {
	r := pt.room
	if r.mixAll || pt.mix.want == on {
		return nil
	}
	if !on {
		pt.mix.want = false
		pt.mix.off = now
		r.mixers--
		if pt.mix.mm != nil {
			pt.mix.mm.SetListening(false)
		}
		if r.mixers == 0 {
			e.closeMix(r)
		}
		return nil
	}
	if r.mix == nil {
		mx, err := mixer.NewMixer(mixer.MixOptions{})
		if err != nil {
			return err
		}
		e.startMix(r, mx)
		for _, m := range r.members {
			_ = m.addMix(r) // beyond a full Mixer: forwarded, not mixed
		}
	}
	if pt.mix.mm == nil {
		if r.mixers == 0 {
			e.closeMix(r)
		}
		return fmt.Errorf("%w: mix: the session's mixer is full (%d members)", ErrInvalid, mixer.MaxMixMembers)
	}
	pt.mix.mm.SetListening(true)
	if pt.mix.off != 0 {
		pt.mix.ts += uint32((now - pt.mix.off) / mixFrame * mixer.FrameSamples)
	}
	pt.mix.want = true
	pt.mix.gap = true
	r.mixers++
	return nil
}

// addMix makes pt a member of its mix room's Mixer.
func (pt *participant) addMix(r *room) error {
	mm, err := r.mix.Add(pt.ssrc)
	if err != nil {
		return err
	}
	if !r.mixAll && !pt.mix.want {
		mm.SetListening(false)
	}
	if pt.mix.seq == 0 && pt.mix.ts == 0 {
		pt.mix.seq, pt.mix.ts = uint16(rand.Uint32()), rand.Uint32()
	}
	pt.mix.mm, pt.mix.gap = mm, true
	return nil
}

// dropRoom ends an empty room, freeing its Mixer.
func (e *engine) dropRoom(r *room) {
	if e.rooms[r.key] != r {
		return
	}
	delete(e.rooms, r.key)
	e.c.rooms.Add(-1)
	if r.mix != nil {
		e.closeMix(r)
	}
}

// closeMix frees r's Mixer and stops ticking it.
func (e *engine) closeMix(r *room) {
	for _, m := range r.members {
		m.mix.mm = nil
	}
	r.mix.Close()
	r.mix = nil
	for i, x := range e.mixRooms {
		if x == r {
			last := len(e.mixRooms) - 1
			e.mixRooms[i] = e.mixRooms[last]
			e.mixRooms[last] = nil
			e.mixRooms = e.mixRooms[:last]
			break
		}
	}
}

// mixTick runs the mix rooms whose frame is due (called from Tick: at
// least every netio tick, and when NextTick's mixDue comes) and notes the
// next frame due. It does not allocate.
func (e *engine) mixTick(now int64, q *netio.SendQueue) {
	due := int64(math.MaxInt64)
	for _, r := range e.mixRooms {
		if r.nextMix == 0 {
			r.nextMix = e.mixStart(now)
		}
		if now >= r.nextMix {
			r.nextMix += mixFrame
			if now-r.nextMix > mixMaxLag {
				r.nextMix = now + mixFrame
			}
			e.mixRoom(now, r, q)
		}
		due = min(due, r.nextMix)
	}
	e.mixDue = due
}

// mixStart returns a new mix room's first frame: at the middle of the
// widest gap between the other mix rooms' frames on the 20 ms circle, so
// that rooms, e.g. a burst of them started together, do not mix in the
// same instant, each waiting for the others' decodes and encodes, but
// evenly apart; with no other room, now. It does not allocate (a scratch
// slice of the engine's).
func (e *engine) mixStart(now int64) int64 {
	ph := e.mixPhases[:0]
	for _, r := range e.mixRooms {
		if r.nextMix != 0 {
			ph = append(ph, r.nextMix%mixFrame)
		}
	}
	e.mixPhases = ph
	if len(ph) == 0 {
		return now
	}
	slices.Sort(ph)
	// The widest gap, the one wrapping round the circle included.
	best, at := ph[0]+mixFrame-ph[len(ph)-1], ph[len(ph)-1]
	for i := 1; i < len(ph); i++ {
		if g := ph[i] - ph[i-1]; g > best {
			best, at = g, ph[i-1]
		}
	}
	phase := (at + best/2) % mixFrame
	return now + ((phase-now%mixFrame)%mixFrame+mixFrame)%mixFrame
}

// mixRoom runs one tick of r's Mixer and sends each listener its output:
// sequence +1 per packet sent, timestamp +FrameSamples per tick (so a
// silence shows as a timestamp jump, not as loss), marker on the first
// packet after a tick without one.
func (e *engine) mixRoom(now int64, r *room, q *netio.SendQueue) {
	r.mix.Tick()
	var n uint64
	for _, l := range r.members {
		ml := &l.mix
		if ml.mm == nil || !ml.mm.Listening() {
			continue
		}
		out := ml.mm.Output()
		ts := ml.ts
		ml.ts += mixer.FrameSamples
		if out == nil || !l.addr.IsValid() {
			ml.gap = true
			continue
		}
		// The CSRC list names whose voice is in it (roster.go).
		plain := media.AppendRTPHeaderCSRC(e.mixBuf[:0], media.RTPFields{Marker: ml.gap, PayloadType: MixPayloadType,
			SequenceNumber: ml.seq, Timestamp: ts, SSRC: l.serverSSRC}, e.mixCSRCs(now, r, l, q))
		plain = append(plain, out...)
		if len(plain) > e.cfg.maxPlain {
			e.c.tooLong.Add(1)
			ml.gap = true
			continue
		}
		ml.seq++
		ml.gap = false
		if e.sendRTP(l, plain, q) {
			n++
		}
	}
	if n != 0 {
		e.c.mixed.Add(n)
	}
}
