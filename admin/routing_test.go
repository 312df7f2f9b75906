package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/netio"
	"github.com/voxfleet/vox/sessionmgr"
)

// realServer is the admin plane over a real session manager.
func realServer(t *testing.T) (*testServer, *sessionmgr.Manager) {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	m, err := sessionmgr.New(sessionmgr.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := netio.Listen(netio.Config{Addr: "127.0.0.1:0", Shards: 1, TickInterval: time.Millisecond},
		m.NewHandler, netio.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := m.Start(srv); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Token: testToken, Logger: quiet}, m)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: s}, m
}

func TestRoutingEndpoints(t *testing.T) {
	ts, m := realServer(t)
	ctx := context.Background()
	if resp := ts.do(t, request{method: "PUT", path: "/v1/sessions/game", body: `{"max_speakers":2}`}); resp.status != 201 {
		t.Fatalf("put session: %d %s", resp.status, resp.body)
	}
	for _, id := range []string{"alice", "bob", "carol"} {
		if _, err := m.Admit(ctx, "game", sessionmgr.AdmitRequest{ParticipantID: id}); err != nil {
			t.Fatal(err)
		}
	}
	base := "/v1/sessions/game/participants/"
	participant := func(resp response) sessionmgr.ParticipantInfo {
		t.Helper()
		if resp.status != 200 {
			t.Fatalf("%d %s", resp.status, resp.body)
		}
		var p sessionmgr.ParticipantInfo
		if err := json.Unmarshal(resp.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := participant(ts.do(t, request{method: "GET", path: base + "alice"}))
	if p.Muted || p.Channel != "global" || len(p.Mutes.Participants) != 0 {
		t.Errorf("defaults: %+v", p)
	}
	if p := participant(ts.do(t, request{method: "PUT", path: base + "alice/mute", body: `{"muted":true}`})); !p.Muted {
		t.Errorf("mute: %+v", p)
	}
	if p := participant(ts.do(t, request{method: "PUT", path: base + "alice/mute", body: `{"muted":false}`})); p.Muted {
		t.Errorf("unmute: %+v", p)
	}
	p = participant(ts.do(t, request{method: "PUT", path: base + "bob/mutes", body: `{"participants":["carol","later"],"ssrcs":[7]}`}))
	if !slices.Equal(p.Mutes.Participants, []string{"carol", "later"}) || !slices.Equal(p.Mutes.SSRCs, []uint32{7}) {
		t.Errorf("mutes: %+v", p.Mutes)
	}
	if p := participant(ts.do(t, request{method: "PUT", path: base + "carol/channel", body: `{"channel":"red"}`})); p.Channel != "red" {
		t.Errorf("channel: %+v", p)
	}
	if p := participant(ts.do(t, request{method: "PUT", path: base + "carol/channel", body: `{"channel":"global"}`})); p.Channel != "global" {
		t.Errorf("channel back: %+v", p)
	}
	resp := ts.do(t, request{method: "GET", path: "/v1/sessions/game"})
	var info sessionmgr.SessionInfo
	if err := json.Unmarshal(resp.body, &info); err != nil || info.MaxSpeakers != 2 {
		t.Errorf("session: %v %s", err, resp.body)
	}

	if resp := ts.do(t, request{method: "GET", path: "/metrics"}); !strings.Contains(string(resp.body), "\nvox_withheld_packets_total 0\n") {
		t.Errorf("metrics lack vox_withheld_packets_total")
	}
	if resp := ts.do(t, request{method: "GET", path: "/metrics"}); !strings.Contains(string(resp.body), "\nvox_mixed_packets_total 0\n") {
		t.Errorf("metrics lack vox_mixed_packets_total")
	}

	for _, c := range []struct {
		rq     request
		status int
		code   string
	}{
		{request{method: "PUT", path: "/v1/sessions/nope/participants/alice/mute", body: `{"muted":true}`}, 404, CodeSessionNotFound},
		{request{method: "PUT", path: base + "dave/mute", body: `{"muted":true}`}, 404, CodeParticipantNotFound},
		{request{method: "PUT", path: base + "dave/channel", body: `{"channel":"red"}`}, 404, CodeParticipantNotFound},
		{request{method: "PUT", path: base + "alice/mute", body: `{}`}, 400, CodeInvalidRequest},
		{request{method: "PUT", path: base + "alice/mute", body: `{"muted":"yes"}`}, 400, CodeInvalidRequest},
		{request{method: "PUT", path: base + "alice/mute"}, 400, ""},
		{request{method: "PUT", path: base + "alice/channel", body: `{}`}, 400, CodeInvalidRequest},
		{request{method: "PUT", path: base + "alice/channel", body: `{"channel":"r d"}`}, 400, CodeInvalidID},
		{request{method: "PUT", path: base + "alice/mutes", body: `{"participants":["no/pe"]}`}, 400, CodeInvalidID},
		{request{method: "PUT", path: base + "alice/mutes", body: `{"ssrcs":[-1]}`}, 400, CodeInvalidRequest},
		{request{method: "PUT", path: base + "alice/mutes", body: `{"who":[]}`}, 400, CodeUnknownField},
		{request{method: "GET", path: base + "alice/mute"}, 405, CodeMethodNotAllowed},
		{request{method: "PUT", path: "/v1/sessions/game", body: `{"max_speakers":65}`}, 400, CodeInvalidRequest},
	} {
		resp := ts.do(t, c.rq)
		if resp.status != c.status || (c.code != "" && resp.errorBody(t).Code != c.code) {
			t.Errorf("%s %s %s: %d %s", c.rq.method, c.rq.path, c.rq.body, resp.status, resp.body)
		}
	}
}

// notRouter hides a Backend's Router methods.
type notRouter struct{ Backend }

func TestNotRouter(t *testing.T) {
	s, err := New(Config{Token: testToken, Logger: slog.New(slog.DiscardHandler)}, notRouter{newFake()})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s}
	for _, sub := range []string{"mute", "mutes", "channel"} {
		resp := ts.do(t, request{method: "PUT", path: "/v1/sessions/s/participants/p/" + sub, body: `{}`})
		if resp.status != 501 || resp.errorBody(t).Code != CodeNotImplemented {
			t.Errorf("%s: %d %s", sub, resp.status, resp.body)
		}
	}
}
