package router

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/httpapi"
)

// HandlerFunc is a handler that returns its error, answered by handleError.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap adapts h to an http.HandlerFunc.
func (s *Server) wrap(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.handleError(w, r, err)
		}
	}
}

func (s *Server) routes() *chi.Mux {
	m := chi.NewRouter()
	m.Use(s.observe)
	m.Use(middleware.GetHead)
	m.NotFound(s.wrap(func(_ http.ResponseWriter, r *http.Request) error {
		return httpapi.Errorf(http.StatusNotFound, api.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path)
	}))
	m.MethodNotAllowed(s.wrap(func(_ http.ResponseWriter, r *http.Request) error {
		return httpapi.Errorf(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path)
	}))
	m.Get("/healthz", s.wrap(s.healthz))
	m.Get("/readyz", s.wrap(s.readyz))
	m.Get("/metrics", s.serveMetrics)
	m.Group(func(m chi.Router) {
		m.Use(s.guard(&s.reportAuth))
		m.Post("/v1/pods/{pod}/report", s.wrap(s.report))
	})
	m.Group(func(m chi.Router) {
		m.Use(s.guard(&s.bearer))
		m.Get("/v1/status", s.wrap(s.status))
		m.Get("/v1/pods", s.wrap(s.pods))
		m.Get("/v1/sessions/{session_id}", s.wrap(s.session))
		m.Delete("/v1/sessions/{session_id}", s.wrap(s.deleteSession))
		m.Post("/v1/sessions/{session_id}/participants", s.wrap(s.admit))
		m.Delete("/v1/sessions/{session_id}/participants/{participant_id}", s.wrap(s.removeParticipant))
	})
	return m
}

// guard checks a bearer token.
func (s *Server) guard(b *httpapi.Bearer) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := b.Check(w, r); err != nil {
				s.handleError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// recorder records the answer for the request's log line and counter.
type recorder struct {
	http.ResponseWriter
	status int
	code   string // the machine code of an error answer
	cause  error  // the error behind a 5xx: logged, not sent
}

func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func recorderOf(w http.ResponseWriter) *recorder {
	for {
		switch v := w.(type) {
		case *recorder:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// observe logs and counts every request (vox_router_requests_total) and
// turns a handler panic into a 500.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
				if rec.status == 0 {
					s.handleError(rec, r, err)
				}
				rec.cause = err
			}
			s.finish(rec, r, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) finish(rec *recorder, r *http.Request, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	route := "unmatched"
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" && status != http.StatusNotFound {
		route = rc.RoutePattern()
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete:
	default:
		method = "other"
	}
	s.r.metrics.GetOrCreateCounter(fmt.Sprintf(`vox_router_requests_total{route=%q,method=%q,status="%d"}`,
		route, method, status)).Inc()
	level := slog.LevelDebug
	if rec.cause != nil {
		level = slog.LevelError
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Duration("duration", d)}
	if rec.code != "" {
		attrs = append(attrs, slog.String("code", rec.code))
	}
	if rec.cause != nil {
		attrs = append(attrs, slog.Any("err", rec.cause))
	}
	s.log.LogAttrs(r.Context(), level, "router request", attrs...)
}

// serveMetrics writes the Prometheus text exposition: the router's set,
// then Go runtime and process metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.r.metrics.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}
