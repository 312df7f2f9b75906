package media

import "encoding/binary"

// Kind is what Classify decided a datagram is.
type Kind uint8

// Kinds of datagram arriving on the media port. vox only serves RTP and
// RTCP; STUN and DTLS are recognised so they can be counted under their
// own name, and the server drops them like KindUnknown.
const (
	KindUnknown Kind = iota
	KindRTP
	KindRTCP
	KindSTUN
	KindDTLS
)

// String returns the lower-case name of k, for metric labels.
func (k Kind) String() string {
	switch k {
	case KindRTP:
		return "rtp"
	case KindRTCP:
		return "rtcp"
	case KindSTUN:
		return "stun"
	case KindDTLS:
		return "dtls"
	default:
		return "unknown"
	}
}

// Minimum lengths of what Classify accepts.
const (
	// RTPHeaderSize is the size of the fixed RTP header (RFC 3550 §5.1).
	RTPHeaderSize = 12
	// RTCPMinSize is the smallest RTCP packet vox accepts: the 4-byte
	// common header plus the sender SSRC every RTCP packet vox handles
	// carries (an RR with no report block).
	RTCPMinSize = 8
	// STUNHeaderSize is the size of the STUN message header (RFC 8489 §5).
	STUNHeaderSize = 20
	// DTLSRecordHeaderSize is the size of a DTLS record header (RFC 6347
	// §4.1).
	DTLSRecordHeaderSize = 13

	stunMagicCookie = 0x2112A442
)

// Classify decides from the first two bytes (and the length) what kind of
// datagram b is. It never allocates and looks at no more than the first 8
// bytes.
//
// The first byte, per RFC 7983 §7 (updating RFC 5764 §5.1.2):
//
//	           +----------------+
//	           |        [0..3] -+--> STUN (RFC 8489; magic cookie checked)
//	           |                |
//	           |      [16..19] -+--> ZRTP                 (unknown)
//	           |                |
//	packet --> |      [20..63] -+--> DTLS (RFC 6347)
//	           |                |
//	           |      [64..79] -+--> TURN channel         (unknown)
//	           |                |
//	           |    [128..191] -+--> RTP/RTCP (version 2)
//	           +----------------+      |
//	                                   v
//	           second byte (M bit + PT, RFC 5761 §4):
//	             [192..223] -> RTCP (SR 200, RR 201, SDES 202, BYE 203,
//	                                 APP 204, RTPFB 205, PSFB 206, XR 207 ...)
//	             otherwise  -> RTP
//
// An RTP packet must be at least RTPHeaderSize bytes and an RTCP packet at
// least RTCPMinSize; shorter ones are KindUnknown. Classify checks no more
// than that: the parsers validate the rest.
func Classify(b []byte) Kind {
	if len(b) == 0 {
		return KindUnknown
	}
	switch first := b[0]; {
	case first <= 3:
		if len(b) >= STUNHeaderSize && binary.BigEndian.Uint32(b[4:8]) == stunMagicCookie {
			return KindSTUN
		}
		return KindUnknown
	case first >= 20 && first <= 63:
		if len(b) >= DTLSRecordHeaderSize {
			return KindDTLS
		}
		return KindUnknown
	case first >= 128 && first <= 191:
		if len(b) < 2 {
			return KindUnknown
		}
		if b[1] >= 192 && b[1] <= 223 {
			if len(b) >= RTCPMinSize {
				return KindRTCP
			}
			return KindUnknown
		}
		if len(b) >= RTPHeaderSize {
			return KindRTP
		}
		return KindUnknown
	default:
		return KindUnknown
	}
}

// SSRCOf returns the SSRC a dispatcher keys on without parsing the packet:
// bytes 8..11 of an RTP packet, bytes 4..7 (the sender SSRC) of an RTCP
// packet. ok is false for other kinds or packets too short to hold one.
func SSRCOf(b []byte, k Kind) (ssrc uint32, ok bool) {
	switch k {
	case KindRTP:
		if len(b) >= RTPHeaderSize {
			return binary.BigEndian.Uint32(b[8:12]), true
		}
	case KindRTCP:
		if len(b) >= RTCPMinSize {
			return binary.BigEndian.Uint32(b[4:8]), true
		}
	}
	return 0, false
}
