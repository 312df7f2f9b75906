package media

// DefaultClockRate is the RTP clock rate of Opus (RFC 7587 §4.1): 48 kHz
// whatever the actual sampling rate.
const DefaultClockRate = 48000

// RFC 3550 Appendix A.1 parameters.
const (
	maxDropout  = 3000 // largest forward jump taken as in-stream
	maxMisorder = 100  // largest backward step taken as reordering
	seqMod      = 1 << 16
)

// SeqResult is how ReceiveStats.Update classified a packet's sequence
// number (RFC 3550 Appendix A.1).
type SeqResult uint8

// Sequence classification results.
const (
	// SeqFirst: the first packet of the stream; the stream is initialised.
	SeqFirst SeqResult = iota + 1
	// SeqInOrder: a new highest sequence number (possibly after a gap,
	// possibly wrapping 65535 → 0).
	SeqInOrder
	// SeqLate: at or below the highest sequence number, within
	// MAX_MISORDER (a reordered packet or a duplicate). Counted as
	// received, as A.1 does: duplicates can make the loss negative.
	SeqLate
	// SeqJump: a jump beyond MAX_DROPOUT ahead or MAX_MISORDER behind. Not
	// counted; if the next packet follows it in sequence, the sender is
	// taken to have restarted.
	SeqJump
	// SeqRestart: the packet after a SeqJump was in sequence with it: the
	// sender restarted; sequence state and interval counters were reset
	// and the packet counted.
	SeqRestart
)

// ReceiveStats holds the receive statistics of one RTP stream (one SSRC):
// packet and byte counts, the RFC 3550 A.1 extended highest sequence number,
// cumulative and interval loss (A.3), interarrival jitter (A.8) and the
// last sender report, everything needed to fill an RR report block.
//
// Unlike A.1 it has no probation: the first authenticated packet starts the
// stream (vox only counts packets that passed SRTP authentication, so a
// stray packet cannot start a bogus stream). Time is never read inside:
// every method that needs it takes monotonic nanoseconds as an argument, so
// the results are deterministic.
//
// The zero value is ready to use with DefaultClockRate. A ReceiveStats is
// not safe for concurrent use; it belongs to the goroutine that owns the
// stream.
type ReceiveStats struct {
	// ClockRate is the RTP clock rate in Hz used to convert arrival times
	// into timestamp units for the jitter; 0 means DefaultClockRate. Set
	// it before the first Update.
	ClockRate uint32

	started       bool
	maxSeq        uint16
	cycles        uint32 // shifted count of sequence number cycles (A.1)
	baseSeq       uint32
	badSeq        uint32 // last 'bad' seq + 1, or seqMod+1 for none
	received      uint32 // valid packets since (re)start
	expectedPrior uint32
	receivedPrior uint32

	packets uint64
	bytes   uint64
	late    uint64
	jumps   uint64
	resets  uint64

	haveTransit bool
	transit     uint32
	jitter      float64

	haveSR bool
	lsr    uint32
	srAt   int64
}

// Update records one packet (after authentication): its sequence number,
// RTP timestamp, payload size in bytes and arrival time in monotonic
// nanoseconds, and returns how the sequence number was classified. It
// never allocates.
func (s *ReceiveStats) Update(seq uint16, rtpTimestamp uint32, size int, arrival int64) SeqResult {
	s.packets++
	if size > 0 {
		s.bytes += uint64(size)
	}
	var res SeqResult
	if !s.started {
		s.started = true
		s.initSeq(seq)
		res = SeqFirst
	} else {
		udelta := seq - s.maxSeq
		switch {
		case udelta == 0:
			res = SeqLate // duplicate of the highest
		case udelta < maxDropout:
			if seq < s.maxSeq {
				s.cycles += seqMod // wrapped
			}
			s.maxSeq = seq
			res = SeqInOrder
		case int(udelta) <= seqMod-maxMisorder:
			if uint32(seq) != s.badSeq {
				// A very large jump: remember it and drop the packet
				// unless the next one confirms it.
				s.badSeq = (uint32(seq) + 1) & (seqMod - 1)
				s.jumps++
				return SeqJump
			}
			// Two sequential packets: the other side restarted.
			s.initSeq(seq)
			s.haveTransit = false
			s.resets++
			res = SeqRestart
		default:
			res = SeqLate // reordered within MAX_MISORDER
		}
	}
	if res == SeqLate {
		s.late++
	}
	s.received++
	s.updateJitter(rtpTimestamp, arrival)
	return res
}

func (s *ReceiveStats) initSeq(seq uint16) {
	s.baseSeq = uint32(seq)
	s.maxSeq = seq
	s.badSeq = seqMod + 1
	s.cycles = 0
	s.received = 0
	s.receivedPrior = 0
	s.expectedPrior = 0
}

// updateJitter applies RFC 3550 A.8: D is the difference of relative
// transit times of this packet and the previous one in arrival order, and
// J += (|D| - J) / 16.
func (s *ReceiveStats) updateJitter(rtpTimestamp uint32, arrival int64) {
	transit := s.toTimestampUnits(arrival) - rtpTimestamp
	if s.haveTransit {
		d := int64(int32(transit - s.transit))
		if d < 0 {
			d = -d
		}
		s.jitter += (float64(d) - s.jitter) / 16
	}
	s.transit = transit
	s.haveTransit = true
}

func (s *ReceiveStats) clockRate() int64 {
	if s.ClockRate == 0 {
		return DefaultClockRate
	}
	return int64(s.ClockRate)
}

// toTimestampUnits converts nanoseconds into clock-rate units, modulo 2^32,
// without overflowing for any int64 input.
func (s *ReceiveStats) toTimestampUnits(ns int64) uint32 {
	r := s.clockRate()
	const sec = int64(1e9)
	return uint32((ns/sec)*r + (ns%sec)*r/sec)
}

// OnSenderReport records an SR received from the stream's sender: its
// 64-bit NTP timestamp and the arrival time (monotonic nanoseconds). The
// next report blocks carry its LSR and the DLSR since arrival.
func (s *ReceiveStats) OnSenderReport(ntpTime uint64, arrival int64) {
	s.haveSR = true
	s.lsr = uint32(ntpTime >> 16)
	s.srAt = arrival
}

// Packets returns the number of packets given to Update, including those
// classified SeqJump.
func (s *ReceiveStats) Packets() uint64 { return s.packets }

// Bytes returns the sum of the sizes given to Update.
func (s *ReceiveStats) Bytes() uint64 { return s.bytes }

// Late returns the number of packets classified SeqLate (reordered or
// duplicated).
func (s *ReceiveStats) Late() uint64 { return s.late }

// Jumps returns the number of packets classified SeqJump (dropped from the
// statistics).
func (s *ReceiveStats) Jumps() uint64 { return s.jumps }

// Restarts returns the number of sender restarts detected.
func (s *ReceiveStats) Restarts() uint64 { return s.resets }

// Received returns the number of packets counted since the stream started
// or last restarted (A.1 "received").
func (s *ReceiveStats) Received() uint32 { return s.received }

// ExtHighestSeq returns the extended highest sequence number received:
// the number of sequence number cycles in the high 16 bits, the highest
// sequence number in the low 16.
func (s *ReceiveStats) ExtHighestSeq() uint32 { return s.cycles + uint32(s.maxSeq) }

// Expected returns the number of packets expected since the stream started
// or last restarted (A.3): extended highest - base + 1, 0 before the first
// packet.
func (s *ReceiveStats) Expected() uint32 {
	if !s.started {
		return 0
	}
	return s.ExtHighestSeq() - s.baseSeq + 1
}

// CumulativeLost returns expected - received (A.3). It is negative when
// duplicates outnumber losses.
func (s *ReceiveStats) CumulativeLost() int64 {
	return int64(s.Expected()) - int64(s.received)
}

// LossRatio returns the cumulative fraction lost, CumulativeLost/Expected,
// clamped to [0, 1].
func (s *ReceiveStats) LossRatio() float64 {
	e := s.Expected()
	lost := s.CumulativeLost()
	if e == 0 || lost <= 0 {
		return 0
	}
	return float64(lost) / float64(e)
}

// Jitter returns the interarrival jitter estimate (A.8) in timestamp units.
func (s *ReceiveStats) Jitter() uint32 { return uint32(s.jitter) }

// ReportBlock fills a reception report block about this stream (source
// ssrc) at time now (monotonic nanoseconds): cumulative loss, the extended
// highest sequence number, jitter, LSR/DLSR, and the fraction lost in the
// interval since the previous call (A.3), which this call starts anew. It
// never allocates.
func (s *ReceiveStats) ReportBlock(ssrc uint32, now int64) ReportBlock {
	rb := ReportBlock{
		SSRC:          ssrc,
		ExtHighestSeq: s.ExtHighestSeq(),
		Jitter:        s.Jitter(),
	}
	lost := s.CumulativeLost()
	rb.CumulativeLost = int32(min(max(lost, -(1<<23)), 1<<23-1))

	expected := s.Expected()
	expectedInterval := expected - s.expectedPrior
	s.expectedPrior = expected
	receivedInterval := s.received - s.receivedPrior
	s.receivedPrior = s.received
	lostInterval := int64(expectedInterval) - int64(receivedInterval)
	if expectedInterval != 0 && lostInterval > 0 {
		// All lost gives 256/256, which does not fit in 8 bits: clamp.
		rb.FractionLost = uint8(min((lostInterval<<8)/int64(expectedInterval), 255))
	}

	if s.haveSR {
		rb.LSR = s.lsr
		if d := now - s.srAt; d > 0 {
			const sec = int64(1e9)
			rb.DLSR = uint32((d/sec)<<16 + (d%sec)<<16/sec)
		}
	}
	return rb
}
