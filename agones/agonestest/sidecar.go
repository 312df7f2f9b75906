// Package agonestest provides Sidecar, a test double of the Agones SDK
// sidecar's REST API following the contract package agones is written
// against (Agones v1.56 as recorded in agones-rest.md): the same
// endpoints, the same wire format (snake_case, zero values present, 64-bit
// integers as strings, "{}" answers, errors as HTTP 500
// {"code":2,"message":"...","details":[]}), the same refusals (a count
// outside [0, capacity], an undeclared counter or list, an invalid label as
// a cluster refuses it), and the chunked watch stream.
//
// It records every request for assertions and injects faults: a sidecar
// that is down (connection refused, every stream cut) and comes back on the
// same port, error answers, slow answers.
//
// It also models the allocator (Allocate): a GameServerAllocation landing
// on this GameServer while the pod writes its own labels and counters.
//
// Refusals are worded as the sidecar in a cluster words them
// (pkg/sdkserver/sdkserver.go: "counter not found: NAME"), or as the local
// SDK server does (localsdk.go: "not found. ...") with
// WithWording(LocalSDK).
//
// Simplifications: Ready moves straight to Ready (a cluster passes through
// RequestReady); Shutdown is final (later state changes are answered but
// ignored) and also sets the deletion timestamp, as the deletion that
// follows in a cluster would; health pings are recorded, never judged;
// counter and list writes apply at once (a cluster's sidecar batches them
// and answers before they land).
package agonestest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/voxfleet/vox/agones"
)

// Call is one request the sidecar received.
type Call struct {
	// Method and Path (escaped, e.g. /v1beta1/lists/players:addValue).
	Method string
	Path   string
	// Body is the request body as received.
	Body []byte
	// Status is the HTTP status answered; 0 while the answer is being
	// written (a watch stream) or when none was (a hung request given up).
	Status int
	// Time is when the request arrived.
	Time time.Time
}

// Defaults of the GameServer a new Sidecar holds.
const (
	DefaultName     = "vox-test-x7k2p"
	DefaultAddress  = "127.0.0.1"
	DefaultPort     = 7654
	DefaultPortName = "media"
)

// Wording selects how the sidecar words a refusal of an undeclared counter
// or list, or of a list value absent.
type Wording int

const (
	// InCluster words refusals as the SDK sidecar in a cluster does
	// (pkg/sdkserver/sdkserver.go, Agones v1.56): "counter not found:
	// NAME", "list not found: NAME", "not found: value V not in list L".
	// The default.
	InCluster Wording = iota
	// LocalSDK words them as the local SDK server does
	// (pkg/sdkserver/localsdk.go, sdk-server --local): "not found. NAME
	// Counter not found", "not found. NAME List not found", "not found.
	// Value: V not found in List: L".
	LocalSDK
)

// Option configures a Sidecar.
type Option func(*Sidecar)

// WithWording makes the sidecar word its refusals as w.
func WithWording(w Wording) Option { return func(s *Sidecar) { s.wording = w } }

// AnnotationLastAllocated is the annotation the allocator (and the
// sidecar's own Allocate) sets on every allocation; the value is the
// allocation time as time.Time.MarshalText writes it (RFC 3339 with
// nanoseconds).
const AnnotationLastAllocated = agones.AnnotationLastAllocated

// Errors of Allocate, as the allocator answers them.
var (
	// ErrNoRoom: the counter has no free slot (count == capacity) or is not
	// declared, so the allocator's counter selector (minAvailable: 1) does
	// not match; a GameServerAllocation answers UnAllocated.
	ErrNoRoom = errors.New("agonestest: no room on the counter (UnAllocated)")
	// ErrNotAllocatable: the GameServer is neither Ready nor Allocated, or
	// is being deleted; the allocator never picks it.
	ErrNotAllocatable = errors.New("agonestest: GameServer not allocatable (UnAllocated)")
)

// maxBody caps a request body.
const maxBody = 1 << 20

// watchBuffer is the number of changes a watch stream may lag behind;
// a stream lagging more is cut (the client reconnects and resyncs).
const watchBuffer = 256

// Sidecar is an Agones SDK sidecar test double served over HTTP on
// 127.0.0.1. Its methods are safe for concurrent use. Close it.
type Sidecar struct {
	addr string // 127.0.0.1:port, kept across SetDown
	url  string

	// mu guards every field below.
	mu       sync.Mutex
	srv      *httptest.Server // nil while down
	down     chan struct{}    // closed when the server goes down
	closed   bool
	gs       agones.GameServer
	rv       int64 // resource version
	calls    []Call
	failN    int
	failCode int
	hang     time.Duration
	watchers map[*watcher]struct{}
	reserve  *time.Timer
	wording  Wording
	// held suppresses watch lines while CoalesceWatch runs; heldChanged
	// records that something changed meanwhile.
	held        bool
	heldChanged bool
	lastAlloc   time.Time // the last last-allocated timestamp set
}

type watcher struct {
	ch     chan []byte   // lines to send
	kicked chan struct{} // closed when the watcher lagged too far
}

// NewSidecar starts a sidecar on a free port of 127.0.0.1 holding a
// Scheduled GameServer named DefaultName, with the label
// agones.dev/fleet=vox, address DefaultAddress, the port DefaultPortName
// = DefaultPort, health checking every 5 s, and no counter or list. It
// panics if it cannot listen (a test environment without loopback).
func NewSidecar(opts ...Option) *Sidecar {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("agonestest: listen: %v", err))
	}
	s := &Sidecar{
		addr:     l.Addr().String(),
		watchers: map[*watcher]struct{}{},
		rv:       1,
		gs: agones.GameServer{
			ObjectMeta: agones.ObjectMeta{
				Name: DefaultName, Namespace: "default",
				UID:             "6f1c2e0a-4b7d-4e2f-9a51-3c8d2b7e9f10",
				ResourceVersion: "1", Generation: 1,
				CreationTimestamp: time.Now().Unix(),
				Annotations:       map[string]string{},
				Labels:            map[string]string{"agones.dev/fleet": "vox"},
			},
			Spec: agones.Spec{Health: agones.Health{PeriodSeconds: 5, FailureThreshold: 3, InitialDelaySeconds: 5}},
			Status: agones.Status{
				State:     agones.StateScheduled,
				Address:   DefaultAddress,
				Addresses: []agones.Address{{Type: "InternalIP", Address: DefaultAddress}},
				Ports:     []agones.Port{{Name: DefaultPortName, Port: DefaultPort}},
				Counters:  map[string]agones.Counter{},
				Lists:     map[string]agones.List{},
			},
		},
	}
	for _, o := range opts {
		o(s)
	}
	s.url = "http://" + s.addr
	s.mu.Lock()
	s.startLocked(l)
	s.mu.Unlock()
	return s
}

// URL returns the sidecar's base URL, http://127.0.0.1:port, the same
// across SetDown.
func (s *Sidecar) URL() string { return s.url }

// Port returns the sidecar's TCP port, as AGONES_SDK_HTTP_PORT would carry
// it.
func (s *Sidecar) Port() string {
	_, p, _ := net.SplitHostPort(s.addr)
	return p
}

// Close stops the sidecar for good, cutting every connection.
func (s *Sidecar) Close() {
	s.mu.Lock()
	s.closed = true
	if s.reserve != nil {
		s.reserve.Stop()
	}
	s.mu.Unlock()
	s.stop()
}

// SetDown takes the sidecar down (true): the listener is closed, so new
// connections are refused, and every open connection, watch streams
// included, is cut. SetDown(false) listens again on the same port and
// keeps the GameServer as it was.
func (s *Sidecar) SetDown(down bool) {
	if down {
		s.stop()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.closed {
		return
	}
	var (
		l   net.Listener
		err error
	)
	for i := 0; i < 50; i++ { // bounded: the port is normally free at once
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		panic(fmt.Sprintf("agonestest: listen again on %s: %v", s.addr, err))
	}
	s.startLocked(l)
}

func (s *Sidecar) startLocked(l net.Listener) {
	s.down = make(chan struct{})
	s.srv = &httptest.Server{
		Listener: l,
		Config:   &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second},
	}
	s.srv.Start()
}

// stop takes the server down, outside the lock: handlers need it to
// finish, and Close waits for them.
func (s *Sidecar) stop() {
	s.mu.Lock()
	srv := s.srv
	if srv == nil {
		s.mu.Unlock()
		return
	}
	s.srv = nil
	close(s.down)
	s.mu.Unlock()
	srv.CloseClientConnections()
	srv.Close()
}

// FailNext makes the next n requests answer status with a gRPC status body
// {"code":<code for status>,"message":"agonestest: injected failure","details":[]}
// instead of being served.
func (s *Sidecar) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, status
}

// Hang delays every answer by d (0 stops it). A request whose client gives
// up meanwhile is not served (and not applied).
func (s *Sidecar) Hang(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = d
}

// Calls returns a copy of every request received, in order.
func (s *Sidecar) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the requests received for method and path.
func (s *Sidecar) CallsTo(method, path string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method && c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the requests received so far.
func (s *Sidecar) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// GameServer returns a copy of the GameServer.
func (s *Sidecar) GameServer() agones.GameServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gs.Clone()
}

// State returns the GameServer's state.
func (s *Sidecar) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gs.Status.State
}

// SetState sets the GameServer's state (e.g. Unhealthy), as the
// controller would; the same state again is no change.
func (s *Sidecar) SetState(state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gs.Status.State == state {
		return
	}
	s.gs.Status.State = state
	s.changedLocked()
}

// SetDeletionTimestamp marks the GameServer as being deleted (deletion
// timestamp now), as kubectl delete or a node drain would.
func (s *Sidecar) SetDeletionTimestamp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gs.ObjectMeta.DeletionTimestamp = time.Now().Unix()
	s.changedLocked()
}

// SetAddress sets the GameServer's address (also its one ExternalIP
// address) and ports. An empty addr clears the addresses, as on a
// GameServer not yet scheduled on a node.
func (s *Sidecar) SetAddress(addr string, ports []agones.Port) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gs.Status.Address = addr
	s.gs.Status.Addresses = nil
	if addr != "" {
		s.gs.Status.Addresses = []agones.Address{{Type: "ExternalIP", Address: addr}}
	}
	s.gs.Status.Ports = append([]agones.Port{}, ports...)
	s.changedLocked()
}

// DeclareCounter declares (or redeclares) the counter name, as a Fleet's
// spec would.
func (s *Sidecar) DeclareCounter(name string, count, capacity int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gs.Status.Counters[name] = agones.Counter{Name: name, Count: count, Capacity: capacity}
	s.changedLocked()
}

// DeclareList declares (or redeclares) the list name.
func (s *Sidecar) DeclareList(name string, capacity int64, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gs.Status.Lists[name] = agones.List{Name: name, Capacity: capacity, Values: append([]string{}, values...)}
	s.changedLocked()
}

// changedLocked records a change of the GameServer: a new resource
// version, and a line to every watch stream (one line for all the changes
// made inside CoalesceWatch).
func (s *Sidecar) changedLocked() {
	s.rv++
	s.gs.ObjectMeta.ResourceVersion = strconv.FormatInt(s.rv, 10)
	if s.held {
		s.heldChanged = true
		return
	}
	s.sendLocked()
}

// sendLocked sends the current GameServer to every watch stream.
func (s *Sidecar) sendLocked() {
	line := s.lineLocked()
	for w := range s.watchers {
		select {
		case w.ch <- line:
		default:
			delete(s.watchers, w)
			close(w.kicked)
		}
	}
}

// CoalesceWatch runs f and sends the changes it makes (through any method
// or request) to the watch streams as one line, as a cluster's sidecar
// sends one event for several updates that reached its informer together.
// Calls of CoalesceWatch must not nest.
func (s *Sidecar) CoalesceWatch(f func()) {
	s.mu.Lock()
	s.held, s.heldChanged = true, false
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.held = false
		if s.heldChanged {
			s.heldChanged = false
			s.sendLocked()
		}
	}()
	f()
}

// Allocate allocates the GameServer as a GameServerAllocation that
// selects it would (pkg/gameserverallocations/allocator.go,
// applyAllocationToGameServer, Agones v1.56), in one update: with counter
// != "", the counter's count is incremented by 1 (the allocation's
// counters: {NAME: {action: Increment, amount: 1}}), refused with
// ErrNoRoom when the counter has no free slot or is not declared (the
// selector's counters: {NAME: {minAvailable: 1}} does not match); the
// state becomes Allocated, also from Allocated (a re-allocation); the
// annotation agones.dev/last-allocated is set to the time now, in the
// allocator's format (time.Time.MarshalText, UTC here, strictly later
// than the previous one so that every allocation changes it); one watch
// line follows. A GameServer neither Ready nor Allocated, or being
// deleted, is refused with ErrNotAllocatable. It returns the GameServer as
// the allocation answer would carry it.
func (s *Sidecar) Allocate(counter string) (agones.GameServer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.gs.Status.State
	if (st != agones.StateReady && st != agones.StateAllocated) || s.gs.Deleting() {
		return agones.GameServer{}, ErrNotAllocatable
	}
	if counter != "" {
		c, ok := s.gs.Status.Counters[counter]
		if !ok || c.Capacity-c.Count < 1 {
			return agones.GameServer{}, ErrNoRoom
		}
		c.Count++
		s.gs.Status.Counters[counter] = c
	}
	if s.reserve != nil {
		s.reserve.Stop()
		s.reserve = nil
	}
	s.gs.Status.State = agones.StateAllocated
	s.stampAllocatedLocked()
	s.changedLocked()
	return s.gs.Clone(), nil
}

// stampAllocatedLocked sets the last-allocated annotation to now.
func (s *Sidecar) stampAllocatedLocked() {
	now := time.Now().UTC()
	if !now.After(s.lastAlloc) {
		now = s.lastAlloc.Add(time.Nanosecond)
	}
	s.lastAlloc = now
	ts, err := now.MarshalText()
	if err != nil {
		panic(fmt.Sprintf("agonestest: timestamp: %v", err)) // years outside [0, 9999] only
	}
	s.gs.ObjectMeta.Annotations[AnnotationLastAllocated] = string(ts)
}

// lineLocked is the watch stream line of the current GameServer.
func (s *Sidecar) lineLocked() []byte {
	b, err := json.Marshal(struct {
		Result agones.GameServer `json:"result"`
	}{s.gs})
	if err != nil {
		panic(fmt.Sprintf("agonestest: marshal: %v", err)) // a bug of agones' marshalling
	}
	return append(b, '\n')
}

// statusRecorder keeps the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// handler records each request, applies the injected faults, then
// routes.
func (s *Sidecar) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ready", s.state(agones.StateReady))
	mux.HandleFunc("POST /allocate", s.state(agones.StateAllocated))
	mux.HandleFunc("POST /shutdown", s.state(agones.StateShutdown))
	mux.HandleFunc("POST /health", s.health)
	mux.HandleFunc("POST /reserve", s.reserveHandler)
	mux.HandleFunc("PUT /metadata/label", s.metadata(true))
	mux.HandleFunc("PUT /metadata/annotation", s.metadata(false))
	mux.HandleFunc("GET /gameserver", s.gameServer)
	mux.HandleFunc("GET /watch/gameserver", s.watch)
	mux.HandleFunc("GET /v1beta1/counters/{name}", s.getCounter)
	mux.HandleFunc("PATCH /v1beta1/counters/{name}", s.updateCounter)
	mux.HandleFunc("GET /v1beta1/lists/{name}", s.getList)
	mux.HandleFunc("POST /v1beta1/lists/{nameVerb}", s.listValue)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotFound, 5, "Not Found")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			return // the connection is gone
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		idx := len(s.calls)
		s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.EscapedPath(), Body: body, Time: time.Now()})
		hang, down := s.hang, s.down
		fail := 0
		if s.failN > 0 {
			s.failN--
			fail = s.failCode
		}
		s.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			s.mu.Lock()
			if idx < len(s.calls) { // ResetCalls may have run
				s.calls[idx].Status = rec.status
			}
			s.mu.Unlock()
		}()
		if hang > 0 {
			t := time.NewTimer(hang)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-down:
				t.Stop()
				return
			}
		}
		if fail != 0 {
			writeStatus(rec, fail, grpcCode(fail), "agonestest: injected failure")
			return
		}
		mux.ServeHTTP(rec, r)
	})
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, 13, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeStatus answers a gRPC gateway error body.
func writeStatus(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []any  `json:"details"`
	}{code, msg, []any{}})
}

// writeUnknown answers the sidecar's usual error: HTTP 500, code 2.
func writeUnknown(w http.ResponseWriter, format string, args ...any) {
	writeStatus(w, http.StatusInternalServerError, 2, fmt.Sprintf(format, args...))
}

// writeInvalid answers a malformed request: HTTP 400, code 3.
func writeInvalid(w http.ResponseWriter, format string, args ...any) {
	writeStatus(w, http.StatusBadRequest, 3, fmt.Sprintf(format, args...))
}

var empty = struct{}{}

// grpcCode is the gRPC code a gateway maps to status.
func grpcCode(status int) int {
	switch status {
	case http.StatusBadRequest:
		return 3
	case http.StatusUnauthorized:
		return 16
	case http.StatusForbidden:
		return 7
	case http.StatusNotFound:
		return 5
	case http.StatusConflict:
		return 10
	case http.StatusTooManyRequests:
		return 8
	case http.StatusNotImplemented:
		return 12
	case http.StatusServiceUnavailable:
		return 14
	case http.StatusGatewayTimeout:
		return 4
	}
	return 2
}

// decodeBody reads a JSON object body into fields (raw values by name).
// An empty body is an empty object, as the gateway treats it, unless
// required.
func decodeBody(r *http.Request, required bool) (map[string]json.RawMessage, error) {
	b, _ := io.ReadAll(r.Body)
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(b)) == 0 {
		if required {
			return nil, errors.New("EOF")
		}
		return fields, nil
	}
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	return fields, nil
}

// int64Field reads a 64-bit integer sent as a string or a number; ok is
// false when the field is absent or null.
func int64Field(fields map[string]json.RawMessage, names ...string) (v int64, ok bool, err error) {
	for _, n := range names {
		raw, found := fields[n]
		if !found || string(raw) == "null" {
			continue
		}
		s := string(raw)
		if strings.HasPrefix(s, `"`) {
			if err := json.Unmarshal(raw, &s); err != nil {
				return 0, false, err
			}
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("invalid value for int64 field %s: %s", n, raw)
		}
		return v, true, nil
	}
	return 0, false, nil
}

func stringField(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("invalid value for string field %s: %s", name, raw)
	}
	return v, nil
}

// state serves /ready, /allocate and /shutdown.
func (s *Sidecar) state(state string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := decodeBody(r, false); err != nil {
			writeInvalid(w, "%v", err)
			return
		}
		s.mu.Lock()
		s.setStateLocked(state)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, empty)
	}
}

// setStateLocked moves the GameServer to state, unless it is shut down.
func (s *Sidecar) setStateLocked(state string) {
	if s.gs.Status.State == agones.StateShutdown {
		return
	}
	if s.reserve != nil {
		s.reserve.Stop()
		s.reserve = nil
	}
	if s.gs.Status.State == state && state == agones.StateAllocated {
		// The sidecar patches Allocated again with a new stamp
		// (sdkserver.go, updateState).
		s.stampAllocatedLocked()
		s.changedLocked()
		return
	}
	if s.gs.Status.State == state && state != agones.StateShutdown {
		return
	}
	s.gs.Status.State = state
	if state == agones.StateAllocated {
		// The sidecar stamps its own Allocate too (sdkserver.go,
		// updateState).
		s.stampAllocatedLocked()
	}
	if state == agones.StateShutdown && s.gs.ObjectMeta.DeletionTimestamp == 0 {
		s.gs.ObjectMeta.DeletionTimestamp = time.Now().Unix()
	}
	s.changedLocked()
}

func (s *Sidecar) health(w http.ResponseWriter, r *http.Request) {
	if _, err := decodeBody(r, true); err != nil {
		writeInvalid(w, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, empty)
}

func (s *Sidecar) reserveHandler(w http.ResponseWriter, r *http.Request) {
	fields, err := decodeBody(r, false)
	if err != nil {
		writeInvalid(w, "%v", err)
		return
	}
	secs, _, err := int64Field(fields, "seconds")
	if err != nil {
		writeInvalid(w, "%v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setStateLocked(agones.StateReserved)
	if secs > 0 && s.gs.Status.State == agones.StateReserved {
		var t *time.Timer
		t = time.AfterFunc(time.Duration(secs)*time.Second, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.reserve == t && s.gs.Status.State == agones.StateReserved && !s.closed {
				s.reserve = nil
				s.gs.Status.State = agones.StateReady
				s.changedLocked()
			}
		})
		s.reserve = t
	}
	writeJSON(w, http.StatusOK, empty)
}

// metadata serves /metadata/label and /metadata/annotation, refusing
// what a cluster refuses.
func (s *Sidecar) metadata(label bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fields, err := decodeBody(r, false)
		if err != nil {
			writeInvalid(w, "%v", err)
			return
		}
		key, err := stringField(fields, "key")
		if err != nil {
			writeInvalid(w, "%v", err)
			return
		}
		value, err := stringField(fields, "value")
		if err != nil {
			writeInvalid(w, "%v", err)
			return
		}
		name := agones.SDKPrefix + key
		if msg := checkKey(key); msg != "" {
			writeInvalid(w, "metadata.labels: Invalid value: %q: %s", name, msg)
			return
		}
		if label {
			if msg := checkValue(value); msg != "" {
				writeInvalid(w, "metadata.labels: Invalid value: %q: %s", value, msg)
				return
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		m := s.gs.ObjectMeta.Annotations
		if label {
			m = s.gs.ObjectMeta.Labels
		}
		if old, ok := m[name]; !ok || old != value {
			m[name] = value
			s.changedLocked()
		}
		writeJSON(w, http.StatusOK, empty)
	}
}

// checkKey checks the name part of agones.dev/sdk-<key> as Kubernetes
// does, returning what is wrong ("" if nothing).
func checkKey(key string) string {
	n := "sdk-" + key
	if len(n) > 63 {
		return "name part must be no more than 63 characters"
	}
	if !labelAlphabet(n) || !alnum(n[len(n)-1]) {
		return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
	}
	return ""
}

// checkValue checks a label value as Kubernetes does.
func checkValue(v string) string {
	if v == "" {
		return ""
	}
	if len(v) > 63 {
		return "must be no more than 63 characters"
	}
	if !labelAlphabet(v) || !alnum(v[0]) || !alnum(v[len(v)-1]) {
		return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
	}
	return ""
}

func labelAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func (s *Sidecar) gameServer(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	gs := s.gs.Clone()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, gs)
}

// watch serves the chunked stream: the current GameServer, then one line
// per change, until the client leaves or the sidecar goes down.
func (s *Sidecar) watch(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeUnknown(w, "streaming unsupported")
		return
	}
	wt := &watcher{ch: make(chan []byte, watchBuffer), kicked: make(chan struct{})}
	s.mu.Lock()
	first := s.lineLocked()
	down := s.down
	s.watchers[wt] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, wt)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(first); err != nil {
		return
	}
	fl.Flush()
	for {
		select {
		case line := <-wt.ch:
			if _, err := w.Write(line); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		case <-down:
			return
		case <-wt.kicked:
			return
		}
	}
}

// counterNotFound answers an undeclared counter in the sidecar's wording.
func (s *Sidecar) counterNotFound(w http.ResponseWriter, name string) {
	if s.wording == LocalSDK {
		writeUnknown(w, "not found. %s Counter not found", name)
		return
	}
	writeUnknown(w, "counter not found: %s", name)
}

// listNotFound answers an undeclared list in the sidecar's wording.
func (s *Sidecar) listNotFound(w http.ResponseWriter, name string) {
	if s.wording == LocalSDK {
		writeUnknown(w, "not found. %s List not found", name)
		return
	}
	writeUnknown(w, "list not found: %s", name)
}

func (s *Sidecar) getCounter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	c, ok := s.gs.Status.Counters[name]
	s.mu.Unlock()
	if !ok {
		s.counterNotFound(w, name)
		return
	}
	c.Name = name
	writeJSON(w, http.StatusOK, c)
}

// updateCounter applies {"countDiff"} or {"count"} and/or {"capacity"}:
// a result outside [0, capacity] is refused, nothing applied.
func (s *Sidecar) updateCounter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	fields, err := decodeBody(r, false)
	if err != nil {
		writeInvalid(w, "%v", err)
		return
	}
	diff, _, err1 := int64Field(fields, "countDiff", "count_diff")
	count, hasCount, err2 := int64Field(fields, "count")
	capacity, hasCapacity, err3 := int64Field(fields, "capacity")
	if err := errors.Join(err1, err2, err3); err != nil {
		writeInvalid(w, "%v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.gs.Status.Counters[name]
	if !ok {
		s.counterNotFound(w, name)
		return
	}
	next := c
	if hasCapacity {
		if capacity < 0 {
			writeUnknown(w, "out of range. Capacity must be greater than or equal to 0. Found Capacity: %d", capacity)
			return
		}
		next.Capacity = capacity
	}
	if hasCount {
		next.Count = count
	}
	next.Count += diff
	if next.Count < 0 || next.Count > next.Capacity {
		writeUnknown(w, "out of range. Count must be within range [0,Capacity]. Found Count: %d, Capacity: %d",
			next.Count, next.Capacity)
		return
	}
	if next != c {
		s.gs.Status.Counters[name] = next
		s.changedLocked()
	}
	next.Name = name
	writeJSON(w, http.StatusOK, next)
}

func (s *Sidecar) getList(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	l, ok := s.gs.Status.Lists[name]
	l.Values = slices.Clone(l.Values)
	s.mu.Unlock()
	if !ok {
		s.listNotFound(w, name)
		return
	}
	l.Name = name
	writeJSON(w, http.StatusOK, l)
}

// listValue serves POST /v1beta1/lists/{name}:addValue and :removeValue.
func (s *Sidecar) listValue(w http.ResponseWriter, r *http.Request) {
	name, verb, ok := strings.Cut(r.PathValue("nameVerb"), ":")
	if !ok || (verb != "addValue" && verb != "removeValue") {
		writeStatus(w, http.StatusNotFound, 5, "Not Found")
		return
	}
	fields, err := decodeBody(r, false)
	if err != nil {
		writeInvalid(w, "%v", err)
		return
	}
	value, err := stringField(fields, "value")
	if err != nil {
		writeInvalid(w, "%v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.gs.Status.Lists[name]
	if !ok {
		s.listNotFound(w, name)
		return
	}
	i := slices.Index(l.Values, value)
	if verb == "addValue" {
		switch {
		case i >= 0:
			writeUnknown(w, "already exists. Value: %s already in List: %s", value, name)
			return
		case int64(len(l.Values)) >= l.Capacity:
			writeUnknown(w, "out of range. No available capacity. Current Capacity: %d, List Size: %d",
				l.Capacity, len(l.Values))
			return
		}
		l.Values = append(slices.Clone(l.Values), value)
	} else {
		if i < 0 {
			if s.wording == LocalSDK {
				writeUnknown(w, "not found. Value: %s not found in List: %s", value, name)
			} else {
				writeUnknown(w, "not found: value %s not in list %s", value, name)
			}
			return
		}
		l.Values = slices.Delete(slices.Clone(l.Values), i, i+1)
	}
	s.gs.Status.Lists[name] = l
	s.changedLocked()
	l.Name = name
	l.Values = slices.Clone(l.Values)
	writeJSON(w, http.StatusOK, l)
}

// Labels returns a copy of the GameServer's labels.
func (s *Sidecar) Labels() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.gs.ObjectMeta.Labels)
}
