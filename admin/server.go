package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/go-chi/chi/v5"
	"github.com/voxfleet/vox/internal/httpapi"
)

// HandlerFunc is an admin handler: it writes its answer on success and
// returns an error otherwise, which Server.Wrap turns into a JSON error
// answer.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// RouteFunc adds routes to the /v1 router, e.g. an endpoint of voxd's
// own:
//
//	admin.New(cfg, mgr, func(r chi.Router, s *admin.Server) {
//		r.Post("/resize", s.Wrap(func(w http.ResponseWriter, r *http.Request) error {
//			var req resizeRequest
//			if err := s.DecodeJSON(w, r, &req, false); err != nil {
//				return err
//			}
//			...
//			return admin.WriteJSON(w, http.StatusAccepted, answer)
//		}))
//	})
//
// The routes get the token check, request logging and the JSON 404/405 of
// the built-in ones. Patterns are relative to /v1.
type RouteFunc func(r chi.Router, s *Server)

// Server is the admin HTTP server.
type Server struct {
	cfg               Config
	backend           Backend
	log               *slog.Logger
	router            *chi.Mux
	metrics           *metrics.Set
	rates             rateTracker
	bearer            httpapi.Bearer // of cfg.Token
	retryAfterSeconds int64
	checkHost         bool                           // open API: refuse non-loopback Host and any Origin
	podInfo           atomic.Pointer[func() PodInfo] // the pod page's PodInfo (ui.go)

	mu   sync.Mutex    // guards the fields below
	srv  *http.Server  // nil until Start
	ln   net.Listener  // the bound listener, nil until Start
	done chan struct{} // closed when Serve has returned
}

// New builds the server and its routes; nothing listens until Start. The
// routes functions add /v1 routes (see RouteFunc).
func New(cfg Config, backend Backend, routes ...RouteFunc) (*Server, error) {
	if backend == nil {
		return nil, fmt.Errorf("%w: nil Backend", ErrBadConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:               cfg,
		backend:           backend,
		log:               cfg.Logger,
		metrics:           metrics.NewSet(),
		rates:             rateTracker{window: cfg.RateWindow},
		bearer:            httpapi.NewBearer(cfg.Token),
		retryAfterSeconds: int64((cfg.RetryAfter + time.Second - 1) / time.Second),
	}
	if host, _, _ := net.SplitHostPort(cfg.Addr); cfg.Token == "" && isLoopbackHost(host) {
		s.checkHost = true
	}
	s.metrics.RegisterMetricsWriter(s.writeStatusMetrics)
	s.router = s.routes(routes)
	return s, nil
}

// Handler returns the router, for tests and for serving it elsewhere.
func (s *Server) Handler() http.Handler { return s.router }

// Metrics returns the server's own metrics set (not the global one), which
// /metrics writes; voxd may register more metrics in it.
func (s *Server) Metrics() *metrics.Set { return s.metrics }

// Start listens on Config.Addr synchronously (a bad or busy address fails
// here) and serves in a goroutine until Shutdown. It refuses an exposed
// address without a token (CheckExposure).
func (s *Server) Start() error {
	if err := CheckExposure(s.cfg.Addr, s.cfg.Token); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return ErrStarted
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("admin: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           s.router,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	ln = jsonErrorListener{Listener: ln, s: s}
	done := make(chan struct{})
	s.srv, s.ln, s.done = srv, ln, done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin: serve stopped", "err", err)
		}
	}()
	s.log.Info("admin API listening", "addr", ln.Addr().String(), "auth", s.cfg.Token != "")
	return nil
}

// Addr returns the bound address (useful with port 0), or "" before
// Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops listening at once (the port is free when it returns) and
// waits for requests in flight. If ctx ends first, it closes the remaining
// connections and returns ctx's cause. Shutdown before Start does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		// Requests still running (a long pprof profile, a wedged backend):
		// cut them off.
		_ = srv.Close()
		err = fmt.Errorf("admin: shutdown: %w", context.Cause(ctx))
	}
	<-done
	return err
}

// Wrap adapts h to http.HandlerFunc: a returned error becomes a JSON
// error answer (APIError as is; session manager errors mapped by their
// sentinel; anything else a logged 500).
func (s *Server) Wrap(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.handleError(w, r, err)
		}
	}
}
