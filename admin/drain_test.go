package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/sessionmgr"
)

// decodeInto decodes a success body strictly into v.
func decodeInto(t *testing.T, r response, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// TestDrainLifecycle walks the drain endpoints through the fake's state
// machine: accept-stop/resume, drain, conflicts, cancel, reconnect.
func TestDrainLifecycle(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.do(t, request{method: "POST", path: "/v1/sessions/s1/participants", body: `{"participant_id":"a"}`})
	ts.do(t, request{method: "POST", path: "/v1/sessions/s1/participants", body: `{"participant_id":"b"}`})
	ts.do(t, request{method: "PUT", path: "/v1/sessions/s2"})

	// accept-stop: body optional, the answer is the status.
	resp := ts.do(t, request{method: "POST", path: "/v1/accept-stop", body: `{"reason":"maintenance"}`})
	var st StatusResponse
	decodeInto(t, resp, &st)
	if resp.status != 200 || st.State != sessionmgr.StateStopped || st.Reason != "maintenance" || st.Accepting {
		t.Fatalf("accept-stop: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "POST", path: "/v1/accept-stop"})
	decodeInto(t, resp, &st)
	if resp.status != 200 || st.Reason != "stopped by operator" {
		t.Fatalf("accept-stop without a body: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "POST", path: "/v1/accept-resume"})
	decodeInto(t, resp, &st)
	if resp.status != 200 || st.State != sessionmgr.StateAccepting || !st.Accepting {
		t.Fatalf("accept-resume: %d %s", resp.status, resp.body)
	}

	// drain: 202 and the drain's status; the body reaches the manager.
	resp = ts.do(t, request{method: "POST", path: "/v1/drain",
		body: `{"grace":"5s","rate":50,"deadline":"2m","window":"1500ms","exit":false}`})
	var ds sessionmgr.DrainStatus
	decodeInto(t, resp, &ds)
	if resp.status != 202 || ds.Phase != sessionmgr.DrainGrace || ds.Rate != 50 || ds.WindowMS != 1500 ||
		!ds.GraceUntil.Equal(fakeNow.Add(5*time.Second)) || !ds.Deadline.Equal(fakeNow.Add(2*time.Minute)) {
		t.Fatalf("drain: %d %s", resp.status, resp.body)
	}
	ts.fake.set(func(f *fakeBackend) {
		if f.drainReason != DrainReason || f.drainReq.Exit == nil || *f.drainReq.Exit ||
			time.Duration(f.drainReq.Grace) != 5*time.Second {
			t.Errorf("manager got %q %+v", f.drainReason, f.drainReq)
		}
	})

	conflicts := []request{
		{method: "POST", path: "/v1/drain", body: `{}`},
		{method: "POST", path: "/v1/drain"}, // an empty body takes every default
		{method: "POST", path: "/v1/accept-resume"},
	}
	for _, rq := range conflicts {
		resp := ts.do(t, rq)
		if resp.status != 409 || resp.errorBody(t).Code != CodeDrainConflict {
			t.Errorf("%s %s while draining: %d %s", rq.method, rq.path, resp.status, resp.body)
		}
	}

	// Past the grace period the drain cannot be cancelled.
	ts.fake.set(func(f *fakeBackend) { f.drain.Phase = sessionmgr.DrainNotifying })
	resp = ts.do(t, request{method: "DELETE", path: "/v1/drain"})
	if resp.status != 409 || resp.errorBody(t).Code != CodeDrainConflict {
		t.Errorf("cancel while notifying: %d %s", resp.status, resp.body)
	}
	ts.fake.set(func(f *fakeBackend) { f.drain.Phase = sessionmgr.DrainGrace })
	resp = ts.do(t, request{method: "DELETE", path: "/v1/drain"})
	decodeInto(t, resp, &ds)
	if resp.status != 200 || ds.Phase != sessionmgr.DrainCancelled {
		t.Fatalf("cancel: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "DELETE", path: "/v1/drain"})
	if resp.status != 404 || resp.errorBody(t).Code != CodeNoDrain {
		t.Errorf("cancel without a drain: %d %s", resp.status, resp.body)
	}

	// reconnect: all sessions, or the ones named.
	resp = ts.do(t, request{method: "POST", path: "/v1/reconnect"})
	var ans sessionmgr.ReconnectAnswer
	decodeInto(t, resp, &ans)
	if resp.status != 202 || ans.Sessions != 2 || ans.Participants != 2 {
		t.Fatalf("reconnect all: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "POST", path: "/v1/reconnect", body: `{"sessions":["s1"],"rate":1,"window":"3s"}`})
	decodeInto(t, resp, &ans)
	if resp.status != 202 || ans.Sessions != 1 || ans.Participants != 2 || time.Duration(ans.ETA) != 2*time.Second {
		t.Fatalf("reconnect s1: %d %s", resp.status, resp.body)
	}
	ts.fake.set(func(f *fakeBackend) {
		if r := f.reconnectReq; r == nil || r.Rate != 1 || time.Duration(r.Window) != 3*time.Second {
			t.Errorf("manager got %+v", r)
		}
	})
	resp = ts.do(t, request{method: "POST", path: "/v1/reconnect", body: `{"sessions":["nope"]}`})
	if resp.status != 404 || resp.errorBody(t).Code != CodeSessionNotFound {
		t.Errorf("reconnect unknown session: %d %s", resp.status, resp.body)
	}

	// Wrong method: 405 with the allowed ones.
	resp = ts.do(t, request{method: "GET", path: "/v1/drain"})
	if resp.status != 405 || resp.header.Get("Allow") != "POST, DELETE" {
		t.Errorf("GET /v1/drain: %d Allow %q", resp.status, resp.header.Get("Allow"))
	}
}

// TestDrainBadInputs: every refused body is a 400 (or 413/415) with its
// code, and never reaches the manager.
func TestDrainBadInputs(t *testing.T) {
	tests := []struct {
		name   string
		req    request
		status int
		code   string
		msg    string // in the message, if set
	}{
		{"grace as a number", request{method: "POST", path: "/v1/drain", body: `{"grace": 5}`}, 400, CodeInvalidRequest, `"60s"`},
		{"negative grace", request{method: "POST", path: "/v1/drain", body: `{"grace": "-1s"}`}, 400, CodeInvalidRequest, `"-1s"`},
		{"grace not a duration", request{method: "POST", path: "/v1/drain", body: `{"grace": "soon"}`}, 400, CodeInvalidRequest, `"soon"`},
		{"deadline unitless", request{method: "POST", path: "/v1/drain", body: `{"deadline": "600"}`}, 400, CodeInvalidRequest, ""},
		{"window null-ish", request{method: "POST", path: "/v1/drain", body: `{"window": true}`}, 400, CodeInvalidRequest, ""},
		{"negative rate", request{method: "POST", path: "/v1/drain", body: `{"rate": -1}`}, 400, CodeInvalidRequest, "rate"},
		{"rate out of range", request{method: "POST", path: "/v1/drain", body: `{"rate": 1e400}`}, 400, CodeInvalidRequest, "rate"},
		{"rate as a string", request{method: "POST", path: "/v1/drain", body: `{"rate": "200"}`}, 400, CodeInvalidRequest, "rate"},
		{"exit as a string", request{method: "POST", path: "/v1/drain", body: `{"exit": "yes"}`}, 400, CodeInvalidRequest, "exit"},
		{"unknown field", request{method: "POST", path: "/v1/drain", body: `{"graze": "1s"}`}, 400, CodeUnknownField, "graze"},
		{"reason is not a drain field", request{method: "POST", path: "/v1/drain", body: `{"reason": "x"}`}, 400, CodeUnknownField, "reason"},
		{"not an object", request{method: "POST", path: "/v1/drain", body: `[]`}, 400, CodeMalformedJSON, ""},
		{"trailing data", request{method: "POST", path: "/v1/drain", body: `{} {}`}, 400, CodeMalformedJSON, ""},
		{"not JSON", request{method: "POST", path: "/v1/drain", body: `grace=5s`}, 400, CodeMalformedJSON, ""},
		{"form body", request{method: "POST", path: "/v1/drain", body: `{}`,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, CodeUnsupportedMediaType, ""},
		{"huge body", request{method: "POST", path: "/v1/drain", body: `{"rate": 1` + strings.Repeat(" ", DefaultMaxBodyBytes) + `}`}, 413, CodeBodyTooLarge, ""},

		{"reconnect negative rate", request{method: "POST", path: "/v1/reconnect", body: `{"rate": -0.5}`}, 400, CodeInvalidRequest, "rate"},
		{"reconnect bad window", request{method: "POST", path: "/v1/reconnect", body: `{"window": 2}`}, 400, CodeInvalidRequest, ""},
		{"reconnect bad session id", request{method: "POST", path: "/v1/reconnect", body: `{"sessions": ["a b"]}`}, 400, CodeInvalidID, "a b"},
		{"reconnect empty session id", request{method: "POST", path: "/v1/reconnect", body: `{"sessions": [""]}`}, 400, CodeInvalidID, ""},
		{"reconnect sessions not a list", request{method: "POST", path: "/v1/reconnect", body: `{"sessions": "s1"}`}, 400, CodeInvalidRequest, "sessions"},
		{"reconnect unknown field", request{method: "POST", path: "/v1/reconnect", body: `{"session": ["s1"]}`}, 400, CodeUnknownField, "session"},

		{"accept-stop reason not a string", request{method: "POST", path: "/v1/accept-stop", body: `{"reason": 5}`}, 400, CodeInvalidRequest, "reason"},
		{"accept-stop unknown field", request{method: "POST", path: "/v1/accept-stop", body: `{"why": "x"}`}, 400, CodeUnknownField, "why"},
		{"accept-stop long reason", request{method: "POST", path: "/v1/accept-stop", body: `{"reason": "` + strings.Repeat("x", maxReasonLen+1) + `"}`}, 400, CodeInvalidRequest, "reason"},
		{"accept-resume with a field", request{method: "POST", path: "/v1/accept-resume", body: `{"force": true}`}, 400, CodeUnknownField, "force"},

		{"no token", request{method: "POST", path: "/v1/drain", body: `{}`, header: map[string]string{"Authorization": ""}}, 401, CodeUnauthorized, ""},
		{"wrong token", request{method: "DELETE", path: "/v1/drain", header: map[string]string{"Authorization": "Bearer nope"}}, 403, CodeForbidden, ""},
	}
	ts := newTestServer(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(t, tt.req)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.status, tt.status, resp.body)
			}
			e := resp.errorBody(t)
			if e.Code != tt.code || !strings.Contains(e.Error, tt.msg) {
				t.Errorf("%q %q, want code %q and %q in the message", e.Code, e.Error, tt.code, tt.msg)
			}
		})
	}
	ts.fake.set(func(f *fakeBackend) {
		if f.drainCalls != 0 {
			t.Errorf("%d refused requests reached the manager", f.drainCalls)
		}
	})
}

// TestDrainErrorMapping: the manager's errors, wrapped as it wraps them,
// on every drain endpoint.
func TestDrainErrorMapping(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{sessionmgr.ErrDrainConflict, 409, CodeDrainConflict},
		{sessionmgr.ErrNoDrain, 404, CodeNoDrain},
		{sessionmgr.ErrInvalid, 400, CodeInvalidRequest},
		{sessionmgr.ErrSessionNotFound, 404, CodeSessionNotFound},
		{sessionmgr.ErrClosed, 503, CodeShuttingDown},
		{errors.New("drain engine wedged"), 500, CodeInternal},
	}
	endpoints := []request{
		{method: "POST", path: "/v1/accept-resume"},
		{method: "POST", path: "/v1/drain", body: `{"grace":"1s"}`},
		{method: "DELETE", path: "/v1/drain"},
		{method: "POST", path: "/v1/reconnect", body: `{"sessions":["s1"]}`},
	}
	ts := newTestServer(t, Config{})
	for _, tt := range tests {
		ts.fake.set(func(f *fakeBackend) { f.err = fmt.Errorf("%w: detail 42", tt.err) })
		for _, ep := range endpoints {
			t.Run(tt.code+" "+ep.method+" "+ep.path, func(t *testing.T) {
				resp := ts.do(t, ep)
				if resp.status != tt.status {
					t.Fatalf("status %d, want %d; body %s", resp.status, tt.status, resp.body)
				}
				e := resp.errorBody(t)
				if e.Code != tt.code {
					t.Errorf("code %q, want %q", e.Code, tt.code)
				}
				if leaked := strings.Contains(e.Error, "detail 42"); leaked != (tt.status != 500) {
					t.Errorf("message %q (the manager's detail must show except on a 500)", e.Error)
				}
			})
		}
	}
}

// notDrainer hides the fake's Drainer methods.
type notDrainer struct{ Backend }

// TestNotDrainer: a Backend without the Drainer methods answers 501 on
// the drain routes and serves the rest.
func TestNotDrainer(t *testing.T) {
	s, err := New(Config{Token: testToken, Logger: slog.New(slog.DiscardHandler)}, notDrainer{newFake()})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s}
	for _, rq := range []request{
		{method: "POST", path: "/v1/accept-stop"},
		{method: "POST", path: "/v1/accept-resume"},
		{method: "POST", path: "/v1/drain", body: `{}`},
		{method: "DELETE", path: "/v1/drain"},
		{method: "POST", path: "/v1/reconnect", body: `{}`},
	} {
		resp := ts.do(t, rq)
		if resp.status != 501 || resp.errorBody(t).Code != CodeNotImplemented {
			t.Errorf("%s %s: %d %s", rq.method, rq.path, resp.status, resp.body)
		}
	}
	if resp := ts.do(t, request{method: "GET", path: "/v1/status"}); resp.status != 200 {
		t.Errorf("status: %d", resp.status)
	}
	resp := ts.do(t, request{method: "GET", path: "/metrics", header: map[string]string{"Authorization": ""}})
	if !strings.Contains(string(resp.body), `vox_drain_phase{phase="grace"} 0`) {
		t.Errorf("drain metrics missing without a Drainer")
	}
}

func TestDrainMetrics(t *testing.T) {
	ts := newTestServer(t, Config{})
	metricsBody := func() string {
		resp := ts.do(t, request{method: "GET", path: "/metrics", header: map[string]string{"Authorization": ""}})
		return string(resp.body)
	}
	body := metricsBody()
	for _, line := range []string{
		`vox_drain_phase{phase="grace"} 0`, `vox_drain_phase{phase="notifying"} 0`,
		`vox_drain_phase{phase="drained"} 0`, `vox_drain_phase{phase="cancelled"} 0`,
		"vox_drain_participants_left 0", "vox_drain_notices_sent_total 0", "vox_reconnect_notices_total 0",
		"# TYPE vox_drain_phase gauge", "# TYPE vox_drain_notices_sent_total counter",
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("metrics without a drain lack %q", line)
		}
	}
	if resp := ts.do(t, request{method: "POST", path: "/v1/drain", body: `{}`}); resp.status != 202 {
		t.Fatalf("drain: %d %s", resp.status, resp.body)
	}
	ts.fake.set(func(f *fakeBackend) {
		f.drain.Phase = sessionmgr.DrainNotifying
		f.drain.ParticipantsLeft, f.drain.NoticesSent, f.drain.NoticesRepeated = 17, 40, 9
		f.drain.Reconnected, f.drain.TimedOut, f.drain.RemovedAtDeadline = 20, 3, 1
		f.status.ReconnectNotices = 12
	})
	body = metricsBody()
	for _, line := range []string{
		`vox_drain_phase{phase="grace"} 0`, `vox_drain_phase{phase="notifying"} 1`,
		"vox_drain_participants_left 17", "vox_drain_notices_sent_total 40", "vox_drain_notices_repeated_total 9",
		"vox_drain_reconnected_total 20", "vox_drain_timed_out_total 3", "vox_drain_removed_at_deadline_total 1",
		"vox_reconnect_notices_total 12", `vox_state{state="draining"} 1`,
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("metrics during a drain lack %q", line)
		}
	}
	// /v1/status carries the drain too.
	resp := ts.do(t, request{method: "GET", path: "/v1/status"})
	var st StatusResponse
	decodeInto(t, resp, &st)
	if st.Drain == nil || st.Drain.Phase != sessionmgr.DrainNotifying || st.Drain.NoticesSent != 40 {
		t.Errorf("status drain: %s", resp.body)
	}
}
