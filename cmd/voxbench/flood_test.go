package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// voxbench flood against the real server parts: every kind runs, its
// garbage is dropped by the reason the kind aims at, the voice beside it
// is not lost, and the rebinding is measured.
func TestFloodAgainstRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of flood")
	}
	addr, _ := realVoxd(t)
	r := runBench(t, "flood", "--admin", addr, "--token", "bench-token", "--sessions", "2", "--size", "3",
		"--warmup", "200ms", "--duration", "600ms", "--linger", "200ms", "--rate", "2000", "--sources", "4",
		"--rebinds", "1", "--rebind-wait", "3s", "--server-pid", strconv.Itoa(os.Getpid()), "--max-loss", "0", "--json")
	var res FloodResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("exit %d: %v\nstdout %q\nstderr %q", r.code, err, r.stdout, r.stderr)
	}
	if r.code != exitOK {
		t.Fatalf("exit %d, objectives %+v, stderr %q", r.code, res.Objectives, r.stderr)
	}
	want := map[string]string{ // the drop reason each kind must show
		kindRandom: "not_rtp", kindUnknown: "unknown_ssrc", kindForged: "rate_limit",
		kindReplay: "replay", kindRTCPJunk: "unknown_ssrc", kindOversize: "truncated",
	}
	seen := map[string]bool{}
	for _, run := range res.Runs {
		seen[run.Kind] = true
		if run.Kind == kindNone {
			continue
		}
		if run.Garbage == 0 || run.Drops[want[run.Kind]] == 0 {
			t.Errorf("%s: %d sent, drops %v (want %s)", run.Kind, run.Garbage, run.Drops, want[run.Kind])
		}
	}
	for _, k := range append(floodKinds, kindNone) {
		if !seen[k] {
			t.Errorf("no %s run", k)
		}
	}
	if res.Rebind == nil || len(res.Rebind.QuietMS) != 1 || len(res.Rebind.FloodedMS) != 1 || res.Rebind.QuietTimedOut != 0 {
		t.Errorf("rebind %+v", res.Rebind)
	}
}

// voxbench soak against the real server parts, briefly: samples, the
// trend test, and the three files.
func TestSoakAgainstRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of soak")
	}
	addr, _ := realVoxd(t)
	out := filepath.Join(t.TempDir(), "soak")
	r := runBench(t, "soak", "--admin", addr, "--token", "bench-token", "--sessions", "3", "--size", "3",
		"--duration", "3s", "--interval", "400ms", "--warmup", "1ms", "--churn-every", "50ms", "--seed", "1",
		"--server-pid", strconv.Itoa(os.Getpid()), "--out", out, "--json")
	var res SoakResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("exit %d: %v\nstdout %q\nstderr %q", r.code, err, r.stdout, r.stderr)
	}
	if len(res.Samples) < 6 || len(res.Trends) != len(soakMetrics) {
		t.Fatalf("%d samples, %d trends; stderr %q", len(res.Samples), len(res.Trends), r.stderr)
	}
	if res.Actions["new-session"] == 0 {
		t.Errorf("actions %v", res.Actions)
	}
	for _, ext := range []string{".json", ".csv"} {
		if fi, err := os.Stat(out + ext); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", ext, err)
		}
	}
	f, err := os.Open(out + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("the plot: %v", err)
	}
}

// The trend test: flat, noisy, a step and a sustained rise.
func TestSoakTrendTest(t *testing.T) {
	mk := func(f func(i int) float64) []SoakSample {
		var s []SoakSample
		for i := range 30 {
			s = append(s, SoakSample{AtS: float64(60 * (i + 1)), RSSMiB: f(i), HeapInuseMiB: 10, Goroutines: 20, OpenFDs: 15, CPUPerPktUS: 3})
		}
		return s
	}
	for _, tt := range []struct {
		name  string
		rss   func(i int) float64
		grows bool
	}{
		{"flat", func(int) float64 { return 50 }, false},
		{"noisy", func(i int) float64 { return 50 + float64(i%5) }, false},
		{"one step", func(i int) float64 { return 50 + 10*float64(i/15) }, false},
		{"a leak", func(i int) float64 { return 50 + float64(i) }, true},
		{"a slow leak", func(i int) float64 { return 50 + 0.4*float64(i) }, true},
	} {
		trends, grows := trendTest(mk(tt.rss), 100, 0.10)
		if grows != tt.grows {
			t.Errorf("%s: grows %v, want %v: %+v", tt.name, grows, tt.grows, trends[0])
		}
	}
	// Too few samples after the warm-up: inconclusive, not failed.
	if trends, grows := trendTest(mk(func(i int) float64 { return float64(i * 100) })[:5], 0, 0.1); grows || trends[0].Conclusive {
		t.Errorf("5 samples: %+v", trends[0])
	}
}
