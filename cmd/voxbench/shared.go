package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

// The shared transport (--transport gso) carries many participants on a
// few sockets, which vox allows because it identifies a participant by its
// SSRC and keys, never by its address. Socket k carries participant k of
// every session, so an arriving packet names its listener by the pair
// (socket, sender SSRC): the sender's session has exactly one member at
// position k. One goroutine paces every talker and RTCP report (talkers
// spread evenly over the 20 ms frame, sent when due, not in bursts per
// frame) and hands the packets due at once to the kernel as one UDP GSO
// message per (socket, server shard). One goroutine receives: every
// --rx-poll it drains every socket with recvmmsg (UDP GRO on), then
// authenticates, decrypts and checks; the arrival time of each datagram is
// the kernel's receive timestamp (SO_TIMESTAMPNS), so polling does not
// add to the latency measured. With --rx-poll 0 (and off Linux) one
// goroutine per socket blocks in recvmmsg instead and stamps arrivals
// when it wakes.
//
// A GSO message is steered to a server shard by its first datagram (the
// kernel picks the SO_REUSEPORT socket once for the whole message), so
// packets are grouped by the shard their SSRC steers to (netio.ShardOf,
// the server's shard count from /v1/status). All segments of a GSO
// message but the last must have the same size: every talker's frame n has
// the same size (each talker's sizes still vary from frame to frame, as
// steadyConfig.frameSize says), and a batch is flushed early when the size
// changes, which happens at most once per batch.

const (
	// gsoMaxSegments is the most datagrams in one GSO message (the
	// kernel's UDP_MAX_SEGMENTS is 64 on older kernels).
	gsoMaxSegments = 64
	// readBatch is the most datagrams per recvmmsg.
	readBatch = 32
	// groBufSize fits the largest coalesced message UDP GRO may deliver.
	groBufSize = 65535
	// maxSharedParticipants bounds a --transport gso run.
	maxSharedParticipants = 100000
)

// sharedMember is one participant's state in the shared transport.
type sharedMember struct {
	ssrc  uint32
	extID uint8
	out   *media.Outbound // owned by the sender goroutine
	in    *media.Inbound  // owned by its socket's receiver goroutine
	seq   uint16
	ts    uint32
}

// sendGroup is the batch of packets for one (socket, server shard).
type sendGroup struct {
	sock *sharedSocket
	buf  []byte
	seg  int   // size of every segment in buf
	n    int   // segments in buf
	who  []int // talker global index of each segment
}

// sharedSocket is one of the transport's sockets (position k of every
// session).
type sharedSocket struct {
	pos  int // position of its participants in their sessions
	conn sharedConn
	gso  *gsoConn
	rd   *batchReader
	// Receiver-side counters, owned by the receiver goroutine until it
	// ends.
	rtcp, undecryptable, unknown uint64
	truncated                    uint64
	groSegments                  uint64 // datagrams that arrived coalesced
}

// sharedConn is one of the transport's connected sockets: a *net.UDPConn,
// or on Linux with polled receivers a socket outside the netpoller
// (dialShared).
type sharedConn interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	Close() error
	SyscallConn() (syscall.RawConn, error)
}

// shared is the transport in use by one run.
type shared struct {
	b       *bench
	members []sharedMember
	socks   []*sharedSocket
	bySSRC  map[uint32]int // participant SSRC -> global index
	byServ  map[uint32]int // server SSRC -> global index
	shards  int
	segOver int // bytes of a datagram besides the payload
	maxSeg  int
	wg      sync.WaitGroup
	// gsoOff is set when the kernel refused GSO: one datagram per write.
	gsoOff bool
	// writes counts send system calls for RTP (a failed one costs its
	// segments, counted as the talkers' send errors); rtcpErrs failed
	// RTCP reports (sender goroutine only).
	writes, rtcpErrs uint64
	stop             chan struct{} // ends pollAll
	closed           bool
}

// newShared opens size sockets towards the server and prepares every
// participant's SRTP contexts from its admission.
func newShared(b *bench, adms []api.Admission, shards int) (*shared, error) {
	c := b.c
	if len(adms) == 0 {
		return nil, errors.New("no participants")
	}
	prof, err := client.MediaProfile(adms[0].SRTP.Profile)
	if err != nil {
		return nil, err
	}
	t := &shared{b: b, members: make([]sharedMember, len(adms)), bySSRC: make(map[uint32]int, len(adms)),
		byServ: make(map[uint32]int, len(adms)), shards: max(shards, 1)}
	t.segOver = 12 + 8 + prof.RTPOverhead()          // header, audio level extension, tag
	t.maxSeg = t.segOver + max(hdrLen, c.payload+10) // the largest frame
	if c.mix {
		t.maxSeg = t.segOver + maxMixFrame()
	}
	raddr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(adms[0].Media.Address, fmt.Sprint(adms[0].Media.Port)))
	if err != nil {
		return nil, fmt.Errorf("media address: %w", err)
	}
	for g, adm := range adms {
		if adm.SRTP.Profile != adms[0].SRTP.Profile || adm.Media != adms[0].Media {
			return nil, errors.New("--transport gso needs one SRTP profile and one media address for the whole run")
		}
		out, in, err := client.SRTPContexts(adm.SRTP)
		if err != nil {
			return nil, err
		}
		t.members[g] = sharedMember{ssrc: adm.SSRC, extID: adm.AudioLevelExtensionID,
			out: out, in: in, seq: uint16(g * 7919), ts: uint32(g) * 104729}
		t.bySSRC[adm.SSRC] = g
		t.byServ[adm.ServerSSRC] = g
	}
	for range c.size {
		conn, err := dialShared(raddr, c.rxPoll > 0 && gsoAvailable)
		if err != nil {
			t.close()
			return nil, err
		}
		s := &sharedSocket{pos: len(t.socks), conn: conn}
		s.gso = newGSOConn(conn)
		s.rd = newBatchReader(conn, readBatch, groBufSize)
		t.socks = append(t.socks, s)
	}
	return t, nil
}

// drops sums the datagrams the kernel dropped at the transport's
// receive queues (the generator not keeping up); ok is false if unknown.
func (t *shared) drops() (n uint64, ok bool) {
	ok = true
	for _, s := range t.socks {
		d, k := socketDrops(s.conn)
		n += d
		ok = ok && k
	}
	return n, ok
}

// sockOf returns the socket of participant g.
func (t *shared) sockOf(g int) *sharedSocket { return t.socks[g%t.b.c.size] }

// start runs the receivers and latches every participant's address with
// one RTCP report.
func (t *shared) start() error {
	if t.b.c.rxPoll > 0 && gsoAvailable {
		t.stop = make(chan struct{})
		t.wg.Add(1)
		go func() { defer t.wg.Done(); t.pollAll(t.b.c.rxPoll) }()
	} else {
		for _, s := range t.socks {
			t.wg.Add(1)
			go func() { defer t.wg.Done(); t.receive(s) }()
		}
	}
	buf := make([]byte, 0, 256)
	for g := range t.members {
		if err := t.sendRTCP(g, buf); err != nil {
			return fmt.Errorf("latching %s: %w", t.b.rx[g].id, err)
		}
	}
	return nil
}

// sendRTCP sends participant g an empty receiver report (SRTCP). Only the
// sender goroutine (or start, before it runs) calls it.
func (t *shared) sendRTCP(g int, buf []byte) error {
	m := &t.members[g]
	rr, err := media.AppendReceiverReport(buf[:0], m.ssrc)
	if err != nil {
		return err
	}
	pkt, err := m.out.EncryptRTCP(rr[:0:cap(buf)], rr)
	if err != nil {
		return err
	}
	_, err = t.sockOf(g).conn.Write(pkt)
	return err
}

// close stops the receivers (after a last drain) and closes the sockets.
func (t *shared) close() {
	if t.closed {
		return
	}
	t.closed = true
	if t.stop != nil {
		close(t.stop)
		t.wg.Wait()
	}
	for _, s := range t.socks {
		s.conn.Close()
	}
	t.wg.Wait()
}

// run is the sender: every talker's frames on schedule from t0 (talker k
// of nT offset by k/nT of the interval), every participant's RTCP report
// each --rtcp-interval, until wEnd or ctx ends.
func (t *shared) run(ctx context.Context, talkers []int, t0, wStart, wEnd time.Duration) {
	b, c := t.b, t.b.c
	groups := make([]*sendGroup, len(t.socks)*t.shards)
	for i := range groups {
		groups[i] = &sendGroup{sock: t.socks[i/t.shards], buf: make([]byte, gsoMaxSegments*t.maxSeg), who: make([]int, gsoMaxSegments)}
	}
	payload := make([]byte, max(hdrLen, c.payload+10))
	for i := range payload {
		payload[i] = byte(i * 31)
	}
	payload[0], payload[1] = 'V', 'B'
	rtcpBuf := make([]byte, 0, 256)
	nT := len(talkers)
	n := len(t.members)
	var (
		frame   uint32 // frame of the next talker due
		k       int    // next talker due, index in talkers
		rtcpSeq int    // reports sent so far (participant rtcpSeq % n next)
	)
	due := func(frame uint32, k int) time.Duration {
		return t0 + time.Duration(frame)*c.interval + c.interval*time.Duration(k)/time.Duration(nT)
	}
	rtcpDue := func(i int) time.Duration {
		return t0 + time.Duration(i/n)*c.rtcpInterval + c.rtcpInterval*time.Duration(i%n)/time.Duration(n)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// The sender's waits are short (~50 µs between frames): the Go
	// runtime's timers resolve them to about a millisecond when nothing
	// else wakes the process (its netpoller sleeps in epoll_wait with a
	// millisecond timeout), which would send in 1 ms bursts instead of
	// smoothly. The sender keeps a thread of its own and sleeps in
	// nanosleep with a small timer slack instead (preciseSleep).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setTimerSlack(preciseSlack)
	waitUntil(ctx, b.epoch, t0)
	for ctx.Err() == nil {
		now := time.Since(b.epoch)
		if now >= wEnd {
			break
		}
		// Frames due by now, at most one round of every talker per pass
		// so that RTCP and the flush are never starved.
		for sent := 0; sent < nT; sent++ {
			d := due(frame, k)
			if c.interval > 0 && d > now {
				break
			}
			if d >= wEnd {
				break
			}
			t.frame(groups, talkers[k], frame, payload, d, wStart, wEnd)
			if k++; k == nT {
				k, frame = 0, frame+1
			}
		}
		t.flush(groups)
		if c.rtcpInterval > 0 {
			for rtcpDue(rtcpSeq) <= now {
				if t.sendRTCP(rtcpSeq%n, rtcpBuf) != nil {
					t.rtcpErrs++
				}
				rtcpSeq++
			}
		}
		if c.interval == 0 {
			continue
		}
		next := due(frame, k)
		if c.rtcpInterval > 0 {
			next = min(next, rtcpDue(rtcpSeq))
		}
		// --send-tick: send what is due at most this often (coarser
		// batches, burstier arrivals at the server).
		next = max(next, now+c.sendTick)
		if d := next - time.Since(b.epoch); d > 0 {
			if d <= preciseWaitMax {
				preciseSleep(d)
				continue
			}
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
	}
	t.flush(groups)
}

// frame builds talker g's next frame, stamped now, into its group's batch
// (flushing the batch when full).
func (t *shared) frame(groups []*sendGroup, g int, frame uint32, payload []byte, due, wStart, wEnd time.Duration) {
	b := t.b
	m := &t.members[g]
	tk := b.tx[g]
	grp := groups[(g%b.c.size)*t.shards+netio.ShardOf(m.ssrc, t.shards)]
	size := t.segOver + b.c.frameSize(frame)
	var opus []byte
	if b.c.mix {
		opus = mixFrame(frame)
		size = t.segOver + len(opus)
	}
	if grp.n > 0 && grp.seg != size {
		t.flushGroup(grp)
	}
	grp.seg = size
	off := grp.n * size
	seg := grp.buf[off : off : off+size]
	f := media.RTPFields{PayloadType: 111, SequenceNumber: m.seq, Timestamp: m.ts, SSRC: m.ssrc}
	seg, err := media.AppendRTPHeaderWithAudioLevel(seg, f, m.extID, 20, true)
	if err != nil {
		tk.sendErrors++
		return
	}
	hdr := len(seg)
	now := time.Since(b.epoch)
	if opus != nil {
		seg = append(seg, opus...)
	} else {
		seg = append(seg, payload[:size-t.segOver]...)
		p := seg[hdr:]
		binary.BigEndian.PutUint32(p[2:], uint32(g))
		binary.BigEndian.PutUint32(p[6:], frame)
		binary.BigEndian.PutUint64(p[10:], uint64(now))
	}
	pkt, err := m.out.EncryptRTP(seg[:0], seg)
	m.seq++
	m.ts += 960
	tk.total.Add(1)
	inWindow := now >= wStart && now < wEnd
	if err != nil || len(pkt) != size {
		if inWindow {
			tk.sendErrors++
		}
		return
	}
	if inWindow {
		tk.sent++ // taken back by flush if the write fails
		if b.c.interval > 0 && now-due > b.c.interval {
			tk.late++
		}
		grp.who[grp.n] = g
	} else {
		grp.who[grp.n] = -1 - g
	}
	grp.n++
	if grp.n == gsoMaxSegments {
		t.flushGroup(grp)
	}
}

// flush writes every non-empty batch.
func (t *shared) flush(groups []*sendGroup) {
	for _, grp := range groups {
		if grp.n > 0 {
			t.flushGroup(grp)
		}
	}
}

// flushGroup writes grp's segments: one GSO message, or one datagram each
// when the kernel has no GSO. Segments of a failed write are not sent: the
// talkers' counts are corrected.
func (t *shared) flushGroup(grp *sendGroup) {
	defer func() { grp.n = 0 }()
	if !t.gsoOff && grp.n > 1 {
		t.writes++
		err := grp.sock.gso.writeSegments(grp.buf[:grp.n*grp.seg], grp.seg)
		if err == nil {
			return
		}
		if !errors.Is(err, errNoGSO) {
			for i := range grp.n {
				t.uncount(grp.who[i])
			}
			return
		}
		t.gsoOff = true // and send them one by one
	}
	for i := range grp.n {
		t.writes++
		if _, err := grp.sock.conn.Write(grp.buf[i*grp.seg : (i+1)*grp.seg]); err != nil {
			t.uncount(grp.who[i])
		}
	}
}

// uncount moves a segment that was not sent from sent to send errors.
func (t *shared) uncount(who int) {
	if who < 0 {
		return // outside the window
	}
	tk := t.b.tx[who]
	tk.sent--
	tk.sendErrors++
}

// pollAll is the receiver of every socket (it owns their Inbound
// contexts and receivers): every interval it drains each socket, until
// stopped; then it drains once more.
func (t *shared) pollAll(interval time.Duration) {
	last := false
	for {
		select {
		case <-t.stop:
			last = true
		default:
		}
		for _, s := range t.socks {
			for {
				n, err := s.rd.poll()
				if n > 0 {
					t.batch(s, n)
					// Let the sender run if a frame fell due meanwhile
					// (with the bench pinned to one CPU they share it).
					runtime.Gosched()
				}
				if err != nil || n < readBatch {
					break
				}
			}
		}
		if last {
			return
		}
		time.Sleep(interval)
	}
}

// receive is socket s's receiver when it blocks: it owns the Inbound
// contexts and receivers of the participants at its position.
func (t *shared) receive(s *sharedSocket) {
	for {
		n, err := s.rd.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond) // never spin on a persistent error
			continue
		}
		t.batch(s, n)
	}
}

// batch handles the n messages socket s's reader just received.
func (t *shared) batch(s *sharedSocket, n int) {
	now := time.Now()
	sinceEpoch := int64(now.Sub(t.b.epoch))
	// epochWall is the wall-clock time of the run's epoch as of now, so a
	// kernel timestamp (wall clock) converts to the monotonic time since
	// the epoch the senders stamp, even if the wall clock was slewed.
	epochWall := now.UnixNano() - sinceEpoch
	var got uint64
	for i := range n {
		msg, seg, trunc, rx := s.rd.message(i)
		if trunc {
			s.truncated++
			continue
		}
		arrival := now
		if rx != 0 && rx-epochWall <= sinceEpoch {
			arrival = t.b.epoch.Add(time.Duration(rx - epochWall))
		}
		if seg > 0 && len(msg) > seg {
			s.groSegments += uint64((len(msg) + seg - 1) / seg)
		} else {
			seg = len(msg)
		}
		for off := 0; off < len(msg); off += seg {
			got++
			t.handle(s, msg[off:min(off+seg, len(msg))], arrival)
		}
	}
	t.b.received.Add(got)
}

// handle authenticates, decrypts and accounts one datagram on socket s.
func (t *shared) handle(s *sharedSocket, pkt []byte, arrival time.Time) {
	size, pos := t.b.c.size, s.pos
	kind := media.Classify(pkt)
	ssrc, ok := media.SSRCOf(pkt, kind)
	if !ok {
		s.unknown++
		return
	}
	switch kind {
	case media.KindRTP:
		from, ok := t.bySSRC[ssrc]
		if !ok && t.b.c.mix {
			// A mixed stream: the listener's own server SSRC.
			l, ok := t.byServ[ssrc]
			if !ok || l%size != pos {
				s.unknown++
				return
			}
			_, h, err := t.members[l].in.DecryptRTP(pkt)
			if err != nil {
				s.undecryptable++
				return
			}
			t.b.deliverMix(t.b.rx[l], h, arrival)
			return
		}
		if !ok {
			s.unknown++
			return
		}
		l := from/size*size + pos
		if l == from {
			t.b.rx[l].misrouted++ // its own packet sent back
			return
		}
		out, h, err := t.members[l].in.DecryptRTP(pkt)
		if err != nil {
			s.undecryptable++
			return
		}
		t.b.deliver(t.b.rx[l], h.Payload(out), arrival)
	case media.KindRTCP:
		l, ok := t.byServ[ssrc]
		if !ok || l%size != pos {
			s.unknown++
			return
		}
		if _, err := t.members[l].in.DecryptRTCP(pkt); err != nil {
			s.undecryptable++
			return
		}
		s.rtcp++
	default:
		s.unknown++
	}
}
