package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/media"
	"github.com/voxfleet/vox/sessionmgr"
)

// startVoxd runs a whole voxd in-process on loopback ports and returns its
// servers and an API client; it stops at the end of the test.
func startVoxd(t *testing.T, extraEnv map[string]string) (servers, *client.API) {
	t.Helper()
	env := map[string]string{"VOX_UDP_ADDR": "127.0.0.1:0", "VOX_SHARDS": "2", "VOX_ADMIN_ADDR": "127.0.0.1:0",
		"VOX_ADMIN_TOKEN": "e2e-token", "VOX_LOG_FORMAT": "json"}
	for k, v := range extraEnv {
		env[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan servers, 1)
	done := make(chan int, 1)
	logs := &syncBuffer{}
	go func() { done <- run(ctx, nil, lookup, logs, ready) }()
	var s servers
	select {
	case s = <-ready:
	case code := <-done:
		t.Fatalf("voxd exited %d:\n%s", code, logs.String())
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("voxd exit %d:\n%s", code, logs.String())
		}
	})
	api, err := client.NewAPI("http://"+s.admin.Addr(), "e2e-token")
	if err != nil {
		t.Fatal(err)
	}
	return s, api
}

// member is one game client of the test with what it received.
type member struct {
	session int
	idx     int
	p       *client.Participant

	mu   sync.Mutex
	got  map[string]int // payload -> times received
	from map[uint32]int // sender SSRC -> packets
}

func (m *member) onRTP(pk *client.Packet) {
	m.mu.Lock()
	m.got[string(pk.Payload)]++
	m.from[pk.Header.SSRC]++
	m.mu.Unlock()
}

func (m *member) count(payload string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got[payload]
}

func TestEndToEndSessions(t *testing.T) {
	s, api := startVoxd(t, nil)
	ctx := context.Background()
	const sessions, size, frames = 3, 4, 25

	var members []*member
	for si := range sessions {
		for i := range size {
			adm, err := api.Admit(ctx, fmt.Sprintf("room-%d", si), sessionmgr.AdmitRequest{ParticipantID: fmt.Sprintf("p%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			m := &member{session: si, idx: i, got: map[string]int{}, from: map[uint32]int{}}
			if m.p, err = client.Join(ctx, adm, client.Options{OnRTP: m.onRTP}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.p.Close() })
			members = append(members, m)
		}
	}
	// Each client's first packet latches its address.
	for _, m := range members {
		if err := m.p.SendRTCP(); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every address latched", func() bool {
		for si := range sessions {
			info, err := api.Session(ctx, fmt.Sprintf("room-%d", si))
			if err != nil {
				return false
			}
			for _, p := range info.Participants {
				if p.Address == "" {
					return false
				}
			}
		}
		return true
	})

	payload := func(m *member, n int) string { return fmt.Sprintf("room-%d/p%d/frame-%03d", m.session, m.idx, n) }
	for n := range frames {
		if n == frames/2 {
			// NAT rebinding in the middle of the stream. What is still
			// queued on the old socket is lost with it, so let member 1
			// read everything sent so far first.
			waitUntil(t, "member 1 caught up", func() bool {
				for _, tx := range members[:size] {
					for k := range n {
						if tx != members[1] && members[1].count(payload(tx, k)) < 1 {
							return false
						}
					}
				}
				return true
			})
			if err := members[1].p.Rebind(); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range members {
			if err := m.p.Send([]byte(payload(m, n))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}

	// Every member hears every packet of every other member of its session,
	// byte-identical, exactly once, and nothing of other sessions.
	waitUntil(t, "all packets delivered", func() bool {
		for _, rx := range members {
			for _, tx := range members {
				if tx.session != rx.session || tx == rx {
					continue
				}
				for n := range frames {
					if rx.count(payload(tx, n)) < 1 {
						// The rebinding member misses what was sent to its old
						// port before its first packet from the new one.
						if rx == members[1] && n == frames/2 {
							continue
						}
						return false
					}
				}
			}
		}
		return true
	})
	for _, rx := range members {
		rx.mu.Lock()
		for pl, c := range rx.got {
			if !strings.HasPrefix(pl, fmt.Sprintf("room-%d/", rx.session)) || strings.HasPrefix(pl, fmt.Sprintf("room-%d/p%d/", rx.session, rx.idx)) || c != 1 {
				t.Errorf("room-%d/p%d received %q %d times", rx.session, rx.idx, pl, c)
			}
		}
		rx.mu.Unlock()
	}
	st := s.sessions.Status()
	if st.Totals.Rebinds != 1 || st.Sessions != sessions || st.Participants != sessions*size {
		t.Fatalf("status: rebinds %d sessions %d participants %d", st.Totals.Rebinds, st.Sessions, st.Participants)
	}
	if st.Totals.DropAuth+st.Totals.DropReplay+st.Totals.DropUnknownSSRC+st.Totals.DropMalformed != 0 {
		t.Fatalf("drops in a clean run: %+v", st.Totals)
	}
}

func TestEndToEndAttacksMoveNothing(t *testing.T) {
	s, api := startVoxd(t, nil)
	ctx := context.Background()
	var victims [2]*member
	for i := range victims {
		adm, err := api.Admit(ctx, "room", sessionmgr.AdmitRequest{ParticipantID: fmt.Sprintf("v%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		m := &member{idx: i, got: map[string]int{}, from: map[uint32]int{}}
		if m.p, err = client.Join(ctx, adm, client.Options{OnRTP: m.onRTP}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.p.Close() })
		victims[i] = m
		if err := m.p.Send([]byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "latched", func() bool { return s.sessions.Status().Totals.RxPackets >= 2 })
	a := victims[0]
	before, _ := api.Session(ctx, "room")

	// 1. A replay of a's last packet (same SSRC, key and sequence number),
	// made independently and sent from another address
	// (first: the forgeries below use up the probe budget of unlatched addresses).
	seq, ts := a.p.NextRTP()
	out, _, _ := client.SRTPContexts(a.p.Admission().SRTP)
	plain := media.AppendRTPHeader(nil, media.RTPFields{PayloadType: 111, SequenceNumber: seq - 1, Timestamp: ts - 960, SSRC: a.p.SSRC()})
	replay, _ := out.EncryptRTP(nil, append(plain, "hello"...))
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.udp.LocalAddr().Port())
	raw.WriteToUDPAddrPort(replay, to)

	// 2. A client with the right SSRC but a wrong key, from its own address.
	bad := a.p.Admission()
	bad.SRTP.ClientToServer.Key = append([]byte(nil), bad.SRTP.ClientToServer.Key...)
	bad.SRTP.ClientToServer.Key[0] ^= 0xFF
	rogue, err := client.Join(ctx, bad, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	const forged = 30
	for range forged {
		rogue.Send([]byte("hijack"))
	}
	waitUntil(t, "drops counted", func() bool {
		c := s.sessions.Status().Totals
		// A forgery whose random sequence number falls far behind the
		// stream is rejected by the replay window before authentication:
		// either way it is dropped, counted and moves nothing.
		return c.DropAuth+c.DropReplay+c.DropRateLimit == forged+1 && c.DropReplay >= 1
	})
	after, _ := api.Session(ctx, "room")
	if after.Participants[0].Address != before.Participants[0].Address || after.Participants[0].Stats.PacketsIn != 1 {
		t.Fatalf("attack moved state: before %+v after %+v", before.Participants[0], after.Participants[0])
	}
	time.Sleep(50 * time.Millisecond)
	if victims[1].count("hijack") != 0 || victims[1].count("hello") != 0 {
		t.Fatal("forged or replayed packet forwarded")
	}
	// The genuine client still gets through.
	a.p.Send([]byte("still here"))
	waitUntil(t, "genuine packet", func() bool { return victims[1].count("still here") == 1 })
}

func TestEndToEndAdminErrors(t *testing.T) {
	_, api := startVoxd(t, map[string]string{"VOX_MAX_SESSION_PARTICIPANTS": "2", "VOX_MAX_SESSIONS": "1"})
	ctx := context.Background()
	if _, err := api.Admit(ctx, "r", sessionmgr.AdmitRequest{ParticipantID: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := api.Admit(ctx, "r", sessionmgr.AdmitRequest{ParticipantID: "a"})
	if !errors.Is(err, sessionmgr.ErrParticipantExists) {
		t.Fatalf("duplicate: %v", err)
	}
	api.Admit(ctx, "r", sessionmgr.AdmitRequest{})
	if _, err = api.Admit(ctx, "r", sessionmgr.AdmitRequest{}); !errors.Is(err, sessionmgr.ErrSessionFull) {
		t.Fatalf("full session: %v", err)
	}
	_, err = api.Admit(ctx, "other", sessionmgr.AdmitRequest{})
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.RetryAfter <= 0 || !errors.Is(err, sessionmgr.ErrNotAccepting) {
		t.Fatalf("pod full: %v", err)
	}
	if err := api.RemoveParticipant(ctx, "r", "a"); err != nil {
		t.Fatal(err)
	}
	if err := api.DeleteSession(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Session(ctx, "r"); !errors.Is(err, sessionmgr.ErrSessionNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
