package admin

import (
	"strings"
	"testing"
)

// TestDurationBounds: every duration of a request is bounded at decode
// time, with a message that names the field and its bound.
func TestDurationBounds(t *testing.T) {
	ts := newHTTPTestServer(t, Config{Token: testToken})
	for _, tt := range []struct {
		path, body string
		msg        string // "" for accepted
	}{
		{"/v1/drain", `{"deadline":"100000h"}`, `field "deadline" must be at most 24h0m0s, not 100000h0m0s`},
		{"/v1/drain", `{"grace":"24h0m1s","deadline":"1h"}`, `field "grace" must be at most 24h0m0s`},
		{"/v1/drain", `{"window":"61m"}`, `field "window" must be at most 1h0m0s, not 1h1m0s`},
		{"/v1/reconnect", `{"window":"2h"}`, `field "window" must be at most 1h0m0s`},
		{"/v1/reconnect", `{"window":"1h"}`, ""},
		{"/v1/drain", `{"grace":"23h","deadline":"24h","window":"1h"}`, ""},
	} {
		resp := ts.doHTTP(t, request{method: "POST", path: tt.path, body: tt.body})
		if tt.msg == "" {
			if resp.status != 202 {
				t.Errorf("%s %s: %d %s, want 202", tt.path, tt.body, resp.status, resp.body)
			}
			continue
		}
		if resp.status != 400 {
			t.Errorf("%s %s: %d %s, want 400", tt.path, tt.body, resp.status, resp.body)
			continue
		}
		if e := resp.errorBody(t); e.Code != CodeInvalidRequest || !strings.Contains(e.Error, tt.msg) {
			t.Errorf("%s %s: %+v, want invalid_request with %q", tt.path, tt.body, e, tt.msg)
		}
	}
	ts.fake.set(func(f *fakeBackend) {
		if f.drainCalls != 2 {
			t.Errorf("%d calls reached the manager, want the 2 accepted", f.drainCalls)
		}
	})
}
