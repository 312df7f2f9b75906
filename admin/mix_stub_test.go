//go:build !opus

package admin

import (
	"strings"
	"testing"
)

// Without libopus a mix session is a 400 that says how to build vox.
func TestMixSessionWithoutOpus(t *testing.T) {
	ts, _ := realServer(t)
	resp := ts.do(t, request{method: "PUT", path: "/v1/sessions/game", body: `{"mix":true}`})
	if resp.status != 400 || !strings.Contains(string(resp.body), "-tags opus") || !strings.Contains(string(resp.body), CodeInvalidRequest) {
		t.Fatalf("PUT mix: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "POST", path: "/v1/sessions/game/participants", body: `{"session":{"mix":true}}`})
	if resp.status != 400 || !strings.Contains(string(resp.body), "-tags opus") {
		t.Fatalf("admit mix: %d %s", resp.status, resp.body)
	}
}

// Without libopus a listener's own mix is a 400 too, at admission and by
// PUT .../mix; turning it off is harmless.
func TestListenerMixWithoutOpus(t *testing.T) {
	ts, _ := realServer(t)
	resp := ts.do(t, request{method: "POST", path: "/v1/sessions/game/participants", body: `{"participant_id":"a","mix":true}`})
	if resp.status != 400 || !strings.Contains(string(resp.body), "-tags opus") {
		t.Fatalf("admit with mix: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "POST", path: "/v1/sessions/game/participants", body: `{"participant_id":"a"}`})
	if resp.status != 201 && resp.status != 200 {
		t.Fatalf("admit: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/game/participants/a/mix", body: `{"mix":true}`})
	if resp.status != 400 || !strings.Contains(string(resp.body), "-tags opus") || !strings.Contains(string(resp.body), CodeInvalidRequest) {
		t.Fatalf("PUT mix: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/game/participants/a/mix", body: `{"mix":false}`})
	if resp.status != 200 || !strings.Contains(string(resp.body), `"mix":false`) {
		t.Fatalf("PUT mix off: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/game/participants/a/mix", body: `{}`})
	if resp.status != 400 {
		t.Fatalf("PUT mix without the field: %d %s", resp.status, resp.body)
	}
}
