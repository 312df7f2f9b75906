package mixer

// frameDecoder is what the jitter buffer needs of a decoder (*Decoder, or a
// fake in tests): decode a packet, conceal from the next packet's FEC, and
// plain concealment with a nil packet.
type frameDecoder interface {
	Decode(packet []byte, pcm []int16) (int, error)
	DecodeFEC(next []byte, pcm []int16) (int, error)
}

// Jitter buffer parameters.
const (
	jbSlots     = 16 // ring size (a power of two): 320 ms of packets
	jbMaxDepth  = 5  // the most frames the target depth grows to
	jbMaxExpand = 3  // concealed frames on an empty buffer before the input goes idle
	jbShrinkAt  = 25 // ticks above target+1 before one frame is dropped (0.5 s)
	frameNanos  = 20_000_000
	jbSlackNs   = 2_000_000 // jitter below this does not raise the depth
)

// frameKind is what one pull produced.
type frameKind uint8

const (
	frameNone    frameKind = iota // nothing: idle, priming or DTX silence; the input is not mixed
	frameDecoded                  // a received packet
	frameFEC                      // a lost packet, rebuilt from the next packet's in-band FEC
	framePLC                      // a lost or late packet, concealed by the decoder's PLC
)

type jbState uint8

const (
	jbIdle    jbState = iota // nothing buffered; the input is silent and costs nothing
	jbPriming                // waiting for target depth before playout
	jbPlaying
)

type jbSlot struct {
	used bool
	seq  uint16
	n    int
	data [MaxOpusPacket]byte
}

// JitterStats count what an input's jitter buffer did.
type JitterStats struct {
	Received  uint64 // packets accepted into the buffer
	Decoded   uint64 // frames decoded from a received packet
	FEC       uint64 // lost frames rebuilt from the next packet's FEC
	PLC       uint64 // frames concealed by PLC (loss, or an empty buffer)
	Late      uint64 // packets that arrived after their frame was played or concealed: dropped
	Duplicate uint64 // packets already buffered: dropped
	Invalid   uint64 // empty or oversized packets, and decode errors
	Dropped   uint64 // frames dropped to shrink the buffer back to its target
	Resyncs   uint64 // jumps in sequence beyond the buffer: playout restarted
	Silent    uint64 // DTX packets (no decode)
	Target    int    // the current target depth in frames (1..5)
}

// jitterBuffer reorders one input's packets by sequence number and
// produces one 20 ms frame per pull. See docs/architecture.md (mix mode).
type jitterBuffer struct {
	dec   frameDecoder
	slots [jbSlots]jbSlot
	state jbState
	next  uint16 // the sequence number of the next frame to play
	count int    // used slots
	wait  int    // pulls spent priming
	// expand counts concealed frames in a row on an empty buffer; silent
	// is set after a DTX packet (an empty buffer then means silence).
	expand int
	silent bool
	over   int // pulls in a row above target+1
	// played is set once a frame has been played: next then follows the
	// stream, also while idle.
	played bool

	// jitter: peak-hold of |D| (RFC 3550 transit difference), decaying.
	havePrev bool
	prevArr  int64
	prevTS   uint32
	peak     int64
	target   int
	stats    JitterStats
	scratch  [FrameSamples]int16
}

func newJitterBuffer(dec frameDecoder) *jitterBuffer {
	return &jitterBuffer{dec: dec, target: 1}
}

func (jb *jitterBuffer) slot(seq uint16) *jbSlot { return &jb.slots[seq&(jbSlots-1)] }

func (jb *jitterBuffer) has(seq uint16) bool {
	s := jb.slot(seq)
	return s.used && s.seq == seq
}

func (jb *jitterBuffer) clear() {
	for i := range jb.slots {
		jb.slots[i].used = false
	}
	jb.count = 0
}

// observe updates the jitter estimate and the target depth from one
// arrival: D is the change in transit time between consecutive arrivals
// (RFC 3550 §6.4.1, in nanoseconds); the estimate follows a new peak at
// once and decays by 1/256 per packet (about 5 s), so the depth grows
// within one packet of a jitter burst and shrinks slowly after it.
func (jb *jitterBuffer) observe(ts uint32, arrival int64) {
	if jb.havePrev {
		d := (arrival - jb.prevArr) - int64(int32(ts-jb.prevTS))*1e9/OpusSampleRate
		if d < 0 {
			d = -d
		}
		if d > jb.peak {
			jb.peak = d
		} else {
			jb.peak -= jb.peak >> 8
		}
	}
	jb.havePrev, jb.prevArr, jb.prevTS = true, arrival, ts
	t := 1
	if j := jb.peak - jbSlackNs; j > 0 {
		t += int((j + frameNanos - 1) / frameNanos)
	}
	jb.target = min(t, jbMaxDepth)
}

// push stores a packet (copied). arrival is the receive time in
// nanoseconds on any monotonic clock.
func (jb *jitterBuffer) push(seq uint16, ts uint32, payload []byte, arrival int64) {
	if len(payload) == 0 || len(payload) > MaxOpusPacket {
		jb.stats.Invalid++
		return
	}
	jb.observe(ts, arrival)
	switch jb.state {
	case jbIdle:
		// A straggler of the spurt that just ended (just before next) is
		// late; anything else starts a new spurt.
		if d := int16(seq - jb.next); jb.played && d < 0 && -int(d) <= jbSlots {
			jb.stats.Late++
			return
		}
		jb.clear()
		jb.state, jb.next, jb.wait = jbPriming, seq, 0
	case jbPriming:
		d := int16(seq - jb.next)
		if d < 0 {
			// Reordered start: begin at the earlier packet if the ring
			// still holds everything after it; else it is late.
			if -int(d) >= jbSlots || int(uint16(jb.newest()-seq)) >= jbSlots {
				jb.stats.Late++
				return
			}
			jb.next = seq
		} else if int(d) >= jbSlots {
			jb.clear()
			jb.next = seq
			jb.stats.Resyncs++
		}
	case jbPlaying:
		d := int16(seq - jb.next)
		if d < 0 {
			jb.stats.Late++
			return
		}
		if int(d) >= jbSlots {
			jb.clear()
			jb.state, jb.next, jb.wait = jbPriming, seq, 0
			jb.stats.Resyncs++
		}
	}
	s := jb.slot(seq)
	if s.used {
		if s.seq == seq {
			jb.stats.Duplicate++
			return
		}
	} else {
		jb.count++
	}
	s.used, s.seq, s.n = true, seq, copy(s.data[:], payload)
	jb.stats.Received++
}

// newest is the highest buffered sequence number (next when empty).
func (jb *jitterBuffer) newest() uint16 {
	hi := jb.next
	for i := range jb.slots {
		s := &jb.slots[i]
		if s.used && int16(s.seq-hi) > 0 {
			hi = s.seq
		}
	}
	return hi
}

// take removes the packet of seq from the ring and returns its bytes
// (valid until the slot is written again, i.e. until the next push).
func (jb *jitterBuffer) take(seq uint16) []byte {
	s := jb.slot(seq)
	s.used = false
	jb.count--
	return s.data[:s.n]
}

// decode decodes one packet into pcm; a decode error or a frame of the
// wrong length is concealed instead.
func (jb *jitterBuffer) decode(p []byte, pcm []int16) frameKind {
	n, err := jb.dec.Decode(p, pcm)
	if err == nil && n == len(pcm) {
		jb.stats.Decoded++
		return frameDecoded
	}
	jb.stats.Invalid++
	return jb.plc(pcm)
}

func (jb *jitterBuffer) plc(pcm []int16) frameKind {
	jb.stats.PLC++
	if n, err := jb.dec.Decode(nil, pcm); err != nil || n != len(pcm) {
		jb.stats.Invalid++
	}
	return framePLC
}

// pull produces the next frame into pcm (FrameSamples long) and says what
// it is; with frameNone pcm is untouched and the input is not mixed.
func (jb *jitterBuffer) pull(pcm []int16) frameKind {
	switch jb.state {
	case jbIdle:
		return frameNone
	case jbPriming:
		if jb.count < jb.target && jb.wait < jbMaxDepth {
			jb.wait++
			return frameNone
		}
		jb.state, jb.expand, jb.silent, jb.over = jbPlaying, 0, false, 0
	}
	jb.played = true
	if jb.has(jb.next) {
		p := jb.take(jb.next)
		jb.next++
		jb.expand = 0
		if IsDTX(p) {
			jb.silent = true
			jb.stats.Silent++
			return frameNone
		}
		jb.silent = false
		k := jb.decode(p, pcm)
		jb.shrink(pcm)
		return k
	}
	if jb.count > 0 {
		// Lost: later packets are here. Rebuild it from the next
		// packet's FEC when that packet is here too, else PLC.
		lost := jb.next
		jb.next++
		jb.expand = 0
		if jb.has(lost+1) && !IsDTX(jb.slot(lost + 1).data[:jb.slot(lost+1).n]) {
			s := jb.slot(lost + 1)
			if n, err := jb.dec.DecodeFEC(s.data[:s.n], pcm); err == nil && n == len(pcm) {
				jb.stats.FEC++
				return frameFEC
			}
		}
		return jb.plc(pcm)
	}
	// Empty: the talker went quiet (after DTX, or after a few concealed
	// frames) or its packets are late. Conceal without advancing, so a
	// late packet still plays (the buffer grows by one frame).
	if jb.silent || jb.expand >= jbMaxExpand {
		jb.state = jbIdle
		jb.havePrev = false
		return frameNone
	}
	jb.expand++
	return jb.plc(pcm)
}

// shrink drops one frame when the buffer has held more than target+1
// frames for jbShrinkAt pulls: the next packet is decoded over pcm (the
// frame just decoded is discarded; decoding both keeps the decoder's state
// continuous).
func (jb *jitterBuffer) shrink(pcm []int16) {
	if jb.count <= jb.target+1 {
		jb.over = 0
		return
	}
	if jb.over++; jb.over < jbShrinkAt {
		return
	}
	jb.over = 0
	if !jb.has(jb.next) || IsDTX(jb.slot(jb.next).data[:jb.slot(jb.next).n]) {
		return
	}
	p := jb.take(jb.next)
	jb.next++
	if n, err := jb.dec.Decode(p, jb.scratch[:]); err == nil && n == FrameSamples {
		copy(pcm, jb.scratch[:])
	}
	jb.stats.Dropped++
}

func (jb *jitterBuffer) snapshot() JitterStats {
	s := jb.stats
	s.Target = jb.target
	return s
}
