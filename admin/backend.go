package admin

import (
	"context"

	"github.com/voxfleet/vox/sessionmgr"
)

// Backend is what the admin plane needs from the session manager.
// *sessionmgr.Manager implements it; tests use a fake.
//
// Errors wrap the sentinels of package sessionmgr (ErrInvalid,
// ErrSessionNotFound, ...); the admin plane maps them to HTTP statuses with
// errors.Is and shows their message to the caller. Any other error is a 500
// whose message is logged, not sent.
type Backend interface {
	// PutSession creates the session if it does not exist (created true),
	// or returns it if it exists with the same options; other options are
	// ErrSessionConflict.
	PutSession(ctx context.Context, id string, opts sessionmgr.SessionOptions) (info sessionmgr.SessionInfo, created bool, err error)
	// Session describes one session.
	Session(ctx context.Context, id string) (sessionmgr.SessionInfo, error)
	// Sessions describes every session.
	Sessions(ctx context.Context) ([]sessionmgr.SessionInfo, error)
	// DeleteSession ends a session and removes its participants.
	DeleteSession(ctx context.Context, id string) error
	// Admit admits a participant, creating the session if needed.
	Admit(ctx context.Context, sessionID string, req sessionmgr.AdmitRequest) (sessionmgr.Admission, error)
	// RemoveParticipant removes one participant from a session.
	RemoveParticipant(ctx context.Context, sessionID, participantID string) error
	// Status is a snapshot of the whole pod; it must be cheap, as probes
	// and scrapes call it.
	Status() sessionmgr.Status
}

var _ Backend = (*sessionmgr.Manager)(nil)
