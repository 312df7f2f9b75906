//go:build linux

package main

import (
	"fmt"
	"math"
	"strings"
)

// implLabel is the display name of an impl in tables.
func implLabel(impl string) string {
	switch impl {
	case "c":
		return "C (udpbase fwd.c)"
	case "vox":
		return "vox"
	case "voxsrtp":
		return "vox+SRTP"
	case "go":
		return "gofwd (naive Go)"
	case "gosrtp":
		return "gofwd+SRTP"
	}
	return impl
}

func modeLabel(mode string, threads int) string {
	if mode == "pinned" {
		return fmt.Sprintf("pinned, %d thr", threads)
	}
	return fmt.Sprintf("%s, %d thr", mode, threads)
}

// num formats x with dec decimals, "–" for NaN.
func num(x float64, dec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", dec, x)
}

// FmtSpread renders "median (min–max)" of s×scale with dec decimals, just
// the value for a single repetition, "–" for no data.
func FmtSpread(s *Spread, scale float64, dec int) string {
	if s == nil {
		return "–"
	}
	m := num(s.Median*scale, dec)
	if len(s.All) <= 1 {
		return m
	}
	return fmt.Sprintf("%s (%s–%s)", m, num(s.Min*scale, dec), num(s.Max*scale, dec))
}

// FmtRatio renders a ratio of medians with the range of per-rep ratios.
func FmtRatio(r float64, reps *Spread) string {
	s := num(r, 2)
	if reps != nil && len(reps.All) > 1 {
		s += fmt.Sprintf(" (%s–%s)", num(reps.Min, 2), num(reps.Max, 2))
	}
	return s
}

// table renders a markdown table.
func table(head []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(head, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(head)) + "\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// testbedBusy: the generator+sink core was this busy at max rate, so the
// test bed and not only the forwarder limited the number.
const testbedBusy = 89.0

// MainTable: one row per impl per group.
func MainTable(groups []*Group) string {
	head := []string{"forwarder", "fanout", "mode", "CPU µs/in-pkt @ common rate",
		"max in kpps", "max out kpps", "saturated in kpps", "cpu0/cpu1 % at max",
		"p50 µs @50%", "p99 µs @50%", "p99.9 µs @50%"}
	var rows [][]string
	for _, g := range groups {
		for _, s := range g.Summaries {
			maxIn := FmtSpread(s.MaxIn, 1e-3, 0)
			if s.GenLimited {
				maxIn += " gen-limited"
			}
			busy := num(s.CPU0AtMax.med(), 0) + " / " + num(s.CPU1AtMax.med(), 0)
			if g.Mode == "pinned" && s.CPU1AtMax.med() >= testbedBusy {
				busy += " ⚠"
			}
			cpu := FmtSpread(s.CPUPerIn, 1, 2)
			if s.CPUPerIn != nil {
				cpu += fmt.Sprintf(" @ %sk", num(s.CommonRate/1e3, 0))
			}
			lat := func(x *Spread) string {
				if x == nil {
					return "–"
				}
				return FmtSpread(x, 1, 0)
			}
			rows = append(rows, []string{implLabel(s.Impl), fmt.Sprint(g.Fanout), modeLabel(g.Mode, g.Threads),
				cpu, maxIn, FmtSpread(s.MaxOut, 1e-3, 0), FmtSpread(s.SaturatedIn, 1e-3, 0), busy,
				lat(s.P50), lat(s.P99), lat(s.P999)})
		}
	}
	return table(head, rows)
}

// RatioTable: every impl over the baseline, per group.
func RatioTable(groups []*Group) string {
	head := []string{"fanout", "mode", "forwarder", "CPU per pkt ÷ C (lower is better)",
		"max in ÷ C (higher is better)", "saturated in ÷ C", "p99 @ common rate ÷ C"}
	var rows [][]string
	for _, g := range groups {
		for _, r := range g.Ratios {
			rows = append(rows, []string{fmt.Sprint(g.Fanout), modeLabel(g.Mode, g.Threads),
				implLabel(r.Impl) + " / " + implLabel(r.Baseline),
				FmtRatio(float64(r.CPUPerIn), r.CPUPerInReps), FmtRatio(float64(r.MaxIn), r.MaxInReps),
				num(float64(r.SaturatedIn), 2), num(float64(r.CommonP99), 2)})
		}
	}
	if len(rows) == 0 {
		return ""
	}
	return table(head, rows)
}

// DetailTable: like-for-like latency at the common rate, rates used, loss,
// core load and allocations.
func DetailTable(groups []*Group) string {
	head := []string{"forwarder", "fanout", "mode", "p50 / p99 µs @ common rate", "latency rate kpps",
		"e2e loss @50%", "e2e loss at max", "cpu0 % @ common (forwarder's own)", "allocs/in-pkt"}
	var rows [][]string
	for _, g := range groups {
		for _, s := range g.Summaries {
			pct := func(x *Spread) string {
				if x == nil {
					return "–"
				}
				return num(100*x.Median, 3) + "%"
			}
			lr := "–"
			if s.LatRate > 0 {
				lr = num(s.LatRate/1e3, 0)
			}
			common := "–"
			if s.CommonP50 != nil {
				common = fmt.Sprintf("%s / %s @ %sk", num(s.CommonP50.med(), 0), num(s.CommonP99.med(), 0), num(s.CommonRate/1e3, 0))
			}
			busy := num(s.CPU0AtCommon.med(), 0)
			if s.OwnAtCommon != nil {
				busy += " (" + num(s.OwnAtCommon.med(), 0) + ")"
			}
			rows = append(rows, []string{implLabel(s.Impl), fmt.Sprint(g.Fanout), modeLabel(g.Mode, g.Threads),
				common, lr, pct(s.LatLossE2E), pct(s.E2ELossAtMax), busy, FmtSpread(s.AllocsPerIn, 1, 2)})
		}
	}
	return table(head, rows)
}

// Tables is what goes to stdout.
func Tables(groups []*Group) string {
	var b strings.Builder
	b.WriteString(MainTable(groups))
	if rt := RatioTable(groups); rt != "" {
		b.WriteString("\n" + rt)
	}
	b.WriteString("\n" + DetailTable(groups))
	return b.String()
}

// Markdown renders the self-contained section for docs/performance.md.
func Markdown(r *Report, level int) string {
	level = max(1, min(level, 5))
	h := strings.Repeat("#", level)
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- Generated by bench/cmd/netcompare (%s) from its JSON output; do not edit the numbers by hand.\n", r.Finished)
	b.WriteString("     Regenerate: go run ./bench/cmd/netcompare report --json FILE.json --markdown FILE.md -->\n\n")
	fmt.Fprintf(&b, "%s Forwarder comparison: %s (loopback, %d-byte UDP payload)\n\n", h, implList(c.Impls), c.Size)
	if !r.Complete {
		b.WriteString("**Incomplete run** (interrupted or failed): the tables below hold only what was measured.\n\n")
	}
	fmt.Fprintf(&b, "Command (%s):\n\n```sh\n%s\n```\n\n", r.Started, r.Command)

	b.WriteString(h + "# Machine\n\n")
	m := r.Machine
	b.WriteString(table([]string{"", ""}, [][]string{
		{"nproc", fmt.Sprint(m.NProc)},
		{"kernel", m.Kernel},
		{"CPU", m.CPUModel},
		{"memory", m.Memory},
		{"Go", m.GoVersion},
		{"net.core.rmem_max", m.RmemMax},
		{"load average at start", m.LoadAvg},
		{"taskset", map[bool]string{true: "yes", false: "missing (pinned runs fell back to unpinned)"}[m.Taskset]},
	}))
	if len(r.Binaries) > 0 {
		b.WriteString("\nForwarders:\n\n")
		for _, impl := range c.Impls {
			bi, ok := r.Binaries[impl]
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "- %s: `%s`", implLabel(impl), strings.Join(bi.Argv, " "))
			if bi.GoVersion != "" {
				fmt.Fprintf(&b, ", %s", bi.GoVersion)
			}
			if bi.Source != "" {
				fmt.Fprintf(&b, ", %s", bi.Source)
			}
			fmt.Fprintf(&b, ", sha256 %s\n", bi.SHA256)
		}
	}

	b.WriteString("\n" + h + "# Method\n\n")
	fmt.Fprintf(&b, "Method of udpbase's bench.py (see /work/shared/tools/udpbase/README.md). "+
		"Generator → forwarder 127.0.0.1:%d → sink ports %d.., 64 talkers, generator `gen send -g` "+
		"(UDP GSO; `gogen -g -srtp -profile %s` for the +SRTP variants). "+
		"*pinned*: forwarder with 1 thread on cpu 0, generator and sink on cpu 1 (taskset); "+
		"*unpinned*: forwarder with 2 threads, nothing pinned. "+
		"Per group, %d repetition(s) interleaved across forwarders; each cell is median (min–max) over them. "+
		"%d s per trial.\n\n", c.FwdPort, c.SinkPort, c.Profile, c.Reps, c.Secs)
	fmt.Fprintf(&b, "- *CPU µs/in-pkt*: forwarder CPU time (getrusage, includes the kernel work done in its syscalls) "+
		"÷ packets received, at one common rate for all forwarders of a group (%s), sink in epoll mode. "+
		"The least noisy number and the one to use for ratios.\n", commonRateNote(c.CommonRate))
	fmt.Fprintf(&b, "- *max in*: highest generator rate with < %.1f %% forwarder loss (1 − out ÷ (sent × fanout)) "+
		"where the generator reached %.0f %% of the target: flat-out probe (*saturated in* = what the forwarder "+
		"took in), then %d bisection steps between %.2f and %.2f × that; a failing rate is tried twice. "+
		"Sink in poll mode (%d µs).\n", 100*LossLimit, 100*GenReach, c.Steps, searchLo, searchHi, c.SinkPoll)
	b.WriteString("- *p50/p99/p99.9*: one-way latency generator → sink at 50 % of that forwarder's median max rate, " +
		"sink in epoll mode, first 0.5 s skipped.\n")
	b.WriteString("- *@ common rate* (second table): the CPU-cost trials, all forwarders at the same rate with the sink " +
		"in epoll mode, so their latencies compare like for like. *cpu0 % (forwarder's own)*: busy % of cpu 0 " +
		"vs the forwarder's CPU time ÷ trial time; in pinned mode a large gap means other processes used cpu 0 " +
		"(this machine is shared).\n")
	b.WriteString("- ⚠: the generator+sink core was ≥ 89 % busy at max, so the test bed, not only the forwarder, " +
		"limited that number. *gen-limited*: the generator could not overload the forwarder.\n\n")

	b.WriteString(h + "# Results\n\n")
	b.WriteString(MainTable(r.Groups))
	if rt := RatioTable(r.Groups); rt != "" {
		b.WriteString("\nRatios to the C reference (medians; in parentheses the range of the per-repetition ratios):\n\n" + rt)
	}
	b.WriteString("\n" + DetailTable(r.Groups))
	if len(r.Warnings) > 0 {
		b.WriteString("\nWarnings during the run:\n\n")
		for _, w := range r.Warnings {
			b.WriteString("- " + w + "\n")
		}
	}
	return b.String()
}

func commonRateNote(fixed float64) string {
	if fixed > 0 {
		return fmt.Sprintf("fixed with --common-rate %.0f pps", fixed)
	}
	return "50 % of the slowest forwarder's median max rate"
}

func implList(impls []string) string {
	l := make([]string, len(impls))
	for i, s := range impls {
		l[i] = implLabel(s)
	}
	return strings.Join(l, " vs ")
}
