package mixer

import "testing"

// mixFakeEnc "encodes" a frame as 3 bytes: its first sample (int16, big
// endian) and a marker; mixFakeValueDec decodes that back into a constant
// frame. Talkers sending constant frames then make every mix exact.
type mixFakeEnc struct{}

func (mixFakeEnc) Encode(pcm []int16, out []byte) (int, error) {
	out[0], out[1], out[2] = byte(uint16(pcm[0])>>8), byte(pcm[0]), 0x55
	return 3, nil
}

func (mixFakeEnc) Close() error { return nil }

type mixFakeValueDec struct{}

func (mixFakeValueDec) Decode(p []byte, pcm []int16) (int, error) {
	v := int16(0x1111) // PLC
	if p != nil {
		v = int16(uint16(p[0])<<8 | uint16(p[1]))
	}
	for i := range pcm {
		pcm[i] = v
	}
	return len(pcm), nil
}

func (d mixFakeValueDec) DecodeFEC(p []byte, pcm []int16) (int, error) { return d.Decode(p, pcm) }

func mixFakeValue(p []byte) int16 { return int16(uint16(p[0])<<8 | uint16(p[1])) }

func newFakeMixer(t *testing.T) *Mixer {
	m, err := newMixer(MixOptions{},
		func() (frameEncoder, error) { return mixFakeEnc{}, nil },
		func() (frameDecoder, error) { return mixFakeValueDec{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMixExactMinusSelf: talkers send constant levels 100, 200, 400; each
// hears exactly the sum of the others, listeners the sum of all, in one
// shared packet; a lone talker hears nothing.
func TestMixExactMinusSelf(t *testing.T) {
	m := newFakeMixer(t)
	levels := []int16{100, 200, 400, 0, 0}
	var mms []*MixMember
	for i := range levels {
		mm, err := m.Add(uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		mms = append(mms, mm)
	}
	for i, l := range levels {
		if l != 0 {
			mms[i].Push(1, 0, []byte{byte(uint16(l) >> 8), byte(l), 0}, 0)
		}
	}
	m.Tick()
	want := []int16{600, 500, 300, 700, 700}
	for i, w := range want {
		if got := mixFakeValue(mms[i].Output()); got != w {
			t.Errorf("member %d hears %d, want %d", i, got, w)
		}
	}
	if &mms[3].Output()[0] != &mms[4].Output()[0] {
		t.Error("listeners do not share one packet")
	}
	if st := m.Stats(); st.Encodes != 4 || st.Mixes != 4 || st.Decodes != 3 {
		t.Errorf("stats %+v", st)
	}
	// Remove a talker: the others still hear the right mix.
	m.Remove(mms[2])
	for i, l := range levels[:2] {
		mms[i].Push(2, 960, []byte{byte(uint16(l) >> 8), byte(l), 0}, mixFrame)
	}
	m.Tick()
	for i, w := range map[int]int16{0: 200, 1: 100, 3: 300, 4: 300} {
		if got := mixFakeValue(mms[i].Output()); got != w {
			t.Errorf("after removal member %d hears %d, want %d", i, got, w)
		}
	}
	// One talker alone: listeners share one encode, the talker gets nil.
	mms[0].Push(3, 2*960, []byte{0, 100, 0}, 2*mixFrame)
	mms[1].Push(3, 2*960, []byte{0x00}, 2*mixFrame) // DTX: silent
	before := m.Stats().Encodes
	m.Tick()
	if mms[0].Output() != nil || mixFakeValue(mms[1].Output()) != 100 || m.Stats().Encodes != before+1 {
		t.Errorf("one talker: %v %v, %d encodes", mms[0].Output(), mms[1].Output(), m.Stats().Encodes-before)
	}
	m.Close()
}

func TestMixerFull(t *testing.T) {
	m := newFakeMixer(t)
	for i := range MaxMixMembers {
		if _, err := m.Add(uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Add(99); err != ErrMixerFull {
		t.Fatalf("65th member: %v", err)
	}
	// All 64 talk: no full-mix encode, 64 minus-self encodes.
	for i, mm := range m.members {
		mm.Push(0, 0, []byte{0, byte(i + 1), 0}, 0)
	}
	m.Tick()
	if st := m.Stats(); st.Encodes != 64 {
		t.Errorf("%d encodes, want 64", st.Encodes)
	}
	if v := mixFakeValue(m.members[0].Output()); v != 64*65/2-1 {
		t.Errorf("member 0 hears %d", v)
	}
}

// TestLimiterNeverAboveCeiling: a full-scale square wave summed 8 times
// (±262136) never leaves the ceiling, and the gain recovers afterwards.
func TestLimiterNeverAboveCeiling(t *testing.T) {
	l := newLimiter()
	mix := make([]int32, FrameSamples)
	out := make([]int16, FrameSamples)
	for f := range 10 {
		for i := range mix {
			mix[i] = 8 * 32767
			if (f*FrameSamples+i)/50%2 == 1 {
				mix[i] = -8 * 32768
			}
		}
		l.process(mix, out)
		for _, v := range out {
			if v > limitCeiling || v < -limitCeiling {
				t.Fatalf("%d above the ceiling", v)
			}
		}
	}
	if l.engaged != 10 {
		t.Errorf("engaged %d", l.engaged)
	}
	for i := range mix {
		mix[i] = 1000
	}
	for range 50 { // 1 s: 20 time constants
		l.process(mix, out)
	}
	if l.gain != 1 || out[0] != 1000 {
		t.Errorf("gain %f after release, out %d", l.gain, out[0])
	}
}

// TestMixListeningOnly: members that do not listen are inputs only: no
// encode is made for them, and with no listener at all a tick encodes
// nothing; the one listener hears everybody else.
func TestMixListeningOnly(t *testing.T) {
	m := newFakeMixer(t)
	defer m.Close()
	levels := []int16{100, 200, 400, 0}
	var mms []*MixMember
	for i := range levels {
		mm, err := m.Add(uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		mm.SetListening(false)
		mms = append(mms, mm)
	}
	push := func(seq uint16) {
		for i, l := range levels {
			if l != 0 {
				mms[i].Push(seq, uint32(seq)*960, []byte{byte(uint16(l) >> 8), byte(l), 0}, int64(seq)*mixFrame)
			}
		}
	}
	push(1)
	m.Tick()
	if st := m.Stats(); st.Encodes != 0 || st.Decodes != 3 {
		t.Fatalf("no listener: %+v", st)
	}
	// A quiet listener: one encode of the full mix.
	mms[3].SetListening(true)
	push(2)
	m.Tick()
	if got := mixFakeValue(mms[3].Output()); got != 700 || m.Stats().Encodes != 1 {
		t.Fatalf("listener hears %d, %d encodes", got, m.Stats().Encodes)
	}
	for i := range 3 {
		if mms[i].Output() != nil {
			t.Errorf("member %d does not listen but has output", i)
		}
	}
	// A talking listener: its own minus-self mix only.
	mms[3].SetListening(false)
	mms[1].SetListening(true)
	push(3)
	m.Tick()
	if got := mixFakeValue(mms[1].Output()); got != 500 || m.Stats().Encodes != 2 || !mms[1].Listening() {
		t.Fatalf("talking listener hears %d, %d encodes", got, m.Stats().Encodes)
	}
}
