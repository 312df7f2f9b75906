package router

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/voxfleet/vox/api"
)

// Report takes a pod's report: it refreshes the pod in the registry,
// settles the slots the report shows, forgets the sessions the pod no
// longer has, and maps the sessions it has that the store does not know
// (after a router restart, or placed by a replica that lost its store).
// A session two pods report stays with the one that has more participants
// (never a draining one), logged once and counted (vox_router_splits_total).
// An old or repeated report (seq not above the latest) is ignored.
func (r *Router) Report(ctx context.Context, rep api.PodReport) error {
	if err := checkReport(&rep); err != nil {
		return err
	}
	now := r.cfg.Now()
	a, err := r.reg.apply(now, rep)
	if err != nil {
		return fmt.Errorf("%w: admin_url: %w", api.ErrInvalid, err)
	}
	if a.ignored {
		return nil
	}
	r.stats.reports.Add(1)
	err = r.reconcile(ctx, rep, a, now)
	if errors.Is(err, ErrStoreUnavailable) {
		// The report refreshed this replica's view of the pod; the shared
		// store's part waits for the next report after the outage (which
		// settles every slot stamped before and maps every session). An
		// error would make the pod back off, and rebuild the map later.
		r.log.Debug("router: report taken without the store", "pod", rep.Name, "err", err)
		return nil
	}
	return err
}

// reconcile is the store's part of a report: share it with the other
// replicas (before settling: see scriptStamp), settle slots, and
// reconcile the session map.
func (r *Router) reconcile(ctx context.Context, rep api.PodReport, a applied, now time.Time) error {
	if err := r.shareReport(ctx, rep, now); err != nil {
		return err
	}
	name := rep.Name
	if a.restarted {
		if err := r.store.DropPod(ctx, name); err != nil {
			return storeErr(err)
		}
	}
	var err error
	listed := make(map[string]bool, len(rep.Sessions))
	for _, s := range rep.Sessions {
		listed[s.ID] = true
	}
	gone := a.ended
	if a.prevSeq > 0 {
		settled, err := r.store.Settle(ctx, name, a.prevSeq)
		if err != nil {
			return storeErr(err)
		}
		for _, s := range settled {
			if s.NewSession && !listed[s.Session] {
				gone = append(gone, s.Session) // placed here, yet not here: it ended or never began
			}
		}
	}
	if len(gone) > 0 {
		pending, err := r.store.Pending(ctx, name)
		if err != nil {
			return storeErr(err)
		}
		wait := map[string]bool{}
		for _, s := range pending {
			wait[s.Session] = true
		}
		for _, id := range gone {
			r.forgetSplit(id, name)
			if wait[id] {
				continue
			}
			if _, err := r.store.DeleteIfStill(ctx, id, name); err != nil {
				return storeErr(err)
			}
		}
	}
	var placed []Placement
	if bp, ok := r.store.(bulkPlacer); ok && len(rep.Sessions) > 0 {
		ids := make([]string, len(rep.Sessions))
		for i, s := range rep.Sessions {
			ids[i] = s.ID
		}
		if placed, err = bp.PlaceAllIfAbsent(ctx, name, ids); err != nil {
			return storeErr(err)
		}
	}
	for i, s := range rep.Sessions {
		if placed != nil {
			if placed[i].Placed {
				r.stats.adoptions.Add(1)
				continue
			}
			if placed[i].Pod == name {
				continue // mapped here already: nothing to decide
			}
		}
		if err := r.adopt(ctx, name, s); err != nil {
			return err
		}
	}
	r.nudgePools() // a pod may have joined a pool
	return nil
}

// checkReport refuses a report that cannot be right.
func checkReport(rep *api.PodReport) error {
	if !api.ValidID(rep.Name) {
		return fmt.Errorf("%w: pod name %q", api.ErrInvalid, rep.Name)
	}
	if rep.Seq == 0 {
		return fmt.Errorf("%w: seq must be positive", api.ErrInvalid)
	}
	if rep.Instance == "" {
		return fmt.Errorf("%w: instance is required", api.ErrInvalid)
	}
	if u, err := url.Parse(rep.AdminURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: admin_url %q: want http(s)://host:port", api.ErrInvalid, rep.AdminURL)
	}
	if rep.Limits.MaxSessions < 0 || rep.Limits.MaxParticipants < 0 || rep.Participants < 0 {
		return fmt.Errorf("%w: negative limits or counts", api.ErrInvalid)
	}
	for _, s := range rep.Sessions {
		if !api.ValidID(s.ID) || s.Participants < 0 {
			return fmt.Errorf("%w: session %q", api.ErrInvalid, s.ID)
		}
	}
	if rep.Pool == "" {
		rep.Pool = "default"
	}
	return nil
}

// adopt maps a session pod reports; if the store has it on another pod,
// it decides which one keeps it.
func (r *Router) adopt(ctx context.Context, pod string, s api.PodSession) error {
	cur, placed, err := r.store.PlaceIfAbsent(ctx, s.ID, pod)
	if err != nil {
		return storeErr(err)
	}
	if placed {
		r.stats.adoptions.Add(1)
		r.log.Debug("router: session learned from a report", "session", s.ID, "pod", pod)
		return nil
	}
	if cur == pod {
		return nil
	}
	now := r.cfg.Now()
	me, _ := r.reg.view(now, pod, s.ID)
	if me.draining {
		return nil // the session is moving off this pod
	}
	other, known := r.reg.view(now, cur, s.ID)
	switch {
	case !known || !other.fresh:
		// Mapped to a pod that is gone or silent: this pod has it.
		return r.remap(ctx, s.ID, cur, pod, "its mapped pod is gone or silent")
	case !other.listed:
		pending, err := r.store.Pending(ctx, cur)
		if err != nil {
			return storeErr(err)
		}
		for _, sl := range pending {
			if sl.Session == s.ID {
				return nil // just placed there; its report will show it
			}
		}
		return r.remap(ctx, s.ID, cur, pod, "its mapped pod does not have it")
	}
	// Both pods have it: a split. Keep the one with more participants
	// (a draining one never wins; a tie keeps the mapping).
	keep, lose := cur, pod
	if other.draining || s.Participants > other.count {
		keep, lose = pod, cur
	}
	r.splitMu.Lock()
	first := r.splitOf[s.ID] != lose
	r.splitOf[s.ID] = lose
	r.splitMu.Unlock()
	if first {
		r.stats.splits.Add(1)
		r.log.Warn("router: two pods report one session; keeping the one with more participants",
			"session", s.ID, "kept", keep, "dropped", lose, "participants_"+pod, s.Participants,
			"participants_"+cur, other.count)
	}
	if keep == pod {
		_, _, err := r.store.MoveIfStill(ctx, s.ID, cur, pod)
		return storeErr(err)
	}
	return nil
}

// remap moves a session's mapping to the pod that reports it.
func (r *Router) remap(ctx context.Context, id, from, to, why string) error {
	_, moved, err := r.store.MoveIfStill(ctx, id, from, to)
	if err != nil {
		return storeErr(err)
	}
	if moved {
		r.stats.adoptions.Add(1)
		r.log.Info("router: session remapped from a report", "session", id, "from", from, "to", to, "why", why)
	}
	return nil
}

// forgetSplit forgets a logged split once the losing pod no longer lists
// the session.
func (r *Router) forgetSplit(id, pod string) {
	r.splitMu.Lock()
	if r.splitOf[id] == pod {
		delete(r.splitOf, id)
	}
	r.splitMu.Unlock()
}
