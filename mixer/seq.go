package mixer

// reorderWindow bounds how late (in source packets) a packet may arrive and
// still be forwarded.
const reorderWindow = 1000

// SeqRewriter keeps one listener's view of one stream's sequence numbers
// contiguous when packets are withheld from it (deselected or muted): every
// packet of the stream passes through Forward (sent) or Skip (withheld), in
// arrival order. Packets lost before the server keep their gap, so the
// listener's loss statistics and concealment still see them; withheld ones
// leave none. Timestamps are not touched (the decoder sees the real time
// gap: silence, not loss).
//
// The output sequence numbers only move forward (a late packet fills a
// gap left by a loss, never a number already used), so the listener's SRTP
// rollover counter, which the outbound context derives from them, stays
// right across the 16-bit wrap, and no (sequence, ROC) index is ever used
// for two different packets. A late packet that arrives after a withheld
// run newer than itself is dropped (its number is taken), as are packets
// more than 1000 behind.
//
// The zero value is ready; Reset starts it over.
type SeqRewriter struct {
	started bool
	hi      uint16 // newest source seq seen (sent or withheld)
	base    uint16 // oldest source seq mapped with the current offset
	offset  uint16 // out = in - offset
	// Withheld counts packets skipped; Late counts late packets dropped.
	Withheld, Late uint64
}

// Reset forgets the stream (its sender left or restarted).
func (r *SeqRewriter) Reset() { *r = SeqRewriter{} }

// Forward maps source sequence number seq of a packet to be sent; ok false
// means the packet must not be sent (too late to map).
func (r *SeqRewriter) Forward(seq uint16) (out uint16, ok bool) {
	if !r.started {
		r.started, r.hi, r.base, r.offset = true, seq, seq, 0
		return seq, true
	}
	if d := int16(seq - r.hi); d > 0 {
		r.hi = seq
		return seq - r.offset, true
	}
	// Late (duplicates never get here: SRTP replay protection drops them
	// before the server forwards anything).
	if back := r.hi - seq; back >= reorderWindow || int16(seq-r.base) < 0 {
		r.Late++
		return 0, false
	}
	return seq - r.offset, true
}

// Skip records that the packet with source sequence number seq is withheld.
func (r *SeqRewriter) Skip(seq uint16) {
	r.Withheld++
	if !r.started {
		return // the listener has seen nothing yet: nothing to keep contiguous
	}
	if d := int16(seq - r.hi); d > 0 {
		r.hi = seq
		r.offset++
		r.base = seq + 1
	}
	// A late withheld packet: its slot stays a gap (shown as a loss).
}
