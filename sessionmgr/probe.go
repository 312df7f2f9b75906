package sessionmgr

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Per-source limits on authentication attempts from unlatched addresses.
//
// A participant's probe budget (Config.ProbeRate, ProbeBurst) bounds the
// HMACs spent on packets from addresses other than its latched one. On its
// own it is first come, first served: a flood of forgeries at a
// participant's SSRC from other addresses takes most tokens, and the
// participant's genuine packets from its new address after a NAT
// rebinding wait for a token they win only now and then (docs/perf/flood.md:
// 0.1-0.7 s typically at 18,000 forgeries/s from 64 addresses, once over
// 10 s). So a source whose packet failed (authentication, replay window,
// malformed) for a participant is not given that participant's tokens
// again for probePenalty (doubling with each further failure, up to
// probePenaltyMax): an attacker gets one attempt per address per penalty,
// and the tokens go to the addresses that have not failed, the genuine one
// among them. With S addresses the attempts settle at S/probePenalty a
// second (64 addresses: about 2 a second, below the budget's 10) after a
// transient of about S/ProbeRate seconds. An attacker with more addresses
// than that, or new ones all the time (spoofed), still only costs the
// probe budget's HMACs; the participant then waits as before. A genuine
// client is not penalized: its packets from its new address authenticate
// (only a source that failed is).
const (
	probePenalty    = 30 * time.Second
	probePenaltyMax = 5 * time.Minute
	penaltySlots    = 4096 // a power of two; 24 bytes each, per shard
)

// penaltyTable is a shard's direct-mapped table of (source, SSRC) pairs
// that failed authentication, with when their penalty ends. A slot holds
// one pair; a colliding pair replaces it (the loser's penalty is
// forgotten: the table never grows). Shard goroutine only.
type penaltyTable struct {
	slots *[penaltySlots]penaltySlot // allocated at the first failure
}

type penaltySlot struct {
	key   uint64 // penaltyKey; 0 = empty
	until int64  // netio.Now when the penalty ends
	n     uint32 // failures in a row
}

// penaltyKey hashes a source address and an SSRC (never 0).
func penaltyKey(from netip.AddrPort, ssrc uint32) uint64 {
	a := from.Addr().As16()
	h := binary.LittleEndian.Uint64(a[:8])*0x9E3779B97F4A7C15 ^ binary.LittleEndian.Uint64(a[8:])
	h = (h^uint64(from.Port())<<32^uint64(ssrc))*0xBF58476D1CE4E5B9 + 1
	h ^= h >> 31
	if h == 0 {
		h = 1
	}
	return h
}

// penalized reports whether from may not spend ssrc's tokens now.
func (t *penaltyTable) penalized(now int64, from netip.AddrPort, ssrc uint32) bool {
	if t.slots == nil {
		return false
	}
	k := penaltyKey(from, ssrc)
	s := &t.slots[k&(penaltySlots-1)]
	return s.key == k && now < s.until
}

// failed records that a packet from from failed authentication for ssrc.
func (t *penaltyTable) failed(now int64, from netip.AddrPort, ssrc uint32) {
	if t.slots == nil {
		t.slots = new([penaltySlots]penaltySlot)
	}
	k := penaltyKey(from, ssrc)
	s := &t.slots[k&(penaltySlots-1)]
	if s.key != k {
		*s = penaltySlot{key: k}
	}
	d := probePenalty << min(s.n, 4)
	s.n++
	s.until = now + int64(min(d, probePenaltyMax))
}
