//go:build opus

package admin

import (
	"strings"
	"testing"
)

// With libopus a listener's own mix is turned on and off by PUT .../mix
// and reported in the participant.
func TestListenerMixRoute(t *testing.T) {
	ts, _ := realServer(t)
	for _, id := range []string{"a", "b"} {
		body := `{"participant_id":"` + id + `"}`
		if id == "a" {
			body = `{"participant_id":"a","mix":true}`
		}
		if resp := ts.do(t, request{method: "POST", path: "/v1/sessions/game/participants", body: body}); resp.status != 201 {
			t.Fatalf("admit %s: %d %s", id, resp.status, resp.body)
		}
	}
	resp := ts.do(t, request{method: "GET", path: "/v1/sessions/game/participants/a"})
	if resp.status != 200 || !strings.Contains(string(resp.body), `"mix":true`) {
		t.Fatalf("GET a: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/game/participants/b/mix", body: `{"mix":true}`})
	if resp.status != 200 || !strings.Contains(string(resp.body), `"mix":true`) {
		t.Fatalf("PUT b mix: %d %s", resp.status, resp.body)
	}
	resp = ts.do(t, request{method: "PUT", path: "/v1/sessions/game/participants/a/mix", body: `{"mix":false}`})
	if resp.status != 200 || !strings.Contains(string(resp.body), `"mix":false`) {
		t.Fatalf("PUT a mix off: %d %s", resp.status, resp.body)
	}
}
