package admin

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/voxfleet/vox/internal/httpapi"
)

// Defaults for Config's zero fields.
const (
	DefaultAddr              = "127.0.0.1:8080"
	DefaultRetryAfter        = 5 * time.Second
	DefaultMaxBodyBytes      = 64 << 10
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	// DefaultWriteTimeout leaves room for a 30 s CPU profile
	// (/debug/pprof/profile refuses a duration beyond the write timeout).
	DefaultWriteTimeout   = 60 * time.Second
	DefaultIdleTimeout    = 120 * time.Second
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultRateWindow is the window over which /v1/status computes pps.
	DefaultRateWindow = 10 * time.Second
)

// Config configures the admin server. Zero fields take the Default*
// values.
type Config struct {
	// Addr is the TCP listen address, host:port. A non-loopback address
	// needs a Token (CheckExposure). Port 0 picks a free port (Addr).
	Addr string
	// Token is the bearer token every /v1 and /debug/pprof request must
	// carry. Empty leaves the API open, which is allowed only on loopback.
	Token string
	// Logger receives one line per request: debug, or info for a 503
	// not_accepting or shutting_down, warn for a 503 timeout, error for
	// any other 5xx (with its cause); default slog.Default(). Tokens and
	// keys are never logged.
	Logger *slog.Logger
	// RetryAfter is the Retry-After of a 503 not_accepting, rounded up to
	// whole seconds.
	RetryAfter time.Duration
	// MaxBodyBytes caps request bodies (413 body_too_large beyond).
	MaxBodyBytes int64
	// HTTP server limits.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// RateWindow is the sliding window of the pps figures of /v1/status.
	RateWindow time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	def(&c.RetryAfter, DefaultRetryAfter)
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.RateWindow, DefaultRateWindow)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return c
}

func (c Config) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"RetryAfter", c.RetryAfter}, {"ReadHeaderTimeout", c.ReadHeaderTimeout},
		{"ReadTimeout", c.ReadTimeout}, {"WriteTimeout", c.WriteTimeout},
		{"IdleTimeout", c.IdleTimeout}, {"RateWindow", c.RateWindow},
	} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s is negative (%v)", ErrBadConfig, d.name, d.v)
		}
	}
	if c.MaxBodyBytes < 0 || c.MaxHeaderBytes < 0 {
		return fmt.Errorf("%w: MaxBodyBytes and MaxHeaderBytes must not be negative", ErrBadConfig)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: address %q: %w", ErrBadConfig, c.Addr, err)
	}
	// RFC 6750 b64token characters; anything else could never
	// arrive intact in an Authorization header.
	if !httpapi.ValidToken(c.Token) {
		return fmt.Errorf("%w: the token may hold only letters, digits and -._~+/=", ErrBadConfig)
	}
	return nil
}

// CheckExposure refuses to serve the admin API beyond the local host
// without a token: with an empty token, addr must name a loopback IP or
// "localhost". An empty host (every interface), 0.0.0.0, [::] or any other
// name or address is ErrExposed. voxd calls it at startup for an early,
// clear error; Start checks it again.
func CheckExposure(addr, token string) error {
	if token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %w", ErrBadConfig, addr, err)
	}
	if isLoopbackHost(host) {
		return nil
	}
	where := host
	if host == "" {
		where = "every interface"
	}
	return fmt.Errorf("%w: listening on %q (%s) without a token would let anyone who reaches it "+
		"create sessions and read SRTP keys; set an admin token or listen on loopback (e.g. %s)",
		ErrExposed, addr, where, DefaultAddr)
}

// isLoopbackHost reports whether host (no port, brackets allowed) is
// "localhost" or a loopback IP (httpapi.IsLoopbackHost).
func isLoopbackHost(host string) bool { return httpapi.IsLoopbackHost(host) }
