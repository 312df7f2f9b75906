package admin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
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

// rawExchange writes req on a new TCP connection to the server and reads
// the answer with net/http's parser.
func rawExchange(t *testing.T, addr, req string) response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// The server may answer (and stop reading) before the request is all
	// written: write on the side.
	go func() { _, _ = io.WriteString(c, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read the answer to %.40q: %v", req, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestNetHTTPErrorsAreJSON: what net/http answers by itself, before any
// handler (oversized headers, a malformed Host or request, an unknown
// transfer encoding or HTTP version, an unsupported Expect), is JSON too.
func TestNetHTTPErrorsAreJSON(t *testing.T) {
	ts := newHTTPTestServer(t, Config{Token: testToken})
	big := strings.Repeat("x", 2*DefaultMaxHeaderBytes)
	for _, tt := range []struct {
		name, req string
		status    int
		code, msg string
	}{
		{"oversized header", "GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + big + "\r\n\r\n",
			431, CodeHeaderTooLarge, fmt.Sprint(DefaultMaxHeaderBytes)},
		{"oversized header, many lines", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
			strings.Repeat("X-A: "+strings.Repeat("y", 1000)+"\r\n", 40) + "\r\n", 431, CodeHeaderTooLarge, "header"},
		{"malformed Host", "GET /v1/status HTTP/1.1\r\nHost: a b\r\n\r\n", 400, CodeMalformedRequest, "malformed Host header"},
		{"two Hosts", "GET /v1/status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, CodeMalformedRequest, ""},
		{"no Host", "GET /v1/status HTTP/1.1\r\n\r\n", 400, CodeMalformedRequest, "Host"},
		{"garbage", "HELLO\r\n\r\n", 400, CodeMalformedRequest, "malformed"},
		{"bad header name", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, CodeMalformedRequest, ""},
		{"transfer encoding", "POST /v1/drain HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, CodeUnsupportedProtocol, "transfer encoding"},
		{"HTTP version", "GET /healthz HTTP/2.5\r\nHost: x\r\n\r\n", 505, CodeUnsupportedProtocol, "version"},
		{"Expect", "GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: coffee\r\n\r\n", 417, CodeUnsupportedProtocol, "Expect"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawExchange(t, ts.Addr(), tt.req)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			e := resp.errorBody(t)
			if e.Code != tt.code || !strings.Contains(e.Error, tt.msg) {
				t.Errorf("%+v, want code %s and %q in the message", e, tt.code, tt.msg)
			}
			if resp.header.Get("Cache-Control") != "no-store" || resp.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", resp.header)
			}
		})
	}
	// A request within the limits on a connection passes untouched, and
	// the refusals are counted.
	if resp := rawExchange(t, ts.Addr(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); resp.status != 200 {
		t.Errorf("healthz: %d %s", resp.status, resp.body)
	}
	resp := ts.doHTTP(t, request{method: "GET", path: "/metrics"})
	if !strings.Contains(string(resp.body), `vox_admin_requests_total{route="unparsed",method="other",status="431"} 2`) {
		t.Errorf("431s not counted:\n%s", resp.body)
	}
}

// TestHostCheckOverHTTP: the open API's Host and Origin checks answer
// JSON over a real connection.
func TestHostCheckOverHTTP(t *testing.T) {
	ts := newHTTPTestServer(t, Config{Addr: "127.0.0.1:0"}) // no token: open mode
	for _, tt := range []struct {
		header map[string]string
		status int
		code   string
	}{
		{map[string]string{"Host": "rebound.example"}, 403, CodeForbiddenHost},
		{map[string]string{"Host": "rebound.example:8080"}, 403, CodeForbiddenHost},
		{map[string]string{"Host": "10.0.0.1"}, 403, CodeForbiddenHost},
		{map[string]string{"Origin": "https://evil.example"}, 403, CodeForbiddenOrigin},
		{map[string]string{"Host": "localhost:1"}, 200, ""},
		{map[string]string{"Host": "[::1]"}, 200, ""},
	} {
		resp := ts.doHTTP(t, request{method: "GET", path: "/v1/status", header: tt.header})
		if resp.status != tt.status {
			t.Errorf("%v: %d %s, want %d", tt.header, resp.status, resp.body, tt.status)
			continue
		}
		if tt.code != "" {
			if e := resp.errorBody(t); e.Code != tt.code {
				t.Errorf("%v: %+v, want %s", tt.header, e, tt.code)
			}
		}
	}
}

// TestHead: HEAD answers wherever GET does, with the GET's status and
// headers and no body; a HEAD where there is no GET is a 405.
func TestHead(t *testing.T) {
	ts := newHTTPTestServer(t, Config{Token: testToken})
	ts.doHTTP(t, request{method: "PUT", path: "/v1/sessions/s1"})
	ts.doHTTP(t, request{method: "POST", path: "/v1/sessions/s1/participants", body: `{"participant_id":"a"}`})
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/status", "/v1/sessions", "/v1/sessions/s1",
		"/v1/sessions/s1/participants/a", "/v1/sessions/nope", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/nope"} {
		get := ts.doHTTP(t, request{method: "GET", path: path})
		head := ts.doHTTP(t, request{method: "HEAD", path: path})
		if head.status != get.status || len(head.body) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes, want %d and none", path, head.status, len(head.body), get.status)
		}
		if ct := head.header.Get("Content-Type"); ct != get.header.Get("Content-Type") || ct == "" {
			t.Errorf("HEAD %s: Content-Type %q, GET's %q", path, ct, get.header.Get("Content-Type"))
		}
		switch {
		case path == "/v1/status": // its rates change from call to call
			if head.header.Get("Content-Length") == "" {
				t.Errorf("HEAD %s: no Content-Length", path)
			}
		case strings.HasPrefix(get.header.Get("Content-Type"), "application/json"):
			if cl := head.header.Get("Content-Length"); cl != fmt.Sprint(len(get.body)) {
				t.Errorf("HEAD %s: Content-Length %q, GET's body is %d bytes", path, cl, len(get.body))
			}
		}
	}
	resp := ts.doHTTP(t, request{method: "HEAD", path: "/v1/drain"})
	if resp.status != 405 || resp.header.Get("Allow") != "POST, DELETE" {
		t.Errorf("HEAD /v1/drain: %d Allow %q", resp.status, resp.header.Get("Allow"))
	}
	if resp := ts.doHTTP(t, request{method: "HEAD", path: "/v1/status", header: map[string]string{"Authorization": ""}}); resp.status != 401 {
		t.Errorf("HEAD without the token: %d", resp.status)
	}
	// Counted as HEAD.
	resp = ts.doHTTP(t, request{method: "GET", path: "/metrics"})
	if !strings.Contains(string(resp.body), `vox_admin_requests_total{route="/v1/status",method="HEAD",status="200"} 1`) {
		t.Errorf("HEAD not counted")
	}
}
