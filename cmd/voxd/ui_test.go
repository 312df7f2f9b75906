package main

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// TestLastReport: the pod page's copy of each report built for the router
// carries the Reporter's fields; the report itself is what the source
// built.
func TestLastReport(t *testing.T) {
	var last atomic.Pointer[api.PodReport]
	rc := &routerConfig{podName: "pod-1", pool: "edge", adminURL: "http://127.0.0.1:8080"}
	src := lastReport(func() api.PodReport { return api.PodReport{Participants: 3, State: "accepting"} }, rc, &last)
	if last.Load() != nil {
		t.Fatal("a last report before any was built")
	}
	before := time.Now()
	for range 2 {
		if r := src(); r.Participants != 3 || r.Name != "" || r.Seq != 0 {
			t.Fatalf("the report sent: %+v", r)
		}
	}
	l := last.Load()
	if l == nil || l.Name != "pod-1" || l.Pool != "edge" || l.AdminURL != rc.adminURL || l.Seq != 2 || l.Participants != 3 || l.At.Before(before.Add(-time.Second)) {
		t.Fatalf("last report %+v", l)
	}
}
