package sessionmgr

import (
	"encoding/binary"
	"errors"
	"math"
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
	name       string // display name ("": none), the roster's SDES NAME
	serial     uint64 // its booking's: tells this admission from a later one under the same id
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

	ros rosterState // who it has been told about (roster.go)
}

// room is one session's members on the shard.
type room struct {
	key     uint64 // the session record's key (a session id may be reused after it ends)
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
	// mixCNAME is the roster's CNAME of a mixed stream ("mix:" + id).
	mixCNAME string
}

func newRoom(key uint64, id string, maxSpeakers int) *room {
	return &room{key: key, id: id, mixCNAME: "mix:" + id, maxSpeakers: maxSpeakers, chans: map[string]uint16{mixer.GlobalChannel: 0},
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
// participants and rooms. Only its own goroutine touches them: every
// engine method runs on the shard goroutine only (the packet path, Tick,
// and the functions the Manager runs there through onShard).
type engine struct {
	cfg   engineConfig // fixed when the shard builds the engine
	shard *netio.Shard
	parts map[uint32]*participant // by SSRC
	rooms map[uint64]*room        // by session key
	// removed tells the Manager that a participant left the shard (every
	// removal of a committed admission, whatever its cause).
	removed func(ssrc uint32, serial uint64, reason string)

	rtcpBuf       []byte // scratch for plaintext RTCP the server builds
	nextHousekeep int64
	c             engineCounters
	penalties     penaltyTable // sources that failed authentication (probe.go)

	mixRooms []*room // the rooms with a Mixer
	mixBuf   []byte  // scratch for a mixed packet's plaintext
	// mixDue is the earliest mix room's next frame (0: a room started
	// since the last mixTick, due at once); mixPhases is mixStart's
	// scratch.
	mixDue    int64
	mixPhases []int64

	// Reconnect notices to send: whole sessions (by key), in order, paced.
	notify   noticeQueue
	notified []*participant // got a notice and may be due a repeat

	// The roster (roster.go): listeners due BYEs, and a mixed packet's
	// CSRC list.
	byes  []*participant
	csrcs [media.MaxCSRCs]uint32
}

// noticeQueue is a shard's paced list of sessions to notify.
type noticeQueue struct {
	sessions []uint64
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
	notRTP, rateLimit, withheld, noAddress, mixed           atomic.Uint64
	encryptErrors, rosterOut                                atomic.Uint64
	participants, rooms                                     atomic.Int64

	noticesSent, noticesRepeated, reconnectNotices atomic.Uint64
	reconnected, timedOut, atDeadline, unreachable atomic.Uint64
}

// engineConfig is an engine's configuration, fixed when its shard builds
// it (Manager.newEngine): nothing changes it afterwards, so the packet path
// reads it without synchronisation. Durations in nanoseconds of netio.Now.
type engineConfig struct {
	probeRate, probeBurst                    int
	joinTimeout, idleTimeout, reportInterval int64
	maxSpeakers                              int   // a room's default
	extID                                    uint8 // RFC 6464 audio level extension id
	maxPlain                                 int   // largest plaintext that still fits a datagram once re-encrypted
}

func newEngine(cfg engineConfig, sh *netio.Shard, removed func(ssrc uint32, serial uint64, reason string)) *engine {
	return &engine{
		cfg:     cfg,
		shard:   sh,
		removed: removed,
		parts:   make(map[uint32]*participant),
		rooms:   make(map[uint64]*room),
		rtcpBuf: make([]byte, 0, 512),
	}
}

// newParticipant makes an admitted participant's state with its SRTP
// contexts (on the caller's goroutine: it touches no shard state).
func newParticipant(id string, serial uint64, ssrc, serverSSRC uint32, profile media.Profile, keys media.SessionKeys) (*participant, error) {
	in, err := media.NewInbound(profile, keys.ClientToServer)
	if err != nil {
		return nil, err
	}
	out, err := media.NewOutbound(profile, keys.ServerToClient)
	if err != nil {
		return nil, err
	}
	return &participant{id: id, serial: serial, ssrc: ssrc, serverSSRC: serverSSRC, in: in, out: out}, nil
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
	if from != pt.addr && (e.penalties.penalized(now, from, ssrc) || !pt.probe(now, e.cfg.probeRate, e.cfg.probeBurst)) {
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

func (e *engine) countDecryptError(now int64, pt *participant, from netip.AddrPort, err error) {
	if from != pt.addr {
		// From an unlatched address: no more of pt's tokens for it for a while.
		e.penalties.failed(now, from, pt.ssrc)
	}
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
	if len(b) > e.cfg.maxPlain+maxSRTPOverhead {
		e.c.tooLong.Add(1)
		return 0
	}
	pt := e.lookup(now, binary.BigEndian.Uint32(b[8:12]), p.From)
	if pt == nil {
		return 0
	}
	plain, hdr, err := pt.in.DecryptRTP(b)
	if err != nil {
		e.countDecryptError(now, pt, p.From, err)
		return 0
	}
	e.authenticated(now, pt, p.From)
	pt.stats.Update(hdr.SequenceNumber, hdr.Timestamp, len(plain), now)
	level := -1
	if lvl, _, ok := media.AudioLevel(plain, hdr, e.cfg.extID); ok {
		pt.level = int16(lvl)
		level = int(lvl)
	}
	if len(plain) > e.cfg.maxPlain {
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
	var n, withheld, noAddr uint64
	for _, l := range r.members {
		if l == pt {
			continue
		}
		rw := l.rewriter(pt.idx)
		if l.mix.want {
			rw.Skip(seq) // it hears the mix instead
			continue
		}
		if !selected || !mixer.Hears(&l.mem, &pt.mem) {
			rw.Skip(seq) // policy: not selected, muted, other channel
			l.withheld++
			withheld++
			continue
		}
		if !l.addr.IsValid() {
			rw.Skip(seq) // the listener has not sent an authenticated packet yet
			noAddr++
			continue
		}
		out, ok := rw.Forward(seq)
		if !ok {
			continue
		}
		if !l.knows(pt) {
			e.announce(now, l, pt, q) // its first packet of pt's stream: say who it is
		}
		binary.BigEndian.PutUint16(plain[2:4], out)
		if e.sendRTP(l, plain, q) {
			n++
		}
	}
	if withheld != 0 {
		e.c.withheld.Add(withheld)
	}
	if noAddr != 0 {
		e.c.noAddress.Add(noAddr)
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
	if len(b) > e.cfg.maxPlain+maxSRTPOverhead {
		e.c.tooLong.Add(1)
		return
	}
	pt := e.lookup(now, binary.BigEndian.Uint32(b[4:8]), p.From)
	if pt == nil {
		return
	}
	plain, err := pt.in.DecryptRTCP(b)
	if err != nil {
		e.countDecryptError(now, pt, p.From, err)
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

// NextTick (netio.TickScheduler) tells the shard when Tick is next
// needed: at every netio tick while it sends reconnect notices or BYEs; at
// the next mix room's frame while it mixes (the shard ticks then, not at
// its next regular tick: a mixed frame is not held back by up to a tick);
// at the next housekeeping sweep (timeouts, receiver reports) while it has
// participants, else never (a datagram or a control message wakes the
// shard first). Shard goroutine only; no allocation.
func (e *engine) NextTick(now int64) int64 {
	if len(e.notify.sessions) > 0 || len(e.notified) > 0 || len(e.byes) > 0 {
		return now
	}
	if len(e.mixRooms) > 0 {
		return min(e.mixDue, e.nextHousekeep)
	}
	if len(e.parts) == 0 {
		return math.MaxInt64
	}
	return e.nextHousekeep
}

var _ netio.TickScheduler = (*engine)(nil)

// Tick runs the shard's timers: the mix rooms' 20 ms mixing ticks (when
// due), and timeouts and receiver reports, swept every housekeepEvery.
func (e *engine) Tick(now int64, q *netio.SendQueue) {
	if len(e.mixRooms) > 0 {
		e.mixTick(now, q)
	}
	if len(e.notify.sessions) > 0 || len(e.notified) > 0 {
		e.sendNotices(now, q)
	}
	if len(e.byes) > 0 {
		e.sendByes(q)
	}
	if now < e.nextHousekeep {
		return
	}
	e.nextHousekeep = now + int64(housekeepEvery)
	join, idle := e.cfg.joinTimeout, e.cfg.idleTimeout
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
			pt.nextReport = now + e.cfg.reportInterval
			e.sendReport(now, pt, q)
		}
		if pt.ros.next != 0 && now >= pt.ros.next && pt.addr.IsValid() {
			e.repeatRoster(now, pt, q)
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

// sendRTP encrypts plaintext RTP for listener l into the send queue and
// queues it to l's latched address (which the caller checked): the one
// per-listener send of forward and mix mode.
func (e *engine) sendRTP(l *participant, plain []byte, q *netio.SendQueue) bool {
	enc, err := l.out.EncryptRTP(q.Buffer()[:0], plain)
	if err != nil {
		e.c.encryptErrors.Add(1)
		return false
	}
	q.Send(enc, l.addr)
	l.packetsOut++
	l.bytesOut += uint64(len(enc))
	return true
}

// sendRTCP encrypts plaintext RTCP for pt and queues it.
func (e *engine) sendRTCP(pt *participant, plain []byte, q *netio.SendQueue) bool {
	if !pt.addr.IsValid() {
		return false
	}
	buf := q.Buffer()
	enc, err := pt.out.EncryptRTCP(buf[:0], plain)
	if err != nil {
		e.c.encryptErrors.Add(1)
		return false
	}
	q.Send(enc, pt.addr)
	e.c.rtcpOut.Add(1)
	return true
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
		NoAddress:       c.noAddress.Load(),
		EncryptErrors:   c.encryptErrors.Load(),
		Mixed:           c.mixed.Load(),
	}
}
