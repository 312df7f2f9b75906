package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/internal/httpapi"
)

// Defaults of ServerConfig's zero fields.
const (
	DefaultAddr         = "127.0.0.1:8090"
	DefaultRetryAfter   = 2 * time.Second
	DefaultMaxBodyBytes = 256 << 10 // a report of a pod with thousands of sessions
)

// ServerConfig configures the router's HTTP API.
type ServerConfig struct {
	// Addr is the TCP listen address; port 0 picks one (Server.Addr).
	Addr string
	// Token is the bearer token the game backend's calls (/v1 but the
	// reports) must carry; empty is allowed on loopback only.
	Token string
	// ReportToken is the bearer token of the pods' reports; empty is
	// allowed on loopback only.
	ReportToken string
	// RetryAfter is the Retry-After of a 503 no_pod answer.
	RetryAfter time.Duration
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64
	// Logger receives one line per request (debug; error for a 5xx that
	// is a failure). Default: the Router's.
	Logger *slog.Logger
}

// Server is the router's HTTP API.
type Server struct {
	cfg         ServerConfig
	r           *Router
	log         *slog.Logger
	mux         *chi.Mux
	bearer      httpapi.Bearer
	reportAuth  httpapi.Bearer
	retryAfter  string
	sweepPeriod time.Duration

	mu       sync.Mutex // guards the fields below
	srv      *http.Server
	ln       net.Listener
	done     chan struct{}
	stopping bool          // Shutdown began: /readyz says 503
	stopSwp  chan struct{} // closed to stop the sweep loop
}

// NewServer builds the HTTP API of r; nothing listens until Start.
func NewServer(cfg ServerConfig, r *Router) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = r.log
	}
	if !httpapi.ValidToken(cfg.Token) || !httpapi.ValidToken(cfg.ReportToken) {
		return nil, fmt.Errorf("%w: a token may hold only letters, digits and -._~+/=", ErrBadConfig)
	}
	if err := CheckExposure(cfg.Addr, cfg.Token, cfg.ReportToken); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, r: r, log: cfg.Logger, bearer: httpapi.NewBearer(cfg.Token),
		reportAuth:  httpapi.NewBearer(cfg.ReportToken),
		retryAfter:  strconv.FormatInt(int64((cfg.RetryAfter+time.Second-1)/time.Second), 10),
		sweepPeriod: time.Second}
	s.mux = s.routes()
	return s, nil
}

// CheckExposure refuses to listen beyond loopback without both tokens:
// the API hands out SRTP keys, and reports steer where sessions go.
func CheckExposure(addr, token, reportToken string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %w", ErrBadConfig, addr, err)
	}
	if (token == "" || reportToken == "") && !httpapi.IsLoopbackHost(host) {
		return fmt.Errorf("%w: listening on %q without a token and a report token would let anyone place sessions, "+
			"read SRTP keys or pose as a pod; set both or listen on loopback", ErrBadConfig, addr)
	}
	return nil
}

// Handler returns the API's handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

// Start listens synchronously and serves in a goroutine until Shutdown;
// it also runs the router's Refresh and Sweep every second.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("router: server already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("router: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	s.srv, s.ln, s.done, s.stopSwp = srv, ln, done, make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("router: serve stopped", "err", err)
		}
	}()
	go s.sweepLoop(s.stopSwp)
	s.log.Info("router API listening", "addr", ln.Addr().String(), "auth", s.cfg.Token != "")
	return nil
}

func (s *Server) sweepLoop(stop <-chan struct{}) {
	t := time.NewTicker(s.sweepPeriod)
	defer t.Stop()
	// The warm pool's refill loops and the fleet operations live as long.
	ctx, cancel := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	loops.Go(func() { s.r.RunPool(ctx) })
	loops.Go(func() { s.r.RunOps(ctx) }) // drains and consolidation (drains.go)
	defer func() { cancel(); loops.Wait() }()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := s.r.Refresh(context.Background()); err != nil {
				s.log.Debug("router: refresh the shared reports", "err", err)
			}
			s.r.Sweep(context.Background())
		}
	}
}

// Addr returns the bound address, "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops taking requests (the port is free when it returns),
// waits for those in flight, and stops the sweep. If ctx ends first the
// remaining connections are closed and ctx's cause returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done, stop := s.srv, s.done, s.stopSwp
	already := s.stopping
	s.stopping = true
	s.mu.Unlock()
	if srv == nil || already {
		return nil
	}
	close(stop)
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("router: shutdown: %w", context.Cause(ctx))
	}
	<-done
	return err
}

// handleError writes err as {"error","code"}: the server's own errors as
// they are, a pod's answer as the pod gave it, the router's by package
// api's table.
func (s *Server) handleError(w http.ResponseWriter, r *http.Request, err error) {
	ae := s.toError(r, err)
	if rec := recorderOf(w); rec != nil {
		rec.Code = ae.Code
		// No room, or the store's outage (logged once by the store): the
		// answer says it all.
		if ae.Status >= 500 && ae.Code != api.CodeNotAccepting && ae.Code != api.CodeStoreUnavailable {
			rec.Cause = err
		}
	}
	if pe, ok := errors.AsType[*PodError](err); ok && pe.Err.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((pe.Err.RetryAfter+time.Second-1)/time.Second), 10))
	} else if ae.Code == api.CodeNotAccepting || ae.Code == api.CodeStoreUnavailable {
		w.Header().Set("Retry-After", s.retryAfter)
	}
	_ = httpapi.WriteJSON(w, ae.Status, api.ErrorResponse{Error: ae.Message, Code: ae.Code})
}

func (s *Server) toError(r *http.Request, err error) *httpapi.Error {
	if ae, ok := errors.AsType[*httpapi.Error](err); ok {
		return ae
	}
	if pe, ok := errors.AsType[*PodError](err); ok {
		code := pe.Err.Code
		if pe.Err.Status == http.StatusUnauthorized || pe.Err.Status == http.StatusForbidden {
			// The router's pod token, not the caller's: the pod is out of reach.
			return &httpapi.Error{Status: http.StatusBadGateway, Code: api.CodePodUnreachable,
				Message: "pod " + pe.Pod + " refused the router's pod token", Err: err}
		}
		if code == "" {
			code = api.CodePodUnreachable
		}
		return &httpapi.Error{Status: pe.Err.Status, Code: code, Message: pe.Err.Message}
	}
	if errors.Is(err, ErrUnreachable) {
		return &httpapi.Error{Status: http.StatusBadGateway, Code: api.CodePodUnreachable,
			Message: "the session's pod could not be reached", Err: err}
	}
	if code, status, ok := api.CodeOf(err); ok {
		return &httpapi.Error{Status: status, Code: code, Message: err.Error()}
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return &httpapi.Error{Status: api.StatusClientClosedRequest, Code: api.CodeClientClosed,
			Message: "the client closed the request", Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Code: api.CodeTimeout,
			Message: "the router did not answer in time", Err: err}
	}
	return &httpapi.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: "internal error", Err: err}
}
