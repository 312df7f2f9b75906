package sessionmgr

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

// benchRoom is one shard engine with a session of 1+listeners members, all
// latched, driven without sockets.
type benchRoom struct {
	e        *engine
	q        *netio.SendQueue
	sender   *participant
	enc      *media.Outbound // the sender client's outbound context
	seq      uint16
	payload  []byte
	sent     int
	from     netip.AddrPort
	pkts     []netio.Packet
	pool     [][]byte
	poolNext int
	level    int // RFC 6464 level the sender's packets carry; -1: none
}

func newBenchRoom(tb testing.TB, profile media.Profile, listeners int) *benchRoom {
	m, err := New(Config{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	r := &benchRoom{payload: make([]byte, 100), from: netip.MustParseAddrPort("127.0.0.1:40000"), level: -1}
	r.e = m.newEngine(nil, netio.DefaultMaxDatagram)
	r.q = netio.NewDetachedQueue(512, netio.DefaultMaxDatagram, func(pkts [][]byte, _ []netip.AddrPort) { r.sent += len(pkts) })
	for i := range listeners + 1 {
		keys, err := media.GenerateSessionKeys(profile)
		if err != nil {
			tb.Fatal(err)
		}
		in, _ := media.NewInbound(profile, keys.ClientToServer)
		out, _ := media.NewOutbound(profile, keys.ServerToClient)
		pt := &participant{id: fmt.Sprint(i), ssrc: uint32(1000 + i), serverSSRC: uint32(9000 + i), in: in, out: out}
		r.e.admit(1, pt, testRoom("room", false), false)
		pt.addr = netip.AddrPortFrom(r.from.Addr(), uint16(40000+i))
		if i == 0 {
			r.sender = pt
			r.enc, _ = media.NewOutbound(profile, keys.ClientToServer)
		}
	}
	// Every listener has been told who the others are (the roster's
	// one-time SDES per stream is not the steady state measured here).
	for _, l := range r.sender.room.members {
		for _, m := range r.sender.room.members {
			if m != l {
				l.markKnown(m, 1)
			}
		}
	}
	r.pkts = make([]netio.Packet, 1)
	return r
}

// refill pre-encrypts the next n packets of the sender's stream.
func (r *benchRoom) refill(tb testing.TB, n int) {
	r.pool = r.pool[:0]
	for range n {
		f := media.RTPFields{PayloadType: 111, SequenceNumber: r.seq, Timestamp: uint32(r.seq) * 960, SSRC: r.sender.ssrc}
		plain := media.AppendRTPHeader(nil, f)
		if r.level >= 0 {
			plain, _ = media.AppendRTPHeaderWithAudioLevel(nil, f, DefaultAudioLevelExtensionID, uint8(r.level), true)
		}
		r.seq++
		plain = append(plain, r.payload...)
		enc, err := r.enc.EncryptRTP(make([]byte, 0, 1500), plain)
		if err != nil {
			tb.Fatal(err)
		}
		r.pool = append(r.pool, enc)
	}
	r.poolNext = 0
}

func (r *benchRoom) handleNext(now int64) {
	r.pkts[0] = netio.Packet{Data: r.pool[r.poolNext], From: r.sender.addr}
	r.poolNext++
	r.e.HandleBatch(now, r.pkts, r.q)
	r.q.Flush()
}

// BenchmarkForward is the full receive→forward path of one packet: SRTP
// authenticate+decrypt, latch check, stats, audio level, and re-encryption
// for 3 listeners into the send queue (the socket is not included: see
// docs/performance.md for the whole server on loopback).
func BenchmarkForward(b *testing.B) {
	for _, p := range media.Profiles() {
		for _, fan := range []int{1, 3, 7} {
			b.Run(fmt.Sprintf("%s/fanout%d", p, fan), func(b *testing.B) {
				r := newBenchRoom(b, p, fan)
				const chunk = 4096
				b.ReportAllocs()
				b.SetBytes(int64(len(r.payload)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if r.poolNext == len(r.pool) {
						b.StopTimer()
						r.refill(b, chunk)
						b.StartTimer()
					}
					r.handleNext(int64(i))
				}
				if want := b.N * fan; r.sent != want {
					b.Fatalf("sent %d, want %d", r.sent, want)
				}
			})
		}
	}
}

// BenchmarkForwardSelection is BenchmarkForward with speaker selection
// doing its work: the packets carry an audio level, the room has 7
// listeners and 3 other (selected) talkers, and 2 listeners muted the
// sender, so each packet is observed, selected, rewritten and encrypted
// for 5 listeners and withheld (sequence skip) from 2.
func BenchmarkForwardSelection(b *testing.B) {
	for _, p := range []media.Profile{media.ProfileAESCM128HMACSHA1_80, media.ProfileAEADAES128GCM} {
		b.Run(p.String(), func(b *testing.B) {
			r := newBenchRoom(b, p, 7)
			r.level = 30
			rm := r.sender.room
			rm.sels[0].Observe(r.sender.ssrc, r.level, 1) // holds a slot
			for i, l := range rm.members[1:4] {           // 3 other talkers
				rm.sels[0].Observe(l.ssrc, 40+i, 1)
			}
			for _, l := range rm.members[6:8] {
				l.muteSSRCs = []uint32{r.sender.ssrc}
				l.resolveMutes()
			}
			const chunk = 4096
			b.ReportAllocs()
			b.SetBytes(int64(len(r.payload)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r.poolNext == len(r.pool) {
					b.StopTimer()
					r.refill(b, chunk)
					b.StartTimer()
				}
				r.handleNext(2 + int64(i)*int64(time.Millisecond))
			}
			if want := b.N * 5; r.sent != want {
				b.Fatalf("sent %d, want %d", r.sent, want)
			}
		})
	}
}

// BenchmarkDrop measures the drop paths: they must be the cheapest.
func BenchmarkDrop(b *testing.B) {
	for _, p := range []media.Profile{media.ProfileAESCM128HMACSHA1_80, media.ProfileAEADAES128GCM} {
		r := newBenchRoom(b, p, 3)
		r.refill(b, 2)
		r.handleNext(1) // the stream is established (pion has its SSRC state)
		forged := append([]byte(nil), r.pool[1]...)
		forged[len(forged)-1] ^= 0xFF
		unknown := append([]byte(nil), forged...)
		unknown[8] ^= 0x55
		stranger := netip.MustParseAddrPort("127.0.0.2:999")
		for _, c := range []struct {
			name string
			data []byte
			from netip.AddrPort
		}{
			{"unknown_ssrc", unknown, r.sender.addr},
			{"forged_latched_addr", forged, r.sender.addr}, // full authentication attempt
			{"forged_other_addr", forged, stranger},        // probe budget spent: no crypto
			{"not_rtp", []byte("GET / HTTP/1.1\r\nHost: x\r\n"), stranger},
		} {
			b.Run(p.String()+"/"+c.name, func(b *testing.B) {
				pkts := []netio.Packet{{From: c.from}}
				buf := make([]byte, len(c.data))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					copy(buf, c.data) // GCM zeroes a failed packet in place
					pkts[0].Data = buf
					r.e.HandleBatch(int64(i), pkts, r.q)
				}
				if r.sent != 3 {
					b.Fatalf("a dropped packet was forwarded (%d sent)", r.sent)
				}
			})
		}
	}
}

func TestForwardZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, p := range media.Profiles() {
		r := newBenchRoom(t, p, 3)
		r.refill(t, 300)
		for range 50 { // warm up: first packets create per-SSRC state
			r.handleNext(1)
		}
		allocs := testing.AllocsPerRun(200, func() { r.handleNext(2) })
		if allocs != 0 {
			t.Errorf("%s: %.2f allocations per forwarded packet", p, allocs)
		}
		if r.sent != 250*3+3 { // AllocsPerRun runs once more to warm up
			t.Errorf("%s: sent %d", p, r.sent)
		}

		// With selection at work: levels, one listener muting the sender.
		r = newBenchRoom(t, p, 3)
		r.level = 20
		r.refill(t, 300)
		l := r.sender.room.members[3]
		l.muteSSRCs = []uint32{r.sender.ssrc}
		l.resolveMutes()
		now := int64(1)
		for range 50 {
			now += int64(20 * time.Millisecond)
			r.handleNext(now)
		}
		allocs = testing.AllocsPerRun(200, func() {
			now += int64(20 * time.Millisecond)
			r.handleNext(now)
		})
		if allocs != 0 {
			t.Errorf("%s with selection: %.2f allocations per packet", p, allocs)
		}
		if r.sent != 251*2 {
			t.Errorf("%s with selection: sent %d, want %d", p, r.sent, 251*2)
		}
	}
}

// BenchmarkForwardRooms is BenchmarkForward at fan-out 3 (rooms of 4, every
// member talking) with the packets coming round-robin from every member of
// many rooms at once, as a loaded pod sees them: each packet touches a
// different participant's SRTP contexts and statistics, so this measures
// the forward path with its working set out of the CPU caches (400 rooms:
// 1,600 participants, 3,200 SRTP contexts) against the one-room case.
func BenchmarkForwardRooms(b *testing.B) {
	for _, p := range []media.Profile{media.ProfileAESCM128HMACSHA1_80, media.ProfileAEADAES128GCM} {
		for _, rooms := range []int{1, 400} {
			b.Run(fmt.Sprintf("%s/rooms%d", p, rooms), func(b *testing.B) {
				r := newBenchRooms(b, p, rooms)
				// Every stream's first packet creates its state (pion's
				// SSRC state, replay window, statistics): not measured.
				for range r.members {
					r.handleNext(0)
				}
				r.sent = 0
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if r.next == len(r.pool) {
						b.StopTimer()
						r.refill(b)
						b.StartTimer()
					}
					r.handleNext(int64(i))
				}
				if want := b.N * 3; r.sent != want {
					b.Fatalf("sent %d, want %d", r.sent, want)
				}
			})
		}
	}
}

// benchRooms is one shard engine with many rooms of 4 latched members.
type benchRooms struct {
	e       *engine
	q       *netio.SendQueue
	members []*participant
	encs    []*media.Outbound // each member client's outbound context
	seqs    []uint16
	payload []byte
	sent    int
	pkts    []netio.Packet
	pool    [][]byte
	poolBy  []int // the member that sent pool[i]
	next    int
}

func newBenchRooms(tb testing.TB, profile media.Profile, rooms int) *benchRooms {
	m, err := New(Config{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	r := &benchRooms{payload: make([]byte, 100), pkts: make([]netio.Packet, 1)}
	r.e = m.newEngine(nil, netio.DefaultMaxDatagram)
	r.q = netio.NewDetachedQueue(512, netio.DefaultMaxDatagram, func(pkts [][]byte, _ []netip.AddrPort) { r.sent += len(pkts) })
	base := netip.MustParseAddr("127.0.0.1")
	for i := range rooms * 4 {
		keys, err := media.GenerateSessionKeys(profile)
		if err != nil {
			tb.Fatal(err)
		}
		in, _ := media.NewInbound(profile, keys.ClientToServer)
		out, _ := media.NewOutbound(profile, keys.ServerToClient)
		enc, _ := media.NewOutbound(profile, keys.ClientToServer)
		pt := &participant{id: fmt.Sprint(i), ssrc: uint32(1000 + i), serverSSRC: uint32(1_000_000 + i), in: in, out: out}
		r.e.admit(1, pt, testRoom(fmt.Sprint("room", i/4), false), false)
		pt.addr = netip.AddrPortFrom(base, uint16(10000+i))
		r.members = append(r.members, pt)
		r.encs = append(r.encs, enc)
		r.seqs = append(r.seqs, 0)
	}
	r.pool = make([][]byte, 0, 8192)
	r.refill(tb)
	return r
}

// refill pre-encrypts the next packets, one from each member in turn.
func (r *benchRooms) refill(tb testing.TB) {
	n := len(r.members)
	chunk := max(4096, n) / n * n
	if cap(r.pool) < chunk {
		r.pool = make([][]byte, 0, chunk)
	}
	r.pool, r.poolBy = r.pool[:0], r.poolBy[:0]
	for k := range chunk {
		s := k % n
		f := media.RTPFields{PayloadType: 111, SequenceNumber: r.seqs[s], Timestamp: uint32(r.seqs[s]) * 960, SSRC: r.members[s].ssrc}
		r.seqs[s]++
		plain := append(media.AppendRTPHeader(nil, f), r.payload...)
		enc, err := r.encs[s].EncryptRTP(make([]byte, 0, 256), plain)
		if err != nil {
			tb.Fatal(err)
		}
		r.pool = append(r.pool, enc)
		r.poolBy = append(r.poolBy, s)
	}
	r.next = 0
}

func (r *benchRooms) handleNext(now int64) {
	r.pkts[0] = netio.Packet{Data: r.pool[r.next], From: r.members[r.poolBy[r.next]].addr}
	r.next++
	r.e.HandleBatch(now, r.pkts, r.q)
	r.q.Flush()
}
