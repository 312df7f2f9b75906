package admin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fuzzEndpoints are the admin API's endpoints that read a JSON body.
var fuzzEndpoints = []struct{ method, path string }{
	{"PUT", "/v1/sessions/s2"},
	{"POST", "/v1/sessions/s1/participants"},
	{"POST", "/v1/drain"},
	{"POST", "/v1/reconnect"},
	{"POST", "/v1/accept-stop"},
	{"POST", "/v1/accept-resume"},
	{"PUT", "/v1/sessions/s1/participants/a/mute"},
	{"PUT", "/v1/sessions/s1/participants/a/mutes"},
	{"PUT", "/v1/sessions/s1/participants/a/channel"},
	{"PUT", "/v1/sessions/s1/participants/a/mix"},
}

// FuzzAdminBodies sends arbitrary bodies to every admin endpoint that reads
// JSON. Properties: no panic (the middleware would answer it with a 500),
// never a 5xx, every refusal the JSON error with a code, every success
// JSON.
//
//	go test ./admin -run '^$' -fuzz '^FuzzAdminBodies$' -fuzztime 60s -parallel 1
func FuzzAdminBodies(f *testing.F) {
	f.Fuzz(func(t *testing.T, endpoint uint8, body string) {
		if len(body) > 1<<16 {
			return
		}
		ep := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
		ts := newTestServer(t, Config{})
		if r := ts.do(t, request{method: "POST", path: "/v1/sessions/s1/participants", body: `{"participant_id":"a"}`}); r.status != 201 {
			t.Fatalf("setup admission: %d %s", r.status, r.body)
		}
		r := ts.do(t, request{method: ep.method, path: ep.path, body: body})
		switch {
		case r.status >= 500:
			t.Fatalf("%s %s %q: %d %s", ep.method, ep.path, body, r.status, r.body)
		case r.status >= 400:
			e := r.errorBody(t)
			if e.Code == CodeInternal {
				t.Fatalf("%s %s %q: internal error %s", ep.method, ep.path, body, r.body)
			}
		case r.status >= 200 && r.status < 300:
			if len(r.body) > 0 && !json.Valid(r.body) {
				t.Fatalf("%s %s %q: %d with a body that is not JSON: %q", ep.method, ep.path, body, r.status, r.body)
			}
		default:
			t.Fatalf("%s %s %q: status %d", ep.method, ep.path, body, r.status)
		}
	})
}

func adminFuzzSeeds() []struct {
	ep   uint8
	body string
} {
	return []struct {
		ep   uint8
		body string
	}{
		{0, `{"max_participants":4,"mix":true,"profile":"AEAD_AES_128_GCM","max_speakers":2}`},
		{0, `{"max_participants":-1}`},
		{1, `{"participant_id":"b","session":{"max_participants":3}}`},
		{1, `{"participant_id":"b","profile":"nope"}`},
		{1, `{"participant_id":"` + string(make([]byte, 300)) + `"}`},
		{2, `{"grace":"1s","drip_rate":5,"deadline":"10s"}`},
		{2, `{"grace":"-1s"}`},
		{3, `{"rate":1e308,"window":"1ms"}`},
		{4, `{"reason":"maintenance"}`},
		{5, `{}`},
		{6, `{"muted":true}`},
		{7, `{"ssrcs":[1,2,4294967296],"participants":["b"]}`},
		{8, `{"channel":"red"}`},
		{9, `{"mix":true}`},
		{1, `{"participant_id":"a","participant_id":"b"}`},
		{0, "\xff\xfe"},
		{2, `[` + string(make([]byte, 10)) + `]`},
	}
}

func TestWriteAdminFuzzCorpus(t *testing.T) {
	if os.Getenv("VOX_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set VOX_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzAdminBodies")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzAdminBodies")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range adminFuzzSeeds() {
		b := fmt.Appendf(nil, "go test fuzz v1\nuint8(%d)\nstring(%q)\n", s.ep, s.body)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
