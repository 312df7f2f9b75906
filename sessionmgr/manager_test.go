package sessionmgr

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/netio"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startManager(t *testing.T, cfg Config, shards int) (*Manager, *netio.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if prev := runtime.GOMAXPROCS(0); prev <= shards {
		runtime.GOMAXPROCS(shards + 1)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: shards, TickInterval: time.Millisecond},
		m.NewHandler, netio.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := m.Start(srv); err != nil {
		t.Fatal(err)
	}
	return m, srv
}

// rawClient is the smallest correct vox client: its own socket, SRTP both
// ways, RTP with increasing sequence numbers.
type rawClient struct {
	t    *testing.T
	adm  Admission
	conn *net.UDPConn
	to   netip.AddrPort
	out  *media.Outbound
	in   *media.Inbound
	seq  uint16
	sent [][]byte // every SRTP packet sent, for replays
}

func newRawClient(t *testing.T, adm Admission) *rawClient {
	t.Helper()
	c := &rawClient{t: t, adm: adm}
	var err error
	if c.out, err = media.NewOutbound(mediaProfile(adm.SRTP.Profile), media.Keys(adm.SRTP.ClientToServer)); err != nil {
		t.Fatal(err)
	}
	if c.in, err = media.NewInbound(mediaProfile(adm.SRTP.Profile), media.Keys(adm.SRTP.ServerToClient)); err != nil {
		t.Fatal(err)
	}
	c.to = netip.MustParseAddrPort(fmt.Sprintf("%s:%d", adm.Media.Address, adm.Media.Port))
	c.rebind()
	return c
}

func (c *rawClient) rebind() {
	if c.conn != nil {
		c.conn.Close()
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		c.t.Fatal(err)
	}
	c.conn = conn
	c.t.Cleanup(func() { conn.Close() })
}

func (c *rawClient) rtp(payload []byte, level int) []byte {
	f := media.RTPFields{PayloadType: 111, SequenceNumber: c.seq, Timestamp: uint32(c.seq) * 960, SSRC: c.adm.SSRC}
	c.seq++
	var plain []byte
	if level >= 0 {
		var err error
		plain, err = media.AppendRTPHeaderWithAudioLevel(nil, f, c.adm.AudioLevelExtensionID, uint8(level), true)
		if err != nil {
			c.t.Fatal(err)
		}
	} else {
		plain = media.AppendRTPHeader(nil, f)
	}
	return append(plain, payload...)
}

func (c *rawClient) send(payload []byte) []byte {
	plain := c.rtp(payload, 30)
	enc, err := c.out.EncryptRTP(nil, plain)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sent = append(c.sent, enc)
	c.write(enc)
	return plain
}

func (c *rawClient) sendRTCP(plain []byte) {
	enc, err := c.out.EncryptRTCP(nil, plain)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(enc)
}

func (c *rawClient) write(b []byte) {
	if _, err := c.conn.WriteToUDPAddrPort(b, c.to); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads until it gets an RTP packet that decrypts (RTCP from the
// server is returned separately) or the timeout passes.
func (c *rawClient) recv(timeout time.Duration) (rtp []byte, rtcp []byte, err error) {
	buf := make([]byte, 2048)
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := c.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, nil, err
	}
	switch media.Classify(buf[:n]) {
	case media.KindRTP:
		plain, _, err := c.in.DecryptRTP(buf[:n])
		return append([]byte(nil), plain...), nil, err
	case media.KindRTCP:
		plain, err := c.in.DecryptRTCP(buf[:n])
		return nil, append([]byte(nil), plain...), err
	}
	return nil, nil, errors.New("not RTP/RTCP")
}

func (c *rawClient) recvRTP(timeout time.Duration) []byte {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rtp, _, err := c.recv(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("participant %s: %v", c.adm.ParticipantID, err)
		}
		if rtp != nil {
			return rtp
		}
	}
}

func (c *rawClient) expectNothing(d time.Duration) {
	c.t.Helper()
	if rtp, _, err := c.recv(d); err == nil && rtp != nil {
		c.t.Fatalf("participant %s received unexpected %x", c.adm.ParticipantID, rtp)
	}
}

func admit(t *testing.T, m *Manager, session, pid string) Admission {
	t.Helper()
	adm, err := m.Admit(context.Background(), session, AdmitRequest{ParticipantID: pid})
	if err != nil {
		t.Fatal(err)
	}
	return adm
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestForwardingBetweenMembers(t *testing.T) {
	m, srv := startManager(t, Config{}, 2)
	var clients []*rawClient
	for i := range 3 {
		adm := admit(t, m, "room", fmt.Sprintf("p%d", i))
		if netio.ShardOf(adm.SSRC, srv.NumShards()) != netio.ShardOf(admit0(clients, adm).SSRC, srv.NumShards()) {
			t.Fatal("members on different shards")
		}
		clients = append(clients, newRawClient(t, adm))
	}
	// Nobody has a latched address yet: a first packet from each latches it.
	for _, c := range clients {
		c.send([]byte("hello"))
	}
	waitFor(t, "all latched", func() bool {
		info, _ := m.Session(context.Background(), "room")
		for _, p := range info.Participants {
			if p.Address == "" {
				return false
			}
		}
		return true
	})
	drain(clients)
	plain := clients[0].send([]byte("voice frame 1"))
	for _, c := range clients[1:] {
		if got := c.recvRTP(2 * time.Second); string(got) != string(plain) {
			t.Fatalf("got %x want %x", got, plain)
		}
	}
	clients[0].expectNothing(50 * time.Millisecond)

	info, err := m.Session(context.Background(), "room")
	if err != nil {
		t.Fatal(err)
	}
	p0 := info.Participants[0]
	if p0.ID != "p0" || p0.Stats.PacketsIn != 2 || p0.Stats.AudioLevel != 30 || p0.Address != clients[0].conn.LocalAddr().String() {
		t.Fatalf("participant info %+v", p0)
	}
}

func admit0(cs []*rawClient, adm Admission) Admission {
	if len(cs) == 0 {
		return adm
	}
	return cs[0].adm
}

// drain discards what each client has received so far.
func drain(cs []*rawClient) {
	for _, c := range cs {
		for {
			if _, _, err := c.recv(20 * time.Millisecond); err != nil {
				break
			}
		}
	}
}

func TestForgedAndReplayedMoveNothing(t *testing.T) {
	m, _ := startManager(t, Config{}, 1)
	a := newRawClient(t, admit(t, m, "s", "a"))
	b := newRawClient(t, admit(t, m, "s", "b"))
	a.send([]byte("x"))
	b.send([]byte("y"))
	waitFor(t, "latched", func() bool { return m.Status().Totals.RxPackets >= 2 })
	drain([]*rawClient{a, b})

	// A replay of a's first packet from a's own address.
	a.write(a.sent[0])
	// A forgery for a's SSRC from another address (wrong key).
	evil := newRawClient(t, a.adm)
	evil.out, _ = media.NewOutbound(mediaProfile(a.adm.SRTP.Profile), mustKeys(t, mediaProfile(a.adm.SRTP.Profile)))
	evil.seq = 5000
	evil.send([]byte("hijack"))
	// Garbage and an unknown SSRC.
	evil.write([]byte{0x80, 111, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	evil.write([]byte("GET / HTTP/1.1\r\n"))
	evil.write([]byte{0x80})

	waitFor(t, "drops counted", func() bool {
		c := m.Status().Totals
		return c.DropReplay == 1 && c.DropAuth == 1 && c.DropUnknownSSRC == 1 && c.DropNotRTP == 1 && c.DropTooShort == 1
	})
	b.expectNothing(50 * time.Millisecond)
	info, _ := m.Session(context.Background(), "s")
	pa := info.Participants[0]
	if pa.Address != a.conn.LocalAddr().String() || pa.Stats.PacketsIn != 1 || pa.Stats.Replays != 1 || pa.Stats.AuthFailures != 1 || pa.Stats.Rebinds != 0 {
		t.Fatalf("forgery moved state: %+v", pa)
	}
	// The genuine stream still flows.
	plain := a.send([]byte("still me"))
	if got := b.recvRTP(2 * time.Second); string(got) != string(plain) {
		t.Fatal("genuine packet after forgeries not forwarded")
	}
}

func mustKeys(t *testing.T, p media.Profile) media.Keys {
	k, err := media.GenerateKeys(p)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRebindFollowsAuthenticatedPackets(t *testing.T) {
	m, _ := startManager(t, Config{}, 2)
	a := newRawClient(t, admit(t, m, "s", "a"))
	b := newRawClient(t, admit(t, m, "s", "b"))
	a.send(nil)
	b.send(nil)
	waitFor(t, "latched", func() bool { return m.Status().Totals.RxPackets >= 2 })
	drain([]*rawClient{a, b})
	b.rebind() // NAT rebinding: new source port
	b.send([]byte("from new port"))
	waitFor(t, "rebind", func() bool { return m.Status().Totals.Rebinds == 1 })
	plain := a.send([]byte("to b"))
	if got := b.recvRTP(2 * time.Second); string(got) != string(plain) {
		t.Fatal("b did not receive at its new address")
	}
}

func TestProbeRateLimit(t *testing.T) {
	m, _ := startManager(t, Config{ProbeRate: 1, ProbeBurst: 3}, 1)
	a := newRawClient(t, admit(t, m, "s", "a"))
	a.send(nil)
	waitFor(t, "latched", func() bool { return m.Status().Totals.RxPackets >= 1 })
	// 20 forgeries from 20 addresses (from one address, only the first
	// would reach authentication: the address is then penalized, see
	// TestForgeryFloodDoesNotBlockRebinding).
	for range 20 {
		evil := newRawClient(t, a.adm)
		evil.out, _ = media.NewOutbound(mediaProfile(a.adm.SRTP.Profile), mustKeys(t, mediaProfile(a.adm.SRTP.Profile)))
		evil.seq = 9000 // ahead of a's window: rejected by authentication, not as replays
		evil.send([]byte("forged"))
	}
	// The latched address is always served.
	for range 5 {
		a.send(nil)
	}
	waitFor(t, "counted", func() bool {
		c := m.Status().Totals
		return c.DropAuth+c.DropRateLimit == 20 && c.RxPackets == 26
	})
	c := m.Status().Totals
	// Burst 3 minus the token a's first packet spent before it latched,
	// plus at most a refill or two while the test runs.
	if c.DropAuth < 2 || c.DropAuth > 5 {
		t.Fatalf("%d forgeries authenticated, want about 2", c.DropAuth)
	}
	info, _ := m.Session(context.Background(), "s")
	if info.Participants[0].Stats.PacketsIn != 6 {
		t.Fatalf("latched address not served: %+v", info.Participants[0].Stats)
	}
}

func TestByeAndTimeoutsRemove(t *testing.T) {
	m, _ := startManager(t, Config{JoinTimeout: 100 * time.Millisecond, IdleTimeout: 150 * time.Millisecond}, 1)
	a := newRawClient(t, admit(t, m, "s", "a"))
	b := newRawClient(t, admit(t, m, "s", "b"))
	_ = admit(t, m, "s", "never-sends")
	a.send(nil)
	b.send(nil)
	bye, _ := media.AppendBye(nil, a.adm.SSRC)
	a.sendRTCP(bye)
	waitFor(t, "bye", func() bool { return m.Status().Totals.Removed[ReasonBye] == 1 })
	waitFor(t, "join timeout", func() bool { return m.Status().Totals.Removed[ReasonJoinTimeout] == 1 })
	waitFor(t, "idle timeout", func() bool { return m.Status().Totals.Removed[ReasonIdle] == 1 })
	if _, err := m.Session(context.Background(), "s"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("empty session still there: %v", err)
	}
	if st := m.Status(); st.Participants != 0 || st.Sessions != 0 || st.Shards[0].Participants != 0 {
		t.Fatalf("books not empty: %+v", st)
	}
}

func TestReceiverReports(t *testing.T) {
	m, _ := startManager(t, Config{ReportInterval: 20 * time.Millisecond}, 1)
	a := newRawClient(t, admit(t, m, "s", "a"))
	for range 3 {
		a.send(nil)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		_, rtcp, err := a.recv(time.Second)
		if err != nil || rtcp == nil {
			continue
		}
		it := media.NewRTCPIter(rtcp)
		if !it.Next() || it.Packet().Type != media.RTCPTypeRR {
			t.Fatalf("not an RR: %x", rtcp)
		}
		ssrc, _ := it.Packet().SenderSSRC()
		rb, err := it.Packet().ReportBlock(0)
		if err != nil || ssrc != a.adm.ServerSSRC || rb.SSRC != a.adm.SSRC || rb.ExtHighestSeq != 2 || rb.CumulativeLost != 0 {
			t.Fatalf("RR from %#x about %+v: %v", ssrc, rb, err)
		}
		return
	}
	t.Fatal("no receiver report")
}

func TestLimitsExactUnderConcurrency(t *testing.T) {
	m, _ := startManager(t, Config{Limits: Limits{MaxSessions: 30, MaxParticipants: 100, MaxSessionParticipants: 4}}, 2)
	var ok, full, notAccepting atomic.Int64
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.Admit(context.Background(), fmt.Sprintf("s%d", i%40), AdmitRequest{})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrSessionFull):
				full.Add(1)
			case errors.Is(err, ErrNotAccepting):
				notAccepting.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st := m.Status()
	if ok.Load() != 100 || st.Participants != 100 || st.Sessions > 30 {
		t.Fatalf("admitted %d (status %d participants, %d sessions), full %d, not accepting %d",
			ok.Load(), st.Participants, st.Sessions, full.Load(), notAccepting.Load())
	}
	sessions, _ := m.Sessions(context.Background())
	ssrcs := map[uint32]bool{}
	for _, s := range sessions {
		if len(s.Participants) > 4 {
			t.Fatalf("session %s has %d members", s.ID, len(s.Participants))
		}
		for _, p := range s.Participants {
			if ssrcs[p.SSRC] || netio.ShardOf(p.SSRC, 2) != s.Shard {
				t.Fatalf("ssrc %#x duplicate or off its session's shard %d", p.SSRC, s.Shard)
			}
			ssrcs[p.SSRC] = true
		}
	}
	if st.State != StateFull || st.Accepting {
		t.Fatalf("state %s accepting %v", st.State, st.Accepting)
	}
}

func TestAPIErrors(t *testing.T) {
	m, _ := startManager(t, Config{Limits: Limits{MaxSessionParticipants: 2}}, 1)
	ctx := context.Background()
	admit(t, m, "s", "a")
	cases := []struct {
		err  error
		want error
	}{
		{ret(m.Admit(ctx, "bad id!", AdmitRequest{})), ErrInvalid},
		{ret(m.Admit(ctx, "s", AdmitRequest{ParticipantID: "a"})), ErrParticipantExists},
		{ret(m.Admit(ctx, "s", AdmitRequest{ParticipantID: string(make([]byte, 65))})), ErrInvalid},
		{ret(m.Session(ctx, "nope")), ErrSessionNotFound},
		{m.DeleteSession(ctx, "nope"), ErrSessionNotFound},
		{m.RemoveParticipant(ctx, "s", "zz"), ErrParticipantNotFound},
		{m.RemoveParticipant(ctx, "zz", "a"), ErrSessionNotFound},
		{ret3(m.PutSession(ctx, "s", SessionOptions{MaxParticipants: 3})), ErrInvalid},
		{ret3(m.PutSession(ctx, "t", SessionOptions{MaxParticipants: 1})), ErrInvalid},
	}
	for i, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("case %d: got %v, want %v", i, c.err, c.want)
		}
	}
	admit(t, m, "s", "b")
	if _, err := m.Admit(ctx, "s", AdmitRequest{}); !errors.Is(err, ErrSessionFull) {
		t.Fatalf("third member: %v", err)
	}
	if _, created, err := m.PutSession(ctx, "s", SessionOptions{}); err != nil || created {
		t.Fatalf("PUT existing same options: created=%v %v", created, err)
	}
	gcm := api.ProfileAEADAES128GCM
	if _, _, err := m.PutSession(ctx, "s", SessionOptions{Profile: &gcm}); !errors.Is(err, ErrSessionConflict) {
		t.Fatalf("PUT existing other options: %v", err)
	}
	m.StopAccepting("maintenance")
	if _, err := m.Admit(ctx, "new", AdmitRequest{}); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("admit while stopped: %v", err)
	}
	if st := m.Status(); st.State != StateStopped || st.Accepting {
		t.Fatalf("state %s", st.State)
	}
	m.ResumeAccepting()
	if err := m.DeleteSession(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.Sessions != 0 || st.Participants != 0 || !st.Accepting {
		t.Fatalf("after delete: %+v", st)
	}
}

func ret[T any](_ T, err error) error          { return err }
func ret3[T any](_ T, _ bool, err error) error { return err }

func TestGCMParticipantsInterop(t *testing.T) {
	// A GCM sender and an AES-CM listener in one session: the server
	// decrypts with one profile and encrypts with the other.
	m, _ := startManager(t, Config{}, 1)
	gcm := api.ProfileAEADAES128GCM
	admG, err := m.Admit(context.Background(), "mix", AdmitRequest{ParticipantID: "g", Profile: &gcm})
	if err != nil {
		t.Fatal(err)
	}
	g := newRawClient(t, admG)
	c := newRawClient(t, admit(t, m, "mix", "c"))
	if c.adm.SRTP.Profile == gcm || g.adm.SRTP.Profile != gcm {
		t.Fatal("profiles not as asked")
	}
	c.send(nil)
	g.send(nil)
	waitFor(t, "latched", func() bool { return m.Status().Totals.RxPackets >= 2 })
	drain([]*rawClient{c, g})
	plain := g.send([]byte("gcm to cm"))
	if got := c.recvRTP(2 * time.Second); string(got) != string(plain) {
		t.Fatal("cross-profile forward failed")
	}
	plain = c.send([]byte("cm to gcm"))
	if got := g.recvRTP(2 * time.Second); string(got) != string(plain) {
		t.Fatal("cross-profile forward failed")
	}
	_ = binary.BigEndian
}

func TestSendControlReachesOneParticipant(t *testing.T) {
	m, _ := startManager(t, Config{}, 2)
	a := newRawClient(t, admit(t, m, "s", "a"))
	b := newRawClient(t, admit(t, m, "s", "b"))
	notice := func(dst []byte, serverSSRC uint32) []byte {
		return media.AppendReconnectNotice(dst, media.ReconnectNotice{SSRC: serverSSRC, Reason: media.ReconnectDrain, WindowMS: 5000})
	}
	// Before its first packet a participant has no address to send to.
	if sent, err := m.SendControl(context.Background(), "s", "a", notice); err != nil || sent {
		t.Fatalf("unlatched: sent=%v err=%v", sent, err)
	}
	a.send(nil)
	b.send(nil)
	waitFor(t, "latched", func() bool { return m.Status().Totals.RxPackets >= 2 })
	drain([]*rawClient{a, b})
	if sent, err := m.SendControl(context.Background(), "s", "a", notice); err != nil || !sent {
		t.Fatalf("sent=%v err=%v", sent, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, rtcp, err := a.recv(time.Until(deadline))
		if err != nil {
			t.Fatalf("no notice: %v", err)
		}
		if rtcp == nil {
			continue
		}
		n, err := media.ParseReconnectNotice(rtcp)
		if err != nil {
			continue // a receiver report
		}
		if n.SSRC != a.adm.ServerSSRC || n.Reason != media.ReconnectDrain || n.WindowMS != 5000 {
			t.Fatalf("notice %+v", n)
		}
		break
	}
	// Only a got it.
	if _, rtcp, err := b.recv(50 * time.Millisecond); err == nil && rtcp != nil {
		if _, err := media.ParseReconnectNotice(rtcp); err == nil {
			t.Fatal("b received a's notice")
		}
	}
	if _, err := m.SendControl(context.Background(), "s", "nobody", notice); !errors.Is(err, ErrParticipantNotFound) {
		t.Fatalf("unknown participant: %v", err)
	}
}

// A session made by PUT stays until deleted or until it has been empty for
// its empty timeout (its own, or the pod default); one made by an
// admission ends with its last member; an admission never changes an
// existing session's options.
func TestPutSessionLifetime(t *testing.T) {
	m, _ := startManager(t, Config{JoinTimeout: 30 * time.Second}, 1)
	ctx := context.Background()
	created := netio.Now()
	if _, created, err := m.PutSession(ctx, "empty", SessionOptions{EmptyTimeout: Duration(10 * time.Second)}); err != nil || !created {
		t.Fatalf("created=%v %v", created, err)
	}
	info, _, err := m.PutSession(ctx, "joined", SessionOptions{})
	if err != nil || time.Duration(info.EmptyTimeout) != DefaultEmptyTimeout {
		t.Fatalf("PUT: %+v %v", info, err)
	}
	admit(t, m, "joined", "a")
	m.janitor(created + int64(9*time.Second))
	if st := m.Status(); st.Sessions != 2 {
		t.Fatalf("janitor ended a fresh session: %d sessions", st.Sessions)
	}
	m.janitor(netio.Now() + int64(11*time.Second))
	if _, err := m.Session(ctx, "empty"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("empty session kept past its empty timeout: %v", err)
	}
	if _, err := m.Session(ctx, "joined"); err != nil {
		t.Fatalf("session with a member ended: %v", err)
	}
	// Its last member gone, a PUT session stays for its empty timeout.
	if err := m.RemoveParticipant(ctx, "joined", "a"); err != nil {
		t.Fatal(err)
	}
	left := netio.Now()
	m.janitor(left + int64(DefaultEmptyTimeout) - int64(time.Second))
	if _, err := m.Session(ctx, "joined"); err != nil {
		t.Fatalf("PUT session ended before its empty timeout: %v", err)
	}
	m.janitor(netio.Now() + int64(DefaultEmptyTimeout) + int64(time.Second))
	if _, err := m.Session(ctx, "joined"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("PUT session kept past its empty timeout: %v", err)
	}
	if st := m.Status(); st.ExpiredSessions != 2 || st.Totals.Removed[ReasonRemoved] != 1 {
		t.Fatalf("expired %d, removed %+v", st.ExpiredSessions, st.Totals.Removed)
	}

	// An admission's session ends with its last member.
	admit(t, m, "implicit", "a")
	if err := m.RemoveParticipant(ctx, "implicit", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Session(ctx, "implicit"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("an admission's session outlived its last member: %v", err)
	}

	// Options: an admission naming other options than the session's is a
	// conflict; the same options (or none) join.
	if _, _, err := m.PutSession(ctx, "opts", SessionOptions{MaxParticipants: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Admit(ctx, "opts", AdmitRequest{ParticipantID: "x", Session: &SessionOptions{MaxParticipants: 8}}); !errors.Is(err, ErrSessionConflict) {
		t.Fatalf("admission with other options: %v", err)
	}
	if _, err := m.Admit(ctx, "opts", AdmitRequest{ParticipantID: "x", Session: &SessionOptions{MaxParticipants: 4}}); err != nil {
		t.Fatalf("admission with the same options: %v", err)
	}
	if _, err := m.Admit(ctx, "opts", AdmitRequest{ParticipantID: "y"}); err != nil {
		t.Fatalf("admission without options: %v", err)
	}
	for _, d := range []time.Duration{time.Millisecond, 25 * time.Hour} {
		if _, _, err := m.PutSession(ctx, "bad", SessionOptions{EmptyTimeout: Duration(d)}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty_timeout %v: %v", d, err)
		}
	}
}
