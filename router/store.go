package router

import "context"

// Store holds the router's shared state: which pod each session lives on,
// and the slots the router took on each pod that the pod's reports do not
// show yet. Every method is one atomic decision, so several router
// replicas sharing one store (Redis, with one Lua script per method) agree
// on placements without holding a lock across the network: two first
// admissions of one session never land on two pods, and two replicas
// never both take a pod's last slot.
//
// Pods are the source of truth; a store is a cache rebuilt from their
// reports (Router.Report), and losing it loses nothing for good.
type Store interface {
	// Lookup returns the pod session lives on, ok false if none.
	Lookup(ctx context.Context, session string) (pod string, ok bool, err error)
	// PlaceIfAbsent maps session to pod unless it is mapped already. It
	// returns the pod the session lives on afterwards, and whether this
	// call placed it.
	PlaceIfAbsent(ctx context.Context, session, pod string) (current string, placed bool, err error)
	// MoveIfStill maps session to to if it is still on from. It returns
	// the pod the session lives on afterwards (another one when someone
	// moved it first; "" when it is not mapped), and whether this call
	// moved it.
	MoveIfStill(ctx context.Context, session, from, to string) (current string, moved bool, err error)
	// DeleteIfStill removes session's mapping if it is on pod.
	DeleteIfStill(ctx context.Context, session, pod string) (bool, error)
	// Sessions counts the mapped sessions.
	Sessions(ctx context.Context) (int, error)

	// Reserve takes a new-session slot (one session, one participant) for
	// session on the fullest of cands that has room counting its pending
	// slots (pack), or returns ErrNoRoom.
	Reserve(ctx context.Context, session string, cands []Candidate) (Slot, error)
	// Join takes a participant slot on pod for a member joining session
	// there. It is never refused: the pod decides whether it has room.
	Join(ctx context.Context, session, pod string) (Slot, error)
	// Stamp records that the pod answered the slot's admission while its
	// latest report the router had was seq: from then on the slot waits
	// for a report that shows it (Settle). An unknown slot is ignored.
	Stamp(ctx context.Context, s Slot, seq uint64) error
	// Release gives a slot back (the admission failed).
	Release(ctx context.Context, s Slot) error
	// Settle drops pod's stamped slots whose seq is below before (a
	// report built after before was received shows them) and returns them.
	Settle(ctx context.Context, pod string, before uint64) ([]Slot, error)
	// Pending returns pod's slots that no report shows yet.
	Pending(ctx context.Context, pod string) ([]Slot, error)
	// DropPod forgets pod's slots (it restarted, or was forgotten).
	DropPod(ctx context.Context, pod string) error
}

// Candidate is a pod a new session may go to, with its load as its last
// report gave it.
type Candidate struct {
	Pod                          string
	Sessions, Participants       int
	MaxSessions, MaxParticipants int
}

// Slot is an admission the router placed on a pod that the pod's reports
// do not show yet: it counts against the pod's limits until they do.
type Slot struct {
	// ID is unique in the store.
	ID uint64
	// Pod and Session say where.
	Pod, Session string
	// NewSession: the slot holds a session too (Reserve), not only a
	// participant (Join).
	NewSession bool
	// Stamped is set once the pod answered; Seq is then the latest report
	// seq the router had at that moment.
	Stamped bool
	Seq     uint64
}

// Load counts slots: sessions (new-session slots) and participants (all).
func Load(slots []Slot) (sessions, participants int) {
	for _, s := range slots {
		if s.NewSession {
			sessions++
		}
	}
	return sessions, len(slots)
}

// pick returns the index of the fullest candidate with room, given each
// one's pending load, or -1. Fullest: the highest share of its participant
// limit in use, then of its session limit, then the name (stable).
func pick(cands []Candidate, pending func(pod string) (sessions, participants int)) int {
	best := -1
	var bestP, bestS float64
	for i, c := range cands {
		ps, pp := pending(c.Pod)
		s, p := c.Sessions+ps, c.Participants+pp
		if s >= c.MaxSessions || p >= c.MaxParticipants {
			continue
		}
		fp := float64(p) / float64(c.MaxParticipants)
		fs := float64(s) / float64(c.MaxSessions)
		if best < 0 || fp > bestP || fp == bestP && (fs > bestS || fs == bestS && c.Pod < cands[best].Pod) {
			best, bestP, bestS = i, fp, fs
		}
	}
	return best
}

// bulkPlacer is a Store that maps many sessions of one pod at once
// (PlaceIfAbsent for each, in one round trip): Report uses it for the
// sessions a report lists, when the store has it.
type bulkPlacer interface {
	PlaceAllIfAbsent(ctx context.Context, pod string, sessions []string) ([]Placement, error)
}

// Placement is PlaceIfAbsent's answer for one session.
type Placement struct {
	// Pod is the pod the session is on; Placed: this call placed it.
	Pod    string
	Placed bool
}
