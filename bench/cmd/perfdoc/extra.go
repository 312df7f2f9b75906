package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The parts of the record issue 16 asked for: voxd ÷ C with the C
// reference driven smoothly, the receive-coalescing table, the density
// from the ramp, and mix mode.

var (
	coalesceName = regexp.MustCompile(`^coalesce-([a-z0-9_]+)-s([0-9]+)-(on|off)-r([0-9]+)\.json$`)
	mixFile      = regexp.MustCompile(`^mix(bench|prof)-m([0-9]+)\.txt$`)
)

// loadExtra reads the smooth netcompare runs, the coalescing runs and the
// mix benchmarks of a run directory into r.
func loadExtra(r *Record, dir string, read func(string, any) bool) {
	r.NCSmooth = map[string]*NC{}
	r.Coalesce = map[string]map[int]map[string][]*Steady{}
	r.MixBench, r.MixProf = map[int]string{}, map[int]string{}
	r.MixRamp = map[int]*Ramp{}
	for _, m := range []int{4, 8} {
		var rp Ramp
		if read(fmt.Sprintf("ramp-mix-m%d.json", m), &rp) {
			r.MixRamp[m] = &rp
		}
	}
	for _, p := range Profiles {
		var n NC
		if read("netcompare-"+p+"-smooth.json", &n) {
			r.NCSmooth[p] = &n
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names) // repetitions in order (r1 < r2 < ... < r9)
	for _, name := range names {
		if m := coalesceName.FindStringSubmatch(name); m != nil {
			var s Steady
			if !read(name, &s) {
				continue
			}
			n, _ := strconv.Atoi(m[2])
			if r.Coalesce[m[1]] == nil {
				r.Coalesce[m[1]] = map[int]map[string][]*Steady{}
			}
			if r.Coalesce[m[1]][n] == nil {
				r.Coalesce[m[1]][n] = map[string][]*Steady{}
			}
			r.Coalesce[m[1]][n][m[3]] = append(r.Coalesce[m[1]][n][m[3]], &s)
			continue
		}
		if m := mixFile.FindStringSubmatch(name); m != nil {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			size, _ := strconv.Atoi(m[2])
			if m[1] == "bench" {
				r.MixBench[size] = string(b)
			} else {
				r.MixProf[size] = string(b)
			}
		}
	}
}

// RampDensity is the density the record states: the ramp's highest step
// held, talking participants ÷ the server's own CPU cores at that step.
type RampDensity struct {
	Talking int
	RxPPS   float64
	Cores   float64
	PerCore float64
	// Why the ramp stopped there: "server" (the next step missed its
	// objectives with the generator keeping up), "generator" (the next
	// step's generator was saturated or late: the server's limit is
	// higher), or "end" (every step held: the ramp ended first).
	Limit string
}

// ComputeRampDensity returns the ramp's density; ok is false without a
// held step that measured the server's CPU.
func ComputeRampDensity(r *Ramp) (RampDensity, bool) {
	if r == nil || r.HighestHeld == nil || r.HighestHeld.Detail == nil {
		return RampDensity{}, false
	}
	h := r.HighestHeld
	sv := h.Detail.Server
	if !sv.ProcessMeasured || sv.CPUCores <= 0 || h.Talking <= 0 {
		return RampDensity{}, false
	}
	d := RampDensity{Talking: h.Talking, RxPPS: h.ServerRxPPS, Cores: sv.CPUCores}
	_, d.PerCore = divShown(float64(h.Talking), sv.CPUCores, 4)
	last := r.Steps[len(r.Steps)-1]
	switch {
	case last.Held:
		d.Limit = "end"
	case last.Saturated || genLate(last.Detail):
		d.Limit = "generator"
	default:
		d.Limit = "server"
	}
	return d, true
}

// rampTick is the send tick of a ramp's steps (0: smooth sends).
func rampTick(r *Ramp) float64 {
	for _, s := range r.Steps {
		if s.Detail != nil {
			return s.Detail.Generator.SendTick
		}
	}
	return 0
}

// rampVariant names how a ramp's generator sent: smooth, or every tick.
func rampVariant(r *Ramp) string {
	if t := rampTick(r); t > 0 {
		return fmt.Sprintf("voxbench sending what is due every %s", dur(t))
	}
	return "smooth arrivals"
}

// limitNote says why a ramp stopped at its highest step held (RampDensity's
// Limit).
func limitNote(limit string) string {
	switch limit {
	case "generator":
		return "; the next step failed with **the generator** saturated or late, so the server's own limit is higher (this is a lower bound)"
	case "end":
		return "; every step held: the ramp ended before the server's limit (a lower bound)"
	}
	return "; the next step missed the objectives with the generator keeping up: the server's limit"
}

// renderRampDensity is the summary's density lines of one profile: the
// smooth ramp's, then the ticked ramp's when the run has one.
func renderRampDensity(d *doc, rec *Record, p string) bool {
	shown := false
	for _, r := range []*Ramp{rec.Ramp[p], rec.RampTick[p]} {
		rd, ok := ComputeRampDensity(r)
		if !ok {
			continue
		}
		shown = true
		cores, v := divShown(float64(rd.Talking), rd.Cores, 4)
		verdict := "below"
		if v >= AimTalkingPerCore {
			verdict = "at or above"
		}
		line := fmt.Sprintf("- %s, sessions of 4 all talking, %s, the ramp's highest step held (%s packets/s in): %s talking ÷ %s server cores = **%s talking participants per core**, %s the aim of %s",
			ProfileName(p), rampVariant(r), num(rd.RxPPS, 0), num(float64(rd.Talking), 0), cores, num(v, 0), verdict, num(AimTalkingPerCore, 0))
		d.p("%s%s ([ramp](#ramp-the-highest-load-held)).", line, limitNote(rd.Limit))
	}
	return shown
}

// renderSmoothRatio: voxd against the C reference driven smoothly, the
// same arrival pattern as voxbench's clients.
func renderSmoothRatio(d *doc, rec *Record) {
	any := false
	for _, p := range Profiles {
		if rec.NCSmooth[p] != nil {
			any = true
		}
	}
	if !any {
		return
	}
	d.p("With the C reference driven **smoothly** (udpbase's generator sending one datagram per paced send, `netcompare --gen-batch 1`, like voxbench's clients) at the same common rate, like with like:")
	d.nl()
	d.p("| SRTP profile | CPU µs per input packet, voxd | at server pps in | C reference, smooth | vox core (netfwd -srtp), smooth | at pps | voxd ÷ C, smooth | vox core ÷ C, smooth |")
	d.p("|---|---|---|---|---|---|---|---|")
	for _, p := range Profiles {
		g := rec.NCSmooth[p].Group(3)
		if g == nil {
			continue
		}
		var rs []*Steady
		for _, r := range rec.Steady[p]["s4"] {
			if r.Server.ProcessMeasured && r.Server.CPUPerRxPacketUS > 0 {
				rs = append(rs, r)
			}
		}
		vox, okV := over(rs, func(r *Steady) float64 { return r.Server.CPUPerRxPacketUS })
		pps, _ := over(rs, func(r *Steady) float64 { return r.Server.RxPPS })
		cs, okC := Stat{}, false
		if c := g.Summary("c"); c != nil {
			cs, okC = fromSpread(c.CPUPerIn)
		}
		core, okK := Stat{}, false
		if k := g.Summary("voxsrtp"); k != nil {
			core, okK = fromSpread(k.CPUPerIn)
		}
		ratio, coreRatio := NotMeasured, NotMeasured
		if okV && okC {
			ratio = "**" + num(vox.Median/cs.Median, 2) + "**"
		}
		if okK && okC {
			coreRatio = num(core.Median/cs.Median, 2)
		}
		d.p("| %s | %s | %s | %s | %s | %s | %s | %s |", ProfileName(p), st(vox, okV, 1, 2), st(pps, okV, 1, 0),
			st(cs, okC, 1, 2), st(core, okK, 1, 2), rate(g.CommonRate), ratio, coreRatio)
	}
	d.nl()
	d.para("The aim for the whole server is within 15 % of the C reference at the same arrival pattern",
		"and rate (voxd ÷ C, smooth ≤ 1.15). The C reference does no cryptography.")
}

// renderCoalesce is the receive-coalescing table: voxd with its default
// --rx-coalesce and with 0, at several loads.
func renderCoalesce(d *doc, rec *Record, file func(string) string) {
	d.p("### Receive coalescing on and off")
	d.nl()
	if len(rec.Coalesce) == 0 {
		d.para("Receive coalescing (voxd `--rx-coalesce`): " + NotMeasured + ".")
		return
	}
	d.para("voxd with its default `--rx-coalesce` (*on*) and with `--rx-coalesce 0` (*off*), restarted for every run,",
		"the two interleaved; voxbench steady, sessions of 4 all talking. CPU is the server process's own",
		"(getrusage), per input packet; datagrams per recvmmsg is the server's count. Medians over the",
		"repetitions, range in brackets; on ÷ off is the ratio of the medians.")
	d.p("| SRTP profile | sessions of 4 | server pps in | CPU µs per input packet, on | off | on ÷ off | p99, on | p99, off | datagrams per recvmmsg, on / off | loss %%, on / off |")
	d.p("|---|---|---|---|---|---|---|---|---|---|")
	for _, p := range Profiles {
		loads := make([]int, 0, len(rec.Coalesce[p]))
		for n := range rec.Coalesce[p] {
			loads = append(loads, n)
		}
		sort.Ints(loads)
		for _, n := range loads {
			on, off := measuredRuns(rec.Coalesce[p][n]["on"]), measuredRuns(rec.Coalesce[p][n]["off"])
			cOn, okOn := over(on, func(r *Steady) float64 { return r.Server.CPUPerRxPacketUS })
			cOff, okOff := over(off, func(r *Steady) float64 { return r.Server.CPUPerRxPacketUS })
			pps, okP := over(append(append([]*Steady{}, on...), off...), func(r *Steady) float64 { return r.Server.RxPPS })
			pOn, okPOn := over(on, func(r *Steady) float64 { return r.Latency.P99US })
			pOff, okPOff := over(off, func(r *Steady) float64 { return r.Latency.P99US })
			bOn, okBOn := over(on, func(r *Steady) float64 { return r.Server.RxPerBatch })
			bOff, okBOff := over(off, func(r *Steady) float64 { return r.Server.RxPerBatch })
			lOn, okLOn := over(on, func(r *Steady) float64 { return r.LossPct })
			lOff, okLOff := over(off, func(r *Steady) float64 { return r.LossPct })
			ratio := NotMeasured
			if okOn && okOff && cOff.Median > 0 {
				ratio = "**" + num(cOn.Median/cOff.Median, 2) + "**"
			}
			batches := st(bOn, okBOn, 1, 1) + " / " + st(bOff, okBOff, 1, 1)
			loss := st(lOn, okLOn, 1, 3) + " / " + st(lOff, okLOff, 1, 3)
			d.p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |", ProfileName(p), n, st(pps, okP, 1, 0),
				st(cOn, okOn, 1, 2), st(cOff, okOff, 1, 2), ratio, stDur(pOn, okPOn), stDur(pOff, okPOff), batches, loss)
		}
	}
	d.nl()
	var files []string
	for _, p := range Profiles {
		for _, n := range sortedKeys(rec.Coalesce[p]) {
			for _, mode := range []string{"on", "off"} {
				if k := len(rec.Coalesce[p][n][mode]); k > 0 {
					files = append(files, file(fmt.Sprintf("coalesce-%s-s%d-%s-r1.json", p, n, mode)))
				}
			}
		}
	}
	if len(files) > 0 {
		d.para("Raw (first repetition of each; the others are beside them): " + strings.Join(files, ", ") + ".")
	}
}

func sortedKeys(m map[int]map[string][]*Steady) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// measuredRuns are the runs that measured the server's process CPU.
func measuredRuns(rs []*Steady) []*Steady {
	var m []*Steady
	for _, r := range rs {
		if r.Server.ProcessMeasured && r.Server.CPUPerRxPacketUS > 0 {
			m = append(m, r)
		}
	}
	return m
}

// MixRow is one room size's mix-mode benchmark.
type MixRow struct {
	Members      int
	NsPerFrame   Stat // one 20 ms frame of the room through the engine
	RoomsPerCore Stat
	// Split of the profile's samples (cumulative %, of the benchmark's
	// total): Opus decode, Opus encode, SRTP crypto, and the rest (mixing,
	// limiting, jitter buffers, the engine).
	Decode, Encode, Crypto, Rest float64
	Split                        bool
}

var benchLine = regexp.MustCompile(`^BenchmarkMixModeFrame/members([0-9]+)/talkers([0-9]+)\S*\s+[0-9]+\s+([0-9.]+) ns/op(.*)$`)

// ParseMixBench reads BenchmarkMixModeFrame lines (members = talkers) of
// one room size.
func ParseMixBench(out string, members int) (MixRow, bool) {
	row := MixRow{Members: members}
	var ns, rooms []float64
	for _, l := range strings.Split(out, "\n") {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		if mm, _ := strconv.Atoi(m[1]); mm != members {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		ns = append(ns, v)
		f := strings.Fields(m[4])
		for i := 1; i < len(f); i++ {
			if f[i] == "rooms/core" {
				if x, err := strconv.ParseFloat(f[i-1], 64); err == nil {
					rooms = append(rooms, x)
				}
			}
		}
	}
	var ok bool
	if row.NsPerFrame, ok = NewStat(ns); !ok {
		return row, false
	}
	if r, ok := NewStat(rooms); ok {
		row.RoomsPerCore = r
	} else {
		row.RoomsPerCore, _ = NewStat([]float64{float64(20e6) / row.NsPerFrame.Median})
	}
	return row, true
}

// mixParts are the functions whose cumulative samples make the split.
var mixParts = map[string][]string{
	"decode": {"github.com/voxfleet/vox/mixer.(*Decoder).decode"},
	"encode": {"github.com/voxfleet/vox/mixer.(*Encoder).Encode"},
	"crypto": {"github.com/voxfleet/vox/media.(*Inbound).DecryptRTP", "github.com/voxfleet/vox/media.(*Outbound).EncryptRTP"},
	"total":  {"github.com/voxfleet/vox/sessionmgr.BenchmarkMixModeFrame.func1"},
}

// ParseMixProfile reads `go tool pprof -top -cum` output: the cumulative
// seconds of the split's functions as shares of the benchmark's own.
func ParseMixProfile(out string) (decode, encode, crypto, rest float64, ok bool) {
	cum := map[string]float64{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		v, err := parseSeconds(f[3])
		if err != nil {
			continue
		}
		cum[strings.Join(f[5:], " ")] = v
	}
	get := func(part string) float64 {
		s := 0.0
		for _, fn := range mixParts[part] {
			s += cum[fn]
		}
		return s
	}
	total := get("total")
	if total <= 0 {
		return 0, 0, 0, 0, false
	}
	decode, encode, crypto = 100*get("decode")/total, 100*get("encode")/total, 100*get("crypto")/total
	rest = math.Max(0, 100-decode-encode-crypto)
	return decode, encode, crypto, rest, true
}

// parseSeconds reads pprof's durations: "1.23s", "450ms", "12us".
func parseSeconds(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"ms", 1e-3}, {"us", 1e-6}, {"µs", 1e-6}, {"ns", 1e-9}, {"s", 1}, {"mins", 60}, {"hrs", 3600}} {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			return v * u.scale, err
		}
	}
	return 0, fmt.Errorf("not a duration: %q", s)
}

// renderMix is the mix-mode section.
func renderMix(d *doc, rec *Record, file func(string) string) {
	d.p("### Mix mode: rooms per core")
	d.nl()
	if len(rec.MixBench) == 0 {
		d.para("Mix mode: " + NotMeasured + " (record.sh measures it when libopus-dev is installed).")
		return
	}
	d.para("Rooms of 4 and of 8, everybody talking, in mix mode (each listener one mixed Opus stream):",
		"`BenchmarkMixModeFrame` (sessionmgr, built with `-tags opus`) runs one 20 ms frame of a room",
		"through the engine (SRTP decrypt and push of every talker's packet, the shard's ticks with the",
		"mixer's decode, mix, limit and encode, every listener's packet encrypted into the send queue), on",
		"cpu 0. Rooms per core = 20 ms ÷ the time per frame: the rooms one core keeps up with doing only",
		"this. It is in-process (no sockets), so loss and p99 are not measured here (end to end: below).",
		"The split is of the benchmark's CPU profile (cumulative samples of the Opus decoder and encoder",
		"calls and of SRTP; the rest is mixing, limiting, jitter buffers and the engine).")
	d.p("| room | time per 20 ms frame | rooms per core | decode | mix and the rest | encode | SRTP crypto |")
	d.p("|---|---|---|---|---|---|---|")
	var files []string
	for _, m := range []int{4, 8} {
		out, ok := rec.MixBench[m]
		if !ok {
			continue
		}
		files = append(files, file(fmt.Sprintf("mixbench-m%d.txt", m)))
		row, ok := ParseMixBench(out, m)
		if !ok {
			d.p("| %d, all talking | %s | %s | | | | |", m, NotMeasured, NotMeasured)
			continue
		}
		split := []string{NotMeasured, NotMeasured, NotMeasured, NotMeasured}
		if dec, enc, cr, rest, ok := ParseMixProfile(rec.MixProf[m]); ok {
			split = []string{num(dec, 0) + " %", num(rest, 0) + " %", num(enc, 0) + " %", num(cr, 0) + " %"}
			files = append(files, file(fmt.Sprintf("mixprof-m%d.txt", m)))
		}
		d.p("| %d, all talking | %s | **%s** | %s | %s | %s | %s |", m, st(row.NsPerFrame, true, 1e-3, 0)+" µs",
			st(row.RoomsPerCore, true, 1, 1), split[0], split[1], split[2], split[3])
	}
	d.nl()
	if len(files) > 0 {
		d.para("Raw: " + strings.Join(files, ", ") + ".")
	}
	renderMixRamps(d, rec, file)
}

// MixDensity is a mix ramp's highest step held: rooms ÷ the server's own
// cores.
type MixDensity struct {
	Rooms        int
	Participants int
	Cores        float64
	PerCore      float64
	Limit        string // as RampDensity's
}

// ComputeMixDensity returns a mix ramp's rooms per core; ok is false
// without a held step that measured the server's CPU.
func ComputeMixDensity(r *Ramp) (MixDensity, bool) {
	rd, ok := ComputeRampDensity(r)
	if !ok {
		return MixDensity{}, false
	}
	h := r.HighestHeld
	_, per := divShown(float64(h.Sessions), rd.Cores, 4)
	return MixDensity{Rooms: h.Sessions, Participants: h.Participants, Cores: rd.Cores, PerCore: per, Limit: rd.Limit}, true
}

// renderMixRamps is mix mode end to end: voxbench ramp --mix against a
// voxd built with libopus.
func renderMixRamps(d *doc, rec *Record, file func(string) string) {
	if len(rec.MixRamp) == 0 {
		d.para("Mix mode end to end (`voxbench ramp --mix`): " + NotMeasured + " (record.sh runs it when libopus-dev is installed).")
		return
	}
	d.para("End to end: `voxbench ramp --mix` against voxd built with libopus (`-tags opus`, AEAD_AES_128_GCM,",
		"one shard on cpu 0, voxbench on cpu 1): mix sessions, everybody talking real Opus (32 kbit/s), each",
		"step more rooms, until a step misses < 0.1 % loss (from each mixed stream's sequence numbers) or",
		"p99 < 5 ms of **mix lateness** (a mixed packet carries no send time: each one's arrival against",
		"its tick's RTP timestamp, over the listener's earliest; the server's tick running late, its send",
		"path and the kernel). Rooms per core = the highest step held ÷ the server's own cores there.")
	for _, m := range []int{4, 8} {
		r := rec.MixRamp[m]
		if r == nil || len(r.Steps) == 0 {
			d.para(fmt.Sprintf("Rooms of %d: %s.", m, NotMeasured))
			continue
		}
		d.p("Rooms of %d, all talking (raw: %s):", m, file(fmt.Sprintf("ramp-mix-m%d.json", m)))
		d.nl()
		d.p("| rooms | participants | loss %% | mix lateness p99 | ticks skipped | short mixes | server cores | ms of CPU per participant-second | generator cores | held |")
		d.p("|---|---|---|---|---|---|---|---|---|---|")
		for _, s := range r.Steps {
			cores, perPart, skipped, short := NotMeasured, NotMeasured, NotMeasured, NotMeasured
			if s.Detail != nil && s.Detail.Server.ProcessMeasured {
				cores = num(s.Detail.Server.CPUCores, 3)
				perPart = num(s.Detail.Server.CPUPerParticipantSecMS, 3)
			}
			if s.Detail != nil && s.Detail.Mix != nil {
				skipped, short = num(float64(s.Detail.Mix.TicksSkipped), 0), num(float64(s.Detail.Mix.Short), 0)
			}
			gen := num(s.GeneratorCores, 2)
			if s.Saturated {
				gen += " (saturated)"
			}
			d.p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", num(float64(s.Sessions), 0), num(float64(s.Participants), 0),
				num(s.LossPct, 3), dur(s.P99US), skipped, short, cores, perPart, gen, yesNo(s.Held))
		}
		d.nl()
		if md, ok := ComputeMixDensity(r); ok {
			cores, _ := divShown(float64(md.Rooms), md.Cores, 4)
			line := fmt.Sprintf("Highest step held: %s rooms of %d (%s participants) on %s server cores = **%s rooms of %d per core** end to end",
				num(float64(md.Rooms), 0), m, num(float64(md.Participants), 0), cores, num(md.PerCore, 1), m)
			d.para(line + limitNote(md.Limit) + ".")
		} else {
			d.para("No step held with the server's CPU measured.")
		}
	}
}
