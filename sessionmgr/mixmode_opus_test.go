//go:build opus

package sessionmgr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
	"github.com/voxfleet/vox/netio"
)

// mixTone fills pcm with frame f of a "syllabic" tone (copied from the
// mixer's tests): a sine of freq Hz whose amplitude swings between 0.2 and
// 1 × amp at 4 Hz, 0.6 on average, so Opus's voice activity detection
// treats it as speech.
func mixTone(pcm []int16, freq, amp float64, f int) {
	for i := range pcm {
		n := float64(f*len(pcm) + i)
		env := 0.6 + 0.4*math.Sin(2*math.Pi*4*n/mixer.OpusSampleRate)
		pcm[i] = int16(amp * env * math.Sin(2*math.Pi*freq*n/mixer.OpusSampleRate))
	}
}

// mixGoertzel is the amplitude of the freq Hz component of x.
func mixGoertzel(x []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / mixer.OpusSampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / float64(len(x))
}

// mixClient is one member of a mix room driven through the engine: it
// talks (a tone, when freq > 0) with its own SRTP context and decodes the
// mixed stream the engine sends it.
type mixClient struct {
	pt   *participant
	out  *media.Outbound // client → server
	in   *media.Inbound  // server → client
	enc  *mixer.Encoder
	dec  *mixer.Decoder
	freq float64
	f    int    // frames sent
	seq  uint16 // of its next packet

	got     []byte // this frame's mixed packet (plaintext payload), nil if none
	gotN    int    // packets received this frame
	pkts    int    // packets received in all
	lastSeq uint16
	lastTS  uint32
	lastAt  int // frame of the last packet
	markers int
	pcm     []int16 // everything decoded, one frame per tick
}

// mixTestRoom is an engine with one mix session, driven without sockets.
type mixTestRoom struct {
	t      testing.TB
	e      *engine
	q      *netio.SendQueue
	cli    []*mixClient
	byAddr map[netip.AddrPort]*mixClient
	now    int64
	onSend func(b []byte, to netip.AddrPort)
	batch  []netio.Packet
	frames int // frames run
}

const mixAmp = 6000

func newMixTestRoom(t testing.TB, freqs []float64) *mixTestRoom {
	return newMixTestRoomMode(t, freqs, true)
}

// newMixTestRoomMode makes the room a mix session (mix) or a forward one.
func newMixTestRoomMode(t testing.TB, freqs []float64, mix bool) *mixTestRoom {
	m, err := New(Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := &mixTestRoom{t: t, byAddr: map[netip.AddrPort]*mixClient{}, now: int64(time.Second)}
	r.e = m.newEngine(nil, netio.DefaultMaxDatagram)
	r.onSend = r.receive
	r.q = netio.NewDetachedQueue(512, netio.DefaultMaxDatagram, func(pkts [][]byte, to []netip.AddrPort) {
		for i, b := range pkts {
			r.onSend(b, to[i])
		}
	})
	t.Cleanup(func() {
		for _, c := range r.cli {
			if c.pt.room.mix != nil {
				r.e.detach(c.pt)
			}
		}
	})
	if _, err := r.e.join(testRoom("room", mix)); err != nil {
		t.Fatal(err)
	}
	p := media.ProfileAEADAES128GCM
	for i, f := range freqs {
		keys, err := media.GenerateSessionKeys(p)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := media.NewInbound(p, keys.ClientToServer)
		out, _ := media.NewOutbound(p, keys.ServerToClient)
		pt := &participant{id: fmt.Sprint("p", i), ssrc: uint32(1000 + i), serverSSRC: uint32(9000 + i), in: in, out: out}
		if err := r.e.admit(r.now, pt, testRoom("room", mix), false); err != nil {
			t.Fatal(err)
		}
		pt.addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+i))
		c := &mixClient{pt: pt, freq: f, seq: uint16(65530 + i)}
		c.out, _ = media.NewOutbound(p, keys.ClientToServer)
		c.in, _ = media.NewInbound(p, keys.ServerToClient)
		if c.enc, err = mixer.NewEncoder(mixer.EncoderOptions{}); err != nil {
			t.Fatal(err)
		}
		if c.dec, err = mixer.NewDecoder(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.enc.Close(); c.dec.Close() })
		r.cli = append(r.cli, c)
		r.byAddr[pt.addr] = c
	}
	return r
}

// receive is a client getting a packet: it must decrypt and be the mixed
// stream (the listener's server SSRC, PT 111, contiguous sequence numbers,
// the timestamp advancing by exactly 960 per frame since the last packet,
// sent or not).
func (r *mixTestRoom) receive(b []byte, to netip.AddrPort) {
	t := r.t
	c := r.byAddr[to]
	if media.Classify(b) != media.KindRTP {
		return // receiver reports
	}
	plain, h, err := c.in.DecryptRTP(b)
	if err != nil {
		t.Fatalf("%s cannot decrypt its mix: %v", c.pt.id, err)
	}
	if h.SSRC != c.pt.serverSSRC || h.PayloadType != MixPayloadType {
		t.Fatalf("%s got SSRC %d PT %d, want its server SSRC %d, PT %d", c.pt.id, h.SSRC, h.PayloadType, c.pt.serverSSRC, MixPayloadType)
	}
	if c.pkts > 0 {
		if h.SequenceNumber != c.lastSeq+1 {
			t.Errorf("%s: sequence %d after %d", c.pt.id, h.SequenceNumber, c.lastSeq)
		}
		if d, want := h.Timestamp-c.lastTS, uint32(r.frames-c.lastAt)*mixer.FrameSamples; d != want {
			t.Errorf("%s: timestamp step %d over %d frames", c.pt.id, d, r.frames-c.lastAt)
		}
	}
	if h.Marker != (c.pkts == 0 || r.frames-c.lastAt > 1) {
		t.Errorf("%s: marker %t on packet %d (after %d frames)", c.pt.id, h.Marker, c.pkts, r.frames-c.lastAt)
	}
	if h.Marker {
		c.markers++
	}
	c.lastSeq, c.lastTS, c.lastAt = h.SequenceNumber, h.Timestamp, r.frames
	c.pkts++
	c.gotN++
	c.got = append(c.got[:0], h.Payload(plain)...)
}

// packet encrypts talker c's next frame.
func (r *mixTestRoom) packet(c *mixClient) []byte {
	var pcm [mixer.FrameSamples]int16
	var op [mixer.MaxOpusPacket]byte
	mixTone(pcm[:], c.freq, mixAmp, c.f)
	n, err := c.enc.Encode(pcm[:], op[:])
	if err != nil {
		r.t.Fatal(err)
	}
	plain := media.AppendRTPHeader(nil, media.RTPFields{PayloadType: 111, SequenceNumber: c.seq,
		Timestamp: uint32(c.f) * mixer.FrameSamples, SSRC: c.pt.ssrc})
	plain = append(plain, op[:n]...)
	c.seq++
	c.f++
	enc, err := c.out.EncryptRTP(make([]byte, 0, 1500), plain)
	if err != nil {
		r.t.Fatal(err)
	}
	return enc
}

// frame is 20 ms: the given packets arrive, then the shard ticks every
// 5 ms (the netio tick), which must run the mixer exactly once.
func (r *mixTestRoom) frame(pkts [][]byte) {
	r.frames++
	for _, c := range r.cli {
		c.pt.lastAuth = r.now // alive: silent clients send RTCP (not modelled)
	}
	r.batch = r.batch[:0]
	for i, b := range pkts {
		if b != nil {
			r.batch = append(r.batch, netio.Packet{Data: b, From: r.cli[i].pt.addr})
		}
	}
	r.e.HandleBatch(r.now, r.batch, r.q)
	for range 4 {
		r.e.Tick(r.now, r.q)
		r.q.Flush()
		r.now += int64(5 * time.Millisecond)
	}
}

// TestMixModeThroughEngine: three talkers (440, 660, 880 Hz) and a silent
// listener in a mix session. Every member receives one stream, decodes it,
// and after a warm-up hears each other talker's tone at ≥ 40 % of its
// carrier amplitude and its own at ≤ 3 %; the silent listener hears all
// three.
func TestMixModeThroughEngine(t *testing.T) {
	freqs := []float64{440, 660, 880}
	r := newMixTestRoom(t, append(freqs, 0))
	const frames = 60
	pkts := make([][]byte, len(r.cli))
	for range frames {
		for i, c := range r.cli {
			pkts[i] = nil
			if c.freq > 0 {
				pkts[i] = r.packet(c)
			}
			c.got, c.gotN = c.got[:0], 0
		}
		r.frame(pkts)
		for _, c := range r.cli {
			if c.gotN > 1 {
				t.Fatalf("%s got %d packets in one 20 ms frame", c.pt.id, c.gotN)
			}
			var pcm [mixer.FrameSamples]int16
			var p []byte
			if c.gotN == 1 {
				p = c.got
			}
			if n, err := c.dec.Decode(p, pcm[:]); err != nil || n != mixer.FrameSamples {
				t.Fatalf("%s decode: %d %v", c.pt.id, n, err)
			}
			c.pcm = append(c.pcm, pcm[:]...)
		}
	}
	for _, c := range r.cli {
		var p ParticipantInfo
		c.pt.routing(&p)
		if p.Selected != (c.freq > 0) {
			t.Errorf("%s: selected %t (in the mix)", c.pt.id, p.Selected)
		}
	}
	st := r.e.rooms[testRoom("room", false).key].mix.Stats()
	if st.Ticks != frames {
		t.Errorf("mixer ticked %d times in %d frames", st.Ticks, frames)
	}
	for i, c := range r.cli {
		if c.pkts < frames-10 || c.markers < 1 {
			t.Errorf("%s received %d packets (%d with the marker) in %d frames", c.pt.id, c.pkts, c.markers, frames)
		}
		x := c.pcm[15*mixer.FrameSamples:]
		for j, f := range freqs {
			a := mixGoertzel(x, f) / mixAmp
			t.Logf("%s hears %.0f Hz at %.3f", c.pt.id, f, a)
			if i == j && a > 0.03 {
				t.Errorf("%s hears its own %.0f Hz tone at %.3f of its amplitude (want ≤ 0.03)", c.pt.id, f, a)
			}
			if i != j && a < 0.4 {
				t.Errorf("%s hears %.0f Hz at only %.3f (want ≥ 0.4)", c.pt.id, f, a)
			}
		}
	}
	if got := r.e.counters().Mixed; got != uint64(r.cli[0].pkts+r.cli[1].pkts+r.cli[2].pkts+r.cli[3].pkts) {
		t.Errorf("mixed counter %d", got)
	}
	if got := r.e.counters().Forwarded; got != 0 {
		t.Errorf("a mix session forwarded %d packets", got)
	}

	// Leaving ends the room and frees the mixer.
	for _, c := range r.cli {
		r.e.detach(c.pt)
	}
	if len(r.e.rooms) != 0 || len(r.e.mixRooms) != 0 {
		t.Fatalf("rooms %d, mix rooms %d after everybody left", len(r.e.rooms), len(r.e.mixRooms))
	}
}

// TestMixModeServerMute: a server-muted talker is not mixed (nobody hears
// it) and still hears the others.
func TestMixModeServerMute(t *testing.T) {
	r := newMixTestRoom(t, []float64{440, 660, 0})
	r.cli[0].pt.setMuted(true)
	pkts := make([][]byte, len(r.cli))
	for range 40 {
		for i, c := range r.cli {
			pkts[i] = nil
			if c.freq > 0 {
				pkts[i] = r.packet(c)
			}
			c.got, c.gotN = c.got[:0], 0
		}
		r.frame(pkts)
		for _, c := range r.cli {
			var pcm [mixer.FrameSamples]int16
			var p []byte
			if c.gotN == 1 {
				p = c.got
			}
			if _, err := c.dec.Decode(p, pcm[:]); err != nil {
				t.Fatal(err)
			}
			c.pcm = append(c.pcm, pcm[:]...)
		}
	}
	for i, c := range r.cli {
		x := c.pcm[15*mixer.FrameSamples:]
		muted, other := mixGoertzel(x, 440)/mixAmp, mixGoertzel(x, 660)/mixAmp
		t.Logf("%s hears 440 Hz (muted) at %.3f, 660 Hz at %.3f", c.pt.id, muted, other)
		if muted > 0.03 {
			t.Errorf("%s hears the muted talker at %.3f", c.pt.id, muted)
		}
		if i != 1 && other < 0.4 {
			t.Errorf("%s hears 660 Hz at only %.3f", c.pt.id, other)
		}
	}
}

// TestMixModeTimestampsAcrossSilence: when nobody talks the listener gets
// nothing; when talk resumes its stream carries on with the next sequence
// number, a timestamp that counted the silent ticks, and the marker.
func TestMixModeTimestampsAcrossSilence(t *testing.T) {
	r := newMixTestRoom(t, []float64{440, 0})
	talker, l := r.cli[0], r.cli[1]
	talk := func(n int, on bool) {
		for range n {
			var p []byte
			if on {
				p = r.packet(talker)
			}
			r.frame([][]byte{p, nil})
		}
	}
	talk(20, true)
	seq, ts, pkts, markers := l.lastSeq, l.lastTS, l.pkts, l.markers
	if pkts == 0 || markers != 1 {
		t.Fatalf("listener got %d packets, %d markers", pkts, markers)
	}
	talk(25, false)
	if l.pkts > pkts+5 { // the jitter buffer's depth and PLC tail, then nothing
		t.Fatalf("%d packets during 25 silent frames", l.pkts-pkts)
	}
	seq2, ts2, at2, pkts2 := l.lastSeq, l.lastTS, l.lastAt, l.pkts
	if seq2-seq != uint16(pkts2-pkts) || ts2-ts != uint32(pkts2-pkts)*mixer.FrameSamples {
		t.Fatalf("sequence moved %d, timestamp %d for %d packets", seq2-seq, ts2-ts, pkts2-pkts)
	}
	if r.frames-at2 < 15 {
		t.Fatalf("the stream stopped only %d frames before the end of the silence", r.frames-at2)
	}
	talk(20, true)
	// receive checked each packet: sequence +1, timestamp +960 per frame
	// (so across the silence too), the marker exactly on the first
	// packet after it.
	if l.pkts == pkts2 || l.markers != 2 {
		t.Fatalf("after silence: %d packets, %d markers", l.pkts-pkts2, l.markers)
	}
}

// TestMixSessionOptions: a mix session through the Manager: its cap is at
// most the mixer's, it says it mixes, its members join the room's mixer,
// and it differs from a forward session of the same name (conflict).
func TestMixSessionOptions(t *testing.T) {
	m, _ := startManager(t, Config{Limits: Limits{MaxSessionParticipants: 100}}, 1)
	ctx := context.Background()
	if _, _, err := m.PutSession(ctx, "big", SessionOptions{Mix: true, MaxParticipants: 65}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mix session of 65: %v", err)
	}
	info, created, err := m.PutSession(ctx, "s", SessionOptions{Mix: true})
	if err != nil || !created || !info.Mix || info.MaxParticipants != mixer.MaxMixMembers {
		t.Fatalf("PUT mix: %+v %v %v", info, created, err)
	}
	if _, _, err := m.PutSession(ctx, "s", SessionOptions{}); !errors.Is(err, ErrSessionConflict) {
		t.Fatalf("PUT forward over mix: %v", err)
	}
	admit(t, m, "s", "a")
	admit(t, m, "s", "b")
	if _, err := m.Admit(ctx, "t", AdmitRequest{Session: &SessionOptions{Mix: true}}); err != nil {
		t.Fatal(err)
	}
	e := m.engines[0]
	var members, rooms int
	if err := e.shard.Do(ctx, func(int64, *netio.SendQueue) {
		members, rooms = e.rooms[sessionKey(m, "s")].mix.Len(), len(e.mixRooms)
	}); err != nil {
		t.Fatal(err)
	}
	if members != 2 || rooms != 2 {
		t.Fatalf("mixer members %d, mix rooms %d", members, rooms)
	}
	if info, err := m.Session(ctx, "s"); err != nil || !info.Mix || len(info.Participants) != 2 || info.Participants[0].Selected {
		t.Fatalf("mix session info: %+v %v", info, err)
	}
	for _, id := range []string{"s", "t"} {
		if err := m.DeleteSession(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.shard.Do(ctx, func(int64, *netio.SendQueue) { rooms = len(e.mixRooms) }); err != nil || rooms != 0 {
		t.Fatalf("mix rooms after delete: %d %v", rooms, err)
	}
}

// TestMixModeZeroAllocs: after warm-up, a 20 ms frame of a mix room of
// four (three talking) — receive, decrypt, push, the 5 ms shard ticks, one
// mixer tick, and encrypting each listener's packet — allocates nothing.
func TestMixModeZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := newMixTestRoom(t, []float64{440, 660, 880, 0})
	const warm, runs = 40, 100
	allocs, sent := r.allocsPerFrame(warm, runs)
	if allocs != 0 {
		t.Errorf("%.2f allocations per 20 ms frame", allocs)
	}
	if sent < (warm+runs-10)*len(r.cli) {
		t.Errorf("sent %d packets", sent)
	}
}

// TestMixModeLoopback is mix mode end to end over real sockets: three
// clients admitted to a mix session send their tones in real time (20 ms
// pacing); each reads its mixed stream from its socket, checks it is its
// server SSRC's, decodes it in order (concealing the ticks it did not get)
// and hears the other two tones and not its own.
func TestMixModeLoopback(t *testing.T) {
	m, _ := startManager(t, Config{}, 2)
	ctx := context.Background()
	if _, _, err := m.PutSession(ctx, "mix", SessionOptions{Mix: true}); err != nil {
		t.Fatal(err)
	}
	freqs := []float64{440, 660, 880}
	type got struct {
		seq  uint16
		ts   uint32
		data []byte
	}
	clients := make([]*rawClient, len(freqs))
	recvd := make([][]got, len(freqs))
	errs := make(chan error, len(freqs))
	const frames = 75
	stop := time.Now().Add(frames*20*time.Millisecond + 500*time.Millisecond)
	for i := range freqs {
		c := newRawClient(t, admit(t, m, "mix", fmt.Sprint("p", i)))
		clients[i] = c
		go func() {
			buf := make([]byte, 2048)
			for {
				c.conn.SetReadDeadline(stop)
				n, _, err := c.conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					errs <- nil
					return
				}
				if media.Classify(buf[:n]) != media.KindRTP {
					continue
				}
				plain, h, err := c.in.DecryptRTP(buf[:n])
				if err != nil || h.SSRC != c.adm.ServerSSRC || h.PayloadType != MixPayloadType {
					errs <- fmt.Errorf("%s: %v, SSRC %d (server SSRC %d), PT %d", c.adm.ParticipantID, err, h.SSRC, c.adm.ServerSSRC, h.PayloadType)
					return
				}
				recvd[i] = append(recvd[i], got{h.SequenceNumber, h.Timestamp, append([]byte(nil), h.Payload(plain)...)})
			}
		}()
	}
	encs := make([]*mixer.Encoder, len(freqs))
	for i := range encs {
		var err error
		if encs[i], err = mixer.NewEncoder(mixer.EncoderOptions{}); err != nil {
			t.Fatal(err)
		}
		defer encs[i].Close()
	}
	var pcm [mixer.FrameSamples]int16
	var op [mixer.MaxOpusPacket]byte
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for f := range frames {
		for i, c := range clients {
			mixTone(pcm[:], freqs[i], mixAmp, f)
			n, err := encs[i].Encode(pcm[:], op[:])
			if err != nil {
				t.Fatal(err)
			}
			enc, err := c.out.EncryptRTP(nil, c.rtp(op[:n], -1))
			if err != nil {
				t.Fatal(err)
			}
			c.write(enc)
		}
		<-tick.C
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range clients {
		ps := recvd[i]
		if len(ps) < frames/2 {
			t.Fatalf("%s received %d packets for %d frames", c.adm.ParticipantID, len(ps), frames)
		}
		dec, err := mixer.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		var out []int16
		for k, p := range ps {
			if k > 0 {
				if p.seq != ps[k-1].seq+1 {
					t.Errorf("%s: sequence %d after %d", c.adm.ParticipantID, p.seq, ps[k-1].seq)
				}
				for gap := (p.ts - ps[k-1].ts) / mixer.FrameSamples; gap > 1 && gap < 10; gap-- {
					dec.Decode(nil, pcm[:])
					out = append(out, pcm[:]...)
				}
			}
			if _, err := dec.Decode(p.data, pcm[:]); err != nil {
				t.Fatal(err)
			}
			out = append(out, pcm[:]...)
		}
		x := out[15*mixer.FrameSamples:]
		for j, f := range freqs {
			a := mixGoertzel(x, f) / mixAmp
			t.Logf("%s hears %.0f Hz at %.3f (%d packets)", c.adm.ParticipantID, f, a, len(ps))
			if i == j && a > 0.03 {
				t.Errorf("%s hears its own %.0f Hz tone at %.3f", c.adm.ParticipantID, f, a)
			}
			if i != j && a < 0.3 {
				t.Errorf("%s hears %.0f Hz at only %.3f", c.adm.ParticipantID, f, a)
			}
		}
	}
}

// BenchmarkMixModeFrame is one 20 ms frame of a mix room through the
// engine: the talkers' packets received (SRTP decrypt, push), four 5 ms
// shard Ticks of which one runs the mixer (decode, mix, limit, encode),
// and every listener's packet encrypted into the send queue. Reported:
// the mixer's encodes and the packets sent per frame, and the rooms one
// core could serve (20 ms ÷ the time per frame; bench/record.sh's mix rows).
func BenchmarkMixModeFrame(b *testing.B) {
	for _, c := range []struct{ members, talkers int }{{4, 1}, {4, 3}, {4, 4}, {8, 3}, {8, 8}} {
		b.Run(fmt.Sprintf("members%d/talkers%d", c.members, c.talkers), func(b *testing.B) {
			freqs := make([]float64, c.members)
			for i := range c.talkers {
				freqs[i] = 300 + 110*float64(i)
			}
			r := newMixTestRoom(b, freqs)
			r.onSend = func([]byte, netip.AddrPort) {}
			const chunk = 250
			pool := make([][][]byte, 0, chunk)
			refill := func() {
				pool = pool[:0]
				for range chunk {
					f := make([][]byte, len(r.cli))
					for i, cl := range r.cli {
						if cl.freq > 0 {
							f[i] = r.packet(cl)
						}
					}
					pool = append(pool, f)
				}
			}
			refill()
			for _, f := range pool[:20] { // warm up: jitter buffers primed
				r.frame(f)
			}
			pool = pool[20:]
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if len(pool) == 0 {
					b.StopTimer()
					refill()
					b.StartTimer()
				}
				r.frame(pool[0])
				pool = pool[1:]
			}
			b.StopTimer()
			st := r.e.rooms[testRoom("room", false).key].mix.Stats()
			b.ReportMetric(float64(st.Encodes)/float64(st.Ticks), "encodes/frame")
			b.ReportMetric(float64(r.e.counters().Mixed)/float64(st.Ticks), "pkts/frame")
			// A room needs one frame of work every 20 ms: rooms one core
			// keeps up with, were it doing nothing else.
			if ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N); ns > 0 {
				b.ReportMetric(float64(20*time.Millisecond)/ns, "rooms/core")
			}
		})
	}
}

// allocsPerFrame pre-encodes the talkers' packets, runs warm frames, then
// measures heap allocations per 20 ms frame over runs frames. It returns
// them and the number of packets the engine sent in all.
func (r *mixTestRoom) allocsPerFrame(warm, runs int) (allocs float64, sent int) {
	pool := make([][][]byte, warm+runs+1)
	for k := range pool {
		pool[k] = make([][]byte, len(r.cli))
		for i, c := range r.cli {
			if c.freq > 0 {
				pool[k][i] = r.packet(c)
			}
		}
	}
	r.onSend = func([]byte, netip.AddrPort) { sent++ }
	k := 0
	for ; k < warm; k++ {
		r.frame(pool[k])
	}
	allocs = testing.AllocsPerRun(runs, func() {
		r.frame(pool[k])
		k++
	})
	return allocs, sent
}

// sessionKey is the key of session id's room in the Manager's books.
func sessionKey(m *Manager, id string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sessions[id]; s != nil {
		return s.key
	}
	return 0
}

// TestMixNextTick: the shard is asked to tick at the next mix room's frame
// (not only at its regular ticks), and rooms started together get frames
// at different phases of the 20 ms frame.
func TestMixNextTick(t *testing.T) {
	m, err := New(Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e := m.newEngine(nil, netio.DefaultMaxDatagram)
	q := netio.NewDetachedQueue(64, netio.DefaultMaxDatagram, func([][]byte, []netip.AddrPort) {})
	now := int64(time.Second)
	var rooms []*room
	for _, id := range []string{"a", "b", "c"} {
		r, err := e.join(testRoom(id, true))
		if err != nil {
			t.Fatal(err)
		}
		rooms = append(rooms, r)
	}
	t.Cleanup(func() {
		for _, r := range rooms {
			e.closeMix(r)
		}
	})
	if got := e.NextTick(now); got > now {
		t.Fatalf("new rooms: NextTick %v after now, want at once", time.Duration(got-now))
	}
	e.Tick(now, q)
	phases := map[int64]bool{}
	first := int64(math.MaxInt64)
	for _, r := range rooms {
		if r.nextMix < now || r.nextMix > now+mixFrame {
			t.Fatalf("room's first frame at %v", time.Duration(r.nextMix-now))
		}
		phases[r.nextMix] = true
		first = min(first, r.nextMix)
	}
	if len(phases) != len(rooms) {
		t.Fatalf("rooms started together share a phase: %v", phases)
	}
	// Three rooms started together: a third of a frame apart (within
	// the rounding of halving gaps: 0, 10, 5 ms is what the widest gap
	// gives for the third; 5 ms apart at least).
	var ph []int64
	for p := range phases {
		ph = append(ph, (p-now)%mixFrame)
	}
	slices.Sort(ph)
	for i := range ph {
		gap := (ph[(i+1)%len(ph)] - ph[i] + mixFrame) % mixFrame
		if gap < mixFrame/4 {
			t.Fatalf("phases %v: a gap of %v", ph, time.Duration(gap))
		}
	}
	if got := e.NextTick(now); got != first {
		t.Fatalf("NextTick %v, want the first room's frame %v", time.Duration(got-now), time.Duration(first-now))
	}
	// At that time exactly that room mixes, and the next is asked for.
	e.Tick(first, q)
	next := int64(math.MaxInt64)
	for _, r := range rooms {
		if r.nextMix <= first {
			t.Fatalf("a room due at %v not mixed", time.Duration(r.nextMix-now))
		}
		next = min(next, r.nextMix)
	}
	if got := e.NextTick(first); got != next || next >= first+mixFrame {
		t.Fatalf("NextTick %v, want %v", time.Duration(got-now), time.Duration(next-now))
	}
}
