package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("60s", "1m30s", "250ms").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string; numbers are refused (ambiguous units).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: a duration is a string such as \"60s\"", ErrInvalid)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%w: duration %q", ErrInvalid, s)
	}
	*d = Duration(v)
	return nil
}

// DrainRequest asks the pod to drain: stop admitting, give sessions Grace
// to end by themselves, then send every remaining participant a reconnect
// notice at Rate per second, and at Deadline remove whatever is left.
// Zero fields take the defaults.
type DrainRequest struct {
	// Grace is how long sessions may end by themselves before notices
	// start. Default 60 s. The drain can be cancelled during it.
	Grace Duration `json:"grace"`
	// Rate is the most reconnect notices per second, pod-wide (first
	// notices; repeats to the same participant are not counted). Default 200.
	Rate float64 `json:"rate"`
	// Deadline is the hard end, from the start of the drain. Default: the
	// pod's --drain-deadline (sessionmgr.Config.DrainDeadline).
	Deadline Duration `json:"deadline"`
	// Window is the notice's window: each client reconnects at a random
	// moment within it. Default 2 s.
	Window Duration `json:"window"`
	// Exit asks voxd to call Agones Shutdown and exit once drained.
	// Default: yes under Agones, no standalone (voxd decides).
	Exit *bool `json:"exit,omitempty"`
}

// ReconnectRequest asks clients to reconnect elsewhere now, without
// draining (e.g. to move sessions off a hot pod).
type ReconnectRequest struct {
	// Rate is the most first notices per second. Default 200.
	Rate float64 `json:"rate"`
	// Sessions limits the notices to these sessions; empty means all.
	Sessions []string `json:"sessions,omitempty"`
	// Window as in DrainRequest. Default 2 s.
	Window Duration `json:"window"`
}

// ReconnectAnswer says what a reconnect request queued.
type ReconnectAnswer struct {
	Sessions     int `json:"sessions"`
	Participants int `json:"participants"`
	// ETA is about how long the notices take at the rate.
	ETA Duration `json:"eta"`
}

// Drain phases.
const (
	DrainGrace     = "grace"     // waiting for sessions to end by themselves; cancellable
	DrainNotifying = "notifying" // sending reconnect notices at the drip rate
	DrainDrained   = "drained"   // no participant left
	DrainCancelled = "cancelled" // cancelled during the grace period
)

// DrainStatus is a drain's progress (in Status.Drain while one exists).
type DrainStatus struct {
	Phase      string    `json:"phase"`
	Reason     string    `json:"reason"`
	StartedAt  time.Time `json:"started_at"`
	GraceUntil time.Time `json:"grace_until"`
	Deadline   time.Time `json:"deadline"`
	Rate       float64   `json:"rate"`
	WindowMS   int64     `json:"window_ms"`
	Exit       bool      `json:"exit"`

	ParticipantsLeft int `json:"participants_left"`
	SessionsLeft     int `json:"sessions_left"`
	// NoticesSent counts first notices; NoticesRepeated the repeats.
	NoticesSent     uint64 `json:"notices_sent"`
	NoticesRepeated uint64 `json:"notices_repeated"`
	// Reconnected: notified participants that left (BYE) — gone elsewhere.
	Reconnected uint64 `json:"reconnected"`
	// TimedOut: notified participants removed by the idle timeout.
	TimedOut uint64 `json:"timed_out"`
	// RemovedAtDeadline: participants still there at the deadline.
	RemovedAtDeadline uint64 `json:"removed_at_deadline"`
	// Unreachable: participants with no address to notify (never sent a
	// packet); they end with the join timeout or the deadline.
	Unreachable uint64 `json:"unreachable"`
}
