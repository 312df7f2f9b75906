package sessionmgr

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

// The engine's cost per garbage datagram of each kind voxbench flood sends,
// in process (no kernel): batches of 64 garbage datagrams into an engine
// holding a latched room whose sender has authenticated. Each must be allocation-free, and the cheap
// kinds far below a microsecond; an authentication attempt (forged, from
// a foreign address within the probe budget) costs an HMAC. End to end
// (docs/perf/flood.md) the kernel's receive adds to these.
//
//	go test ./sessionmgr -run '^$' -bench 'BenchmarkGarbage' -benchmem
func BenchmarkGarbage(b *testing.B) {
	kinds := []struct {
		name string
		make func(r *benchRoom, rng *rand.Rand, i int) ([]byte, netip.AddrPort)
		// refill: the probe budget is refilled before each batch
		// (the forgeries then all reach the HMAC).
		refill bool
	}{
		{"random", func(r *benchRoom, rng *rand.Rand, i int) ([]byte, netip.AddrPort) {
			p := make([]byte, 1+rng.IntN(200))
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			p[0] &^= 0x80
			return p, foreign(i)
		}, false},
		{"unknown-ssrc", func(r *benchRoom, rng *rand.Rand, i int) ([]byte, netip.AddrPort) {
			return garbageRTP(rng, 1+rng.Uint32()%999, 120), foreign(i)
		}, false},
		{"forged-rate-limited", func(r *benchRoom, rng *rand.Rand, i int) ([]byte, netip.AddrPort) {
			return garbageRTP(rng, r.sender.ssrc, 120), foreign(i)
		}, false},
		{"forged-authenticated", func(r *benchRoom, rng *rand.Rand, i int) ([]byte, netip.AddrPort) {
			p := garbageRTP(rng, r.sender.ssrc, 120)
			binary.BigEndian.PutUint16(p[2:], r.seq+uint16(i)) // inside the replay window: the HMAC runs
			return p, foreign(i)
		}, true},
		{"replay-latched", func(r *benchRoom, rng *rand.Rand, i int) ([]byte, netip.AddrPort) {
			return nil, netip.AddrPort{} // filled from genuine packets below
		}, false},
		{"rtcp-junk", func(r *benchRoom, rng *rand.Rand, i int) ([]byte, netip.AddrPort) {
			p := make([]byte, 28+4*(i%16))
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			p[0], p[1] = 0x80, 200+byte(i%5)
			ssrc := rng.Uint32()
			if i%2 == 0 {
				ssrc = r.sender.ssrc
			}
			binary.BigEndian.PutUint32(p[4:], ssrc)
			return p, foreign(i)
		}, false},
		{"oversized", func(r *benchRoom, rng *rand.Rand, i int) ([]byte, netip.AddrPort) {
			return garbageRTP(rng, r.sender.ssrc, netio.DefaultMaxDatagram), foreign(i)
		}, false},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			r := newBenchRoom(b, media.ProfileAESCM128HMACSHA1_80, 3)
			authenticateSender(b, r)
			rng := rand.New(rand.NewPCG(1, 2))
			const batch = 64
			pkts := make([]netio.Packet, batch)
			var pool [][]byte
			var from []netip.AddrPort
			if k.name == "replay-latched" {
				// Genuine packets, accepted once, then replayed from the
				// sender's own (latched) address.
				r.refill(b, batch)
				for i := range batch {
					r.pkts[0] = netio.Packet{Data: append([]byte(nil), r.pool[i]...), From: r.sender.addr}
					r.e.HandleBatch(1, r.pkts, r.q)
					pool, from = append(pool, r.pool[i]), append(from, r.sender.addr)
				}
			} else {
				for i := range batch {
					p, f := k.make(r, rng, i)
					pool, from = append(pool, p), append(from, f)
				}
			}
			scratch := make([][]byte, batch)
			for i := range scratch {
				scratch[i] = make([]byte, len(pool[i]))
			}
			before := r.e.counters()
			now := int64(1)
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n += batch {
				for i := range batch {
					// Decryption works in place: every round gets the
					// pristine bytes again.
					copy(scratch[i], pool[i])
					pkts[i] = netio.Packet{Data: scratch[i], From: from[i]}
					if k.refill {
						// A new source each time: one that failed
						// already is penalized (probe.go) and would
						// not reach the HMAC.
						var a [4]byte
						binary.BigEndian.PutUint32(a[:], uint32(0x0A000000+n+i))
						pkts[i].From = netip.AddrPortFrom(netip.AddrFrom4(a), 5000)
					}
				}
				if k.refill {
					r.sender.probeTokens = float64(batch)
				}
				now += 1000
				r.e.HandleBatch(now, pkts, r.q)
			}
			b.StopTimer()
			after := r.e.counters()
			if after.Forwarded != before.Forwarded || after.Rebinds != before.Rebinds {
				b.Fatalf("garbage forwarded (%d) or rebound (%d)", after.Forwarded-before.Forwarded, after.Rebinds-before.Rebinds)
			}
			if k.refill && after.DropAuth == before.DropAuth {
				b.Fatal("no forgery reached the authentication")
			}
		})
	}
}

// TestGarbageDoesNotAllocate: the drop paths of every garbage kind are
// allocation-free (the hot-path rule holds under a flood too).
func TestGarbageDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := newBenchRoom(t, media.ProfileAESCM128HMACSHA1_80, 3)
	authenticateSender(t, r)
	rng := rand.New(rand.NewPCG(3, 4))
	var pool [][]byte
	for i := range 64 {
		switch i % 5 {
		case 0:
			pool = append(pool, []byte{0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9})
		case 1:
			pool = append(pool, garbageRTP(rng, 777, 100))
		case 2:
			pool = append(pool, garbageRTP(rng, r.sender.ssrc, 100))
		case 3:
			p := garbageRTP(rng, r.sender.ssrc, 40)
			p[1] = 201
			pool = append(pool, p)
		default:
			pool = append(pool, garbageRTP(rng, r.sender.ssrc, netio.DefaultMaxDatagram))
		}
	}
	pkts := make([]netio.Packet, len(pool))
	scratch := make([][]byte, len(pool))
	for i := range pool {
		scratch[i] = make([]byte, len(pool[i]))
	}
	now := int64(1)
	allocs := testing.AllocsPerRun(200, func() {
		for i := range pool {
			copy(scratch[i], pool[i])
			pkts[i] = netio.Packet{Data: scratch[i], From: foreign(i)}
		}
		r.sender.probeTokens = 8 // some forgeries reach the HMAC
		now += 1000
		r.e.HandleBatch(now, pkts, r.q)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch of garbage", allocs)
	}
}

// authenticateSender has the room's sender send one genuine packet: its
// Inbound then holds its SSRC's state, as every talker's does (forgeries
// at an SSRC that never authenticated cost pion's discarded per-SSRC
// state, see media/srtp.go).
func authenticateSender(tb testing.TB, r *benchRoom) {
	r.refill(tb, 1)
	r.handleNext(1)
}

func foreign(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}), uint16(50000+i))
}

// garbageRTP is an RTP packet of n bytes with ssrc and random contents
// (a random tag).
func garbageRTP(rng *rand.Rand, ssrc uint32, n int) []byte {
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(rng.Uint32())
	}
	p[0], p[1] = 0x80, 111
	binary.BigEndian.PutUint32(p[8:], ssrc)
	return p
}
