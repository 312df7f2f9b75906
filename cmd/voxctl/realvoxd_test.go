package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/testvoxd"
	"github.com/voxfleet/vox/sessionmgr"
)

// realVoxd runs the real server parts voxd wires together (UDP core,
// session manager, admin API) on loopback.
func realVoxd(t *testing.T) (env map[string]string, m *sessionmgr.Manager) {
	t.Helper()
	addr, m := testvoxd.Start(t, "real-token")
	return map[string]string{"VOX_ADMIN_ADDR": addr, "VOX_ADMIN_TOKEN": "real-token"}, m
}

func TestVoxctlAgainstRealServer(t *testing.T) {
	env, m := realVoxd(t)
	ctx := context.Background()
	api, _ := client.NewAPI("http://"+env["VOX_ADMIN_ADDR"], env["VOX_ADMIN_TOKEN"])
	adm, err := api.Admit(ctx, "lobby", sessionmgr.AdmitRequest{ParticipantID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := client.Join(ctx, adm, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SendRTCP()

	runCtl(t, env, "status").want(t, 0, []string{"accepting", "sessions"}, nil)
	runCtl(t, env, "sessions").want(t, 0, []string{"lobby"}, nil)
	r := runCtl(t, env, "--json", "status")
	var st sessionmgr.Status
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &st); err != nil || st.Participants != 1 {
		t.Fatalf("--json status: %v %q", err, r.stdout)
	}
	runCtl(t, env, "accept-stop", "--reason", "maintenance").want(t, 0, nil, nil)
	if st := m.Status(); st.State != sessionmgr.StateStopped || st.Reason != "maintenance" {
		t.Fatalf("after accept-stop: %s %q", st.State, st.Reason)
	}
	runCtl(t, env, "accept-resume").want(t, 0, nil, nil)
	if !m.Status().Accepting {
		t.Fatal("accept-resume did not resume")
	}
	runCtl(t, env, "reconnect", "--session", "nope").want(t, 2, nil, []string{"session_not_found"})
	runCtl(t, env, "reconnect", "--session", "lobby", "--rate", "50").want(t, 0, nil, nil)
	waitFor(t, func() bool { return p.Stats().Notices >= 1 })

	// A drain with --wait: alice never leaves, so the deadline ends it.
	start := time.Now()
	r = runCtl(t, env, "drain", "--grace", "50ms", "--rate", "100", "--deadline", "600ms", "--window", "0s", "--wait", "--interval", "100ms")
	r.want(t, 0, nil, nil)
	if time.Since(start) < 500*time.Millisecond {
		t.Fatalf("drain --wait returned before the deadline: %+v", r)
	}
	if st := m.Status(); st.State != sessionmgr.StateDrained || st.Drain.RemovedAtDeadline != 1 || st.Drain.NoticesSent != 1 {
		t.Fatalf("after the drain: %+v", st.Drain)
	}
	runCtl(t, env, "drain-cancel").want(t, 2, nil, []string{"drain_conflict"}) // a finished drain cannot be cancelled
	runCtl(t, env, "accept-resume").want(t, 2, nil, []string{"drain_conflict"})
	// Unreachable and refused.
	runCtl(t, map[string]string{"VOX_ADMIN_ADDR": "127.0.0.1:1"}, "status").want(t, 3, nil, []string{"127.0.0.1:1"})
	runCtl(t, map[string]string{"VOX_ADMIN_ADDR": env["VOX_ADMIN_ADDR"], "VOX_ADMIN_TOKEN": "wrong"}, "status").want(t, 2, nil, []string{"forbidden"})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStopNewSessionsOverHTTP: POST /v1/accept-stop with new_sessions_only
// on a real voxd refuses a new session (503 not_accepting) and takes a
// member of a session in progress; accept-resume lifts it.
func TestStopNewSessionsOverHTTP(t *testing.T) {
	env, _ := realVoxd(t)
	ctx := context.Background()
	api, _ := client.NewAPI("http://"+env["VOX_ADMIN_ADDR"], env["VOX_ADMIN_TOKEN"])
	if _, err := api.Admit(ctx, "lobby", sessionmgr.AdmitRequest{ParticipantID: "alice"}); err != nil {
		t.Fatal(err)
	}
	st, err := api.StopNewSessions(ctx, "router: consolidation")
	if err != nil || st.Accepting || st.Reason != "router: consolidation" {
		t.Fatalf("stop: %+v %v", st, err)
	}
	if _, err := api.Admit(ctx, "other", sessionmgr.AdmitRequest{ParticipantID: "x"}); !errors.Is(err, sessionmgr.ErrNotAccepting) {
		t.Fatalf("a new session while new sessions are stopped: %v", err)
	}
	if _, err := api.Admit(ctx, "lobby", sessionmgr.AdmitRequest{ParticipantID: "bob"}); err != nil {
		t.Fatalf("a member of a session in progress: %v", err)
	}
	if _, err := api.AcceptResume(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Admit(ctx, "other", sessionmgr.AdmitRequest{ParticipantID: "x"}); err != nil {
		t.Fatalf("after accept-resume: %v", err)
	}
}
