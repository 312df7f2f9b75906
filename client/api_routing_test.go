package client

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/admin"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/netio"
	"github.com/voxfleet/vox/sessionmgr"
)

// TestAPIRoutingEndToEnd drives mutes and channels through the API methods
// against a real admin plane and session manager, with real participants.
func TestAPIRoutingEndToEnd(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	m, err := sessionmgr.New(sessionmgr.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 1}, m.NewHandler, netio.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := m.Start(srv); err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(admin.Config{Token: testToken, Logger: quiet}, m)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(adm.Handler())
	defer hs.Close()
	a, err := NewAPI(hs.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	names := []string{"alice", "bob", "carol"}
	var mu sync.Mutex
	got := map[string]map[uint32][]uint16{} // listener → sender → seqs
	var bobHearsAlice []uint16              // the whole run
	ps := map[string]*Participant{}
	ads := map[string]api.Admission{}
	for _, n := range names {
		ad, err := a.Admit(ctx, "game", api.AdmitRequest{ParticipantID: n})
		if err != nil {
			t.Fatal(err)
		}
		ads[n] = ad
		got[n] = map[uint32][]uint16{}
	}
	aliceSSRC := ads["alice"].SSRC
	for _, n := range names {
		p, err := Join(ctx, ads[n], Options{OnRTP: func(pk *Packet) {
			mu.Lock()
			got[n][pk.Header.SSRC] = append(got[n][pk.Header.SSRC], pk.Header.SequenceNumber)
			if n == "bob" && pk.Header.SSRC == aliceSSRC {
				bobHearsAlice = append(bobHearsAlice, pk.Header.SequenceNumber)
			}
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ps[n] = p
	}
	for _, n := range names { // latch everybody's address
		ps[n].SendRTCP()
	}
	time.Sleep(20 * time.Millisecond)
	// Everybody talks (no level: always selected) for a while.
	talk := func() {
		t.Helper()
		for range 20 {
			for _, n := range names {
				if err := ps[n].Send(make([]byte, 40)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // the last packets arrive
	}
	heard := func() map[string][]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][]string{}
		for _, l := range names {
			for _, s := range names {
				if len(got[l][ps[s].SSRC()]) > 0 {
					out[l] = append(out[l], s)
				}
			}
			got[l] = map[uint32][]uint16{}
		}
		return out
	}
	expect := func(what string, want map[string][]string) {
		t.Helper()
		h := heard()
		for _, l := range names {
			if len(h[l]) != len(want[l]) {
				t.Errorf("%s: %s heard %v, want %v", what, l, h[l], want[l])
				continue
			}
			for i := range h[l] {
				if h[l][i] != want[l][i] {
					t.Errorf("%s: %s heard %v, want %v", what, l, h[l], want[l])
				}
			}
		}
	}
	talk()
	expect("all global", map[string][]string{"alice": {"bob", "carol"}, "bob": {"alice", "carol"}, "carol": {"alice", "bob"}})

	if pi, err := a.SetChannel(ctx, "game", "bob", "red"); err != nil || pi.Channel != "red" {
		t.Fatalf("SetChannel: %+v %v", pi, err)
	}
	if _, err := a.SetChannel(ctx, "game", "carol", "blue"); err != nil {
		t.Fatal(err)
	}
	talk()
	expect("teams", map[string][]string{"alice": {"bob", "carol"}, "bob": {"alice"}, "carol": {"alice"}})

	if pi, err := a.SetMuted(ctx, "game", "alice", true); err != nil || !pi.Muted {
		t.Fatalf("SetMuted: %+v %v", pi, err)
	}
	talk()
	expect("alice muted", map[string][]string{"alice": {"bob", "carol"}})
	if _, err := a.SetMuted(ctx, "game", "alice", false); err != nil {
		t.Fatal(err)
	}
	if pi, err := a.SetMutes(ctx, "game", "alice", api.MuteList{Participants: []string{"carol"}}); err != nil || len(pi.Mutes.Participants) != 1 {
		t.Fatalf("SetMutes: %+v %v", pi, err)
	}
	talk()
	expect("alice's own mutes", map[string][]string{"alice": {"bob"}, "bob": {"alice"}, "carol": {"alice"}})

	if _, err := a.SetMuted(ctx, "game", "nobody", true); !isNotFound(err) {
		t.Errorf("unknown participant: %v", err)
	}
	if _, err := a.SetChannel(ctx, "game", "bob", "bad channel"); err == nil {
		t.Error("a bad channel name was taken")
	}

	// Bob's view of alice's stream stayed contiguous over her muted
	// stretch (sequence numbers rewritten, no gap; loopback loses nothing).
	mu.Lock()
	defer mu.Unlock()
	if len(bobHearsAlice) != 3*20 {
		t.Fatalf("bob got %d of alice's packets, want 60", len(bobHearsAlice))
	}
	for i := 1; i < len(bobHearsAlice); i++ {
		if bobHearsAlice[i] != bobHearsAlice[i-1]+1 {
			t.Fatalf("bob's view of alice: seq %d after %d", bobHearsAlice[i], bobHearsAlice[i-1])
		}
	}
}

func isNotFound(err error) bool {
	ae, ok := err.(*APIError)
	return ok && ae.Status == 404
}
