package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"
)

// RampResult is voxbench ramp's --json object: one steady run per step,
// each step --step sessions larger, until a step misses an objective
// (loss above --max-loss or p99 above --max-p99) or --steps ran.
type RampResult struct {
	Steps []RampStep `json:"steps"`
	// HighestHeld is the last step that met both objectives (null if the
	// first did not).
	HighestHeld *RampStep `json:"highest_held"`
	MaxLossPct  float64   `json:"max_loss_pct"`
	MaxP99US    float64   `json:"max_p99_us"`
}

// RampStep is one step's summary (the whole steady Result in Detail).
type RampStep struct {
	Sessions       int     `json:"sessions"`
	Participants   int     `json:"participants"`
	Talking        int     `json:"talking"`
	LossPct        float64 `json:"loss_pct"`
	P99US          float64 `json:"p99_us"`
	ServerRxPPS    float64 `json:"server_rx_pps"`
	ServerFwdPPS   float64 `json:"server_forwarded_pps"`
	GeneratorCores float64 `json:"generator_cpu_cores"`
	Saturated      bool    `json:"generator_saturated"`
	Held           bool    `json:"held"`
	Detail         *Result `json:"detail"`
}

func rampCmd(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	var step, steps int
	c, code, ok := parseBench("ramp", "voxbench ramp — steady runs with more sessions each step until loss or p99 passes its bound; the highest step held.\n\nUsage: voxbench ramp [flags]", args, lookup, stderr,
		func(c *steadyConfig) {
			c.sessions, c.maxLoss, c.maxP99 = 10, 0.1, 5*time.Millisecond
			c.duration, c.warmup = 5*time.Second, time.Second
		},
		func(fs *flag.FlagSet) {
			fs.IntVar(&step, "step", 10, "sessions added per step")
			fs.IntVar(&steps, "steps", 10, "most steps run")
		})
	if !ok {
		return code
	}
	if step < 1 || steps < 1 || steps > 100 || c.maxLoss < 0 || c.maxP99 <= 0 {
		fmt.Fprintln(stderr, "voxbench: ramp needs --step ≥ 1, 1 ≤ --steps ≤ 100, --max-loss ≥ 0 and --max-p99 > 0")
		return exitUsage
	}
	out := RampResult{MaxLossPct: c.maxLoss, MaxP99US: usf(c.maxP99)}
	const row = "%8v  %12v  %7v  %7v  %9v  %13v  %13v  %14v  %v\n"
	if !c.jsonOut {
		fmt.Fprintf(stdout, row, "sessions", "participants", "talking", "loss %", "p99", "server in pps", "forwarded pps", "generator CPUs", "held")
	}
	start := c.sessions
	for i := range steps {
		sc := *c
		sc.sessions = start + i*step
		if sc.sessions*sc.size > sc.maxParticipants() {
			break
		}
		res, err := runSteady(ctx, &sc, progressWriter(stderr))
		if err != nil {
			return setupFailed(ctx, stderr, fmt.Errorf("step %d (%d sessions): %w", i+1, sc.sessions, err))
		}
		st := RampStep{Sessions: sc.sessions, Participants: res.Participants, Talking: sc.sessions * sc.talkers,
			LossPct: res.LossPct, P99US: res.Latency.P99US, ServerRxPPS: res.Server.RxPPS, ServerFwdPPS: res.Server.ForwardedPPS,
			GeneratorCores: res.Generator.CPUCores, Saturated: res.Generator.Saturated, Held: res.Objectives.Met, Detail: res}
		out.Steps = append(out.Steps, st)
		if !c.jsonOut {
			cores := fmt.Sprintf("%.2f", st.GeneratorCores)
			if st.Saturated {
				cores += " (sat.)"
			}
			fmt.Fprintf(stdout, row, st.Sessions, st.Participants, st.Talking, fmt.Sprintf("%.3f", st.LossPct), fmtUS(st.P99US),
				fmt.Sprintf("%.0f", st.ServerRxPPS), fmt.Sprintf("%.0f", st.ServerFwdPPS), cores, st.Held)
		}
		if !st.Held {
			break
		}
		held := st
		out.HighestHeld = &held
	}
	if c.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else if out.HighestHeld != nil {
		fmt.Fprintf(stdout, "\nhighest step held: %d sessions, %d participants (%d talking)\n", out.HighestHeld.Sessions, out.HighestHeld.Participants, out.HighestHeld.Talking)
	} else {
		fmt.Fprintln(stdout, "\nno step held")
	}
	if out.HighestHeld == nil {
		fmt.Fprintln(stderr, "voxbench: the first step missed its objectives")
		return exitMissed
	}
	return exitOK
}
