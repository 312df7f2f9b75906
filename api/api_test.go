package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestProfileJSON(t *testing.T) {
	for _, p := range Profiles() {
		if !p.Valid() {
			t.Fatalf("%q not valid", p)
		}
		b, err := json.Marshal(SRTPKeys{Profile: p})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"profile":"` + string(p) + `","client_to_server":{"key":null,"salt":null},"server_to_client":{"key":null,"salt":null}}`
		if string(b) != want {
			t.Errorf("got %s, want %s", b, want)
		}
		var back SRTPKeys
		if err := json.Unmarshal(b, &back); err != nil || back.Profile != p {
			t.Errorf("round trip of %q: %q, %v", p, back.Profile, err)
		}
	}
	if Profiles()[0] != DefaultProfile {
		t.Errorf("default %q is not first", DefaultProfile)
	}
}

func TestProfileRefusesUnknown(t *testing.T) {
	for _, name := range []string{"", "ROT13", "aes_cm_128_hmac_sha1_80", " AEAD_AES_128_GCM", "AEAD_AES_256_GCM"} {
		var o SessionOptions
		err := json.Unmarshal([]byte(`{"profile":`+fmt.Sprintf("%q", name)+`}`), &o)
		if !errors.Is(err, ErrUnknownProfile) {
			t.Errorf("%q: %v, want ErrUnknownProfile", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "supported: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM") {
			t.Errorf("%q: error %q does not list the profiles", name, err)
		}
		if Profile(name).Valid() {
			t.Errorf("%q valid", name)
		}
	}
	var o SessionOptions
	if err := json.Unmarshal([]byte(`{"profile":3}`), &o); err == nil {
		t.Error("a number accepted as a profile")
	}
	if _, err := json.Marshal(SRTPKeys{}); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("the empty profile marshalled: %v", err)
	}
	b, err := json.Marshal(SessionOptions{})
	if err != nil || string(b) != `{}` {
		t.Errorf("empty options: %s, %v", b, err)
	}
}

func TestKeysJSON(t *testing.T) {
	b, err := json.Marshal(Keys{Key: []byte{1, 1, 1, 1}, Salt: []byte{2, 2}})
	if err != nil || string(b) != `{"key":"AQEBAQ==","salt":"AgI="}` {
		t.Fatalf("%s, %v", b, err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"":                       false,
		".":                      false,
		"..":                     false,
		"...":                    true,
		".a":                     true,
		"room-1":                 true,
		"A.b_c-9":                true,
		strings.Repeat("a", 64):  true,
		strings.Repeat("a", 65):  false,
		"a b":                    false,
		"a/b":                    false,
		"a%2F":                   false,
		"é":                      false,
		"日本":                     false,
		"a\x00":                  false,
		strings.Repeat("é", 32):  false,
		"participant:1":          false,
		"-":                      true,
		"_":                      true,
		strings.Repeat(".", 3):   true,
		strings.Repeat("Z9", 32): true,
		strings.Repeat("Z9", 33): false,
		"a+b":                    false,
		"a\nb":                   false,
		"\u212a":                 false, // the Kelvin sign, which case-folds to k
		"k":                      true,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %t, want %t", id, got, want)
		}
	}
}

func TestCodes(t *testing.T) {
	sentinels := []error{ErrInvalid, ErrSessionNotFound, ErrParticipantNotFound, ErrParticipantExists,
		ErrSessionFull, ErrSessionConflict, ErrNotAccepting, ErrClosed, ErrDrainConflict, ErrNoDrain, ErrStoreUnavailable}
	seen := map[string]bool{}
	for _, c := range Codes() {
		if c.Code == "" || seen[c.Code] {
			t.Errorf("code %q empty or twice", c.Code)
		}
		seen[c.Code] = true
		if c.Status < 400 || c.Status > 599 || (http.StatusText(c.Status) == "" && c.Status != StatusClientClosedRequest) {
			t.Errorf("%s: status %d", c.Code, c.Status)
		}
		if StatusOf(c.Code) != c.Status || SentinelOf(c.Code) != c.Err {
			t.Errorf("%s: StatusOf/SentinelOf disagree with the table", c.Code)
		}
	}
	for _, s := range sentinels {
		wrapped := fmt.Errorf("%w: details", s)
		code, status, ok := CodeOf(wrapped)
		if !ok || code == "" || status == 0 {
			t.Errorf("%v: no code", s)
			continue
		}
		// The client's way back: code -> sentinel, matched with errors.Is.
		if back := SentinelOf(code); !errors.Is(wrapped, back) || back != s {
			t.Errorf("%v -> %s -> %v", s, code, back)
		}
	}
	for code, want := range map[string]int{
		CodeInvalidRequest: 400, CodeSessionNotFound: 404, CodeParticipantNotFound: 404,
		CodeParticipantExists: 409, CodeSessionFull: 409, CodeSessionConflict: 409, CodeNotAccepting: 503,
		CodeShuttingDown: 503, CodeDrainConflict: 409, CodeNoDrain: 404,
	} {
		if StatusOf(code) != want {
			t.Errorf("%s: status %d, want %d", code, StatusOf(code), want)
		}
	}
	for _, code := range []string{CodeInvalidID, CodeMalformedJSON, CodeUnknownField, CodeInvalidRequest} {
		if SentinelOf(code) != ErrInvalid {
			t.Errorf("%s does not map back to ErrInvalid", code)
		}
	}
	if code, _, _ := CodeOf(ErrInvalid); code != CodeInvalidRequest {
		t.Errorf("ErrInvalid answered as %s", code)
	}
	if code, _, _ := CodeOf(fmt.Errorf("%w: %w", ErrNotAccepting, ErrClosed)); code != CodeShuttingDown {
		t.Errorf("closed and not accepting answered as %s", code)
	}
	if _, _, ok := CodeOf(errors.New("other")); ok {
		t.Error("an unknown error has a code")
	}
	if SentinelOf("nope") != nil || StatusOf("nope") != 0 || SentinelOf(CodeUnauthorized) != nil {
		t.Error("unknown or HTTP-only codes map to something")
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(DrainRequest{Grace: Duration(90 * time.Second), Window: Duration(250 * time.Millisecond)})
	if err != nil || string(b) != `{"grace":"1m30s","rate":0,"deadline":"0s","window":"250ms"}` {
		t.Fatalf("%s, %v", b, err)
	}
	var r DrainRequest
	if err := json.Unmarshal(b, &r); err != nil || r.Grace != Duration(90*time.Second) || r.Window != Duration(250*time.Millisecond) {
		t.Fatalf("%+v, %v", r, err)
	}
	for _, bad := range []string{`{"grace":60}`, `{"grace":"soon"}`, `{"grace":"-1s"}`, `{"grace":true}`} {
		if err := json.Unmarshal([]byte(bad), &r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", bad, err)
		}
	}
	if b, _ := json.Marshal(SessionOptions{EmptyTimeout: Duration(time.Minute)}); string(b) != `{"empty_timeout":"1m0s"}` {
		t.Errorf("empty_timeout: %s", b)
	}
}

func TestNewFields(t *testing.T) {
	b, err := json.Marshal(Counters{EncryptErrors: 1, NoAddress: 2})
	if err != nil || !strings.Contains(string(b), `"encrypt_errors":1`) || !strings.Contains(string(b), `"no_address":2`) {
		t.Errorf("%s, %v", b, err)
	}
	if ReasonJoinTimeout != "join_timeout" {
		t.Error(ReasonJoinTimeout)
	}
}

// TestImportsNothingOfVox keeps api free of vox: a client must be able to
// speak the API without linking the server.
func TestImportsNothingOfVox(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range append(pkg.Imports, pkg.TestImports...) {
		if strings.Contains(imp, ".") {
			t.Errorf("api imports %s", imp)
		}
	}
}

func TestCountersAdd(t *testing.T) {
	// Every counter is summed: set each uint64 field of a and b to
	// distinct values, and check each field of the sum.
	var a, b Counters
	va, vb := reflect.ValueOf(&a).Elem(), reflect.ValueOf(&b).Elem()
	for i := range va.NumField() {
		if va.Field(i).Kind() == reflect.Uint64 {
			va.Field(i).SetUint(uint64(i + 1))
			vb.Field(i).SetUint(uint64(100 * (i + 1)))
		}
	}
	a.Removed = map[string]uint64{ReasonBye: 1}
	b.Removed = map[string]uint64{ReasonBye: 2, ReasonIdle: 3}
	sum := a.Add(b)
	vs := reflect.ValueOf(sum)
	for i := range vs.NumField() {
		if vs.Field(i).Kind() == reflect.Uint64 && vs.Field(i).Uint() != uint64(101*(i+1)) {
			t.Errorf("%s not summed: %d", vs.Type().Field(i).Name, vs.Field(i).Uint())
		}
	}
	if sum.Removed[ReasonBye] != 3 || sum.Removed[ReasonIdle] != 3 || a.Removed[ReasonBye] != 1 {
		t.Errorf("removed: %v (a's: %v)", sum.Removed, a.Removed)
	}
	if s := a.Add(Counters{}); len(s.Removed) != 1 {
		t.Errorf("removed lost: %v", s.Removed)
	}
}

func TestValidDisplayName(t *testing.T) {
	for _, ok := range []string{"a", "Alice", "Zoë ✓", "名前", strings.Repeat("x", MaxDisplayName), " a "} {
		if !ValidDisplayName(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", " ", "\t", "a\nb", "a\x00", "a\u0085b", "a\x7f", strings.Repeat("x", MaxDisplayName+1), "\xff\xfe"} {
		if ValidDisplayName(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
