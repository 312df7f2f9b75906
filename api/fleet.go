package api

import "time"

// The router's fleet operations (docs/router.md, "Fleet operations"):
// pools with weights and regions, drains of pods and pools at a
// fleet-wide reconnect budget, and consolidation (scale-in).
//
//	GET    /v1/pools                 PoolList
//	PUT    /v1/pools/{pool}          PoolUpdate → PoolInfo
//	POST   /v1/pools/{pool}/drain    → PoolInfo (every pod of the pool drained at the budget)
//	DELETE /v1/pools/{pool}/drain    → PoolInfo (drains still in their grace cancelled)
//	GET    /v1/drains                FleetDrains
//	POST   /v1/pods/{pod}/drain      → PodDrain
//	DELETE /v1/pods/{pod}/drain      → PodDrain (cancelled if still in its grace)
//
// An admission may ask for a region: POST
// /v1/sessions/{id}/participants?region=eu-west. A pool of that region
// with room takes the new session; without one, any pool does.

// PoolInfo is one pool as the router sees it.
type PoolInfo struct {
	// Name is the pool's name (pods report it; ValidID).
	Name string `json:"name"`
	// Weight is the pool's relative share of new sessions (any
	// non-negative number; 0: no new sessions, those in place stay).
	Weight float64 `json:"weight"`
	// Share is Weight over the sum of the weights of the pools that can
	// take sessions now (0–1).
	Share float64 `json:"share"`
	// Region is the pool's region, empty if none.
	Region string `json:"region,omitempty"`
	// Allocator names how the pool gets pods: "static" (the pods that
	// report), "kubernetes", "allocator-service", "simulated".
	Allocator string `json:"allocator"`
	// Draining is true while the pool is being emptied
	// (POST /v1/pools/{pool}/drain).
	Draining bool `json:"draining"`
	// Pods counts the pool's pods, PodsPlaceable those taking new
	// sessions now; Sessions and Participants what they report.
	Pods          int `json:"pods"`
	PodsPlaceable int `json:"pods_placeable"`
	Sessions      int `json:"sessions"`
	Participants  int `json:"participants"`
	// NewSessions counts the new sessions this router placed on the pool
	// since it started.
	NewSessions uint64 `json:"new_sessions"`
	// Refill is the pool's warm-pool refill (pools with an allocator).
	Refill *PoolStatus `json:"refill,omitempty"`
}

// PoolList is the answer to GET /v1/pools, ordered by name.
type PoolList struct {
	Pools []PoolInfo `json:"pools"`
}

// PoolUpdate changes a pool (PUT /v1/pools/{pool}); absent fields stay.
// The change takes effect for the next admission and is kept in the
// router's store (it survives a restart and is seen by every replica).
type PoolUpdate struct {
	Weight *float64 `json:"weight,omitempty"`
	Region *string  `json:"region,omitempty"`
}

// Why a pod is drained by the router.
const (
	DrainReasonConsolidation = "consolidation" // scale-in: the pool has more free slots than it needs
	DrainReasonPool          = "pool"          // its pool is being drained
	DrainReasonOperator      = "operator"      // POST /v1/pods/{pod}/drain
)

// Phases of a router-driven pod drain. The pod's own drain phases
// (DrainGrace, DrainNotifying, ...) follow once the router has asked it
// to drain.
const (
	// FleetDrainStopped: the router places nothing new on the pod and
	// asked it to stop accepting; sessions may end by themselves until
	// the grace ends. Cancellable.
	FleetDrainStopped = "stopped"
	// FleetDrainQueued: the grace is over, the pod waits for a drain slot
	// (MaxDraining) or for reconnect budget.
	FleetDrainQueued = "queued"
	// FleetDrainDraining: the pod drains, sending reconnect notices at the
	// rate the router gave it.
	FleetDrainDraining = "draining"
	// FleetDrainDone: no participant left; the pod went back to the Ready
	// buffer or exited.
	FleetDrainDone = "done"
	// FleetDrainCancelled: cancelled (by load rising again, or by the
	// operator) before the pod began to drain.
	FleetDrainCancelled = "cancelled"
)

// PodDrain is one pod drained by the router.
type PodDrain struct {
	Pod    string `json:"pod"`
	Pool   string `json:"pool"`
	Reason string `json:"reason"`
	Phase  string `json:"phase"`
	// PodPhase is the drain phase the pod last reported, if any.
	PodPhase string `json:"pod_phase,omitempty"`
	// StartedAt is when the router chose the pod; GraceUntil when its
	// sessions' time to end by themselves ends.
	StartedAt  time.Time `json:"started_at"`
	GraceUntil time.Time `json:"grace_until"`
	// ParticipantsAtStart and Participants: the pod's participants when
	// chosen and in its last report (progress).
	ParticipantsAtStart int `json:"participants_at_start"`
	Participants        int `json:"participants"`
	// Rate is the reconnect notices per second the router gave the pod.
	Rate float64 `json:"rate"`
	// DrainingSince is when the pod began to drain; Deadline when its
	// drain must be over (the pod removes whoever is left then).
	DrainingSince *time.Time `json:"draining_since,omitempty"`
	Deadline      *time.Time `json:"deadline,omitempty"`
	// EndedAt is when it was done or cancelled.
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// FleetDrains is the answer to GET /v1/drains: the drains and
// consolidation, and the reconnect budget they share.
type FleetDrains struct {
	// Budget is the fleet-wide reconnect notices per second; Assigned the
	// sum of the rates given to the pods draining now (never above Budget).
	Budget   float64 `json:"budget"`
	Assigned float64 `json:"assigned"`
	// MaxDraining caps the pods draining at once; Draining counts them.
	MaxDraining int `json:"max_draining"`
	Draining    int `json:"draining"`
	// Consolidation is the scale-in loop's view.
	Consolidation Consolidation `json:"consolidation"`
	// Drains are the pods being drained and the recent ones ended, newest
	// first.
	Drains []PodDrain `json:"drains"`
}

// Consolidation is what the scale-in loop saw last.
type Consolidation struct {
	// Enabled is false when the router does not consolidate.
	Enabled bool `json:"enabled"`
	// SurplusSlots are the free session slots above the pool's target and
	// margin; SurplusForMS how long there has been a surplus (it must last
	// the router's --consolidate-after before a pod is chosen).
	SurplusSlots int   `json:"surplus_slots"`
	SurplusForMS int64 `json:"surplus_for_ms"`
	// Chosen counts the pods chosen so far; Cancelled those given back
	// because load rose again.
	Chosen    uint64 `json:"chosen"`
	Cancelled uint64 `json:"cancelled"`
}
