//go:build !opus

package mixer

// OpusAvailable reports whether this binary was built with libopus (the
// opus build tag). Without it every codec constructor returns ErrNoOpus.
const OpusAvailable = false

// OpusVersion is libopus's version string; "" without libopus.
func OpusVersion() string { return "" }

// Encoder is a libopus encoder; this build has none (ErrNoOpus).
type Encoder struct{}

// NewEncoder returns ErrNoOpus: this binary was built without libopus.
func NewEncoder(EncoderOptions) (*Encoder, error) { return nil, ErrNoOpus }

// Encode returns ErrNoOpus.
func (*Encoder) Encode([]int16, []byte) (int, error) { return 0, ErrNoOpus }

// SetBitrate returns ErrNoOpus.
func (*Encoder) SetBitrate(int) error { return ErrNoOpus }

// SetDTX returns ErrNoOpus.
func (*Encoder) SetDTX(bool) error { return ErrNoOpus }

// Close does nothing.
func (*Encoder) Close() error { return nil }

// Decoder is a libopus decoder; this build has none (ErrNoOpus).
type Decoder struct{}

// NewDecoder returns ErrNoOpus: this binary was built without libopus.
func NewDecoder() (*Decoder, error) { return nil, ErrNoOpus }

// Decode returns ErrNoOpus.
func (*Decoder) Decode([]byte, []int16) (int, error) { return 0, ErrNoOpus }

// DecodeFEC returns ErrNoOpus.
func (*Decoder) DecodeFEC([]byte, []int16) (int, error) { return 0, ErrNoOpus }

// Close does nothing.
func (*Decoder) Close() error { return nil }
