package sessionmgr

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/mixer"
	"github.com/voxfleet/vox/netio"
)

// FuzzEnginePacketPath feeds arbitrary datagrams into a real engine (a real
// Manager on a real netio shard) holding real participants with real SRTP
// contexts, interleaved with genuine packets. The input is a program of
// operations (see fuzzOp); the datagrams are handed to the engine's
// HandleBatch on its own shard goroutine (Shard.Do) with a detached send
// queue, so that everything the engine sends for a datagram is seen.
//
// Properties, checked after every operation:
//   - no panic (netio would recover it and the test would see the shard's
//     panic count: checked too);
//   - a datagram that does not authenticate changes nothing: no latch, no
//     stream stats, no speaker selection, no sequence rewriting, no counter
//     but the drop counters, nothing sent;
//   - a genuine packet is still authenticated and forwarded, exactly once,
//     to every latched listener of its room (and decrypts there to what
//     was sent);
//   - the shard's books equal the Manager's (after every input).
//
// Run it with e.g.
//
//	go test ./sessionmgr -run '^$' -fuzz '^FuzzEnginePacketPath$' -fuzztime 60s -parallel 1
//
// The seed corpus is testdata/fuzz/FuzzEnginePacketPath (rewritten from
// engineFuzzSeeds by VOX_WRITE_FUZZ_CORPUS=1 go test -run TestWriteEngineFuzzCorpus).
func FuzzEnginePacketPath(f *testing.F) {
	// One Manager on one real shard for the whole run (a netio server per
	// input would cost more than the input); every input gets sessions and
	// participants of its own, removed at its end, so that an input's
	// outcome does not depend on the inputs before it (but for the
	// engine's totals, which the properties compare as differences).
	m, srv := startFuzzManager(f)
	var n int
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 4096 {
			return // long programs only slow the fuzzer down
		}
		n++
		h := newEngineHarness(t, m, srv, n)
		if !t.Failed() {
			h.do(func(int64) { h.run(prog) })
		}
		h.end()
		checkBooks(t, m)
		if p := srv.Stats().HandlerPanics; p != 0 {
			t.Fatalf("%d panics on the shard", p)
		}
	})
}

func startFuzzManager(f *testing.F) (*Manager, *netio.Server) {
	m, err := New(Config{Logger: quiet, JoinTimeout: time.Hour, IdleTimeout: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 1, TickInterval: time.Millisecond},
		m.NewHandler, netio.Options{Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	if err := m.Start(srv); err != nil {
		f.Fatal(err)
	}
	// A shard that has work waits for datagrams with a receive timeout of
	// a tick, which the kernel rounds up to its clock (4-8 ms here): every
	// Shard.Do of the harness and of the Manager would wait that long. A
	// 1-byte datagram every 100 µs wakes it at once (each is dropped as
	// too short, a counter no property looks at).
	poke, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.LocalAddr()))
	if err != nil {
		f.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = poke.Write([]byte{0})
			time.Sleep(100 * time.Microsecond)
		}
	}()
	f.Cleanup(func() { close(stop); <-done; poke.Close() })
	return m, srv
}

// Operations of a fuzz program (the op byte modulo opCount).
const (
	opJunk        = iota // arbitrary bytes from a chosen source
	opForgedRTP          // an RTP header with a participant's SSRC, arbitrary rest
	opForgedRTCP         // an RTCP header with a participant's SSRC, arbitrary rest
	opGenuine            // a genuine SRTP packet from a talker's latched address
	opReplay             // a genuine packet sent before, again, from a chosen source
	opFlip               // a genuine (new) packet with one byte changed
	opGenuineRTCP        // a genuine SRTCP receiver report
	opRebind             // a genuine packet from a new address (NAT rebinding)
	opWrongKey           // a packet of one participant sealed with another's keys
	opBatch              // several forgeries and one genuine packet in one batch
	opCount
)

// fuzzSocks are the loopback sockets whose addresses the harness's
// participants and attackers use: anything the shard sends on its own
// (receiver reports at its Tick) lands in a socket of this test, never on
// somebody else's port. Bound once per process, never read.
var fuzzSocks struct {
	once  sync.Once
	addrs []netip.AddrPort
	err   error
}

const fuzzSockCount = 12

func fuzzAddrs(t *testing.T) []netip.AddrPort {
	fuzzSocks.once.Do(func() {
		for range fuzzSockCount {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				fuzzSocks.err = err
				return
			}
			// Never closed: the sockets live as long as the test binary.
			fuzzSocks.addrs = append(fuzzSocks.addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
		}
	})
	if fuzzSocks.err != nil {
		t.Fatal(fuzzSocks.err)
	}
	return fuzzSocks.addrs
}

// fuzzPart is the harness's view of one participant: its client side
// (keys, sequence numbers) and where it sends from.
type fuzzPart struct {
	adm    Admission
	out    *media.Outbound // client -> server
	in     *media.Inbound  // server -> client, to check what it receives
	wrong  *media.Outbound // client -> server keys of another participant
	addr   netip.AddrPort  // where it sends from (its latch, once it has sent)
	talker bool            // sends genuine packets (c never does: it stays unlatched)
	seq    uint16
	ts     uint32
	sent   [][]byte // its genuine SRTP and SRTCP packets, for replays
}

type engineHarness struct {
	t     *testing.T
	m     *Manager
	srv   *netio.Server
	e     *engine
	parts []*fuzzPart // a, b, c in session "s"; d in session "t"
	addrs []netip.AddrPort
	next  int // next fresh address (index into addrs)

	sessions []string

	q    *netio.SendQueue
	sent []fuzzSent
}

type fuzzSent struct {
	b  []byte
	to netip.AddrPort
}

func newEngineHarness(t *testing.T, m *Manager, srv *netio.Server, n int) *engineHarness {
	addrs := fuzzAddrs(t)
	h := &engineHarness{t: t, m: m, srv: srv, e: m.engines[0], addrs: addrs, next: 4}
	h.q = netio.NewDetachedQueue(64, srv.Shard(0).MaxDatagram(), func(pkts [][]byte, dsts []netip.AddrPort) {
		for i := range pkts {
			h.sent = append(h.sent, fuzzSent{b: bytes.Clone(pkts[i]), to: dsts[i]})
		}
	})
	h.sessions = []string{fmt.Sprint("s", n), fmt.Sprint("t", n)}
	for i, who := range []struct{ session, id string }{{h.sessions[0], "a"}, {h.sessions[0], "b"}, {h.sessions[0], "c"}, {h.sessions[1], "d"}} {
		adm := admit(t, m, who.session, who.id)
		p := &fuzzPart{adm: adm, addr: addrs[i], talker: who.id != "c", seq: uint16(i * 1000), ts: uint32(i) << 20}
		var err error
		prof := mediaProfile(adm.SRTP.Profile)
		if p.out, err = media.NewOutbound(prof, media.Keys(adm.SRTP.ClientToServer)); err != nil {
			t.Fatal(err)
		}
		if p.in, err = media.NewInbound(prof, media.Keys(adm.SRTP.ServerToClient)); err != nil {
			t.Fatal(err)
		}
		h.parts = append(h.parts, p)
	}
	for i, p := range h.parts {
		other := h.parts[(i+1)%len(h.parts)]
		var err error
		if p.wrong, err = media.NewOutbound(mediaProfile(other.adm.SRTP.Profile), media.Keys(other.adm.SRTP.ClientToServer)); err != nil {
			t.Fatal(err)
		}
	}
	// a, b and d talk once: they are latched before the program starts.
	h.do(func(int64) {
		for _, i := range []int{0, 1, 3} {
			h.genuine(i, 40, 8, false)
		}
	})
	return h
}

// end removes the input's sessions.
func (h *engineHarness) end() {
	for _, id := range h.sessions {
		if err := h.m.DeleteSession(context.Background(), id); err != nil {
			h.t.Fatal(err)
		}
	}
}

// harnessFailure carries a failed property out of the shard's goroutine
// (t.Fatal there would end the shard's goroutine, not the test's).
type harnessFailure struct{ msg string }

// fatalf fails the input; it may run on the shard's goroutine.
func (h *engineHarness) fatalf(format string, args ...any) {
	panic(harnessFailure{fmt.Sprintf(format, args...)})
}

// do runs f on the engine's shard goroutine; a property f found violated
// fails the test here.
func (h *engineHarness) do(f func(now int64)) {
	h.t.Helper()
	var failure *harnessFailure
	err := h.srv.Shard(0).Do(context.Background(), func(now int64, _ *netio.SendQueue) {
		defer func() {
			if r := recover(); r != nil {
				hf, ok := r.(harnessFailure)
				if !ok {
					panic(r) // the engine's own: netio counts it, the test fails on the count
				}
				failure = &hf
			}
		}()
		f(now)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if failure != nil {
		h.t.Fatal(failure.msg)
	}
}

// deliver hands the engine one batch and returns what it sent, with the
// engine's state just before and just after. It runs on the shard's
// goroutine (the whole program does, in one turn of the shard: its Tick
// cannot run in between).
func (h *engineHarness) deliver(pkts []netio.Packet) (sent []fuzzSent, before, after engineState) {
	h.sent = h.sent[:0]
	before = h.read()
	h.e.HandleBatch(netio.Now(), pkts, h.q)
	h.q.Flush()
	after = h.read()
	return h.sent, before, after
}

// partState is everything a participant's packets may change, but for the
// probe budget and the drop counters.
type partState struct {
	addr                          netip.AddrPort
	lastAuth                      int64
	stats                         media.ReceiveStats
	level                         int16
	mem                           mixer.Member
	rw                            []mixer.SeqRewriter
	withheld, packetsOut, rtcpIn  uint64
	rebinds, bytesOut             uint64
	selected                      bool
	loudness                      float64
	mixWant                       bool
	notices                       int
	nextReport                    int64
	roomMembers, roomSelectedNums int
	rosterKnown                   []uint64 // who it has been told about (roster.go)
	rosterNext                    int64
}

type engineState struct {
	parts                                     map[uint32]partState
	rooms                                     int
	forwarded, rtcpIn, rtcpOut, rebinds       uint64
	withheld, noAddress, mixed, encryptErrors uint64
	roster                                    uint64
}

// read reads the engine's state (on its goroutine).
func (h *engineHarness) read() engineState {
	var s engineState
	{
		e := h.e
		s.parts = make(map[uint32]partState, len(e.parts))
		for ssrc, pt := range e.parts {
			sel := pt.room.sels[pt.mem.Channel]
			l := sel.Loudness(ssrc)
			if math.IsNaN(l) {
				l = -1
			}
			s.parts[ssrc] = partState{
				addr: pt.addr, lastAuth: pt.lastAuth, stats: pt.stats, level: pt.level,
				mem: mixer.Member{SSRC: pt.mem.SSRC, Muted: pt.mem.Muted, Channel: pt.mem.Channel, Mutes: slices.Clone(pt.mem.Mutes)},
				rw:  slices.Clone(pt.rw), withheld: pt.withheld, packetsOut: pt.packetsOut, rtcpIn: pt.rtcpIn,
				rebinds: pt.rebinds, bytesOut: pt.bytesOut, selected: sel.Selected(ssrc), loudness: l,
				mixWant: pt.mix.want, notices: pt.notices, nextReport: pt.nextReport,
				roomMembers: len(pt.room.members), roomSelectedNums: sel.NumSelected(),
				rosterKnown: slices.Clone(pt.ros.known), rosterNext: pt.ros.next,
			}
		}
		s.rooms = len(e.rooms)
		c := &e.c
		s.forwarded, s.rtcpIn, s.rtcpOut, s.rebinds = c.forwarded.Load(), c.rtcpIn.Load(), c.rtcpOut.Load(), c.rebinds.Load()
		s.withheld, s.noAddress, s.mixed, s.encryptErrors = c.withheld.Load(), c.noAddress.Load(), c.mixed.Load(), c.encryptErrors.Load()
		s.roster = c.rosterOut.Load()
	}
	return s
}

// unchanged fails unless the engine is as before a datagram that must not
// have authenticated.
func (h *engineHarness) unchanged(what string, sent []fuzzSent, before, after engineState) {
	if len(sent) != 0 {
		h.fatalf("%s: the engine sent %d datagrams (first to %v)", what, len(sent), sent[0].to)
	}
	if !reflect.DeepEqual(before, after) {
		for ssrc, b := range before.parts {
			if a := after.parts[ssrc]; !reflect.DeepEqual(a, b) {
				h.fatalf("%s changed SSRC %d:\nbefore %+v\nafter  %+v", what, ssrc, b, a)
			}
		}
		h.fatalf("%s changed the engine:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// plain builds participant i's next RTP packet (plaintext).
func (h *engineHarness) plain(i int, level uint8, payload int) []byte {
	p := h.parts[i]
	p.seq++
	p.ts += 960
	f := media.RTPFields{PayloadType: 111, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.adm.SSRC}
	b, err := media.AppendRTPHeaderWithAudioLevel(nil, f, p.adm.AudioLevelExtensionID, level&0x7f, true)
	if err != nil {
		h.fatalf("%v", err)
	}
	for j := range payload {
		b = append(b, byte(j)^byte(p.seq))
	}
	return b
}

func (h *engineHarness) seal(i int, plain []byte) []byte {
	enc, err := h.parts[i].out.EncryptRTP(nil, plain)
	if err != nil {
		h.fatalf("%v", err)
	}
	h.parts[i].sent = append(h.parts[i].sent, bytes.Clone(enc))
	return enc
}

// listeners returns the addresses of i's room's other latched members
// (before is the engine's state before i's packet).
func (h *engineHarness) listeners(i int, before engineState) map[netip.AddrPort]int {
	ls := map[netip.AddrPort]int{}
	for j, p := range h.parts {
		if j == i || p.adm.SessionID != h.parts[i].adm.SessionID {
			continue
		}
		if st, ok := before.parts[p.adm.SSRC]; ok && st.addr.IsValid() {
			ls[st.addr] = j
		}
	}
	return ls
}

// genuine sends participant i's next packet from its address (from a new
// one if rebind) and checks that it is forwarded to every latched member
// of its room (a rebind may be refused by the probe budget: then nothing
// changes).
func (h *engineHarness) genuine(i int, level uint8, payload int, rebind bool) {
	p := h.parts[i]
	from := p.addr
	if rebind {
		from = h.fresh()
	}
	plain := h.plain(i, level, payload)
	enc := h.seal(i, plain)
	sent, before, after := h.deliver([]netio.Packet{{Data: enc, From: from}})
	if rebind && after.parts[p.adm.SSRC].addr != from {
		// Refused by the probe budget (counted as a rate-limit drop).
		h.unchanged("a rebinding refused by the probe budget", sent, before, after)
		return
	}
	p.addr = from
	h.checkForward(i, plain, h.listeners(i, before), sent, before, after)
}

// checkForward checks that plain from participant i went once to each
// listener in ls and that i's state took the packet.
func (h *engineHarness) checkForward(i int, plain []byte, ls map[netip.AddrPort]int, sent []fuzzSent, before, after engineState) {
	p := h.parts[i]
	st, was := after.parts[p.adm.SSRC], before.parts[p.adm.SSRC]
	if st.addr != p.addr || st.lastAuth == 0 || st.stats.Packets() != was.stats.Packets()+1 {
		h.fatalf("participant %s: a genuine packet did not count: before %+v after %+v", p.adm.ParticipantID, before.parts[p.adm.SSRC], st)
	}
	// Besides the RTP copies, a listener that had not heard this speaker
	// yet gets the roster's SRTCP SDES naming it (roster.go).
	var rtp []fuzzSent
	for _, s := range sent {
		if media.Classify(s.b) == media.KindRTP {
			rtp = append(rtp, s)
			continue
		}
		j, ok := ls[s.to]
		if !ok {
			h.fatalf("RTCP sent to %v, not a latched listener", s.to)
		}
		if _, err := h.parts[j].in.DecryptRTCP(bytes.Clone(s.b)); err != nil {
			h.fatalf("listener %s cannot decrypt the RTCP it got: %v", h.parts[j].adm.ParticipantID, err)
		}
	}
	sent = rtp
	if len(sent) != len(ls) || after.forwarded-before.forwarded != uint64(len(ls)) {
		h.fatalf("participant %s: a genuine packet went out %d times (forwarded +%d), want %d (%v)",
			p.adm.ParticipantID, len(sent), after.forwarded-before.forwarded, len(ls), ls)
	}
	for _, s := range sent {
		j, ok := ls[s.to]
		if !ok {
			h.fatalf("forwarded to %v, not a latched listener", s.to)
		}
		delete(ls, s.to)
		got, _, err := h.parts[j].in.DecryptRTP(s.b)
		if err != nil {
			h.fatalf("listener %s cannot decrypt what it got: %v", h.parts[j].adm.ParticipantID, err)
		}
		// The sequence number is the listener's view of the stream; the
		// rest is what was sent.
		if len(got) != len(plain) || !bytes.Equal(got[4:], plain[4:]) || !bytes.Equal(got[:2], plain[:2]) {
			h.fatalf("listener %s got %x, sent %x", h.parts[j].adm.ParticipantID, got, plain)
		}
	}
}

// fresh returns an address no participant sends from.
func (h *engineHarness) fresh() netip.AddrPort {
	for {
		a := h.addrs[h.next%len(h.addrs)]
		h.next++
		used := false
		for _, p := range h.parts {
			used = used || p.addr == a
		}
		if !used {
			return a
		}
	}
}

// source picks where a forgery comes from: a participant's address (a
// latched one, or c's never-latched one) or an address nobody uses.
func (h *engineHarness) source(sel byte) netip.AddrPort {
	switch sel % 6 {
	case 0, 1, 2, 3:
		return h.parts[sel%6].addr
	case 4:
		return h.fresh()
	default:
		// Not even IPv4.
		return netip.AddrPortFrom(netip.IPv6Loopback(), uint16(40000+int(sel)))
	}
}

// fuzzReader reads a program.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// bytes takes a length byte and that many bytes (fewer at the end).
func (r *fuzzReader) bytes() []byte {
	n := int(r.byte())
	if r.byte()&1 == 1 {
		n *= 8 // now and then a large datagram
	}
	n = min(n, len(r.b))
	b := bytes.Clone(r.b[:n])
	r.b = r.b[n:]
	return b
}

func (h *engineHarness) run(prog []byte) {
	r := &fuzzReader{b: prog}
	for step := 0; len(r.b) > 0 && step < 64; step++ {
		op := r.byte() % opCount
		who := int(r.byte()) % len(h.parts)
		p := h.parts[who]
		what := fmt.Sprintf("step %d op %d participant %s", step, op, p.adm.ParticipantID)
		switch op {
		case opJunk:
			from := h.source(r.byte())
			h.forgery(what, netio.Packet{Data: r.bytes(), From: from})
		case opForgedRTP:
			from := h.source(r.byte())
			b := make([]byte, 12, 64)
			b[0], b[1] = 0x80|r.byte()&0x3f, r.byte()&0x7f
			binary.BigEndian.PutUint16(b[2:], p.seq+uint16(r.byte()))
			binary.BigEndian.PutUint32(b[4:], p.ts)
			binary.BigEndian.PutUint32(b[8:], p.adm.SSRC)
			h.forgery(what, netio.Packet{Data: append(b, r.bytes()...), From: from})
		case opForgedRTCP:
			from := h.source(r.byte())
			b := make([]byte, 8, 64)
			b[0], b[1] = 0x80|r.byte()&0x3f, 200+r.byte()%5
			binary.BigEndian.PutUint16(b[2:], uint16(r.byte()))
			binary.BigEndian.PutUint32(b[4:], p.adm.SSRC)
			h.forgery(what, netio.Packet{Data: append(b, r.bytes()...), From: from})
		case opGenuine:
			level, size := r.byte(), int(r.byte())
			if p.talker {
				h.genuine(who, level, size, false)
			}
		case opReplay:
			from := h.source(r.byte())
			if len(p.sent) > 0 {
				old := p.sent[int(r.byte())%len(p.sent)]
				h.forgery(what+" (replay)", netio.Packet{Data: bytes.Clone(old), From: from})
			}
		case opFlip:
			from := h.source(r.byte())
			enc := h.seal(who, h.plain(who, r.byte(), int(r.byte())))
			p.sent = p.sent[:len(p.sent)-1] // never sent as it was
			pos, x := int(r.byte()), r.byte()|1
			enc[pos%len(enc)] ^= x
			h.forgery(what+" (flipped)", netio.Packet{Data: enc, From: from})
		case opGenuineRTCP:
			if p.talker {
				h.genuineRTCP(who)
			}
		case opRebind:
			level, size := r.byte(), int(r.byte())
			if p.talker {
				h.genuine(who, level, size, true)
			}
		case opWrongKey:
			from := h.source(r.byte())
			enc, err := p.wrong.EncryptRTP(nil, h.plain(who, r.byte(), int(r.byte())))
			if err != nil {
				h.fatalf("%v", err)
			}
			h.forgery(what+" (wrong key)", netio.Packet{Data: enc, From: from})
		case opBatch:
			n := 1 + int(r.byte())%6
			var pkts []netio.Packet
			for range n {
				pkts = append(pkts, netio.Packet{Data: r.bytes(), From: h.source(r.byte())})
			}
			if !p.talker {
				h.forgery(what+" (batch)", pkts...)
				break
			}
			// The genuine packet in the middle of the forgeries.
			plain := h.plain(who, 60, 20)
			enc := h.seal(who, plain)
			at := int(r.byte()) % (n + 1)
			pkts = slices.Insert(pkts, at, netio.Packet{Data: enc, From: p.addr})
			sent, before, after := h.deliver(pkts)
			h.checkForward(who, plain, h.listeners(who, before), sent, before, after)
		}
	}
}

// forgery delivers datagrams that must not authenticate and checks that
// they changed nothing. (A forgery that happens to be a genuine packet is
// impossible: the harness never gives the program its keys.)
func (h *engineHarness) forgery(what string, pkts ...netio.Packet) {
	sent, before, after := h.deliver(pkts)
	h.unchanged(what, sent, before, after)
}

// genuineRTCP sends participant i a genuine SRTCP receiver report from its
// address: it authenticates (liveness, rtcpIn) and nothing is forwarded.
func (h *engineHarness) genuineRTCP(i int) {
	p := h.parts[i]
	plain, err := media.AppendReceiverReport(nil, p.adm.SSRC)
	if err != nil {
		h.fatalf("%v", err)
	}
	enc, err := p.out.EncryptRTCP(nil, plain)
	if err != nil {
		h.fatalf("%v", err)
	}
	p.sent = append(p.sent, bytes.Clone(enc))
	sent, before, after := h.deliver([]netio.Packet{{Data: enc, From: p.addr}})
	if len(sent) != 0 {
		h.fatalf("an RTCP receiver report was answered with %d datagrams", len(sent))
	}
	if after.rtcpIn != before.rtcpIn+1 || after.parts[p.adm.SSRC].rtcpIn != before.parts[p.adm.SSRC].rtcpIn+1 {
		h.fatalf("a genuine RTCP packet did not count")
	}
}

// engineFuzzSeeds are programs that reach every operation.
func engineFuzzSeeds() [][]byte {
	junkRTP := []byte{0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	seeds := [][]byte{
		{opGenuine, 0, 30, 20, opGenuine, 1, 90, 0, opGenuine, 3, 10, 100},
		append([]byte{opJunk, 0, 4, byte(len(junkRTP)), 0}, junkRTP...),
		{opJunk, 1, 2, 3, 0, 0x80, 200, 0},
		{opForgedRTP, 0, 0, 0, 111, 1, 20, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
		{opForgedRTP, 2, 4, 0, 111, 1, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		{opForgedRTCP, 1, 4, 0, 0, 7, 28, 0},
		{opForgedRTCP, 2, 5, 0, 3, 1, 4, 0, 1, 2, 3},
		{opGenuine, 0, 20, 20, opReplay, 0, 0, 0, opReplay, 0, 4, 1, opReplay, 1, 4, 0},
		{opFlip, 0, 0, 20, 20, 0, 0x80, opFlip, 1, 4, 20, 20, 11, 1, opFlip, 3, 4, 20, 20, 255, 4},
		{opGenuineRTCP, 0, opGenuineRTCP, 3, opReplay, 0, 4, 1},
		{opRebind, 0, 30, 20, opGenuine, 0, 30, 20, opRebind, 1, 30, 20},
		{opWrongKey, 0, 0, 50, 20, opWrongKey, 2, 4, 50, 20},
		{opBatch, 0, 3, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 4, 0, 0, 5, 1, 1},
		{opBatch, 2, 2, 4, 0, 0x80, 111, 0, 0, 4, 0, 0, 5},
	}
	// A forgery flood from one foreign address, then a genuine rebinding.
	flood := []byte{}
	for range 30 {
		flood = append(flood, opForgedRTP, 0, 4, 0, 111, 1, 12, 0)
		flood = append(flood, make([]byte, 12)...)
	}
	seeds = append(seeds, append(flood, opRebind, 0, 30, 20, opGenuine, 0, 30, 20))
	return seeds
}

func TestWriteEngineFuzzCorpus(t *testing.T) {
	if os.Getenv("VOX_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set VOX_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzEnginePacketPath")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzEnginePacketPath")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range engineFuzzSeeds() {
		b := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
