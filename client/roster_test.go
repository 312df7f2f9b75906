package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

// rosterPacket is the server's roster compound: an empty RR from the
// server SSRC, then an SDES with one chunk per (ssrc, cname, name).
func rosterPacket(chunks ...struct {
	ssrc        uint32
	cname, name string
}) []byte {
	b, _ := media.AppendReceiverReport(nil, testServerSSRC)
	b, start := media.BeginSDES(b)
	for _, c := range chunks {
		b = media.AppendSDESChunk(b, c.ssrc, c.cname, c.name)
	}
	return media.EndSDES(b, start, len(chunks))
}

type chunk = struct {
	ssrc        uint32
	cname, name string
}

// TestRoster: the participant learns the roster from authenticated SDES
// (participant ids, display names, the mix), forgets an SSRC on BYE, and
// ignores a forged SDES (other keys) and a tampered one.
func TestRoster(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	p := join(t, s, Options{})
	if err := p.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	s.recvRTP()
	s.sendRTCP(s.out, rosterPacket(chunk{0xA1, "alice", "Alice ✓"}, chunk{0xB2, "bob", ""}, chunk{testServerSSRC, "mix:s1", "mix"}))
	waitFor(t, "roster", func() bool { return len(p.Roster()) == 3 })
	if sp, _ := p.Speaker(0xA1); sp != (Speaker{ParticipantID: "alice", Name: "Alice ✓"}) {
		t.Errorf("0xA1: %+v", sp)
	}
	if sp, _ := p.Speaker(0xB2); sp != (Speaker{ParticipantID: "bob"}) {
		t.Errorf("0xB2: %+v", sp)
	}
	if sp, _ := p.Speaker(testServerSSRC); !sp.Mix {
		t.Errorf("mix: %+v", sp)
	}

	// Forged (another key) and tampered: ignored.
	keys, _ := media.GenerateSessionKeys(media.DefaultProfile)
	other, _ := media.NewOutbound(media.DefaultProfile, keys.ServerToClient)
	before := p.Stats().RejectedRTCP
	s.sendRTCP(other, rosterPacket(chunk{0xA1, "mallory", ""}))
	wire, _ := s.out.EncryptRTCP(nil, rosterPacket(chunk{0xB2, "mallory", ""}))
	wire[len(wire)-1] ^= 1
	s.write(wire)
	waitFor(t, "forgeries dropped", func() bool { return p.Stats().RejectedRTCP == before+2 })
	if sp, _ := p.Speaker(0xA1); sp.ParticipantID != "alice" {
		t.Errorf("a forged SDES changed the roster: %+v", sp)
	}

	// BYE for alice.
	b, _ := media.AppendReceiverReport(nil, testServerSSRC)
	b, _ = media.AppendBye(b, 0xA1)
	s.sendRTCP(s.out, b)
	waitFor(t, "bye", func() bool { return p.RosterByes() == 1 })
	if _, ok := p.Speaker(0xA1); ok {
		t.Error("alice still in the roster after her BYE")
	}
	if len(p.Roster()) != 2 {
		t.Errorf("roster %v", p.Roster())
	}
}

// TestFinalNoticesDoNotMove: with Readmit set, a notice with reason removed
// or session closed reaches OnReconnect but starts no move.
func TestFinalNoticesDoNotMove(t *testing.T) {
	s := newFakeServer(t, media.DefaultProfile)
	notices := make(chan media.ReconnectNotice, 4)
	readmits := make(chan struct{}, 4)
	p := join(t, s, Options{
		OnReconnect: func(n media.ReconnectNotice) { notices <- n },
		Readmit: func(context.Context, api.Admission, media.ReconnectNotice) (api.Admission, error) {
			readmits <- struct{}{}
			return api.Admission{}, errors.New("no")
		},
	})
	if err := p.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	s.recvRTP()
	for _, r := range []media.ReconnectReason{media.ReconnectRemoved, media.ReconnectSessionClosed} {
		s.sendRTCP(s.out, media.AppendReconnectNotice(nil, media.ReconnectNotice{SSRC: testServerSSRC, Reason: r}))
		select {
		case n := <-notices:
			if n.Reason != r {
				t.Fatalf("notice %+v", n)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("reason %v: no OnReconnect", r)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if len(readmits) != 0 || p.Moving() {
		t.Fatal("a final notice started a move")
	}
}
