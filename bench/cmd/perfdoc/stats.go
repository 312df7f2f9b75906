package main

import (
	"math"
	"sort"

	"github.com/voxfleet/vox/bench/internal/report"
)

// Stat is the median and range of one number over repetitions.
type Stat struct {
	Median, Min, Max float64
	N                int
}

// NewStat ignores NaNs; ok is false when nothing is left.
func NewStat(xs []float64) (Stat, bool) {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Stat{}, false
	}
	sort.Float64s(v)
	return Stat{Median: report.Median(v), Min: v[0], Max: v[len(v)-1], N: len(v)}, true
}

// fromSpread turns netcompare's Spread into a Stat.
func fromSpread(s *Spread) (Stat, bool) {
	if s == nil {
		return Stat{}, false
	}
	n := len(s.All)
	if n == 0 {
		n = 1
	}
	return Stat{Median: s.Median, Min: s.Min, Max: s.Max, N: n}, true
}

// over collects f over the repetitions.
func over(rs []*Steady, f func(*Steady) float64) (Stat, bool) {
	xs := make([]float64, 0, len(rs))
	for _, r := range rs {
		xs = append(xs, f(r))
	}
	return NewStat(xs)
}

// Aims of the issue the record measures against (constants of the aim, not
// measurements).
const (
	AimCM80Ratio      = 1.5  // vox SRTP AES-CM-80 CPU per packet ÷ C reference's
	AimGCMRatio       = 1.3  // the same with AES-GCM
	AimTalkingPerCore = 3000 // talking participants per core, sessions of 4
	AimLossPct        = 0.1
	AimP99US          = 5000
	PacketsPerTalker  = 50 // 20 ms frames
)

// Density is what one layout's steady runs imply for participants per core.
type Density struct {
	Participants, Talking int
	Cores                 Stat // server process CPU cores over the window
	MSPerParticipantSec   Stat
	TalkingPerCore        Stat // per repetition: talking ÷ cores
	ParticipantsPerCore   Stat
	RxPPS                 Stat
	GenSaturated          int // repetitions whose generator was saturated
	Reps                  int
}

// ComputeDensity derives the density from steady repetitions of one layout.
// ok is false when no repetition measured the server process.
func ComputeDensity(rs []*Steady) (Density, bool) {
	var m []*Steady
	for _, r := range rs {
		if r.Server.ProcessMeasured && r.Server.CPUCores > 0 {
			m = append(m, r)
		}
	}
	if len(m) == 0 {
		return Density{}, false
	}
	d := Density{Participants: m[0].Participants, Talking: m[0].Talking(), Reps: len(m)}
	d.Cores, _ = over(m, func(r *Steady) float64 { return r.Server.CPUCores })
	d.MSPerParticipantSec, _ = over(m, func(r *Steady) float64 { return r.Server.CPUPerParticipantSecMS })
	d.TalkingPerCore, _ = over(m, func(r *Steady) float64 { return float64(r.Talking()) / r.Server.CPUCores })
	d.ParticipantsPerCore, _ = over(m, func(r *Steady) float64 { return float64(r.Participants) / r.Server.CPUCores })
	d.RxPPS, _ = over(m, func(r *Steady) float64 { return r.Server.RxPPS })
	for _, r := range m {
		if r.Generator.Saturated {
			d.GenSaturated++
		}
	}
	return d, true
}

// TalkingPerCoreAtMedian is the arithmetic the document shows: talking
// participants ÷ the median of the server's CPU cores.
func (d Density) TalkingPerCoreAtMedian() float64 { return float64(d.Talking) / d.Cores.Median }

// ParticipantsPerCoreAtMedian is participants ÷ the median cores.
func (d Density) ParticipantsPerCoreAtMedian() float64 {
	return float64(d.Participants) / d.Cores.Median
}
