package agonestest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voxfleet/vox/agones"
)

// send makes a raw request and returns the status and body.
func send(t *testing.T, s *Sidecar, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func newTest(t *testing.T) *Sidecar {
	s := NewSidecar()
	t.Cleanup(s.Close)
	return s
}

// TestWire checks exact answers of the contract.
func TestWire(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantBody                 string
	}{
		{"ready", "POST", "/ready", "{}", 200, "{}"},
		{"health", "POST", "/health", "{}", 200, "{}"},
		{"health empty body", "POST", "/health", "", 400, `{"code":3,"message":"EOF","details":[]}`},
		{"allocate", "POST", "/allocate", "{}", 200, "{}"},
		{"reserve string", "POST", "/reserve", `{"seconds":"5"}`, 200, "{}"},
		{"reserve number", "POST", "/reserve", `{"seconds":5}`, 200, "{}"},
		{"reserve bad", "POST", "/reserve", `{"seconds":"x"}`, 400, ""},
		{"label", "PUT", "/metadata/label", `{"key":"k","value":"v"}`, 200, "{}"},
		{"label invalid key", "PUT", "/metadata/label", `{"key":"a/b","value":"v"}`, 400, ""},
		{"label invalid value", "PUT", "/metadata/label", `{"key":"k","value":"-v"}`, 400, ""},
		{"label key too long", "PUT", "/metadata/label", `{"key":"` + strings.Repeat("k", 60) + `","value":"v"}`, 400, ""},
		{"annotation free value", "PUT", "/metadata/annotation", `{"key":"k","value":"any / thing"}`, 200, "{}"},
		{"counter", "GET", "/v1beta1/counters/sessions", "", 200, `{"name":"sessions","count":"1","capacity":"10"}`},
		{"counter undeclared", "GET", "/v1beta1/counters/nope", "", 500,
			`{"code":2,"message":"counter not found: nope","details":[]}`},
		{"update undeclared counter", "PATCH", "/v1beta1/counters/nope", `{"count":"1"}`, 500,
			`{"code":2,"message":"counter not found: nope","details":[]}`},
		{"list undeclared", "GET", "/v1beta1/lists/nope", "", 500,
			`{"code":2,"message":"list not found: nope","details":[]}`},
		{"list add undeclared", "POST", "/v1beta1/lists/nope:addValue", `{"value":"b"}`, 500,
			`{"code":2,"message":"list not found: nope","details":[]}`},
		{"list remove absent", "POST", "/v1beta1/lists/players:removeValue", `{"value":"zz"}`, 500,
			`{"code":2,"message":"not found: value zz not in list players","details":[]}`},
		{"counter diff", "PATCH", "/v1beta1/counters/sessions", `{"countDiff":"-1"}`, 200,
			`{"name":"sessions","count":"0","capacity":"10"}`},
		{"counter diff number", "PATCH", "/v1beta1/counters/sessions", `{"countDiff":2}`, 200,
			`{"name":"sessions","count":"3","capacity":"10"}`},
		{"counter set", "PATCH", "/v1beta1/counters/sessions", `{"count":"5"}`, 200,
			`{"name":"sessions","count":"5","capacity":"10"}`},
		{"counter capacity", "PATCH", "/v1beta1/counters/sessions", `{"capacity":"11"}`, 200,
			`{"name":"sessions","count":"1","capacity":"11"}`},
		{"counter below 0", "PATCH", "/v1beta1/counters/sessions", `{"countDiff":"-2"}`, 500,
			`{"code":2,"message":"out of range. Count must be within range [0,Capacity]. Found Count: -1, Capacity: 10","details":[]}`},
		{"counter above capacity", "PATCH", "/v1beta1/counters/sessions", `{"count":"11"}`, 500, ""},
		{"list", "GET", "/v1beta1/lists/players", "", 200, `{"name":"players","capacity":"2","values":["a"]}`},
		{"list add", "POST", "/v1beta1/lists/players:addValue", `{"value":"b"}`, 200,
			`{"name":"players","capacity":"2","values":["a","b"]}`},
		{"list add twice", "POST", "/v1beta1/lists/players:addValue", `{"value":"a"}`, 500,
			`{"code":2,"message":"already exists. Value: a already in List: players","details":[]}`},
		{"list remove", "POST", "/v1beta1/lists/players:removeValue", `{"value":"a"}`, 200,
			`{"name":"players","capacity":"2","values":[]}`},
		{"list bad verb", "POST", "/v1beta1/lists/players:frob", `{"value":"a"}`, 404, ""},
		{"unknown path", "GET", "/nope", "", 404, `{"code":5,"message":"Not Found","details":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTest(t)
			s.DeclareCounter("sessions", 1, 10)
			s.DeclareList("players", 2, "a")
			status, body := send(t, s, tt.method, tt.path, tt.body)
			if status != tt.wantStatus || (tt.wantBody != "" && body != tt.wantBody) {
				t.Errorf("%s %s %s = %d %s, want %d %s", tt.method, tt.path, tt.body, status, body, tt.wantStatus, tt.wantBody)
			}
			if status == 500 && tt.path[:len("/v1beta1/counters")] == "/v1beta1/counters" {
				if c := s.GameServer().Status.Counters["sessions"]; c.Count != 1 || c.Capacity != 10 {
					t.Errorf("refused update changed the counter: %+v", c)
				}
			}
		})
	}
}

func TestGameServerWire(t *testing.T) {
	s := newTest(t)
	s.DeclareCounter("sessions", 1, 40)
	status, body := send(t, s, "GET", "/gameserver", "")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`"object_meta":{"name":"` + DefaultName + `","namespace":"default"`,
		`"generation":"1"`, `"deletion_timestamp":"0"`, `"annotations":{}`,
		`"labels":{"agones.dev/fleet":"vox"}`,
		`"health":{"disabled":false,"period_seconds":5,"failure_threshold":3,"initial_delay_seconds":5}`,
		`"state":"Scheduled"`, `"ports":[{"name":"media","port":7654}]`,
		`"counters":{"sessions":{"count":"1","capacity":"40"}}`, `"lists":{}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /gameserver = %s\nlacks %s", body, want)
		}
	}
}

func TestStates(t *testing.T) {
	s := newTest(t)
	for _, step := range []struct{ path, want string }{
		{"/ready", agones.StateReady}, {"/reserve", agones.StateReserved}, {"/allocate", agones.StateAllocated},
		{"/shutdown", agones.StateShutdown}, {"/ready", agones.StateShutdown}, // Shutdown is final
	} {
		if status, _ := send(t, s, "POST", step.path, "{}"); status != 200 {
			t.Fatalf("POST %s = %d", step.path, status)
		}
		if got := s.State(); got != step.want {
			t.Errorf("after %s: state %s, want %s", step.path, got, step.want)
		}
	}
	if !s.GameServer().Deleting() {
		t.Error("not deleting after shutdown")
	}
}

func TestLabelStoredWithPrefix(t *testing.T) {
	s := newTest(t)
	send(t, s, "PUT", "/metadata/label", `{"key":"vox-sessions","value":"12"}`)
	if got := s.Labels()["agones.dev/sdk-vox-sessions"]; got != "12" {
		t.Errorf("label = %q", got)
	}
	calls := s.CallsTo("PUT", "/metadata/label")
	if len(calls) != 1 || string(calls[0].Body) != `{"key":"vox-sessions","value":"12"}` || calls[0].Status != 200 {
		t.Errorf("calls = %+v", calls)
	}
}

// TestWatchStream reads the raw chunked stream: the current state first,
// then one line per change, none for a write that changes nothing.
func TestWatchStream(t *testing.T) {
	s := newTest(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/watch/gameserver", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	r := bufio.NewReader(resp.Body)
	line := func() string {
		t.Helper()
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		return l
	}
	if l := line(); !strings.HasPrefix(l, `{"result":{"object_meta":`) || !strings.Contains(l, `"state":"Scheduled"`) {
		t.Fatalf("first line %s", l)
	}
	s.SetState(agones.StateReady)
	s.SetState(agones.StateReady) // no change, no line
	send(t, s, "PUT", "/metadata/label", `{"key":"a","value":"1"}`)
	if l := line(); !strings.Contains(l, `"state":"Ready"`) || strings.Contains(l, "sdk-a") {
		t.Errorf("second line %s", l)
	}
	if l := line(); !strings.Contains(l, `"agones.dev/sdk-a":"1"`) {
		t.Errorf("third line %s", l)
	}
	s.SetDown(true)
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("the stream survived SetDown")
	}
}

func TestSetDownRefuses(t *testing.T) {
	s := newTest(t)
	url := s.URL()
	s.SetDown(true)
	s.SetDown(true) // idempotent
	if _, err := http.Post(url+"/health", "application/json", strings.NewReader("{}")); err == nil {
		t.Fatal("a down sidecar answered")
	}
	s.SetDown(false)
	s.SetDown(false)
	if status, _ := send(t, s, "POST", "/health", "{}"); status != 200 || s.URL() != url {
		t.Fatalf("after SetDown(false): %d at %s (was %s)", status, s.URL(), url)
	}
}

func TestFailNextAndHang(t *testing.T) {
	s := newTest(t)
	s.FailNext(2, http.StatusServiceUnavailable)
	for range 2 {
		if status, body := send(t, s, "POST", "/ready", "{}"); status != 503 ||
			body != `{"code":14,"message":"agonestest: injected failure","details":[]}` {
			t.Errorf("injected = %d %s", status, body)
		}
	}
	if s.State() != agones.StateScheduled {
		t.Error("a failed call was applied")
	}
	if status, _ := send(t, s, "POST", "/ready", "{}"); status != 200 {
		t.Errorf("third = %d", status)
	}
	s.Hang(30 * time.Millisecond)
	start := time.Now()
	send(t, s, "POST", "/health", "{}")
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("hang of 30 ms answered in %v", el)
	}
	calls := s.Calls()
	if len(calls) != 4 || calls[0].Status != 503 || calls[2].Status != 200 {
		t.Errorf("calls = %+v", calls)
	}
}

// TestLocalSDKWording checks the refusals worded as the local SDK server
// words them (localsdk.go).
func TestLocalSDKWording(t *testing.T) {
	s := NewSidecar(WithWording(LocalSDK))
	t.Cleanup(s.Close)
	s.DeclareList("players", 2, "a")
	for _, tt := range []struct{ method, path, body, want string }{
		{"GET", "/v1beta1/counters/nope", "", `{"code":2,"message":"not found. nope Counter not found","details":[]}`},
		{"PATCH", "/v1beta1/counters/nope", `{"count":"1"}`, `{"code":2,"message":"not found. nope Counter not found","details":[]}`},
		{"GET", "/v1beta1/lists/nope", "", `{"code":2,"message":"not found. nope List not found","details":[]}`},
		{"POST", "/v1beta1/lists/players:removeValue", `{"value":"zz"}`,
			`{"code":2,"message":"not found. Value: zz not found in List: players","details":[]}`},
	} {
		if status, body := send(t, s, tt.method, tt.path, tt.body); status != 500 || body != tt.want {
			t.Errorf("%s %s = %d %s, want 500 %s", tt.method, tt.path, status, body, tt.want)
		}
	}
}

// TestAllocate checks the allocator model: +1 on the counter while it has
// room, Allocated, a new last-allocated timestamp each time (also when
// Allocated already), one watch line per allocation.
func TestAllocate(t *testing.T) {
	s := newTest(t)
	s.DeclareCounter("sessions", 0, 2)
	if _, err := s.Allocate("sessions"); !errors.Is(err, ErrNotAllocatable) {
		t.Fatalf("allocating a Scheduled GameServer: %v", err)
	}
	s.SetState(agones.StateReady)
	lines := watchLines(t, s)
	<-lines // the current state
	var stamps []string
	for i := range 2 {
		gs, err := s.Allocate("sessions")
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if gs.Status.State != agones.StateAllocated || gs.Status.Counters["sessions"].Count != int64(i+1) {
			t.Fatalf("allocation %d: %s %+v", i, gs.Status.State, gs.Status.Counters)
		}
		ts := gs.ObjectMeta.Annotations[AnnotationLastAllocated]
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
			t.Fatalf("last-allocated %q: %v", ts, err)
		}
		stamps = append(stamps, ts)
		if l := <-lines; !strings.Contains(l, ts) || !strings.Contains(l, `"sessions":{"count":"`+strconv.Itoa(i+1)) {
			t.Fatalf("watch line %d: %s", i, l)
		}
	}
	if stamps[0] == stamps[1] {
		t.Fatal("a re-allocation did not change last-allocated")
	}
	if _, err := s.Allocate("sessions"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("allocating a full counter: %v", err)
	}
	if _, err := s.Allocate("nope"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("allocating on an undeclared counter: %v", err)
	}
	if got := s.GameServer().ObjectMeta.Annotations[AnnotationLastAllocated]; got != stamps[1] {
		t.Fatal("a refused allocation changed the GameServer")
	}
	// Coalesced: two allocations and a counter write, one line.
	s.DeclareCounter("sessions", 0, 5)
	<-lines
	s.CoalesceWatch(func() {
		_, _ = s.Allocate("sessions")
		send(t, s, "PATCH", "/v1beta1/counters/sessions", `{"countDiff":"1"}`)
		_, _ = s.Allocate("sessions")
	})
	if l := <-lines; !strings.Contains(l, `"sessions":{"count":"3"`) {
		t.Fatalf("coalesced line %s", l)
	}
	select {
	case l := <-lines:
		t.Fatalf("more than one line for a coalesced change: %s", l)
	case <-time.After(50 * time.Millisecond):
	}
	// The SDK's own Allocate stamps the annotation too (sdkserver.go).
	s.SetState(agones.StateReady)
	<-lines
	send(t, s, "POST", "/allocate", "{}")
	if got := s.GameServer().ObjectMeta.Annotations[AnnotationLastAllocated]; got == stamps[1] || got == "" {
		t.Fatalf("POST /allocate left last-allocated at %q", got)
	}
	s.SetDeletionTimestamp()
	if _, err := s.Allocate(""); !errors.Is(err, ErrNotAllocatable) {
		t.Fatalf("allocating a GameServer being deleted: %v", err)
	}
}

// watchLines streams the watch's lines until the test ends.
func watchLines(t *testing.T, s *Sidecar) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", s.URL()+"/watch/gameserver", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			ch <- l
		}
	}()
	return ch
}
