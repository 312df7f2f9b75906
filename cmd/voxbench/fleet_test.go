package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// TestFleetScenarios runs voxbench fleet's three scenarios at a small
// scale over real in-process fleets and clients: the exit code says every
// objective was met (nobody cut, notices within the budget, the split
// within its tolerance, the rollback exact, nothing in place touched by
// an allocator's outage), and the JSON carries the numbers.
func TestFleetScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the fleet scenarios take about a minute")
	}
	run1 := func(args ...string) []byte {
		t.Helper()
		var out, errs bytes.Buffer
		if code := run(context.Background(), append([]string{"fleet", "--json", "--batch-wait", "100ms", "--start-delay", "200ms", "--slow-batch-wait", "300ms", "--slow-start-delay", "600ms"}, args...), func(string) (string, bool) { return "", false }, &out, &errs); code != exitOK {
			t.Fatalf("voxbench fleet %v: exit %d\n%s\n%s", args, code, out.String(), errs.String())
		}
		return out.Bytes()
	}
	var si ScaleInReport
	if err := json.Unmarshal(run1("--scenario", "scale-in", "--sessions", "12", "--sessions-after", "4", "--size", "2",
		"--max-sessions", "4", "--compare=false", "--settle", "45s"), &si); err != nil {
		t.Fatal(err)
	}
	if si.With.PodsEnd > si.With.PodsNeeded || si.With.PodsPeak <= si.With.PodsEnd || si.With.Live.Participants != 8 {
		t.Errorf("scale-in: %+v", si.With)
	}
	var ro RolloutReport
	if err := json.Unmarshal(run1("--scenario", "rollout", "--sessions", "3", "--size", "2", "--max-sessions", "8",
		"--new-per-step", "60"), &ro); err != nil {
		t.Fatal(err)
	}
	if len(ro.Steps) != 7 || ro.Live.Moved < 6 || ro.DrainS < 0 {
		t.Errorf("rollout: %+v", ro)
	}
	var cl ClustersReport
	if err := json.Unmarshal(run1("--scenario", "clusters", "--sessions", "3", "--size", "2", "--max-sessions", "4"), &cl); err != nil {
		t.Fatal(err)
	}
	if cl.ByRegion["eu"]["onprem"] == 0 || cl.ByRegion["us"]["cloud"] == 0 || cl.Outage["cloud"] == 0 {
		t.Errorf("clusters: %+v", cl)
	}
}
