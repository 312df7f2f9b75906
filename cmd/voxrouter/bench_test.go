package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/sessionmgr"
)

// BenchmarkAdmission measures what the router adds to an admission: each
// iteration admits one participant to a new session through the router
// (placement + proxy to an in-process pod over loopback HTTP) and one
// directly on a pod, alternated; the reported router_added_* metrics are
// the percentiles of (through the router) − (direct), pairing the k-th
// fastest of each.
//
//	go test -run '^$' -bench Admission -benchtime 2000x ./cmd/voxrouter
func BenchmarkAdmission(b *testing.B) {
	f := newFleet(b, 2, sessionmgr.Limits{MaxSessions: 100000, MaxParticipants: 100000})
	f.report()
	ctx := context.Background()
	direct := f.pods["pod-a"].api
	var viaRouter, viaPod []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := fmt.Sprintf("b%d", i)
		t0 := time.Now()
		if _, err := f.api.AdmitRouted(ctx, s, api.AdmitRequest{ParticipantID: "p"}, ""); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := direct.Admit(ctx, "d"+s, api.AdmitRequest{ParticipantID: "p"}); err != nil {
			b.Fatal(err)
		}
		viaRouter, viaPod = append(viaRouter, t1.Sub(t0)), append(viaPod, time.Since(t1))
		if i%200 == 199 {
			f.report() // pods report about every 200 admissions (settles the router's slots)
		}
	}
	b.StopTimer()
	slices.Sort(viaRouter)
	slices.Sort(viaPod)
	q := func(l []time.Duration, p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds())
	}
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}} {
		b.ReportMetric(q(viaRouter, p.q), "router_"+p.name+"_µs")
		b.ReportMetric(q(viaPod, p.q), "direct_"+p.name+"_µs")
		b.ReportMetric(q(viaRouter, p.q)-q(viaPod, p.q), "router_added_"+p.name+"_µs")
	}
}
