//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/voxfleet/vox/bench/internal/report"
)

const (
	cLine    = "RESULT fwd impl=c threads=1 fanout=3 gso=0 in=1000000 out=3000000 senderr=0 recvcalls=5000 secs=5.800 cpu_s=6.460 thread_in=1000000"
	goLine   = "RESULT fwd impl=go srtp=none threads=1 fanout=3 in=500000 out=1500000 senderr=0 authfail=0 recvcalls=9 secs=5.8 cpu_s=5.9 allocs_per_in=2.00 gc=3 thread_in=500000"
	voxLine  = "RESULT fwd impl=vox threads=1 fanout=3 in=500000 out=1500000 senderr=0 cpu_s=4.0 allocs_per_in=0.00"
	genLine  = "RESULT gen impl=c gso=1 size=120 sockets=64 target=100000 sent=500000 secs=5.000 rate=100000 errs=0 calls=62500 cpu_s=1.2"
	sinkLine = "RESULT sink poll_us=0 rx=1500000 secs=13.0 lat_n=1400000 p50_us=55 p90_us=90 p99_us=211 p999_us=900 bad=0 cpu_s=2.1"
)

func TestParseResult(t *testing.T) {
	out := "fwd: 1 thread(s)\nsome noise\n" + cLine + "\r\n"
	r, err := ParseResult(out, "fwd")
	if err != nil {
		t.Fatal(err)
	}
	if r.Fields["impl"] != "c" || r.Fields["thread_in"] != "1000000" || r.Line != cLine {
		t.Fatalf("bad parse: %+v", r)
	}
	if v, err := r.Num("cpu_s"); err != nil || v != 6.46 {
		t.Fatalf("cpu_s = %v, %v", v, err)
	}
	if v, err := r.OptNum("allocs_per_in"); err != nil || v != nil {
		t.Fatalf("absent optional field: %v, %v", v, err)
	}
	for _, line := range []string{goLine, voxLine} {
		if _, err := ParseResult(line, "fwd"); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
}

func TestParseResultErrors(t *testing.T) {
	cases := map[string]struct{ out, want string }{
		"empty":     {"", "output was empty"},
		"none":      {"RESULT gen sent=1\n", `no "RESULT fwd" line`},
		"prefix":    {"RESULT fwdx in=1\n", `no "RESULT fwd" line`},
		"two":       {cLine + "\n" + cLine + "\n", "2 \"RESULT fwd\" lines"},
		"no equals": {"RESULT fwd in=1 garbage out=2", `malformed token "garbage"`},
		"empty key": {"RESULT fwd =5", `malformed token "=5"`},
		"duplicate": {"RESULT fwd in=1 in=2", `duplicate key "in"`},
	}
	for name, c := range cases {
		_, err := ParseResult(c.out, "fwd")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	r, err := ParseResult("RESULT fwd in=abc out=-1 x=NaN", "fwd")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"in": "not a number", "out": "negative", "x": "not a number", "cpu_s": "missing key"} {
		if _, err := r.Num(key); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Num(%s) = %v, want %q", key, err, want)
		}
	}
}

func TestProcStat(t *testing.T) {
	a, err := ParseProcStat("cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 10 0 0 90 0 0 0 0 0 0\ncpu1 0 0 0 100 0 0 0 0 0 0\nintr 5\n")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseProcStat("cpu  0 0 0 0 0 0 0 0\ncpu0 60 0 10 120 10 5 5 0 0 0\ncpu1 0 0 0 200 0 0 0 0\n")
	u := Utilization(a, b)
	// cpu0: busy 10 -> 80, total 100 -> 210: 70/110.
	if got := u["cpu0"]; got != 63.6 {
		t.Errorf("cpu0 = %v, want 63.6", got)
	}
	if got := u["cpu1"]; got != 0 {
		t.Errorf("cpu1 = %v, want 0", got)
	}
	if _, ok := u["cpu"]; ok {
		t.Error("aggregate line must be skipped")
	}
	if _, err := ParseProcStat("cpu0 1 2 x 4 5 6 7 8\n"); err == nil {
		t.Error("want error for a bad number")
	}
	if _, err := ParseProcStat("intr 1\n"); err == nil {
		t.Error("want error without cpu lines")
	}
}

// mkTrial builds a trial from RESULT lines the way runTrial does.
func mkTrial(t *testing.T, impl string, fanout int, target, sent, rate, in, out, cpu, rx float64) *Trial {
	t.Helper()
	tr := &Trial{Impl: impl, Fanout: fanout, Threads: 1, Mode: "pinned", Target: target, Secs: 5,
		GenLine:  fmt.Sprintf("RESULT gen sent=%.0f rate=%.0f", sent, rate),
		FwdLine:  fmt.Sprintf("RESULT fwd impl=%s threads=1 fanout=%d in=%.0f out=%.0f senderr=0 cpu_s=%.3f", impl, fanout, in, out, cpu),
		SinkLine: fmt.Sprintf("RESULT sink rx=%.0f p50_us=50 p90_us=80 p99_us=200 p999_us=900", rx),
		Util:     map[string]float64{"cpu0": 50, "cpu1": 40}}
	if err := tr.derive(); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestDeriveLoss(t *testing.T) {
	tr := &Trial{Impl: "c", Fanout: 3, Threads: 1, Target: 100000, GenLine: genLine, FwdLine: cLine, SinkLine: sinkLine}
	// Inconsistent on purpose: fwd in > sent. loss_in is then negative.
	if err := tr.derive(); err != nil {
		t.Fatal(err)
	}
	if tr.FwdImpl != "c" || tr.CPUPerIn() != 6.46 {
		t.Errorf("impl %q cpu/in %v", tr.FwdImpl, tr.CPUPerIn())
	}

	// 0.05 % loss passes, 0.2 % fails, generator short of 98 % fails.
	ok := mkTrial(t, "vox", 3, 100000, 500000, 100000, 500000, 1500000-750, 2.5, 1500000-750)
	if !ok.Pass || math.Abs(ok.LossFwd-0.0005) > 1e-12 {
		t.Errorf("pass %v loss %v", ok.Pass, ok.LossFwd)
	}
	if ok.OutRate != math.Round(300000*(1-0.0005)) {
		t.Errorf("out rate %v", ok.OutRate)
	}
	if bad := mkTrial(t, "vox", 3, 100000, 500000, 100000, 500000, 1497000, 2.5, 1497000); bad.Pass {
		t.Error("0.2 % loss must fail")
	}
	if slow := mkTrial(t, "vox", 1, 100000, 485000, 97000, 485000, 485000, 2, 485000); slow.Pass {
		t.Error("generator at 97 % of target must fail")
	}
	if flat := mkTrial(t, "vox", 1, 0, 485000, 97000, 485000, 485000, 2, 485000); !flat.Pass {
		t.Error("flat out without loss passes")
	}
	if got := lossFrac(1, 0); got != 0 {
		t.Errorf("lossFrac with nothing wanted = %v", got)
	}
	if !Passes(0.00099, 1000, 980) || Passes(0.001, 1000, 1000) || Passes(0, 1000, 979) {
		t.Error("Passes boundaries")
	}

	// Contract violations.
	for name, fwd := range map[string]string{
		"fanout":  "RESULT fwd impl=vox threads=1 fanout=2 in=1 out=3 senderr=0 cpu_s=1",
		"threads": "RESULT fwd impl=vox threads=2 fanout=3 in=1 out=3 senderr=0 cpu_s=1",
		"missing": "RESULT fwd impl=vox threads=1 fanout=3 in=1 out=3 cpu_s=1",
	} {
		tr := &Trial{Fanout: 3, Threads: 1, GenLine: genLine, FwdLine: fwd, SinkLine: sinkLine}
		if err := tr.derive(); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
	if (&Trial{}).CPUPerIn() == (&Trial{}).CPUPerIn() {
		t.Error("CPUPerIn without packets must be NaN")
	}
}

func TestMedianSpread(t *testing.T) {
	if m := report.Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("odd median %v", m)
	}
	if m := report.Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even median %v", m)
	}
	if !math.IsNaN(report.Median(nil)) {
		t.Error("empty median must be NaN")
	}
	s := NewSpread([]float64{5, math.NaN(), 1, 3})
	if s.Median != 3 || s.Min != 1 || s.Max != 5 || len(s.All) != 3 {
		t.Errorf("spread %+v", s)
	}
	if NewSpread([]float64{math.NaN()}) != nil {
		t.Error("all-NaN spread must be nil")
	}
	if FmtSpread(s, 1e-3, 2) != "0.00 (0.00–0.01)" || FmtSpread(s, 1, 0) != "3 (1–5)" {
		t.Errorf("fmt %q %q", FmtSpread(s, 1e-3, 2), FmtSpread(s, 1, 0))
	}
	if FmtSpread(NewSpread([]float64{6.456}), 1, 2) != "6.46" || FmtSpread(nil, 1, 0) != "–" {
		t.Error("single / nil spread formatting")
	}
	if got := FmtRatio(1.5, NewSpread([]float64{1.4, 1.6})); got != "1.50 (1.40–1.60)" {
		t.Errorf("ratio %q", got)
	}
	if got := FmtRatio(math.NaN(), nil); got != "–" {
		t.Errorf("NaN ratio %q", got)
	}
}

// fakeFwd simulates a forwarder that takes in at most capacity pps; above
// that it drops the excess. flaky makes the first try of every rate fail.
type fakeFwd struct {
	t        *testing.T
	capacity float64
	genMax   float64 // generator flat-out rate
	flaky    bool
	tried    map[float64]int
	log      []string
}

func (f *fakeFwd) run(kind string, rate float64) (*Trial, error) {
	f.log = append(f.log, fmt.Sprintf("%s %.0f", kind, rate))
	if kind != KindProbe && rate < 1 {
		f.t.Fatalf("%s trial at rate %v", kind, rate)
	}
	gen := rate
	if rate == 0 || rate > f.genMax {
		gen = f.genMax
	}
	in := math.Min(gen, f.capacity)
	if f.flaky {
		if f.tried == nil {
			f.tried = map[float64]int{}
		}
		f.tried[rate]++
		if f.tried[rate] == 1 && kind != KindProbe {
			in *= 0.99 // a stall: 1 % lost
		}
	}
	secs := 5.0
	return mkTrial(f.t, "vox", 1, rate, gen*secs, gen, in*secs, in*secs, in*secs*3e-6, in*secs), nil
}

func TestRunSearch(t *testing.T) {
	f := &fakeFwd{t: t, capacity: 200000, genMax: 1e6}
	s, err := RunSearch(4, f.run)
	if err != nil {
		t.Fatal(err)
	}
	// probe: in 200k -> [120k, 210k]; 120k passes, 210k fails, then
	// 165k, 187.5k, 198.75k pass, 204.375k fails.
	want := []string{"probe 0", "search 120000", "search 210000", "search 165000", "search 187500",
		"search 198750", "search 204375", "retry 204375"}
	if strings.Join(f.log, ",") != strings.Join(want, ",") {
		t.Errorf("trials:\n got %v\nwant %v", f.log, want)
	}
	if s.MaxRate != 198750 || math.Abs(s.SaturatedIn-200000) > 1e-6 || s.GenLimited {
		t.Errorf("max %v saturated %v gen-limited %v", s.MaxRate, s.SaturatedIn, s.GenLimited)
	}
	if len(s.Trials) != len(want) || s.Trials[s.Best].Target != 198750 {
		t.Errorf("best %d of %d: %+v", s.Best, len(s.Trials), s.Trials[s.Best])
	}

	// A stall on the first try of every rate is absorbed by the retry.
	fl := &fakeFwd{t: t, capacity: 200000, genMax: 1e6, flaky: true}
	s, err = RunSearch(4, fl.run)
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxRate != 198750 || !s.Trials[s.Best].Retried {
		t.Errorf("flaky: max %v, retried %v; trials %v", s.MaxRate, s.Trials[s.Best].Retried, fl.log)
	}

	// The generator cannot overload it.
	g := &fakeFwd{t: t, capacity: 2e6, genMax: 300000}
	s, _ = RunSearch(4, g.run)
	if !s.GenLimited || s.MaxRate != 300000 || len(g.log) != 1 {
		t.Errorf("gen-limited: %+v %v", s, g.log)
	}

	// A forwarder that hits its limit above 1.05 x saturated (noisy probe).
	n := &fakeFwd{t: t, capacity: 200000, genMax: 1e6}
	probeLow := func(kind string, rate float64) (*Trial, error) {
		if kind == KindProbe {
			return mkTrial(t, "vox", 1, 0, 5e6, 1e6, 5*150000, 5*150000, 1, 5*150000), nil
		}
		return n.run(kind, rate)
	}
	s, _ = RunSearch(4, probeLow)
	if s.MaxRate <= 157500 || s.MaxRate > 200000 {
		t.Errorf("hi passing must raise the search: max %v, trials %v", s.MaxRate, n.log)
	}

	// A broken forwarder that takes nothing in: never a flat-out retry.
	z := &fakeFwd{t: t, capacity: 0, genMax: 1e6}
	s, _ = RunSearch(4, z.run)
	if s.MaxRate != 0 || s.Best != -1 || len(z.log) != 1 {
		t.Errorf("dead forwarder: %+v %v", s, z.log)
	}

	lo, hi := BisectStep(100, 200, BisectMid(100, 200), true)
	if lo != 150 || hi != 200 {
		t.Errorf("step pass: %v %v", lo, hi)
	}
	if lo, hi = BisectStep(100, 200, 150, false); lo != 100 || hi != 150 {
		t.Errorf("step fail: %v %v", lo, hi)
	}
}

func TestPlanRates(t *testing.T) {
	impls := []string{"c", "vox", "go"}
	common, lat := PlanRates(impls, map[string]float64{"c": 224000, "vox": 150001, "go": 0}, 0)
	if common != 75001 || lat["c"] != 112000 || lat["vox"] != 75001 {
		t.Errorf("common %v lat %v", common, lat)
	}
	if _, ok := lat["go"]; ok {
		t.Error("no latency rate without a max rate")
	}
	if common, _ = PlanRates(impls, nil, 50000); common != 50000 {
		t.Errorf("fixed common %v", common)
	}
	if common, _ = PlanRates(impls, nil, 0); common != 0 {
		t.Errorf("no data: common %v", common)
	}
}

// testGroup is a group with 2 reps of c and vox, built from RESULT lines.
func testGroup(t *testing.T) *Group {
	g := &Group{Fanout: 3, Mode: "pinned", Threads: 1, Impls: []string{"c", "vox"},
		Searches: map[string][]*Search{}, LatTrials: map[string][]*Trial{}, CostTrials: map[string][]*Trial{},
		LatRate: map[string]float64{"c": 100000, "vox": 50000}, CommonRate: 50000}
	for r, capC := range []float64{200000, 220000} {
		for impl, scale := range map[string]float64{"c": 1, "vox": 0.5} {
			capacity := capC * scale
			f := &fakeFwd{t: t, capacity: capacity, genMax: 1e6}
			s, err := RunSearch(2, f.run)
			if err != nil {
				t.Fatal(err)
			}
			s.Rep = r
			g.Searches[impl] = append(g.Searches[impl], s)
			// cost: C 6 µs/pkt, vox 9 µs/pkt (+ per rep drift)
			cpu := map[string]float64{"c": 6, "vox": 9}[impl] * (1 + 0.1*float64(r)) * 50000 * 5 / 1e6
			g.CostTrials[impl] = append(g.CostTrials[impl], mkTrial(t, impl, 3, 50000, 250000, 50000, 250000, 750000, cpu, 750000))
			g.LatTrials[impl] = append(g.LatTrials[impl], mkTrial(t, impl, 3, 50000, 250000, 50000, 250000, 750000, cpu, 750000))
		}
	}
	g.Summarize("c")
	return g
}

func TestSummarizeAndRatios(t *testing.T) {
	g := testGroup(t)
	if len(g.Summaries) != 2 || g.Summaries[0].Impl != "c" {
		t.Fatalf("summaries %+v", g.Summaries)
	}
	c, v := g.Summaries[0], g.Summaries[1]
	if math.Abs(c.CPUPerIn.Median-6.3) > 1e-9 || math.Abs(v.CPUPerIn.Median-9.45) > 1e-9 {
		t.Errorf("cpu/in c %v vox %v", c.CPUPerIn, v.CPUPerIn)
	}
	if c.MaxIn.Min >= c.MaxIn.Max || v.MaxIn.Median >= c.MaxIn.Median {
		t.Errorf("max in c %+v vox %+v", c.MaxIn, v.MaxIn)
	}
	if math.Abs(c.OwnAtCommon.Min-30) > 1e-9 || c.CommonP99.Median != 200 {
		t.Errorf("own %% %+v p99 at common %+v", c.OwnAtCommon, c.CommonP99)
	}
	if len(g.Ratios) != 1 {
		t.Fatalf("ratios %+v", g.Ratios)
	}
	r := g.Ratios[0]
	if r.Impl != "vox" || math.Abs(float64(r.CPUPerIn)-1.5) > 1e-9 || math.Abs(r.CPUPerInReps.Min-1.5) > 1e-9 {
		t.Errorf("cpu ratio %+v", r)
	}
	if math.Abs(float64(r.MaxIn)-0.5) > 0.02 || r.CommonP99 != 1 {
		t.Errorf("max ratio %v p99 %v", r.MaxIn, r.CommonP99)
	}
	if got := PairedRatios([]float64{2, 4, 6}, []float64{1, 0}); len(got) != 2 || got[0] != 2 || !math.IsNaN(got[1]) {
		t.Errorf("paired %v", got)
	}
}

func TestRenderAndReload(t *testing.T) {
	g := testGroup(t)
	rep := &Report{Schema: 1, Complete: true, Started: "2026-01-01T00:00:00Z", Finished: "2026-01-01T00:10:00Z",
		Command: "bench/compare.sh --impls c,vox --fanouts 3", Groups: []*Group{g},
		Machine:  Machine{NProc: 2, Kernel: "6.18", CPUModel: "AMD EPYC (family 26, model 2)", GoVersion: "go1.26.8", Taskset: true},
		Config:   Config{Impls: []string{"c", "vox"}, Fanouts: []int{3}, Modes: []string{"pinned"}, Secs: 5, Reps: 2, Steps: 2, Size: 120, Profile: "aes_cm_80", SinkPoll: 200, Baseline: "c", FwdPort: 40000, SinkPort: 41000},
		Binaries: map[string]BinInfo{"vox": {Argv: []string{"bench/out/netfwd"}, SHA256: "abcd", GoVersion: "go1.26.8"}}}
	tables := Tables(rep.Groups)
	for _, want := range []string{
		"| C (udpbase fwd.c) | 3 | pinned, 1 thr | 6.30 (6.00–6.60) @ 50k |",
		"| vox | 3 | pinned, 1 thr | 9.45 (9.00–9.90) @ 50k |",
		"| 3 | pinned, 1 thr | vox / C (udpbase fwd.c) | 1.50 (1.50–1.50) |",
	} {
		if !strings.Contains(tables, want) {
			t.Errorf("tables lack %q:\n%s", want, tables)
		}
	}
	md := Markdown(rep, 3)
	for _, want := range []string{"### Forwarder comparison: C (udpbase fwd.c) vs vox", "#### Machine",
		"| CPU | AMD EPYC (family 26, model 2) |", "bench/compare.sh --impls c,vox --fanouts 3",
		"`bench/out/netfwd`, go1.26.8", "do not edit"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}

	// JSON round trip: numbers are re-derived from the RESULT lines.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadReport(b, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := Tables(back.Groups); got != tables {
		t.Errorf("re-rendered tables differ:\n%s\nvs\n%s", got, tables)
	}
	// Tampering with a derived number does not survive re-rendering.
	var tampered Report
	if err := json.Unmarshal(b, &tampered); err != nil {
		t.Fatal(err)
	}
	tampered.Groups[0].CostTrials["vox"][0].FwdCPU = 0.1
	tampered.Groups[0].Searches["c"][0].MaxRate = 1
	tb, _ := json.Marshal(&tampered)
	back, err = LoadReport(tb, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := Tables(back.Groups); got != tables {
		t.Error("derived numbers must come from the RESULT lines")
	}
	bad := strings.Replace(string(b), "cpu_s=", "cpu_s=x", 1)
	if _, err := LoadReport([]byte(bad), ""); err == nil {
		t.Error("want an error for a corrupt RESULT line")
	}
	if _, err := LoadReport([]byte(`{"schema":7}`), ""); err == nil {
		t.Error("want an error for an unknown schema")
	}
}

func TestParseRunFlags(t *testing.T) {
	o, err := parseRunFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.impls, ",") != "c,vox" || fmt.Sprint(o.fanouts) != "[1 3]" || o.secs != 5 || o.reps != 3 ||
		o.size != 120 || o.voxBin != "bench/out/netfwd" || o.threadsFor("pinned") != 1 || o.threadsFor("unpinned") != 2 {
		t.Errorf("defaults %+v", o)
	}
	o, err = parseRunFlags([]string{"--impls=c,go,voxsrtp", "--fanouts", "3", "--reps", "1", "--secs", "2",
		"--vox-bin", "/x/gofwd", "--profile", "gcm"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cat(o.fwdCmd("voxsrtp"), o.srtpArgs("voxsrtp")), " "); got != "/x/gofwd -srtp -profile gcm" {
		t.Errorf("voxsrtp argv %q", got)
	}
	o.taskset = true
	if got := o.cpuPrefix("pinned", "0"); strings.Join(got, " ") != "taskset -c 0" || o.cpuPrefix("unpinned", "0") != nil {
		t.Errorf("cpu prefix %v", got)
	}
	for _, args := range [][]string{
		{"--impls", "c,rust"}, {"--impls", "c,c"}, {"--impls", ""}, {"--fanouts", "0"}, {"--fanouts", "x"},
		{"--modes", "both"}, {"--secs", "0"}, {"--reps", "0"}, {"--size", "20"}, {"--profile", "rot13"},
		{"--phases", "cost"}, {"--phases", "latency"}, {"--phases", "warp"}, {"--sink-port", "40000", "--fwd-port", "40005"},
		{"--src-port", "100"}, {"extra"},
	} {
		if _, err := parseRunFlags(args, io.Discard); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
	if _, err := parseRunFlags([]string{"--phases", "cost", "--common-rate", "50000"}, io.Discard); err != nil {
		t.Errorf("cost with a fixed rate: %v", err)
	}
}

func TestMisc(t *testing.T) {
	if got := shellQuote([]string{"bench/compare.sh", "--impls", "c,go", "a b", "it's"}); got != `bench/compare.sh --impls c,go 'a b' 'it'\''s'` {
		t.Errorf("quote %s", got)
	}
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n"
	if got := cpuModel(info); got != "AMD EPYC (family 26, model 2)" {
		t.Errorf("cpu model %q", got)
	}
	if got := cpuModel(""); got != "unknown" {
		t.Errorf("empty cpuinfo %q", got)
	}
	if got := dedupe(replaceAll([]string{"pinned", "unpinned"}, "pinned", "unpinned")); len(got) != 1 {
		t.Errorf("dedupe %v", got)
	}
	b := &capBuf{max: 4, tail: true}
	fmt.Fprint(b, "abcdef")
	if b.String() != "cdef" {
		t.Errorf("tail buffer %q", b.String())
	}
	h := &capBuf{max: 4}
	fmt.Fprint(h, "abcdef")
	if h.String() != "abcd" {
		t.Errorf("head buffer %q", h.String())
	}
}

func TestJSONNaN(t *testing.T) {
	r := &Ratio{Impl: "vox", CPUPerIn: jfloat(math.NaN()), MaxIn: 0.5}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"cpu_per_in":null`) || !strings.Contains(string(b), `"max_in":0.5`) {
		t.Errorf("json %s", b)
	}
	var back Ratio
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(float64(back.CPUPerIn)) || back.MaxIn != 0.5 {
		t.Errorf("round trip %+v %v", back, err)
	}
}
