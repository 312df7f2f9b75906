//go:build opus

package mixer

/*
#cgo pkg-config: opus
#include <opus.h>

// opus_encoder_ctl is variadic, which cgo cannot call: one wrapper per request.
static int vox_enc_set_bitrate(OpusEncoder *e, opus_int32 v) { return opus_encoder_ctl(e, OPUS_SET_BITRATE(v)); }
static int vox_enc_set_fec(OpusEncoder *e, opus_int32 v) { return opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(v)); }
static int vox_enc_set_loss(OpusEncoder *e, opus_int32 v) { return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(v)); }
static int vox_enc_set_dtx(OpusEncoder *e, opus_int32 v) { return opus_encoder_ctl(e, OPUS_SET_DTX(v)); }
static int vox_enc_set_complexity(OpusEncoder *e, opus_int32 v) { return opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(v)); }
static int vox_enc_set_signal_voice(OpusEncoder *e) { return opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)); }
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// OpusAvailable reports whether this binary was built with libopus (the
// opus build tag). Without it every codec constructor returns ErrNoOpus.
const OpusAvailable = true

// OpusVersion is libopus's version string, e.g. "libopus 1.3.1".
func OpusVersion() string { return C.GoString(C.opus_get_version_string()) }

// opusErr maps a negative libopus return value to its error.
func opusErr(code int) error {
	switch code {
	case -1:
		return ErrOpusBadArg
	case -2:
		return ErrOpusBufferTooSmall
	case -3:
		return ErrOpusInternal
	case -4:
		return ErrOpusInvalidPacket
	case -5:
		return ErrOpusUnimplemented
	case -6:
		return ErrOpusInvalidState
	case -7:
		return ErrOpusAllocFail
	}
	return ErrOpusUnknown
}

func (o *EncoderOptions) defaults() {
	if o.Bitrate == 0 {
		o.Bitrate = 32000
	}
	if o.PacketLossPercent == 0 {
		o.PacketLossPercent = 10
	}
	if o.Complexity == 0 {
		o.Complexity = 10
	}
}

// Encoder is a libopus encoder: 48 kHz mono, OPUS_APPLICATION_VOIP,
// in-band FEC on. Its state lives in C memory; Close frees it (a cleanup
// frees it too if an Encoder is dropped unclosed). One goroutine at a time.
type Encoder struct {
	st      *C.OpusEncoder
	cleanup runtime.Cleanup
}

// NewEncoder creates an encoder.
func NewEncoder(o EncoderOptions) (*Encoder, error) {
	o.defaults()
	var cerr C.int
	st := C.opus_encoder_create(OpusSampleRate, 1, C.OPUS_APPLICATION_VOIP, &cerr)
	if cerr != C.OPUS_OK || st == nil {
		return nil, opusErr(int(cerr))
	}
	e := &Encoder{st: st}
	e.cleanup = runtime.AddCleanup(e, func(st *C.OpusEncoder) { C.opus_encoder_destroy(st) }, st)
	for _, rc := range []C.int{
		C.vox_enc_set_bitrate(st, C.opus_int32(o.Bitrate)),
		C.vox_enc_set_fec(st, 1),
		C.vox_enc_set_loss(st, C.opus_int32(o.PacketLossPercent)),
		C.vox_enc_set_dtx(st, boolInt(o.DTX)),
		C.vox_enc_set_complexity(st, C.opus_int32(o.Complexity)),
		C.vox_enc_set_signal_voice(st),
	} {
		if rc != C.OPUS_OK {
			e.Close()
			return nil, opusErr(int(rc))
		}
	}
	return e, nil
}

func boolInt(b bool) C.opus_int32 {
	if b {
		return 1
	}
	return 0
}

// Encode encodes one frame of pcm (2.5, 5, 10, 20, 40 or 60 ms at 48 kHz;
// FrameSamples for the mixer) into out and returns the packet's length. A
// length of at most 2 is a DTX frame (IsDTX). out should hold
// MaxOpusPacket bytes. It does not allocate.
func (e *Encoder) Encode(pcm []int16, out []byte) (int, error) {
	if e == nil || e.st == nil {
		return 0, ErrOpusClosed
	}
	if len(pcm) == 0 || len(out) == 0 {
		return 0, ErrOpusBadArg
	}
	n := C.opus_encode(e.st, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)),
		(*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	if n < 0 {
		return 0, opusErr(int(n))
	}
	return int(n), nil
}

// SetBitrate changes the target bitrate (bits per second).
func (e *Encoder) SetBitrate(bps int) error {
	if e == nil || e.st == nil {
		return ErrOpusClosed
	}
	if rc := C.vox_enc_set_bitrate(e.st, C.opus_int32(bps)); rc != C.OPUS_OK {
		return opusErr(int(rc))
	}
	return nil
}

// SetDTX turns discontinuous transmission on or off.
func (e *Encoder) SetDTX(on bool) error {
	if e == nil || e.st == nil {
		return ErrOpusClosed
	}
	if rc := C.vox_enc_set_dtx(e.st, boolInt(on)); rc != C.OPUS_OK {
		return opusErr(int(rc))
	}
	return nil
}

// Close frees the encoder. Later calls return ErrOpusClosed.
func (e *Encoder) Close() error {
	if e == nil || e.st == nil {
		return nil
	}
	e.cleanup.Stop()
	C.opus_encoder_destroy(e.st)
	e.st = nil
	return nil
}

// Decoder is a libopus decoder: 48 kHz mono. Close frees its C state.
// One goroutine at a time.
type Decoder struct {
	st      *C.OpusDecoder
	cleanup runtime.Cleanup
}

// NewDecoder creates a decoder.
func NewDecoder() (*Decoder, error) {
	var cerr C.int
	st := C.opus_decoder_create(OpusSampleRate, 1, &cerr)
	if cerr != C.OPUS_OK || st == nil {
		return nil, opusErr(int(cerr))
	}
	d := &Decoder{st: st}
	d.cleanup = runtime.AddCleanup(d, func(st *C.OpusDecoder) { C.opus_decoder_destroy(st) }, st)
	return d, nil
}

// Decode decodes packet into pcm and returns the number of samples. With
// a nil (or empty) packet it runs packet-loss concealment for len(pcm)
// samples (a multiple of 2.5 ms). It does not allocate.
func (d *Decoder) Decode(packet []byte, pcm []int16) (int, error) {
	return d.decode(packet, pcm, 0)
}

// DecodeFEC conceals a lost frame from the in-band FEC data of next, the
// packet that followed it, and returns len(pcm) samples. When next carries
// no FEC data libopus falls back to concealment; a nil next is plain PLC.
// pcm must be exactly the lost frame's duration (FrameSamples).
func (d *Decoder) DecodeFEC(next []byte, pcm []int16) (int, error) {
	return d.decode(next, pcm, 1)
}

func (d *Decoder) decode(packet []byte, pcm []int16, fec C.int) (int, error) {
	if d == nil || d.st == nil {
		return 0, ErrOpusClosed
	}
	if len(pcm) == 0 {
		return 0, ErrOpusBadArg
	}
	var data *C.uchar
	if len(packet) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&packet[0]))
	}
	n := C.opus_decode(d.st, data, C.opus_int32(len(packet)),
		(*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), fec)
	if n < 0 {
		return 0, opusErr(int(n))
	}
	return int(n), nil
}

// Close frees the decoder. Later calls return ErrOpusClosed.
func (d *Decoder) Close() error {
	if d == nil || d.st == nil {
		return nil
	}
	d.cleanup.Stop()
	C.opus_decoder_destroy(d.st)
	d.st = nil
	return nil
}
