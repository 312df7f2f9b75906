package admin

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	runtimepprof "runtime/pprof"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/voxfleet/vox/internal/httpapi"
)

func (s *Server) routes(extra []RouteFunc) *chi.Mux {
	r := chi.NewRouter()
	r.Use(s.observe)
	// HEAD works wherever GET does: the GET handler answers, net/http
	// drops the body.
	r.Use(middleware.GetHead)
	r.NotFound(s.Wrap(s.notFound))
	r.MethodNotAllowed(s.Wrap(s.methodNotAllowed))

	// Probes and scrapes: unauthenticated (kubelet, Agones, Prometheus).
	r.Get("/healthz", s.Wrap(s.healthz))
	r.Get("/readyz", s.Wrap(s.readyz))
	r.Get("/metrics", s.serveMetrics)
	s.uiRoutes(r)

	r.Group(func(r chi.Router) {
		r.Use(s.guard)
		r.Route("/v1", func(r chi.Router) {
			r.Get("/status", s.Wrap(s.status))
			r.Get("/sessions", s.Wrap(s.listSessions))
			// Flat patterns, no nested Route: chi's Find (used for the
			// Allow header) misreports methods on a sub-router's "/".
			r.Put("/sessions/{session_id}", s.Wrap(s.putSession))
			r.Get("/sessions/{session_id}", s.Wrap(s.getSession))
			r.Delete("/sessions/{session_id}", s.Wrap(s.deleteSession))
			r.Post("/sessions/{session_id}/participants", s.Wrap(s.admit))
			r.Get("/sessions/{session_id}/participants/{participant_id}", s.Wrap(s.getParticipant))
			r.Delete("/sessions/{session_id}/participants/{participant_id}", s.Wrap(s.removeParticipant))
			// chi does not match an empty trailing {param}: route the empty
			// ids to the same handlers, whose PathID answers invalid_id.
			r.Put("/sessions/", s.Wrap(s.putSession))
			r.Get("/sessions/", s.Wrap(s.getSession))
			r.Delete("/sessions/", s.Wrap(s.deleteSession))
			r.Get("/sessions/{session_id}/participants/", s.Wrap(s.getParticipant))
			r.Delete("/sessions/{session_id}/participants/", s.Wrap(s.removeParticipant))
			s.drainRoutes(r)
			s.routingRoutes(r)
			for _, f := range extra {
				f(r, s)
			}
		})
		// Flat patterns here too: on a sub-router's "/", middleware.GetHead
		// would find a HEAD route that is not there.
		r.Get("/debug/pprof/", pprof.Index)
		r.Get("/debug/pprof/cmdline", pprof.Cmdline)
		r.Get("/debug/pprof/profile", pprof.Profile)
		r.Get("/debug/pprof/symbol", pprof.Symbol)
		r.Post("/debug/pprof/symbol", pprof.Symbol)
		r.Get("/debug/pprof/trace", pprof.Trace)
		r.Get("/debug/pprof/{profile}", s.Wrap(pprofNamed))
	})
	return r
}

// pprofNamed serves a runtime/pprof profile (heap, goroutine, ...), with a
// JSON 404 for an unknown name.
func pprofNamed(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "profile")
	if runtimepprof.Lookup(name) == nil {
		return apiErrorf(http.StatusNotFound, CodeNotFound, "no profile %q", name)
	}
	pprof.Handler(name).ServeHTTP(w, r)
	return nil
}

func (s *Server) notFound(_ http.ResponseWriter, r *http.Request) error {
	return apiErrorf(http.StatusNotFound, CodeNotFound, "no route for %s %s", r.Method, r.URL.Path)
}

// methodNotAllowed answers 405 with the Allow header chi's default handler
// would set; chi does not pass the allowed methods to a custom handler, so
// they are found again in the route tree.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) error {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		if s.router.Match(chi.NewRouteContext(), m, path) ||
			m == http.MethodHead && slices.Contains(allowed, http.MethodGet) { // middleware.GetHead
			allowed = append(allowed, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return apiErrorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
		"%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))
}

// guard protects /v1 and /debug/pprof: the bearer token when one is set;
// without one (loopback only, see CheckExposure) a loopback Host and no
// Origin, so a web page in a browser on the same machine can neither
// rebind a name to 127.0.0.1 nor send cross-site requests.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(w, r); err != nil {
			s.handleError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) error {
	if s.checkHost {
		if o := r.Header.Get("Origin"); o != "" {
			return apiErrorf(http.StatusForbidden, CodeForbiddenOrigin, "requests from browsers (Origin %q) are refused", o)
		}
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !isLoopbackHost(host) {
			return apiErrorf(http.StatusForbidden, CodeForbiddenHost, "host %q is not a loopback name", r.Host)
		}
		return nil
	}
	return s.bearer.Check(w, r)
}

// observe logs every request (at requestLogLevel, a 5xx with its cause),
// counts it by route and status (vox_admin_requests_total), and turns a
// handler panic into a 500 (internal/httpapi.Observe).
func (s *Server) observe(next http.Handler) http.Handler {
	return httpapi.Observe(httpapi.ObserveConfig{
		Metrics: s.metrics, Counter: "vox_admin_requests_total",
		Logger: s.log, Message: "admin request",
		Level:       func(rec *httpapi.Recorder) slog.Level { return requestLogLevel(rec.Status, rec.Code, rec.Quiet) },
		HandleError: s.handleError,
	})(next)
}

// recorderOf finds observe's recorder under w's wrappers.
func recorderOf(w http.ResponseWriter) *httpapi.Recorder { return httpapi.RecorderOf(w) }

// expectedRefusals are the 5xx answers that are the server's state, not
// its failure, with the level of their log line: the pod takes nothing new
// (full, stopped, draining), is shutting down, or its session manager is
// too busy to answer in time (worth a look, hence warn).
var expectedRefusals = map[string]slog.Level{
	CodeNotAccepting:   slog.LevelInfo,
	CodeShuttingDown:   slog.LevelInfo,
	CodeTimeout:        slog.LevelWarn,
	CodeNotImplemented: slog.LevelDebug, // a caller's mistake: this backend cannot drain
}

// requestLogLevel is the level of a request's log line: debug for an
// answer below 500 and for a quiet one (a not-ready /readyz), the
// expectedRefusals level for those, error for any other 5xx (an internal
// error, a panic).
func requestLogLevel(status int, code string, quiet bool) slog.Level {
	if status < 500 || quiet {
		return slog.LevelDebug
	}
	if l, ok := expectedRefusals[code]; ok {
		return l
	}
	return slog.LevelError
}
