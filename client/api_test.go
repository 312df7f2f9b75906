package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/media"
)

const testToken = "s3cret"

// fakeAdmin is an httptest admin plane implementing the session routes
// over a map, enough to exercise the client's requests and decoding.
type fakeAdmin struct {
	t        *testing.T
	sessions map[string]api.SessionInfo
	listObj  bool // answer GET /v1/sessions as {"sessions": [...]}
	lastBody []byte
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

func (f *fakeAdmin) handler() http.Handler {
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+testToken {
				writeErr(w, http.StatusUnauthorized, "unauthorized", "missing or bad token")
				return
			}
			if r.Body != nil {
				f.lastBody, _ = io.ReadAll(r.Body)
			}
			h(w, r)
		}
	}
	mux.HandleFunc("PUT /v1/sessions/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var opts api.SessionOptions
		dec := json.NewDecoder(strings.NewReader(string(f.lastBody)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&opts); err != nil {
			writeErr(w, http.StatusBadRequest, "unknown_field", err.Error())
			return
		}
		if s, ok := f.sessions[id]; ok {
			if opts.MaxParticipants != 0 && opts.MaxParticipants != s.MaxParticipants {
				writeErr(w, http.StatusConflict, "session_conflict", "session exists with other options")
				return
			}
			writeJSON(w, http.StatusOK, s)
			return
		}
		s := api.SessionInfo{ID: id, MaxParticipants: opts.MaxParticipants, Profile: api.DefaultProfile, CreatedAt: time.Unix(1700000000, 0).UTC()}
		f.sessions[id] = s
		writeJSON(w, http.StatusCreated, s)
	}))
	mux.HandleFunc("GET /v1/sessions", auth(func(w http.ResponseWriter, r *http.Request) {
		list := []api.SessionInfo{}
		for _, s := range f.sessions {
			list = append(list, s)
		}
		if f.listObj {
			writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
			return
		}
		writeJSON(w, http.StatusOK, list)
	}))
	mux.HandleFunc("GET /v1/sessions/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		s, ok := f.sessions[r.PathValue("id")]
		if !ok {
			writeErr(w, http.StatusNotFound, "session_not_found", "session not found")
			return
		}
		writeJSON(w, http.StatusOK, s)
	}))
	mux.HandleFunc("DELETE /v1/sessions/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.sessions[r.PathValue("id")]; !ok {
			writeErr(w, http.StatusNotFound, "session_not_found", "session not found")
			return
		}
		delete(f.sessions, r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /v1/sessions/{id}/participants", auth(func(w http.ResponseWriter, r *http.Request) {
		var req api.AdmitRequest
		if err := json.Unmarshal(f.lastBody, &req); err != nil {
			writeErr(w, http.StatusBadRequest, "malformed_json", err.Error())
			return
		}
		if r.PathValue("id") == "busy" {
			w.Header().Set("Retry-After", "7")
			writeErr(w, http.StatusServiceUnavailable, "not_accepting", "not accepting: draining")
			return
		}
		keys, _ := media.GenerateSessionKeys(media.DefaultProfile)
		writeJSON(w, http.StatusCreated, api.Admission{
			SessionID: r.PathValue("id"), ParticipantID: req.ParticipantID, SSRC: 42, ServerSSRC: 43,
			Media:                 api.MediaAddr{Address: "127.0.0.1", Port: 40000},
			SRTP:                  wireKeys(keys),
			AudioLevelExtensionID: 1, JoinTimeoutMS: 10000, IdleTimeoutMS: 30000,
		})
	}))
	mux.HandleFunc("GET /v1/sessions/{id}/participants/{pid}", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("pid") != "p1" {
			writeErr(w, http.StatusNotFound, "participant_not_found", "participant not found")
			return
		}
		writeJSON(w, http.StatusOK, api.ParticipantInfo{ID: "p1", SSRC: 42, Profile: api.DefaultProfile, Stats: api.StreamStats{PacketsIn: 9, AudioLevel: -1}})
	}))
	mux.HandleFunc("DELETE /v1/sessions/{id}/participants/{pid}", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("pid") != "p1" {
			writeErr(w, http.StatusNotFound, "participant_not_found", "participant not found")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /v1/status", auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.Status{State: api.StateAccepting, Accepting: true, Sessions: len(f.sessions),
			Totals: api.Counters{RxPackets: 5, Removed: map[string]uint64{"bye": 1}}})
	}))
	mux.HandleFunc("GET /v1/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /v1/teapot", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>short and stout</html>", http.StatusTeapot)
	})
	mux.HandleFunc("POST /v1/shutdown", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		writeErr(w, http.StatusServiceUnavailable, "shutting_down", "shutting down")
	})
	return mux
}

func newTestAPI(t *testing.T) (*API, *fakeAdmin) {
	t.Helper()
	f := &fakeAdmin{t: t, sessions: map[string]api.SessionInfo{}}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	a, err := NewAPI(srv.URL+"/", testToken)
	if err != nil {
		t.Fatal(err)
	}
	return a, f
}

func TestAPISessions(t *testing.T) {
	a, f := newTestAPI(t)
	ctx := context.Background()

	info, created, err := a.PutSession(ctx, "room-1", api.SessionOptions{MaxParticipants: 8})
	if err != nil || !created || info.ID != "room-1" || info.MaxParticipants != 8 || info.Profile != api.DefaultProfile {
		t.Fatalf("create: %+v %v %v", info, created, err)
	}
	if string(f.lastBody) != `{"max_participants":8}` {
		t.Errorf("PUT body %s", f.lastBody)
	}
	info, created, err = a.PutSession(ctx, "room-1", api.SessionOptions{})
	if err != nil || created || info.ID != "room-1" {
		t.Fatalf("existing: %+v %v %v", info, created, err)
	}
	_, _, err = a.PutSession(ctx, "room-1", api.SessionOptions{MaxParticipants: 9})
	if !errors.Is(err, api.ErrSessionConflict) {
		t.Errorf("conflict: %v", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != "session_conflict" || ae.Message == "" {
		t.Errorf("conflict error %#v", ae)
	}

	if got, err := a.Session(ctx, "room-1"); err != nil || got.ID != "room-1" || !got.CreatedAt.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("get: %+v %v", got, err)
	}
	if _, err := a.Session(ctx, "nope"); !errors.Is(err, api.ErrSessionNotFound) || errors.Is(err, api.ErrParticipantNotFound) {
		t.Errorf("get missing: %v", err)
	}
	for _, obj := range []bool{false, true} {
		f.listObj = obj
		list, err := a.Sessions(ctx)
		if err != nil || len(list) != 1 || list[0].ID != "room-1" {
			t.Errorf("list (object %v): %+v %v", obj, list, err)
		}
	}
	if err := a.DeleteSession(ctx, "room-1"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteSession(ctx, "room-1"); !errors.Is(err, api.ErrSessionNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	if list, err := a.Sessions(ctx); err != nil || len(list) != 0 {
		t.Errorf("empty list: %v %v", list, err)
	}
	for _, id := range []string{"", ".", "..", "a/b", "é", strings.Repeat("a", 65)} {
		if _, err := a.Session(ctx, id); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("id %q: %v", id, err)
		}
	}
}

func TestAPIParticipants(t *testing.T) {
	a, f := newTestAPI(t)
	ctx := context.Background()
	prof := api.ProfileAEADAES128GCM
	adm, err := a.Admit(ctx, "room-2", api.AdmitRequest{ParticipantID: "p1", Profile: &prof, Session: &api.SessionOptions{MaxParticipants: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if string(f.lastBody) != `{"participant_id":"p1","profile":"AEAD_AES_128_GCM","session":{"max_participants":4}}` {
		t.Errorf("admit body %s", f.lastBody)
	}
	if adm.SessionID != "room-2" || adm.ParticipantID != "p1" || adm.SSRC != 42 || adm.Media.Port != 40000 ||
		adm.SRTP.Profile != api.DefaultProfile || media.Keys(adm.SRTP.ClientToServer).Validate(media.DefaultProfile) != nil || adm.IdleTimeoutMS != 30000 {
		t.Errorf("admission %+v", adm)
	}

	_, err = a.Admit(ctx, "busy", api.AdmitRequest{})
	if !errors.Is(err, api.ErrNotAccepting) {
		t.Fatalf("busy: %v", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.RetryAfter != 7*time.Second || !strings.Contains(ae.Error(), "not_accepting") {
		t.Errorf("busy error %#v %q", ae, err)
	}
	if d, ok := IsTemporary(err); !ok || d != 7*time.Second {
		t.Errorf("IsTemporary %v %v", d, ok)
	}

	if pi, err := a.Participant(ctx, "room-2", "p1"); err != nil || pi.SSRC != 42 || pi.Stats.PacketsIn != 9 || pi.Stats.AudioLevel != -1 {
		t.Errorf("participant %+v %v", pi, err)
	}
	if _, err := a.Participant(ctx, "room-2", "p9"); !errors.Is(err, api.ErrParticipantNotFound) {
		t.Errorf("participant missing: %v", err)
	}
	if err := a.RemoveParticipant(ctx, "room-2", "p1"); err != nil {
		t.Error(err)
	}
	if err := a.RemoveParticipant(ctx, "room-2", "p2"); !errors.Is(err, api.ErrParticipantNotFound) {
		t.Errorf("remove missing: %v", err)
	}
	if err := a.RemoveParticipant(ctx, "room-2", ""); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("remove empty id: %v", err)
	}
	st, err := a.Status(ctx)
	if err != nil || st.State != api.StateAccepting || !st.Accepting || st.Totals.RxPackets != 5 || st.Totals.Removed["bye"] != 1 {
		t.Errorf("status %+v %v", st, err)
	}
}

func TestAPIErrors(t *testing.T) {
	a, _ := newTestAPI(t)
	ctx := context.Background()

	// Bad token: an APIError matching no sentinel.
	bad := *a
	bad.Token = "wrong"
	_, err := bad.Status(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthorized" || ae.Sentinel() != nil || ae.Temporary() {
		t.Errorf("unauthorized: %v", err)
	}
	for _, c := range api.Codes() {
		s := c.Err
		if s == nil {
			continue
		}
		if errors.Is(err, s) {
			t.Errorf("unauthorized matches %v", s)
		}
	}

	// An empty 200 body is an error when a body is expected, not otherwise.
	var v map[string]any
	if _, err := a.Do(ctx, http.MethodGet, "/v1/empty", nil, &v); err == nil || errors.As(err, &ae) {
		t.Errorf("empty body: %v", err)
	}
	if status, err := a.Do(ctx, http.MethodGet, "/v1/empty", nil, nil); err != nil || status != 200 {
		t.Errorf("empty body, no output: %d %v", status, err)
	}
	// A non-JSON error body.
	status, err := a.Do(ctx, http.MethodGet, "/v1/teapot", nil, nil)
	if !errors.As(err, &ae) || status != http.StatusTeapot || ae.Code != "" || !strings.Contains(ae.Message, "short and stout") {
		t.Errorf("teapot: %d %v", status, err)
	}
	// An HTTP-date Retry-After, shutting_down → api.ErrClosed.
	_, err = a.Do(ctx, http.MethodPost, "/v1/shutdown", map[string]int{"x": 1}, nil)
	if !errors.Is(err, api.ErrClosed) || !errors.As(err, &ae) || ae.RetryAfter < 59*time.Minute || ae.RetryAfter > time.Hour {
		t.Errorf("shutdown: %v", err)
	}
	// Unrouted: Go's mux answers 404 text.
	if _, err := a.Do(ctx, http.MethodGet, "/v1/nothing", nil, nil); !errors.As(err, &ae) || ae.Status != 404 || errors.Is(err, api.ErrSessionNotFound) {
		t.Errorf("unrouted: %v", err)
	}
	// Context cancelled: a transport error, not an APIError.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Status(cctx); !errors.Is(err, context.Canceled) || errors.As(err, &ae) {
		t.Errorf("cancelled: %v", err)
	}
	// Every code maps to its sentinel.
	want := map[string]error{
		"invalid_request": api.ErrInvalid, "unknown_field": api.ErrInvalid,
		"malformed_json": api.ErrInvalid, "invalid_id": api.ErrInvalid,
		"session_not_found": api.ErrSessionNotFound, "participant_not_found": api.ErrParticipantNotFound,
		"participant_exists": api.ErrParticipantExists, "session_full": api.ErrSessionFull,
		"session_conflict": api.ErrSessionConflict, "not_accepting": api.ErrNotAccepting,
		"shutting_down": api.ErrClosed,
	}
	for code, s := range want {
		if err := error(&APIError{Status: 400, Code: code}); !errors.Is(err, s) {
			t.Errorf("%s does not match %v", code, s)
		}
	}
	if _, err := NewAPI("localhost:8080", ""); err == nil {
		t.Error("base URL without scheme accepted")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"12", 12 * time.Second}, {" 3 ", 3 * time.Second}, {"-1", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}
