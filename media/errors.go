package media

import "errors"

// Sentinel errors. Every error returned on the per-packet path is one of
// these values (never wrapped, never formatted), so returning it costs no
// allocation and callers can match it with == or errors.Is and count drops
// per reason.
var (
	// ErrTooShort is returned when a packet is shorter than its fixed
	// header or than the lengths its header announces.
	ErrTooShort = errors.New("media: packet too short")
	// ErrBadVersion is returned when the RTP/RTCP version field is not 2.
	ErrBadVersion = errors.New("media: bad RTP/RTCP version")
	// ErrMalformed is returned when a packet's internal lengths are
	// inconsistent (CSRC list, header extension, RTCP length words,
	// trailing bytes of a compound packet, element lengths).
	ErrMalformed = errors.New("media: malformed packet")
	// ErrBadPadding is returned when the padding bit is set but the
	// padding count is zero or larger than the space available for it.
	ErrBadPadding = errors.New("media: bad padding")
	// ErrWrongPacketType is returned by the RTCP sub-packet parsers
	// (ParseSenderReport, ParseBye, ParseApp, ...) when given a packet of
	// another type.
	ErrWrongPacketType = errors.New("media: wrong RTCP packet type")
	// ErrNotReconnectNotice is returned by ParseReconnectNotice when the
	// compound packet holds no vox reconnect notice.
	ErrNotReconnectNotice = errors.New("media: no reconnect notice in packet")
	// ErrInvalidArgument is returned by builders given a value that cannot
	// be encoded (an extension ID outside 1..14, a level above 127, too
	// many SSRCs for one BYE, ...).
	ErrInvalidArgument = errors.New("media: invalid argument")

	// ErrAuthFailed is returned by Inbound when the SRTP/SRTCP
	// authentication tag does not verify (forged, corrupted, or sent with
	// other keys). Nothing in the Inbound changed.
	ErrAuthFailed = errors.New("media: SRTP authentication failed")
	// ErrReplayed is returned by Inbound when the packet's index was
	// already received or is older than the replay window. Nothing in the
	// Inbound changed.
	ErrReplayed = errors.New("media: SRTP packet replayed or too old")
	// ErrUnknownProfile is returned for an SRTP protection profile name or
	// value vox does not support.
	ErrUnknownProfile = errors.New("media: unknown SRTP protection profile")
	// ErrBadKeys is returned when a master key or salt does not have the
	// length the profile requires.
	ErrBadKeys = errors.New("media: bad SRTP key or salt length")
)
