package router

import (
	"log/slog"
	"net/http"

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
		m.Get("/v1/pools", s.wrap(s.listPools))
		m.Get("/v1/pools/{pool}", s.wrap(s.getPool))
		m.Put("/v1/pools/{pool}", s.wrap(s.putPool))
		m.Post("/v1/pools/{pool}/drain", s.wrap(s.drainPool))
		m.Delete("/v1/pools/{pool}/drain", s.wrap(s.cancelPoolDrain))
		m.Get("/v1/drains", s.wrap(s.drains))
		m.Post("/v1/pods/{pod}/drain", s.wrap(s.drainPod))
		m.Delete("/v1/pods/{pod}/drain", s.wrap(s.cancelPodDrain))
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

// observe logs and counts every request (vox_router_requests_total) and
// turns a handler panic into a 500 (internal/httpapi.Observe): debug
// level, error for a 5xx with a cause.
func (s *Server) observe(next http.Handler) http.Handler {
	return httpapi.Observe(httpapi.ObserveConfig{
		Metrics: s.r.metrics, Counter: "vox_router_requests_total",
		Logger: s.log, Message: "router request",
		Level: func(rec *httpapi.Recorder) slog.Level {
			if rec.Cause != nil {
				return slog.LevelError
			}
			return slog.LevelDebug
		},
		HandleError: s.handleError,
	})(next)
}

// recorderOf finds observe's recorder under w's wrappers.
func recorderOf(w http.ResponseWriter) *httpapi.Recorder { return httpapi.RecorderOf(w) }

// serveMetrics writes the Prometheus text exposition: the router's set,
// then Go runtime and process metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.r.metrics.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}
