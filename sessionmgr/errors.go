package sessionmgr

import "github.com/voxfleet/vox/api"

// Errors callers match on: package api's sentinels (the admin plane maps
// each to its code and HTTP status with api.CodeOf).
var (
	// ErrInvalid: a malformed id or option (400).
	ErrInvalid = api.ErrInvalid
	// ErrSessionNotFound: no session with that id (404).
	ErrSessionNotFound = api.ErrSessionNotFound
	// ErrParticipantNotFound: no participant with that id in the session (404).
	ErrParticipantNotFound = api.ErrParticipantNotFound
	// ErrParticipantExists: the participant id is taken in the session (409).
	ErrParticipantExists = api.ErrParticipantExists
	// ErrSessionFull: the session has its most participants (409).
	ErrSessionFull = api.ErrSessionFull
	// ErrSessionConflict: PUT of an existing session with different options (409).
	ErrSessionConflict = api.ErrSessionConflict
	// ErrNotAccepting: the pod takes no new sessions or participants now
	// (503 with Retry-After).
	ErrNotAccepting = api.ErrNotAccepting
	// ErrClosed: the manager is shut down.
	ErrClosed = api.ErrClosed
	// ErrDrainConflict: the drain cannot do that now (409).
	ErrDrainConflict = api.ErrDrainConflict
	// ErrNoDrain: there is no drain to cancel (404).
	ErrNoDrain = api.ErrNoDrain
)
