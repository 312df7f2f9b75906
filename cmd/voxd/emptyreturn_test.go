package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/sessionmgr"
)

// converse admits two members to room (retrying a 503 not_accepting, as a
// routing service would, and an admission with the media address from
// before the watch gave the one of withAddress), checks that voice flows
// between them, and returns them.
func converse(t *testing.T, s servers, api *client.API, room, payload string) [2]*client.Participant {
	t.Helper()
	ctx := context.Background()
	got := make(chan string, 16)
	var ps [2]*client.Participant
	for i := range ps {
		var adm sessionmgr.Admission
		waitUntil(t, "an admission", func() bool {
			var err error
			adm, err = api.Admit(ctx, room, sessionmgr.AdmitRequest{ParticipantID: fmt.Sprint("m", i)})
			if errors.Is(err, sessionmgr.ErrNotAccepting) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			if adm.Media.Port != int(s.udp.LocalAddr().Port()) {
				if err := api.RemoveParticipant(ctx, room, adm.ParticipantID); err != nil {
					t.Fatal(err)
				}
				return false
			}
			return true
		})
		p, err := client.Join(ctx, adm, client.Options{OnRTP: func(pk *client.Packet) { got <- string(pk.Payload) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		ps[i] = p
	}
	rtcp := s.sessions.Status().Totals.RTCPIn
	for _, p := range ps {
		if err := p.SendRTCP(); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "latched", func() bool { return s.sessions.Status().Totals.RTCPIn >= rtcp+2 })
	if err := ps[0].Send([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	select {
	case pl := <-got:
		if pl != payload {
			t.Fatalf("got %q, want %q", pl, payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no voice in %s", room)
	}
	return ps
}

// withAddress gives the GameServer voxd's real media address (the double's
// default port is not voxd's).
func withAddress(sc *agonestest.Sidecar, s servers) {
	sc.SetAddress("127.0.0.1", []agones.Port{{Name: "media", Port: int32(s.udp.LocalAddr().Port())}})
}

func leave(t *testing.T, s servers, ps [2]*client.Participant) {
	t.Helper()
	for _, p := range ps {
		if err := p.Leave(); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "empty", func() bool { st := s.sessions.Status(); return st.Sessions == 0 && st.Participants == 0 })
}

// acceptingWrites lists the values written to the vox-accepting label, in
// order.
func acceptingWrites(sc *agonestest.Sidecar) []string {
	var vs []string
	for _, c := range sc.CallsTo("PUT", "/metadata/label") {
		if b := string(c.Body); strings.Contains(b, `"key":"`+agones.LabelAccepting+`"`) {
			vs = append(vs, b[strings.LastIndex(b, ":")+2:len(b)-2])
		}
	}
	return vs
}

func metricsText(t *testing.T, s servers) string {
	t.Helper()
	resp, err := http.Get("http://" + s.admin.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A pod takes sessions, empties, goes back to Ready after --empty-return,
// is allocated again and serves again.
func TestEmptyReturnToReadyEndToEnd(t *testing.T) {
	sc := agonestest.NewSidecar()
	defer sc.Close()
	sc.DeclareCounter("sessions", 0, 50)
	s, api, logs, done, cancel := runVoxd(t, map[string]string{"VOX_AGONES": "on", "AGONES_SDK_HTTP_PORT": sc.Port(),
		"VOX_MAX_SESSIONS": "50", "VOX_EMPTY_RETURN": "200ms", "VOX_EMPTY_SETTLE": "150ms"})
	withAddress(sc, s) // before the watch starts, after Ready
	waitUntil(t, "Ready", func() bool { return sc.State() == agones.StateReady })
	// Idle and Ready: nothing to give back.
	time.Sleep(500 * time.Millisecond)
	if n := len(sc.CallsTo("POST", "/ready")); n != 1 || strings.Contains(logs.String(), "admission held") {
		t.Fatalf("a Ready pod was handed over (%d Ready calls):\n%s", n, logs.String())
	}

	ps := converse(t, s, api, "room-1", "first call")
	waitUntil(t, "self-allocated", func() bool { return sc.State() == agones.StateAllocated })
	leave(t, s, ps)
	waitUntil(t, "back to Ready", func() bool { return sc.State() == agones.StateReady })
	if n := len(sc.CallsTo("POST", "/ready")); n != 2 {
		t.Fatalf("%d Ready calls, want 2", n)
	}
	waitUntil(t, "accepting again", func() bool {
		w := acceptingWrites(sc)
		return len(w) > 0 && w[len(w)-1] == "true" && s.sessions.Status().Accepting
	})
	// false during the hold (a loaded test machine may add a CPU-full
	// false and true before).
	if w := acceptingWrites(sc); len(w) < 3 || w[len(w)-2] != "false" {
		t.Fatalf("vox-accepting writes %v, want ..., false, true", w)
	}
	if m := metricsText(t, s); !strings.Contains(m, `vox_empty_returns_total{outcome="ready"} 1`) ||
		!strings.Contains(m, "vox_empty_holds_total 1") {
		t.Fatalf("metrics:\n%s", m)
	}

	// Allocated again, by the allocator this time: it serves again, then
	// goes back again once empty.
	if !sc.MarkAllocated() {
		t.Fatal("cannot allocate")
	}
	ps = converse(t, s, api, "room-2", "second call")
	waitUntil(t, "Allocated", func() bool { return sc.State() == agones.StateAllocated })
	leave(t, s, ps)
	waitUntil(t, "back to Ready again", func() bool { return sc.State() == agones.StateReady })
	waitUntil(t, "accepting again", func() bool { return s.sessions.Status().Accepting })

	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d:\n%s", code, logs.String())
	}
	if n := strings.Count(logs.String(), "GameServer back to Ready"); n < 2 {
		t.Fatalf("%d returns logged:\n%s", n, logs.String())
	}
}

// With --empty-action shutdown an emptied pod ends as after a drain:
// Shutdown on the sidecar, exit 0.
func TestEmptyShutdownEndToEnd(t *testing.T) {
	sc := agonestest.NewSidecar()
	defer sc.Close()
	s, api, logs, done, _ := runVoxd(t, map[string]string{"VOX_AGONES": "on", "AGONES_SDK_HTTP_PORT": sc.Port(),
		"VOX_EMPTY_RETURN": "200ms", "VOX_EMPTY_SETTLE": "150ms", "VOX_EMPTY_ACTION": "shutdown"})
	withAddress(sc, s)
	waitUntil(t, "Ready", func() bool { return sc.State() == agones.StateReady })
	ps := converse(t, s, api, "room", "the only call")
	waitUntil(t, "self-allocated", func() bool { return sc.State() == agones.StateAllocated })
	if len(sc.CallsTo("POST", "/shutdown")) != 0 {
		t.Fatal("Shutdown while busy")
	}
	leave(t, s, ps)
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("voxd did not exit once empty:\n%s", logs.String())
	}
	if len(sc.CallsTo("POST", "/shutdown")) != 1 || sc.State() != agones.StateShutdown ||
		len(sc.CallsTo("POST", "/ready")) != 1 {
		t.Fatalf("shutdown %d, state %s, ready %d", len(sc.CallsTo("POST", "/shutdown")), sc.State(),
			len(sc.CallsTo("POST", "/ready")))
	}
	if !strings.Contains(logs.String(), `"cause":"empty for 200ms (empty action shutdown)"`) {
		t.Fatalf("no cause logged:\n%s", logs.String())
	}
}
