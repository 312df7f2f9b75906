//go:build linux

package main

import (
	"fmt"
	"math"
)

const (
	// LossLimit: a capacity trial passes when forwarder loss is below it...
	LossLimit = 0.001
	// GenReach: ...and the generator reached this fraction of the target.
	GenReach = 0.98
)

// Trial kinds.
const (
	KindProbe   = "probe"   // flat out: what the forwarder takes in when saturated
	KindSearch  = "search"  // one bisection rate
	KindRetry   = "retry"   // second try of a failing rate
	KindLatency = "latency" // 50 % of the impl's median max, sink in epoll mode
	KindCost    = "cost"    // common rate for all impls, sink in epoll mode
)

// Trial is one generator run through one forwarder into one sink. The raw
// RESULT lines are stored; every other number is derived from them (see
// derive), so a JSON file can be re-rendered and checked without re-running.
type Trial struct {
	Impl     string  `json:"impl"`
	Fanout   int     `json:"fanout"`
	Mode     string  `json:"mode"`
	Threads  int     `json:"threads"`
	Size     int     `json:"size"`
	Secs     int     `json:"secs"`
	Kind     string  `json:"kind"`
	Rep      int     `json:"rep"`
	Target   float64 `json:"target_pps"` // 0 = flat out
	SinkPoll int     `json:"sink_poll_us"`
	Start    string  `json:"start"`

	GenLine  string             `json:"gen_result"`
	FwdLine  string             `json:"fwd_result"`
	SinkLine string             `json:"sink_result"`
	Util     map[string]float64 `json:"util_pct"` // per-cpu busy % while the generator ran

	// Derived from the RESULT lines.
	FwdImpl     string   `json:"fwd_impl"`
	Sent        float64  `json:"sent"`
	GenRate     float64  `json:"gen_rate"`
	FwdIn       float64  `json:"fwd_in"`
	FwdOut      float64  `json:"fwd_out"`
	SendErr     float64  `json:"senderr"`
	AuthFail    *float64 `json:"authfail,omitempty"`
	FwdCPU      float64  `json:"fwd_cpu_s"`
	AllocsPerIn *float64 `json:"allocs_per_in,omitempty"`
	SinkRx      float64  `json:"sink_rx"`
	P50         float64  `json:"p50_us"`
	P99         float64  `json:"p99_us"`
	P999        float64  `json:"p999_us"`
	LossIn      float64  `json:"loss_in"`
	LossFwd     float64  `json:"loss_fwd"`
	LossE2E     float64  `json:"loss_e2e"`
	OutRate     float64  `json:"out_rate"`
	Pass        bool     `json:"pass"`
	Retried     bool     `json:"retried,omitempty"`
}

// lossFrac is 1 - got/want (0 when nothing was wanted).
func lossFrac(got, want float64) float64 {
	if want <= 0 {
		return 0
	}
	return 1 - got/want
}

// Passes is the capacity criterion shared with udpbase's bench.py.
func Passes(lossFwd, target, genRate float64) bool {
	return lossFwd < LossLimit && (target == 0 || genRate >= GenReach*target)
}

// derive parses the three RESULT lines and fills in the derived fields.
func (t *Trial) derive() error {
	gen, err := ParseResult(t.GenLine, "gen")
	if err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	fwd, err := ParseResult(t.FwdLine, "fwd")
	if err != nil {
		return fmt.Errorf("forwarder: %w", err)
	}
	sink, err := ParseResult(t.SinkLine, "sink")
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	g, err := gen.nums("sent", "rate")
	if err != nil {
		return err
	}
	f, err := fwd.nums("in", "out", "senderr", "cpu_s")
	if err != nil {
		return err
	}
	s, err := sink.nums("rx", "p50_us", "p99_us", "p999_us")
	if err != nil {
		return err
	}
	// The forwarder must have run the configuration we asked for.
	for key, want := range map[string]int{"threads": t.Threads, "fanout": t.Fanout} {
		v, err := fwd.OptNum(key)
		if err != nil {
			return err
		}
		if v != nil && int(*v) != want {
			return fmt.Errorf("RESULT fwd: %s=%v, but the forwarder was started with %d: %q", key, *v, want, fwd.Line)
		}
	}
	if t.AllocsPerIn, err = fwd.OptNum("allocs_per_in"); err != nil {
		return err
	}
	if t.AuthFail, err = fwd.OptNum("authfail"); err != nil {
		return err
	}
	t.FwdImpl = fwd.Fields["impl"]
	t.Sent, t.GenRate = g[0], g[1]
	t.FwdIn, t.FwdOut, t.SendErr, t.FwdCPU = f[0], f[1], f[2], f[3]
	t.SinkRx, t.P50, t.P99, t.P999 = s[0], s[1], s[2], s[3]
	want := t.Sent * float64(t.Fanout)
	t.LossIn = lossFrac(t.FwdIn, t.Sent)
	t.LossFwd = lossFrac(t.FwdOut, want)
	t.LossE2E = lossFrac(t.SinkRx, want)
	t.OutRate = 0
	if want > 0 {
		t.OutRate = math.Round(t.GenRate * float64(t.Fanout) * math.Min(1, t.FwdOut/want))
	}
	t.Pass = Passes(t.LossFwd, t.Target, t.GenRate)
	return nil
}

// CPUPerIn is forwarder CPU µs per received packet (NaN if unknown).
func (t *Trial) CPUPerIn() float64 {
	if t == nil || t.FwdIn <= 0 || t.FwdCPU <= 0 {
		return math.NaN()
	}
	return 1e6 * t.FwdCPU / t.FwdIn
}

// OwnPct is the forwarder's CPU time as a percentage of the generator's
// run time: compared with the busy % of its core (pinned mode) it shows how
// much of that core other processes took.
func (t *Trial) OwnPct() float64 {
	if t == nil || t.Secs <= 0 {
		return math.NaN()
	}
	return 100 * t.FwdCPU / float64(t.Secs)
}

// InRate is what the forwarder took in per second (generator rate minus
// what its socket dropped).
func (t *Trial) InRate() float64 { return t.GenRate * (1 - t.LossIn) }

// util returns the busy % of cpu (NaN if not measured).
func (t *Trial) util(cpu string) float64 {
	if v, ok := t.Util[cpu]; ok {
		return v
	}
	return math.NaN()
}
