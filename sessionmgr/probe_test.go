package sessionmgr

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

// rebindUnderFlood drives an engine (time passed in) with forgeries at the
// sender's SSRC from sources addresses at rate per second, starting at 0,
// and the sender's genuine packets (50 per second) from a new address from
// rebindAt on; it returns how long after rebindAt the sender's address
// moved (or the limit), and the authentication attempts the flood cost.
func rebindUnderFlood(t *testing.T, sources, rate int, rebindAt, limit time.Duration) (time.Duration, uint64) {
	r := newBenchRoom(t, media.ProfileAESCM128HMACSHA1_80, 2)
	authenticateSender(t, r)
	rng := rand.New(rand.NewPCG(5, 6))
	newAddr := netip.MustParseAddrPort("127.0.0.1:45678")
	forged := make([][]byte, 64)
	for i := range forged {
		forged[i] = garbageRTP(rng, r.sender.ssrc, 120)
	}
	const tick = time.Millisecond
	perTick := rate / int(time.Second/tick)
	start := int64(time.Second) // the engine's clock at the flood's start
	k := 0
	before := r.e.counters().DropAuth
	for at := time.Duration(0); at < rebindAt+limit; at += tick {
		now := start + int64(at)
		var pkts []netio.Packet
		for i := range perTick {
			pkts = append(pkts, netio.Packet{Data: append([]byte(nil), forged[k%len(forged)]...), From: foreign(k % sources)})
			k++
			if i == perTick/2 && at >= rebindAt && (at-rebindAt)%(20*time.Millisecond) == 0 {
				r.refill(t, 1)
				pkts = append(pkts, netio.Packet{Data: r.pool[0], From: newAddr})
			}
		}
		r.e.HandleBatch(now, pkts, r.q)
		r.q.Flush()
		if r.sender.addr == newAddr {
			return at - rebindAt, r.e.counters().DropAuth - before
		}
	}
	return limit, r.e.counters().DropAuth - before
}

// A flood of forgeries at a participant's SSRC from 64 addresses, 20,000
// a second, must not keep its genuine rebinding from a new address out for
// long: once each flooding address has failed it waits out its penalty,
// and the probe tokens go to the new address. The flood's HMACs stay
// within the probe budget.
func TestForgeryFloodDoesNotBlockRebinding(t *testing.T) {
	d, auth := rebindUnderFlood(t, 64, 20_000, 10*time.Second, 5*time.Second)
	t.Logf("rebinding after %v of flood took %v; %d authentication attempts in all", 10*time.Second, d, auth)
	if d > 500*time.Millisecond {
		t.Errorf("the rebinding took %v under the flood", d)
	}
	if max := uint64(DefaultProbeBurst + 15*DefaultProbeRate); auth > max {
		t.Errorf("%d authentication attempts, more than the budget's %d", auth, max)
	}
}

// The penalty table: a failing source is penalized for probePenalty,
// doubling per failure up to probePenaltyMax; other sources and other
// SSRCs are not.
func TestPenaltyTable(t *testing.T) {
	var pt penaltyTable
	a := netip.MustParseAddrPort("192.0.2.1:4000")
	b := netip.MustParseAddrPort("192.0.2.1:4001")
	if pt.penalized(0, a, 1) {
		t.Fatal("penalized before any failure")
	}
	now := int64(time.Hour)
	pt.failed(now, a, 1)
	if !pt.penalized(now+int64(probePenalty)-1, a, 1) || pt.penalized(now+int64(probePenalty), a, 1) {
		t.Fatal("first penalty")
	}
	if pt.penalized(now, b, 1) || pt.penalized(now, a, 2) {
		t.Fatal("another source or SSRC penalized")
	}
	for range 10 {
		pt.failed(now, a, 1)
	}
	if !pt.penalized(now+int64(probePenaltyMax)-1, a, 1) || pt.penalized(now+int64(probePenaltyMax), a, 1) {
		t.Fatal("the penalty is not capped at probePenaltyMax")
	}
	if allocs := testing.AllocsPerRun(100, func() { pt.failed(now, b, 3); _ = pt.penalized(now, b, 3) }); allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}
