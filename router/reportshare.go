package router

import (
	"context"
	"sync"
	"time"

	"github.com/voxfleet/vox/api"
)

// ReportShare carries the pods' reports between router replicas. Pods
// report to one URL behind a Service, so each replica receives only some
// of them: each replica shares those it receives (ShareReport, from
// Report) and takes the others' into its registry (Refresh, every second,
// and at once when it meets a pod it does not know). Without one
// (Config.Reports nil) a router knows the pods that report to it, which
// is all of them with one replica.
//
// RedisStore is one: a hash per pod with the latest report and its
// receive time, expiring when the pod would be forgotten.
type ReportShare interface {
	// ShareReport stores a report received at received, unless the
	// share has a report of the same instance with a seq as high.
	ShareReport(ctx context.Context, rep api.PodReport, received time.Time) error
	// SharedReports returns the latest report of each pod, but those for
	// which have says the caller already has that instance and seq.
	SharedReports(ctx context.Context, have func(pod string) (instance string, seq uint64, ok bool)) ([]SharedReport, error)
}

// SharedReport is a report as one replica received it.
type SharedReport struct {
	Report   api.PodReport
	Received time.Time
}

// refreshMinGap bounds the on-demand refreshes (a pod met that the
// registry does not know).
const refreshMinGap = 100 * time.Millisecond

// refresher rate-limits on-demand refreshes.
type refresher struct {
	mu   sync.Mutex // held during a refresh: one at a time
	last time.Time  // when the last refresh started
}

// Refresh takes into the registry the reports other replicas received
// (Config.Reports); a no-op without one. The server runs it every second.
// Those reports only refresh the pods' view: the replica that received
// each one already settled its slots and reconciled the session map.
func (r *Router) Refresh(ctx context.Context) error {
	if r.cfg.Reports == nil {
		return nil
	}
	r.refresh.mu.Lock()
	defer r.refresh.mu.Unlock()
	r.refresh.last = time.Now()
	return r.refreshLocked(ctx)
}

func (r *Router) refreshLocked(ctx context.Context) error {
	reps, err := r.cfg.Reports.SharedReports(ctx, r.reg.latest)
	if err != nil {
		return storeErr(err)
	}
	for _, sr := range reps {
		if err := checkReport(&sr.Report); err != nil {
			r.log.Warn("router: a shared report is invalid", "pod", sr.Report.Name, "err", err)
			continue
		}
		if _, err := r.reg.apply(sr.Received, sr.Report); err != nil {
			r.log.Warn("router: a shared report is invalid", "pod", sr.Report.Name, "err", err)
		}
	}
	return nil
}

// refreshFor refreshes the registry when it does not know pod (another
// replica received its reports), at most once per refreshMinGap, and
// reports whether the pod is known now.
func (r *Router) refreshFor(ctx context.Context, pod string) bool {
	if r.cfg.Reports == nil {
		return false
	}
	r.refresh.mu.Lock()
	defer r.refresh.mu.Unlock()
	if _, _, ok := r.reg.latest(pod); ok {
		return true // refreshed while this call waited
	}
	if time.Since(r.refresh.last) < refreshMinGap {
		return false
	}
	r.refresh.last = time.Now()
	if err := r.refreshLocked(ctx); err != nil {
		r.log.Debug("router: refresh on demand", "pod", pod, "err", err)
	}
	_, _, ok := r.reg.latest(pod)
	return ok
}

// shareReport shares a report this replica received.
func (r *Router) shareReport(ctx context.Context, rep api.PodReport, received time.Time) error {
	if r.cfg.Reports == nil {
		return nil
	}
	return storeErr(r.cfg.Reports.ShareReport(ctx, rep, received))
}
