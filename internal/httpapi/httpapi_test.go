package httpapi

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
)

func TestStrictJSONNormalizes(t *testing.T) {
	type inner struct {
		D api.Duration `json:"d"`
	}
	type embedded struct {
		E int `json:"e"`
		X int `json:"x"`
	}
	type outer struct {
		embedded
		X       string            `json:"x"` // shallower: wins over embedded.X
		In      *inner            `json:"in"`
		List    []inner           `json:"list"`
		M       map[string]string `json:"m"`
		Skip    int               `json:"-"`
		Untag   int
		private int //lint:ignore U1000 present to check that an unexported field is refused
	}
	for _, tt := range []struct{ in, out, code string }{
		{`{"x":"a","e":1,"Untag":2}`, `{"x":"a","e":1,"Untag":2}`, ""},
		{` { "in" : null , "x" : "<&>" } `, `{"x":"\u003c\u0026\u003e"}`, ""},
		{`{"list":[{"d":null},{"d":"1s"}]}`, `{"list":[{},{"d":"1s"}]}`, ""},
		{`{"m":{"k":null,"K":"v"}}`, `{"m":{"k":null,"K":"v"}}`, ""}, // maps keep their nulls and cases
		{`{"m":{"k":"a","k":"b"}}`, "", api.CodeDuplicateField},
		{`{"list":[{"d":"1s","D":"2s"}]}`, "", api.CodeUnknownField},
		{`{"Skip":1}`, "", api.CodeUnknownField},
		{`{"private":1}`, "", api.CodeUnknownField},
		{`{"untag":1}`, "", api.CodeUnknownField},
		{`{"x":1.5e3}`, `{"x":1.5e3}`, ""}, // numbers as written; the type error is encoding/json's
	} {
		got, err := strictJSON([]byte(tt.in), reflect.TypeFor[*outer]())
		if tt.code != "" {
			if ae, ok := err.(*Error); !ok || ae.Code != tt.code {
				t.Errorf("%s: %v, want %s", tt.in, err, tt.code)
			}
			continue
		}
		if err != nil || string(got) != tt.out {
			t.Errorf("%s: %s %v, want %s", tt.in, got, err, tt.out)
		}
	}
}

// TestCheckDurations: nested fields, the empty_timeout bounds, other
// duration fields (api.Duration or time.Duration) at MaxDuration.
func TestCheckDurations(t *testing.T) {
	type opts struct {
		EmptyTimeout api.Duration `json:"empty_timeout,omitempty"`
	}
	type body struct {
		Session *opts         `json:"session"`
		List    []opts        `json:"list"`
		Other   time.Duration `json:"other_ns"`
		Plain   api.Duration
	}
	d := func(s string) api.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return api.Duration(v)
	}
	for _, tt := range []struct {
		in   body
		want string
	}{
		{body{}, ""},
		{body{Session: &opts{}}, ""},
		{body{Session: &opts{EmptyTimeout: d("1s")}}, ""},
		{body{Session: &opts{EmptyTimeout: d("24h")}}, ""},
		{body{Session: &opts{EmptyTimeout: d("999ms")}}, `field "session.empty_timeout" must be at least 1s`},
		{body{Session: &opts{EmptyTimeout: d("25h")}}, `field "session.empty_timeout" must be at most 24h0m0s`},
		{body{List: []opts{{}, {EmptyTimeout: d("48h")}}}, `field "list[1].empty_timeout"`},
		{body{Other: 25 * time.Hour}, `field "other_ns" must be at most 24h0m0s`},
		{body{Other: -time.Second}, `field "other_ns" must not be negative`},
		{body{Plain: d("100h")}, `field "Plain" must be at most 24h0m0s`},
	} {
		err := checkDurations(&tt.in)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.in, err)
			}
			continue
		}
		ae, ok := err.(*Error)
		if !ok || ae.Code != api.CodeInvalidRequest || ae.Status != 400 || !strings.Contains(ae.Message, tt.want) {
			t.Errorf("%+v: %v, want invalid_request with %q", tt.in, err, tt.want)
		}
	}
}
