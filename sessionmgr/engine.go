package sessionmgr

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
	"github.com/voxfleet/vox/netio"
)

// housekeepEvery is how often a shard sweeps its participants for timeouts
// and due receiver reports.
const housekeepEvery = 100 * time.Millisecond

// participant is one client's state. It belongs to its shard's engine.
type participant struct {
	id         string
	ssrc       uint32
	serverSSRC uint32
	room       *room
	in         *media.Inbound
	out        *media.Outbound

	addr     netip.AddrPort // latched source; invalid until the first authenticated packet
	admitted int64          // netio.Now at admission
	lastAuth int64          // netio.Now of the last authenticated packet; 0 = none
	stats    media.ReceiveStats
	level    int16 // last RFC 6464 level, -1 = none yet

	// Forward-mode routing: mem.Mutes is muteSSRCs plus the SSRCs of the
	// room's members named in muteIDs (kept current by resolveMutes).
	mem       mixer.Member
	channel   string // "" = global
	muteIDs   []string
	muteSSRCs []uint32
	// idx is the participant's slot in its room; rw[i] rewrites the
	// sequence numbers of the stream of the member in slot i for this
	// listener.
	idx      int
	rw       []mixer.SeqRewriter
	withheld uint64 // packets of others withheld from it

	mix mixListener // mix mode: its Mixer member and mixed stream

	probeTokens float64 // budget for packets from unlatched addresses
	probeAt     int64   // when probeTokens was last refilled
	nextReport  int64

	packetsOut, bytesOut, rtcpIn, rebinds, authFailures, replays uint64

	// Reconnect notices: how many sent in all, of which the current
	// request's (noticeGen) copies, and when the next repeat is due.
	notices    int
	noticeGen  uint64
	genCopies  int
	nextNotice int64
	window     uint32 // ms, of the notices it got
}

// room is one session's members on the shard.
type room struct {
	id      string
	members []*participant

	maxSpeakers int
	// chans numbers the channels in use (0 is the global channel); sels
	// holds the speaker selection of each.
	chans map[string]uint16
	sels  []*mixer.Selector
	free  []int // member slots (participant.idx) to reuse
	slots int

	// Mix mode: the room's Mixer and when its next 20 ms tick is due (0:
	// at the shard's next Tick). mixAll: a mix session (every member
	// receives a mix, nothing is forwarded); otherwise a forward room has
	// a Mixer only while at least one member asked for a mix (mixers
	// counts them).
	mix     *mixer.Mixer
	nextMix int64
	mixAll  bool
	mixers  int
}

func newRoom(id string, maxSpeakers int) *room {
	return &room{id: id, maxSpeakers: maxSpeakers, chans: map[string]uint16{mixer.GlobalChannel: 0},
		sels: []*mixer.Selector{mixer.NewSelector(mixer.SelectorConfig{MaxSpeakers: maxSpeakers})}}
}

// channelID numbers a channel name ("" is the global channel).
func (r *room) channelID(name string) uint16 {
	if name == "" {
		name = mixer.GlobalChannel
	}
	id, ok := r.chans[name]
	if !ok {
		id = uint16(len(r.sels))
		r.chans[name] = id
		r.sels = append(r.sels, mixer.NewSelector(mixer.SelectorConfig{MaxSpeakers: r.maxSpeakers}))
	}
	return id
}

// engine is a shard's data plane (a netio.Handler): it owns the shard's
// participants and rooms. Only its own goroutine touches them.
type engine struct {
	m     *Manager
	shard *netio.Shard
	parts map[uint32]*participant // by SSRC
	rooms map[string]*room

	extID    uint8
	maxPlain int // largest plaintext that still fits a datagram once re-encrypted

	rtcpBuf       []byte // scratch for plaintext RTCP the server builds
	nextHousekeep int64
	c             engineCounters

	mixRooms []*room // the rooms with a Mixer
	mixBuf   []byte  // scratch for a mixed packet's plaintext

	// Reconnect notices to send: whole sessions, in order, paced.
	notify   noticeQueue
	notified []*participant // got a notice and may be due a repeat
}

// noticeQueue is a shard's paced list of sessions to notify.
type noticeQueue struct {
	sessions []string
	rate     float64 // first notices per second for this shard
	tokens   float64
	last     int64
	window   time.Duration
	drain    bool   // a drain's notices (else a reconnect request's)
	gen      uint64 // which request: a participant is notified once per request
}

// engineCounters are written by the engine's goroutine and read by anyone.
type engineCounters struct {
	forwarded, rtcpIn, rtcpOut, rebinds                     atomic.Uint64
	unknownSSRC, auth, replay, malformed, tooShort, tooLong atomic.Uint64
	notRTP, rateLimit, withheld, mixed                      atomic.Uint64
	participants, rooms                                     atomic.Int64

	noticesSent, noticesRepeated, reconnectNotices atomic.Uint64
	reconnected, timedOut, atDeadline, unreachable atomic.Uint64
}

func newEngine(m *Manager, sh *netio.Shard, maxDatagram int) *engine {
	return &engine{
		m:        m,
		shard:    sh,
		parts:    make(map[uint32]*participant),
		rooms:    make(map[string]*room),
		extID:    m.cfg.AudioLevelExtensionID,
		maxPlain: maxDatagram - maxSRTPOverhead,
		rtcpBuf:  make([]byte, 0, 512),
	}
}

// maxSRTPOverhead is the most any profile adds to a packet (SRTCP with GCM:
// 16-byte tag and 4-byte index).
const maxSRTPOverhead = 20

// HandleBatch runs the receive path for a batch (see the package comment).
func (e *engine) HandleBatch(now int64, pkts []netio.Packet, q *netio.SendQueue) {
	var forwarded uint64
	for i := range pkts {
		p := &pkts[i]
		switch media.Classify(p.Data) {
		case media.KindRTP:
			forwarded += e.rtp(now, p, q)
		case media.KindRTCP:
			e.rtcp(now, p, q)
		default:
			if len(p.Data) < 8 {
				e.c.tooShort.Add(1)
			} else {
				e.c.notRTP.Add(1)
			}
		}
	}
	if forwarded != 0 {
		e.c.forwarded.Add(forwarded)
	}
}

// lookup finds the participant of b's SSRC and decides whether the packet
// may be authenticated: always from the latched address; from elsewhere only
// within the participant's probe budget.
func (e *engine) lookup(now int64, ssrc uint32, from netip.AddrPort) *participant {
	pt := e.parts[ssrc]
	if pt == nil {
		e.c.unknownSSRC.Add(1)
		return nil
	}
	if from != pt.addr && !pt.probe(now, e.m.cfg.ProbeRate, e.m.cfg.ProbeBurst) {
		e.c.rateLimit.Add(1)
		return nil
	}
	return pt
}

// probe spends one token of the participant's budget for authenticating
// packets from an unlatched address, refilling at rate per second up to burst.
func (pt *participant) probe(now int64, rate, burst int) bool {
	pt.probeTokens += float64(now-pt.probeAt) * float64(rate) / float64(time.Second)
	pt.probeAt = now
	if pt.probeTokens > float64(burst) {
		pt.probeTokens = float64(burst)
	}
	if pt.probeTokens < 1 {
		return false
	}
	pt.probeTokens--
	return true
}

// authenticated runs after a packet of pt verified: latch, liveness.
func (e *engine) authenticated(now int64, pt *participant, from netip.AddrPort) {
	if from != pt.addr {
		if pt.addr.IsValid() {
			pt.rebinds++
			e.c.rebinds.Add(1)
		}
		pt.addr = from
	}
	pt.lastAuth = now
}

func (e *engine) countDecryptError(pt *participant, err error) {
	switch {
	case errors.Is(err, media.ErrReplayed):
		pt.replays++
		e.c.replay.Add(1)
	case errors.Is(err, media.ErrAuthFailed):
		pt.authFailures++
		e.c.auth.Add(1)
	case errors.Is(err, media.ErrTooShort):
		e.c.tooShort.Add(1)
	default:
		e.c.malformed.Add(1)
	}
}

// rtp handles one RTP packet and returns how many copies it forwarded.
func (e *engine) rtp(now int64, p *netio.Packet, q *netio.SendQueue) uint64 {
	b := p.Data
	if len(b) > e.maxPlain+maxSRTPOverhead {
		e.c.tooLong.Add(1)
		return 0
	}
	pt := e.lookup(now, binary.BigEndian.Uint32(b[8:12]), p.From)
	if pt == nil {
		return 0
	}
	plain, hdr, err := pt.in.DecryptRTP(b)
	if err != nil {
		e.countDecryptError(pt, err)
		return 0
	}
	e.authenticated(now, pt, p.From)
	pt.stats.Update(hdr.SequenceNumber, hdr.Timestamp, len(plain), now)
	level := -1
	if lvl, _, ok := media.AudioLevel(plain, hdr, e.extID); ok {
		pt.level = int16(lvl)
		level = int(lvl)
	}
	if len(plain) > e.maxPlain {
		e.c.tooLong.Add(1)
		return 0
	}
	r := pt.room
	if r.mix != nil {
		// Mix mode: the voice goes into the mix (not when muted by the
		// server); the shard's Tick sends each mix listener its mix. In a
		// forward room with mix listeners it is also forwarded.
		if !pt.mem.Muted && pt.mix.mm != nil {
			pt.mix.mm.Push(hdr.SequenceNumber, hdr.Timestamp, hdr.Payload(plain), now)
		}
		if r.mixAll {
			return 0
		}
	}
	// Forward mode: the speaker's channel selection decides whether it is
	// heard at all, routing (server mute, the listener's own mutes,
	// channels) whether each listener hears it. Every listener's view of
	// the stream keeps contiguous sequence numbers over what it is not
	// sent: the shared plaintext's sequence number is patched for each
	// copy before it is encrypted into the listener's buffer.
	selected := false
	if !pt.mem.Muted {
		sel := r.sels[pt.mem.Channel]
		sel.Observe(pt.ssrc, level, now)
		selected = sel.Selected(pt.ssrc)
	}
	seq := hdr.SequenceNumber
	var n, withheld uint64
	for _, l := range r.members {
		if l == pt {
			continue
		}
		rw := l.rewriter(pt.idx)
		if l.mix.want {
			rw.Skip(seq) // it hears the mix instead
			continue
		}
		if !selected || !l.addr.IsValid() || !mixer.Hears(&l.mem, &pt.mem) {
			rw.Skip(seq)
			l.withheld++
			withheld++
			continue
		}
		out, ok := rw.Forward(seq)
		if !ok {
			continue
		}
		binary.BigEndian.PutUint16(plain[2:4], out)
		buf := q.Buffer()
		enc, err := l.out.EncryptRTP(buf[:0], plain)
		if err != nil {
			e.c.malformed.Add(1)
			continue
		}
		q.Send(enc, l.addr)
		l.packetsOut++
		l.bytesOut += uint64(len(enc))
		n++
	}
	if withheld != 0 {
		e.c.withheld.Add(withheld)
	}
	return n
}

// rewriter is the listener's sequence rewriter for the stream of the
// member in slot idx (grown once per slot, then allocation-free).
func (l *participant) rewriter(idx int) *mixer.SeqRewriter {
	if idx >= len(l.rw) {
		l.rw = append(l.rw, make([]mixer.SeqRewriter, idx+1-len(l.rw))...)
	}
	return &l.rw[idx]
}

// rtcp handles one (compound) SRTCP packet from a client.
func (e *engine) rtcp(now int64, p *netio.Packet, q *netio.SendQueue) {
	b := p.Data
	if len(b) > e.maxPlain+maxSRTPOverhead {
		e.c.tooLong.Add(1)
		return
	}
	pt := e.lookup(now, binary.BigEndian.Uint32(b[4:8]), p.From)
	if pt == nil {
		return
	}
	plain, err := pt.in.DecryptRTCP(b)
	if err != nil {
		e.countDecryptError(pt, err)
		return
	}
	e.authenticated(now, pt, p.From)
	pt.rtcpIn++
	e.c.rtcpIn.Add(1)
	for it := media.NewRTCPIter(plain); it.Next(); {
		pkt := it.Packet()
		switch pkt.Type {
		case media.RTCPTypeSR:
			if sr, err := media.ParseSenderReport(pkt); err == nil {
				pt.stats.OnSenderReport(sr.NTPTime, now)
			}
		case media.RTCPTypeBYE:
			bye, err := media.ParseBye(pkt)
			if err != nil {
				continue
			}
			for i := range bye.Len() {
				if bye.SSRC(i) == pt.ssrc {
					e.remove(pt, ReasonBye)
					return
				}
			}
		}
	}
}

// Tick runs the shard's timers: the mix rooms' 20 ms mixing ticks (when
// due), and timeouts and receiver reports, swept every housekeepEvery.
func (e *engine) Tick(now int64, q *netio.SendQueue) {
	if len(e.mixRooms) > 0 {
		e.mixTick(now, q)
	}
	if len(e.notify.sessions) > 0 || len(e.notified) > 0 {
		e.sendNotices(now, q)
	}
	if now < e.nextHousekeep {
		return
	}
	e.nextHousekeep = now + int64(housekeepEvery)
	join, idle := int64(e.m.cfg.JoinTimeout), int64(e.m.cfg.IdleTimeout)
	for _, pt := range e.parts {
		switch {
		case pt.lastAuth == 0 && now-pt.admitted > join:
			e.remove(pt, ReasonJoinTimeout)
			continue
		case pt.lastAuth != 0 && now-pt.lastAuth > idle:
			e.remove(pt, ReasonIdle)
			continue
		}
		if pt.addr.IsValid() && pt.stats.Packets() > 0 && now >= pt.nextReport {
			pt.nextReport = now + int64(e.m.cfg.ReportInterval)
			e.sendReport(now, pt, q)
		}
	}
}

// sendReport sends pt an SRTCP receiver report about the stream it sends.
func (e *engine) sendReport(now int64, pt *participant, q *netio.SendQueue) {
	rb := pt.stats.ReportBlock(pt.ssrc, now)
	plain, err := media.AppendReceiverReport(e.rtcpBuf[:0], pt.serverSSRC, rb)
	if err != nil {
		return
	}
	e.sendRTCP(pt, plain, q)
}

// sendRTCP encrypts plaintext RTCP for pt and queues it.
func (e *engine) sendRTCP(pt *participant, plain []byte, q *netio.SendQueue) bool {
	if !pt.addr.IsValid() {
		return false
	}
	buf := q.Buffer()
	enc, err := pt.out.EncryptRTCP(buf[:0], plain)
	if err != nil {
		return false
	}
	q.Send(enc, pt.addr)
	e.c.rtcpOut.Add(1)
	return true
}

// add inserts an admitted participant (on the shard's goroutine). In a mix
// room it fails if the participant cannot join the Mixer (an empty room is
// then ended).
func (e *engine) add(pt *participant, sessionID string, now int64) error {
	r := e.room(sessionID, 0)
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
	pt.probeTokens = float64(e.m.cfg.ProbeBurst)
	pt.level = -1
	pt.nextReport = now + int64(e.m.cfg.ReportInterval)
	r.members = append(r.members, pt)
	e.parts[pt.ssrc] = pt
	e.c.participants.Add(1)
	for _, m := range r.members {
		m.resolveMutes()
	}
	return nil
}

// room returns session id's room, making it (with maxSpeakers, 0 meaning
// the pod default) if needed.
func (e *engine) room(id string, maxSpeakers int) *room {
	r := e.rooms[id]
	if r == nil {
		if maxSpeakers <= 0 {
			maxSpeakers = e.m.cfg.MaxSpeakers
		}
		r = newRoom(id, maxSpeakers)
		e.rooms[id] = r
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

// remove deletes pt from the shard and tells the Manager.
func (e *engine) remove(pt *participant, reason string) {
	if pt.notices > 0 {
		switch reason {
		case ReasonBye:
			e.c.reconnected.Add(1)
		case ReasonIdle:
			e.c.timedOut.Add(1)
		}
	}
	e.detach(pt)
	e.m.removed(pt.room.id, pt.id, reason)
}

// detach deletes pt from the shard's maps and its room (ending an empty room).
func (e *engine) detach(pt *participant) {
	if e.parts[pt.ssrc] != pt {
		return
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

func (e *engine) counters() Counters {
	c := &e.c
	return Counters{
		Forwarded:       c.forwarded.Load(),
		RTCPIn:          c.rtcpIn.Load(),
		RTCPOut:         c.rtcpOut.Load(),
		Rebinds:         c.rebinds.Load(),
		DropUnknownSSRC: c.unknownSSRC.Load(),
		DropAuth:        c.auth.Load(),
		DropReplay:      c.replay.Load(),
		DropMalformed:   c.malformed.Load(),
		DropTooShort:    c.tooShort.Load(),
		DropTooLong:     c.tooLong.Load(),
		DropNotRTP:      c.notRTP.Load(),
		DropRateLimit:   c.rateLimit.Load(),
		Withheld:        c.withheld.Load(),
		Mixed:           c.mixed.Load(),
	}
}

// startNotices queues reconnect notices for sessions (in order) at rate
// first notices per second (on the shard's goroutine). A new request
// replaces the queue of an older one.
func (e *engine) startNotices(now int64, sessions []string, rate float64, window time.Duration, drain bool) {
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
