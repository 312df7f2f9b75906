package sessionmgr

import "github.com/voxfleet/vox/api"

// The drain API's data is package api's: these aliases keep sessionmgr's
// names.
type (
	// Duration is a time.Duration that reads and writes JSON as a Go
	// duration string.
	Duration = api.Duration
	// DrainRequest asks the pod to drain.
	DrainRequest = api.DrainRequest
	// ReconnectRequest asks clients to reconnect elsewhere now, without
	// draining.
	ReconnectRequest = api.ReconnectRequest
	// ReconnectAnswer says what a reconnect request queued.
	ReconnectAnswer = api.ReconnectAnswer
	// DrainStatus is a drain's progress.
	DrainStatus = api.DrainStatus
)

// Drain phases.
const (
	DrainGrace     = api.DrainGrace
	DrainNotifying = api.DrainNotifying
	DrainDrained   = api.DrainDrained
	DrainCancelled = api.DrainCancelled
)
