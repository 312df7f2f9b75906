package sessionmgr

import "errors"

// Errors callers match on (the admin plane maps each to an HTTP status).
var (
	// ErrInvalid: a malformed id or option (400).
	ErrInvalid = errors.New("invalid request")
	// ErrSessionNotFound: no session with that id (404).
	ErrSessionNotFound = errors.New("session not found")
	// ErrParticipantNotFound: no participant with that id in the session (404).
	ErrParticipantNotFound = errors.New("participant not found")
	// ErrParticipantExists: the participant id is taken in the session (409).
	ErrParticipantExists = errors.New("participant already exists")
	// ErrSessionFull: the session has its most participants (409).
	ErrSessionFull = errors.New("session full")
	// ErrSessionConflict: PUT of an existing session with different options (409).
	ErrSessionConflict = errors.New("session exists with other options")
	// ErrNotAccepting: the pod takes no new sessions or participants now
	// (full, stopped or draining; 503 with Retry-After). Wrapped errors say
	// which limit.
	ErrNotAccepting = errors.New("not accepting")
	// ErrClosed: the manager is shut down.
	ErrClosed = errors.New("session manager closed")
)

// Drain errors.
var (
	// ErrDrainConflict: the drain cannot do that now (409): a drain is
	// already running, it is past its grace period (cannot be cancelled),
	// or accept-resume during a drain.
	ErrDrainConflict = errors.New("drain conflict")
	// ErrNoDrain: there is no drain to cancel (404).
	ErrNoDrain = errors.New("no drain")
)
