package api

import "time"

// The fleet router's vocabulary (cmd/voxrouter, package router): the
// report each voxd posts about itself, the router's admission answer, and
// what the router shows about its pods and itself. See docs/router.md.

// PodReport is what a voxd pod tells the router about itself, every
// second: POST /v1/pods/{name}/report on the router, with the router's
// report token. Pods are the source of truth: the router's map of sessions
// is rebuilt from these reports after a restart.
type PodReport struct {
	// Name is the pod's name, unique in the fleet (the URL's {name}; the
	// GameServer's name under Agones): 1-64 of [A-Za-z0-9._-] (ValidID).
	Name string `json:"name"`
	// Instance identifies one run of the pod's process (random at start):
	// a new Instance under the same Name is a restarted pod, whose Seq
	// starts again and whose earlier sessions are gone.
	Instance string `json:"instance"`
	// Seq increases by one with every report the pod builds (from 1), so
	// the router can tell an old report from a new one. The pod builds a
	// report only after the post of the previous one has returned, so a
	// report is always built after the router received every report of a
	// smaller Seq that it received at all.
	Seq uint64 `json:"seq"`
	// At is when the pod built the report, by the pod's clock (shown, not
	// compared with the router's clock).
	At time.Time `json:"at"`
	// Pool is the pool (a Fleet in a cluster) the pod belongs to; empty
	// means "default".
	Pool string `json:"pool,omitempty"`
	// Media is where clients send media, as admissions tell them.
	Media MediaAddr `json:"media"`
	// Hostname is the media address's DNS name when the node has one
	// (clients behind NAT64/DNS64 need a name); empty if none.
	Hostname string `json:"hostname,omitempty"`
	// AdminURL is the base URL at which the router reaches the pod's
	// admin API, e.g. "http://10.0.0.7:8080".
	AdminURL string `json:"admin_url"`
	// Limits are the pod's capacity limits.
	Limits Limits `json:"limits"`
	// Sessions are the pod's sessions with their participant counts
	// (admissions in flight included).
	Sessions []PodSession `json:"sessions"`
	// Participants is the pod's participant count (the sum of Sessions').
	Participants int `json:"participants"`
	// CPUPercent is the pod's smoothed CPU use in percent of its
	// allowance (as admission sees it).
	CPUPercent float64 `json:"cpu_percent"`
	// Accepting is true while the pod takes new sessions.
	Accepting bool `json:"accepting"`
	// State is the pod's admission state (accepting, full, stopped,
	// draining, drained); Reason why it is not accepting, if it is not.
	State  State  `json:"state"`
	Reason string `json:"reason,omitempty"`
	// DrainPhase is the phase of the pod's drain (DrainGrace, ...), empty
	// when it has never drained.
	DrainPhase string `json:"drain_phase,omitempty"`
	// GameServerState is the pod's Agones GameServer state (Ready,
	// Allocated, Shutdown, ...), empty without Agones.
	GameServerState string `json:"gameserver_state,omitempty"`
}

// PodSession is one session in a PodReport.
type PodSession struct {
	// ID is the session's id.
	ID string `json:"id"`
	// Participants is how many members it has.
	Participants int `json:"participants"`
}

// RouterAdmission is the router's answer to an admission: the pod's own
// answer (Admission, embedded, so its fields are at the top level and a
// client of voxd reads it unchanged) and the pod it landed on.
type RouterAdmission struct {
	Admission
	// Pod is the name of the pod the session lives on, Pool its pool.
	Pod  string `json:"pod"`
	Pool string `json:"pool,omitempty"`
	// Spilled is true when this admission placed the session outside the
	// pool its weight chose (that pool had no room now): counted in
	// vox_router_spills_total.
	Spilled bool `json:"spilled,omitempty"`
	// Hostname is the pod's media host name, when it reported one.
	Hostname string `json:"hostname,omitempty"`
	// Moved is true when this admission moved the session to a new pod
	// (its pod was draining, gone, or the caller re-admitted after a
	// reconnect notice); the other members follow when re-admitted.
	Moved bool `json:"moved,omitempty"`
}

// RouterSession is the answer to GET /v1/sessions/{id} on the router:
// where the session lives.
type RouterSession struct {
	// ID is the session's id.
	ID string `json:"id"`
	// Pod is the name of its pod.
	Pod string `json:"pod"`
	// Media is the pod's media address; empty if the pod is forgotten.
	Media MediaAddr `json:"media"`
	// Participants is the count in the pod's last report (0 if the report
	// does not list it yet).
	Participants int `json:"participants"`
	// Reported is true when the pod's last report lists the session.
	Reported bool `json:"reported"`
}

// PodInfo is one pod as the router sees it (GET /v1/pods).
type PodInfo struct {
	// Report is the pod's last report, without its session list.
	PodReport
	// Placeable is true when new sessions may go to the pod now: fresh,
	// accepting, not draining, not suspended, with room.
	Placeable bool `json:"placeable"`
	// Why says why it is not placeable ("stale", "draining", "full", ...).
	Why string `json:"why,omitempty"`
	// Stale is true when the pod missed its reports (older than the
	// router's staleness bound).
	Stale bool `json:"stale"`
	// Suspended is true after the pod refused an admission (503) or could
	// not be reached, until a later report.
	Suspended bool `json:"suspended"`
	// LastReportAgoMS is how long since the router received the last
	// report.
	LastReportAgoMS int64 `json:"last_report_ago_ms"`
	// PendingSessions and PendingParticipants are the admissions the
	// router placed on the pod that its reports do not show yet; they
	// count against its limits.
	PendingSessions     int `json:"pending_sessions"`
	PendingParticipants int `json:"pending_participants"`
	// SessionCount is len(Sessions) of the last report.
	SessionCount int `json:"session_count"`
}

// PodList is the answer to GET /v1/pods, ordered by name.
type PodList struct {
	Pods []PodInfo `json:"pods"`
}

// RouterStatus is the answer to GET /v1/status on the router.
type RouterStatus struct {
	// Ready is what /readyz says.
	Ready bool `json:"ready"`
	// Pods counts the pods known, PodsPlaceable those that take new
	// sessions now, PodsStale those that missed their reports.
	Pods          int `json:"pods"`
	PodsPlaceable int `json:"pods_placeable"`
	PodsStale     int `json:"pods_stale"`
	// Sessions counts the sessions mapped to a pod; Participants the
	// participants the pods report.
	Sessions     int `json:"sessions"`
	Participants int `json:"participants"`
	// Admissions counts admissions answered 201; AdmissionsFailed those
	// answered otherwise.
	Admissions       uint64 `json:"admissions"`
	AdmissionsFailed uint64 `json:"admissions_failed"`
	// AdmissionsPerSecond is the rate of successful admissions over the
	// last RateWindowMS.
	AdmissionsPerSecond float64 `json:"admissions_per_second"`
	RateWindowMS        int64   `json:"rate_window_ms"`
	// Placement latency of the recent admissions (the router's whole
	// handling: the store and the pod's answer), in milliseconds.
	LatencyP50MS float64 `json:"latency_p50_ms"`
	LatencyP90MS float64 `json:"latency_p90_ms"`
	LatencyP99MS float64 `json:"latency_p99_ms"`
	// What the router added to the same admissions: their latency but
	// the time spent waiting on the pods' answers (store, placement, any
	// wait on an empty pool), in milliseconds.
	AddedP50MS  float64 `json:"added_p50_ms"`
	AddedP99MS  float64 `json:"added_p99_ms"`
	AddedP999MS float64 `json:"added_p999_ms"`
	// Spills counts new sessions placed outside the pool their weight
	// chose, which had no room.
	Spills uint64 `json:"spills"`
	// Retries counts admissions of new sessions sent again to another
	// pod after a pod refused (503) or could not be reached.
	Retries uint64 `json:"retries"`
	// NoPod counts admissions that found no pod with room.
	NoPod uint64 `json:"no_pod"`
	// Moves counts sessions moved to a new pod.
	Moves uint64 `json:"moves"`
	// Splits counts sessions two pods reported at once (the one with
	// fewer participants was dropped from the map).
	Splits uint64 `json:"splits"`
	// Reports counts pod reports received.
	Reports uint64 `json:"reports"`
	// Pool is the warm pool's refill (Agones mode only).
	Pool *PoolStatus `json:"pool,omitempty"`
}

// PoolStatus is what the router's refill loop decided last (Agones mode):
// the warm pool's free session slots against their target, and the
// allocations that refill it.
type PoolStatus struct {
	// Allocator names the Allocator ("kubernetes", "simulated", ...);
	// Pool the pool (Fleet) it allocates from.
	Allocator string `json:"allocator"`
	Pool      string `json:"pool"`
	// FreeSlots are the session slots free on the placeable (Allocated,
	// accepting, fresh) pods, pending placements counted; FutureSlots
	// those the allocations in flight and the allocated pods not yet
	// reported Allocated will bring; TargetSlots what the loop keeps
	// FreeSlots+FutureSlots at or above: max(Floor, new sessions per
	// second × allocation latency × margin).
	FreeSlots   int `json:"free_slots"`
	FutureSlots int `json:"future_slots"`
	TargetSlots int `json:"target_slots"`
	Floor       int `json:"floor"`
	// PlaceablePods are the pods in the pool now.
	PlaceablePods int `json:"placeable_pods"`
	// NewSessionsPerSecond is the recent rate of new sessions placed;
	// AllocationLatencyMS the recent time from an allocation's request to
	// its pod reporting Allocated (the lead time the target covers).
	NewSessionsPerSecond float64 `json:"new_sessions_per_second"`
	AllocationLatencyMS  float64 `json:"allocation_latency_ms"`
	// InFlight are the allocation requests not answered yet; Joining the
	// pods allocated whose reports do not say Allocated yet.
	InFlight int `json:"in_flight"`
	Joining  int `json:"joining"`
	// BackoffMS is how long the loop still waits before its next
	// allocation after a refusal (0: not backing off).
	BackoffMS int64 `json:"backoff_ms"`
	// Allocations counts the pods allocated; AllocRetries the allocations
	// answered "nothing allocatable now" (UnAllocated, Contention);
	// AllocFailures the others that failed; JoinTimeouts the allocated
	// pods that did not report Allocated in time.
	Allocations   uint64 `json:"allocations"`
	AllocRetries  uint64 `json:"alloc_retries"`
	AllocFailures uint64 `json:"alloc_failures"`
	JoinTimeouts  uint64 `json:"join_timeouts"`
	// AdmissionsWaited counts the admissions of new sessions that found
	// the pool empty and waited for an allocation; WaitTimeouts those that
	// waited in vain.
	AdmissionsWaited uint64 `json:"admissions_waited"`
	WaitTimeouts     uint64 `json:"wait_timeouts"`
}
