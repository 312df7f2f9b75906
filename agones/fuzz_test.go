package agones

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fuzzSidecar is a real HTTP server on loopback that answers every request
// with the fuzzer's status and body.
type fuzzSidecar struct {
	mu       sync.Mutex
	status   int
	body     []byte
	requests atomic.Int64
	srv      *httptest.Server
}

func newFuzzSidecar(f *testing.F) *fuzzSidecar {
	s := &fuzzSidecar{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	f.Cleanup(s.srv.Close)
	return s
}

func (s *fuzzSidecar) answer(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
	s.requests.Store(0)
}

// FuzzSidecarAnswers: the client given any answer (status and body) to
// any of its calls, and any watch stream. Properties: no panic; every call
// ends (within its attempts: never more requests than MaxAttempts, and
// within a time bound); a failed call returns an error, a 2xx answer that
// does not decode is an error, not a zero value taken for the truth; the
// watch stream's reader returns at the stream's end and hands its callback
// only decoded GameServers; the watch loop backs off before every
// reconnection (it never spins on a malformed stream).
//
//	go test ./agones -run '^$' -fuzz '^FuzzSidecarAnswers$' -fuzztime 60s -parallel 1
func FuzzSidecarAnswers(f *testing.F) {
	sc := newFuzzSidecar(f)
	const attempts = 3
	var (
		backoffs  atomic.Int64
		onBackoff atomic.Pointer[func()]
	)
	c, err := New(sc.srv.URL, Config{
		AttemptTimeout: 2 * time.Second, MaxAttempts: attempts,
		BackoffBase: time.Millisecond, BackoffCap: 4 * time.Millisecond,
		// No real waiting; count the backoffs instead.
		Jitter: func(max time.Duration) time.Duration {
			if max > 0 {
				backoffs.Add(1)
			}
			if f := onBackoff.Load(); f != nil {
				(*f)()
			}
			return 0
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, call uint8, status uint16, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		code := 100 + int(status)%500 // 100..599
		if code < 200 && code != 100 {
			code = 200 + code%100 // informational answers other than 100 make net/http wait for the real one
		}
		if code == 100 {
			code = 200
		}
		sc.answer(code, body)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var cerr error
		switch call % 8 {
		case 0:
			cerr = c.Ready(ctx)
		case 1:
			var gs GameServer
			gs, cerr = c.GameServer(ctx)
			_ = gs.Status.State
		case 2:
			_, cerr = c.Counter(ctx, "sessions")
		case 3:
			_, cerr = c.UpdateCounter(ctx, "sessions", CounterUpdate{Count: ptr(int64(3))})
		case 4:
			_, cerr = c.List(ctx, "players")
		case 5:
			cerr = c.SetLabel(ctx, "vox-sessions", "3")
		case 6:
			// One watch stream: it must end when the body does.
			delivered := 0
			_, cerr = c.watchOnce(ctx, func(gs GameServer) { delivered++ })
			if cerr == nil {
				t.Fatal("a watch stream ended without an error")
			}
			if code != 200 && delivered != 0 {
				t.Fatalf("status %d: %d GameServers delivered", code, delivered)
			}
		default:
			// The watch loop, for five reconnections: each one after a
			// backoff of more than nothing.
			backoffs.Store(0)
			wctx, wcancel := context.WithCancel(ctx)
			stop := func() {
				if backoffs.Load() >= 5 {
					wcancel()
				}
			}
			onBackoff.Store(&stop)
			werr := c.WatchGameServer(wctx, func(GameServer) {})
			onBackoff.Store(nil)
			wcancel()
			if !errors.Is(werr, context.Canceled) {
				t.Fatalf("watch ended with %v, not its context", werr)
			}
			if n, b := sc.requests.Load(), backoffs.Load(); n > b+1 || b < 5 {
				t.Fatalf("watch: %d streams, %d backoffs", n, b)
			}
			sc.requests.Store(0) // the streams are not a call's attempts
			if ctx.Err() != nil {
				t.Fatalf("watch: did not stop in 5 s")
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("call %d, status %d: did not end in 5 s (%v)", call%8, code, cerr)
		}
		if n := sc.requests.Load(); n > attempts {
			t.Fatalf("call %d, status %d: %d requests for %d attempts", call%8, code, n, attempts)
		}
		if code >= 300 && cerr == nil {
			t.Fatalf("call %d: status %d answered, no error", call%8, code)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func sidecarFuzzSeeds() []struct {
	call   uint8
	status uint16
	body   string
} {
	gs := `{"object_meta":{"name":"gs-1","uid":"u","generation":"3","labels":{"a":"b"}},"status":{"state":"Ready","address":"10.0.0.1","ports":[{"name":"voice","port":7000}],"counters":{"sessions":{"count":"1","capacity":"10"}}}}`
	return []struct {
		call   uint8
		status uint16
		body   string
	}{
		{0, 100, `{}`},
		{1, 100, gs},
		{1, 100, `{"object_meta":{"generation":"x"}}`},
		{2, 100, `{"count":"1","capacity":"10"}`},
		{3, 409 - 100, `{"code":9,"message":"out of range"}`},
		{4, 100, `{"capacity":"10","values":["a","b"]}`},
		{5, 503 - 100, `{"code":14,"message":"unavailable"}`},
		{1, 500 - 100, `not json`},
		{6, 100, `{"result":` + gs + `}` + "\n" + `{"result":` + gs + `}`},
		{6, 100, `{"error":{"code":2,"message":"boom"}}`},
		{6, 100, `{"result":{"status":{"state":7}}}`},
		{7, 100, `{"result":` + gs + `}`},
		{7, 404 - 100, `{"code":5,"message":"not found"}`},
		{7, 100, `[[[`},
	}
}

func TestWriteSidecarFuzzCorpus(t *testing.T) {
	if os.Getenv("VOX_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set VOX_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzSidecarAnswers")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSidecarAnswers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range sidecarFuzzSeeds() {
		b := fmt.Appendf(nil, "go test fuzz v1\nuint8(%d)\nuint16(%d)\n[]byte(%q)\n", s.call, s.status, s.body)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
