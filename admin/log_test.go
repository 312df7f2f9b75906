package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/voxfleet/vox/sessionmgr"
)

// recordingHandler is a slog.Handler that keeps every record.
type recordingHandler struct {
	mu   sync.Mutex // guards recs
	recs []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// requestLine returns the level and code of the last "admin request"
// record, and forgets every record.
func (h *recordingHandler) requestLine(t *testing.T) (slog.Level, string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	defer func() { h.recs = nil }()
	for i := len(h.recs) - 1; i >= 0; i-- {
		r := h.recs[i]
		if r.Message != "admin request" {
			continue
		}
		code := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "code" {
				code = a.Value.String()
			}
			return true
		})
		return r.Level, code
	}
	t.Fatal("no admin request record")
	return 0, ""
}

// TestRequestLogLevels: expected refusals of the backend are not errors
// in the log; internal failures are.
func TestRequestLogLevels(t *testing.T) {
	h := &recordingHandler{}
	ts := newHTTPTestServer(t, Config{Token: testToken, Logger: slog.New(h)})
	for _, tt := range []struct {
		err    error
		status int
		level  slog.Level
	}{
		{sessionmgr.ErrNotAccepting, 503, slog.LevelInfo},
		{sessionmgr.ErrClosed, 503, slog.LevelInfo},
		{context.DeadlineExceeded, 503, slog.LevelWarn},
		{errors.New("shard wedged"), 500, slog.LevelError},
		{sessionmgr.ErrSessionFull, 409, slog.LevelDebug},
		{sessionmgr.ErrInvalid, 400, slog.LevelDebug},
		{nil, 201, slog.LevelDebug},
	} {
		ts.fake.set(func(f *fakeBackend) {
			f.err = nil
			if tt.err != nil {
				f.err = fmt.Errorf("%w: detail", tt.err)
			}
		})
		resp := ts.doHTTP(t, request{method: "POST", path: "/v1/sessions/s1/participants"})
		if resp.status != tt.status {
			t.Fatalf("%v: status %d, want %d", tt.err, resp.status, tt.status)
		}
		if level, code := h.requestLine(t); level != tt.level {
			t.Errorf("%v (%s): logged at %v, want %v", tt.err, code, level, tt.level)
		}
	}
	ts.fake.set(func(f *fakeBackend) {
		f.err, f.panicMsg = nil, "kaboom"
	})
	ts.doHTTP(t, request{method: "GET", path: "/v1/sessions"})
	if level, _ := h.requestLine(t); level != slog.LevelError {
		t.Errorf("panic logged at %v", level)
	}
	ts.fake.set(func(f *fakeBackend) {
		f.panicMsg = ""
		f.status.Accepting, f.status.State = false, sessionmgr.StateDraining
	})
	ts.doHTTP(t, request{method: "GET", path: "/readyz"})
	if level, _ := h.requestLine(t); level != slog.LevelDebug {
		t.Errorf("a not-ready /readyz logged at %v", level)
	}
	ts.doHTTP(t, request{method: "GET", path: "/nope"})
	if level, _ := h.requestLine(t); level != slog.LevelDebug {
		t.Errorf("a 404 logged at %v", level)
	}
}

func TestRequestLogLevelNotImplemented(t *testing.T) {
	if l := requestLogLevel(501, CodeNotImplemented, false); l != slog.LevelDebug {
		t.Errorf("501 not_implemented at %v", l)
	}
	if l := requestLogLevel(502, "", false); l != slog.LevelError {
		t.Errorf("a 502 without a code at %v", l)
	}
}
