package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/admin"
	"github.com/voxfleet/vox/api"
)

const testToken = "ctl-t0ken"

// fake is a Backend and Drainer for the real admin.Server: a few fixed
// sessions, and a drain that advances one step per Status() call once
// started (so that drain --wait sees progress).
type fake struct {
	mu       sync.Mutex // guards every field
	status   api.Status
	sessions []api.SessionInfo
	err      error // returned by every Drainer method that can fail

	drain      *api.DrainStatus
	drainReq   api.DrainRequest
	reconnect  *api.ReconnectRequest
	advance    func(d *api.DrainStatus) // per Status() call during a drain
	onStatus   func(calls int)          // called (without the lock) on each Status()
	statusCall int
}

var (
	_ admin.Backend = (*fake)(nil)
	_ admin.Drainer = (*fake)(nil)
)

func newFake() *fake {
	mk := func(id string, shard, members int, age time.Duration) api.SessionInfo {
		s := api.SessionInfo{ID: id, CreatedAt: time.Now().Add(-age), Shard: shard, MaxParticipants: 16,
			Profile: api.DefaultProfile, Participants: []api.ParticipantInfo{}}
		for i := range members {
			s.Participants = append(s.Participants, api.ParticipantInfo{ID: fmt.Sprintf("%s-p%d", id, i), Profile: api.DefaultProfile})
		}
		return s
	}
	return &fake{
		status: api.Status{
			State: api.StateAccepting, Accepting: true, CPUPercent: 12.5, Sessions: 2, Participants: 5,
			Limits:   api.Limits{MaxSessions: 100, MaxParticipants: 1000, MaxSessionParticipants: 16},
			Steering: true,
			Shards: []api.ShardStatus{
				{ID: 0, Sessions: 1, Participants: 3, Counters: api.Counters{RxPackets: 600, TxPackets: 1800}},
				{ID: 1, Sessions: 1, Participants: 2, Counters: api.Counters{RxPackets: 400, TxPackets: 1200}},
			},
			Totals: api.Counters{RxPackets: 1000, TxPackets: 3000, Forwarded: 2900, DropAuth: 2},
		},
		sessions: []api.SessionInfo{mk("room-b", 1, 2, 90*time.Second), mk("room-a", 0, 3, time.Hour)},
	}
}

func (f *fake) PutSession(context.Context, string, api.SessionOptions) (api.SessionInfo, bool, error) {
	return api.SessionInfo{}, false, errors.New("not in this fake")
}
func (f *fake) Session(context.Context, string) (api.SessionInfo, error) {
	return api.SessionInfo{}, errors.New("not in this fake")
}
func (f *fake) DeleteSession(context.Context, string) error { return errors.New("not in this fake") }
func (f *fake) Admit(context.Context, string, api.AdmitRequest) (api.Admission, error) {
	return api.Admission{}, errors.New("not in this fake")
}
func (f *fake) RemoveParticipant(context.Context, string, string) error {
	return errors.New("not in this fake")
}

func (f *fake) Sessions(context.Context) ([]api.SessionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.SessionInfo(nil), f.sessions...), f.err
}

func (f *fake) Status() api.Status {
	f.mu.Lock()
	f.statusCall++
	calls, hook := f.statusCall, f.onStatus
	st := f.status
	if f.drain != nil {
		if f.advance != nil {
			f.advance(f.drain)
		}
		d := *f.drain
		st.Drain = &d
		if d.Phase == api.DrainDrained {
			st.State = api.StateDrained
		}
	}
	f.mu.Unlock()
	if hook != nil {
		hook(calls)
	}
	return st
}

func (f *fake) StopAccepting(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if reason == "" {
		reason = "stopped by operator"
	}
	f.status.State, f.status.Accepting, f.status.Reason = api.StateStopped, false, reason
}

func (f *fake) StopNewSessions(reason string) { f.StopAccepting(reason) }

func (f *fake) running() bool {
	return f.drain != nil && (f.drain.Phase == api.DrainGrace || f.drain.Phase == api.DrainNotifying)
}

func (f *fake) ResumeAccepting() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if f.running() {
		return fmt.Errorf("%w: a drain is running", api.ErrDrainConflict)
	}
	f.status.State, f.status.Accepting, f.status.Reason = api.StateAccepting, true, ""
	return nil
}

func (f *fake) StartDrain(reason string, req api.DrainRequest) (api.DrainStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.DrainStatus{}, f.err
	}
	if f.running() {
		return api.DrainStatus{}, fmt.Errorf("%w: a drain is already running", api.ErrDrainConflict)
	}
	f.drainReq = req
	orDefault := func(d api.Duration, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return time.Duration(d)
	}
	rate := req.Rate
	if rate == 0 {
		rate = 200
	}
	now := time.Now()
	f.drain = &api.DrainStatus{
		Phase: api.DrainGrace, Reason: reason, StartedAt: now,
		GraceUntil: now.Add(orDefault(req.Grace, time.Minute)), Deadline: now.Add(orDefault(req.Deadline, 10*time.Minute)),
		Rate: rate, WindowMS: orDefault(req.Window, 2*time.Second).Milliseconds(), Exit: req.Exit != nil && *req.Exit,
		ParticipantsLeft: f.status.Participants, SessionsLeft: f.status.Sessions,
	}
	f.status.State, f.status.Accepting, f.status.Reason = api.StateDraining, false, reason
	return *f.drain, nil
}

func (f *fake) CancelDrain() (api.DrainStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.DrainStatus{}, f.err
	}
	if !f.running() {
		return api.DrainStatus{}, fmt.Errorf("%w: nothing to cancel", api.ErrNoDrain)
	}
	if f.drain.Phase != api.DrainGrace {
		return api.DrainStatus{}, fmt.Errorf("%w: past the grace period", api.ErrDrainConflict)
	}
	f.drain.Phase = api.DrainCancelled
	f.status.State, f.status.Accepting, f.status.Reason = api.StateAccepting, true, ""
	return *f.drain, nil
}

func (f *fake) Reconnect(req api.ReconnectRequest) (api.ReconnectAnswer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconnect = &req
	if f.err != nil {
		return api.ReconnectAnswer{}, f.err
	}
	var ans api.ReconnectAnswer
	for _, s := range f.sessions {
		if len(req.Sessions) > 0 && !slices.Contains(req.Sessions, s.ID) {
			continue
		}
		ans.Sessions++
		ans.Participants += len(s.Participants)
	}
	for _, id := range req.Sessions {
		if !f.has(id) {
			return api.ReconnectAnswer{}, fmt.Errorf("%w: %q", api.ErrSessionNotFound, id)
		}
	}
	ans.ETA = api.Duration(250 * time.Millisecond)
	return ans, nil
}

func (f *fake) has(id string) bool {
	for _, s := range f.sessions {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (f *fake) set(fn func(f *fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// pod is an httptest server running the real admin.Server over a fake.
type pod struct {
	*httptest.Server
	fake *fake
}

func newPod(t *testing.T) *pod {
	t.Helper()
	f := newFake()
	s, err := admin.New(admin.Config{Token: testToken, Logger: slog.New(slog.DiscardHandler)}, f)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &pod{Server: srv, fake: f}
}

type result struct {
	code           int
	stdout, stderr string
}

// ctl runs voxctl against the pod with its token in the environment.
func (p *pod) ctl(t *testing.T, args ...string) result {
	t.Helper()
	return runCtl(t, map[string]string{"VOX_ADMIN_ADDR": p.URL, "VOX_ADMIN_TOKEN": testToken}, args...)
}

func runCtl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := run(ctx, args, lookup, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (r result) want(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

func TestStatus(t *testing.T) {
	p := newPod(t)
	r := p.ctl(t, "status")
	r.want(t, 0, []string{"state:         accepting\n", "sessions:      2 / 100\n", "participants:  5 / 1000 (at most 16 per session)\n",
		"cpu:           12.5%\n", "steering:      on (SSRC)\n", "shards:\n", "SHARD  SESSIONS  PARTICIPANTS  RX PKTS  TX PKTS",
		"      0         1             3      600     1800", "packets:       rx 1000, tx 3000, forwarded 2900, dropped 2\n"}, nil)
	if strings.Contains(r.stdout, "drain:") || r.stderr != "" {
		t.Errorf("no drain expected:\n%s\n%s", r.stdout, r.stderr)
	}

	// With a drain, its progress.
	p.ctl(t, "drain", "--grace", "30s", "--rate", "50").want(t, 0, nil, nil)
	p.fake.set(func(f *fake) {
		f.drain.Phase, f.drain.NoticesSent, f.drain.NoticesRepeated, f.drain.Reconnected, f.drain.TimedOut = api.DrainNotifying, 4, 1, 3, 1
		f.drain.ParticipantsLeft, f.drain.SessionsLeft = 2, 1
	})
	r = p.ctl(t, "status")
	r.want(t, 0, []string{"state:         draining\n", "reason:        operator drain\n", "drain:         notifying (operator drain), started ",
		"left: 2 participants in 1 sessions", "notices sent 4 (+1 repeats); reconnected 3, timed out 1, unreachable 0, removed at deadline 0",
		"rate 50 notices/s, window 2s, exit when drained: no"}, nil)

	// --json: the server's answer, one line, with the rates and the drain.
	r = p.ctl(t, "--json", "status")
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("json status %q: %v", r.stdout, err)
	}
	if st.State != api.StateDraining || st.Drain == nil || st.Drain.NoticesSent != 4 || len(st.Shards) != 2 {
		t.Errorf("json status: %s", r.stdout)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(r.stdout), &raw)
	if _, ok := raw["rates"]; !ok {
		t.Errorf("json status lacks rates: %s", r.stdout)
	}
	// The global flags may follow the command.
	if r2 := p.ctl(t, "status", "--json"); r2.code != 0 || !strings.HasPrefix(r2.stdout, "{") {
		t.Errorf("status --json: %+v", r2)
	}
}

func TestSessions(t *testing.T) {
	p := newPod(t)
	r := p.ctl(t, "sessions")
	r.want(t, 0, []string{"ID      MEMBERS  MAX  SHARD  AGE\n"}, nil)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "room-a  3        16   0      1h0m0s") ||
		!strings.HasPrefix(lines[2], "room-b  2        16   1      1m3") {
		t.Errorf("sessions table (sorted by id):\n%s", r.stdout)
	}
	r = p.ctl(t, "sessions", "--json")
	var body struct {
		Sessions []api.SessionInfo `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &body); err != nil || len(body.Sessions) != 2 || body.Sessions[0].ID != "room-a" ||
		len(body.Sessions[0].Participants) != 3 {
		t.Errorf("json sessions %s: %v", r.stdout, err)
	}
	p.fake.set(func(f *fake) { f.sessions = nil })
	if r := p.ctl(t, "--json", "sessions"); strings.TrimSpace(r.stdout) != `{"sessions":[]}` {
		t.Errorf("empty json sessions: %q", r.stdout)
	}
}

func TestAcceptStopResume(t *testing.T) {
	p := newPod(t)
	p.ctl(t, "accept-stop", "--reason", "kernel upgrade").want(t, 0, []string{"admission stopped: state stopped (kernel upgrade)\n"}, nil)
	p.ctl(t, "accept-stop").want(t, 0, []string{"admission stopped: state stopped (stopped by operator)\n"}, nil)
	p.ctl(t, "accept-resume").want(t, 0, []string{"admission resumed: state accepting\n"}, nil)

	r := p.ctl(t, "--json", "accept-stop", "--reason", "x")
	var st api.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.State != api.StateStopped || st.Reason != "x" {
		t.Errorf("json accept-stop %q: %v", r.stdout, err)
	}
	r = p.ctl(t, "--json", "accept-resume")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.State != api.StateAccepting {
		t.Errorf("json accept-resume %q: %v", r.stdout, err)
	}

	// accept-resume during a drain: 409, exit 2, the server's message and code.
	p.ctl(t, "drain").want(t, 0, nil, nil)
	p.ctl(t, "accept-resume").want(t, 2, nil, []string{"voxctl accept-resume: " + p.URL + " refused: drain conflict: a drain is running (HTTP 409, drain_conflict)"})
}

func TestDrain(t *testing.T) {
	p := newPod(t)
	r := p.ctl(t, "drain", "--grace", "5s", "--rate", "50", "--deadline", "3m", "--window", "1500ms", "--exit=false")
	r.want(t, 0, []string{"drain started: 5 participants in 2 sessions; notices from ", " at 50/s; deadline ", "; exit when drained: no\n"}, nil)
	p.fake.set(func(f *fake) {
		q := f.drainReq
		if time.Duration(q.Grace) != 5*time.Second || q.Rate != 50 || time.Duration(q.Deadline) != 3*time.Minute ||
			time.Duration(q.Window) != 1500*time.Millisecond || q.Exit == nil || *q.Exit {
			t.Errorf("server got %+v", q)
		}
	})
	// A drain already running: 409, exit 2.
	p.ctl(t, "drain").want(t, 2, nil, []string{"refused: drain conflict: a drain is already running (HTTP 409, drain_conflict)"})

	// Defaults are the server's: nothing but exit when asked.
	p.fake.set(func(f *fake) { f.drain = nil })
	r = p.ctl(t, "--json", "drain", "--exit")
	var ds api.DrainStatus
	if err := json.Unmarshal([]byte(r.stdout), &ds); err != nil || ds.Phase != api.DrainGrace || !ds.Exit || ds.Rate != 200 {
		t.Errorf("json drain %q: %v", r.stdout, err)
	}
	p.fake.set(func(f *fake) {
		if q := f.drainReq; q.Grace != 0 || q.Rate != 0 || q.Deadline != 0 || q.Window != 0 || q.Exit == nil || !*q.Exit {
			t.Errorf("server got %+v", q)
		}
	})

	// Bad values: refused locally, before any request.
	for _, args := range [][]string{
		{"drain", "--grace", "-1s"}, {"drain", "--rate", "-5"}, {"drain", "--grace", "5"},
		{"drain", "--exit=maybe"}, {"drain", "--wait", "--interval", "0s"}, {"drain", "now"},
	} {
		if r := p.ctl(t, args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestDrainWait(t *testing.T) {
	p := newPod(t)
	// Each status poll: the grace ends, then two participants leave per
	// poll until none is left.
	p.fake.set(func(f *fake) {
		f.advance = func(d *api.DrainStatus) {
			switch {
			case d.Phase == api.DrainGrace:
				d.Phase = api.DrainNotifying
			case d.ParticipantsLeft > 0:
				n := min(2, d.ParticipantsLeft)
				d.NoticesSent += uint64(n)
				d.Reconnected += uint64(n)
				d.ParticipantsLeft -= n
			default:
				d.Phase, d.SessionsLeft = api.DrainDrained, 0
			}
		}
	})
	r := p.ctl(t, "drain", "--grace", "1s", "--wait", "--interval", "10ms")
	r.want(t, 0, []string{"drain started: 5 participants in 2 sessions",
		"  notifying  left 3 participants / 2 sessions  notices 2 (+0)  reconnected 2  timed out 0\n",
		"  drained    left 0 participants",
		"drained: 5 notices sent, 5 reconnected, 0 timed out, 0 removed at the deadline\n"}, nil)

	// --json: the start answer and every poll, one DrainStatus per line.
	p.fake.set(func(f *fake) { f.drain = nil })
	r = p.ctl(t, "--json", "drain", "--wait", "--interval", "10ms")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var first, last api.DrainStatus
	if r.code != 0 || len(lines) < 3 || json.Unmarshal([]byte(lines[0]), &first) != nil || json.Unmarshal([]byte(lines[len(lines)-1]), &last) != nil ||
		first.Phase != api.DrainGrace || last.Phase != api.DrainDrained {
		t.Errorf("json wait: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestDrainWaitCancelled(t *testing.T) {
	p := newPod(t)
	p.fake.set(func(f *fake) {
		f.advance = func(d *api.DrainStatus) { d.Phase = api.DrainCancelled }
	})
	p.ctl(t, "drain", "--wait", "--interval", "10ms").want(t, 1, []string{"  cancelled  left 5"}, []string{"voxctl drain: the drain was cancelled"})
}

func TestDrainWaitDeadline(t *testing.T) {
	p := newPod(t)
	p.fake.set(func(f *fake) {
		f.advance = func(d *api.DrainStatus) {
			d.Phase = api.DrainNotifying
			d.Deadline = d.StartedAt // a drain past its deadline that never ends
		}
	})
	setWaitMargin(t, 50*time.Millisecond)
	p.ctl(t, "drain", "--wait", "--interval", "10ms", "--deadline", "1ms", "--grace", "1ms").
		want(t, 1, nil, []string{"not drained", "giving up waiting"})
}

// setWaitMargin shortens waitMargin for one test.
func setWaitMargin(t *testing.T, d time.Duration) {
	old := waitMargin
	waitMargin = d
	t.Cleanup(func() { waitMargin = old })
}

// TestDrainWaitServerGone: after a drain with exit, the pod going away is
// the end of the drain, not a failure; without exit it is.
func TestDrainWaitServerGone(t *testing.T) {
	for _, exit := range []bool{true, false} {
		t.Run(fmt.Sprint("exit=", exit), func(t *testing.T) {
			p := newPod(t)
			p.fake.set(func(f *fake) {
				f.advance = func(d *api.DrainStatus) { d.Phase = api.DrainNotifying }
				f.onStatus = func(calls int) {
					if calls == 2 {
						go p.Close() // voxd exits
					}
				}
			})
			r := p.ctl(t, "drain", fmt.Sprintf("--exit=%v", exit), "--wait", "--interval", "10ms")
			if exit {
				r.want(t, 0, []string{"  notifying  left 5"}, []string{"went away: the pod was drained and exited"})
			} else {
				r.want(t, 3, nil, []string{"voxctl drain: cannot reach vox at " + p.URL})
			}
		})
	}
}

func TestDrainCancel(t *testing.T) {
	p := newPod(t)
	p.ctl(t, "drain-cancel").want(t, 2, nil, []string{"voxctl drain-cancel: " + p.URL + " refused: no drain: nothing to cancel (HTTP 404, no_drain)"})
	p.ctl(t, "drain").want(t, 0, nil, nil)
	p.ctl(t, "drain-cancel").want(t, 0, []string{"drain cancelled: 5 participants in 2 sessions stay\n"}, nil)

	p.ctl(t, "drain").want(t, 0, nil, nil)
	p.fake.set(func(f *fake) { f.drain.Phase = api.DrainNotifying })
	p.ctl(t, "drain-cancel").want(t, 2, nil, []string{"(HTTP 409, drain_conflict)"})
	p.fake.set(func(f *fake) { f.drain.Phase = api.DrainGrace })
	r := p.ctl(t, "drain-cancel", "--json")
	var ds api.DrainStatus
	if err := json.Unmarshal([]byte(r.stdout), &ds); err != nil || ds.Phase != api.DrainCancelled {
		t.Errorf("json drain-cancel %q: %v", r.stdout, err)
	}
}

func TestReconnect(t *testing.T) {
	p := newPod(t)
	p.ctl(t, "reconnect").want(t, 0, []string{"reconnect notices queued for 5 participants in 2 sessions (about 250ms at the rate)\n"}, nil)
	p.ctl(t, "reconnect", "--session", "room-a", "--rate", "20", "--window", "3s").
		want(t, 0, []string{"for 3 participants in 1 sessions"}, nil)
	p.fake.set(func(f *fake) {
		if q := f.reconnect; q == nil || q.Rate != 20 || time.Duration(q.Window) != 3*time.Second || len(q.Sessions) != 1 || q.Sessions[0] != "room-a" {
			t.Errorf("server got %+v", q)
		}
	})
	p.ctl(t, "reconnect", "--session", "room-a,room-b", "--session", "room-a").want(t, 0, nil, nil)
	p.fake.set(func(f *fake) {
		if q := f.reconnect; len(q.Sessions) != 3 {
			t.Errorf("sessions %v", q.Sessions)
		}
	})
	r := p.ctl(t, "--json", "reconnect")
	var ans api.ReconnectAnswer
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || ans.Participants != 5 || ans.Sessions != 2 {
		t.Errorf("json reconnect %q: %v", r.stdout, err)
	}
	p.ctl(t, "reconnect", "--session", "gone").want(t, 2, nil, []string{"session not found: \"gone\" (HTTP 404, session_not_found)"})
	p.ctl(t, "reconnect", "--session", "bad id").want(t, 2, nil, []string{"(HTTP 400, invalid_id)"})
	p.ctl(t, "reconnect", "--rate", "-1").want(t, 2, nil, []string{"must not be negative"})
}

// TestServerErrors: a 5xx is exit 1; an unsupported server's 501 too.
func TestServerErrors(t *testing.T) {
	p := newPod(t)
	p.fake.set(func(f *fake) { f.err = errors.New("engine wedged") })
	p.ctl(t, "drain").want(t, 1, nil, []string{"refused: internal error (HTTP 500, internal)"})
	p.ctl(t, "sessions").want(t, 1, nil, []string{"(HTTP 500, internal)"})
	p.fake.set(func(f *fake) { f.err = fmt.Errorf("%w: shutting down", api.ErrClosed) })
	p.ctl(t, "reconnect").want(t, 1, nil, []string{"(HTTP 503, shutting_down)"})

	// A backend that cannot drain.
	s, err := admin.New(admin.Config{Token: testToken, Logger: slog.New(slog.DiscardHandler)}, struct{ admin.Backend }{newFake()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	runCtl(t, map[string]string{"VOX_ADMIN_TOKEN": testToken}, "--addr", srv.URL, "drain").
		want(t, 1, nil, []string{"(HTTP 501, not_implemented)", "does not support"})
}

func TestAuth(t *testing.T) {
	p := newPod(t)
	runCtl(t, nil, "--addr", p.URL, "status").
		want(t, 2, nil, []string{"refused: an Authorization: Bearer <token> header is required (HTTP 401, unauthorized)", "--token"})
	runCtl(t, nil, "--addr", p.URL, "--token", "wrong", "accept-stop").want(t, 2, nil, []string{"(HTTP 403, forbidden)"})
	// The flag wins over the environment.
	runCtl(t, map[string]string{"VOX_ADMIN_ADDR": "127.0.0.1:1", "VOX_ADMIN_TOKEN": "wrong"}, "--addr", p.URL, "--token", testToken, "status").
		want(t, 0, []string{"state:"}, nil)
	// The token from a file, as in the container.
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runCtl(t, map[string]string{"VOX_ADMIN_ADDR": p.URL, "VOX_ADMIN_TOKEN_FILE": file}, "status").want(t, 0, []string{"state:"}, nil)
	runCtl(t, nil, "--addr", p.URL, "--token", "x", "--token-file", file, "status").want(t, 2, nil, []string{"exclusive"})
	runCtl(t, nil, "--addr", p.URL, "--token-file", filepath.Join(t.TempDir(), "none"), "status").want(t, 2, nil, []string{"token file"})
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	for _, cmd := range []string{"status", "sessions", "accept-stop", "accept-resume", "drain", "drain-cancel", "reconnect"} {
		runCtl(t, map[string]string{"VOX_ADMIN_ADDR": addr}, cmd).
			want(t, 3, nil, []string{"voxctl " + cmd + ": cannot reach vox at http://" + addr + ": ", "connection refused"})
	}
	// A server that does not answer in time is unreachable too.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	runCtl(t, nil, "--addr", hang.Addr().String(), "--timeout", "100ms", "status").want(t, 3, nil, []string{"no answer in time"})
}

func TestUsage(t *testing.T) {
	p := newPod(t)
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, 2, "no command given"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"--bogus", "status"}, 2, "flag provided but not defined"},
		{[]string{"status", "--bogus"}, 2, "run 'voxctl status --help'"},
		{[]string{"status", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--addr", "not an address", "status"}, 2, "--addr"},
		{[]string{"--addr", "ftp://x:1", "status"}, 2, "--addr"},
		{[]string{"--timeout", "0s", "status"}, 2, "--timeout"},
	} {
		r := p.ctl(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) || r.stdout != "" {
			t.Errorf("%v: exit %d stdout %q stderr %q, want %d and %q", tt.args, r.code, r.stdout, r.stderr, tt.code, tt.stderr)
		}
	}
	r := runCtl(t, map[string]string{"VOX_ADMIN_TIMEOUT": "soon"}, "status")
	r.want(t, 2, nil, []string{"VOX_ADMIN_TIMEOUT"})

	// --help: on stdout, exit 0, every flag explained.
	top := runCtl(t, nil, "--help")
	top.want(t, 0, []string{"Commands:", "$VOX_ADMIN_ADDR", "$VOX_ADMIN_TOKEN", "Exit codes"}, nil)
	for name, cmd := range commands() {
		if !strings.Contains(top.stdout, "\n  "+name+" ") {
			t.Errorf("--help lacks the command %s", name)
		}
		for _, args := range [][]string{{name, "--help"}, {"help", name}} {
			r := runCtl(t, nil, args...)
			r.want(t, 0, []string{"voxctl " + name + " — ", "Usage: voxctl [global flags] " + cmd.usage}, nil)
			for _, flag := range []string{"addr", "token", "json", "timeout"} {
				if !strings.Contains(r.stdout, "--"+flag) {
					t.Errorf("%v lacks --%s", args, flag)
				}
			}
		}
	}
	drainHelp := runCtl(t, nil, "drain", "--help").stdout
	for _, flag := range []string{"--grace", "--rate", "--deadline", "--window", "--exit", "--wait", "--interval"} {
		if !strings.Contains(drainHelp, "\n  "+flag) {
			t.Errorf("drain --help lacks %s", flag)
		}
	}
	reconnectHelp := runCtl(t, nil, "reconnect", "--help").stdout
	for _, flag := range []string{"--rate", "--window", "--session"} {
		if !strings.Contains(reconnectHelp, "\n  "+flag) {
			t.Errorf("reconnect --help lacks %s", flag)
		}
	}
	if strings.Contains(runCtl(t, map[string]string{"VOX_ADMIN_TOKEN": "secret-value"}, "status", "--help").stdout, "secret-value") {
		t.Error("--help shows the token")
	}
}

func TestBaseURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{":8081", "http://127.0.0.1:8081"},
		{"0.0.0.0:8081", "http://127.0.0.1:8081"},
		{"[::]:8081", "http://[::1]:8081"},
		{"[::1]:9", "http://[::1]:9"},
		{"vox-0.vox:8081", "http://vox-0.vox:8081"},
		{"http://10.0.0.7:8081/", "http://10.0.0.7:8081"},
		{"https://vox.example/admin", "https://vox.example/admin"},
		{"localhost", ""},
		{"ftp://x:1", ""},
		{"http://", ""},
		{"", ""},
		{"host:", ""},
	} {
		got, err := baseURL(tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("baseURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
