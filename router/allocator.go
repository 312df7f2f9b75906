package router

import (
	"context"
	"errors"
	"time"
)

// The second stage of the two-stage allocation: pods are allocated through
// Agones in the background (the refill loop keeps the warm pool's free
// session slots above a target), never on an admission's path unless the
// pool is empty. An Allocator is one way to ask Agones (or a simulation of
// it) for a pod.

// ErrAllocRetry marks an allocation that found nothing allocatable now and
// may succeed later (Kubernetes API GameServerAllocation status.state
// UnAllocated or Contention; allocator service 429 ResourceExhausted or 409
// Aborted): the caller backs off with jitter and tries again.
var ErrAllocRetry = errors.New("router: allocation: nothing allocatable now, retry later")

// ErrAllocatorDown marks an allocator that cannot be reached or refuses the
// router (the Kubernetes API or allocator service down, credentials
// refused): new sessions go to other pools; nothing in place is touched.
var ErrAllocatorDown = errors.New("router: allocator unreachable")

// Allocator allocates pods of one pool (a Fleet). Implementations: the
// Kubernetes API (GameServerAllocation through client-go), the
// agones-allocator service (REST over mTLS), and a simulation (the local
// fleet and the tests). Allocate is called from the refill loop only and
// must be safe for concurrent use.
type Allocator interface {
	// Allocate allocates one pod with room for at least one more session
	// (a Ready one, or an Allocated one with room: Agones' Packed
	// strategy) and says which. Errors wrap ErrAllocRetry (retry later)
	// or ErrAllocatorDown, or are failures of the request itself.
	Allocate(ctx context.Context, req AllocationRequest) (Allocation, error)
	// Name says what it is, for logs and metrics: "kubernetes",
	// "allocator-service", "simulated".
	Name() string
}

// AllocationRequest is what the refill loop asks an Allocator for.
type AllocationRequest struct {
	// Pool is the router's name of the pool (a Fleet); implementations
	// know their Fleet's name and namespace.
	Pool string
	// MatchLabels the GameServer must carry (both allocation routes
	// support matchLabels; the allocator service supports nothing else),
	// e.g. agones.dev/sdk-vox-accepting: "true".
	MatchLabels map[string]string
	// ReadyOnly asks for a Ready GameServer only (a selector with
	// gameServerState: Ready; allocator service: READY), never an
	// Allocated one with room: the refill loop wants a pod that is not in
	// the pool yet, which Packed's Allocated-first order would return.
	ReadyOnly bool
}

// Allocation is one allocated GameServer.
type Allocation struct {
	// GameServer is its name: the pod's reported name (voxd --pod-name is
	// the GameServer's name under Agones).
	GameServer string
	// Address and Port are where its clients send media (the node's
	// address and the media hostPort); the pod's reports say the same.
	Address string
	Port    int
	// Took is how long the allocation took (the allocator's batching
	// included), for the refill target and the metrics.
	Took time.Duration
}

// GameServerEvent is the Agones view of one GameServer (from a watch):
// a GameServer being deleted, or Shutdown, leaves the pool at once, before
// its pod's reports say so.
type GameServerEvent struct {
	Name     string
	State    string // Scheduled, Ready, Allocated, Shutdown, …
	Deleting bool   // metadata.deletionTimestamp set
	Deleted  bool   // the object is gone
}
