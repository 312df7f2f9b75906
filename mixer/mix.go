package mixer

import (
	"errors"
	"math/bits"
)

// MaxMixMembers is the most members one Mixer holds (one bit each in the
// per-tick masks).
const MaxMixMembers = 64

// ErrMixerFull is returned by Mixer.Add beyond MaxMixMembers.
var ErrMixerFull = errors.New("mixer: session has the maximum number of mixed members")

// frameEncoder is what the mixer needs of an encoder (*Encoder, or a fake
// in tests).
type frameEncoder interface {
	Encode(pcm []int16, out []byte) (int, error)
	Close() error
}

// MixOptions configure a Mixer.
type MixOptions struct {
	// Encoder configures the encoders of the mixed streams (bitrate,
	// DTX, complexity); zero values take EncoderOptions' defaults, except
	// Complexity, which defaults to 5 here: the encodes are most of a
	// tick's cost, and 5 halves it against libopus's 10 for voice at
	// 32 kb/s (docs/performance.md).
	Encoder EncoderOptions
}

// MixComplexity is the mixer's default Opus encoder complexity.
const MixComplexity = 5

// MixStats count a Mixer's work.
type MixStats struct {
	Ticks       uint64 // Tick calls
	SilentTicks uint64 // ticks with no active input (or no listener): nothing mixed or encoded
	Decodes     uint64 // frames produced by the inputs' decoders (decoded, FEC or PLC)
	Mixes       uint64 // distinct mixes built
	Encodes     uint64 // encoder calls: one per distinct mix with a listener
	EncodeErrs  uint64 // failed encodes (those listeners get nothing that tick)
	DTXFrames   uint64 // encoded frames that were DTX (not sent)
	Limited     uint64 // mixed frames in which the limiter lowered the gain
}

// mixStream is one encoded mixed stream: its encoder, its limiter state and
// its buffers (the packet of the tick is buf[:n]).
type mixStream struct {
	enc frameEncoder
	lim limiter
	pcm [FrameSamples]int16
	buf [MaxOpusPacket]byte
}

// MixMember is one participant of a mixed session: an input (its own
// voice, through a jitter buffer and a decoder) and a listener (its mix
// minus its own voice, through Output).
type MixMember struct {
	// ID is the caller's name for the member (e.g. its SSRC).
	ID uint32

	m    *Mixer
	dec  frameDecoder
	jb   *jitterBuffer
	pcm  [FrameSamples]int16
	kind frameKind
	// self encodes the mix minus this member's voice, used on ticks when
	// the member talks; when it does not, it shares the full mix.
	self mixStream
	out  []byte
	// mute: the member gets no output (its voice is still mixed for the
	// others), so its mix is never encoded for it.
	mute bool
}

// SetListening says whether the member receives a mix (the default when
// added). A member that does not listen is an input only: Tick encodes no
// mix for it and its Output stays nil.
func (mm *MixMember) SetListening(on bool) { mm.mute = !on }

// Listening reports whether the member receives a mix.
func (mm *MixMember) Listening() bool { return !mm.mute }

// Push feeds one received (decrypted) RTP packet of the member's voice:
// its sequence number, timestamp, Opus payload (copied) and arrival time
// in nanoseconds on any monotonic clock. Packets must carry 20 ms frames.
// It does not allocate.
func (mm *MixMember) Push(seq uint16, ts uint32, payload []byte, arrival int64) {
	mm.jb.push(seq, ts, payload, arrival)
}

// Output is the Opus payload the member receives for the last tick, or nil
// when it gets nothing (nobody else talks, or DTX). The slice is shared
// with the other members who hear the same mix and is valid until the next
// Tick. The caller stamps it with the member's outbound SSRC, sequence
// number (+1 per sent packet) and timestamp (+FrameSamples per tick, sent
// or not), then encrypts it.
func (mm *MixMember) Output() []byte { return mm.out }

// Talking reports whether the member's voice was in the last tick's mix.
func (mm *MixMember) Talking() bool { return mm.kind != frameNone }

// JitterStats returns the member's input statistics.
func (mm *MixMember) JitterStats() JitterStats { return mm.jb.snapshot() }

// Mixer mixes one session: every Tick (20 ms, on the session's shard) it
// pulls one frame per active input, sums them in int32, and gives each
// member the mix minus its own voice, limited and Opus-encoded once per
// distinct mix: all members who are not talking share one encode of the
// full mix, and each talker gets its own (the full mix minus itself). With
// nobody talking a tick decodes, mixes and encodes nothing.
//
// A Mixer and its members belong to one goroutine. Tick, Push and Output
// do not allocate; Add does (decoder and encoder state, buffers).
type Mixer struct {
	opts    MixOptions
	newEnc  func() (frameEncoder, error)
	newDec  func() (frameDecoder, error)
	members []*MixMember
	full    mixStream
	total   [FrameSamples]int32
	minus   [FrameSamples]int32
	stats   MixStats
}

// NewMixer creates a Mixer with its shared full-mix encoder. Without
// libopus it returns ErrNoOpus.
func NewMixer(o MixOptions) (*Mixer, error) {
	if o.Encoder.Complexity == 0 {
		o.Encoder.Complexity = MixComplexity
	}
	return newMixer(o,
		func() (frameEncoder, error) {
			e, err := NewEncoder(o.Encoder)
			if err != nil {
				return nil, err
			}
			return e, nil
		},
		func() (frameDecoder, error) {
			d, err := NewDecoder()
			if err != nil {
				return nil, err
			}
			return d, nil
		})
}

func newMixer(o MixOptions, newEnc func() (frameEncoder, error), newDec func() (frameDecoder, error)) (*Mixer, error) {
	m := &Mixer{opts: o, newEnc: newEnc, newDec: newDec, members: make([]*MixMember, 0, MaxMixMembers)}
	enc, err := newEnc()
	if err != nil {
		return nil, err
	}
	m.full.enc, m.full.lim = enc, newLimiter()
	return m, nil
}

// Add creates a member with its decoder and its own-mix encoder.
func (m *Mixer) Add(id uint32) (*MixMember, error) {
	if len(m.members) >= MaxMixMembers {
		return nil, ErrMixerFull
	}
	dec, err := m.newDec()
	if err != nil {
		return nil, err
	}
	enc, err := m.newEnc()
	if err != nil {
		closeDecoder(dec)
		return nil, err
	}
	mm := &MixMember{ID: id, m: m, dec: dec, jb: newJitterBuffer(dec)}
	mm.self.enc, mm.self.lim = enc, newLimiter()
	m.members = append(m.members, mm)
	return mm, nil
}

func closeDecoder(d frameDecoder) {
	if c, ok := d.(interface{ Close() error }); ok {
		c.Close()
	}
}

// Remove takes a member out of the mix and frees its codecs.
func (m *Mixer) Remove(mm *MixMember) {
	for i, x := range m.members {
		if x == mm {
			last := len(m.members) - 1
			m.members[i] = m.members[last]
			m.members[last] = nil
			m.members = m.members[:last]
			mm.self.enc.Close()
			closeDecoder(mm.dec)
			mm.m = nil
			return
		}
	}
}

// Len is the number of members.
func (m *Mixer) Len() int { return len(m.members) }

// Stats returns the mixer's counters.
func (m *Mixer) Stats() MixStats { return m.stats }

// Close frees every codec. The Mixer is unusable afterwards.
func (m *Mixer) Close() {
	for len(m.members) > 0 {
		m.Remove(m.members[len(m.members)-1])
	}
	m.full.enc.Close()
}

// Tick runs one 20 ms mixing step; afterwards each member's Output holds
// what it receives for this frame.
func (m *Mixer) Tick() {
	m.stats.Ticks++
	var active, listen uint64
	for i, mm := range m.members {
		mm.out = nil
		mm.kind = mm.jb.pull(mm.pcm[:])
		if mm.kind != frameNone {
			active |= 1 << i
			m.stats.Decodes++
		}
		if !mm.mute {
			listen |= 1 << i
		}
	}
	if active == 0 || listen == 0 {
		m.stats.SilentTicks++
		return
	}
	// The full mix: the int32 sum of every active input.
	first := true
	for a := active; a != 0; a &= a - 1 {
		p := &m.members[bits.TrailingZeros64(a)].pcm
		if first {
			for j, x := range p {
				m.total[j] = int32(x)
			}
			first = false
			continue
		}
		for j, x := range p {
			m.total[j] += int32(x)
		}
	}
	// Listeners who are not talking hear the full mix: one encode for all.
	if quiet := listen &^ active; quiet != 0 {
		m.stats.Mixes++
		pkt := m.encode(&m.full, m.total[:])
		for a := quiet; a != 0; a &= a - 1 {
			m.members[bits.TrailingZeros64(a)].out = pkt
		}
	}
	// Each listening talker hears the full mix minus itself (nothing when
	// alone).
	if bits.OnesCount64(active) < 2 {
		return
	}
	for a := active & listen; a != 0; a &= a - 1 {
		mm := m.members[bits.TrailingZeros64(a)]
		for j, x := range mm.pcm {
			m.minus[j] = m.total[j] - int32(x)
		}
		m.stats.Mixes++
		mm.out = m.encode(&mm.self, m.minus[:])
	}
}

// encode limits and encodes one mix into s and returns its packet (nil for
// an error or a DTX frame).
func (m *Mixer) encode(s *mixStream, mix []int32) []byte {
	before := s.lim.engaged
	s.lim.process(mix, s.pcm[:])
	if s.lim.engaged != before {
		m.stats.Limited++
	}
	m.stats.Encodes++
	n, err := s.enc.Encode(s.pcm[:], s.buf[:])
	if err != nil {
		m.stats.EncodeErrs++
		return nil
	}
	if IsDTX(s.buf[:n]) {
		m.stats.DTXFrames++
		return nil
	}
	return s.buf[:n]
}
