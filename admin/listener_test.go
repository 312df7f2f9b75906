package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

// TestListener runs the server on a real socket: start, serve, refuse a
// second Start, shut down, and the port is free again.
func TestListener(t *testing.T) {
	ts := newTestServer(t, Config{Addr: "127.0.0.1:0", Token: testToken})
	if ts.Addr() != "" {
		t.Errorf("Addr before Start = %q", ts.Addr())
	}
	if err := ts.Start(); err != nil {
		t.Fatal(err)
	}
	addr := ts.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr = %q", addr)
	}
	if err := ts.Start(); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}

	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string, token string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, body := get("/healthz", ""); resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}
	resp, body := get("/v1/status", testToken)
	var st StatusResponse
	if err := json.Unmarshal(body, &st); resp.StatusCode != 200 || err != nil || !st.Accepting {
		t.Errorf("status: %d %v %s", resp.StatusCode, err, body)
	}
	if resp, body := get("/v1/status", "wrong"); resp.StatusCode != 403 || !strings.Contains(string(body), `"code":"forbidden"`) {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get("/debug/pprof/cmdline", testToken); resp.StatusCode != 200 {
		t.Errorf("pprof cmdline: %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	ln.Close()
	if err := ts.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if strings.Contains(ts.logs.String(), testToken) {
		t.Errorf("token logged:\n%s", ts.logs)
	}
}

func TestStartFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tt := range []struct {
		cfg  Config
		want error
	}{
		{Config{Addr: busy.Addr().String(), Token: testToken}, nil},
		{Config{Addr: "127.0.0.1:99999", Token: testToken}, nil},
		{Config{Addr: "0.0.0.0:0"}, ErrExposed},
	} {
		s, err := New(tt.cfg, newFake())
		if err != nil {
			t.Fatal(err)
		}
		err = s.Start()
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("Start on %q = %v, want an error (%v)", tt.cfg.Addr, err, tt.want)
			_ = s.Shutdown(context.Background())
		}
		if s.Addr() != "" {
			t.Errorf("Addr after a failed Start = %q", s.Addr())
		}
	}
}

// TestShutdownDeadline: a request that never ends does not hold Shutdown
// past its context.
func TestShutdownDeadline(t *testing.T) {
	entered := make(chan struct{})
	ts := newTestServer(t, Config{Addr: "127.0.0.1:0", Token: testToken}, func(r chi.Router, _ *Server) {
		r.Get("/hang", func(_ http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done()
		})
	})
	if err := ts.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		req, _ := http.NewRequest("GET", "http://"+ts.Addr()+"/v1/hang", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := ts.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}
