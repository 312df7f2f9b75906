package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
)

// TestRouteSmall runs voxbench route in-process at a small scale: every
// admission succeeds through the router, the per-session comparison and
// the spike run, and the JSON has their figures.
func TestRouteSmall(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"route", "--pods", "3", "--max-sessions", "10", "--rate", "80",
		"--duration", "500ms", "--alloc-sessions", "4", "--spike-sessions", "12", "--spike-over", "1s",
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
}
