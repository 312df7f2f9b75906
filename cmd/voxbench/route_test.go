package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"
	"time"
)

// TestRouteSmall runs voxbench route in-process at a small scale: every
// admission succeeds through the router, the per-session comparison and
// the spike run, and the JSON has their figures.
func TestRouteSmall(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"route", "--pods", "3", "--max-sessions", "10", "--rate", "80",
		"--duration", "500ms", "--alloc-sessions", "4", "--spike-sessions", "12", "--spike-over", "1s",
		"--spike-warmup", "500ms", "--spike-warmup-rate", "4", "--spike-after", "500ms",
		"--batch-wait", "50ms", "--start-delay", "100ms", "--json"}, func(string) (string, bool) { return "", false }, &out, io.Discard)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var r RouteResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Steady.Admissions != 40 || r.Steady.Failed != 0 || r.Steady.Latency.N != 40 || r.Steady.Latency.P50MS <= 0 {
		t.Fatalf("steady %+v", r.Steady)
	}
	if r.PerSession == nil || r.PerSession.Admissions != 16 || r.PerSession.Failed != 0 {
		t.Fatalf("per-session %+v", r.PerSession)
	}
	if r.Spike.Admissions != 48 || r.Spike.Failed != 0 || r.Spike.PodsMin != 2 || r.Spike.PodsUsed < 2 {
		t.Fatalf("spike %+v", r.Spike)
	}
	if w := r.Spike.Warmup; w == nil || w.Sessions != 2 || w.Admissions != 8 || w.Failed != 0 {
		t.Fatalf("warm-up %+v", w)
	}
	var perSecond uint64
	for _, n := range r.Spike.WaitsPerSecond {
		perSecond += n
	}
	if len(r.Spike.WaitsPerSecond) == 0 || r.Spike.SampleMS != 100 ||
		(perSecond > 0) != (r.Spike.LastWaitS > 0) || r.Spike.WaitsAfter > perSecond {
		t.Fatalf("spike waits %+v", r.Spike)
	}
}

// TestRouteSpikeWaits puts sampled wait counts at the right seconds.
func TestRouteSpikeWaits(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	samples := []waitSample{{at(-500), 3}, {at(-100), 4}, {at(100), 6}, {at(1200), 6}, {at(2500), 7}, {at(3100), 7}}
	times := waitTimes(samples)
	if len(times) != 4 {
		t.Fatalf("%d wait times, want 4", len(times))
	}
	var sp RouteSpike
	spikeWaits(&sp, times, t0, at(3000), 2*time.Second)
	if !slices.Equal(sp.WaitsPerSecond, []uint64{2, 0, 1}) || sp.LastWaitS != 2.5 || sp.WaitsAfter != 1 || sp.SampleMS != 100 {
		t.Fatalf("%+v", sp)
	}
}
