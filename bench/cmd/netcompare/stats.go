//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"math"

	"github.com/voxfleet/vox/bench/internal/report"
)

// Spread is the median and range of one measurement over repetitions.
type Spread struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	All    []float64 `json:"all"`
}

// NewSpread ignores NaNs; nil when nothing is left.
func NewSpread(xs []float64) *Spread {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return nil
	}
	s := &Spread{All: v, Median: report.Median(v)}
	s.Min, s.Max = v[0], v[0]
	for _, x := range v {
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	return s
}

// med is the median of s, NaN for nil.
func (s *Spread) med() float64 {
	if s == nil {
		return math.NaN()
	}
	return s.Median
}

// ---------------------------------------------------------------- search

// Search is one capacity search: a flat-out probe, then bisection for the
// highest rate with < LossLimit forwarder loss (udpbase bench.py's method).
type Search struct {
	Rep          int      `json:"rep"`
	Trials       []*Trial `json:"trials"` // every trial run, in order; [0] is the probe
	Best         int      `json:"best"`   // index of the highest passing trial, -1 if none
	GenLimited   bool     `json:"gen_limited"`
	SaturatedIn  float64  `json:"saturated_in"`
	SaturatedOut float64  `json:"saturated_out"`
	MaxRate      float64  `json:"max_rate"`
}

// runFunc runs one trial of the given kind at rate pps (0 = flat out).
type runFunc func(kind string, rate float64) (*Trial, error)

// Search bounds (fractions of the saturated in-rate).
const (
	searchLo = 0.6
	searchHi = 1.05
)

// RunSearch performs the search with run doing the trials. It is pure
// control flow, so it is unit-tested with a fake forwarder.
//
// A failing rate is retried once and passes if either try passes: this VM
// sometimes stalls ~100 ms (more than a socket buffer holds), while a
// sustained overload fails both times.
func RunSearch(steps int, run0 runFunc) (*Search, error) {
	s := &Search{Best: -1}
	run := func(kind string, rate float64) (*Trial, error) {
		t, err := run0(kind, math.Round(rate)) // the generator takes whole pps

		if t != nil {
			t.Kind = kind
		}
		return t, err
	}
	add := func(t *Trial) int {
		s.Trials = append(s.Trials, t)
		return len(s.Trials) - 1
	}
	attempt := func(rate float64) (bool, error) {
		t, err := run(KindSearch, rate)
		if err != nil {
			return false, err
		}
		i := add(t)
		if !t.Pass {
			if t, err = run(KindRetry, rate); err != nil {
				return false, err
			}
			t.Retried = true
			i = add(t)
		}
		if t.Pass {
			s.Best = i
		}
		return t.Pass, nil
	}

	probe, err := run(KindProbe, 0)
	if err != nil {
		return nil, err
	}
	add(probe)
	if probe.Pass { // the generator could not overload it
		s.GenLimited, s.Best = true, 0
		return s, s.finish()
	}
	est := probe.InRate()
	lo, hi := searchLo*est, searchHi*est
	okLo := false
	for i := 0; i < 3 && lo >= 1; i++ { // make sure lo passes
		if okLo, err = attempt(lo); err != nil {
			return nil, err
		}
		if okLo {
			break
		}
		hi, lo = lo, lo/2
	}
	if okLo { // and that hi fails (one try only: passing is what matters)
		t, err := run(KindSearch, hi)
		if err != nil {
			return nil, err
		}
		i := add(t)
		if t.Pass {
			s.Best = i
			lo, hi = hi, hi*1.5
		}
	}
	for i := 0; i < steps && okLo; i++ {
		mid := BisectMid(lo, hi)
		ok, err := attempt(mid)
		if err != nil {
			return nil, err
		}
		lo, hi = BisectStep(lo, hi, mid, ok)
	}
	return s, s.finish()
}

// BisectMid is the next rate to try between lo (passes) and hi (fails).
func BisectMid(lo, hi float64) float64 { return (lo + hi) / 2 }

// BisectStep narrows [lo, hi] after trying mid.
func BisectStep(lo, hi, mid float64, pass bool) (float64, float64) {
	if pass {
		return mid, hi
	}
	return lo, mid
}

// finish derives the search's numbers from its trials (also used when
// re-rendering a JSON file).
func (s *Search) finish() error {
	if len(s.Trials) == 0 || s.Trials[0].Kind != KindProbe {
		return errors.New("search without a probe trial")
	}
	if s.Best >= len(s.Trials) {
		return errors.New("search: best trial index out of range")
	}
	p := s.Trials[0]
	s.SaturatedIn, s.SaturatedOut = p.InRate(), p.OutRate
	s.MaxRate = 0
	if b := s.best(); b != nil {
		s.MaxRate = b.GenRate
	}
	return nil
}

func (s *Search) best() *Trial {
	if s == nil || s.Best < 0 || s.Best >= len(s.Trials) {
		return nil
	}
	return s.Trials[s.Best]
}

// ---------------------------------------------------------------- groups

// Group is one fanout × mode: every impl measured under the same conditions.
type Group struct {
	Fanout          int                  `json:"fanout"`
	Mode            string               `json:"mode"`
	Threads         int                  `json:"threads"`
	Impls           []string             `json:"impls"`
	Searches        map[string][]*Search `json:"searches"`
	CommonRate      float64              `json:"common_rate"`
	CommonRateFixed bool                 `json:"common_rate_fixed"`
	LatRate         map[string]float64   `json:"lat_rate"`
	LatTrials       map[string][]*Trial  `json:"lat_trials"`
	CostTrials      map[string][]*Trial  `json:"cost_trials"`
	Summaries       []*Summary           `json:"summaries"`
	Ratios          []*Ratio             `json:"ratios"`
}

// Summary is the per-impl row of a group.
type Summary struct {
	Impl         string  `json:"impl"`
	MaxIn        *Spread `json:"max_in"`
	MaxOut       *Spread `json:"max_out"`
	SaturatedIn  *Spread `json:"saturated_in"`
	SaturatedOut *Spread `json:"saturated_out"`
	CPU0AtMax    *Spread `json:"cpu0_at_max"`
	CPU1AtMax    *Spread `json:"cpu1_at_max"`
	GenLimited   bool    `json:"gen_limited"`
	E2ELossAtMax *Spread `json:"e2e_loss_at_max"`
	LatRate      float64 `json:"lat_rate"`
	P50          *Spread `json:"p50_us"`
	P99          *Spread `json:"p99_us"`
	P999         *Spread `json:"p999_us"`
	LatLossE2E   *Spread `json:"lat_loss_e2e"`
	CommonRate   float64 `json:"common_rate"`
	CPUPerIn     *Spread `json:"cpu_us_per_in"`
	CPU0AtCommon *Spread `json:"cpu0_at_common"`
	OwnAtCommon  *Spread `json:"fwd_own_pct_at_common"` // forwarder CPU time / trial time
	CommonP50    *Spread `json:"p50_us_at_common"`
	CommonP99    *Spread `json:"p99_us_at_common"`
	AllocsPerIn  *Spread `json:"allocs_per_in"`
}

// Ratio compares one impl with the baseline (C) in a group: medians over
// medians, and the range of the per-repetition ratios (rep i of impl over
// rep i of the baseline, which ran right next to each other).
type Ratio struct {
	Impl         string  `json:"impl"`
	Baseline     string  `json:"baseline"`
	CPUPerIn     jfloat  `json:"cpu_per_in"` // lower is better
	CPUPerInReps *Spread `json:"cpu_per_in_reps"`
	MaxIn        jfloat  `json:"max_in"` // higher is better
	MaxInReps    *Spread `json:"max_in_reps"`
	SaturatedIn  jfloat  `json:"saturated_in"`  // higher is better
	CommonP99    jfloat  `json:"p99_at_common"` // lower is better
}

// jfloat is a float64 that is null in JSON when it is NaN (unknown).
type jfloat float64

func (f jfloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jfloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jfloat(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

// PlanRates returns the common rate (fixed if > 0, else 50 % of the slowest
// impl's median max rate) and each impl's latency rate (50 % of its own
// median max). Impls without a max rate get no latency rate.
func PlanRates(impls []string, medMax map[string]float64, fixed float64) (common float64, lat map[string]float64) {
	lat = map[string]float64{}
	slowest := math.Inf(1)
	for _, i := range impls {
		m := medMax[i]
		if m > 0 && !math.IsNaN(m) {
			lat[i] = math.Round(0.5 * m)
			slowest = math.Min(slowest, m)
		}
	}
	switch {
	case fixed > 0:
		common = fixed
	case !math.IsInf(slowest, 1):
		common = math.Round(0.5 * slowest)
	}
	return common, lat
}

func collect[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// Summarize recomputes g.Summaries and g.Ratios from the raw trials.
func (g *Group) Summarize(baseline string) {
	g.Summaries, g.Ratios = nil, nil
	by := map[string]*Summary{}
	for _, impl := range g.Impls {
		rs, ls, cs := g.Searches[impl], g.LatTrials[impl], g.CostTrials[impl]
		bestOf := func(f func(*Trial) float64) func(*Search) float64 {
			return func(s *Search) float64 {
				if b := s.best(); b != nil {
					return f(b)
				}
				return math.NaN()
			}
		}
		s := &Summary{
			Impl:         impl,
			MaxIn:        NewSpread(collect(rs, func(s *Search) float64 { return s.MaxRate })),
			MaxOut:       NewSpread(collect(rs, bestOf(func(t *Trial) float64 { return t.OutRate }))),
			SaturatedIn:  NewSpread(collect(rs, func(s *Search) float64 { return s.SaturatedIn })),
			SaturatedOut: NewSpread(collect(rs, func(s *Search) float64 { return s.SaturatedOut })),
			CPU0AtMax:    NewSpread(collect(rs, bestOf(func(t *Trial) float64 { return t.util("cpu0") }))),
			CPU1AtMax:    NewSpread(collect(rs, bestOf(func(t *Trial) float64 { return t.util("cpu1") }))),
			E2ELossAtMax: NewSpread(collect(rs, bestOf(func(t *Trial) float64 { return t.LossE2E }))),
			LatRate:      g.LatRate[impl],
			P50:          NewSpread(collect(ls, func(t *Trial) float64 { return t.P50 })),
			P99:          NewSpread(collect(ls, func(t *Trial) float64 { return t.P99 })),
			P999:         NewSpread(collect(ls, func(t *Trial) float64 { return t.P999 })),
			LatLossE2E:   NewSpread(collect(ls, func(t *Trial) float64 { return t.LossE2E })),
			CommonRate:   g.CommonRate,
			CPUPerIn:     NewSpread(collect(cs, (*Trial).CPUPerIn)),
			CPU0AtCommon: NewSpread(collect(cs, func(t *Trial) float64 { return t.util("cpu0") })),
			OwnAtCommon:  NewSpread(collect(cs, (*Trial).OwnPct)),
			CommonP50:    NewSpread(collect(cs, func(t *Trial) float64 { return t.P50 })),
			CommonP99:    NewSpread(collect(cs, func(t *Trial) float64 { return t.P99 })),
			AllocsPerIn: NewSpread(collect(cs, func(t *Trial) float64 {
				if t.AllocsPerIn == nil {
					return math.NaN()
				}
				return *t.AllocsPerIn
			})),
		}
		for _, r := range rs {
			s.GenLimited = s.GenLimited || r.GenLimited
		}
		g.Summaries = append(g.Summaries, s)
		by[impl] = s
	}
	base, ok := by[baseline]
	if !ok {
		return
	}
	for _, impl := range g.Impls {
		if impl == baseline {
			continue
		}
		s := by[impl]
		g.Ratios = append(g.Ratios, &Ratio{
			Impl: impl, Baseline: baseline,
			CPUPerIn:     jfloat(div(s.CPUPerIn.med(), base.CPUPerIn.med())),
			CPUPerInReps: NewSpread(PairedRatios(collect(g.CostTrials[impl], (*Trial).CPUPerIn), collect(g.CostTrials[baseline], (*Trial).CPUPerIn))),
			MaxIn:        jfloat(div(s.MaxIn.med(), base.MaxIn.med())),
			MaxInReps: NewSpread(PairedRatios(collect(g.Searches[impl], func(s *Search) float64 { return s.MaxRate }),
				collect(g.Searches[baseline], func(s *Search) float64 { return s.MaxRate }))),
			SaturatedIn: jfloat(div(s.SaturatedIn.med(), base.SaturatedIn.med())),
			CommonP99:   jfloat(div(s.CommonP99.med(), base.CommonP99.med())),
		})
	}
}

// div is a/b, NaN when either is unknown or b is 0.
func div(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// PairedRatios is a[i]/b[i] for the repetitions both have.
func PairedRatios(a, b []float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, div(a[i], b[i]))
	}
	return out
}
