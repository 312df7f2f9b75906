package router

import (
	"errors"
	"fmt"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
)

// Errors callers match on with errors.Is.
var (
	// ErrNoPod: no pod has room for a new session (or every pod with room
	// refused it). Answered 503 not_accepting with Retry-After: a client
	// of voxd reads it as api.ErrNotAccepting.
	ErrNoPod = fmt.Errorf("%w: no pod with room", api.ErrNotAccepting)
	// ErrNoRoom is returned by Store.Reserve when no candidate has room.
	ErrNoRoom = errors.New("router: no candidate pod has room")
	// ErrUnreachable: the session's pod could not be reached (502
	// pod_unreachable).
	ErrUnreachable = errors.New("router: pod unreachable")
	// ErrStoreUnavailable: the shared store (Redis) cannot be reached, or
	// was found empty and is being rebuilt from the pods' reports: no new
	// session is placed now (503 store_unavailable with Retry-After; a
	// client reads api.ErrStoreUnavailable).
	ErrStoreUnavailable = fmt.Errorf("router: %w", api.ErrStoreUnavailable)
	// ErrBadConfig wraps the configuration errors of New and NewServer.
	ErrBadConfig = errors.New("router: bad config")
)

// PodError is a pod's own error answer, relayed to the caller as the pod
// gave it (status, code, message, Retry-After).
type PodError struct {
	// Pod is the pod's name.
	Pod string
	// Err is the pod's answer.
	Err *client.APIError
}

// Error implements error.
func (e *PodError) Error() string { return "pod " + e.Pod + ": " + e.Err.Error() }

// Unwrap returns the pod's answer (errors.Is matches api sentinels).
func (e *PodError) Unwrap() error { return e.Err }
