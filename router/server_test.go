package router

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

func newTestServer(t *testing.T, now func() time.Time) (*Router, *httptest.Server) {
	t.Helper()
	r, err := New(Config{Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(ServerConfig{Token: "api", ReportToken: "rep"}, r)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return r, ts
}

func do(t *testing.T, ts *httptest.Server, method, path, token, body string) (int, api.ErrorResponse, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.ErrorResponse
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e, resp.Header
}

// TestServerErrors: the JSON error shape and codes of voxd's admin plane.
func TestServerErrors(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	_, ts := newTestServer(t, func() time.Time { return now })
	report := `{"name":"p1","instance":"i","seq":1,"admin_url":"http://127.0.0.1:1","limits":{"max_sessions":1,"max_participants":1,"max_session_participants":2},"accepting":true,"state":"accepting","sessions":[]}`
	for _, tt := range []struct {
		method, path, token, body string
		status                    int
		code                      string
	}{
		{"GET", "/v1/status", "", "", 401, api.CodeUnauthorized},
		{"GET", "/v1/status", "rep", "", 403, api.CodeForbidden},
		{"POST", "/v1/pods/p1/report", "api", report, 403, api.CodeForbidden},
		{"POST", "/v1/pods/p2/report", "rep", report, 400, api.CodeInvalidRequest},
		{"POST", "/v1/pods/p1/report", "rep", `{"name":"p1","name":"p1"}`, 400, api.CodeDuplicateField},
		{"POST", "/v1/pods/p1/report", "rep", `{"Name":"p1"}`, 400, api.CodeUnknownField},
		{"POST", "/v1/pods/p1/report", "rep", strings.Replace(report, `"seq":1`, `"seq":0`, 1), 400, api.CodeInvalidRequest},
		{"POST", "/v1/sessions/s1/participants", "api", `{"participant_id":"a b"}`, 400, api.CodeInvalidID},
		{"POST", "/v1/sessions/s1/participants?from_pod=..", "api", `{}`, 400, api.CodeInvalidID},
		{"POST", "/v1/sessions/s1/participants", "api", `{"session":{"empty_timeout":"48h"}}`, 400, api.CodeInvalidRequest},
		{"POST", "/v1/sessions/s1/participants", "api", `{}`, 503, api.CodeNotAccepting}, // no pod yet
		{"GET", "/v1/sessions/s1", "api", "", 404, api.CodeSessionNotFound},
		{"DELETE", "/v1/sessions/s1/participants/p", "api", "", 404, api.CodeSessionNotFound},
		{"GET", "/v1/nope", "api", "", 404, api.CodeNotFound},
		{"PUT", "/v1/status", "api", "", 405, api.CodeMethodNotAllowed},
		{"POST", "/v1/sessions/s1/participants?region=a%20b", "api", `{}`, 400, api.CodeInvalidID},
		{"GET", "/v1/pools/nope", "api", "", 404, api.CodePoolNotFound},
		{"PUT", "/v1/pools/default", "api", "", 400, api.CodeMalformedJSON},
		{"PUT", "/v1/pools/default", "api", `{}`, 400, api.CodeInvalidRequest},
		{"PUT", "/v1/pools/default", "api", `{"weight":-1}`, 400, api.CodeInvalidRequest},
		{"PUT", "/v1/pools/default", "api", `{"weight":"1"}`, 400, api.CodeInvalidRequest},
		{"PUT", "/v1/pools/default", "api", `{"wieght":1}`, 400, api.CodeUnknownField},
		{"PUT", "/v1/pools/..", "api", `{"weight":1}`, 400, api.CodeInvalidID},
		{"POST", "/v1/pools/nope/drain", "api", "", 404, api.CodePoolNotFound},
		{"DELETE", "/v1/pools/default/drain", "api", "", 404, api.CodeNoDrain},
		{"POST", "/v1/pods/nope/drain", "api", "", 404, api.CodePodNotFound},
		{"POST", "/v1/pods/p1/drain", "api", `{"grace":5}`, 400, api.CodeInvalidRequest},
		{"POST", "/v1/pods/p1/drain", "api", `{"grace":"48h"}`, 400, api.CodeInvalidRequest},
		{"POST", "/v1/pools/default/drain", "api", `{"x":1}`, 400, api.CodeUnknownField},
		{"DELETE", "/v1/pods/nope/drain", "api", "", 404, api.CodeNoDrain},
		{"GET", "/v1/drains", "", "", 401, api.CodeUnauthorized},
	} {
		status, e, h := do(t, ts, tt.method, tt.path, tt.token, tt.body)
		if status != tt.status || e.Code != tt.code || e.Error == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", tt.method, tt.path, status, e, tt.status, tt.code)
		}
		if tt.code == api.CodeNotAccepting && h.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", tt.method, tt.path)
		}
	}
	// Not ready before any report; ready after one.
	if status, _, _ := do(t, ts, "GET", "/readyz", "", ""); status != 503 {
		t.Errorf("readyz: %d", status)
	}
	if status, _, _ := do(t, ts, "POST", "/v1/pods/p1/report", "rep", report); status != 204 {
		t.Fatalf("report: %d", status)
	}
	if status, _, _ := do(t, ts, "GET", "/readyz", "", ""); status != 200 {
		t.Errorf("readyz after a report: %d", status)
	}
	// The fleet operations' happy answers.
	for _, tt := range []struct {
		method, path, body string
		status             int
	}{
		{"PUT", "/v1/pools/default", `{"weight":0.5,"region":"eu"}`, 200},
		{"GET", "/v1/pools", "", 200},
		{"GET", "/v1/pools/default", "", 200},
		{"GET", "/v1/drains", "", 200},
		{"POST", "/v1/pods/p1/drain", `{"grace":"30s"}`, 202},
		{"POST", "/v1/pods/p1/drain", "", 202}, // under way: the same drain
		{"DELETE", "/v1/pods/p1/drain", "", 200},
		{"POST", "/v1/pools/default/drain", "", 202},
		{"DELETE", "/v1/pools/default/drain", "", 200},
	} {
		if status, e, _ := do(t, ts, tt.method, tt.path, "api", tt.body); status != tt.status {
			t.Errorf("%s %s: %d %+v, want %d", tt.method, tt.path, status, e, tt.status)
		}
	}
}

// TestReadyGrace: without reports the router turns ready after its grace.
func TestReadyGrace(t *testing.T) {
	now := time.Unix(1000, 0)
	r, _ := newTestServer(t, func() time.Time { return now })
	if r.Ready() {
		t.Fatal("ready at start")
	}
	now = now.Add(DefaultReadyGrace)
	if !r.Ready() {
		t.Fatal("not ready after the grace")
	}
}

func TestExposure(t *testing.T) {
	for _, tt := range []struct {
		addr, tok, rep string
		ok             bool
	}{
		{"127.0.0.1:1", "", "", true},
		{"[::1]:1", "", "", true},
		{":1", "a", "", false},
		{"0.0.0.0:1", "a", "b", true},
		{"10.0.0.1:1", "", "b", false},
	} {
		if err := CheckExposure(tt.addr, tt.tok, tt.rep); (err == nil) != tt.ok {
			t.Errorf("%+v: %v", tt, err)
		}
	}
}
