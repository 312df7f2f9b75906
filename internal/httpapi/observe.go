package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/go-chi/chi/v5"
)

// Recorder records a request's answer for its log line and counter. The
// Observe middleware puts one under every handler; error writers fill in
// Code and Cause through RecorderOf.
type Recorder struct {
	http.ResponseWriter
	Status int
	Bytes  int64
	Code   string // the machine code of an error answer
	Cause  error  // the error behind a 5xx: logged, not sent
	Quiet  bool   // a 5xx that is a report, not a failure (a not-ready /readyz)
}

// WriteHeader records the first status.
func (rec *Recorder) WriteHeader(status int) {
	if rec.Status == 0 {
		rec.Status = status
	}
	rec.ResponseWriter.WriteHeader(status)
}

// Write records an implicit 200 and counts the bytes.
func (rec *Recorder) Write(b []byte) (int, error) {
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.Bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushing).
func (rec *Recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// RecorderOf finds Observe's Recorder under w's wrappers, nil if none.
func RecorderOf(w http.ResponseWriter) *Recorder {
	for {
		switch v := w.(type) {
		case *Recorder:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// ObserveConfig says how Observe counts and logs.
type ObserveConfig struct {
	// Metrics receives Counter{route, method, status}.
	Metrics *metrics.Set
	// Counter is the counter's name, e.g. vox_admin_requests_total.
	Counter string
	// Logger and Message make each request's log line.
	Logger  *slog.Logger
	Message string
	// Level is the level of a request's log line.
	Level func(rec *Recorder) slog.Level
	// HandleError answers a handler's panic (as a 500).
	HandleError func(w http.ResponseWriter, r *http.Request, err error)
}

// Observe logs every request (at cfg.Level, a 5xx with its cause), counts
// it by route pattern, method and status (bounded label values), and turns
// a handler panic into a 500.
func Observe(cfg ObserveConfig) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &Recorder{ResponseWriter: w}
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
					if rec.Status == 0 {
						cfg.HandleError(rec, r, err)
					}
					rec.Cause = err
				}
				cfg.finish(rec, r, time.Since(start))
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

func (cfg ObserveConfig) finish(rec *Recorder, r *http.Request, d time.Duration) {
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	route := "unmatched"
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" && rec.Status != http.StatusNotFound {
		route = rc.RoutePattern()
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		method = "other" // bounded label values
	}
	cfg.Metrics.GetOrCreateCounter(fmt.Sprintf(`%s{route=%q,method=%q,status="%d"}`,
		cfg.Counter, route, method, rec.Status)).Inc()
	level := cfg.Level(rec)
	if !cfg.Logger.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rec.Status),
		slog.Duration("duration", d),
		slog.Int64("bytes", rec.Bytes),
	}
	if rec.Code != "" {
		attrs = append(attrs, slog.String("code", rec.Code))
	}
	if rec.Cause != nil {
		attrs = append(attrs, slog.Any("err", rec.Cause))
	}
	cfg.Logger.LogAttrs(r.Context(), level, cfg.Message, attrs...)
}
