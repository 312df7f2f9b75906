package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/go-chi/chi/v5"
)

// Observe counts by route pattern, method and status, logs at the level
// given, and turns a panic into the error writer's 500.
func TestObserve(t *testing.T) {
	set := metrics.NewSet()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := chi.NewRouter()
	mux.Use(Observe(ObserveConfig{Metrics: set, Counter: "x_requests_total", Logger: log, Message: "req",
		Level: func(rec *Recorder) slog.Level {
			if rec.Status >= 500 {
				return slog.LevelError
			}
			return slog.LevelDebug
		},
		HandleError: func(w http.ResponseWriter, r *http.Request, err error) {
			if rec := RecorderOf(w); rec != nil {
				rec.Code, rec.Cause = "internal", err
			}
			_ = WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error", "code": "internal"})
		}}))
	mux.Get("/ok/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) })
	mux.Get("/boom", func(http.ResponseWriter, *http.Request) { panic(errors.New("bad")) })
	for _, path := range []string{"/ok/1", "/ok/2", "/boom"} {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil)
		rr := httptest.NewRecorder()
		mux.ServeHTTP(rr, req)
		if path == "/boom" && (rr.Code != 500 || !strings.Contains(rr.Body.String(), `"code":"internal"`)) {
			t.Fatalf("panic answered %d %s", rr.Code, rr.Body.String())
		}
	}
	var out bytes.Buffer
	set.WritePrometheus(&out)
	for _, want := range []string{`x_requests_total{route="/ok/{id}",method="GET",status="200"} 2`,
		`x_requests_total{route="/boom",method="GET",status="500"} 1`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, out.String())
		}
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=req") || !strings.Contains(logs.String(), "panic: bad") ||
		!strings.Contains(logs.String(), "bytes=2") {
		t.Errorf("logs:\n%s", logs.String())
	}
}
