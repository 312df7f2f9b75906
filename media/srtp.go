package media

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/replaydetector"
)

// What pion/srtp v3.1.0 does, read from its source (context.go, srtp.go,
// srtcp.go, srtp_cipher_*.go, errors.go) and pinned by the tests in
// srtp_test.go:
//
//   - Order of checks on decrypt: length → replay window (before any
//     crypto, to shed duplicates cheaply) → authentication → decryption →
//     commit. The replay index is marked as seen, the ROC/highest index
//     advanced and a new SSRC's state stored in the context's map only
//     after the tag verified. A packet that fails authentication therefore
//     changes no state: a forged packet with a far-ahead sequence number
//     neither moves the window nor the ROC estimate
//     (TestInboundForgedPacketLeavesNoState).
//   - Per-SSRC state for an SSRC the context has not authenticated yet is
//     built for every packet (state struct + replay detector) but is not
//     stored unless the packet authenticates, so a flood of forged SSRCs
//     does not grow memory (TestInboundForgedSSRCFloodNoGrowth) but does
//     cost those allocations per packet. vox dispatches by SSRC before
//     decrypting, so in vox only the participant's own SSRC reaches its
//     Inbound; the allocations are then confined to forged packets sent
//     before the participant's first genuine packet.
//   - Auth failure: AES-CM profiles return the sentinel
//     srtp.ErrFailedToVerifyAuthTag (no allocation). AEAD_AES_128_GCM
//     returns fmt.Errorf("%w: %w", ErrFailedToVerifyAuthTag, gcmErr),
//     which allocates on every forged packet: 4 allocations, 160 B
//     (BenchmarkInboundForged). For a not-yet-authenticated SSRC add the
//     discarded per-SSRC state: 3 allocations, 144 B for AES-CM; 7, 304 B
//     for GCM (BenchmarkInboundForgedUnknownSSRC).
//     With in-place decryption, crypto/cipher's GCM Open zeroes the
//     ciphertext region it was to decrypt into when the tag mismatches,
//     so after a GCM failure the payload bytes of b are clobbered (AES-CM
//     leaves b untouched: it verifies before decrypting). The packet is
//     dropped either way.
//   - AEAD_AES_128_GCM SRTCP: pion builds the 12-byte AAD in an array
//     whose slice is passed through the cipher.AEAD interface, so it
//     escapes: EncryptRTCP and DecryptRTCP each allocate once (12 B) per
//     packet with that profile. SRTP (the per-packet media path) does not;
//     RTCP is a few packets per second per participant.
//   - Replay: pion returns *duplicatedError wrapping an unexported
//     errDuplicated; neither is exported, so errors.Is cannot match it and
//     building it allocates. Inbound therefore plugs in its own replay
//     window (replayWindow, via SRTPReplayDetectorFactory and
//     SRTCPReplayDetectorFactory), checks it itself before calling pion
//     (no allocation, no crypto spent on replays), and also records any
//     rejection pion asks it for, so ErrReplayed is reported exactly.
//   - pion parses the RTP header with rtp.Header.Unmarshal, whose error
//     paths use fmt.Errorf; Inbound and Outbound validate headers with
//     ParseRTPHeader first so those paths are never reached, and pass a
//     reused rtp.Header so its CSRC/extension slices do not allocate.

// ReplayWindow is the size, in packets, of the SRTP and of the SRTCP replay
// windows: an index more than ReplayWindow-1 below the highest one
// authenticated is rejected as too old. 128, like libsrtp's default, is
// double the minimum RFC 3711 §3.3.2 asks for (64) and covers 2.5 s of
// 20 ms Opus frames.
const ReplayWindow = 128

const (
	maxSRTPIndex  = 1<<48 - 1
	maxSRTCPIndex = 1<<31 - 1
)

// Inbound decrypts and authenticates what one participant sends (its
// client-to-server direction), SRTP and SRTCP, in place, with replay
// protection. A failed packet leaves the Inbound exactly as it was.
//
// An Inbound is not safe for concurrent use: it belongs to the goroutine
// that owns the participant.
type Inbound struct {
	profile Profile
	ctx     *srtp.Context

	// Scratch headers handed to pion so that its header parsing reuses
	// their slices. Owned by the calling goroutine.
	rtpHdr  rtp.Header
	rtcpHdr rtcp.Header

	// Replay windows of the SSRCs that have authenticated at least one
	// packet, mirroring pion's per-SSRC state. Entries are added only from
	// replayWindow.commit, i.e. after authentication.
	rtpWindows  map[uint32]*replayWindow
	rtcpWindows map[uint32]*replayWindow
	// Last window looked up, to skip the map for a stream's next packet.
	lastRTP  *replayWindow
	lastRTCP *replayWindow

	// State of the packet being decrypted, read by the windows' callbacks.
	cur      uint32 // its SSRC
	rejected bool   // a window rejected its index
}

// NewInbound returns an Inbound for the given profile and client-to-server
// keys.
func NewInbound(p Profile, k Keys) (*Inbound, error) {
	if err := k.Validate(p); err != nil {
		return nil, err
	}
	in := &Inbound{
		profile:     p,
		rtpWindows:  make(map[uint32]*replayWindow),
		rtcpWindows: make(map[uint32]*replayWindow),
	}
	ctx, err := srtp.CreateContext(k.Key, k.Salt, p.pion(),
		srtp.SRTPReplayDetectorFactory(in.newRTPWindow),
		srtp.SRTCPReplayDetectorFactory(in.newRTCPWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("media: create SRTP context: %w", err)
	}
	in.ctx = ctx
	return in, nil
}

// Profile returns the Inbound's protection profile.
func (in *Inbound) Profile() Profile { return in.profile }

// DecryptRTP authenticates and decrypts the SRTP packet b in place. On
// success it returns the plaintext RTP packet (a prefix of b, without the
// tag) and its parsed header, padding validated. Errors: ErrTooShort,
// ErrBadVersion, ErrMalformed (header), ErrReplayed, ErrAuthFailed,
// ErrBadPadding (authenticated, but the padding count is bad; the packet
// counts as received for replay purposes). On any error nothing in the
// Inbound changed (except after ErrBadPadding, as said), and with
// AEAD_AES_128_GCM the payload bytes of b may have been zeroed. On the
// success path and on every sentinel path it does not allocate, except the
// pion rejection costs listed at the top of this file.
func (in *Inbound) DecryptRTP(b []byte) ([]byte, RTPHeader, error) {
	h, err := ParseRTPHeader(b)
	if err != nil {
		return nil, h, err
	}
	if len(b) < h.HeaderLength+in.profile.RTPOverhead() {
		return nil, h, ErrTooShort
	}
	if h.Extension && (h.ExtensionProfile == 0xC0DE || h.ExtensionProfile == 0xC2DE) {
		// RFC 9335 cryptex: not negotiated by vox; pion would reject it.
		return nil, h, ErrMalformed
	}
	w := in.lastRTP
	if w == nil || w.ssrc != h.SSRC {
		w = in.rtpWindows[h.SSRC]
	}
	if w != nil {
		in.lastRTP = w
		if !w.ok(w.guessIndex(h.SequenceNumber)) {
			return nil, h, ErrReplayed
		}
	}
	in.cur, in.rejected = h.SSRC, false
	out, err := in.ctx.DecryptRTP(b, b, &in.rtpHdr)
	if err != nil {
		return nil, h, in.mapError(err)
	}
	h, err = ParseRTP(out)
	if err != nil {
		return nil, h, err
	}
	return out, h, nil
}

// DecryptRTCP authenticates and decrypts the SRTCP packet b in place and
// returns the plaintext compound RTCP packet (a prefix of b, without SRTCP
// index and tag; walk it with NewRTCPIter, which validates it). Errors:
// ErrTooShort, ErrBadVersion, ErrReplayed, ErrAuthFailed. On error nothing
// in the Inbound changed. It does not allocate except as listed at the top
// of this file.
func (in *Inbound) DecryptRTCP(b []byte) ([]byte, error) {
	if len(b) < RTCPMinSize+in.profile.RTCPOverhead() {
		return nil, ErrTooShort
	}
	if b[0]>>6 != 2 {
		return nil, ErrBadVersion
	}
	ssrc := binary.BigEndian.Uint32(b[4:8])
	var indexAt int
	if in.profile == ProfileAEADAES128GCM {
		indexAt = len(b) - 4 // ... | GCM tag | E+index
	} else {
		indexAt = len(b) - in.profile.RTCPOverhead() // ... | E+index | HMAC tag
	}
	index := uint64(binary.BigEndian.Uint32(b[indexAt:indexAt+4]) &^ (1 << 31))
	w := in.lastRTCP
	if w == nil || w.ssrc != ssrc {
		w = in.rtcpWindows[ssrc]
	}
	if w != nil {
		in.lastRTCP = w
		if !w.ok(index) {
			return nil, ErrReplayed
		}
	}
	in.cur, in.rejected = ssrc, false
	out, err := in.ctx.DecryptRTCP(b, b, &in.rtcpHdr)
	if err != nil {
		return nil, in.mapError(err)
	}
	return out, nil
}

// mapError turns pion's decryption errors into sentinels. Anything else
// (not expected once the packet passed our own validation) is wrapped.
func (in *Inbound) mapError(err error) error {
	switch {
	case in.rejected:
		return ErrReplayed
	case errors.Is(err, srtp.ErrFailedToVerifyAuthTag):
		return ErrAuthFailed
	default:
		return fmt.Errorf("media: srtp: %w", err)
	}
}

func (in *Inbound) newRTPWindow() replaydetector.ReplayDetector {
	return newReplayWindow(in, false)
}

func (in *Inbound) newRTCPWindow() replaydetector.ReplayDetector {
	return newReplayWindow(in, true)
}

// replayWindow is a 128-packet sliding replay window (RFC 3711 §3.3.2,
// Appendix of RFC 6479 style bitmap) over SRTP indexes (ROC<<16|SEQ) or
// SRTCP indexes. pion calls Check before authenticating and the returned
// accept func only after the tag verified; Inbound also calls ok itself
// before handing pion the packet.
type replayWindow struct {
	in     *Inbound
	rtcp   bool
	ssrc   uint32
	stored bool // registered in in.rtpWindows/in.rtcpWindows
	any    bool // an index has been accepted
	latest uint64
	mask   [2]uint64 // bit i set: index latest-i was accepted
	max    uint64

	pending uint64
	accept  func() bool // w.commit, bound once so Check does not allocate
}

var (
	_ replaydetector.ReplayDetector = (*replayWindow)(nil)
	_ replaydetector.CheckAccepter  = (*replayWindow)(nil)
)

func newReplayWindow(in *Inbound, isRTCP bool) *replayWindow {
	w := &replayWindow{in: in, rtcp: isRTCP, max: maxSRTPIndex}
	if isRTCP {
		w.max = maxSRTCPIndex
	}
	w.accept = w.commit
	return w
}

func rejectedAccept() bool { return false }

// Check implements pion's ReplayDetector.
func (w *replayWindow) Check(index uint64) (func() bool, bool) {
	if !w.ok(index) {
		w.in.rejected = true
		return rejectedAccept, false
	}
	w.pending = index
	return w.accept, true
}

// CheckSeq implements pion's CheckAccepter, which pion prefers to Check.
func (w *replayWindow) CheckSeq(index uint64) replaydetector.Token {
	if !w.ok(index) {
		w.in.rejected = true
		return replaydetector.Rejected(index)
	}
	return replaydetector.Passed(index)
}

// Accept implements pion's CheckAccepter: pion calls it after the packet
// authenticated.
func (w *replayWindow) Accept(tok replaydetector.Token) bool {
	if !tok.Passed() {
		return false
	}
	w.pending = tok.Seq()
	return w.commit()
}

// ok reports whether index is acceptable: not above the maximum, not
// received yet, and not older than the window.
func (w *replayWindow) ok(index uint64) bool {
	if index > w.max {
		return false
	}
	if !w.any || index > w.latest {
		return true
	}
	d := w.latest - index
	if d >= ReplayWindow {
		return false
	}
	return w.mask[d/64]&(1<<(d%64)) == 0
}

// commit marks the pending index as received; it runs (through Accept or
// the func Check returned) only after the packet authenticated. It reports whether the index is the new highest.
func (w *replayWindow) commit() bool {
	index := w.pending
	if !w.stored {
		w.stored = true
		w.ssrc = w.in.cur
		if w.rtcp {
			w.in.rtcpWindows[w.ssrc] = w
		} else {
			w.in.rtpWindows[w.ssrc] = w
		}
	}
	if !w.any || index > w.latest {
		n := uint64(ReplayWindow)
		if w.any {
			n = index - w.latest
		}
		w.shift(n)
		w.mask[0] |= 1
		w.latest = index
		w.any = true
		return true
	}
	d := w.latest - index
	w.mask[d/64] |= 1 << (d % 64)
	return false
}

func (w *replayWindow) shift(n uint64) {
	switch {
	case n >= 128:
		w.mask = [2]uint64{}
	case n >= 64:
		w.mask[1] = w.mask[0] << (n - 64)
		w.mask[0] = 0
	case n > 0:
		w.mask[1] = w.mask[1]<<n | w.mask[0]>>(64-n)
		w.mask[0] <<= n
	}
}

// guessIndex estimates the SRTP index of a packet with sequence number seq
// exactly as pion/srtp v3.1.0 does (srtpSSRCState.nextRolloverCount, the
// RFC 3711 §3.3.1 estimate, with pion's special case while the index is
// still below 2^15), given that w.latest equals pion's highest index
// for the stream.
func (w *replayWindow) guessIndex(seq uint16) uint64 {
	const median = 1 << 15
	roc := uint32(w.latest >> 16)
	local := int32(w.latest & 0xFFFF)
	s := int32(seq)
	guess := roc
	if w.latest > median {
		if local < median {
			if s-local > median {
				guess = roc - 1
			}
		} else if local-median > s {
			guess = roc + 1
		}
	}
	return uint64(guess)<<16 | uint64(seq)
}

// Outbound encrypts what the server sends to one participant (its
// server-to-client direction), SRTP and SRTCP.
//
// An Outbound is not safe for concurrent use: it belongs to the goroutine
// that owns the participant.
type Outbound struct {
	profile Profile
	ctx     *srtp.Context
	rtpHdr  rtp.Header // scratch for pion, owned by the calling goroutine
	rtcpHdr rtcp.Header
}

// NewOutbound returns an Outbound for the given profile and
// server-to-client keys.
func NewOutbound(p Profile, k Keys) (*Outbound, error) {
	if err := k.Validate(p); err != nil {
		return nil, err
	}
	ctx, err := srtp.CreateContext(k.Key, k.Salt, p.pion())
	if err != nil {
		return nil, fmt.Errorf("media: create SRTP context: %w", err)
	}
	return &Outbound{profile: p, ctx: ctx}, nil
}

// Profile returns the Outbound's protection profile.
func (o *Outbound) Profile() Profile { return o.profile }

// EncryptRTP encrypts the plaintext RTP packet pkt into dst and returns the
// SRTP packet, len(pkt)+Profile().RTPOverhead() bytes long. dst is used if
// its capacity suffices (no allocation) and reallocated otherwise; it must
// not overlap pkt unless it starts at the same byte (in-place encryption,
// dst = pkt[:0] with spare capacity). Errors: ErrTooShort, ErrBadVersion
// for a bad header; pion's errors (only when the 2^48 packet limit of one
// key is reached) wrapped.
func (o *Outbound) EncryptRTP(dst, pkt []byte) ([]byte, error) {
	if _, err := ParseRTPHeader(pkt); err != nil {
		return nil, err
	}
	out, err := o.ctx.EncryptRTP(dst, pkt, &o.rtpHdr)
	if err != nil {
		return nil, fmt.Errorf("media: srtp: %w", err)
	}
	return out, nil
}

// EncryptRTCP encrypts the plaintext (compound) RTCP packet pkt into dst and
// returns the SRTCP packet, len(pkt)+Profile().RTCPOverhead() bytes long,
// with dst used as in EncryptRTP. Errors: ErrTooShort, ErrBadVersion;
// pion's errors (only when the 2^31 SRTCP index limit is reached) wrapped.
func (o *Outbound) EncryptRTCP(dst, pkt []byte) ([]byte, error) {
	if len(pkt) < RTCPMinSize {
		return nil, ErrTooShort
	}
	if pkt[0]>>6 != 2 {
		return nil, ErrBadVersion
	}
	out, err := o.ctx.EncryptRTCP(dst, pkt, &o.rtcpHdr)
	if err != nil {
		return nil, fmt.Errorf("media: srtp: %w", err)
	}
	return out, nil
}
