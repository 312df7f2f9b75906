package mixer

import "errors"

// Opus parameters of the mix mode: 48 kHz mono, 20 ms frames.
const (
	// OpusSampleRate is the sample rate of every encoder and decoder.
	OpusSampleRate = 48000
	// FrameSamples is one 20 ms frame at 48 kHz mono: what the mixer
	// pulls per input and encodes per distinct mix on every tick.
	FrameSamples = 960
	// MaxOpusPacket is the largest Opus packet for one frame (RFC 6716
	// §3.4: 1275 bytes of frame data plus the TOC byte).
	MaxOpusPacket = 1276
)

// ErrNoOpus is what every codec constructor (and so NewMixer) returns in a
// binary built without the opus build tag.
var ErrNoOpus = errors.New("vox was built without libopus: rebuild with -tags opus")

// OpusError is a libopus error code (OPUS_BAD_ARG, ...) with its meaning.
// The errors returned by the binding are the preallocated values below, so
// they compare with == or errors.Is and cost no allocation.
type OpusError struct {
	Code int
	Msg  string
}

func (e *OpusError) Error() string { return "opus: " + e.Msg }

// The libopus error codes (opus_defines.h).
var (
	ErrOpusBadArg         = &OpusError{-1, "invalid argument"}
	ErrOpusBufferTooSmall = &OpusError{-2, "buffer too small"}
	ErrOpusInternal       = &OpusError{-3, "internal error"}
	ErrOpusInvalidPacket  = &OpusError{-4, "invalid or corrupted packet"}
	ErrOpusUnimplemented  = &OpusError{-5, "request not implemented"}
	ErrOpusInvalidState   = &OpusError{-6, "invalid state"}
	ErrOpusAllocFail      = &OpusError{-7, "allocation failed"}
	// ErrOpusUnknown is a libopus error code this binding does not know.
	ErrOpusUnknown = &OpusError{-100, "unknown error"}
	// ErrOpusClosed is returned by the methods of a closed Encoder or
	// Decoder.
	ErrOpusClosed = &OpusError{-101, "codec closed"}
)

// EncoderOptions configure an Encoder: always 48 kHz mono, the VOIP
// application, in-band FEC on.
type EncoderOptions struct {
	// Bitrate in bits per second; 0 means 32000.
	Bitrate int
	// DTX turns on discontinuous transmission: during silence the
	// encoder emits packets of at most 2 bytes, which need not be sent.
	DTX bool
	// PacketLossPercent is the loss the in-band FEC is tuned for
	// (OPUS_SET_PACKET_LOSS_PERC); 0 means 10. libopus only adds FEC
	// data when it is above 0.
	PacketLossPercent int
	// Complexity is 1..10 (OPUS_SET_COMPLEXITY); 0 means 10, libopus's
	// default.
	Complexity int
}

// IsDTX reports whether an Opus packet carries no audio: a DTX frame
// (at most 2 bytes, which libopus says need not be transmitted).
func IsDTX(packet []byte) bool { return len(packet) <= 2 }
