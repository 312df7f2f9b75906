package mixer

import (
	"errors"
	"testing"
)

// mixFakeDec "decodes" a packet by filling the frame with its first byte,
// FEC with 1000 + the next packet's first byte, PLC with -1.
type mixFakeDec struct{}

func (d *mixFakeDec) Decode(p []byte, pcm []int16) (int, error) {
	v := int16(-1)
	if p != nil {
		if p[0] == 0xFF {
			return 0, errors.New("bad")
		}
		v = int16(p[0])
	}
	for i := range pcm {
		pcm[i] = v
	}
	return len(pcm), nil
}

func (d *mixFakeDec) DecodeFEC(p []byte, pcm []int16) (int, error) {
	for i := range pcm {
		pcm[i] = 1000 + int16(p[0])
	}
	return len(pcm), nil
}

// mixPkt is a 3-byte packet whose first byte names it.
func mixPkt(id byte) []byte { return []byte{id, 0, 0} }

// mixPull pulls one frame and returns its kind and value.
func mixPull(jb *jitterBuffer) (frameKind, int16) {
	var pcm [FrameSamples]int16
	k := jb.pull(pcm[:])
	return k, pcm[0]
}

const mixFrame = int64(frameNanos)

func TestJitterReorderAndLate(t *testing.T) {
	jb := newJitterBuffer(&mixFakeDec{})
	// 10, 12, 11 arrive on time (reordered within a frame), 13 is lost,
	// 14 arrives; 13 arrives after its frame was rebuilt: late.
	jb.push(10, 0, mixPkt(10), 0)
	if k, v := mixPull(jb); k != frameDecoded || v != 10 {
		t.Fatalf("first pull %v %d", k, v)
	}
	jb.push(12, 2*960, mixPkt(12), 2*mixFrame)
	jb.push(11, 960, mixPkt(11), 2*mixFrame)
	jb.push(14, 4*960, mixPkt(14), 3*mixFrame)
	want := []struct {
		k frameKind
		v int16
	}{{frameDecoded, 11}, {frameDecoded, 12}, {frameFEC, 1014}, {frameDecoded, 14}}
	for i, w := range want {
		if i == 3 {
			jb.push(13, 3*960, mixPkt(13), 4*mixFrame)
		}
		if k, v := mixPull(jb); k != w.k || v != w.v {
			t.Fatalf("pull %d: %v %d, want %v %d", i, k, v, w.k, w.v)
		}
	}
	st := jb.snapshot()
	if st.Late != 1 || st.FEC != 1 || st.Decoded != 4 {
		t.Errorf("stats %+v", st)
	}
	jb.push(14, 4*960, mixPkt(14), 5*mixFrame) // duplicate of a played packet: late
	jb.push(15, 5*960, mixPkt(15), 5*mixFrame)
	jb.push(15, 5*960, mixPkt(15), 5*mixFrame)
	if st := jb.snapshot(); st.Duplicate != 1 || st.Late != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestJitterConcealThenIdle(t *testing.T) {
	jb := newJitterBuffer(&mixFakeDec{})
	jb.push(1, 0, mixPkt(1), 0)
	mixPull(jb)
	// The talker stops without DTX: PLC (never silence) for jbMaxExpand
	// frames, then idle: nothing, and no decoder call.
	for i := range jbMaxExpand {
		if k, v := mixPull(jb); k != framePLC || v != -1 {
			t.Fatalf("pull %d: %v %d, want PLC", i, k, v)
		}
	}
	if k, _ := mixPull(jb); k != frameNone || jb.state != jbIdle {
		t.Fatalf("after the concealment tail: %v state %d", k, jb.state)
	}
	// A late packet within the tail plays (the buffer grew): restart.
	jb.push(9, 8*960, mixPkt(9), 10*mixFrame)
	if k, v := mixPull(jb); k != frameDecoded || v != 9 {
		t.Fatalf("restart: %v %d", k, v)
	}
	// DTX: silence at once, no concealment.
	jb.push(10, 9*960, []byte{0x08}, 11*mixFrame)
	if k, _ := mixPull(jb); k != frameNone {
		t.Fatalf("DTX: %v", k)
	}
	if k, _ := mixPull(jb); k != frameNone || jb.state != jbIdle {
		t.Fatalf("after DTX: %v", k)
	}
	if st := jb.snapshot(); st.PLC != jbMaxExpand || st.Silent != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestJitterDecodeErrorConcealed(t *testing.T) {
	jb := newJitterBuffer(&mixFakeDec{})
	jb.push(1, 0, []byte{0xFF, 0, 0}, 0)
	if k, v := mixPull(jb); k != framePLC || v != -1 {
		t.Fatalf("%v %d", k, v)
	}
	jb.push(2, 960, nil, 0)
	jb.push(3, 960, make([]byte, MaxOpusPacket+1), 0)
	if st := jb.snapshot(); st.Invalid != 3 {
		t.Errorf("stats %+v", st)
	}
}

// mixSim delivers packets seq0, seq0+1, ... sent every 20 ms and arriving
// after delay(i), to a buffer pulled every 20 ms (at 10 ms into each
// period), for n ticks starting at tick t0; it returns the kinds pulled.
func mixSim(jb *jitterBuffer, seq0 uint16, t0, n int, delay func(i int) int64) []frameKind {
	type arrival struct {
		i  int
		at int64
	}
	var pending []arrival
	next := t0 // next packet to send
	var kinds []frameKind
	for k := t0; k < t0+n; k++ {
		now := int64(k)*mixFrame + mixFrame/2
		for ; int64(next)*mixFrame <= now; next++ {
			pending = append(pending, arrival{next, int64(next)*mixFrame + delay(next)})
		}
		// deliver in arrival order
		for {
			best := -1
			for j, a := range pending {
				if a.at <= now && (best < 0 || a.at < pending[best].at) {
					best = j
				}
			}
			if best < 0 {
				break
			}
			a := pending[best]
			pending = append(pending[:best], pending[best+1:]...)
			seq := seq0 + uint16(a.i)
			jb.push(seq, uint32(a.i)*960, mixPkt(byte(seq%200)), a.at)
		}
		k, _ := mixPull(jb)
		kinds = append(kinds, k)
	}
	return kinds
}

// TestJitterAdapts: under a random 0..40 ms delay (with reordering), the
// target depth grows to 2..3 (1 + ceil((peak-2 ms)/20 ms), the peak
// decaying between bursts); the buffer grows through concealed frames at
// underruns, after which the last 200 ticks play every packet (no PLC,
// nothing late). On a steady stream afterwards the target decays back to
// 1 and at most 2 frames stay buffered.
func TestJitterAdapts(t *testing.T) {
	jb := newJitterBuffer(&mixFakeDec{})
	if jb.target != 1 {
		t.Fatal(jb.target)
	}
	rnd := uint32(1)
	delay := func(int) int64 {
		rnd = rnd*1664525 + 1013904223
		return int64(rnd>>8) % 40_000_000
	}
	const seq0 = 65000 // crosses the wrap
	kinds := mixSim(jb, seq0, 0, 500, delay)
	st := jb.snapshot()
	t.Logf("jittery: %+v", st)
	if st.Target < 2 || st.Target > 3 {
		t.Errorf("target %d under 0..40 ms delay, want 2..3", st.Target)
	}
	late := st.Late
	for i, k := range kinds[300:] {
		if k != frameDecoded {
			t.Fatalf("tick %d after warm-up: %v", 300+i, k)
		}
	}
	kinds = mixSim(jb, seq0, 500, 3000, func(int) int64 { return 20_000_000 })
	st = jb.snapshot()
	t.Logf("steady: %+v, buffered %d", st, jb.count)
	if st.Target != 1 || st.Late != late {
		t.Errorf("steady stream: target %d late %d, want 1, %d", st.Target, st.Late, late)
	}
	if jb.count > 2 {
		t.Errorf("buffered %d frames after shrinking", jb.count)
	}
	for i, k := range kinds[100:] {
		if k != frameDecoded {
			t.Fatalf("steady tick %d: %v", i, k)
		}
	}
}

// TestJitterShrinks: a burst of 8 packets, then one per tick: the excess
// is dropped one frame per 0.5 s until at most target+1 frames remain.
func TestJitterShrinks(t *testing.T) {
	jb := newJitterBuffer(&mixFakeDec{})
	seq := uint16(0)
	push := func(at int64) {
		jb.push(seq, uint32(seq)*960, mixPkt(byte(seq%200)), at)
		seq++
	}
	for range 8 { // delayed by up to 140 ms, arriving together
		push(7 * mixFrame)
	}
	for k := range 400 {
		if k > 0 {
			push(int64(k+7) * mixFrame)
		}
		if kd, _ := mixPull(jb); kd != frameDecoded {
			t.Fatalf("tick %d: %v", k, kd)
		}
	}
	st := jb.snapshot()
	if st.Dropped < 4 || jb.count > st.Target+1 {
		t.Errorf("dropped %d, buffered %d (target %d)", st.Dropped, jb.count, st.Target)
	}
}

// TestJitterStragglerAfterIdle: a packet of the ended spurt arriving
// once the input is idle is late; the next spurt then starts cleanly.
func TestJitterStragglerAfterIdle(t *testing.T) {
	jb := newJitterBuffer(&mixFakeDec{})
	jb.push(10, 0, mixPkt(10), 0)
	mixPull(jb)
	for range jbMaxExpand + 1 {
		mixPull(jb)
	}
	if jb.state != jbIdle {
		t.Fatal("not idle")
	}
	jb.push(9, 0, mixPkt(9), 0) // older than the last played
	if jb.state != jbIdle || jb.snapshot().Late != 1 {
		t.Fatalf("straggler: state %d, %+v", jb.state, jb.snapshot())
	}
	jb.push(40, 30*960, mixPkt(40), 30*mixFrame)
	if k, v := mixPull(jb); k != frameDecoded || v != 40 {
		t.Fatalf("new spurt: %v %d", k, v)
	}
	// A new stream far behind (a client restart) is accepted.
	for range jbMaxExpand + 1 {
		mixPull(jb)
	}
	jb.push(65500, 0, mixPkt(1), 40*mixFrame)
	if k, v := mixPull(jb); k != frameDecoded || v != 1 {
		t.Fatalf("restarted stream: %v %d", k, v)
	}
}

func TestJitterResync(t *testing.T) {
	jb := newJitterBuffer(&mixFakeDec{})
	jb.push(100, 0, mixPkt(1), 0)
	mixPull(jb)
	jb.push(5000, 960, mixPkt(2), mixFrame)
	if k, v := mixPull(jb); k != frameDecoded || v != 2 {
		t.Fatalf("%v %d", k, v)
	}
	if jb.snapshot().Resyncs != 1 {
		t.Error("no resync")
	}
}

func TestJitterPushPullZeroAllocs(t *testing.T) {
	jb := newJitterBuffer(&mixFakeDec{})
	p := mixPkt(1)
	seq := uint16(0)
	var pcm [FrameSamples]int16
	if a := testing.AllocsPerRun(1000, func() {
		jb.push(seq, uint32(seq)*960, p, int64(seq)*mixFrame)
		jb.pull(pcm[:])
		seq++
	}); a != 0 {
		t.Errorf("%.1f allocations per push+pull", a)
	}
}
