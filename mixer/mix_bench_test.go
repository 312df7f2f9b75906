//go:build opus

package mixer

import (
	"fmt"
	"testing"
)

// BenchmarkMixTick is the cost of one 20 ms tick of a mixed session: the
// talkers' Push (copy into the jitter buffer), their decode, the mixes,
// the limiter and the encodes (default encoder options: 32 kb/s,
// complexity 10, and 5). Input packets are encoded beforehand (that is the
// clients' work). sessions/core = 20 ms / the cost of a tick.
func BenchmarkMixTick(b *testing.B) {
	for _, cx := range []int{10, 5} {
		for _, size := range []int{4, 8} {
			for _, talking := range []int{size, 1, 0} {
				name := fmt.Sprintf("complexity=%d/members=%d/talking=%d", cx, size, talking)
				b.Run(name, func(b *testing.B) { benchMixTick(b, cx, size, talking) })
			}
		}
	}
}

func benchMixTick(b *testing.B, complexity, size, talking int) {
	m, err := NewMixer(MixOptions{Encoder: EncoderOptions{Complexity: complexity}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	const frames = 250 // 5 s of audio, looped
	type pkt struct {
		seq uint16
		ts  uint32
		p   []byte
	}
	var mms []*MixMember
	var pk [][]pkt
	for i := range size {
		mm, err := m.Add(uint32(i))
		if err != nil {
			b.Fatal(err)
		}
		mms = append(mms, mm)
		if i < talking {
			c := newMixClient(b, 300+float64(i)*110, 6000)
			var ps []pkt
			for range frames {
				seq, ts, p := c.next(b)
				ps = append(ps, pkt{seq, ts, append([]byte(nil), p...)})
			}
			pk = append(pk, ps)
		}
	}
	k := 0
	tick := func() {
		f := k % frames
		loop := uint16(k / frames)
		for i, ps := range pk {
			p := ps[f]
			mms[i].Push(p.seq+loop*frames, p.ts+uint32(loop)*frames*FrameSamples, p.p, int64(k)*frameNanos)
		}
		m.Tick()
		k++
	}
	for range 20 {
		tick()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tick()
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(20e6/ns, "sessions/core")
	st := m.Stats()
	b.ReportMetric(float64(st.Encodes)/float64(st.Ticks), "encodes/tick")
}
