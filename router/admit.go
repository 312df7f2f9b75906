package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
)

// Admit admits a participant to session id on the session's pod, placing
// the session first if it is new, or moving it if its pod is draining or
// gone, or if fromPod names the pod it is on (the caller re-admits after a
// reconnect notice; empty otherwise). The answer is the pod's with the
// pod's name.
//
// Errors: the pod's own answer (*PodError, matching api's sentinels);
// ErrNoPod when no pod has room for a new session; ErrUnreachable when an
// existing session's pod cannot be reached; api.ErrInvalid for a bad id.
func (r *Router) Admit(ctx context.Context, id string, req api.AdmitRequest, fromPod string) (api.RouterAdmission, error) {
	return r.AdmitIn(ctx, id, req, fromPod, "")
}

// AdmitIn is Admit for an admission that asks for a region: a new (or
// moved) session goes to a pool of that region when one has room, else
// to any pool. An existing session stays where it is.
func (r *Router) AdmitIn(ctx context.Context, id string, req api.AdmitRequest, fromPod, region string) (api.RouterAdmission, error) {
	start := r.cfg.Now()
	var podTime time.Duration
	adm, err := r.admit(context.WithValue(ctx, podTimeKey{}, &podTime), id, req, fromPod, region)
	end := r.cfg.Now()
	// What the router added: its whole handling but the pods' own
	// answers (store calls, placement, waits on an empty pool, retries'
	// own overhead).
	added := max(0, end.Sub(start)-podTime)
	r.stats.admission(end, end.Sub(start), added, err)
	if err == nil {
		r.latency.Update(end.Sub(start).Seconds())
		r.addedLatency.Update(added.Seconds())
	}
	return adm, err
}

// podTimeKey carries the admission's time spent in pod calls.
type podTimeKey struct{}

// podAdmit calls the pod's admission and adds its duration to the
// admission's pod time.
func (r *Router) podAdmit(ctx context.Context, v podView, id string, req api.AdmitRequest) (api.Admission, error) {
	t0 := r.cfg.Now()
	a, err := v.api.Admit(ctx, id, req)
	if pt, ok := ctx.Value(podTimeKey{}).(*time.Duration); ok {
		*pt += r.cfg.Now().Sub(t0)
	}
	return a, err
}

func (r *Router) admit(ctx context.Context, id string, req api.AdmitRequest, fromPod, region string) (api.RouterAdmission, error) {
	if !api.ValidID(id) {
		return api.RouterAdmission{}, fmt.Errorf("%w: session id %q", api.ErrInvalid, id)
	}
	if req.ParticipantID != "" && !api.ValidID(req.ParticipantID) {
		return api.RouterAdmission{}, fmt.Errorf("%w: participant id %q", api.ErrInvalid, req.ParticipantID)
	}
	for {
		// The common case: the session lives on a good pod; join it.
		if v, ok, err := r.joinable(ctx, id, fromPod); err != nil {
			return api.RouterAdmission{}, err
		} else if ok {
			return r.join(ctx, id, req, v)
		}
		wait, done := r.flight.begin(id)
		if wait != nil {
			select {
			case <-wait:
				continue // the leader placed or moved it: look again
			case <-ctx.Done():
				return api.RouterAdmission{}, context.Cause(ctx)
			}
		}
		adm, again, err := r.lead(ctx, id, req, fromPod, region)
		done()
		if !again {
			return adm, err
		}
	}
}

// joinable returns the pod of session id when a member should join it
// there: mapped, known, fresh, not draining, not the pod fromPod names,
// and not a suspended pod that does not even list the session.
func (r *Router) joinable(ctx context.Context, id, fromPod string) (podView, bool, error) {
	pod, ok, err := r.store.Lookup(ctx, id)
	if err != nil || !ok {
		return podView{}, false, storeErr(err)
	}
	v, known := r.reg.view(r.cfg.Now(), pod, id)
	if !known && r.refreshFor(ctx, pod) { // placed by a replica that heard of a pod this one has not
		v, known = r.reg.view(r.cfg.Now(), pod, id)
	}
	return v, known && v.fresh && !v.draining && !(v.suspended && !v.listed) && pod != fromPod, nil
}

// lead places session id (new) or moves it (its pod is no good), as the
// only placement of id in flight in this router. again asks the caller to
// look again (another replica placed or moved it first).
func (r *Router) lead(ctx context.Context, id string, req api.AdmitRequest, fromPod, region string) (adm api.RouterAdmission, again bool, err error) {
	pod, mapped, err := r.store.Lookup(ctx, id)
	if err != nil {
		return adm, false, storeErr(err)
	}
	if mapped {
		if _, ok, err := r.joinable(ctx, id, fromPod); err != nil || ok {
			return adm, ok, err // placed meanwhile: join it
		}
	}
	var exclude []string
	if mapped {
		exclude = append(exclude, pod) // never back to the pod it leaves
	}
	moving := mapped
	for attempt := 1; ; attempt++ {
		slot, spilled, err := r.reserve(ctx, id, region, exclude)
		if errors.Is(err, ErrNoRoom) {
			r.stats.noPod.Add(1)
			if attempt > 1 {
				r.forgetRefused(ctx, id, pod)
			}
			return adm, false, ErrNoPod
		}
		if err != nil {
			return adm, false, storeErr(err)
		}
		var cur string
		var won bool
		if moving {
			cur, won, err = r.store.MoveIfStill(ctx, id, pod, slot.Pod)
		} else {
			cur, won, err = r.store.PlaceIfAbsent(ctx, id, slot.Pod)
		}
		if err != nil || !won {
			r.release(ctx, slot)
			return adm, err == nil, storeErr(err)
		}
		if moving && attempt == 1 {
			r.stats.moves.Add(1)
			r.log.Info("router: session moved", "session", id, "from", pod, "to", cur)
		}
		v, known := r.reg.view(r.cfg.Now(), cur, id)
		var a api.Admission
		if known {
			a, err = r.podAdmit(ctx, v, id, req)
		} else {
			err = fmt.Errorf("%w: %s was forgotten", ErrUnreachable, cur) // refused: try another
		}
		if err == nil {
			r.stamp(ctx, slot)
			r.placed(cur)
			if spilled {
				r.stats.spills.Add(1)
			}
			return api.RouterAdmission{Admission: a, Pod: cur, Pool: r.reg.poolOfPod(cur), Spilled: spilled,
				Hostname: v.hostname, Moved: mapped}, false, nil
		}
		r.release(ctx, slot)
		if !refused(ctx, err) || attempt >= r.cfg.MaxAttempts {
			if attempt >= r.cfg.MaxAttempts && refused(ctx, err) {
				r.suspend(cur, err)
				r.stats.noPod.Add(1)
				r.forgetRefused(ctx, id, cur)
				return adm, false, ErrNoPod
			}
			if _, answered := errors.AsType[*client.APIError](err); answered {
				// The pod refused the request itself (4xx): it made no
				// session, so the session is new again.
				r.forgetRefused(ctx, id, cur)
			}
			return adm, false, r.podErr(ctx, cur, err)
		}
		// The pod takes nothing new or cannot be reached: out of the
		// pool until a later report, and the session tries another pod.
		r.suspend(cur, err)
		r.stats.retries.Add(1)
		exclude = append(exclude, cur)
		pod, moving = cur, true
	}
}

// refused reports whether a pod's error on a new session means "try
// another pod": 503 (not accepting, shutting down), or no answer at all
// (not the caller giving up).
func refused(ctx context.Context, err error) bool {
	if ae, ok := errors.AsType[*client.APIError](err); ok {
		return ae.Status == http.StatusServiceUnavailable
	}
	return ctx.Err() == nil
}

// forgetRefused removes the mapping of a session that never started on
// pod (every pod refused it), so it is new again to the next admission.
func (r *Router) forgetRefused(ctx context.Context, id, pod string) {
	if _, err := r.store.DeleteIfStill(ctx, id, pod); err != nil {
		r.log.Warn("router: store: forget a refused session", "session", id, "err", err)
	}
}

// join admits a member on the pod of its existing session. The pod's
// answer is relayed as it is; a pod that refuses (503) or cannot be
// reached leaves the pool for new sessions until a later report.
func (r *Router) join(ctx context.Context, id string, req api.AdmitRequest, v podView) (api.RouterAdmission, error) {
	slot, err := r.store.Join(ctx, id, v.name)
	if err != nil {
		return api.RouterAdmission{}, storeErr(err)
	}
	a, err := r.podAdmit(ctx, v, id, req)
	if err != nil {
		r.release(ctx, slot)
		if refused(ctx, err) {
			r.suspend(v.name, err)
		}
		return api.RouterAdmission{}, r.podErr(ctx, v.name, err)
	}
	r.stamp(ctx, slot)
	return api.RouterAdmission{Admission: a, Pod: v.name, Pool: r.reg.poolOfPod(v.name), Hostname: v.hostname}, nil
}

// stamp marks a slot answered, with the pod's latest report seq now.
func (r *Router) stamp(ctx context.Context, s Slot) {
	if err := r.store.Stamp(ctx, s, r.reg.seq(s.Pod)); err != nil {
		r.log.Warn("router: store: stamp a slot", "pod", s.Pod, "err", err)
	}
}

func (r *Router) release(ctx context.Context, s Slot) {
	if err := r.store.Release(context.WithoutCancel(ctx), s); err != nil {
		r.log.Warn("router: store: release a slot", "pod", s.Pod, "err", err)
	}
}

func (r *Router) suspend(pod string, why error) {
	if r.reg.suspend(pod) {
		r.stats.suspensions.Add(1)
		r.log.Info("router: pod suspended until its next report", "pod", pod, "why", why)
	}
}

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("router: store: %w", err)
}
