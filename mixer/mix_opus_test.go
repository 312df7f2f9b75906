//go:build opus

package mixer

import (
	"errors"
	"math"
	"testing"
)

// mixTone fills pcm with frame f of a "syllabic" tone: a sine of freq Hz
// whose amplitude swings between 0.2 and 1 × amp at 4 Hz (0.6 on average,
// which is what mixGoertzel measures). A steady tone is not speech to
// Opus's SILK voice activity detector, which then sends no in-band FEC;
// the 4 Hz envelope (the syllable rate of speech) keeps it active.
func mixTone(pcm []int16, freq float64, amp float64, f int) {
	for i := range pcm {
		n := float64(f*len(pcm) + i)
		env := 0.6 + 0.4*math.Sin(2*math.Pi*4*n/OpusSampleRate)
		pcm[i] = int16(amp * env * math.Sin(2*math.Pi*freq*n/OpusSampleRate))
	}
}

// mixGoertzel is the amplitude of the freq Hz component of x (a sine of
// amplitude A at exactly freq gives ≈ A).
func mixGoertzel(x []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / OpusSampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / float64(len(x))
}

func mixRMS(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

// mixClient is a talker: an encoder producing its tone, frame by frame.
type mixClient struct {
	enc  *Encoder
	freq float64
	amp  float64
	pcm  [FrameSamples]int16
	buf  [MaxOpusPacket]byte
	f    int
}

func newMixClient(t testing.TB, freq, amp float64) *mixClient {
	e, err := NewEncoder(EncoderOptions{Bitrate: 32000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &mixClient{enc: e, freq: freq, amp: amp}
}

// next encodes the client's next frame and returns the packet and its seq/ts.
func (c *mixClient) next(t testing.TB) (uint16, uint32, []byte) {
	mixTone(c.pcm[:], c.freq, c.amp, c.f)
	n, err := c.enc.Encode(c.pcm[:], c.buf[:])
	if err != nil {
		t.Fatal(err)
	}
	seq, ts := uint16(1000+c.f), uint32(5000+c.f*FrameSamples)
	c.f++
	return seq, ts, c.buf[:n]
}

// mixListener decodes what a member receives; a tick without output is
// decoded as loss (PLC), as a client would.
type mixListener struct {
	dec *Decoder
	pcm []int16 // everything decoded, one frame per tick
}

func newMixListener(t testing.TB) *mixListener {
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &mixListener{dec: d}
}

func (l *mixListener) receive(t testing.TB, pkt []byte) {
	var frame [FrameSamples]int16
	if pkt == nil {
		copy(frame[:], make([]int16, FrameSamples))
	} else if n, err := l.dec.Decode(pkt, frame[:]); err != nil || n != FrameSamples {
		t.Fatalf("listener decode: n=%d err=%v", n, err)
	}
	l.pcm = append(l.pcm, frame[:]...)
}

func newTestMixer(t testing.TB) *Mixer {
	m, err := NewMixer(MixOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestOpusRoundTrip(t *testing.T) {
	t.Logf("%s", OpusVersion())
	c := newMixClient(t, 440, 8000)
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out [FrameSamples]int16
	var got []int16
	for range 25 {
		_, _, p := c.next(t)
		n, err := d.Decode(p, out[:])
		if err != nil || n != FrameSamples {
			t.Fatalf("decode n=%d err=%v", n, err)
		}
		got = append(got, out[:]...)
	}
	// PLC with nil data, and FEC from a packet.
	if n, err := d.Decode(nil, out[:]); err != nil || n != FrameSamples {
		t.Fatalf("PLC n=%d err=%v", n, err)
	}
	if r := mixRMS(out[:]); r < 1000 {
		t.Errorf("PLC frame RMS %.0f: near silence", r)
	}
	_, _, p := c.next(t)
	if n, err := d.DecodeFEC(p, out[:]); err != nil || n != FrameSamples {
		t.Fatalf("FEC n=%d err=%v", n, err)
	}
	a := mixGoertzel(got[10*FrameSamples:], 440)
	if a < 0.7*0.6*8000 || a > 1.3*0.6*8000 {
		t.Errorf("440 Hz amplitude after the round trip %.0f, want ≈4800", a)
	}
}

func TestOpusErrors(t *testing.T) {
	e, err := NewEncoder(EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf [MaxOpusPacket]byte
	if _, err := e.Encode(make([]int16, 7), buf[:]); !errors.Is(err, ErrOpusBadArg) {
		t.Errorf("7-sample frame: %v, want ErrOpusBadArg", err)
	}
	if err := e.SetBitrate(64000); err != nil {
		t.Error(err)
	}
	if err := e.SetDTX(true); err != nil {
		t.Error(err)
	}
	e.Close()
	if _, err := e.Encode(make([]int16, FrameSamples), buf[:]); err != ErrOpusClosed {
		t.Errorf("closed encoder: %v", err)
	}
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var pcm [FrameSamples]int16
	// TOC code 3 with a zero frame count: invalid.
	if _, err := d.Decode([]byte{0x03, 0x00}, pcm[:]); !errors.Is(err, ErrOpusInvalidPacket) || err.Error() == "" {
		t.Errorf("bad packet: %v, want ErrOpusInvalidPacket", err)
	}
	d.Close()
	if _, err := d.Decode(nil, pcm[:]); err != ErrOpusClosed {
		t.Errorf("closed decoder: %v", err)
	}
}

func TestOpusDTX(t *testing.T) {
	e, err := NewEncoder(EncoderOptions{DTX: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var buf [MaxOpusPacket]byte
	silence := make([]int16, FrameSamples)
	dtx := 0
	for range 50 {
		n, err := e.Encode(silence, buf[:])
		if err != nil {
			t.Fatal(err)
		}
		if IsDTX(buf[:n]) {
			dtx++
		}
	}
	if dtx < 30 {
		t.Errorf("%d of 50 silent frames were DTX", dtx)
	}
}

// mixRun drives a session: talkers[i] is nil for a member who does not
// talk. Every tick each talker's packet is pushed (unless drop says so),
// the mixer ticks, and each member's listener decodes its output.
func mixRun(t *testing.T, m *Mixer, talkers []*mixClient, ticks int, drop func(member, tick int) bool) []*mixListener {
	t.Helper()
	members := make([]*MixMember, len(talkers))
	listeners := make([]*mixListener, len(talkers))
	for i := range talkers {
		mm, err := m.Add(uint32(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		members[i], listeners[i] = mm, newMixListener(t)
	}
	for k := range ticks {
		now := int64(k) * frameNanos
		for i, c := range talkers {
			if c == nil {
				continue
			}
			seq, ts, p := c.next(t)
			if drop == nil || !drop(i, k) {
				members[i].Push(seq, ts, p, now)
			}
		}
		m.Tick()
		for i, mm := range members {
			listeners[i].receive(t, mm.Output())
		}
	}
	return listeners
}

// TestMixMinusSelf: three talkers (440, 660, 880 Hz, carrier amplitude
// 6000 × a mean envelope of 0.6) and two silent listeners. Over the 1 s
// after a 10-frame warm-up, every talker hears each other tone at ≥ 40 %
// of the carrier amplitude (≈ 60 % expected) and its own at ≤ 3 % (about
// -26 dB below the others); a silent listener hears all three at ≥ 40 %.
func TestMixMinusSelf(t *testing.T) {
	const amp = 6000
	freqs := []float64{440, 660, 880}
	m := newTestMixer(t)
	talkers := []*mixClient{newMixClient(t, 440, amp), newMixClient(t, 660, amp), newMixClient(t, 880, amp), nil, nil}
	ls := mixRun(t, m, talkers, 60, nil)
	for i, l := range ls {
		x := l.pcm[10*FrameSamples:]
		for j, f := range freqs {
			a := mixGoertzel(x, f) / amp
			t.Logf("member %d hears %.0f Hz at %.3f", i, f, a)
			if i == j && a > 0.03 {
				t.Errorf("member %d hears its own %.0f Hz tone at %.3f of its amplitude (want ≤ 0.03)", i, f, a)
			}
			if i != j && a < 0.4 {
				t.Errorf("member %d hears %.0f Hz at only %.3f (want ≥ 0.4)", i, f, a)
			}
		}
	}
	st := m.Stats()
	// Each tick: 3 talker mixes + 1 shared full mix.
	if st.Encodes != 4*(st.Ticks-st.SilentTicks) {
		t.Errorf("encodes %d over %d mixing ticks, want 4 per tick", st.Encodes, st.Ticks-st.SilentTicks)
	}
}

// TestMixConcealsLoss: one talker, one listener; input packet 30 is lost.
// Played at a depth of 1 the buffer is empty at its tick: PLC, then the
// lost frame is rebuilt from packet 31's FEC (the buffer grew by a frame);
// with one packet in hand it is rebuilt from FEC at once. Either way the
// frame the listener hears in its place has an RMS within [0.5, 1.5] of
// the mean of its 4 neighbours, and no frame around it falls below 0.25 of
// that mean: no 20 ms of near-silence (a zero-filled frame would be ~0).
func TestMixConcealsLoss(t *testing.T) {
	for _, ahead := range []bool{false, true} {
		name := "PLC"
		if ahead {
			name = "FEC"
		}
		t.Run(name, func(t *testing.T) {
			m := newTestMixer(t)
			c := newMixClient(t, 440, 8000)
			talker, err := m.Add(1)
			if err != nil {
				t.Fatal(err)
			}
			lm, err := m.Add(2)
			if err != nil {
				t.Fatal(err)
			}
			l := newMixListener(t)
			const lost = 30
			push := func(now int64) {
				seq, ts, p := c.next(t)
				if seq != 1000+lost {
					talker.Push(seq, ts, p, now)
				}
			}
			if ahead {
				push(0)
			}
			for k := range 60 {
				push(int64(k) * frameNanos)
				m.Tick()
				l.receive(t, lm.Output())
			}
			js := talker.JitterStats()
			t.Logf("jitter stats %+v", js)
			if ahead && js.FEC != 1 {
				t.Errorf("FEC frames %d, want 1", js.FEC)
			}
			if !ahead && js.PLC != 1 {
				t.Errorf("PLC frames %d, want 1", js.PLC)
			}
			// Find the concealed tick: the only tick whose frame came
			// from concealment is lost (+1 with the packet in hand).
			frame := func(k int) []int16 { return l.pcm[k*FrameSamples : (k+1)*FrameSamples] }
			k := lost
			if ahead {
				k = lost - 1 // one frame in hand: packet n plays at tick n-1
			}
			nb := (mixRMS(frame(k-2)) + mixRMS(frame(k-1)) + mixRMS(frame(k+1)) + mixRMS(frame(k+2))) / 4
			r := mixRMS(frame(k))
			for j := k - 2; j <= k+2; j++ {
				if rj := mixRMS(frame(j)); rj < 0.25*nb {
					t.Errorf("frame %d RMS %.0f, neighbours of the loss %.0f: near-silence", j, rj, nb)
				}
			}
			t.Logf("concealed frame RMS %.0f, neighbours %.0f", r, nb)
			if r < 0.5*nb || r > 1.5*nb {
				t.Errorf("concealed frame RMS %.0f, neighbours %.0f: want within [0.5, 1.5]", r, nb)
			}
		})
	}
}

// TestMixNoClipping: four talkers near full scale (amplitude 20000 each,
// sums to ~80000): the limiter engages, the mixed PCM stays at or below
// its -1 dBFS ceiling, and the decoded stream never reaches full scale.
func TestMixNoClipping(t *testing.T) {
	m := newTestMixer(t)
	talkers := []*mixClient{newMixClient(t, 300, 20000), newMixClient(t, 500, 20000), newMixClient(t, 700, 20000), newMixClient(t, 900, 20000), nil}
	ls := mixRun(t, m, talkers, 50, nil)
	st := m.Stats()
	if st.Limited == 0 {
		t.Fatal("the limiter never engaged")
	}
	peak := 0
	for _, l := range ls {
		for _, v := range l.pcm {
			peak = max(peak, int(v), -int(v))
		}
	}
	t.Logf("limited frames %d, min gain %.3f, decoded peak %d", st.Limited, m.full.lim.minGain, peak)
	if peak >= 32767 {
		t.Errorf("decoded peak %d: clipped", peak)
	}
	for _, v := range m.full.pcm {
		if v > limitCeiling || v < -limitCeiling {
			t.Fatalf("limiter output %d above the ceiling %d", v, limitCeiling)
		}
	}
}

// TestMixSharedEncodes: one talker and five silent listeners cost one
// encode per tick, shared; nobody talking costs no decode and no encode.
func TestMixSharedEncodes(t *testing.T) {
	m := newTestMixer(t)
	talkers := []*mixClient{newMixClient(t, 440, 6000), nil, nil, nil, nil, nil}
	mixRun(t, m, talkers, 20, nil)
	st := m.Stats()
	if mt := st.Ticks - st.SilentTicks; st.Encodes != mt || mt < 19 {
		t.Errorf("%d encodes over %d mixing ticks, want 1 per tick", st.Encodes, mt)
	}
	for _, mm := range m.members[2:] {
		if &mm.Output()[0] != &m.members[1].Output()[0] {
			t.Error("silent listeners do not share one packet")
		}
	}
	if m.members[0].Output() != nil {
		t.Error("a lone talker receives a packet")
	}
	// Now nobody talks: after the jitter buffer's concealment tail, no
	// decode and no encode.
	for range 5 {
		m.Tick()
	}
	before := m.Stats()
	for range 100 {
		m.Tick()
	}
	after := m.Stats()
	if after.Decodes != before.Decodes || after.Encodes != before.Encodes || after.SilentTicks != before.SilentTicks+100 {
		t.Errorf("idle room: %+v → %+v", before, after)
	}
}

func TestMixTickZeroAllocs(t *testing.T) {
	m := newTestMixer(t)
	var cs []*mixClient
	var mms []*MixMember
	for i, f := range []float64{440, 660, 880, 0} {
		mm, err := m.Add(uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		mms = append(mms, mm)
		cs = append(cs, newMixClient(t, f, 6000))
	}
	// Pre-encode, so the test measures the pipeline only.
	type pkt struct {
		seq uint16
		ts  uint32
		p   []byte
	}
	var pk [4][]pkt
	for i, c := range cs[:3] {
		for range 200 {
			seq, ts, p := c.next(t)
			pk[i] = append(pk[i], pkt{seq, ts, append([]byte(nil), p...)})
		}
	}
	k := 0
	step := func() {
		for i := range 3 {
			p := pk[i][k]
			mms[i].Push(p.seq, p.ts, p.p, int64(k)*frameNanos)
		}
		m.Tick()
		k++
	}
	for range 10 {
		step()
	}
	if a := testing.AllocsPerRun(100, step); a != 0 {
		t.Errorf("%.1f allocations per tick", a)
	}
}

// TestMixTalkerStops: three talkers; after 30 ticks member 0 stops
// talking (its packets stop). Once its jitter buffer's concealment tail is
// over it moves from its own encoder to the shared full mix: it then gets
// the listeners' packet, still hears 660 and 880 Hz (≥ 0.4) and, its
// voice being gone, 440 Hz at ≤ 0.03; across the switch no frame it
// decodes falls below 0.25 of the stream's mean RMS.
func TestMixTalkerStops(t *testing.T) {
	const amp = 6000
	m := newTestMixer(t)
	cs := []*mixClient{newMixClient(t, 440, amp), newMixClient(t, 660, amp), newMixClient(t, 880, amp)}
	var mms []*MixMember
	for i := range 4 {
		mm, err := m.Add(uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		mms = append(mms, mm)
	}
	l := newMixListener(t)
	for k := range 80 {
		for i, c := range cs {
			seq, ts, p := c.next(t)
			if i != 0 || k < 30 {
				mms[i].Push(seq, ts, p, int64(k)*frameNanos)
			}
		}
		m.Tick()
		if k >= 40 && &mms[0].Output()[0] != &mms[3].Output()[0] {
			t.Fatalf("tick %d: the silent member 0 does not share the full mix", k)
		}
		l.receive(t, mms[0].Output())
	}
	x := l.pcm[45*FrameSamples:]
	for f, want := range map[float64]bool{440: false, 660: true, 880: true} {
		a := mixGoertzel(x, f) / amp
		t.Logf("after stopping, member 0 hears %.0f Hz at %.3f", f, a)
		if want && a < 0.4 || !want && a > 0.03 {
			t.Errorf("member 0 hears %.0f Hz at %.3f", f, a)
		}
	}
	mean := mixRMS(l.pcm[10*FrameSamples:])
	for k := 10; k < 80; k++ {
		if r := mixRMS(l.pcm[k*FrameSamples : (k+1)*FrameSamples]); r < 0.25*mean {
			t.Errorf("frame %d RMS %.0f, stream mean %.0f", k, r, mean)
		}
	}
}
