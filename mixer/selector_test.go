package mixer

import (
	"fmt"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// talk runs talkers (ssrc → level function of time) every 20 ms from
// start for d and returns the end time.
func talk(s *Selector, start int64, d time.Duration, levels map[uint32]func(t int64) int) int64 {
	t := start
	for ; t < start+int64(d); t += 20 * ms {
		for ssrc := uint32(1); ssrc <= 16; ssrc++ { // fixed order: deterministic
			if f, ok := levels[ssrc]; ok {
				if l := f(t); l != -2 { // -2: no packet
					s.Observe(ssrc, l, t)
				}
			}
		}
	}
	return t
}

func constant(l int) func(int64) int { return func(int64) int { return l } }

func selected(s *Selector, n int) []uint32 {
	var out []uint32
	for ssrc := uint32(1); ssrc <= uint32(n); ssrc++ {
		if s.Selected(ssrc) {
			out = append(out, ssrc)
		}
	}
	return out
}

func eq(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSelectorTopThree(t *testing.T) {
	for _, c := range []struct {
		name   string
		levels []int // of ssrc 1..6
		want   []uint32
	}{
		{"ascending", []int{10, 20, 30, 40, 50, 60}, []uint32{1, 2, 3}},
		{"descending", []int{60, 50, 40, 30, 20, 10}, []uint32{4, 5, 6}},
		{"mixed", []int{45, 12, 80, 30, 70, 25}, []uint32{2, 4, 6}},
		{"two silent", []int{127, 20, 127, 30, 50, 70}, []uint32{2, 4, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewSelector(SelectorConfig{})
			lv := map[uint32]func(int64) int{}
			for i, l := range c.levels {
				lv[uint32(i+1)] = constant(l)
			}
			end := talk(s, 1e9, 500*time.Millisecond, lv)
			// The first packets take the free slots in arrival order;
			// louder ones then displace them within Hold.
			if got := selected(s, 6); !eq(got, c.want) {
				t.Errorf("after 500 ms selected %v, want %v", got, c.want)
			}
			sw := s.Switches
			talk(s, end, 5*time.Second, lv)
			if got := selected(s, 6); !eq(got, c.want) {
				t.Errorf("selected %v, want %v", got, c.want)
			}
			if s.Switches != sw {
				t.Errorf("%d switches with steady levels", s.Switches-sw)
			}
		})
	}
}

// A speaker starting to talk gets a slot within 100 ms, whether a slot is
// free, or all are taken by quieter talkers.
func TestSelectorNewLoudSpeaker(t *testing.T) {
	for _, c := range []struct {
		name     string
		others   []int
		newLevel int
		bound    time.Duration
	}{
		{"free slot", []int{30, 40}, 50, 20 * time.Millisecond},
		{"clearly louder than incumbents", []int{40, 45, 50}, 20, 100 * time.Millisecond},
		{"6-15 dB louder: hold", []int{40, 45, 50}, 42, 100*time.Millisecond + DefaultHold},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewSelector(SelectorConfig{})
			start := int64(1e9)
			lv := map[uint32]func(int64) int{}
			for i, l := range c.others {
				lv[uint32(i+1)] = constant(l)
			}
			onset := start + int64(time.Second)
			lv[9] = func(t int64) int {
				if t < onset {
					return 127
				}
				return c.newLevel
			}
			end := talk(s, start, time.Second, lv)
			if s.Selected(9) {
				t.Fatal("silent speaker selected")
			}
			var got int64 = -1
			for ; end < onset+int64(2*time.Second); end = talk(s, end, 20*time.Millisecond, lv) {
				if s.Selected(9) {
					got = end - onset
					break
				}
			}
			if got < 0 || got > int64(c.bound) {
				t.Errorf("in after %v, want within %v", time.Duration(got), c.bound)
			}
			t.Logf("in after %v", time.Duration(got))
		})
	}
}

// Levels flapping around each other do not move the set.
func TestSelectorFlapping(t *testing.T) {
	for _, c := range []struct {
		name   string
		period time.Duration // of the flapping speaker's swing
		swing  int           // dB either side of the third speaker's level
		max    uint64
	}{
		{"3 dB, 200 ms", 200 * time.Millisecond, 3, 0},
		{"8 dB, 200 ms", 200 * time.Millisecond, 8, 0},
		{"10 dB, 400 ms", 400 * time.Millisecond, 10, 0},
		// Swinging 10 dB over 2 s: it leads clearly for ~1 s at a time,
		// so it may take the slot and lose it back, once per period.
		{"10 dB, 2 s", 2 * time.Second, 10, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewSelector(SelectorConfig{})
			lv := map[uint32]func(int64) int{1: constant(20), 2: constant(25), 3: constant(40)}
			half := int64(c.period) / 2
			lv[4] = func(t int64) int {
				if (t/half)%2 == 0 {
					return 40 + c.swing
				}
				return 40 - c.swing
			}
			talk(s, 1e9, 10*time.Second, lv)
			if s.Switches > c.max {
				t.Errorf("%d switches in 10 s, want at most %d", s.Switches, c.max)
			}
			t.Logf("%d switches", s.Switches)
			if !s.Selected(1) || !s.Selected(2) {
				t.Error("the two loudest lost their slots")
			}
		})
	}
}

func TestSelectorSilenceFreesSlot(t *testing.T) {
	for _, mode := range []string{"no packets", "silent level"} {
		t.Run(mode, func(t *testing.T) {
			s := NewSelector(SelectorConfig{})
			stop := int64(2e9)
			lv := map[uint32]func(int64) int{1: constant(20), 2: constant(25), 3: func(t int64) int {
				if t < stop {
					return 30
				}
				if mode == "no packets" {
					return -2
				}
				return 127
			}, 4: constant(60)}
			end := talk(s, 1e9, time.Second, lv)
			if got := selected(s, 4); !eq(got, []uint32{1, 2, 3}) {
				t.Fatalf("selected %v", got)
			}
			talk(s, end, time.Second+DefaultSilence+40*time.Millisecond, lv)
			if got := selected(s, 4); !eq(got, []uint32{1, 2, 4}) {
				t.Errorf("after silence selected %v, want [1 2 4]", got)
			}
			// Going silent (level 127) the speaker's smoothed loudness
			// falls, and the waiting speaker may displace it before the
			// Silence timeout frees the slot: one switch at most.
			if s.Switches > 1 || (mode == "no packets" && s.Switches != 0) {
				t.Errorf("%d switches", s.Switches)
			}
		})
	}
}

func TestSelectorNoLevelAlwaysSelected(t *testing.T) {
	s := NewSelector(SelectorConfig{MaxSpeakers: 1})
	talk(s, 1e9, time.Second, map[uint32]func(int64) int{1: constant(20), 2: constant(-1), 3: constant(30)})
	if got := selected(s, 3); !eq(got, []uint32{1, 2}) {
		t.Errorf("selected %v, want [1 2]", got)
	}
	s.Remove(1)
	s.Observe(3, 30, 3e9)
	if got := selected(s, 3); !eq(got, []uint32{2, 3}) {
		t.Errorf("after removal selected %v, want [2 3]", got)
	}
}

func TestSelectorZeroAllocs(t *testing.T) {
	s := NewSelector(SelectorConfig{})
	now := int64(1e9)
	for ssrc := range uint32(8) {
		s.Observe(ssrc, int(ssrc)*10, now)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		now += 2 * ms
		s.Observe(uint32(now/ms)%8, int(now/ms)%90, now)
		_ = s.Selected(3)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocs", allocs)
	}
}

func TestHears(t *testing.T) {
	g1 := &Member{SSRC: 1}
	g2 := &Member{SSRC: 2}
	r1 := &Member{SSRC: 3, Channel: 1}
	r2 := &Member{SSRC: 4, Channel: 1}
	b1 := &Member{SSRC: 5, Channel: 2}
	muted := &Member{SSRC: 6, Muted: true}
	picky := &Member{SSRC: 7, Mutes: []uint32{3, 1}}
	all := []*Member{g1, g2, r1, r2, b1, muted, picky}
	want := map[[2]uint32]bool{} // listener, speaker → hears
	for _, l := range all {
		for _, s := range all {
			h := l != s && !s.Muted
			if l.Channel != 0 && s.Channel != 0 && l.Channel != s.Channel {
				h = false
			}
			if l == picky && (s == r1 || s == g1) {
				h = false
			}
			want[[2]uint32{l.SSRC, s.SSRC}] = h
		}
	}
	// Spot checks of the rule as documented.
	for _, c := range []struct {
		l, s *Member
		h    bool
	}{{r1, r2, true}, {r1, g1, true}, {g1, r1, true}, {r1, b1, false}, {b1, r1, false}, {g1, muted, false},
		{muted, g1, true}, {picky, r1, false}, {picky, g2, true}, {g1, g1, false}} {
		if want[[2]uint32{c.l.SSRC, c.s.SSRC}] != c.h {
			t.Fatalf("table wrong for %d→%d", c.s.SSRC, c.l.SSRC)
		}
	}
	for _, l := range all {
		for _, s := range all {
			if got := Hears(l, s); got != want[[2]uint32{l.SSRC, s.SSRC}] {
				t.Errorf("Hears(%d, %d) = %v", l.SSRC, s.SSRC, got)
			}
		}
	}
}

// BenchmarkSelectorObserve is the per-packet cost of selection: Observe
// plus Selected, in a channel of n talkers.
func BenchmarkSelectorObserve(b *testing.B) {
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := NewSelector(SelectorConfig{})
			now := int64(1e9)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				now += int64(20*time.Millisecond) / int64(n)
				ssrc := uint32(i % n)
				s.Observe(ssrc, 20+int(ssrc)%60, now)
				_ = s.Selected(ssrc)
			}
		})
	}
}
