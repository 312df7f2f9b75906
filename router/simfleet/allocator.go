package simfleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
	"github.com/voxfleet/vox/router"
)

// The request and answer shapes of allocation.agones.dev/v1
// GameServerAllocation (Agones v1.56 pkg/apis/allocation/v1), the fields
// vox uses, with their JSON names.

// Allocation states of GameServerAllocationStatus.State.
const (
	StateAllocated   = "Allocated"
	StateUnAllocated = "UnAllocated"
	StateContention  = "Contention"
)

// Scheduling strategies; the simulation implements Packed.
const Packed = "Packed"

// GameServerAllocation is an allocation request and, in Status, its answer.
type GameServerAllocation struct {
	Spec   GameServerAllocationSpec   `json:"spec"`
	Status GameServerAllocationStatus `json:"status"`
}

// GameServerAllocationSpec is what is asked: the first selector (in order)
// with a match decides, and the Counter actions applied to the GameServer.
type GameServerAllocationSpec struct {
	Scheduling string                   `json:"scheduling"`
	Selectors  []GameServerSelector     `json:"selectors"`
	Counters   map[string]CounterAction `json:"counters,omitempty"`
}

// GameServerSelector selects GameServers by state (nil: Ready), labels and
// Counter bounds.
type GameServerSelector struct {
	MatchLabels     map[string]string          `json:"matchLabels,omitempty"`
	GameServerState *string                    `json:"gameServerState,omitempty"`
	Counters        map[string]CounterSelector `json:"counters,omitempty"`
}

// CounterSelector bounds a Counter (zero Max*: no bound).
type CounterSelector struct {
	MinCount     int64 `json:"minCount"`
	MaxCount     int64 `json:"maxCount"`
	MinAvailable int64 `json:"minAvailable"`
	MaxAvailable int64 `json:"maxAvailable"`
}

// CounterAction changes a Counter on allocation ("Increment" or
// "Decrement" by Amount).
type CounterAction struct {
	Action *string `json:"action,omitempty"`
	Amount *int64  `json:"amount,omitempty"`
}

// GameServerAllocationStatus is the answer.
type GameServerAllocationStatus struct {
	State          string                   `json:"state"`
	GameServerName string                   `json:"gameServerName"`
	Ports          []agones.Port            `json:"ports,omitempty"`
	Address        string                   `json:"address"`
	Addresses      []agones.Address         `json:"addresses,omitempty"`
	NodeName       string                   `json:"nodeName"`
	Source         string                   `json:"source"`
	Counters       map[string]CounterStatus `json:"counters,omitempty"`
	Metadata       *Metadata                `json:"metadata,omitempty"`
}

// CounterStatus is a Counter in the answer (numbers, not strings).
type CounterStatus struct {
	Count    int64 `json:"count"`
	Capacity int64 `json:"capacity"`
}

// Metadata is the allocated GameServer's labels and annotations.
type Metadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Matches reports whether gs matches the selector.
func (s GameServerSelector) Matches(gs agones.GameServer) bool {
	want := agones.StateReady
	if s.GameServerState != nil {
		want = *s.GameServerState
	}
	if gs.Status.State != want {
		return false
	}
	for k, v := range s.MatchLabels {
		if gs.ObjectMeta.Labels[k] != v {
			return false
		}
	}
	for name, b := range s.Counters {
		c, ok := gs.Status.Counters[name]
		if !ok {
			return false
		}
		avail := c.Capacity - c.Count
		if c.Count < b.MinCount || (b.MaxCount > 0 && c.Count > b.MaxCount) ||
			avail < b.MinAvailable || (b.MaxAvailable > 0 && avail > b.MaxAvailable) {
			return false
		}
	}
	return true
}

// maxBatchBeforeRefresh: the real allocator rebuilds its sorted list after
// this many requests in one batch.
const maxBatchBeforeRefresh = 100

// Allocator is the fleet's allocator. It batches like Agones v1.56's
// (ListenAndAllocate): requests queue; when the queue is empty it sleeps
// BatchWait (500 ms) and forgets its list; a request then builds the list
// of GameServers sorted Packed (one node here: by the sessions Counter's
// count, highest first, then by name), takes the first one matching the
// first selector that matches any (Allocated with room, then Ready, for
// the usual request), removes it from the list, and applies the
// allocation (state Allocated, the last-allocated annotation, the Counter
// actions). Every later request of the same batch uses the same list, so
// a GameServer is taken at most once per batch and the surplus fails at
// once with UnAllocated (router.ErrAllocRetry): callers retry. Its
// methods are safe for concurrent use.
type Allocator struct {
	f         *Fleet
	batchWait time.Duration
	pending   chan request
	down      atomic.Bool // SetDown: the allocator service is unreachable
}

// SetDown makes the allocator unreachable (every call fails at once with
// router.ErrAllocatorDown, as a connection refused would) or reachable
// again: a cluster's control plane going away, for the tests and benches.
func (a *Allocator) SetDown(down bool) { a.down.Store(down) }

var _ router.Allocator = (*Allocator)(nil)

type request struct {
	gsa  GameServerAllocation
	resp chan GameServerAllocation
}

func newAllocator(f *Fleet, batchWait time.Duration) *Allocator {
	return &Allocator{f: f, batchWait: batchWait, pending: make(chan request, 100)}
}

// Name implements router.Allocator.
func (a *Allocator) Name() string { return "simulated" }

// Request is the GameServerAllocation the router's request becomes, as
// deploy/agones/allocation.yaml writes it: Packed; selectors Allocated
// with room then Ready (Ready only with ReadyOnly), each with the
// request's matchLabels and the sessions Counter's minAvailable 1; the
// sessions Counter incremented by 1.
func Request(req router.AllocationRequest) GameServerAllocation {
	incr, one := "Increment", int64(1)
	sel := func(state string) GameServerSelector {
		return GameServerSelector{MatchLabels: maps.Clone(req.MatchLabels), GameServerState: &state,
			Counters: map[string]CounterSelector{CounterName: {MinAvailable: 1}}}
	}
	spec := GameServerAllocationSpec{Scheduling: Packed,
		Counters: map[string]CounterAction{CounterName: {Action: &incr, Amount: &one}}}
	if !req.ReadyOnly {
		spec.Selectors = append(spec.Selectors, sel(agones.StateAllocated))
	}
	spec.Selectors = append(spec.Selectors, sel(agones.StateReady))
	return GameServerAllocation{Spec: spec}
}

// Allocate implements router.Allocator: Request(req) through AllocateGSA;
// UnAllocated and Contention are router.ErrAllocRetry.
func (a *Allocator) Allocate(ctx context.Context, req router.AllocationRequest) (router.Allocation, error) {
	start := time.Now()
	gsa, err := a.AllocateGSA(ctx, Request(req))
	if err != nil {
		return router.Allocation{}, err
	}
	st := gsa.Status
	if st.State != StateAllocated {
		return router.Allocation{}, fmt.Errorf("simfleet: allocation %s: %w", st.State, router.ErrAllocRetry)
	}
	out := router.Allocation{GameServer: st.GameServerName, Address: st.Address, Took: time.Since(start)}
	for _, p := range st.Ports {
		if p.Name == agonestest.DefaultPortName {
			out.Port = int(p.Port)
		}
	}
	return out, nil
}

// AllocateGSA allocates as a create of the GameServerAllocation would and
// returns it with its Status. An error means the request was not served
// (ctx ended, the fleet closed): router.ErrAllocatorDown.
func (a *Allocator) AllocateGSA(ctx context.Context, gsa GameServerAllocation) (GameServerAllocation, error) {
	if a.down.Load() {
		return gsa, fmt.Errorf("simfleet: %w: connection refused (SetDown)", router.ErrAllocatorDown)
	}
	r := request{gsa: gsa, resp: make(chan GameServerAllocation, 1)}
	select {
	case a.pending <- r:
	case <-ctx.Done():
		return gsa, fmt.Errorf("simfleet: %w: %w", router.ErrAllocatorDown, context.Cause(ctx))
	case <-a.f.ctx.Done():
		return gsa, fmt.Errorf("simfleet: %w: fleet closed", router.ErrAllocatorDown)
	}
	select {
	case out := <-r.resp:
		return out, nil
	case <-ctx.Done():
		return gsa, fmt.Errorf("simfleet: %w: %w", router.ErrAllocatorDown, context.Cause(ctx))
	case <-a.f.ctx.Done():
		return gsa, fmt.Errorf("simfleet: %w: fleet closed", router.ErrAllocatorDown)
	}
}

// listen is ListenAndAllocate.
func (a *Allocator) listen(ctx context.Context) {
	var list []candidate
	count := 0
	for {
		select {
		case r := <-a.pending:
			if count >= maxBatchBeforeRefresh {
				list, count = nil, 0
			}
			count++
			if list == nil {
				list = a.f.sortedPacked()
			}
			i := find(r.gsa, list)
			if i < 0 {
				r.gsa.Status = GameServerAllocationStatus{State: StateUnAllocated}
				r.resp <- r.gsa
				continue
			}
			c := list[i]
			list = slices.Delete(list, i, i+1)
			r.resp <- a.f.apply(r.gsa, c.pod)
		case <-ctx.Done():
			return
		default:
			list, count = nil, 0
			t := time.NewTimer(a.batchWait) // slow down, and let requests batch
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// candidate is a GameServer in the batch's list, as the cache had it.
type candidate struct {
	pod *Pod
	gs  agones.GameServer
}

// sortedPacked lists the allocatable GameServers (Ready or Allocated, not
// being deleted) sorted Packed.
func (f *Fleet) sortedPacked() []candidate {
	f.mu.Lock()
	pods := make([]*Pod, 0, len(f.pods))
	for _, p := range f.pods {
		pods = append(pods, p)
	}
	f.mu.Unlock()
	out := make([]candidate, 0, len(pods))
	for _, p := range pods {
		gs := p.Sidecar.GameServer()
		if st := gs.Status.State; (st == agones.StateReady || st == agones.StateAllocated) && !gs.Deleting() {
			out = append(out, candidate{pod: p, gs: gs})
		}
	}
	slices.SortFunc(out, func(a, b candidate) int {
		ca, cb := a.gs.Status.Counters[CounterName].Count, b.gs.Status.Counters[CounterName].Count
		if ca != cb {
			return int(cb - ca)
		}
		return strings.Compare(a.gs.ObjectMeta.Name, b.gs.ObjectMeta.Name)
	})
	return out
}

// find returns the index in list of the GameServer for gsa: the first
// match of the first selector that matches any, or -1.
func find(gsa GameServerAllocation, list []candidate) int {
	for _, sel := range gsa.Spec.Selectors {
		for i, c := range list {
			if sel.Matches(c.gs) {
				return i
			}
		}
	}
	return -1
}

// apply allocates p's GameServer for gsa (the update the real allocator's
// workers make): Allocated, the last-allocated annotation, the Counter
// incremented. A GameServer that changed since the list was built so that
// it cannot be allocated answers Contention (a conflict).
func (f *Fleet) apply(gsa GameServerAllocation, p *Pod) GameServerAllocation {
	counter := ""
	if ca, ok := gsa.Spec.Counters[CounterName]; ok && ca.Action != nil && *ca.Action == "Increment" {
		counter = CounterName
	}
	f.stateMu.Lock()
	gs, err := p.Sidecar.Allocate(counter)
	f.stateMu.Unlock()
	if err != nil {
		gsa.Status = GameServerAllocationStatus{State: StateContention}
		return gsa
	}
	st := GameServerAllocationStatus{State: StateAllocated, GameServerName: gs.ObjectMeta.Name,
		Ports: gs.Status.Ports, Address: gs.Status.Address, Addresses: gs.Status.Addresses, NodeName: "local-node",
		Source: "local", Counters: map[string]CounterStatus{},
		Metadata: &Metadata{Labels: maps.Clone(gs.ObjectMeta.Labels), Annotations: maps.Clone(gs.ObjectMeta.Annotations)}}
	for name, c := range gs.Status.Counters {
		st.Counters[name] = CounterStatus{Count: c.Count, Capacity: c.Capacity}
	}
	gsa.Status = st
	return gsa
}
