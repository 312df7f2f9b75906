package sessionmgr

import "github.com/voxfleet/vox/api"

// The session API's data, as the admin plane sends and receives it in
// JSON, is package api's: these aliases keep sessionmgr's names.
type (
	// SessionOptions are a session's settings, given when it is created.
	SessionOptions = api.SessionOptions
	// AdmitRequest asks for a participant to be admitted to a session.
	AdmitRequest = api.AdmitRequest
	// Admission is the answer to an admit.
	Admission = api.Admission
	// MediaAddr is where the client sends its media.
	MediaAddr = api.MediaAddr
	// SRTPKeys are a participant's SRTP profile and master keys.
	SRTPKeys = api.SRTPKeys
	// SessionInfo describes a session.
	SessionInfo = api.SessionInfo
	// ParticipantInfo describes a participant and its streams.
	ParticipantInfo = api.ParticipantInfo
	// MuteList is a listener's own mute list.
	MuteList = api.MuteList
	// StreamStats are one participant's media counters.
	StreamStats = api.StreamStats
	// State is the pod's admission state.
	State = api.State
	// Limits are the pod's capacity limits.
	Limits = api.Limits
	// Status is a snapshot of the whole pod.
	Status = api.Status
	// ShardStatus is one shard's load and counters.
	ShardStatus = api.ShardStatus
	// Counters are monotonically increasing packet counters.
	Counters = api.Counters
)

// Admission states.
const (
	StateAccepting = api.StateAccepting
	StateFull      = api.StateFull
	StateStopped   = api.StateStopped
	StateDraining  = api.StateDraining
	StateDrained   = api.StateDrained
)

// Removal reasons, as counted and reported (Counters.Removed).
const (
	ReasonBye           = api.ReasonBye
	ReasonJoinTimeout   = api.ReasonJoinTimeout
	ReasonIdle          = api.ReasonIdle
	ReasonRemoved       = api.ReasonRemoved
	ReasonSessionEnd    = api.ReasonSessionEnd
	ReasonDrainDeadline = api.ReasonDrainDeadline
	// ReasonAdmissionCancelled: see api.ReasonAdmissionCancelled.
	ReasonAdmissionCancelled = api.ReasonAdmissionCancelled
)

// ValidID reports whether s is a valid session or participant id
// (api.ValidID).
func ValidID(s string) bool { return api.ValidID(s) }
