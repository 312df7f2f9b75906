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
