package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

// drainCall is one request the drain test server saw.
type drainCall struct {
	method, path, contentType string
	body                      map[string]any // nil when the body was empty
}

// drainServer answers the drain routes with canned bodies (or the error
// in failWith) and records the requests.
func drainServer(t *testing.T, failWith *[3]string) (*API, *[]drainCall) {
	t.Helper()
	var calls []drainCall
	ds := api.DrainStatus{Phase: api.DrainGrace, Reason: "operator drain", Rate: 50, WindowMS: 2000,
		StartedAt: time.Unix(1700000000, 0).UTC(), ParticipantsLeft: 8, SessionsLeft: 2}
	st := api.Status{State: api.StateStopped, Reason: "maintenance", Sessions: 2, Participants: 8}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeErr(w, http.StatusUnauthorized, "unauthorized", "missing or bad token")
			return
		}
		c := drainCall{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type")}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &c.body); err != nil {
				t.Errorf("%s %s: body %q: %v", r.Method, r.URL.Path, b, err)
			}
		}
		calls = append(calls, c)
		if failWith != nil {
			writeErr(w, map[string]int{"drain_conflict": 409, "no_drain": 404, "session_not_found": 404,
				"invalid_request": 400, "not_implemented": 501}[failWith[0]], failWith[0], failWith[1])
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "POST /v1/accept-stop", "POST /v1/accept-resume":
			writeJSON(w, http.StatusOK, st)
		case "POST /v1/drain":
			writeJSON(w, http.StatusAccepted, ds)
		case "DELETE /v1/drain":
			c := ds
			c.Phase = api.DrainCancelled
			writeJSON(w, http.StatusOK, c)
		case "POST /v1/reconnect":
			writeJSON(w, http.StatusAccepted, api.ReconnectAnswer{Sessions: 1, Participants: 4, ETA: api.Duration(20 * time.Millisecond)})
		default:
			writeErr(w, http.StatusNotFound, "not_found", "no route")
		}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a, err := NewAPI(srv.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	return a, &calls
}

func TestDrainAPI(t *testing.T) {
	ctx := context.Background()
	a, calls := drainServer(t, nil)
	last := func() drainCall {
		t.Helper()
		if len(*calls) == 0 {
			t.Fatal("no request")
		}
		return (*calls)[len(*calls)-1]
	}

	st, err := a.AcceptStop(ctx, "maintenance")
	if err != nil || st.State != api.StateStopped || st.Reason != "maintenance" {
		t.Fatalf("AcceptStop: %+v %v", st, err)
	}
	if c := last(); c.method != "POST" || c.path != "/v1/accept-stop" || c.body["reason"] != "maintenance" || c.contentType != "application/json" {
		t.Errorf("AcceptStop sent %+v", c)
	}
	if _, err := a.AcceptStop(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if c := last(); c.body != nil {
		t.Errorf("AcceptStop without a reason sent a body: %+v", c.body)
	}

	if _, err := a.AcceptResume(ctx); err != nil {
		t.Fatal(err)
	}
	if c := last(); c.method != "POST" || c.path != "/v1/accept-resume" || c.body != nil {
		t.Errorf("AcceptResume sent %+v", c)
	}

	no := false
	ds, err := a.Drain(ctx, api.DrainRequest{Grace: api.Duration(5 * time.Second), Rate: 50,
		Deadline: api.Duration(2 * time.Minute), Window: api.Duration(1500 * time.Millisecond), Exit: &no})
	if err != nil || ds.Phase != api.DrainGrace || ds.Rate != 50 || ds.ParticipantsLeft != 8 {
		t.Fatalf("Drain: %+v %v", ds, err)
	}
	want := map[string]any{"grace": "5s", "rate": 50.0, "deadline": "2m0s", "window": "1.5s", "exit": false}
	if c := last(); c.method != "POST" || c.path != "/v1/drain" || !equalJSON(c.body, want) {
		t.Errorf("Drain sent %+v, want body %v", c, want)
	}
	if _, err := a.Drain(ctx, api.DrainRequest{}); err != nil {
		t.Fatal(err)
	}
	if c := last(); c.body["exit"] != nil {
		t.Errorf("Drain with Exit nil sent exit: %v", c.body)
	}

	ds, err = a.CancelDrain(ctx)
	if err != nil || ds.Phase != api.DrainCancelled {
		t.Fatalf("CancelDrain: %+v %v", ds, err)
	}
	if c := last(); c.method != "DELETE" || c.path != "/v1/drain" || c.body != nil {
		t.Errorf("CancelDrain sent %+v", c)
	}

	ans, err := a.Reconnect(ctx, api.ReconnectRequest{Rate: 10, Sessions: []string{"s1"}, Window: api.Duration(time.Second)})
	if err != nil || ans.Sessions != 1 || ans.Participants != 4 || time.Duration(ans.ETA) != 20*time.Millisecond {
		t.Fatalf("Reconnect: %+v %v", ans, err)
	}
	want = map[string]any{"rate": 10.0, "sessions": []any{"s1"}, "window": "1s"}
	if c := last(); c.method != "POST" || c.path != "/v1/reconnect" || !equalJSON(c.body, want) {
		t.Errorf("Reconnect sent %+v, want body %v", c, want)
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestDrainAPIErrors(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(a *API) error{
		"AcceptStop":   func(a *API) error { _, err := a.AcceptStop(ctx, "x"); return err },
		"AcceptResume": func(a *API) error { _, err := a.AcceptResume(ctx); return err },
		"Drain":        func(a *API) error { _, err := a.Drain(ctx, api.DrainRequest{}); return err },
		"CancelDrain":  func(a *API) error { _, err := a.CancelDrain(ctx); return err },
		"Reconnect":    func(a *API) error { _, err := a.Reconnect(ctx, api.ReconnectRequest{}); return err },
	}
	for _, tt := range []struct {
		code   string
		status int
		want   error
	}{
		{"drain_conflict", 409, api.ErrDrainConflict},
		{"no_drain", 404, api.ErrNoDrain},
		{"session_not_found", 404, api.ErrSessionNotFound},
		{"invalid_request", 400, api.ErrInvalid},
		{"not_implemented", 501, nil},
	} {
		a, _ := drainServer(t, &[3]string{tt.code, "refused: " + tt.code})
		for name, call := range calls {
			err := call(a)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.Code != tt.code || ae.Message != "refused: "+tt.code {
				t.Errorf("%s with %s: %v", name, tt.code, err)
				continue
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("%s with %s: %v does not match %v", name, tt.code, err, tt.want)
			}
			if tt.want == nil && ae.Sentinel() != nil {
				t.Errorf("%s with %s: sentinel %v", name, tt.code, ae.Sentinel())
			}
		}
	}
	// The two drain sentinels are distinct.
	if errors.Is(&APIError{Status: 409, Code: "drain_conflict"}, api.ErrNoDrain) {
		t.Error("drain_conflict matches ErrNoDrain")
	}
}
