package agones

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults for Config's zero fields.
const (
	DefaultAttemptTimeout = 2 * time.Second
	DefaultMaxAttempts    = 3
	DefaultBackoffBase    = 100 * time.Millisecond
	DefaultBackoffCap     = 2 * time.Second
	// DefaultDialTimeout bounds connecting to the sidecar, on the local
	// host: a dial that takes longer finds nothing there.
	DefaultDialTimeout = time.Second
)

// Limits on what the client reads from an answer.
const (
	maxResponseBody = 4 << 20 // a GameServer with large annotations
	maxErrorBody    = 64 << 10
)

// Config configures a Client. Zero fields take the Default* values.
type Config struct {
	// HTTPClient sends the unary requests; nil means a client of its own
	// whose transport never uses a proxy, dials within DefaultDialTimeout
	// and whose Timeout is AttemptTimeout. The watch stream uses a copy
	// without Timeout (it lasts as long as its context).
	HTTPClient *http.Client
	// AttemptTimeout bounds each attempt of a unary call.
	AttemptTimeout time.Duration
	// MaxAttempts is the number of attempts of a unary call, the first
	// included; 1 disables retries.
	MaxAttempts int
	// BackoffBase and BackoffCap shape the delay before retry n (n = 1,
	// 2, ...): a random duration in [0, min(BackoffCap, BackoffBase·2^(n-1))]
	// ("full jitter"). The watch stream reconnects with the same delays.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// Jitter returns a random duration in [0, max]; nil uses math/rand/v2.
	// Tests make it deterministic.
	Jitter func(max time.Duration) time.Duration
	// Logger receives the watch stream's reconnections (warn) and the
	// retried failures (debug); default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffCap == 0 {
		c.BackoffCap = DefaultBackoffCap
	}
	if c.Jitter == nil {
		c.Jitter = fullJitter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.AttemptTimeout < 0:
		return fmt.Errorf("agones: AttemptTimeout is negative (%v)", c.AttemptTimeout)
	case c.MaxAttempts < 0:
		return fmt.Errorf("agones: MaxAttempts is negative (%d)", c.MaxAttempts)
	case c.BackoffBase < 0 || c.BackoffCap < 0:
		return fmt.Errorf("agones: BackoffBase and BackoffCap must not be negative")
	case c.BackoffCap < c.BackoffBase:
		return fmt.Errorf("agones: BackoffCap (%v) is below BackoffBase (%v)", c.BackoffCap, c.BackoffBase)
	}
	return nil
}

func fullJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max + 1)
}

// Client talks to the Agones SDK sidecar. Its methods are safe for
// concurrent use.
type Client struct {
	base  string // without trailing slash
	cfg   Config
	hc    *http.Client
	watch *http.Client // hc without Timeout
}

// New returns a client of the sidecar at baseURL, e.g.
// "http://localhost:9358". Nothing is sent until a method is called.
func New(baseURL string, cfg Config) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("agones: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("agones: base URL %q: want http://host:port", baseURL)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := &http.Transport{
			Proxy:                 nil, // the sidecar is local: never through a proxy
			DialContext:           (&net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          8,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
		hc = &http.Client{Transport: tr, Timeout: cfg.AttemptTimeout}
	}
	watch := *hc
	watch.Timeout = 0
	return &Client{base: strings.TrimRight(baseURL, "/"), cfg: cfg, hc: hc, watch: &watch}, nil
}

// NewFromEnv returns a client of the sidecar the environment names:
// http://localhost:$AGONES_SDK_HTTP_PORT, port DefaultHTTPPort when the
// variable is unset. An invalid port is an error.
func NewFromEnv(cfg Config) (*Client, error) {
	base, _, err := Detect(ModeOn, nil)
	if err != nil {
		return nil, err
	}
	return New(base, cfg)
}

// BaseURL returns the sidecar's base URL.
func (c *Client) BaseURL() string { return c.base }

// Ready marks the GameServer Ready: it can be allocated.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodPost, path: "/ready", body: emptyBody})
}

// Health sends one health ping. Ping more often than the GameServer's
// Spec.Health.PeriodSeconds.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodPost, path: "/health", body: emptyBody})
}

// Allocate marks the GameServer Allocated (self-allocation): it is no
// longer deleted by scale-down or rolling updates.
func (c *Client) Allocate(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodPost, path: "/allocate", body: emptyBody})
}

// Reserve marks the GameServer Reserved for d, rounded up to whole
// seconds; d == 0 reserves it until further notice. A negative d is an
// error.
func (c *Client) Reserve(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("agones: reserve: negative duration %v", d)
	}
	secs := int64((d + time.Second - 1) / time.Second)
	body, err := json.Marshal(struct {
		Seconds jsonInt64 `json:"seconds"`
	}{jsonInt64(secs)})
	if err != nil {
		return fmt.Errorf("agones: reserve: %w", err)
	}
	return c.do(ctx, call{method: http.MethodPost, path: "/reserve", body: body})
}

// Shutdown asks for the GameServer to be shut down: it goes to Shutdown
// and the pod is deleted.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodPost, path: "/shutdown", body: emptyBody})
}

// SetLabel sets the label agones.dev/sdk-<key> on the GameServer. key and
// value go through SanitizeLabelKey and SanitizeLabelValue; what cannot be
// fixed is refused (ErrInvalidLabel) before anything is sent.
func (c *Client) SetLabel(ctx context.Context, key, value string) error {
	k, err := SanitizeLabelKey(key)
	if err != nil {
		return fmt.Errorf("agones: set label: %w", err)
	}
	v, err := SanitizeLabelValue(value)
	if err != nil {
		return fmt.Errorf("agones: set label %s: %w", k, err)
	}
	return c.setMetadata(ctx, "/metadata/label", k, v)
}

// SetAnnotation sets the annotation agones.dev/sdk-<key> on the
// GameServer. key goes through SanitizeLabelKey (annotation keys follow
// the same rules) and an unusable key is refused (ErrInvalidLabel) before
// anything is sent; value is sent as is.
func (c *Client) SetAnnotation(ctx context.Context, key, value string) error {
	k, err := SanitizeLabelKey(key)
	if err != nil {
		return fmt.Errorf("agones: set annotation: %w", err)
	}
	return c.setMetadata(ctx, "/metadata/annotation", k, value)
}

func (c *Client) setMetadata(ctx context.Context, path, key, value string) error {
	body, err := json.Marshal(struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}{key, value})
	if err != nil {
		return fmt.Errorf("agones: %s: %w", path, err)
	}
	return c.do(ctx, call{method: http.MethodPut, path: path, body: body})
}

// GameServer returns the GameServer as the sidecar sees it.
func (c *Client) GameServer(ctx context.Context) (GameServer, error) {
	return c.gameServer(ctx, c.cfg.MaxAttempts)
}

func (c *Client) gameServer(ctx context.Context, attempts int) (GameServer, error) {
	var gs GameServer
	err := c.do(ctx, call{method: http.MethodGet, path: "/gameserver", out: &gs, attempts: attempts})
	return gs, err
}

// Counter returns the counter name. An undeclared counter is ErrNotFound.
func (c *Client) Counter(ctx context.Context, name string) (Counter, error) {
	var ctr Counter
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1beta1/counters/" + url.PathEscape(name), out: &ctr})
	return ctr, err
}

// CounterUpdate is a change of a counter: set at least one field. CountDiff
// adds to the count, Count sets it (not both), Capacity sets the capacity.
type CounterUpdate struct {
	CountDiff *int64
	Count     *int64
	Capacity  *int64
}

// UpdateCounter applies u to the counter name and returns the counter. A
// count that would leave [0, capacity] is refused (ErrOutOfRange), not
// clamped; an undeclared counter is ErrNotFound.
func (c *Client) UpdateCounter(ctx context.Context, name string, u CounterUpdate) (Counter, error) {
	if u.CountDiff == nil && u.Count == nil && u.Capacity == nil {
		return Counter{}, fmt.Errorf("agones: update counter %s: empty update", name)
	}
	if u.CountDiff != nil && u.Count != nil {
		return Counter{}, fmt.Errorf("agones: update counter %s: both CountDiff and Count set", name)
	}
	body, err := json.Marshal(struct {
		CountDiff *jsonInt64 `json:"countDiff,omitempty"`
		Count     *jsonInt64 `json:"count,omitempty"`
		Capacity  *jsonInt64 `json:"capacity,omitempty"`
	}{(*jsonInt64)(u.CountDiff), (*jsonInt64)(u.Count), (*jsonInt64)(u.Capacity)})
	if err != nil {
		return Counter{}, fmt.Errorf("agones: update counter %s: %w", name, err)
	}
	var ctr Counter
	err = c.do(ctx, call{
		method: http.MethodPatch, path: "/v1beta1/counters/" + url.PathEscape(name), body: body, out: &ctr,
		notIdempotent: u.CountDiff != nil,
	})
	return ctr, err
}

// List returns the list name. An undeclared list is ErrNotFound.
func (c *Client) List(ctx context.Context, name string) (List, error) {
	var l List
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1beta1/lists/" + url.PathEscape(name), out: &l})
	return l, err
}

// AddListValue adds value to the list name and returns the list. A value
// already present is ErrAlreadyExists, a full list ErrOutOfRange.
func (c *Client) AddListValue(ctx context.Context, name, value string) (List, error) {
	return c.listValue(ctx, name, ":addValue", value)
}

// RemoveListValue removes value from the list name and returns the list.
// An absent value is ErrNotFound.
func (c *Client) RemoveListValue(ctx context.Context, name, value string) (List, error) {
	return c.listValue(ctx, name, ":removeValue", value)
}

func (c *Client) listValue(ctx context.Context, name, verb, value string) (List, error) {
	body, err := json.Marshal(struct {
		Value string `json:"value"`
	}{value})
	if err != nil {
		return List{}, fmt.Errorf("agones: list %s: %w", name, err)
	}
	var l List
	err = c.do(ctx, call{method: http.MethodPost, path: "/v1beta1/lists/" + url.PathEscape(name) + verb, body: body, out: &l})
	return l, err
}

var emptyBody = []byte("{}")

// call is one unary request.
type call struct {
	method, path string
	body         []byte // nil sends no body (GET)
	out          any    // decoded from a 2xx answer; nil discards it
	// attempts overrides Config.MaxAttempts when > 0.
	attempts int
	// notIdempotent limits retries to failures where the sidecar surely
	// did not apply the request: a failed dial or an error answer.
	notIdempotent bool
}

// do runs cl with a timeout per attempt, retrying transient failures with
// backoff, and returns the last error wrapped with the method and path.
func (c *Client) do(ctx context.Context, cl call) error {
	attempts := cl.attempts
	if attempts <= 0 {
		attempts = c.cfg.MaxAttempts
	}
	var err error
	for n := 1; ; n++ {
		var retry bool
		retry, err = c.attempt(ctx, cl)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			if errors.Is(err, cerr) {
				return fmt.Errorf("agones: %s %s: %w", cl.method, cl.path, err)
			}
			return fmt.Errorf("agones: %s %s: %w (after %w)", cl.method, cl.path, cerr, err)
		}
		if !retry || n >= attempts {
			break
		}
		c.cfg.Logger.Debug("agones: retrying", "method", cl.method, "path", cl.path, "attempt", n, "err", err)
		if werr := sleep(ctx, c.backoff(n)); werr != nil {
			return fmt.Errorf("agones: %s %s: %w (after %w)", cl.method, cl.path, werr, err)
		}
	}
	return fmt.Errorf("agones: %s %s: %w", cl.method, cl.path, err)
}

// attempt sends cl once and reports whether a failure may be retried.
func (c *Client) attempt(ctx context.Context, cl call) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, c.base+cl.path, body)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && dialFailed(err) {
			return true, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return !cl.notIdempotent, err
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := readError(resp)
		return retryable(e), e
	}
	if cl.out == nil {
		return false, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return !cl.notIdempotent, fmt.Errorf("reading the answer: %w", err)
	}
	if err := json.Unmarshal(b, cl.out); err != nil {
		return false, fmt.Errorf("decoding the answer: %w", err)
	}
	return false, nil
}

// retryable reports whether an error answer may succeed later: a 429 or
// 503, or a 5xx that is not one of the sidecar's well-known refusals.
func retryable(e *Error) bool {
	switch {
	case e.HTTPStatus == http.StatusTooManyRequests, e.HTTPStatus == http.StatusServiceUnavailable:
		return true
	case e.HTTPStatus >= 500:
		return e.sentinel() == nil
	}
	return false
}

// readError reads an error answer: a gRPC status {"code","message"} or,
// failing that, the start of the body.
func readError(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{HTTPStatus: resp.StatusCode}
	var st struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if json.Unmarshal(b, &st) == nil && (st.Code != nil || st.Message != nil) {
		if st.Code != nil {
			e.Code = *st.Code
		}
		if st.Message != nil {
			e.Message = *st.Message
		}
		return e
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}

// dialFailed reports whether err means nothing could be reached: the
// connection was refused, or the dial failed otherwise. The request was
// surely not sent.
func dialFailed(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff returns the delay before retry n (n >= 1).
func (c *Client) backoff(n int) time.Duration {
	return c.cfg.Jitter(backoffMax(c.cfg.BackoffBase, c.cfg.BackoffCap, n))
}

// backoffMax is min(cap, base·2^(n-1)), without overflow.
func backoffMax(base, cap time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < cap; i++ {
		d *= 2
	}
	return min(d, cap)
}

// sleep waits d or until ctx is done, returning ctx's cause then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// portString validates a TCP port number given as text.
func portString(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("agones: port %q: want 1-65535", s)
	}
	return p, nil
}
