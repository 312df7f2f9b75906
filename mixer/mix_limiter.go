package mixer

// Limiter parameters: the ceiling is -1 dBFS, so the codec's own overshoot
// after encoding and decoding still stays below full scale; the gain comes
// back to unity with a 50 ms time constant.
const (
	limitCeiling = 23197                 // 0.708 × 32767: -3 dBFS
	limitRelease = 1.0 / (0.050 * 48000) // per-sample release coefficient (τ = 50 ms)
)

// limiter is a look-ahead-free peak limiter: a gain computer with an
// instantaneous attack (the gain drops at once to ceiling/|x| on a sample
// that would exceed the ceiling) and an exponential release back to 1. As
// the gain is never above ceiling/|x| for the sample it is applied to, the
// output never exceeds the ceiling: no clipping, and no soft-clip stage
// needed. One per mixed stream (its gain carries from frame to frame).
type limiter struct {
	gain float32
	// Engaged counts frames in which the gain went below 1; MinGain is the
	// lowest gain applied so far.
	engaged uint64
	minGain float32
}

func newLimiter() limiter { return limiter{gain: 1, minGain: 1} }

// process limits mix (int32 sums of int16 inputs) into out.
func (l *limiter) process(mix []int32, out []int16) {
	out = out[:len(mix)]
	if l.gain >= 1 {
		peak := int32(0)
		for _, x := range mix {
			peak = max(peak, x, -x)
		}
		if peak <= limitCeiling {
			for i, x := range mix {
				out[i] = int16(x)
			}
			return
		}
	}
	g := l.gain
	lo := g
	for i, x := range mix {
		g += (1 - g) * limitRelease
		a := float32(x)
		if a < 0 {
			a = -a
		}
		if a*g > limitCeiling {
			g = limitCeiling / a
		}
		lo = min(lo, g)
		y := float32(x) * g
		// Rounding can only move y by less than one step past the ceiling,
		// far below full scale; the clamp is a guard, never a clip.
		out[i] = int16(max(min(y, 32767), -32768))
	}
	if lo < 1 {
		l.engaged++
		l.minGain = min(l.minGain, lo)
	}
	if g > 0.9999 {
		g = 1
	}
	l.gain = g
}
