package api

import "time"

// The types below are the session API's data, as the admin plane sends and
// receives them in JSON.

// SessionOptions are a session's settings, given when it is created.
type SessionOptions struct {
	// MaxParticipants caps the session; 0 means the pod's
	// --max-session-participants.
	MaxParticipants int `json:"max_participants,omitempty"`
	// Profile is the default SRTP profile of the session's participants;
	// empty means the pod default (AES_CM_128_HMAC_SHA1_80).
	Profile *Profile `json:"profile,omitempty"`
	// MaxSpeakers is how many of the loudest speakers of each channel
	// are forwarded (1..64); 0 means the pod's --max-speakers.
	MaxSpeakers int `json:"max_speakers,omitempty"`
	// Mix asks for mix mode: each participant receives one mixed Opus
	// stream (everybody else's voice, decoded, mixed every 20 ms, limited
	// and re-encoded) with its ServerSSRC, instead of the others'
	// streams. It needs a binary built with -tags opus (libopus); at most
	// 64 participants (mixer.MaxMixMembers; max_participants 0 means the
	// smaller of the pod's cap and that).
	Mix bool `json:"mix,omitempty"`
	// EmptyTimeout is how long a session created by PUT stays with no
	// participant before it ends; 0 means the pod default.
	EmptyTimeout Duration `json:"empty_timeout,omitempty"`
}

// AdmitRequest asks for a participant to be admitted to a session. The
// session is created (with Session's options) if it does not exist.
type AdmitRequest struct {
	// ParticipantID is the routing service's id for the participant
	// (1-64 of [A-Za-z0-9._-]); empty means vox generates one.
	ParticipantID string `json:"participant_id,omitempty"`
	// Profile overrides the session's SRTP profile for this participant.
	Profile *Profile `json:"profile,omitempty"`
	// Session holds the options used if the session must be created.
	Session *SessionOptions `json:"session,omitempty"`
	// Mix asks for this participant alone to receive one mixed Opus
	// stream (its server SSRC, PT 111) of the session's other speakers
	// instead of their forwarded streams; the other members keep
	// selective forwarding. A no-op in a mix session. Needs a binary
	// built with -tags opus (else ErrInvalid).
	Mix bool `json:"mix,omitempty"`
	// DisplayName is the participant's name as other players see it:
	// the listeners' RTCP SDES NAME item for its stream (docs/protocol.md,
	// "Who is talking"). Optional; at most MaxDisplayName bytes of UTF-8
	// without control characters (ValidDisplayName).
	DisplayName string `json:"display_name,omitempty"`
}

// Admission is the answer to an admit: everything the game client needs,
// relayed to it by the routing service over its own authenticated channel.
type Admission struct {
	SessionID     string `json:"session_id"`
	ParticipantID string `json:"participant_id"`
	// SSRC is the participant's own SSRC: it must send RTP and RTCP with
	// it. Other members' packets reach it with their SSRCs unchanged.
	SSRC uint32 `json:"ssrc"`
	// ServerSSRC is the SSRC of the server's own RTCP to this participant
	// (receiver reports, reconnect notices) and, in a mix session, of the
	// mixed RTP stream it receives.
	ServerSSRC uint32    `json:"server_ssrc"`
	Media      MediaAddr `json:"media"`
	SRTP       SRTPKeys  `json:"srtp"`
	// AudioLevelExtensionID is the RFC 8285 one-byte header extension id
	// the client uses for the RFC 6464 audio level.
	AudioLevelExtensionID uint8 `json:"audio_level_extension_id"`
	// JoinTimeoutMS: the participant is removed if no authenticated packet
	// arrives within this long after admission.
	JoinTimeoutMS int64 `json:"join_timeout_ms"`
	// IdleTimeoutMS: the participant is removed after this long without an
	// authenticated RTP or RTCP packet (clients send RTCP while silent).
	IdleTimeoutMS int64 `json:"idle_timeout_ms"`
}

// MediaAddr is where the client sends its media.
type MediaAddr struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
}

// SRTPKeys are a participant's SRTP profile and master keys, one pair per
// direction (keys and salts in standard base64 in JSON).
type SRTPKeys struct {
	Profile        Profile `json:"profile"`
	ClientToServer Keys    `json:"client_to_server"`
	ServerToClient Keys    `json:"server_to_client"`
}

// SessionInfo describes a session.
type SessionInfo struct {
	ID              string    `json:"id"`
	CreatedAt       time.Time `json:"created_at"`
	Shard           int       `json:"shard"`
	MaxParticipants int       `json:"max_participants"`
	MaxSpeakers     int       `json:"max_speakers"`
	Mix             bool      `json:"mix"`
	Profile         Profile   `json:"profile"`
	// EmptyTimeout is set for a session created (or confirmed) by PUT:
	// it ends once it has had no participant for this long. A session
	// created by an admission has none: it ends with its last participant.
	EmptyTimeout Duration `json:"empty_timeout,omitempty"`
	// Participants are the members admitted and on the pod (an admission
	// still in flight is not listed), each with its live statistics.
	Participants []ParticipantInfo `json:"participants"`
}

// ParticipantInfo describes a participant and its streams.
type ParticipantInfo struct {
	ID string `json:"id"`
	// DisplayName is the admission's display name (empty: none).
	DisplayName string    `json:"display_name,omitempty"`
	SSRC        uint32    `json:"ssrc"`
	Profile     Profile   `json:"profile"`
	AdmittedAt  time.Time `json:"admitted_at"`
	// Address is the latched source address, empty until the first
	// authenticated packet.
	Address string `json:"address,omitempty"`
	// Forward-mode routing: muted by the server, its channel, the
	// participants and SSRCs it chose not to hear, and whether its
	// voice is currently selected (forwarded; in mix mode: in the last
	// tick's mix).
	Muted    bool     `json:"muted"`
	Channel  string   `json:"channel"`
	Mutes    MuteList `json:"mutes"`
	Selected bool     `json:"selected"`
	// Mix: it receives one mixed stream (a mix session, or its own mix
	// option in a forward session).
	Mix   bool        `json:"mix"`
	Stats StreamStats `json:"stats"`
}

// MuteList is a listener's own mute list: the participants (by id, also
// when they join later) and SSRCs it does not hear.
type MuteList struct {
	Participants []string `json:"participants"`
	SSRCs        []uint32 `json:"ssrcs"`
}

// StreamStats are one participant's media counters.
type StreamStats struct {
	PacketsIn    uint64  `json:"packets_in"`
	BytesIn      uint64  `json:"bytes_in"`
	RTCPIn       uint64  `json:"rtcp_in"`
	PacketsOut   uint64  `json:"packets_out"`
	BytesOut     uint64  `json:"bytes_out"`
	Lost         int64   `json:"lost"`
	LossRatio    float64 `json:"loss_ratio"`
	JitterMS     float64 `json:"jitter_ms"`
	Rebinds      uint64  `json:"rebinds"`
	AuthFailures uint64  `json:"auth_failures"`
	Replays      uint64  `json:"replays"`
	// Withheld counts packets of others not sent to this participant
	// by policy (not selected, muted, or not in its channels).
	Withheld uint64 `json:"withheld"`
	// AudioLevel is the last RFC 6464 level received (0 loudest .. 127
	// silent, -dBov), -1 if the client sends none.
	AudioLevel int `json:"audio_level"`
	// LastPacketAgoMS is how long since its last authenticated packet;
	// -1 if none yet.
	LastPacketAgoMS int64 `json:"last_packet_ago_ms"`
}

// State is the pod's admission state.
type State string

// Admission states: accepting, full (a limit or the CPU mark; back below
// the marks), stopped (operator accept-stop, a hold while an empty pod is
// given back to Agones, or shutting down), draining, drained.
const (
	StateAccepting State = "accepting"
	StateFull      State = "full"
	StateStopped   State = "stopped" // operator accept-stop, a hold, shutting down
	StateDraining  State = "draining"
	StateDrained   State = "drained"
)

// Limits are the pod's capacity limits.
type Limits struct {
	MaxSessions            int `json:"max_sessions"`
	MaxParticipants        int `json:"max_participants"`
	MaxSessionParticipants int `json:"max_session_participants"`
}

// Status is a snapshot of the whole pod for /v1/status and metrics.
type Status struct {
	State     State  `json:"state"`
	Accepting bool   `json:"accepting"`
	Reason    string `json:"reason,omitempty"`
	// CPUPercent is the smoothed CPU use in percent of the container's
	// CPU allowance, as admission sees it.
	CPUPercent   float64 `json:"cpu_percent"`
	Sessions     int     `json:"sessions"`
	Participants int     `json:"participants"`
	Limits       Limits  `json:"limits"`
	Steering     bool    `json:"steering"`
	// ExpiredSessions counts sessions created empty (PUT) that nobody
	// joined within the join timeout.
	ExpiredSessions uint64 `json:"expired_sessions"`
	// Drain is the current or last drain, nil if none.
	Drain *DrainStatus `json:"drain,omitempty"`
	// ReconnectNotices counts notices sent for reconnect requests (outside drains).
	ReconnectNotices uint64        `json:"reconnect_notices"`
	Shards           []ShardStatus `json:"shards"`
	Totals           Counters      `json:"totals"`
}

// ShardStatus is one shard's load and counters.
type ShardStatus struct {
	ID           int      `json:"id"`
	Sessions     int      `json:"sessions"`
	Participants int      `json:"participants"`
	Counters     Counters `json:"counters"`
}

// Counters are monotonically increasing packet counters (per shard or
// summed); drops are counted by reason and never logged per packet.
type Counters struct {
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`

	Forwarded uint64 `json:"forwarded"` // RTP packets sent to listeners
	RTCPIn    uint64 `json:"rtcp_in"`   // authenticated RTCP from clients
	RTCPOut   uint64 `json:"rtcp_out"`  // receiver reports and notices sent
	Rebinds   uint64 `json:"rebinds"`   // latched address changes (NAT rebinding)

	DropUnknownSSRC uint64 `json:"drop_unknown_ssrc"`
	DropAuth        uint64 `json:"drop_auth"`
	DropReplay      uint64 `json:"drop_replay"`
	DropMalformed   uint64 `json:"drop_malformed"`
	DropTooShort    uint64 `json:"drop_too_short"`
	DropTooLong     uint64 `json:"drop_too_long"`
	DropNotRTP      uint64 `json:"drop_not_rtp"`    // neither RTP nor RTCP (STUN, DTLS, garbage)
	DropRateLimit   uint64 `json:"drop_rate_limit"` // from an unlatched address over its check budget
	// Withheld counts copies not sent in forward mode by policy: the
	// speaker is not selected, is muted, or the listener does not hear it
	// (own mutes, channels). Copies for a listener without an address are
	// NoAddress.
	Withheld uint64 `json:"withheld"`
	// NoAddress counts copies not sent because the listener has no
	// latched address yet (it has sent no authenticated packet).
	NoAddress uint64 `json:"no_address"`
	// Mixed counts mix-mode RTP packets sent (one per listener per 20 ms
	// tick with something to hear).
	Mixed         uint64 `json:"mixed"`
	DropTruncated uint64 `json:"drop_truncated"` // larger than --max-datagram (netio)
	KernelDrops   uint64 `json:"kernel_drops"`   // socket buffer overflow (netio)
	SendErrors    uint64 `json:"send_errors"`    // netio send failures, all reasons
	// EncryptErrors counts outbound packets whose SRTP encryption failed
	// (they are not sent, and not counted in DropMalformed).
	EncryptErrors uint64 `json:"encrypt_errors"`

	Removed map[string]uint64 `json:"removed,omitempty"` // participants removed, by reason (Reason*)
}

// Removal reasons: the keys of Counters.Removed.
const (
	ReasonBye         = "bye"          // the client sent RTCP BYE
	ReasonJoinTimeout = "join_timeout" // no authenticated packet after admission
	ReasonIdle        = "idle_timeout" // no authenticated packet for the idle timeout
	ReasonRemoved     = "removed"      // DELETE participant
	ReasonSessionEnd  = "session_end"  // DELETE session, or a session ended by its empty_timeout
	// ReasonAdmissionCancelled: the admission's caller went away (its
	// request ended) after the participant was inserted: nobody has its
	// keys, so it is removed at once instead of waiting for its join timeout.
	ReasonAdmissionCancelled = "admission_cancelled"
	// ReasonDrainDeadline: still there when the drain's deadline passed.
	ReasonDrainDeadline = "drain_deadline"
)

// MuteRequest is the body of PUT .../participants/{pid}/mute; Muted is
// required.
type MuteRequest struct {
	Muted *bool `json:"muted"`
}

// MixRequest is the body of PUT .../participants/{pid}/mix; Mix is
// required.
type MixRequest struct {
	Mix *bool `json:"mix"`
}

// ChannelRequest is the body of PUT .../participants/{pid}/channel;
// Channel is required ("global" or "" for the global channel, else a
// ValidID).
type ChannelRequest struct {
	Channel *string `json:"channel"`
}

// AcceptStopRequest is the (optional) body of POST /v1/accept-stop.
type AcceptStopRequest struct {
	// Reason is shown in /v1/status and /readyz; empty: the session
	// manager's default.
	Reason string `json:"reason,omitempty"`
	// NewSessionsOnly stops new sessions only: members still join the
	// sessions in progress (the fleet router retiring a pod keeps each
	// chat group together until it drains). POST /v1/accept-resume undoes
	// either.
	NewSessionsOnly bool `json:"new_sessions_only,omitempty"`
}

// Add returns the sum of c and o, field by field (the pod's totals are
// the sum of its shards'). Removed is merged into a new map when o has
// any; c's map is never modified.
func (c Counters) Add(o Counters) Counters {
	c.RxPackets += o.RxPackets
	c.RxBytes += o.RxBytes
	c.TxPackets += o.TxPackets
	c.TxBytes += o.TxBytes
	c.Forwarded += o.Forwarded
	c.RTCPIn += o.RTCPIn
	c.RTCPOut += o.RTCPOut
	c.Rebinds += o.Rebinds
	c.DropUnknownSSRC += o.DropUnknownSSRC
	c.DropAuth += o.DropAuth
	c.DropReplay += o.DropReplay
	c.DropMalformed += o.DropMalformed
	c.DropTooShort += o.DropTooShort
	c.DropTooLong += o.DropTooLong
	c.DropNotRTP += o.DropNotRTP
	c.DropRateLimit += o.DropRateLimit
	c.Withheld += o.Withheld
	c.NoAddress += o.NoAddress
	c.Mixed += o.Mixed
	c.DropTruncated += o.DropTruncated
	c.KernelDrops += o.KernelDrops
	c.SendErrors += o.SendErrors
	c.EncryptErrors += o.EncryptErrors
	if len(o.Removed) > 0 {
		sum := make(map[string]uint64, len(c.Removed)+len(o.Removed))
		for k, v := range c.Removed {
			sum[k] += v
		}
		for k, v := range o.Removed {
			sum[k] += v
		}
		c.Removed = sum
	}
	return c
}
