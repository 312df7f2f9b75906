package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

const (
	testSSRC       = 0x1111_2222
	testServerSSRC = 0x5E5E_0001
	testExtID      = 3
)

// fakeServer is the server side of one participant: it decrypts what the
// client sends with the client-to-server keys and sends server-to-client
// SRTP/SRTCP back to whatever address the client last sent from (as vox
// latches it).
type fakeServer struct {
	t    testing.TB
	conn *net.UDPConn
	in   *media.Inbound
	out  *media.Outbound
	adm  api.Admission
	peer *net.UDPAddr // the client's latched address
	buf  []byte
}

func newFakeServer(t testing.TB, prof media.Profile) *fakeServer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	keys, err := media.GenerateSessionKeys(prof)
	if err != nil {
		t.Fatal(err)
	}
	in, err := media.NewInbound(prof, keys.ClientToServer)
	if err != nil {
		t.Fatal(err)
	}
	out, err := media.NewOutbound(prof, keys.ServerToClient)
	if err != nil {
		t.Fatal(err)
	}
	la := conn.LocalAddr().(*net.UDPAddr)
	return &fakeServer{
		t: t, conn: conn, in: in, out: out, buf: make([]byte, 2048),
		adm: api.Admission{
			SessionID:             "s1",
			ParticipantID:         "p1",
			SSRC:                  testSSRC,
			ServerSSRC:            testServerSSRC,
			Media:                 api.MediaAddr{Address: "127.0.0.1", Port: la.Port},
			SRTP:                  wireKeys(keys),
			AudioLevelExtensionID: testExtID,
		},
	}
}

// recv reads the next datagram (a copy) and its source, latching it.
func (s *fakeServer) recv() ([]byte, *net.UDPAddr) {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := s.conn.ReadFromUDP(s.buf)
	if err != nil {
		s.t.Fatalf("server read: %v", err)
	}
	return append([]byte(nil), s.buf[:n]...), from
}

// recvRTP reads and decrypts the next datagram as SRTP.
func (s *fakeServer) recvRTP() ([]byte, media.RTPHeader, *net.UDPAddr) {
	s.t.Helper()
	b, from := s.recv()
	if media.Classify(b) != media.KindRTP {
		s.t.Fatalf("server got %v, want RTP", media.Classify(b))
	}
	plain, h, err := s.in.DecryptRTP(b)
	if err != nil {
		s.t.Fatalf("server decrypt RTP: %v", err)
	}
	s.peer = from
	return plain, h, from
}

// recvRTCP reads and decrypts the next datagram as SRTCP.
func (s *fakeServer) recvRTCP() []byte {
	s.t.Helper()
	b, from := s.recv()
	if media.Classify(b) != media.KindRTCP {
		s.t.Fatalf("server got %v, want RTCP", media.Classify(b))
	}
	plain, err := s.in.DecryptRTCP(b)
	if err != nil {
		s.t.Fatalf("server decrypt RTCP: %v", err)
	}
	s.peer = from
	return plain
}

func (s *fakeServer) write(b []byte) {
	s.t.Helper()
	if s.peer == nil {
		s.t.Fatal("server: no latched peer")
	}
	if _, err := s.conn.WriteToUDP(b, s.peer); err != nil {
		s.t.Fatalf("server write: %v", err)
	}
}

// sendRTP sends an SRTP packet from ssrc (a forwarded member) and returns
// the wire bytes.
func (s *fakeServer) sendRTP(ssrc uint32, seq uint16, ts uint32, payload []byte) []byte {
	s.t.Helper()
	plain := media.AppendRTPHeader(nil, media.RTPFields{PayloadType: 111, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc})
	plain = append(plain, payload...)
	wire, err := s.out.EncryptRTP(nil, plain)
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(wire)
	return wire
}

// sendRTCP encrypts the plaintext compound RTCP with o (the server's
// Outbound unless forging), sends it and returns the wire bytes.
func (s *fakeServer) sendRTCP(o *media.Outbound, plain []byte) []byte {
	s.t.Helper()
	wire, err := o.EncryptRTCP(nil, plain)
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(wire)
	return wire
}

func join(t *testing.T, s *fakeServer, opts Options) *Participant {
	t.Helper()
	p, err := Join(context.Background(), s.adm, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// waitFor polls cond until it holds or 2 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSendReceiveRoundTrip(t *testing.T) {
	for _, prof := range media.Profiles() {
		t.Run(prof.String(), func(t *testing.T) {
			s := newFakeServer(t, prof)
			type got struct {
				ssrc    uint32
				seq     uint16
				payload []byte
				level   int
			}
			var (
				mu       sync.Mutex
				received []got
			)
			p := join(t, s, Options{OnRTP: func(pk *Packet) {
				mu.Lock()
				received = append(received, got{pk.Header.SSRC, pk.Header.SequenceNumber, append([]byte(nil), pk.Payload...), pk.AudioLevel})
				mu.Unlock()
			}})

			seq0, ts0 := p.NextRTP()
			const n = 5
			for i := 0; i < n; i++ {
				payload := bytes.Repeat([]byte{byte(i + 1)}, 40+i)
				var err error
				if i%2 == 1 {
					err = p.SendWithLevel(payload, uint8(10*i), i == 1)
				} else {
					err = p.Send(payload)
				}
				if err != nil {
					t.Fatal(err)
				}
				plain, h, _ := s.recvRTP()
				if !bytes.Equal(h.Payload(plain), payload) {
					t.Fatalf("packet %d: payload %x, want %x", i, h.Payload(plain), payload)
				}
				if h.SSRC != testSSRC || h.PayloadType != DefaultPayloadType {
					t.Errorf("packet %d: ssrc %#x pt %d", i, h.SSRC, h.PayloadType)
				}
				if h.SequenceNumber != seq0+uint16(i) || h.Timestamp != ts0+uint32(i)*DefaultFrameSamples {
					t.Errorf("packet %d: seq %d ts %d, want %d %d", i, h.SequenceNumber, h.Timestamp, seq0+uint16(i), ts0+uint32(i)*DefaultFrameSamples)
				}
				if h.Marker != (i == 0) {
					t.Errorf("packet %d: marker %v", i, h.Marker)
				}
				level, voice, ok := media.AudioLevel(plain, h, testExtID)
				if i%2 == 1 {
					if !ok || level != uint8(10*i) || voice != (i == 1) {
						t.Errorf("packet %d: audio level %d voice %v ok %v", i, level, voice, ok)
					}
				} else if ok || h.Extension {
					t.Errorf("packet %d: unexpected extension", i)
				}
			}
			if st := p.Stats(); st.Sent != n || st.SendErrors != 0 {
				t.Errorf("stats %+v", st)
			}

			// The server forwards two members' streams back.
			const a, b = 0xAAAA0001, 0xBBBB0002
			var want []got
			for i := 0; i < 3; i++ {
				for _, ssrc := range []uint32{a, b} {
					payload := []byte{byte(ssrc), byte(i), 0xFF, 0x00, 0x42}
					s.sendRTP(ssrc, uint16(100+i), uint32(960*i), payload)
					want = append(want, got{ssrc, uint16(100 + i), payload, -1})
				}
			}
			s.sendRTP(a, 103, 960*3, nil) // empty payload (DTX)
			want = append(want, got{a, 103, []byte{}, -1})
			waitFor(t, "forwarded packets", func() bool { return p.Stats().Received == uint64(len(want)) })
			mu.Lock()
			if len(received) != len(want) {
				t.Fatalf("received %d packets, want %d", len(received), len(want))
			}
			for i := range want {
				if received[i].ssrc != want[i].ssrc || received[i].seq != want[i].seq ||
					!bytes.Equal(received[i].payload, want[i].payload) || received[i].level != -1 {
					t.Errorf("packet %d: got %+v, want %+v", i, received[i], want[i])
				}
			}
			mu.Unlock()
			if p.ReceivedFrom(a) != 4 || p.ReceivedFrom(b) != 3 || p.ReceivedFrom(1) != 0 {
				t.Errorf("by sender: %d %d", p.ReceivedFrom(a), p.ReceivedFrom(b))
			}
			ss := p.Senders()
			if len(ss) != 2 || ss[0].SSRC != a || ss[0].Packets != 4 || ss[1].SSRC != b || ss[1].Packets != 3 || ss[0].Lost != 0 {
				t.Errorf("senders %+v", ss)
			}
		})
	}
}

func TestServerReportsAndClientRTCP(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	var rtcpTypes []uint8
	var mu sync.Mutex
	p := join(t, s, Options{OnRTCP: func(pk media.RTCPPacket) {
		mu.Lock()
		rtcpTypes = append(rtcpTypes, pk.Type)
		mu.Unlock()
	}})

	// Before sending any RTP: a receiver report with no block.
	if err := p.SendRTCP(); err != nil {
		t.Fatal(err)
	}
	plain := s.recvRTCP()
	it := media.NewRTCPIter(plain)
	if !it.Next() || it.Packet().Type != media.RTCPTypeRR || it.Packet().Count != 0 {
		t.Fatalf("first report: %x", plain)
	}
	if ssrc, _ := it.Packet().SenderSSRC(); ssrc != testSSRC {
		t.Errorf("RR sender %#x", ssrc)
	}

	for i := 0; i < 3; i++ {
		if err := p.Send([]byte("opus-frame")); err != nil {
			t.Fatal(err)
		}
		s.recvRTP()
	}
	const member = 0xCAFE0001
	for i := 0; i < 4; i++ {
		if i == 2 {
			continue // one lost
		}
		s.sendRTP(member, uint16(7+i), uint32(960*i), []byte("x"))
	}
	// The server's receiver report about the client's stream.
	rr, err := media.AppendReceiverReport(nil, testServerSSRC, media.ReportBlock{SSRC: testSSRC, FractionLost: 12, CumulativeLost: 3, ExtHighestSeq: 99, Jitter: 5})
	if err != nil {
		t.Fatal(err)
	}
	s.sendRTCP(s.out, rr)
	waitFor(t, "server report", func() bool { return p.Stats().Reports == 1 && p.Stats().Received == 3 })
	rb, at, ok := p.ServerReport()
	if !ok || at.IsZero() || rb.CumulativeLost != 3 || rb.FractionLost != 12 || rb.ExtHighestSeq != 99 {
		t.Errorf("server report %+v %v", rb, ok)
	}
	mu.Lock()
	if len(rtcpTypes) != 1 || rtcpTypes[0] != media.RTCPTypeRR {
		t.Errorf("OnRTCP saw %v", rtcpTypes)
	}
	mu.Unlock()

	// After sending: a sender report with the counts and a block about
	// the member heard.
	if err := p.SendRTCP(); err != nil {
		t.Fatal(err)
	}
	plain = s.recvRTCP()
	it = media.NewRTCPIter(plain)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	pk := it.Packet()
	sr, err := media.ParseSenderReport(pk)
	if err != nil {
		t.Fatal(err)
	}
	if sr.SSRC != testSSRC || sr.PacketCount != 3 || sr.OctetCount != 3*uint32(len("opus-frame")) || pk.Count != 1 {
		t.Errorf("SR %+v count %d", sr, pk.Count)
	}
	if d := time.Since(time.Unix(int64(sr.NTPTime>>32)-ntpEpochOffset, 0)); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("SR NTP time off by %v", d)
	}
	blk, err := pk.ReportBlock(0)
	if err != nil {
		t.Fatal(err)
	}
	if blk.SSRC != member || blk.CumulativeLost != 1 || blk.ExtHighestSeq != 10 {
		t.Errorf("report block %+v", blk)
	}
	if it.Next() || it.Err() != nil {
		t.Errorf("trailing RTCP: %v", it.Err())
	}
	// Nothing heard since: no block.
	if err := p.SendRTCP(); err != nil {
		t.Fatal(err)
	}
	it = media.NewRTCPIter(s.recvRTCP())
	if !it.Next() || it.Packet().Type != media.RTCPTypeSR || it.Packet().Count != 0 {
		t.Errorf("third report")
	}
	if st := p.Stats(); st.SentRTCP != 3 {
		t.Errorf("sent RTCP %d", st.SentRTCP)
	}
}

func TestRebind(t *testing.T) {
	s := newFakeServer(t, media.ProfileAEADAES128GCM)
	p := join(t, s, Options{})
	payload := []byte("before")
	if err := p.Send(payload); err != nil {
		t.Fatal(err)
	}
	_, h1, from1 := s.recvRTP()
	s.sendRTP(0xAB, 1, 0, []byte("to old"))
	waitFor(t, "first forwarded packet", func() bool { return p.Stats().Received == 1 })

	if err := p.Rebind(); err != nil {
		t.Fatal(err)
	}
	if p.LocalAddr().Port == from1.Port {
		t.Fatalf("local port unchanged: %v", p.LocalAddr())
	}
	if err := p.Send([]byte("after")); err != nil {
		t.Fatal(err)
	}
	plain, h2, from2 := s.recvRTP() // decrypts with the same SRTP state
	if from2.Port == from1.Port || from2.Port != p.LocalAddr().Port {
		t.Errorf("source port %d after rebind, before %d, local %d", from2.Port, from1.Port, p.LocalAddr().Port)
	}
	if h2.SequenceNumber != h1.SequenceNumber+1 || string(h2.Payload(plain)) != "after" {
		t.Errorf("after rebind: seq %d (before %d) payload %q", h2.SequenceNumber, h1.SequenceNumber, h2.Payload(plain))
	}
	// The server follows: its packets reach the new socket and decrypt.
	s.sendRTP(0xAB, 2, 960, []byte("to new"))
	waitFor(t, "forwarded packet after rebind", func() bool { return p.Stats().Received == 2 })
	// The old socket is closed: nothing sent there arrives.
	if _, err := s.conn.WriteToUDP([]byte("stale"), from1); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Rebinds != 1 || st.AuthFailures != 0 || st.ReadErrors != 0 || p.ReceivedFrom(0xAB) != 2 {
		t.Errorf("stats %+v", st)
	}
	// Rebind again, then close: the reader goroutine exits.
	if err := p.Rebind(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Rebind(); !errors.Is(err, ErrClosed) {
		t.Errorf("rebind after close: %v", err)
	}
}

func TestReconnectNotice(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	notices := make(chan media.ReconnectNotice, 4)
	p := join(t, s, Options{OnReconnect: func(n media.ReconnectNotice) { notices <- n }})
	if err := p.Send([]byte("hello")); err != nil { // the server latches
		t.Fatal(err)
	}
	s.recvRTP()

	notice := media.AppendReconnectNotice(nil, media.ReconnectNotice{SSRC: testServerSSRC, Reason: media.ReconnectDrain, WindowMS: 5000})

	// Forged: the right layout and SSRC, other keys.
	other, err := media.GenerateKeys(media.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := media.NewOutbound(media.DefaultProfile, other)
	if err != nil {
		t.Fatal(err)
	}
	s.sendRTCP(forger, notice)
	waitFor(t, "forged notice counted", func() bool { return p.Stats().AuthFailures == 1 })

	// Genuine, delivered with its reason and window.
	wire := s.sendRTCP(s.out, notice)
	select {
	case n := <-notices:
		if n.Reason != media.ReconnectDrain || n.Window() != 5*time.Second || n.SSRC != testServerSSRC {
			t.Errorf("notice %+v", n)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("genuine notice not delivered")
	}

	// Replayed: the same SRTCP bytes again.
	s.write(wire)
	waitFor(t, "replayed notice counted", func() bool { return p.Stats().Replays == 1 })

	// A compound RR + notice (the second copy, a new index) is delivered
	// too.
	rr, _ := media.AppendReceiverReport(nil, testServerSSRC)
	s.sendRTCP(s.out, media.AppendReconnectNotice(rr, media.ReconnectNotice{SSRC: testServerSSRC, Reason: media.ReconnectShutdown}))
	select {
	case n := <-notices:
		if n.Reason != media.ReconnectShutdown || n.WindowMS != 0 {
			t.Errorf("second notice %+v", n)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("second notice not delivered")
	}
	select {
	case n := <-notices:
		t.Errorf("unexpected notice %+v", n)
	default:
	}
	st := p.Stats()
	if st.Notices != 2 || st.AuthFailures != 1 || st.Replays != 1 || st.ReceivedRTCP != 2 {
		t.Errorf("stats %+v", st)
	}
	if n, _, ok := p.LastNotice(); !ok || n.Reason != media.ReconnectShutdown {
		t.Errorf("last notice %+v %v", n, ok)
	}
}

func TestForgedAndGarbageRTPDropped(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	called := make(chan struct{}, 8)
	p := join(t, s, Options{OnRTP: func(*Packet) { called <- struct{}{} }})
	if err := p.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	s.recvRTP()
	wire := s.sendRTP(0x77, 1, 0, []byte("genuine"))
	<-called
	s.write(wire) // replay
	forged := append([]byte(nil), wire...)
	forged[len(forged)-1] ^= 1
	_ = media.SetSequenceNumber(forged, 2)
	s.write(forged)
	s.write([]byte{0x00, 0x01, 0x02}) // not RTP
	s.write(make([]byte, 1600))       // truncated
	waitFor(t, "drops", func() bool {
		st := p.Stats()
		return st.Replays == 1 && st.AuthFailures == 1 && st.NotMedia == 1 && st.Truncated == 1
	})
	if st := p.Stats(); st.Received != 1 || len(called) != 0 {
		t.Errorf("stats %+v, extra callbacks %d", st, len(called))
	}
}

func TestLeaveSendsBye(t *testing.T) {
	s := newFakeServer(t, media.ProfileAEADAES128GCM)
	p := join(t, s, Options{})
	if err := p.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	s.recvRTP()
	if err := p.Leave(); err != nil {
		t.Fatal(err)
	}
	wire, _ := s.recv()
	if ssrc, ok := media.SSRCOf(wire, media.Classify(wire)); !ok || ssrc != testSSRC {
		t.Errorf("BYE dispatch SSRC %#x %v", ssrc, ok)
	}
	plain, err := s.in.DecryptRTCP(wire)
	if err != nil {
		t.Fatalf("BYE is not valid SRTCP: %v", err)
	}
	it := media.NewRTCPIter(plain)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	bye, err := media.ParseBye(it.Packet())
	if err != nil {
		t.Fatal(err)
	}
	if bye.Len() != 1 || bye.SSRC(0) != testSSRC {
		t.Errorf("BYE for %d sources, first %#x", bye.Len(), bye.SSRC(0))
	}
	select {
	case <-p.Done():
	default:
		t.Error("reader still running after Leave")
	}
	if err := p.Send([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("send after leave: %v", err)
	}
	if err := p.Leave(); !errors.Is(err, ErrClosed) {
		t.Errorf("second leave: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("close after leave: %v", err)
	}
}

func TestRTCPInterval(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	p := join(t, s, Options{RTCPInterval: 20 * time.Millisecond})
	for i := 0; i < 2; i++ {
		plain := s.recvRTCP()
		if it := media.NewRTCPIter(plain); !it.Next() || it.Packet().Type != media.RTCPTypeRR {
			t.Errorf("periodic report %d: %x", i, plain)
		}
	}
	if err := p.Rebind(); err != nil {
		t.Fatal(err)
	}
	_, from := s.recv() // keeps going on the new socket
	if from.Port != p.LocalAddr().Port {
		t.Errorf("report from %v, local %v", from, p.LocalAddr())
	}
}

func TestJoinErrors(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	bad := s.adm
	bad.SRTP.ClientToServer.Key = bad.SRTP.ClientToServer.Key[:8]
	if _, err := Join(context.Background(), bad, Options{}); !errors.Is(err, media.ErrBadKeys) {
		t.Errorf("short key: %v", err)
	}
	bad = s.adm
	bad.Media = api.MediaAddr{}
	if _, err := Join(context.Background(), bad, Options{}); err == nil {
		t.Error("no media address accepted")
	}
	if _, err := Join(context.Background(), s.adm, Options{LocalAddr: "nope"}); err == nil {
		t.Error("bad local address accepted")
	}
	// RemoteAddr overrides, LocalAddr binds.
	bad = s.adm
	bad.Media = api.MediaAddr{Address: "192.0.2.1", Port: 9}
	p, err := Join(context.Background(), bad, Options{RemoteAddr: s.conn.LocalAddr().String(), LocalAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Send(nil); err != nil {
		t.Fatal(err)
	}
	s.recvRTP()
	if err := p.Send(make([]byte, DefaultMaxPacketSize)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("oversized payload: %v", err)
	}
	noExt := s.adm
	noExt.AudioLevelExtensionID = 0
	q, err := Join(context.Background(), noExt, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.SendWithLevel(nil, 10, true); !errors.Is(err, media.ErrInvalidArgument) {
		t.Errorf("level without extension id: %v", err)
	}
}

func TestCloseConcurrent(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	p := join(t, s, Options{RTCPInterval: time.Millisecond})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(3)
		go func() { defer wg.Done(); _ = p.Send([]byte("x")) }()
		go func() { defer wg.Done(); _ = p.Rebind() }()
		go func() { defer wg.Done(); _ = p.Close() }()
	}
	wg.Wait()
	<-p.Done()
	if err := p.Send(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
}

func TestSkipSetsMarker(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	p := join(t, s, Options{FrameSamples: 480, PayloadType: 96})
	_ = p.Send([]byte("a"))
	_, h0, _ := s.recvRTP()
	p.Skip(10)
	_ = p.Send([]byte("b"))
	_, h1, _ := s.recvRTP()
	_ = p.Send([]byte("c"))
	_, h2, _ := s.recvRTP()
	if h0.PayloadType != 96 || !h0.Marker || !h1.Marker || h2.Marker {
		t.Errorf("markers %v %v %v pt %d", h0.Marker, h1.Marker, h2.Marker, h0.PayloadType)
	}
	if h1.Timestamp-h0.Timestamp != 11*480 || h2.Timestamp-h1.Timestamp != 480 || h1.SequenceNumber != h0.SequenceNumber+1 {
		t.Errorf("ts %d %d %d seq %d %d", h0.Timestamp, h1.Timestamp, h2.Timestamp, h0.SequenceNumber, h1.SequenceNumber)
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, prof := range media.Profiles() {
		t.Run(prof.String(), func(t *testing.T) {
			s := newFakeServer(t, prof)
			p := join(t, s, Options{OnRTP: func(*Packet) {}})
			payload := make([]byte, 80)
			if a := testing.AllocsPerRun(200, func() {
				if err := p.Send(payload); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("Send: %v allocs/packet", a)
			}
			if a := testing.AllocsPerRun(200, func() {
				if err := p.SendWithLevel(payload, 30, true); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("SendWithLevel: %v allocs/packet", a)
			}

			// The receive path, driven directly (the reader goroutine
			// has nothing to read: the server never sends).
			const runs = 200
			wires := make([][]byte, runs+2)
			for i := range wires {
				plain := media.AppendRTPHeader(nil, media.RTPFields{PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(960 * i), SSRC: 0x99})
				plain = append(plain, payload...)
				wires[i], _ = s.out.EncryptRTP(nil, plain)
			}
			buf := make([]byte, 2048)
			i := 0
			step := func() {
				n := copy(buf, wires[i])
				i++
				p.handleDatagram(buf[:n], time.Now())
			}
			step() // the first packet of an SSRC creates its state
			if a := testing.AllocsPerRun(runs, step); a != 0 {
				t.Errorf("receive: %v allocs/packet", a)
			}
			if got := p.ReceivedFrom(0x99); got != runs+2 {
				t.Errorf("received %d", got)
			}
		})
	}
}
