//go:build opus

package sessionmgr

import (
	"context"
	"net/netip"
	"testing"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
)

// lmRecv is what one client of a forward room with a mix listener got.
type lmRecv struct {
	mixed   int               // mixed packets (its server SSRC)
	mixTS   []uint32          // their timestamps
	marks   int               // of which with the marker bit
	fwd     map[uint32]int    // forwarded packets per SSRC
	lastSeq map[uint32]uint16 // per SSRC, forwarded or mixed
}

// TestListenerMixInForwardSession: three talkers (440, 660, 880 Hz), one
// listener that asks for its own mix and one forward listener. While the
// mix is on, the mix listener receives one stream (its server SSRC) in
// which it hears all three tones and no forwarded packet; the forward
// listener and the talkers still get the forwarded streams; only one
// encode per tick is made (nobody consumes the talkers' minus-self
// mixes). Turning the mix off closes the Mixer and returns the listener
// to the forwarded streams with sequence numbers contiguous with those it
// got before the mix.
func TestListenerMixInForwardSession(t *testing.T) {
	freqs := []float64{440, 660, 880}
	r := newMixTestRoomMode(t, append(freqs, 0, 0), false)
	mixL, fwdL := r.cli[3], r.cli[4]
	got := make(map[*mixClient]*lmRecv)
	for _, c := range r.cli {
		got[c] = &lmRecv{fwd: map[uint32]int{}, lastSeq: map[uint32]uint16{}}
	}
	r.onSend = func(b []byte, to netip.AddrPort) {
		c := r.byAddr[to]
		if media.Classify(b) != media.KindRTP {
			return
		}
		plain, h, err := c.in.DecryptRTP(b)
		if err != nil {
			t.Fatalf("%s cannot decrypt: %v", c.pt.id, err)
		}
		g := got[c]
		if last, ok := g.lastSeq[h.SSRC]; ok && h.SequenceNumber != last+1 {
			t.Errorf("%s: SSRC %d sequence %d after %d", c.pt.id, h.SSRC, h.SequenceNumber, last)
		}
		g.lastSeq[h.SSRC] = h.SequenceNumber
		if h.SSRC == c.pt.serverSSRC {
			if h.PayloadType != MixPayloadType {
				t.Fatalf("%s: mixed PT %d", c.pt.id, h.PayloadType)
			}
			g.mixed++
			g.mixTS = append(g.mixTS, h.Timestamp)
			if h.Marker {
				g.marks++
			}
			c.gotN++
			c.got = append(c.got[:0], h.Payload(plain)...)
			return
		}
		g.fwd[h.SSRC]++
	}
	pkts := make([][]byte, len(r.cli))
	run := func(frames int, decode bool) {
		for range frames {
			for i, c := range r.cli {
				pkts[i] = nil
				if c.freq > 0 {
					pkts[i] = r.packet(c)
				}
				c.got, c.gotN = c.got[:0], 0
			}
			r.frame(pkts)
			if mixL.gotN > 1 {
				t.Fatalf("mix listener got %d mixed packets in one frame", mixL.gotN)
			}
			if decode {
				var pcm [mixer.FrameSamples]int16
				var p []byte
				if mixL.gotN == 1 {
					p = mixL.got
				}
				if n, err := mixL.dec.Decode(p, pcm[:]); err != nil || n != mixer.FrameSamples {
					t.Fatalf("decode: %d %v", n, err)
				}
				mixL.pcm = append(mixL.pcm, pcm[:]...)
			}
		}
	}
	talkers := []uint32{r.cli[0].pt.ssrc, r.cli[1].pt.ssrc, r.cli[2].pt.ssrc}

	// Forwarded first.
	run(10, false)
	for _, s := range talkers {
		if got[mixL].fwd[s] != 10 || got[fwdL].fwd[s] != 10 {
			t.Fatalf("before the mix: SSRC %d forwarded %d / %d times", s, got[mixL].fwd[s], got[fwdL].fwd[s])
		}
	}
	if r.e.rooms[testRoom("room", false).key].mix != nil || len(r.e.mixRooms) != 0 {
		t.Fatal("a forward room without mix listeners has a Mixer")
	}

	// The mix.
	if err := r.e.setMix(r.now, mixL.pt, true); err != nil {
		t.Fatal(err)
	}
	var info ParticipantInfo
	mixL.pt.routing(&info)
	if !info.Mix {
		t.Error("mix listener's info does not say mix")
	}
	const frames = 60
	run(frames, true)
	for _, s := range talkers {
		if n := got[mixL].fwd[s]; n != 10 {
			t.Errorf("mix listener got %d forwarded packets of %d during the mix", n-10, s)
		}
		if n := got[fwdL].fwd[s]; n != 10+frames {
			t.Errorf("forward listener got %d packets of %d, want %d", n, s, 10+frames)
		}
	}
	for _, c := range append(r.cli[:3:3], fwdL) {
		if got[c].mixed != 0 {
			t.Errorf("%s got %d mixed packets", c.pt.id, got[c].mixed)
		}
	}
	for i, c := range r.cli[:3] {
		for j, s := range talkers {
			if want := 10 + frames; i != j && got[c].fwd[s] != want {
				t.Errorf("talker %s got %d packets of %d, want %d", c.pt.id, got[c].fwd[s], s, want)
			}
		}
	}
	if n := got[mixL].mixed; n < frames-10 {
		t.Errorf("mix listener got %d mixed packets in %d frames", n, frames)
	}
	x := mixL.pcm[15*mixer.FrameSamples:]
	for _, f := range freqs {
		a := mixGoertzel(x, f) / mixAmp
		t.Logf("mix listener hears %.0f Hz at %.3f", f, a)
		if a < 0.4 {
			t.Errorf("mix listener hears %.0f Hz at only %.3f (want ≥ 0.4)", f, a)
		}
	}
	st := r.e.rooms[testRoom("room", false).key].mix.Stats()
	if st.Ticks != frames || st.Encodes > st.Ticks {
		t.Errorf("mixer: %d ticks, %d encodes in %d frames (want one encode a tick at most)", st.Ticks, st.Encodes, frames)
	}

	// Off: forwarded again, contiguous (checked by onSend), no Mixer.
	if err := r.e.setMix(r.now, mixL.pt, false); err != nil {
		t.Fatal(err)
	}
	if r.e.rooms[testRoom("room", false).key].mix != nil || len(r.e.mixRooms) != 0 {
		t.Fatal("the Mixer outlived the last mix listener")
	}
	mixed := got[mixL].mixed
	run(10, false)
	for _, s := range talkers {
		if n := got[mixL].fwd[s]; n != 20 {
			t.Errorf("after the mix: %d forwarded packets of %d, want 20", n, s)
		}
	}
	if got[mixL].mixed != mixed {
		t.Error("mixed packets after the mix was turned off")
	}

	// On again: the mixed stream resumes with the marker bit, its
	// timestamp keeping the real gap (sequence contiguity: onSend).
	marks, lastTS := got[mixL].marks, got[mixL].mixTS[len(got[mixL].mixTS)-1]
	if err := r.e.setMix(r.now, mixL.pt, true); err != nil {
		t.Fatal(err)
	}
	run(20, false)
	g := got[mixL]
	if g.mixed == mixed || g.marks != marks+1 {
		t.Fatalf("resumed mix: %d packets, %d markers", g.mixed-mixed, g.marks-marks)
	}
	if d := g.mixTS[mixed] - lastTS; d < 10*mixer.FrameSamples || d > 14*mixer.FrameSamples {
		t.Errorf("resumed mix: timestamp step %d over ≥ 11 frames", d)
	}
}

// TestListenerMixServerMute: a server-muted talker is in nobody's mix.
func TestListenerMixServerMute(t *testing.T) {
	r := newMixTestRoomMode(t, []float64{440, 660, 0}, false)
	r.cli[0].pt.setMuted(true)
	if err := r.e.setMix(r.now, r.cli[2].pt, true); err != nil {
		t.Fatal(err)
	}
	c := r.cli[2]
	r.onSend = func(b []byte, to netip.AddrPort) {
		if r.byAddr[to] != c || media.Classify(b) != media.KindRTP {
			return
		}
		plain, h, err := c.in.DecryptRTP(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.SSRC == c.pt.serverSSRC {
			c.gotN++
			c.got = append(c.got[:0], h.Payload(plain)...)
		}
	}
	pkts := make([][]byte, len(r.cli))
	for range 40 {
		for i, x := range r.cli {
			pkts[i] = nil
			if x.freq > 0 {
				pkts[i] = r.packet(x)
			}
		}
		c.got, c.gotN = c.got[:0], 0
		r.frame(pkts)
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
	x := c.pcm[15*mixer.FrameSamples:]
	if a := mixGoertzel(x, 440) / mixAmp; a > 0.03 {
		t.Errorf("the muted talker is heard at %.3f", a)
	}
	if a := mixGoertzel(x, 660) / mixAmp; a < 0.4 {
		t.Errorf("the other talker is heard at only %.3f", a)
	}
}

// TestListenerMixZeroAllocs: a forward room with a mix listener allocates
// nothing per frame (forwarding, pushing, mixing, sending).
func TestListenerMixZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := newMixTestRoomMode(t, []float64{440, 660, 880, 0, 0}, false)
	if err := r.e.setMix(r.now, r.cli[3].pt, true); err != nil {
		t.Fatal(err)
	}
	const warm, runs = 40, 100
	allocs, sent := r.allocsPerFrame(warm, runs)
	if allocs != 0 {
		t.Errorf("%.2f allocations per 20 ms frame", allocs)
	}
	// Per frame: 3 talkers × 3 forward receivers (2 talkers + 1 listener)
	// forwarded, plus the mix.
	if sent < (warm+runs)*10-20 {
		t.Errorf("sent %d packets", sent)
	}
}

// TestListenerMixAdmission: the admit field and SetMix through the
// Manager, reported in the participant's info.
func TestListenerMixAdmission(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	ctx := context.Background()
	if _, err := m.Admit(ctx, "s", AdmitRequest{ParticipantID: "a", Mix: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Admit(ctx, "s", AdmitRequest{ParticipantID: "b"}); err != nil {
		t.Fatal(err)
	}
	mixOf := func() map[string]bool {
		info, err := m.Session(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, p := range info.Participants {
			out[p.ID] = p.Mix
		}
		return out
	}
	if g := mixOf(); !g["a"] || g["b"] {
		t.Fatalf("mix %v", g)
	}
	if err := m.SetMix(ctx, "s", "a", false); err != nil {
		t.Fatal(err)
	}
	if err := m.SetMix(ctx, "s", "b", true); err != nil {
		t.Fatal(err)
	}
	if g := mixOf(); g["a"] || !g["b"] {
		t.Fatalf("mix %v", g)
	}
	if err := m.RemoveParticipant(ctx, "s", "b"); err != nil {
		t.Fatal(err)
	}
}
