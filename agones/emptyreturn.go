package agones

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// EmptyAction is what EmptyReturn does with a pod that stayed vacant. It
// is a flag.Value: "ready" or "shutdown".
type EmptyAction string

// Empty actions.
const (
	// EmptyReady returns the GameServer to Ready (SDK /ready): it joins the
	// Ready buffer, where the Fleet may scale it down or allocate it again.
	EmptyReady EmptyAction = "ready"
	// EmptyShutdown ends the pod (SDK /shutdown), as after a drain.
	EmptyShutdown EmptyAction = "shutdown"
)

// String implements flag.Value.
func (a EmptyAction) String() string { return string(a) }

// Set implements flag.Value.
func (a *EmptyAction) Set(s string) error {
	switch EmptyAction(s) {
	case EmptyReady, EmptyShutdown:
		*a = EmptyAction(s)
		return nil
	}
	return fmt.Errorf("agones: empty action %q: want ready or shutdown", s)
}

// Vacancy is what EmptyReturn needs from the server.
type Vacancy interface {
	// Vacant reports, atomically, whether the pod hosts nothing (no
	// session, no participant, no admission in flight) and nobody but a
	// Hold stopped its admission (an operator's stop, a drain). Under a
	// Hold, a vacant pod must stay vacant until Release unless such a
	// stop comes.
	Vacant() bool
	// Hold refuses every new admission, with reason reported, apart
	// from any other stop; Release ends the hold and nothing else.
	Hold(reason string)
	Release()
}

// Clock is the time EmptyReturn runs on (tests pass their own).
type Clock interface {
	Now() time.Time
	// After sends the time on the channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// minSettle is the least default settle wait: a label write's 500 ms in
// the sidecar's queue, about 1 s to the allocator, and a margin.
const minSettle = 3 * time.Second

// DefaultSettle is the settle wait for a report interval: max(2 ×
// reportInterval, 3 s). The vox-accepting=false label is written at the end
// of the current report interval (ReportSoon waits for it: up to one
// interval), then goes through the sidecar's write queue (one write per
// 500 ms) and reaches the allocator about 1 s later: at worst reportInterval
// + 1.5 s, which max(2 × reportInterval, 3 s) covers for any interval.
func DefaultSettle(reportInterval time.Duration) time.Duration {
	return max(2*reportInterval, minSettle)
}

// EmptyReturnConfig configures an EmptyReturn.
type EmptyReturnConfig struct {
	// After is how long the pod must be vacant while Allocated before it
	// is given back (measured from the first poll that saw it vacant).
	// Required: positive.
	After time.Duration
	// Settle is the wait between the hold and the last check. Default
	// DefaultSettle(the lifecycle's report interval).
	Settle time.Duration
	// Poll is how often vacancy is sampled. Default After/4, between
	// 10 ms and 1 s.
	Poll time.Duration
	// Action: EmptyReady (the default) or EmptyShutdown.
	Action EmptyAction
	// OnShutdown is called once, with admission still held, when Action
	// is EmptyShutdown and the pod is to end: the caller stops the server
	// and calls Lifecycle.Shutdown. Required with EmptyShutdown.
	OnShutdown func()
	// Clock defaults to real time.
	Clock  Clock
	Logger *slog.Logger
}

// EmptyReturnStats count what an EmptyReturn did.
type EmptyReturnStats struct {
	// Holds counts hand-overs started (admission held).
	Holds uint64
	// Returned counts GameServers given back to Ready.
	Returned uint64
	// Shutdowns counts pods ended (EmptyShutdown): 0 or 1.
	Shutdowns uint64
	// Aborted counts hand-overs given up because the pod was no longer
	// vacant and Allocated after the settle wait (an admission landed, an
	// operator stop, a drain, a state change).
	Aborted uint64
	// Failed counts Ready calls that failed (the pod stays Allocated and
	// accepting; it is tried again after another After).
	Failed uint64
}

// EmptyReturn gives an empty Allocated pod back to Agones ("reusing
// allocated GameServers"): Agones never scales down an Allocated
// GameServer, so a pod whose sessions have all ended would otherwise stay
// Allocated, and in the Fleet, forever. Make it with NewEmptyReturn and Run
// it.
//
//	Allocated and vacant for After
//	  → Hold: admission refused (503 not_accepting), vox-accepting=false
//	    reported soon (ReportSoon)
//	  → wait Settle: the label reaches the allocator, and admissions booked
//	    before the hold land
//	  → still vacant and Allocated?
//	       no:  Release, stay Allocated and accept again (aborted)
//	       yes: Ready (back to the Ready buffer: the Fleet may scale the pod
//	            down), then Release and accept again — or, with
//	            EmptyShutdown, OnShutdown with the hold kept (the caller
//	            stops the server and calls Lifecycle.Shutdown)
//
// An admission racing the hand-over is never lost: booked before the hold,
// it makes the pod not vacant and the return is aborted; after the hold it
// is refused with 503 not_accepting and the caller retries elsewhere.
type EmptyReturn struct {
	lc   *Lifecycle
	pod  Vacancy
	cfg  EmptyReturnConfig
	log  *slog.Logger
	hold string // the hold's reason

	holds, returned, shutdowns, aborted, failed atomic.Uint64
}

// NewEmptyReturn makes an EmptyReturn for the pod of lc.
func NewEmptyReturn(lc *Lifecycle, pod Vacancy, cfg EmptyReturnConfig) (*EmptyReturn, error) {
	if cfg.After <= 0 {
		return nil, fmt.Errorf("agones: empty return: After %v must be positive", cfg.After)
	}
	if cfg.Action == "" {
		cfg.Action = EmptyReady
	}
	if err := new(EmptyAction).Set(string(cfg.Action)); err != nil {
		return nil, err
	}
	if cfg.Action == EmptyShutdown && cfg.OnShutdown == nil {
		return nil, fmt.Errorf("agones: empty return: action %s needs OnShutdown", cfg.Action)
	}
	if cfg.Settle < 0 {
		return nil, fmt.Errorf("agones: empty return: negative Settle %v", cfg.Settle)
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle(lc.cfg.ReportInterval)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = min(max(cfg.After/4, 10*time.Millisecond), time.Second)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = lc.log
	}
	hold := fmt.Sprintf("empty for %v: returning the GameServer to Ready", cfg.After)
	if cfg.Action == EmptyShutdown {
		hold = fmt.Sprintf("empty for %v: shutting down", cfg.After)
	}
	return &EmptyReturn{lc: lc, pod: pod, cfg: cfg, log: cfg.Logger, hold: hold}, nil
}

// Stats returns what the EmptyReturn did so far.
func (e *EmptyReturn) Stats() EmptyReturnStats {
	return EmptyReturnStats{Holds: e.holds.Load(), Returned: e.returned.Load(), Shutdowns: e.shutdowns.Load(),
		Aborted: e.aborted.Load(), Failed: e.failed.Load()}
}

// Run watches the pod until ctx is done, or until it called OnShutdown. A
// hand-over cut by ctx releases its hold.
func (e *EmptyReturn) Run(ctx context.Context) {
	var since time.Time // the pod seen vacant and Allocated since; zero: not
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.cfg.Clock.After(e.cfg.Poll):
		}
		if !e.eligible() {
			since = time.Time{}
			continue
		}
		now := e.cfg.Clock.Now()
		if since.IsZero() {
			since = now
		}
		if now.Sub(since) < e.cfg.After {
			continue
		}
		since = time.Time{}
		if e.handOver(ctx) {
			return
		}
	}
}

// eligible: Allocated, not being deleted, vacant, and no allocation of the
// pod in flight (an allocator's +1 whose session has not arrived yet: the
// router may be about to admit it).
func (e *EmptyReturn) eligible() bool {
	return e.lc.State() == StateAllocated && !e.lc.deleting.Load() && e.pod.Vacant() && e.lc.InFlight() == 0
}

// handOver runs one hand-over; true when the pod is to end (OnShutdown
// called) or ctx is done.
func (e *EmptyReturn) handOver(ctx context.Context) bool {
	e.pod.Hold(e.hold)
	e.holds.Add(1)
	e.lc.ReportSoon()
	e.log.Info("agones: empty and Allocated: admission held while vox-accepting=false reaches the allocator",
		"empty_for", e.cfg.After.String(), "settle", e.cfg.Settle.String(), "action", string(e.cfg.Action))
	select {
	case <-ctx.Done():
		e.pod.Release()
		return true
	case <-e.cfg.Clock.After(e.cfg.Settle):
	}
	if !e.eligible() {
		e.pod.Release()
		e.lc.ReportSoon()
		e.aborted.Add(1)
		e.log.Info("agones: no longer empty and Allocated after the hold; staying, accepting again",
			"state", e.lc.State())
		return false
	}
	if e.cfg.Action == EmptyShutdown {
		e.shutdowns.Add(1)
		e.log.Info("agones: still empty: shutting down (empty action shutdown)")
		e.cfg.OnShutdown()
		return true
	}
	if err := e.lc.c.Ready(ctx); err != nil {
		e.pod.Release()
		e.lc.ReportSoon()
		if ctx.Err() != nil {
			return true
		}
		e.failed.Add(1)
		e.log.Warn("agones: Ready failed; staying Allocated and accepting, trying again after another empty period",
			"err", err)
		return false
	}
	// As self-allocation does: the watch confirms it shortly, and a
	// session arriving before that must find the pod Ready to allocate it.
	st := StateReady
	e.lc.state.Store(&st)
	e.pod.Release()
	e.lc.ReportSoon()
	e.returned.Add(1)
	e.log.Info("agones: GameServer back to Ready (empty); accepting again")
	return false
}
