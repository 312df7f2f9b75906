package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voxfleet/vox/bench/internal/report"
)

func TestMedianAndStat(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := report.Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(report.Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
	s, ok := NewStat([]float64{0.30, math.NaN(), 0.25, 0.27})
	if !ok || s.Median != 0.27 || s.Min != 0.25 || s.Max != 0.30 || s.N != 3 {
		t.Errorf("NewStat = %+v, %v; want median 0.27, 0.25–0.30, 3 values", s, ok)
	}
	if _, ok := NewStat([]float64{math.NaN()}); ok {
		t.Error("NewStat of only NaN is ok")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{num(2962.96, 0), "2,963"},
		{num(1234567.891, 2), "1,234,567.89"},
		{num(-4500, 0), "-4,500"},
		{num(math.NaN(), 1), NotMeasured},
		{st(Stat{Median: 5.92, Min: 5.8, Max: 6, N: 3}, true, 1, 2), "5.92 (5.80–6.00)"},
		{st(Stat{Median: 5.92, Min: 5.92, Max: 5.92, N: 3}, true, 1, 2), "5.92"},
		{st(Stat{Median: 217000, Min: 210000, Max: 220000, N: 3}, true, 1e-3, 0), "217 (210–220)"},
		{st(Stat{}, false, 1, 2), NotMeasured},
		{dur(735), "735 µs"},
		{dur(2559), "2.56 ms"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func load(t *testing.T, dir string) *Record {
	t.Helper()
	rec, err := LoadRecord(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestDensityArithmetic(t *testing.T) {
	rec := load(t, "hand")
	// Sessions of 4: 200 × 4 all talking, server cores 0.25, 0.27, 0.30.
	d, ok := ComputeDensity(rec.Steady["aes_cm_80"]["s4"])
	if !ok {
		t.Fatal("no density for sessions of 4")
	}
	if d.Talking != 800 || d.Participants != 800 || d.Reps != 3 {
		t.Fatalf("density %+v: want 800 talking of 800, 3 repetitions", d)
	}
	if d.Cores.Median != 0.27 {
		t.Errorf("median cores %v, want 0.27", d.Cores.Median)
	}
	if got := d.TalkingPerCoreAtMedian(); math.Abs(got-800/0.27) > 1e-9 {
		t.Errorf("talking per core %v, want 800 / 0.27", got)
	}
	// Per repetition: 800/0.30, 800/0.27, 800/0.25.
	if math.Abs(d.TalkingPerCore.Min-800/0.30) > 1e-9 || math.Abs(d.TalkingPerCore.Max-3200) > 1e-9 {
		t.Errorf("per-repetition range %v–%v, want 2,667–3,200", d.TalkingPerCore.Min, d.TalkingPerCore.Max)
	}
	// ms per participant-second = cores × 1000 ÷ participants; its inverse is participants per core.
	if math.Abs(1000/d.MSPerParticipantSec.Median-d.ParticipantsPerCoreAtMedian()) > 1e-6 {
		t.Errorf("1000 / ms per participant-second = %v, participants per core %v: should agree",
			1000/d.MSPerParticipantSec.Median, d.ParticipantsPerCoreAtMedian())
	}
	// Sessions of 8 with 3 talking: 300 talking of 800 on 0.2 cores; one repetition saturated.
	d8, ok := ComputeDensity(rec.Steady["aes_cm_80"]["s8"])
	if !ok || d8.Talking != 300 || d8.Participants != 800 || d8.GenSaturated != 1 {
		t.Fatalf("sessions of 8: %+v", d8)
	}
	if got := d8.ParticipantsPerCoreAtMedian(); math.Abs(got-4000) > 1e-9 {
		t.Errorf("participants per core %v, want 4000", got)
	}
	if _, ok := ComputeDensity(rec.Steady["gcm"]["s4"]); ok {
		t.Error("density without gcm runs")
	}
}

func render(t *testing.T, dir string) string {
	t.Helper()
	rec := load(t, dir)
	doc := Render(rec, "perf/test")
	for _, bad := range []string{"NaN", "%!", "Inf", "<nil>"} {
		if strings.Contains(doc, bad) {
			i := strings.Index(doc, bad)
			t.Errorf("document contains %q: ...%s...", bad, doc[max(0, i-200):min(len(doc), i+100)])
		}
	}
	return doc
}

func wantLines(t *testing.T, doc string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(doc, w) {
			t.Errorf("document lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("document:\n%s", doc)
	}
}

func TestRenderHand(t *testing.T) {
	doc := render(t, "hand")
	wantLines(t, doc,
		"| CPU | Test CPU (family 1, model 2) |",
		"| vox commit | `0123456789abcdef` |",
		"| pinned | yes: the server under test on cpu 0",
		// Ratios: netcompare's median ratio with the range of per-repetition ratios, and the aims.
		"| plain UDP forwarding (netio) | 6.16 (6.10–6.20) | 5.92 (5.80–6.00) | 78,000 | **1.04 (1.02–1.05)** | — |  |",
		"| SRTP forwarding, AES_CM_128_HMAC_SHA1_80 | 7.71 (7.60–7.80) | 5.92 (5.80–6.00) | 78,000 | **1.30 (1.29–1.31)** | ≤ 1.5 | **yes** |",
		"| SRTP forwarding, AEAD_AES_128_GCM | 6.67 (6.60–8.80) | 5.81 (5.78–5.88) | 88,000 | **1.15 (1.13–1.51)** | ≤ 1.3 | **yes** (median; not in every repetition) |",
		"| SRTP forwarding, AEAD_AES_128_GCM | 176 (170–180) | 213 (212–218) ⚠ | 0.83 (0.79–0.84) |",
		// voxd end to end over the C reference: median of the steady
		// repetitions' CPU per packet in (6.25, 6.75, 7.50) ÷ C's median.
		"| AES_CM_128_HMAC_SHA1_80 | 6.75 (6.25–7.50) | 40,000 | 5.92 (5.80–6.00) | 78,000 | **1.14** | ≤ 1.5 | **yes** |",
		"| AEAD_AES_128_GCM | not measured | not measured | 5.81 (5.78–5.88) | not measured | not measured | ≤ 1.3 |  |",
		// The burstier variant (--send-tick), only where the run has it.
		"| AES_CM_128_HMAC_SHA1_80 (burstier arrivals: voxbench --send-tick 200 µs) | 5.50 | 40,000 | 5.92 (5.80–6.00) | 78,000 | **0.93** | ≤ 1.5 | **yes** |",
		// The C reference's cost at the aim's rate, for scale.
		"take 150,000 × 5.92 µs = 0.89 cores of it on this machine.",
		// Density, step by step.
		"800 talking (of 800 participants) use 0.2700 cores → 800 ÷ 0.2700 = **2,963 talking participants per core** (per repetition 2,963 (2,667–3,200))",
		"equivalently 1000 ÷ 0.3375 ms per participant-second = 2,963 participants per core",
		"met at this load in 3 of 3 repetition(s). That is **below** the aim of 3,000.",
		"300 ÷ 0.2000 = **1,500 talking participants per core**",
		"800 ÷ 0.2000 = **4,000 participants per core**",
		"The generator was saturated in 1 of 3 repetition(s): **the generator, not the server, was the limit** there.",
		// The load driven is below the aim's, and the ramp says why.
		"This load (800 talking, 40,000 packets/s in) is below the aim's 3,000 talking on one core",
		"missed its objectives with the generator saturated (0.90 cores; 1,234 datagrams dropped at its own receive queues): **the generator, not (only) the server, was the limit**",
		"the highest step held had 600 talking (30,000 packets/s in), where the server used 0.3000 ms of CPU per participant-second → 1000 ÷ 0.3000 = 3,333 talking participants per core",
		"| 150 | 600 | 600 | 0.000 | 1.00 ms | 30,000 | 90,000 | 0.180 | 6.00 | not measured | 0.40 | 0 | yes |",
		// Mix mode end to end: the ramp's table and rooms per core (8
		// rooms held on 0.4 cores), in the summary too; rooms of 8 not run.
		"| 8 | 32 | 0.000 | 2.50 ms | 1 | 2 | 0.400 | 12.500 | 0.30 | yes |",
		"| 12 | 48 | 0.000 | 9.00 ms | 2 | 4 | 0.600 | 12.500 | 0.30 | no |",
		"Highest step held: 8 rooms of 4 (32 participants) on 0.4000 server cores = **20.0 rooms of 4 per core** end to end; the next step missed the objectives with the generator keeping up: the server's limit.",
		"- Mix mode, rooms of 4 all talking, end to end (AEAD_AES_128_GCM): **20.0 rooms per core** (8 rooms held",
		"Rooms of 8: not measured.",
		// The same ramp with the generator sending every 200 µs: its own
		// table and density line.
		"AES_CM_128_HMAC_SHA1_80, voxbench sending what is due every 200 µs (raw: ",
		"| 200 | 800 | 800 | 0.000 |",
		"| 12.5 | 0.50 | 0 | yes |",
		"voxbench sending what is due every 200 µs, the ramp's highest step held (40,000 packets/s in): 800 talking ÷ 0.2600 server cores = **3,077 talking participants per core**, at or above the aim of 3,000; every step held",
		// Steady table.
		"| server packets/s in | 40,000 | 15,000 |",
		"| server CPU (cores) | 0.270 (0.250–0.300) | 0.200 |",
		"| generator saturated | no | 1 of 3 |",
		// gcm has a netcompare run but no voxd runs.
		"- AEAD_AES_128_GCM, sessions of 4: not measured.",
		"voxbench steady: not measured.",
		"AEAD_AES_128_GCM: not measured.",
		// Commands and the micro-benchmark, verbatim; links to the raw files.
		"The record is one command, `bench/record.sh --publish`",
		"env OUT=/repo/bench/out bench/compare.sh --impls c,vox,voxsrtp --fanouts 3",
		"BenchmarkForward/AES_CM_128_HMAC_SHA1_80/fanout-3-2",
		"[steady-aes_cm_80-s4-r2.json](perf/test/steady-aes_cm_80-s4-r2.json)",
		"[netcompare-gcm.json](perf/test/netcompare-gcm.json)",
	)
	if strings.Contains(doc, "--quick") && strings.Contains(doc, "a try of the") {
		t.Error("a full run is labelled as a quick one")
	}
}

// The cross-check by cpu 0's busy time: busy % ÷ the common rate, and
// the share of it the process time accounts for.
func TestRenderCoreBusy(t *testing.T) {
	wantLines(t, render(t, "quick"),
		"| plain UDP forwarding (netio) | 23.29 | 15.22 | 1.53 | 48 % / 49 % |",
		"| SRTP forwarding, AES_CM_128_HMAC_SHA1_80 | 20.94 | 15.22 | 1.38 | 45 % / 49 % |")
	// Fixtures from before netcompare recorded the core's busy time.
	wantLines(t, render(t, "hand"),
		"| plain UDP forwarding (netio) | not measured | not measured | not measured | not measured |")
}

func TestRenderPartial(t *testing.T) {
	rec := load(t, "partial")
	if len(rec.Problems) != 1 || !strings.Contains(rec.Problems[0], "steady-aes_cm_80-s4-r1.json: empty") {
		t.Errorf("problems %q, want the empty steady file", rec.Problems)
	}
	if rec.SteadyMiss["aes_cm_80"]["s4"] != 1 {
		t.Errorf("missing steady runs %v", rec.SteadyMiss)
	}
	doc := render(t, "partial")
	wantLines(t, doc,
		"**This is a `--quick` run",
		"| pinned | **no** (no taskset)",
		"**This run did not complete** (generator failed: bind source port: Address already in use)",
		"| plain UDP forwarding (netio) | not measured | not measured | not measured | not measured | — |  |",
		"| SRTP forwarding, AEAD_AES_128_GCM | not measured | not measured | not measured | not measured | ≤ 1.3 |  |",
		"| plain UDP forwarding (netio) | not measured | 86 | not measured |",
		"no common rate (no forwarder passed a capacity search)",
		"| AES_CM_128_HMAC_SHA1_80 | not measured | not measured | not measured | not measured | not measured | ≤ 1.5 |  |",
		"(no netcompare-gcm.json in the run)",
		"- not measured (no voxbench steady run in sessions of 4 measured the server's CPU).",
		"1 run(s) in sessions of 4 left no result",
		"| repetitions | not measured | 1 |",
		"- AES_CM_128_HMAC_SHA1_80, sessions of 4: not measured.",
		"AES_CM_128_HMAC_SHA1_80: not measured.",
		"The commands: not measured (no commands.txt in the run).",
		"This run: not measured.",
	)
}

func TestRenderEmptyDir(t *testing.T) {
	doc := Render(&Record{Dir: t.TempDir()}, ".")
	wantLines(t, doc, "Machine facts: not measured", "## Summary", "## Exact commands")
}

func TestStripListeners(t *testing.T) {
	in := []byte(`{"sessions":2,"listeners":[{"id":"a"},{"id":"b"}],"steps":[{"detail":{"listeners":[{"id":"c"}]}}]}`)
	out, err := stripListeners(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(`"id"`)) {
		t.Errorf("listeners left in %s", out)
	}
	var v struct {
		Sessions int `json:"sessions"`
		Count    int `json:"listeners_count"`
		Steps    []struct {
			Detail struct {
				Count int `json:"listeners_count"`
			} `json:"detail"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if v.Sessions != 2 || v.Count != 2 || len(v.Steps) != 1 || v.Steps[0].Detail.Count != 1 {
		t.Errorf("stripped = %s", out)
	}
}

func TestCLIRenderAndCopy(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "docs", "performance.md")
	copyTo := filepath.Join(tmp, "docs", "perf", "run")
	var so, se bytes.Buffer
	if code := run([]string{"render", "--run", "testdata/hand", "--out", out, "--copy-to", copyTo}, &so, &se); code != 0 {
		t.Fatalf("render exit %d: %s", code, se.String())
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("(perf/run/ramp-aes_cm_80.json)")) {
		t.Error("the document does not link to the copies")
	}
	for _, name := range []string{"machine.json", "commands.txt", "microbench.txt", "netcompare-gcm.json", "steady-aes_cm_80-s8-r3.json", "ramp-aes_cm_80.json"} {
		b, err := os.ReadFile(filepath.Join(copyTo, name))
		if err != nil {
			t.Errorf("not copied: %v", err)
			continue
		}
		if bytes.Contains(b, []byte(`"listeners":`)) {
			t.Errorf("%s still has its per-listener list", name)
		}
	}
	// The copies render the same numbers.
	rec, err := LoadRecord(copyTo)
	if err != nil {
		t.Fatal(err)
	}
	orig := load(t, "hand")
	if a, b := Render(rec, "x"), Render(orig, "x"); strings.ReplaceAll(a, "`run`", "`hand`") != b {
		t.Error("rendering the copies differs from rendering the run")
	}

	if code := run([]string{"render", "--run", "testdata/nonexistent", "--out", out}, &so, &se); code != 1 {
		t.Errorf("render of a missing directory: exit %d, want 1", code)
	}
	if code := run([]string{"bogus"}, &so, &se); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

func TestFacts(t *testing.T) {
	out := filepath.Join(t.TempDir(), "machine.json")
	var so, se bytes.Buffer
	if code := run([]string{"facts", "--out", out, "--quick", "--pinned=false"}, &so, &se); code != 0 {
		t.Fatalf("facts exit %d: %s", code, se.String())
	}
	var f Facts
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if !f.Quick || f.Pinned || f.NProc < 1 || f.GoVersion == "" || f.Started == "" {
		t.Errorf("facts %+v", f)
	}
}

func TestLscpuModel(t *testing.T) {
	out := "Architecture:  x86_64\nModel name:   AMD EPYC\nCPU family:  26\nModel:   2\n"
	if got := lscpuModel(out); got != "AMD EPYC (family 26, model 2)" {
		t.Errorf("lscpuModel = %q", got)
	}
	if got := lscpuModel("nothing"); got != "" {
		t.Errorf("lscpuModel of nothing = %q", got)
	}
}

// TestRenderQuickRun renders the files of a real `bench/record.sh --quick`
// run (copied with --copy-to): the real schemas of netcompare and voxbench
// decode, and the document's numbers are the files' numbers.
func TestRenderQuickRun(t *testing.T) {
	rec := load(t, "quick")
	if len(rec.Problems) > 0 {
		t.Fatalf("problems reading a real run: %q", rec.Problems)
	}
	doc := render(t, "quick")
	wantLines(t, doc, "**This is a `--quick` run", "| pinned | yes:", "bench/record.sh --quick")
	for _, p := range Profiles {
		g := rec.NC[p].Group(3)
		r := g.Ratio("voxsrtp")
		if r == nil || r.CPUPerIn == nil {
			t.Fatalf("%s: no voxsrtp ratio in the real run", p)
		}
		want := "| SRTP forwarding, " + ProfileName(p) + " | " + spreadCell(g.Summary("voxsrtp").CPUPerIn, 1, 2) + " | " +
			spreadCell(g.Summary("c").CPUPerIn, 1, 2) + " | " + num(g.CommonRate, 0) + " | **" + num(*r.CPUPerIn, 2) + "** |"
		wantLines(t, doc, want)
		s4 := rec.Steady[p]["s4"]
		if len(s4) != 1 || !s4[0].Server.ProcessMeasured {
			t.Fatalf("%s: sessions of 4 not measured in the real run", p)
		}
		shown, q := divShown(float64(s4[0].Talking()), s4[0].Server.CPUCores, 4)
		if math.Abs(q-float64(s4[0].Talking())/s4[0].Server.CPUCores) > 0.001*q {
			t.Errorf("%s: the shown quotient %v is not the quotient of the unrounded numbers", p, q)
		}
		wantLines(t, doc, num(float64(s4[0].Talking()), 0)+" ÷ "+shown+" = **"+num(q, 0)+" talking participants per core**")
		if rec.Ramp[p] == nil || len(rec.Ramp[p].Steps) == 0 {
			t.Fatalf("%s: no ramp in the real run", p)
		}
	}
}

func TestCommonRate(t *testing.T) {
	var so, se bytes.Buffer
	if code := run([]string{"common-rate", "--json", "testdata/hand/netcompare-gcm.json"}, &so, &se); code != 0 || so.String() != "88000\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, so.String(), se.String())
	}
	so.Reset()
	se.Reset()
	// A run where no forwarder passed a capacity search has no common rate.
	if code := run([]string{"common-rate", "--json", "testdata/partial/netcompare-aes_cm_80.json"}, &so, &se); code != 1 || so.Len() != 0 || !strings.Contains(se.String(), "no common rate") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, so.String(), se.String())
	}
	if code := run([]string{"common-rate"}, &so, &se); code != 1 {
		t.Fatalf("no --json: exit %d", code)
	}
}
