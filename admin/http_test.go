package admin

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// newHTTPTestServer is newTestServer on a real socket: 127.0.0.1, a free
// port, the test token; it is shut down when the test ends.
func newHTTPTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ts := newTestServer(t, cfg)
	if err := ts.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ts
}

// doHTTP sends rq to the started server over TCP, as ts.do does to the
// handler: the token, a JSON Content-Type with a body, rq.header on top
// ("" deletes).
func (ts *testServer) doHTTP(t *testing.T, rq request) response {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r, err := http.NewRequest(rq.method, "http://"+ts.Addr()+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if rq.unknownLength {
		r.ContentLength = -1
	}
	if ts.cfg.Token != "" {
		r.Header.Set("Authorization", "Bearer "+ts.cfg.Token)
	}
	if rq.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		switch {
		case k == "Host":
			r.Host = v
		case v == "":
			r.Header.Del(k)
		default:
			r.Header.Set(k, v)
		}
	}
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", rq.method, rq.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestReconnectSessionsList: only an absent (or null) "sessions" means
// every session; an empty list is refused before it reaches the manager.
func TestReconnectSessionsList(t *testing.T) {
	ts := newHTTPTestServer(t, Config{Token: testToken})
	ts.doHTTP(t, request{method: "POST", path: "/v1/sessions/s1/participants", body: `{"participant_id":"a"}`})

	resp := ts.doHTTP(t, request{method: "POST", path: "/v1/reconnect", body: `{"sessions": []}`})
	if resp.status != 400 {
		t.Fatalf("empty list: %d %s", resp.status, resp.body)
	}
	if e := resp.errorBody(t); e.Code != CodeInvalidRequest || !strings.Contains(e.Error, `"sessions"`) {
		t.Errorf("empty list: %+v", e)
	}
	ts.fake.set(func(f *fakeBackend) {
		if f.drainCalls != 0 {
			t.Errorf("the empty list reached the manager: %+v", f.reconnectReq)
		}
	})
	for _, body := range []string{``, `{}`, `{"sessions": null}`} {
		resp := ts.doHTTP(t, request{method: "POST", path: "/v1/reconnect", body: body})
		if resp.status != 202 || !strings.Contains(string(resp.body), `"sessions":1`) {
			t.Errorf("body %q: %d %s, want 202 for every session", body, resp.status, resp.body)
		}
		ts.fake.set(func(f *fakeBackend) {
			if f.reconnectReq == nil || f.reconnectReq.Sessions != nil {
				t.Errorf("body %q reached the manager as %+v, want no sessions (all)", body, f.reconnectReq)
			}
		})
	}
}
