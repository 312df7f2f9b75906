package admin

import (
	"strings"
	"testing"

	"github.com/voxfleet/vox/sessionmgr"
)

// TestStrictJSON: every endpoint that takes a body refuses duplicate keys
// (at any depth), field names in another case and a null body, with a
// JSON error; null for an optional field is the field absent.
func TestStrictJSON(t *testing.T) {
	const admit = "/v1/sessions/s1/participants"
	const pidPath = "/v1/sessions/s1/participants/a"
	tests := []struct {
		name   string
		req    request
		status int
		code   string
		msg    string
	}{
		{"duplicate key", request{method: "POST", path: admit, body: `{"participant_id":"a","participant_id":"b"}`}, 400, CodeDuplicateField, `"participant_id"`},
		{"duplicate nested key", request{method: "POST", path: admit, body: `{"session":{"max_participants":2,"max_participants":3}}`}, 400, CodeDuplicateField, `"session.max_participants"`},
		{"duplicate key, escaped", request{method: "PUT", path: "/v1/sessions/s2", body: `{"mix":false,"\u006dix":true}`}, 400, CodeDuplicateField, `"mix"`},
		{"duplicate key in the drain", request{method: "POST", path: "/v1/drain", body: `{"grace":"1s","grace":"2s"}`}, 400, CodeDuplicateField, "grace"},
		{"duplicate key in reconnect", request{method: "POST", path: "/v1/reconnect", body: `{"rate":1,"rate":2}`}, 400, CodeDuplicateField, "rate"},
		{"duplicate key in accept-stop", request{method: "POST", path: "/v1/accept-stop", body: `{"reason":"a","reason":"b"}`}, 400, CodeDuplicateField, "reason"},
		{"duplicate key in mute", request{method: "PUT", path: pidPath + "/mute", body: `{"muted":true,"muted":false}`}, 400, CodeDuplicateField, "muted"},
		{"duplicate key in mutes", request{method: "PUT", path: pidPath + "/mutes", body: `{"ssrcs":[1],"ssrcs":[2]}`}, 400, CodeDuplicateField, "ssrcs"},
		{"duplicate key in channel", request{method: "PUT", path: pidPath + "/channel", body: `{"channel":"red","channel":"blue"}`}, 400, CodeDuplicateField, "channel"},
		{"duplicate key in mix", request{method: "PUT", path: pidPath + "/mix", body: `{"mix":true,"mix":true}`}, 400, CodeDuplicateField, "mix"},
		{"duplicate key inside a duration", request{method: "POST", path: "/v1/drain", body: `{"grace":{"a":1,"a":1}}`}, 400, CodeDuplicateField, "grace.a"},
		{"wrong case", request{method: "POST", path: admit, body: `{"Participant_ID":"a"}`}, 400, CodeUnknownField, `"participant_id"`},
		{"wrong case nested", request{method: "POST", path: admit, body: `{"session":{"MAX_PARTICIPANTS":2}}`}, 400, CodeUnknownField, "session.MAX_PARTICIPANTS"},
		{"wrong case drain", request{method: "POST", path: "/v1/drain", body: `{"Grace":"1s"}`}, 400, CodeUnknownField, "Grace"},
		{"wrong case mute", request{method: "PUT", path: pidPath + "/mute", body: `{"Muted":true}`}, 400, CodeUnknownField, "Muted"},
		{"unknown nested field", request{method: "POST", path: admit, body: `{"session":{"nope":1}}`}, 400, CodeUnknownField, "session.nope"},
		{"null body, optional", request{method: "PUT", path: "/v1/sessions/s2", body: `null`}, 400, CodeMalformedJSON, "null"},
		{"null body, admit", request{method: "POST", path: admit, body: ` null `}, 400, CodeMalformedJSON, "null"},
		{"null body, drain", request{method: "POST", path: "/v1/drain", body: `null`}, 400, CodeMalformedJSON, "null"},
		{"null body, reconnect", request{method: "POST", path: "/v1/reconnect", body: `null`}, 400, CodeMalformedJSON, "null"},
		{"null body, accept-stop", request{method: "POST", path: "/v1/accept-stop", body: `null`}, 400, CodeMalformedJSON, "null"},
		{"null body, accept-resume", request{method: "POST", path: "/v1/accept-resume", body: `null`}, 400, CodeMalformedJSON, "null"},
		{"null body, mute", request{method: "PUT", path: pidPath + "/mute", body: `null`}, 400, CodeMalformedJSON, "null"},
		{"null for a required field", request{method: "PUT", path: pidPath + "/mute", body: `{"muted":null}`}, 400, CodeInvalidRequest, "muted"},
		{"null then data", request{method: "PUT", path: "/v1/sessions/s2", body: `{} null`}, 400, CodeMalformedJSON, "after"},
		{"truncated", request{method: "POST", path: admit, body: `{"session":{"max_participants":`}, 400, CodeMalformedJSON, ""},
	}
	ts := newHTTPTestServer(t, Config{Token: testToken})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.doHTTP(t, tt.req)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.status, tt.status, resp.body)
			}
			e := resp.errorBody(t)
			if e.Code != tt.code || !strings.Contains(e.Error, tt.msg) {
				t.Errorf("%q %q, want code %q and %q in the message", e.Code, e.Error, tt.code, tt.msg)
			}
		})
	}
	ts.fake.set(func(f *fakeBackend) {
		if len(f.sessions) != 0 || f.drainCalls != 0 || f.routeCalls != 0 {
			t.Errorf("a refused body reached the backend: %d sessions, %d drain calls, %d routing calls",
				len(f.sessions), f.drainCalls, f.routeCalls)
		}
	})

	// null for an optional field is that field absent.
	resp := ts.doHTTP(t, request{method: "POST", path: admit,
		body: `{"participant_id":"a","profile":null,"session":{"max_participants":null,"profile":null,"mix":null},"mix":null}`})
	if resp.status != 201 {
		t.Fatalf("admit with nulls: %d %s", resp.status, resp.body)
	}
	ts.fake.set(func(f *fakeBackend) {
		if r := f.lastReq; r.ParticipantID != "a" || r.Profile != nil || r.Session == nil || *r.Session != (sessionmgr.SessionOptions{}) {
			t.Errorf("admit with nulls reached the backend as %+v", r)
		}
	})
	resp = ts.doHTTP(t, request{method: "POST", path: "/v1/drain", body: `{"grace":null,"rate":null,"deadline":null,"window":null,"exit":null}`})
	if resp.status != 202 {
		t.Fatalf("drain with nulls: %d %s", resp.status, resp.body)
	}
	ts.fake.set(func(f *fakeBackend) {
		if f.drainReq != (sessionmgr.DrainRequest{}) {
			t.Errorf("drain with nulls reached the backend as %+v", f.drainReq)
		}
	})
}
