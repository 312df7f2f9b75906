package agones_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
	"github.com/voxfleet/vox/agones/agonestest"
)

// fastConfig keeps the retries of a test in milliseconds.
func fastConfig() agones.Config {
	return agones.Config{
		AttemptTimeout: time.Second,
		BackoffBase:    time.Millisecond,
		BackoffCap:     4 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

func newSidecar(t *testing.T) *agonestest.Sidecar {
	t.Helper()
	sc := agonestest.NewSidecar()
	t.Cleanup(sc.Close)
	return sc
}

func newClient(t *testing.T, sc *agonestest.Sidecar, cfg agones.Config) *agones.Client {
	t.Helper()
	c, err := agones.New(sc.URL(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ptr(v int64) *int64 { return &v }

// TestWireFormat checks every endpoint's method, path and exact body as
// the sidecar double received them, and the effect on the GameServer.
func TestWireFormat(t *testing.T) {
	tests := []struct {
		name   string
		call   func(ctx context.Context, c *agones.Client) error
		method string
		path   string
		body   string
		check  func(t *testing.T, sc *agonestest.Sidecar)
	}{
		{"Ready", func(ctx context.Context, c *agones.Client) error { return c.Ready(ctx) },
			"POST", "/ready", `{}`, wantState(agones.StateReady)},
		{"Health", func(ctx context.Context, c *agones.Client) error { return c.Health(ctx) },
			"POST", "/health", `{}`, wantState(agones.StateScheduled)},
		{"Allocate", func(ctx context.Context, c *agones.Client) error { return c.Allocate(ctx) },
			"POST", "/allocate", `{}`, wantState(agones.StateAllocated)},
		{"Reserve", func(ctx context.Context, c *agones.Client) error { return c.Reserve(ctx, 5*time.Second) },
			"POST", "/reserve", `{"seconds":"5"}`, wantState(agones.StateReserved)},
		{"Reserve rounds up", func(ctx context.Context, c *agones.Client) error { return c.Reserve(ctx, 1500*time.Millisecond) },
			"POST", "/reserve", `{"seconds":"2"}`, wantState(agones.StateReserved)},
		{"Reserve forever", func(ctx context.Context, c *agones.Client) error { return c.Reserve(ctx, 0) },
			"POST", "/reserve", `{"seconds":"0"}`, wantState(agones.StateReserved)},
		{"Shutdown", func(ctx context.Context, c *agones.Client) error { return c.Shutdown(ctx) },
			"POST", "/shutdown", `{}`, func(t *testing.T, sc *agonestest.Sidecar) {
				wantState(agones.StateShutdown)(t, sc)
				if !sc.GameServer().Deleting() {
					t.Error("not deleting after Shutdown")
				}
			}},
		{"SetLabel", func(ctx context.Context, c *agones.Client) error { return c.SetLabel(ctx, "vox-sessions", "12") },
			"PUT", "/metadata/label", `{"key":"vox-sessions","value":"12"}`, wantLabel("vox-sessions", "12")},
		{"SetLabel sanitised", func(ctx context.Context, c *agones.Client) error { return c.SetLabel(ctx, "vox/cpu", " 0.5 ") },
			"PUT", "/metadata/label", `{"key":"vox-cpu","value":"0.5"}`, wantLabel("vox-cpu", "0.5")},
		{"SetLabel empty value", func(ctx context.Context, c *agones.Client) error { return c.SetLabel(ctx, "vox-accepting", "") },
			"PUT", "/metadata/label", `{"key":"vox-accepting","value":""}`, wantLabel("vox-accepting", "")},
		{"SetAnnotation", func(ctx context.Context, c *agones.Client) error {
			return c.SetAnnotation(ctx, "note", "drain at 12:00 / eu")
		}, "PUT", "/metadata/annotation", `{"key":"note","value":"drain at 12:00 / eu"}`,
			func(t *testing.T, sc *agonestest.Sidecar) {
				if got := sc.GameServer().ObjectMeta.Annotations["agones.dev/sdk-note"]; got != "drain at 12:00 / eu" {
					t.Errorf("annotation = %q", got)
				}
			}},
		{"GameServer", func(ctx context.Context, c *agones.Client) error {
			gs, err := c.GameServer(ctx)
			if err == nil && gs.ObjectMeta.Name != agonestest.DefaultName {
				return errors.New("wrong name " + gs.ObjectMeta.Name)
			}
			return err
		}, "GET", "/gameserver", ``, nil},
		{"Counter", func(ctx context.Context, c *agones.Client) error {
			ctr, err := c.Counter(ctx, "sessions")
			if err == nil && ctr != (agones.Counter{Name: "sessions", Count: 3, Capacity: 10}) {
				t.Errorf("counter = %+v", ctr)
			}
			return err
		}, "GET", "/v1beta1/counters/sessions", ``, nil},
		{"UpdateCounter diff", func(ctx context.Context, c *agones.Client) error {
			ctr, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{CountDiff: ptr(-1)})
			if err == nil && ctr != (agones.Counter{Name: "sessions", Count: 2, Capacity: 10}) {
				t.Errorf("counter = %+v", ctr)
			}
			return err
		}, "PATCH", "/v1beta1/counters/sessions", `{"countDiff":"-1"}`, wantCounter(2, 10)},
		{"UpdateCounter count", func(ctx context.Context, c *agones.Client) error {
			_, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{Count: ptr(5)})
			return err
		}, "PATCH", "/v1beta1/counters/sessions", `{"count":"5"}`, wantCounter(5, 10)},
		{"UpdateCounter capacity", func(ctx context.Context, c *agones.Client) error {
			_, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{Capacity: ptr(11)})
			return err
		}, "PATCH", "/v1beta1/counters/sessions", `{"capacity":"11"}`, wantCounter(3, 11)},
		{"UpdateCounter count and capacity", func(ctx context.Context, c *agones.Client) error {
			_, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{Count: ptr(40), Capacity: ptr(40)})
			return err
		}, "PATCH", "/v1beta1/counters/sessions", `{"count":"40","capacity":"40"}`, wantCounter(40, 40)},
		{"List", func(ctx context.Context, c *agones.Client) error {
			l, err := c.List(ctx, "players")
			if err == nil && (l.Name != "players" || l.Capacity != 3 || len(l.Values) != 1 || l.Values[0] != "p1") {
				t.Errorf("list = %+v", l)
			}
			return err
		}, "GET", "/v1beta1/lists/players", ``, nil},
		{"AddListValue", func(ctx context.Context, c *agones.Client) error {
			l, err := c.AddListValue(ctx, "players", "p2")
			if err == nil && len(l.Values) != 2 {
				t.Errorf("list = %+v", l)
			}
			return err
		}, "POST", "/v1beta1/lists/players:addValue", `{"value":"p2"}`, nil},
		{"RemoveListValue", func(ctx context.Context, c *agones.Client) error {
			l, err := c.RemoveListValue(ctx, "players", "p1")
			if err == nil && len(l.Values) != 0 {
				t.Errorf("list = %+v", l)
			}
			return err
		}, "POST", "/v1beta1/lists/players:removeValue", `{"value":"p1"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newSidecar(t)
			sc.DeclareCounter("sessions", 3, 10)
			sc.DeclareList("players", 3, "p1")
			c := newClient(t, sc, fastConfig())
			if err := tt.call(testContext(t), c); err != nil {
				t.Fatal(err)
			}
			calls := sc.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1: %+v", len(calls), calls)
			}
			got := calls[0]
			if got.Method != tt.method || got.Path != tt.path || string(got.Body) != tt.body || got.Status != http.StatusOK {
				t.Errorf("sidecar saw %s %s %q (%d), want %s %s %q (200)",
					got.Method, got.Path, got.Body, got.Status, tt.method, tt.path, tt.body)
			}
			if tt.check != nil {
				tt.check(t, sc)
			}
		})
	}
}

func wantState(state string) func(*testing.T, *agonestest.Sidecar) {
	return func(t *testing.T, sc *agonestest.Sidecar) {
		t.Helper()
		if got := sc.State(); got != state {
			t.Errorf("state = %s, want %s", got, state)
		}
	}
}

func wantLabel(key, value string) func(*testing.T, *agonestest.Sidecar) {
	return func(t *testing.T, sc *agonestest.Sidecar) {
		t.Helper()
		if got, ok := sc.Labels()[agones.SDKPrefix+key]; !ok || got != value {
			t.Errorf("label %s%s = %q, %v; want %q", agones.SDKPrefix, key, got, ok, value)
		}
	}
}

func wantCounter(count, capacity int64) func(*testing.T, *agonestest.Sidecar) {
	return func(t *testing.T, sc *agonestest.Sidecar) {
		t.Helper()
		got := sc.GameServer().Status.Counters["sessions"]
		if got.Count != count || got.Capacity != capacity {
			t.Errorf("counter = %+v, want count %d capacity %d", got, count, capacity)
		}
	}
}

func TestGameServerFromSidecar(t *testing.T) {
	sc := newSidecar(t)
	sc.SetAddress("203.0.113.7", []agones.Port{{Name: "media", Port: 7321}})
	sc.DeclareCounter("sessions", 1, 40)
	c := newClient(t, sc, fastConfig())
	ctx := testContext(t)
	gs, err := c.GameServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Status.Address != "203.0.113.7" || gs.Status.State != agones.StateScheduled || gs.Deleting() {
		t.Errorf("status = %+v", gs.Status)
	}
	if p, ok := gs.Port("media"); !ok || p != 7321 {
		t.Errorf("Port(media) = %d, %v", p, ok)
	}
	if ctr := gs.Status.Counters["sessions"]; ctr.Count != 1 || ctr.Capacity != 40 || ctr.Name != "sessions" {
		t.Errorf("counter = %+v", ctr)
	}
	if gs.Spec.Health.PeriodSeconds != 5 || gs.Spec.Health.FailureThreshold != 3 {
		t.Errorf("health = %+v", gs.Spec.Health)
	}
	sc.SetDeletionTimestamp()
	if gs, err = c.GameServer(ctx); err != nil || !gs.Deleting() {
		t.Errorf("after SetDeletionTimestamp: Deleting() = %v, %v", gs.Deleting(), err)
	}
}

// TestSentinels checks the sidecar's refusals map to the sentinels and are
// never retried.
func TestSentinels(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *agones.Client) error
		want error
	}{
		{"undeclared counter", func(ctx context.Context, c *agones.Client) error {
			_, err := c.Counter(ctx, "nope")
			return err
		}, agones.ErrNotFound},
		{"update undeclared counter", func(ctx context.Context, c *agones.Client) error {
			_, err := c.UpdateCounter(ctx, "nope", agones.CounterUpdate{CountDiff: ptr(1)})
			return err
		}, agones.ErrNotFound},
		{"count below 0", func(ctx context.Context, c *agones.Client) error {
			_, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{CountDiff: ptr(-4)})
			return err
		}, agones.ErrOutOfRange},
		{"count above capacity", func(ctx context.Context, c *agones.Client) error {
			_, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{Count: ptr(11)})
			return err
		}, agones.ErrOutOfRange},
		{"capacity below count", func(ctx context.Context, c *agones.Client) error {
			_, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{Capacity: ptr(2)})
			return err
		}, agones.ErrOutOfRange},
		{"list value present", func(ctx context.Context, c *agones.Client) error {
			_, err := c.AddListValue(ctx, "players", "p1")
			return err
		}, agones.ErrAlreadyExists},
		{"list full", func(ctx context.Context, c *agones.Client) error {
			_, err := c.AddListValue(ctx, "full", "x")
			return err
		}, agones.ErrOutOfRange},
		{"list value absent", func(ctx context.Context, c *agones.Client) error {
			_, err := c.RemoveListValue(ctx, "players", "zz")
			return err
		}, agones.ErrNotFound},
		{"undeclared list", func(ctx context.Context, c *agones.Client) error {
			_, err := c.List(ctx, "nope")
			return err
		}, agones.ErrNotFound},
	}
	for _, wording := range []struct {
		name string
		w    agonestest.Wording
	}{{"in cluster", agonestest.InCluster}, {"local SDK server", agonestest.LocalSDK}} {
		for _, tt := range tests {
			t.Run(wording.name+"/"+tt.name, func(t *testing.T) {
				sc := agonestest.NewSidecar(agonestest.WithWording(wording.w))
				t.Cleanup(sc.Close)
				sentinelCase(t, sc, tt.call, tt.want)
			})
		}
	}
}

// sentinelCase checks one refusal: its sentinel, no retry, nothing applied.
func sentinelCase(t *testing.T, sc *agonestest.Sidecar, call func(ctx context.Context, c *agones.Client) error, want error) {
	t.Helper()
	sc.DeclareCounter("sessions", 3, 10)
	sc.DeclareList("players", 3, "p1")
	sc.DeclareList("full", 1, "a")
	c := newClient(t, sc, fastConfig())
	err := call(testContext(t), c)
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	var ae *agones.Error
	if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusInternalServerError || ae.Code != 2 {
		t.Errorf("err = %#v, want an *Error 500 code 2", err)
	}
	if n := len(sc.Calls()); n != 1 {
		t.Errorf("%d calls, want 1 (a refusal is not retried)", n)
	}
	if got := sc.GameServer().Status.Counters["sessions"]; got.Count != 3 || got.Capacity != 10 {
		t.Errorf("counter changed by a refused update: %+v", got)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		fail      int
		status    int
		wantCalls int
		wantErr   bool
	}{
		{"500 then success", 2, http.StatusInternalServerError, 3, false},
		{"500 every attempt", 3, http.StatusInternalServerError, 3, true},
		{"429 retried", 1, http.StatusTooManyRequests, 2, false},
		{"503 retried", 2, http.StatusServiceUnavailable, 3, false},
		{"502 retried", 1, http.StatusBadGateway, 2, false},
		{"400 not retried", 1, http.StatusBadRequest, 1, true},
		{"404 not retried", 1, http.StatusNotFound, 1, true},
		{"409 not retried", 1, http.StatusConflict, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newSidecar(t)
			c := newClient(t, sc, fastConfig())
			sc.FailNext(tt.fail, tt.status)
			err := c.Ready(testContext(t))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if n := len(sc.CallsTo("POST", "/ready")); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
			var ae *agones.Error
			if tt.wantErr && (!errors.As(err, &ae) || ae.HTTPStatus != tt.status) {
				t.Errorf("err = %v, want an *Error with status %d", err, tt.status)
			}
			if !tt.wantErr && sc.State() != agones.StateReady {
				t.Errorf("state = %s", sc.State())
			}
		})
	}
}

func TestMaxAttemptsOne(t *testing.T) {
	sc := newSidecar(t)
	cfg := fastConfig()
	cfg.MaxAttempts = 1
	c := newClient(t, sc, cfg)
	sc.FailNext(1, http.StatusInternalServerError)
	if err := c.Health(testContext(t)); err == nil {
		t.Fatal("no error")
	}
	if n := len(sc.Calls()); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// TestBackoffDelays checks the retries wait the jittered, doubling delays.
func TestBackoffDelays(t *testing.T) {
	sc := newSidecar(t)
	cfg := fastConfig()
	cfg.MaxAttempts = 4
	cfg.BackoffBase = 10 * time.Millisecond
	cfg.BackoffCap = 25 * time.Millisecond
	var maxes []time.Duration
	cfg.Jitter = func(max time.Duration) time.Duration { maxes = append(maxes, max); return max }
	c := newClient(t, sc, cfg)
	sc.FailNext(3, http.StatusInternalServerError)
	if err := c.Ready(testContext(t)); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond}
	if len(maxes) != len(want) {
		t.Fatalf("backoff maxima %v, want %v", maxes, want)
	}
	for i := range want {
		if maxes[i] != want[i] {
			t.Errorf("backoff maxima %v, want %v", maxes, want)
		}
	}
	calls := sc.Calls()
	if len(calls) != 4 {
		t.Fatalf("%d calls", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].Time.Sub(calls[i-1].Time); gap < want[i-1] {
			t.Errorf("retry %d after %v, want at least %v", i, gap, want[i-1])
		}
	}
}

func TestAttemptTimeout(t *testing.T) {
	sc := newSidecar(t)
	cfg := fastConfig()
	cfg.AttemptTimeout = 40 * time.Millisecond
	cfg.MaxAttempts = 2
	c := newClient(t, sc, cfg)
	sc.Hang(time.Second)
	start := time.Now()
	err := c.Ready(testContext(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline exceeded", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("took %v with 2 attempts of 40 ms", el)
	}
	if n := len(sc.Calls()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	sc.Hang(0)
	if err := c.Ready(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if sc.State() != agones.StateReady {
		t.Errorf("state = %s", sc.State())
	}
}

// TestCountDiffRetries checks a counter difference is retried only when
// the sidecar surely did not apply it.
func TestCountDiffRetries(t *testing.T) {
	sc := newSidecar(t)
	sc.DeclareCounter("sessions", 0, 10)
	ctx := testContext(t)

	sc.FailNext(1, http.StatusInternalServerError) // an error answer: retried
	if _, err := newClient(t, sc, fastConfig()).UpdateCounter(ctx, "sessions", agones.CounterUpdate{CountDiff: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	if n := len(sc.Calls()); n != 2 {
		t.Errorf("%d calls after a 500, want 2", n)
	}

	// Timeouts. An attempt that times out may not have reached the
	// sidecar at all (on a loaded machine 40 ms can pass before the
	// sidecar reads the request), so the attempts are counted where the
	// client makes them.
	attempts := &attemptCounter{rt: &http.Transport{}}
	cfg := fastConfig()
	cfg.AttemptTimeout = 40 * time.Millisecond
	cfg.HTTPClient = &http.Client{Transport: attempts}
	c := newClient(t, sc, cfg)
	sc.ResetCalls()
	sc.Hang(time.Second) // a timeout: maybe applied, not retried
	if _, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{CountDiff: ptr(1)}); err == nil {
		t.Fatal("no error from a hung sidecar")
	}
	if n := attempts.n.Load(); n != 1 {
		t.Errorf("%d attempts after a timeout, want 1", n)
	}
	// An absolute count is idempotent: retried after a timeout too.
	attempts.n.Store(0)
	if _, err := c.UpdateCounter(ctx, "sessions", agones.CounterUpdate{Count: ptr(1)}); err == nil {
		t.Fatal("no error from a hung sidecar")
	}
	if n := attempts.n.Load(); n != 3 {
		t.Errorf("%d attempts of a Count update after timeouts, want 3", n)
	}
	if n := len(sc.Calls()); n > 4 {
		t.Errorf("the sidecar saw %d calls of 4 attempts", n)
	}
	sc.Hang(0)
	if got := sc.GameServer().Status.Counters["sessions"].Count; got != 1 {
		t.Errorf("count = %d, want 1", got)
	}
}

// attemptCounter is an http.RoundTripper that counts the requests a client
// sends, whether or not they reach the server.
type attemptCounter struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (a *attemptCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	a.n.Add(1)
	return a.rt.RoundTrip(r)
}

func TestUpdateCounterRefusesBadUpdates(t *testing.T) {
	sc := newSidecar(t)
	c := newClient(t, sc, fastConfig())
	ctx := testContext(t)
	for _, u := range []agones.CounterUpdate{{}, {CountDiff: ptr(1), Count: ptr(1)}} {
		if _, err := c.UpdateCounter(ctx, "sessions", u); err == nil {
			t.Errorf("UpdateCounter(%+v) accepted", u)
		}
	}
	if err := c.Reserve(ctx, -time.Second); err == nil {
		t.Error("Reserve(-1s) accepted")
	}
	if n := len(sc.Calls()); n != 0 {
		t.Errorf("%d calls sent", n)
	}
}

func TestContextCancel(t *testing.T) {
	t.Run("during an attempt", func(t *testing.T) {
		sc := newSidecar(t)
		c := newClient(t, sc, fastConfig())
		sc.Hang(5 * time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(30*time.Millisecond, cancel)
		start := time.Now()
		err := c.Ready(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("returned after %v", el)
		}
		if n := len(sc.Calls()); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
	t.Run("during the backoff", func(t *testing.T) {
		sc := newSidecar(t)
		cfg := fastConfig()
		cfg.BackoffBase, cfg.BackoffCap = 5*time.Second, 5*time.Second
		cfg.Jitter = func(max time.Duration) time.Duration { return max }
		c := newClient(t, sc, cfg)
		sc.FailNext(5, http.StatusInternalServerError)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.Ready(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		var ae *agones.Error
		if !errors.As(err, &ae) || ae.HTTPStatus != 500 {
			t.Errorf("err = %v, want the last answer wrapped too", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("returned after %v", el)
		}
	})
	t.Run("already done", func(t *testing.T) {
		sc := newSidecar(t)
		c := newClient(t, sc, fastConfig())
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := c.Health(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUnavailable(t *testing.T) {
	t.Run("sidecar down", func(t *testing.T) {
		sc := newSidecar(t)
		c := newClient(t, sc, fastConfig())
		sc.SetDown(true)
		start := time.Now()
		err := c.Health(testContext(t))
		if !errors.Is(err, agones.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Errorf("took %v", el)
		}
		sc.SetDown(false)
		if err := c.Health(testContext(t)); err != nil {
			t.Fatalf("after the sidecar came back: %v", err)
		}
	})
	t.Run("default config, nothing listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		c, err := agones.New("http://"+addr, agones.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.GameServer(testContext(t))
		if !errors.Is(err, agones.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		// 3 attempts, at most 100 + 200 ms of backoff.
		if el := time.Since(start); el > time.Second {
			t.Errorf("took %v", el)
		}
	})
}

func TestSetLabelRefusesBeforeSending(t *testing.T) {
	sc := newSidecar(t)
	c := newClient(t, sc, fastConfig())
	ctx := testContext(t)
	for _, kv := range [][2]string{{"///", "1"}, {"", "1"}, {"ok", "---"}} {
		if err := c.SetLabel(ctx, kv[0], kv[1]); !errors.Is(err, agones.ErrInvalidLabel) {
			t.Errorf("SetLabel(%q, %q) = %v, want ErrInvalidLabel", kv[0], kv[1], err)
		}
	}
	if err := c.SetAnnotation(ctx, "/", "x"); !errors.Is(err, agones.ErrInvalidLabel) {
		t.Errorf("SetAnnotation(/) = %v", err)
	}
	if n := len(sc.Calls()); n != 0 {
		t.Errorf("%d calls sent", n)
	}
}

func TestWaitReachable(t *testing.T) {
	t.Run("comes up", func(t *testing.T) {
		sc := newSidecar(t)
		sc.SetDown(true)
		cfg := fastConfig()
		cfg.BackoffBase, cfg.BackoffCap = 5*time.Millisecond, 20*time.Millisecond
		c := newClient(t, sc, cfg)
		time.AfterFunc(60*time.Millisecond, func() { sc.SetDown(false) })
		gs, err := agones.WaitReachable(testContext(t), c, 100)
		if err != nil {
			t.Fatal(err)
		}
		if gs.ObjectMeta.Name != agonestest.DefaultName {
			t.Errorf("name = %q", gs.ObjectMeta.Name)
		}
	})
	t.Run("never answers", func(t *testing.T) {
		sc := newSidecar(t)
		sc.SetDown(true)
		c := newClient(t, sc, fastConfig())
		_, err := agones.WaitReachable(testContext(t), c, 4)
		if !errors.Is(err, agones.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		t.Log(err)
	})
	t.Run("counts attempts", func(t *testing.T) {
		sc := newSidecar(t)
		c := newClient(t, sc, fastConfig())
		sc.FailNext(10, http.StatusServiceUnavailable)
		if _, err := agones.WaitReachable(testContext(t), c, 4); err == nil {
			t.Fatal("no error")
		}
		if n := len(sc.Calls()); n != 4 {
			t.Errorf("%d calls, want 4", n)
		}
	})
	t.Run("refusal ends the wait", func(t *testing.T) {
		sc := newSidecar(t)
		c := newClient(t, sc, fastConfig())
		sc.FailNext(10, http.StatusForbidden)
		if _, err := agones.WaitReachable(testContext(t), c, 4); err == nil {
			t.Fatal("no error")
		}
		if n := len(sc.Calls()); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
}
