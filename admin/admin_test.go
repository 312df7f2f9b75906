package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/sessionmgr"
)

const testToken = "t0ken-for-tests"

// syncBuffer is a log sink shared by the server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*Server
	fake *fakeBackend
	logs *syncBuffer
}

func newTestServer(t *testing.T, cfg Config, routes ...RouteFunc) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Token == "" && cfg.Addr == "" {
		cfg.Token = testToken
	}
	fake := newFake()
	s, err := New(cfg, fake, routes...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testServer{Server: s, fake: fake, logs: logs}
}

type request struct {
	method, path, body string
	header             map[string]string // "" value deletes the header
	unknownLength      bool              // send the body without Content-Length
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (ts *testServer) do(t *testing.T, rq request) response {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, rq.path, body)
	r.Host = "127.0.0.1:8080"
	if rq.unknownLength {
		r.ContentLength = -1
	}
	r.Header.Set("Authorization", "Bearer "+testToken)
	if rq.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	ts.Handler().ServeHTTP(w, r)
	return response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func (r response) errorBody(t *testing.T) ErrorResponse {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e ErrorResponse
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Error == "" || e.Code == "" {
		t.Errorf("error body %q lacks error or code", r.body)
	}
	return e
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// TestBadRequests covers every refusal: status, code and headers.
func TestBadRequests(t *testing.T) {
	long := strings.Repeat("a", MaxIDLen+1)
	huge := `{"max_participants": 1` + strings.Repeat(" ", DefaultMaxBodyBytes) + `}`
	tests := []struct {
		name   string
		req    request
		status int
		code   string
		header map[string]string // expected response headers
	}{
		{"malformed json", request{method: "PUT", path: "/v1/sessions/a", body: `{"max_participants":`}, 400, CodeMalformedJSON, nil},
		{"syntax error", request{method: "PUT", path: "/v1/sessions/a", body: `{max_participants: 3}`}, 400, CodeMalformedJSON, nil},
		{"not an object", request{method: "PUT", path: "/v1/sessions/a", body: `[1,2]`}, 400, CodeMalformedJSON, nil},
		{"trailing object", request{method: "PUT", path: "/v1/sessions/a", body: `{} {}`}, 400, CodeMalformedJSON, nil},
		{"trailing garbage", request{method: "POST", path: "/v1/sessions/a/participants", body: `{}x`}, 400, CodeMalformedJSON, nil},
		{"unknown field", request{method: "PUT", path: "/v1/sessions/a", body: `{"max_participant": 3}`}, 400, CodeUnknownField, nil},
		{"unknown nested field", request{method: "POST", path: "/v1/sessions/a/participants", body: `{"session":{"nope":1}}`}, 400, CodeUnknownField, nil},
		{"wrong type", request{method: "PUT", path: "/v1/sessions/a", body: `{"max_participants": "3"}`}, 400, CodeInvalidRequest, nil},
		{"out of range", request{method: "PUT", path: "/v1/sessions/a", body: `{"max_participants": 1e99}`}, 400, CodeInvalidRequest, nil},
		{"profile as number", request{method: "PUT", path: "/v1/sessions/a", body: `{"profile": 3}`}, 400, CodeInvalidRequest, nil},
		{"empty participant id get", request{method: "GET", path: "/v1/sessions/a/participants/"}, 400, CodeInvalidID, nil},
		{"unknown profile", request{method: "POST", path: "/v1/sessions/a/participants", body: `{"profile":"ROT13"}`}, 400, CodeInvalidRequest, nil},
		{"huge body", request{method: "PUT", path: "/v1/sessions/a", body: huge}, 413, CodeBodyTooLarge, nil},
		{"huge body, no length", request{method: "POST", path: "/v1/sessions/a/participants", body: huge, unknownLength: true}, 413, CodeBodyTooLarge, nil},
		{"not json", request{method: "PUT", path: "/v1/sessions/a", body: `max=3`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, CodeUnsupportedMediaType, nil},
		{"id too long", request{method: "PUT", path: "/v1/sessions/" + long}, 400, CodeInvalidID, nil},
		{"id bad chars", request{method: "GET", path: "/v1/sessions/a!b"}, 400, CodeInvalidID, nil},
		{"id with space", request{method: "DELETE", path: "/v1/sessions/a%20b"}, 400, CodeInvalidID, nil},
		{"id with slash", request{method: "GET", path: "/v1/sessions/a%2Fb"}, 400, CodeInvalidID, nil},
		{"id dotdot", request{method: "GET", path: "/v1/sessions/.."}, 400, CodeInvalidID, nil},
		{"empty id", request{method: "PUT", path: "/v1/sessions/"}, 400, CodeInvalidID, nil},
		{"empty id admit", request{method: "POST", path: "/v1/sessions//participants"}, 400, CodeInvalidID, nil},
		{"empty participant id", request{method: "DELETE", path: "/v1/sessions/a/participants/"}, 400, CodeInvalidID, nil},
		{"participant id too long", request{method: "DELETE", path: "/v1/sessions/a/participants/" + long}, 400, CodeInvalidID, nil},
		{"participant id in body", request{method: "POST", path: "/v1/sessions/a/participants", body: `{"participant_id":"x y"}`}, 400, CodeInvalidID, nil},
		{"display name with a newline", request{method: "POST", path: "/v1/sessions/a/participants", body: `{"display_name":"a\nb"}`}, 400, CodeInvalidRequest, nil},
		{"display name too long", request{method: "POST", path: "/v1/sessions/a/participants", body: `{"display_name":"` + strings.Repeat("é", 33) + `"}`}, 400, CodeInvalidRequest, nil},
		{"display name blank", request{method: "POST", path: "/v1/sessions/a/participants", body: `{"display_name":"   "}`}, 400, CodeInvalidRequest, nil},
		{"no token", request{method: "GET", path: "/v1/status", header: map[string]string{"Authorization": ""}}, 401, CodeUnauthorized,
			map[string]string{"WWW-Authenticate": `Bearer realm="vox"`}},
		{"basic auth", request{method: "GET", path: "/v1/sessions", header: map[string]string{"Authorization": "Basic dm94OnZveA=="}}, 401, CodeUnauthorized, nil},
		{"bearer without token", request{method: "GET", path: "/v1/sessions", header: map[string]string{"Authorization": "Bearer "}}, 401, CodeUnauthorized, nil},
		{"wrong token", request{method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer nope"}}, 403, CodeForbidden, nil},
		{"token prefix", request{method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer " + testToken[:5]}}, 403, CodeForbidden, nil},
		{"pprof no token", request{method: "GET", path: "/debug/pprof/", header: map[string]string{"Authorization": ""}}, 401, CodeUnauthorized, nil},
		{"unknown /v1 route no token", request{method: "GET", path: "/v1/nope", header: map[string]string{"Authorization": ""}}, 401, CodeUnauthorized, nil},
		{"wrong method", request{method: "PATCH", path: "/v1/sessions/a"}, 405, CodeMethodNotAllowed, map[string]string{"Allow": "GET, HEAD, PUT, DELETE"}},
		{"wrong method status", request{method: "POST", path: "/v1/status"}, 405, CodeMethodNotAllowed, map[string]string{"Allow": "GET, HEAD"}},
		{"wrong method participants", request{method: "GET", path: "/v1/sessions/a/participants"}, 405, CodeMethodNotAllowed, map[string]string{"Allow": "POST"}},
		{"wrong method healthz", request{method: "DELETE", path: "/healthz"}, 405, CodeMethodNotAllowed, map[string]string{"Allow": "GET, HEAD"}},
		{"unknown route", request{method: "GET", path: "/nope"}, 404, CodeNotFound, nil},
		{"unknown /v1 route", request{method: "GET", path: "/v1/nope"}, 404, CodeNotFound, nil},
		{"trailing slash", request{method: "GET", path: "/v1/sessions/a/"}, 404, CodeNotFound, nil},
		{"unknown profile name", request{method: "GET", path: "/debug/pprof/nope"}, 404, CodeNotFound, nil},
	}
	ts := newTestServer(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(t, tt.req)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.status, tt.status, resp.body)
			}
			if e := resp.errorBody(t); e.Code != tt.code {
				t.Errorf("code %q, want %q (%s)", e.Code, tt.code, e.Error)
			}
			for k, v := range tt.header {
				if got := resp.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	ts.fake.mu.Lock()
	defer ts.fake.mu.Unlock()
	if len(ts.fake.sessions) != 0 {
		t.Errorf("a refused request reached the backend: %v", ts.fake.sessions)
	}
}

// TestErrorMapping checks every sentinel of sessionmgr, wrapped as the
// manager wraps them, on the endpoints.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{sessionmgr.ErrInvalid, 400, CodeInvalidRequest, ""},
		{sessionmgr.ErrSessionNotFound, 404, CodeSessionNotFound, ""},
		{sessionmgr.ErrParticipantNotFound, 404, CodeParticipantNotFound, ""},
		{sessionmgr.ErrParticipantExists, 409, CodeParticipantExists, ""},
		{sessionmgr.ErrSessionFull, 409, CodeSessionFull, ""},
		{sessionmgr.ErrSessionConflict, 409, CodeSessionConflict, ""},
		{sessionmgr.ErrNotAccepting, 503, CodeNotAccepting, "5"},
		{sessionmgr.ErrDrainConflict, 409, CodeDrainConflict, ""},
		{sessionmgr.ErrNoDrain, 404, CodeNoDrain, ""},
		{sessionmgr.ErrClosed, 503, CodeShuttingDown, ""},
		{context.DeadlineExceeded, 503, CodeTimeout, ""},
		{errors.New("shard 3 mailbox wedged"), 500, CodeInternal, ""},
	}
	endpoints := []request{
		{method: "PUT", path: "/v1/sessions/s1"},
		{method: "GET", path: "/v1/sessions"},
		{method: "GET", path: "/v1/sessions/s1"},
		{method: "DELETE", path: "/v1/sessions/s1"},
		{method: "POST", path: "/v1/sessions/s1/participants", body: `{"participant_id":"p1"}`},
		{method: "GET", path: "/v1/sessions/s1/participants/p1"},
		{method: "DELETE", path: "/v1/sessions/s1/participants/p1"},
	}
	ts := newTestServer(t, Config{})
	for _, tt := range tests {
		wrapped := fmt.Errorf("%w: detail 42", tt.err)
		ts.fake.set(func(f *fakeBackend) { f.err = wrapped })
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
				if got := resp.header.Get("Retry-After"); got != tt.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
				}
				switch tt.status {
				case 500, 503:
					if tt.code != CodeNotAccepting && tt.code != CodeShuttingDown && strings.Contains(e.Error, "detail") {
						t.Errorf("internal detail leaked: %q", e.Error)
					}
				default:
					if !strings.Contains(e.Error, "detail 42") {
						t.Errorf("message %q lacks the manager's detail", e.Error)
					}
				}
			})
		}
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "shard 3 mailbox wedged") {
		t.Errorf("500 cause not logged at error level:\n%s", logs)
	}
	if strings.Contains(logs, testToken) {
		t.Errorf("token logged")
	}
}

func TestRetryAfterConfigurable(t *testing.T) {
	ts := newTestServer(t, Config{RetryAfter: 1500 * time.Millisecond})
	ts.fake.set(func(f *fakeBackend) { f.err = fmt.Errorf("%w: draining", sessionmgr.ErrNotAccepting) })
	resp := ts.do(t, request{method: "POST", path: "/v1/sessions/a/participants"})
	if resp.status != 503 || resp.header.Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q, want 503 and 2", resp.status, resp.header.Get("Retry-After"))
	}
	if e := resp.errorBody(t); e.Error != "not accepting: draining" {
		t.Errorf("message %q", e.Error)
	}
}

func TestPanicIs500(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.fake.set(func(f *fakeBackend) { f.panicMsg = "kaboom" })
	resp := ts.do(t, request{method: "GET", path: "/v1/sessions"})
	if resp.status != 500 || resp.errorBody(t).Code != CodeInternal {
		t.Fatalf("status %d body %s", resp.status, resp.body)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "kaboom") || !strings.Contains(logs, "level=ERROR") {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

func TestSessionLifecycle(t *testing.T) {
	ts := newTestServer(t, Config{})

	resp := ts.do(t, request{method: "GET", path: "/v1/sessions"})
	if resp.status != 200 || strings.TrimSpace(string(resp.body)) != `{"sessions":[]}` {
		t.Fatalf("empty list: %d %s", resp.status, resp.body)
	}

	// PUT without a body: created.
	resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/room-1"})
	if resp.status != 201 || resp.header.Get("Location") != "/v1/sessions/room-1" {
		t.Fatalf("create: %d %v %s", resp.status, resp.header, resp.body)
	}
	m := resp.json(t)
	if m["id"] != "room-1" || m["profile"] != "AES_CM_128_HMAC_SHA1_80" || m["max_participants"] != 16.0 {
		t.Errorf("session %s", resp.body)
	}
	if p, ok := m["participants"].([]any); !ok || len(p) != 0 {
		t.Errorf("participants %v, want []", m["participants"])
	}
	if resp.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", resp.header.Get("Cache-Control"))
	}
	// Same options: 200; other options: 409.
	if resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/room-1", body: `{}`}); resp.status != 200 {
		t.Errorf("same PUT: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/room-1", body: `{"max_participants": 4}`})
	if resp.status != 409 || resp.errorBody(t).Code != CodeSessionConflict {
		t.Errorf("conflicting PUT: %d %s", resp.status, resp.body)
	}
	// Options are decoded.
	id64 := strings.Repeat("z", MaxIDLen)
	resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/" + id64, body: `{"max_participants": 4, "profile": "AEAD_AES_128_GCM"}`})
	if m := resp.json(t); resp.status != 201 || m["max_participants"] != 4.0 || m["profile"] != "AEAD_AES_128_GCM" {
		t.Errorf("PUT with options: %d %s", resp.status, resp.body)
	}

	resp = ts.do(t, request{method: "GET", path: "/v1/sessions"})
	var list SessionsResponse
	if err := json.Unmarshal(resp.body, &list); err != nil || len(list.Sessions) != 2 || list.Sessions[0].ID != "room-1" {
		t.Errorf("list: %v %s", err, resp.body)
	}
	if resp = ts.do(t, request{method: "GET", path: "/v1/sessions/room-1"}); resp.status != 200 || resp.json(t)["id"] != "room-1" {
		t.Errorf("get: %d %s", resp.status, resp.body)
	}
	if resp = ts.do(t, request{method: "DELETE", path: "/v1/sessions/room-1"}); resp.status != 204 || len(resp.body) != 0 {
		t.Errorf("delete: %d %q", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "GET", path: "/v1/sessions/room-1"})
	if resp.status != 404 || resp.errorBody(t).Code != CodeSessionNotFound {
		t.Errorf("get deleted: %d %s", resp.status, resp.body)
	}
}

func TestAdmitAndRemove(t *testing.T) {
	ts := newTestServer(t, Config{})

	// Empty body: the session is created, vox picks the id.
	resp := ts.do(t, request{method: "POST", path: "/v1/sessions/room.1/participants"})
	if resp.status != 201 || resp.header.Get("Location") != "/v1/sessions/room.1/participants/p1" {
		t.Fatalf("admit: %d %v %s", resp.status, resp.header, resp.body)
	}
	var adm map[string]any
	if err := json.Unmarshal(resp.body, &adm); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"session_id": "room.1", "participant_id": "p1", "ssrc": 4096.0, "server_ssrc": 43981.0,
		"audio_level_extension_id": 1.0, "join_timeout_ms": 10000.0, "idle_timeout_ms": 30000.0,
	}
	for k, v := range want {
		if adm[k] != v {
			t.Errorf("%s = %v, want %v", k, adm[k], v)
		}
	}
	if md, _ := adm["media"].(map[string]any); md["address"] != "203.0.113.7" || md["port"] != 7000.0 {
		t.Errorf("media %v", adm["media"])
	}
	srtp, _ := adm["srtp"].(map[string]any)
	c2s, _ := srtp["client_to_server"].(map[string]any)
	s2c, _ := srtp["server_to_client"].(map[string]any)
	if srtp["profile"] != "AES_CM_128_HMAC_SHA1_80" || c2s["key"] != "AQEBAQ==" || c2s["salt"] != "AgI=" ||
		s2c["key"] != "AwMDAw==" || s2c["salt"] != "BAQ=" {
		t.Errorf("srtp %v", adm["srtp"])
	}

	// A full request: decoded as sessionmgr.AdmitRequest.
	resp = ts.do(t, request{method: "POST", path: "/v1/sessions/room-2/participants",
		body: `{"participant_id":"alice","display_name":"Alice ✓","profile":"AEAD_AES_128_GCM","session":{"max_participants":2}}`})
	if resp.status != 201 || resp.header.Get("Location") != "/v1/sessions/room-2/participants/alice" {
		t.Fatalf("admit alice: %d %s", resp.status, resp.body)
	}
	ts.fake.mu.Lock()
	req := ts.fake.lastReq
	ts.fake.mu.Unlock()
	if req.ParticipantID != "alice" || req.DisplayName != "Alice ✓" || req.Profile == nil || *req.Profile != api.ProfileAEADAES128GCM ||
		req.Session == nil || req.Session.MaxParticipants != 2 {
		t.Errorf("request reached the backend as %+v", req)
	}
	resp = ts.do(t, request{method: "POST", path: "/v1/sessions/room-2/participants", body: `{"participant_id":"alice"}`})
	if resp.status != 409 || resp.errorBody(t).Code != CodeParticipantExists {
		t.Errorf("second alice: %d %s", resp.status, resp.body)
	}

	resp = ts.do(t, request{method: "GET", path: "/v1/sessions/room-2/participants/alice"})
	if m := resp.json(t); resp.status != 200 || m["id"] != "alice" || m["profile"] != "AEAD_AES_128_GCM" {
		t.Errorf("get alice: %d %s", resp.status, resp.body)
	}
	if resp = ts.do(t, request{method: "DELETE", path: "/v1/sessions/room-2/participants/alice"}); resp.status != 204 {
		t.Errorf("remove: %d %s", resp.status, resp.body)
	}
	for _, method := range []string{"GET", "DELETE"} {
		resp = ts.do(t, request{method: method, path: "/v1/sessions/room-2/participants/alice"})
		if resp.status != 404 || resp.errorBody(t).Code != CodeParticipantNotFound {
			t.Errorf("%s removed: %d %s", method, resp.status, resp.body)
		}
	}
}

func TestProbes(t *testing.T) {
	ts := newTestServer(t, Config{})
	noAuth := map[string]string{"Authorization": ""}

	resp := ts.do(t, request{method: "GET", path: "/healthz", header: noAuth})
	if resp.status != 200 || strings.TrimSpace(string(resp.body)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "GET", path: "/readyz", header: noAuth})
	if resp.status != 200 || strings.TrimSpace(string(resp.body)) != `{"ready":true,"state":"accepting"}` {
		t.Errorf("readyz: %d %s", resp.status, resp.body)
	}
	ts.fake.set(func(f *fakeBackend) {
		f.status.Accepting, f.status.State, f.status.Reason = false, sessionmgr.StateDraining, "operator drain"
	})
	resp = ts.do(t, request{method: "GET", path: "/readyz", header: noAuth})
	if resp.status != 503 || strings.TrimSpace(string(resp.body)) != `{"ready":false,"state":"draining","reason":"operator drain"}` {
		t.Errorf("readyz draining: %d %s", resp.status, resp.body)
	}
	if strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Errorf("a not-ready probe logged an error:\n%s", ts.logs)
	}
}

func TestStatus(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.fake.set(func(f *fakeBackend) {
		f.status.Sessions, f.status.Participants = 2, 5
		f.status.Totals.RxPackets = 100
	})
	resp := ts.do(t, request{method: "GET", path: "/v1/status"})
	if resp.status != 200 {
		t.Fatalf("status: %d %s", resp.status, resp.body)
	}
	var st StatusResponse
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("%v: %s", err, resp.body)
	}
	if st.State != sessionmgr.StateAccepting || !st.Accepting || st.Sessions != 2 || st.Participants != 5 ||
		st.Limits.MaxSessions != 100 || st.Totals.RxPackets != 100 || st.Rates.WindowMS != 0 {
		t.Errorf("status %+v", st)
	}
	m := resp.json(t)
	if r, ok := m["rates"].(map[string]any); !ok || r["pps_in"] != 0.0 {
		t.Errorf("rates %v", m["rates"])
	}
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.fake.set(func(f *fakeBackend) {
		f.status.Sessions, f.status.Participants, f.status.Steering = 3, 7, true
		f.status.Totals = sessionmgr.Counters{RxPackets: 1000, RxBytes: 64000, TxPackets: 3000, TxBytes: 192000,
			Forwarded: 2900, RTCPIn: 11, RTCPOut: 12, Rebinds: 2, DropAuth: 7, DropUnknownSSRC: 9,
			KernelDrops: 4, SendErrors: 1, Removed: map[string]uint64{"idle": 3, "bye": 5}}
		f.status.Shards = []sessionmgr.ShardStatus{
			{ID: 0, Sessions: 2, Participants: 4, Counters: sessionmgr.Counters{RxPackets: 600, TxPackets: 1800}},
			{ID: 1, Sessions: 1, Participants: 3, Counters: sessionmgr.Counters{RxPackets: 400, TxPackets: 1200}},
		}
	})
	ts.do(t, request{method: "GET", path: "/v1/sessions"}) // counted in vox_admin_requests_total
	resp := ts.do(t, request{method: "GET", path: "/metrics", header: map[string]string{"Authorization": ""}})
	if resp.status != 200 || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %v", resp.status, resp.header)
	}
	body := string(resp.body)
	for _, line := range []string{
		"vox_accepting 1", `vox_state{state="accepting"} 1`, `vox_state{state="draining"} 0`, "vox_cpu_percent ", "vox_expired_sessions_total 0",
		"vox_sessions 3", "vox_participants 7", "vox_max_sessions 100", "vox_steering 1",
		"vox_rx_packets_total 1000", "vox_rx_bytes_total 64000", "vox_tx_packets_total 3000", "vox_tx_bytes_total 192000",
		"vox_forwarded_packets_total 2900", "vox_rtcp_in_packets_total 11", "vox_rtcp_out_packets_total 12",
		"vox_rebinds_total 2", "vox_kernel_drops_total 4", "vox_send_errors_total 1",
		`vox_dropped_packets_total{reason="auth"} 7`, `vox_dropped_packets_total{reason="unknown_ssrc"} 9`,
		`vox_dropped_packets_total{reason="replay"} 0`,
		`vox_participants_removed_total{reason="bye"} 5`, `vox_participants_removed_total{reason="idle"} 3`,
		`vox_shard_sessions{shard="0"} 2`, `vox_shard_participants{shard="1"} 3`,
		`vox_shard_rx_packets_total{shard="0"} 600`, `vox_shard_tx_packets_total{shard="1"} 1200`,
		"# TYPE vox_rx_packets_total counter", "# TYPE vox_sessions gauge",
		`vox_admin_requests_total{route="/v1/sessions",method="GET",status="200"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, "\n"+line) && !strings.HasPrefix(body, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
	// Every family's samples are contiguous (the text format requires it).
	seen, last := map[string]bool{}, ""
	for _, l := range strings.Split(body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, _, _ := strings.Cut(l, " ")
		name, _, _ = strings.Cut(name, "{")
		if name != last && seen[name] {
			t.Errorf("family %s split", name)
		}
		seen[name], last = true, name
	}
}

func TestRates(t *testing.T) {
	rt := rateTracker{window: 10 * time.Second}
	c := func(rx, tx uint64) sessionmgr.Counters {
		return sessionmgr.Counters{RxPackets: rx, TxPackets: tx, RxBytes: rx * 100, TxBytes: tx * 100}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	steps := []struct {
		ms            int64
		rx, tx        uint64
		ppsIn, ppsOut float64
		windowMS      int64
	}{
		{0, 0, 0, 0, 0, 0},                  // first sample: no rate
		{2000, 1000, 3000, 500, 1500, 2000}, // since t=0
		{2050, 1025, 3075, 500, 1500, 2050}, // since t=0; too close to t=2 to be kept
		{8000, 4000, 12000, 500, 1500, 8000},
		{11000, 10000, 21000, 1000, 2000, 9000}, // t=0 left the window: since t=2
		{60000, 10000, 21000, 0, 0, 49000},      // nothing in the window: since the latest sample
		{61000, 10100, 21000, 100, 0, 1000},
		{62000, 100, 0, 0, 0, 2000}, // counters went back: 0, not negative
	}
	for _, s := range steps {
		r := rt.observe(fakeNow.Add(time.Duration(s.ms)*time.Millisecond), c(s.rx, s.tx))
		if !near(r.PPSIn, s.ppsIn) || !near(r.PPSOut, s.ppsOut) || r.WindowMS != s.windowMS {
			t.Errorf("t=%dms: %+v, want pps %v/%v over %d ms", s.ms, r, s.ppsIn, s.ppsOut, s.windowMS)
		}
		if !near(r.BPSIn, r.PPSIn*800) || !near(r.BPSOut, r.PPSOut*800) {
			t.Errorf("t=%dms: bps %v/%v, want 800 x pps", s.ms, r.BPSIn, r.BPSOut)
		}
	}
	if len(rt.samples) > 12 {
		t.Errorf("%d samples kept", len(rt.samples))
	}
}

func TestExtraRoutes(t *testing.T) {
	type exampleRequest struct {
		GraceMS int64 `json:"grace_ms"`
	}
	var got exampleRequest
	ts := newTestServer(t, Config{}, func(r chi.Router, s *Server) {
		r.Post("/example", s.Wrap(func(w http.ResponseWriter, r *http.Request) error {
			if err := s.DecodeJSON(w, r, &got, false); err != nil {
				return err
			}
			return WriteJSON(w, http.StatusAccepted, map[string]string{"state": "ok"})
		}))
	})
	resp := ts.do(t, request{method: "POST", path: "/v1/example", body: `{"grace_ms": 5000}`})
	if resp.status != 202 || got.GraceMS != 5000 {
		t.Errorf("example: %d %s %+v", resp.status, resp.body, got)
	}
	for _, tt := range []struct {
		req    request
		status int
		code   string
	}{
		{request{method: "POST", path: "/v1/example"}, 400, CodeMalformedJSON}, // body required here
		{request{method: "POST", path: "/v1/example", body: `{"rate": 1}`}, 400, CodeUnknownField},
		{request{method: "GET", path: "/v1/example"}, 405, CodeMethodNotAllowed},
		{request{method: "POST", path: "/v1/example", body: `{}`, header: map[string]string{"Authorization": ""}}, 401, CodeUnauthorized},
	} {
		resp := ts.do(t, tt.req)
		if resp.status != tt.status || resp.errorBody(t).Code != tt.code {
			t.Errorf("%s %s: %d %s, want %d %s", tt.req.method, tt.req.path, resp.status, resp.body, tt.status, tt.code)
		}
	}
}

// TestOpenAPI: without a token (loopback only) the API needs no
// Authorization but refuses foreign Host names and browser origins.
func TestOpenAPI(t *testing.T) {
	ts := newTestServer(t, Config{Addr: "127.0.0.1:0"})
	noAuth := map[string]string{"Authorization": ""}
	if resp := ts.do(t, request{method: "GET", path: "/v1/status", header: noAuth}); resp.status != 200 {
		t.Errorf("open status: %d %s", resp.status, resp.body)
	}
	for _, tt := range []struct {
		header map[string]string
		code   string
	}{
		{map[string]string{"Authorization": "", "Host": "rebound.example:8080"}, CodeForbiddenHost},
		{map[string]string{"Authorization": "", "Origin": "https://evil.example"}, CodeForbiddenOrigin},
	} {
		r := httptest.NewRequest("GET", "/v1/sessions", nil)
		r.Host = "127.0.0.1:8080"
		if h := tt.header["Host"]; h != "" {
			r.Host = h
		}
		if o := tt.header["Origin"]; o != "" {
			r.Header.Set("Origin", o)
		}
		w := httptest.NewRecorder()
		ts.Handler().ServeHTTP(w, r)
		resp := response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
		if resp.status != 403 || resp.errorBody(t).Code != tt.code {
			t.Errorf("%v: %d %s", tt.header, resp.status, resp.body)
		}
	}
}

func TestCheckExposure(t *testing.T) {
	tests := []struct {
		addr, token string
		want        error
	}{
		{"127.0.0.1:8080", "", nil},
		{"127.0.0.2:8080", "", nil},
		{"[::1]:8080", "", nil},
		{"[::ffff:127.0.0.1]:8080", "", nil},
		{"localhost:8080", "", nil},
		{"LOCALHOST:0", "", nil},
		{":8080", "", ErrExposed},
		{"0.0.0.0:8080", "", ErrExposed},
		{"[::]:8080", "", ErrExposed},
		{"10.1.2.3:8080", "", ErrExposed},
		{"admin.example:8080", "", ErrExposed},
		{"0.0.0.0:8080", "secret", nil},
		{":8080", "secret", nil},
		{"127.0.0.1", "", ErrBadConfig},
	}
	for _, tt := range tests {
		err := CheckExposure(tt.addr, tt.token)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckExposure(%q, %q) = %v, want %v", tt.addr, tt.token, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("token in error %q", err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		cfg     Config
		backend Backend
	}{
		{Config{}, nil},
		{Config{ReadTimeout: -1}, newFake()},
		{Config{MaxBodyBytes: -1}, newFake()},
		{Config{Token: "has space"}, newFake()},
		{Config{Addr: "no-port"}, newFake()},
	} {
		if _, err := New(tt.cfg, tt.backend); !errors.Is(err, ErrBadConfig) {
			t.Errorf("New(%+v) = %v, want ErrBadConfig", tt.cfg, err)
		}
	}
}
