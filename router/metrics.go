package router

import (
	"context"
	"time"
)

// registerMetrics makes the vox_router_* series of r.metrics: counters
// read from the stats at scrape time, gauges from the registry and the
// store, and the admission latency summary.
func (r *Router) registerMetrics() {
	s := r.metrics
	counter := func(name string, v func() uint64) {
		s.NewGauge(name, func() float64 { return float64(v()) }) // a counter read from an atomic
	}
	counter(`vox_router_admissions_total{result="ok"}`, r.stats.admissions.Load)
	counter(`vox_router_admissions_total{result="failed"}`, r.stats.failed.Load)
	counter(`vox_router_admission_retries_total`, r.stats.retries.Load)
	counter(`vox_router_no_pod_total`, r.stats.noPod.Load)
	counter(`vox_router_moves_total`, r.stats.moves.Load)
	counter(`vox_router_spills_total`, r.stats.spills.Load)
	counter(`vox_router_splits_total`, r.stats.splits.Load)
	counter(`vox_router_reports_total`, r.stats.reports.Load)
	counter(`vox_router_pod_suspensions_total`, r.stats.suspensions.Load)
	counter(`vox_router_adoptions_total`, r.stats.adoptions.Load)
	counter(`vox_router_gameserver_exits_total`, r.stats.gameServerExits.Load)
	r.latency = s.NewSummaryExt(`vox_router_admission_duration_seconds`, time.Minute, []float64{0.5, 0.9, 0.99, 0.999})
	r.addedLatency = s.NewSummaryExt(`vox_router_admission_added_seconds`, time.Minute, []float64{0.5, 0.9, 0.99, 0.999})
	podGauge := func(name string, f func(placeable, stale bool) bool) {
		s.NewGauge(name, func() float64 {
			n := 0
			for _, p := range r.reg.snapshot(r.cfg.Now()) {
				if f(p.Placeable, p.Stale) {
					n++
				}
			}
			return float64(n)
		})
	}
	podGauge(`vox_router_pods{state="known"}`, func(bool, bool) bool { return true })
	podGauge(`vox_router_pods{state="placeable"}`, func(p, _ bool) bool { return p })
	podGauge(`vox_router_pods{state="stale"}`, func(_, st bool) bool { return st })
	s.NewGauge(`vox_router_sessions`, func() float64 {
		n, err := r.store.Sessions(context.Background())
		if err != nil {
			return -1
		}
		return float64(n)
	})
}
