package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/voxfleet/vox/api"
	"github.com/voxfleet/vox/client"
	"github.com/voxfleet/vox/cmd/internal/testvoxd"
	"github.com/voxfleet/vox/podreport"
	"github.com/voxfleet/vox/router"
	"github.com/voxfleet/vox/sessionmgr"
)

// The fleet tests: real voxd parts (testvoxd) on loopback, reporting over
// HTTP to a real router on loopback, whose clock the test moves (reports
// are sent when the test says, so nothing sleeps).

const (
	podToken    = "pod-secret"
	apiToken    = "api-secret"
	reportToken = "report-secret"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testPod struct {
	name string
	srv  *testvoxd.Server
	rep  *podreport.Reporter
	api  *client.API // the pod's own admin API
}

type fleet struct {
	t      testing.TB
	clock  *clock
	router *router.Router
	server *router.Server
	api    *client.API // the router's API, as a game backend uses it
	pods   map[string]*testPod
	names  []string
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newFleet starts n pods named pod-a, pod-b, ... with limits, and a router;
// nothing is reported yet.
func newFleet(t testing.TB, n int, limits sessionmgr.Limits) *fleet {
	t.Helper()
	f := &fleet{t: t, clock: &clock{t: time.Unix(1_700_000_000, 0)}, pods: map[string]*testPod{}}
	// Each pod's 2 shards hold a P while they wait for packets (as in
	// voxd): give the pods theirs and the router and the test some more.
	if prev, want := runtime.GOMAXPROCS(0), 2*n+2; prev < want {
		runtime.GOMAXPROCS(want)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	f.startRouter()
	for i := range n {
		name := fmt.Sprintf("pod-%c", 'a'+i)
		s := testvoxd.StartWith(t, testvoxd.Options{Token: podToken, Limits: limits})
		p := &testPod{name: name, srv: s}
		p.api, _ = client.NewAPI(s.AdminURL, podToken)
		f.pods[name] = p
		f.names = append(f.names, name)
	}
	f.newReporters()
	return f
}

// startRouter starts a fresh router (and forgets the old one's state).
func (f *fleet) startRouter() {
	t := f.t
	r, err := router.New(router.Config{PodToken: podToken, Now: f.clock.Now, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := router.NewServer(router.ServerConfig{Addr: "127.0.0.1:0", Token: apiToken, ReportToken: reportToken}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	f.router, f.server = r, srv
	f.api, err = client.NewAPI("http://"+srv.Addr(), apiToken)
	if err != nil {
		t.Fatal(err)
	}
}

// newReporters points every pod's reporter at the current router.
func (f *fleet) newReporters() {
	for _, p := range f.pods {
		rep, err := podreport.New(podreport.Config{RouterURL: "http://" + f.server.Addr(), Token: reportToken,
			Name: p.name, AdminURL: p.srv.AdminURL, Source: podreport.FromManager(p.srv.Manager, nil), Logger: quietLog()})
		if err != nil {
			f.t.Fatal(err)
		}
		p.rep = rep
	}
}

// report makes the named pods (all when none) post one report each.
func (f *fleet) report(names ...string) {
	f.t.Helper()
	if len(names) == 0 {
		names = f.names
	}
	for _, n := range names {
		if err := f.pods[n].rep.Once(context.Background()); err != nil {
			f.t.Fatalf("%s: report: %v", n, err)
		}
	}
}

// admit admits pid to session through the router.
func (f *fleet) admit(session, pid string) (api.RouterAdmission, error) {
	return f.api.AdmitRouted(context.Background(), session, api.AdmitRequest{ParticipantID: pid}, "")
}

func (f *fleet) mustAdmit(session, pid string) api.RouterAdmission {
	f.t.Helper()
	a, err := f.admit(session, pid)
	if err != nil {
		f.t.Fatalf("admit %s/%s: %v", session, pid, err)
	}
	return a
}

// members returns session's members on each pod that has it.
func (f *fleet) members(session string) map[string][]string {
	out := map[string][]string{}
	for name, p := range f.pods {
		if m, err := p.srv.Manager.Members(session); err == nil {
			out[name] = m
		}
	}
	return out
}

// direct admits pid to session on one pod, bypassing the router.
func (f *fleet) direct(pod, session, pid string) {
	f.t.Helper()
	if _, err := f.pods[pod].api.Admit(context.Background(), session, api.AdmitRequest{ParticipantID: pid}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fleet) status() api.RouterStatus {
	f.t.Helper()
	st, err := f.api.RouterStatus(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// TestChatGroupLandsTogether: every member of a session lands on one pod,
// and a plain voxd client (client.API.Admit) works against the router.
func TestChatGroupLandsTogether(t *testing.T) {
	f := newFleet(t, 3, sessionmgr.Limits{})
	f.report()
	var pod string
	for i := range 4 {
		a := f.mustAdmit("team-red", fmt.Sprintf("p%d", i))
		if pod == "" {
			pod = a.Pod
		}
		if a.Pod != pod || a.SSRC == 0 || a.Media.Port == 0 || len(a.SRTP.ClientToServer.Key) == 0 {
			t.Fatalf("member %d: %+v (first on %s)", i, a, pod)
		}
	}
	// A client of voxd, unchanged: it reads the admission and nothing else.
	adm, err := f.api.Admit(context.Background(), "team-red", api.AdmitRequest{ParticipantID: "p4"})
	if err != nil || adm.ParticipantID != "p4" || adm.SSRC == 0 {
		t.Fatalf("voxd client: %+v %v", adm, err)
	}
	m := f.members("team-red")
	if len(m) != 1 || len(m[pod]) != 5 {
		t.Fatalf("members by pod: %v, want 5 on %s only", m, pod)
	}
	where, err := f.api.WhereIs(context.Background(), "team-red")
	if err != nil || where.Pod != pod {
		t.Fatalf("where: %+v %v", where, err)
	}
	// Removal and deletion go to the pod.
	if err := f.api.RemoveParticipant(context.Background(), "team-red", "p0"); err != nil {
		t.Fatal(err)
	}
	if m := f.members("team-red"); len(m[pod]) != 4 {
		t.Fatalf("after removal: %v", m)
	}
	if err := f.api.DeleteSession(context.Background(), "team-red"); err != nil {
		t.Fatal(err)
	}
	if m := f.members("team-red"); len(m) != 0 {
		t.Fatalf("after deletion: %v", m)
	}
	if _, err := f.api.WhereIs(context.Background(), "team-red"); !errors.Is(err, api.ErrSessionNotFound) {
		t.Fatalf("where after deletion: %v", err)
	}
	// A pod refusing a new session's request (400, more participants than
	// it allows) made nothing: the answer is relayed, the session is not
	// mapped.
	_, err = f.api.Admit(context.Background(), "too-big", api.AdmitRequest{Session: &api.SessionOptions{MaxParticipants: 1000}})
	if ae, ok := errors.AsType[*client.APIError](err); !ok || ae.Status != 400 || ae.Code != api.CodeInvalidRequest {
		t.Fatalf("too big: %v", err)
	}
	if _, err := f.api.WhereIs(context.Background(), "too-big"); !errors.Is(err, api.ErrSessionNotFound) {
		t.Fatalf("a refused session is mapped: %v", err)
	}
}

// TestPacksFullestWithRoom: new sessions go to the fullest pod that has
// room, counting the router's own placements between reports.
func TestPacksFullestWithRoom(t *testing.T) {
	f := newFleet(t, 3, sessionmgr.Limits{MaxSessions: 3, MaxParticipants: 100})
	f.direct("pod-b", "already", "x1")
	f.direct("pod-b", "already", "x2")
	f.report()
	got := map[string]int{}
	for i := range 8 {
		got[f.mustAdmit(fmt.Sprintf("s%d", i), "p").Pod]++
	}
	// pod-b (fullest) takes 2 more sessions to its limit of 3, then pod-a
	// (tie with pod-c, by name) 3, then pod-c 3.
	if got["pod-b"] != 2 || got["pod-a"] != 3 || got["pod-c"] != 3 {
		t.Fatalf("sessions placed per pod: %v", got)
	}
	if _, err := f.admit("one-too-many", "p"); !errors.Is(err, api.ErrNotAccepting) {
		t.Fatalf("a full fleet: %v, want not_accepting", err)
	}
	// Between reports nothing was over-filled on any pod.
	for name, p := range f.pods {
		if st := p.srv.Manager.Status(); st.Sessions > 3 {
			t.Errorf("%s: %d sessions", name, st.Sessions)
		}
	}
	if st := f.status(); st.NoPod != 1 || st.Retries != 0 || st.Admissions != 8 {
		t.Fatalf("status: %+v", st)
	}
}

// TestRefusingPodSkipped: a pod that refuses a new session (503) is
// skipped invisibly; an existing session's pod refusing is answered as it
// answered.
func TestRefusingPodSkipped(t *testing.T) {
	f := newFleet(t, 2, sessionmgr.Limits{})
	f.direct("pod-a", "old", "x1") // pod-a is the fullest
	f.report()
	f.pods["pod-a"].srv.Manager.StopAccepting("test: refusing") // not reported yet
	a, err := f.admit("fresh", "p1")
	if err != nil || a.Pod != "pod-b" {
		t.Fatalf("admission: %+v %v, want pod-b", a, err)
	}
	st := f.status()
	if st.Retries != 1 || st.Admissions != 1 || st.AdmissionsFailed != 0 {
		t.Fatalf("status: %+v", st)
	}
	pods, err := f.api.Pods(context.Background())
	if err != nil || len(pods.Pods) != 2 || !pods.Pods[0].Suspended || pods.Pods[0].Placeable {
		t.Fatalf("pods: %+v %v", pods, err)
	}
	// The next session goes straight to pod-b (pod-a is out of the pool).
	if a := f.mustAdmit("fresh2", "p1"); a.Pod != "pod-b" {
		t.Fatalf("second: %s", a.Pod)
	}
	if f.status().Retries != 1 {
		t.Fatal("pod-a was tried again")
	}
	// A member of pod-a's existing session: pod-a's own answer.
	f.report() // the router learns "old" is on pod-a
	_, err = f.admit("old", "x2")
	if ae, ok := errors.AsType[*client.APIError](err); !ok || ae.Status != 503 || ae.Code != api.CodeNotAccepting || ae.RetryAfter == 0 {
		t.Fatalf("existing session on a refusing pod: %v", err)
	}
	// A report after the refusal lifts the suspension (pod-a accepts again).
	f.pods["pod-a"].srv.Manager.ResumeAccepting()
	f.report()
	f.report()
	if pods, _ := f.api.Pods(context.Background()); pods.Pods[0].Suspended || !pods.Pods[0].Placeable {
		t.Fatalf("pod-a after good reports: %+v", pods.Pods[0])
	}
}

// TestStalePodGetsNothing: a pod that missed its reports gets no new
// session at once, and is forgotten after a while.
func TestStalePodGetsNothing(t *testing.T) {
	f := newFleet(t, 2, sessionmgr.Limits{})
	f.direct("pod-a", "old", "x1") // pod-a is the fullest
	f.report()
	f.clock.Advance(2 * time.Second)
	f.report("pod-b")
	f.clock.Advance(2 * time.Second) // pod-a: 4 s since its report
	f.report("pod-b")
	for i := range 5 {
		if a := f.mustAdmit(fmt.Sprintf("n%d", i), "p"); a.Pod != "pod-b" {
			t.Fatalf("placed on the stale %s", a.Pod)
		}
	}
	// Its existing session moves with the next admission.
	if a := f.mustAdmit("old", "x2"); a.Pod != "pod-b" || !a.Moved {
		t.Fatalf("old session: %+v", a)
	}
	st := f.status()
	if st.PodsStale != 1 || st.PodsPlaceable != 1 {
		t.Fatalf("status: %+v", st)
	}
	f.clock.Advance(router.DefaultForgetAfter)
	f.report("pod-b")
	f.router.Sweep(context.Background())
	if pods, _ := f.api.Pods(context.Background()); len(pods.Pods) != 1 || pods.Pods[0].Name != "pod-b" {
		t.Fatalf("pods after forgetting: %+v", pods)
	}
}

// TestConcurrentFirstAdmissions: 50 first admissions of one new session
// at once agree on one pod.
func TestConcurrentFirstAdmissions(t *testing.T) {
	f := newFleet(t, 3, sessionmgr.Limits{})
	f.report()
	const n = 50
	pods := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a, err := f.admit("raid", fmt.Sprintf("p%d", i))
			pods[i], errs[i] = a.Pod, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || pods[i] != pods[0] {
			t.Fatalf("admission %d: %s %v (first: %s)", i, pods[i], errs[i], pods[0])
		}
	}
	if m := f.members("raid"); len(m) != 1 || len(m[pods[0]]) != n {
		t.Fatalf("members by pod: %d pods, %d on %s", len(m), len(m[pods[0]]), pods[0])
	}
}

// TestNoOverfillUnderConcurrency: many new sessions at once, no report in
// between: the router counts its own placements, so no pod is ever asked
// beyond its limits (no pod refuses, nothing is retried) and the rest are
// answered no_pod.
func TestNoOverfillUnderConcurrency(t *testing.T) {
	const perPod, pods, sessions = 5, 3, 40
	f := newFleet(t, pods, sessionmgr.Limits{MaxSessions: perPod, MaxParticipants: 100})
	f.report()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for i := range sessions {
		wg.Go(func() {
			_, err := f.admit(fmt.Sprintf("s%d", i), "p")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, api.ErrNotAccepting):
				full++
			default:
				t.Errorf("s%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != perPod*pods || full != sessions-perPod*pods {
		t.Fatalf("%d admitted, %d refused; want %d and %d", ok, full, perPod*pods, sessions-perPod*pods)
	}
	for name, p := range f.pods {
		if st := p.srv.Manager.Status(); st.Sessions != perPod {
			t.Errorf("%s: %d sessions, want %d", name, st.Sessions, perPod)
		}
	}
	if st := f.status(); st.Retries != 0 {
		t.Fatalf("a pod refused (the router over-filled it): %+v", st)
	}
	// Reports settle the count: still full, still no pod.
	f.report()
	f.report()
	if _, err := f.admit("late", "p"); !errors.Is(err, api.ErrNotAccepting) {
		t.Fatalf("after reports: %v", err)
	}
	pl, _ := f.api.Pods(context.Background())
	for _, p := range pl.Pods {
		if p.PendingSessions != 0 || p.SessionCount != perPod {
			t.Errorf("%s: pending %d, sessions %d", p.Name, p.PendingSessions, p.SessionCount)
		}
	}
}

// TestRouterRestartRebuilds: a new router learns where every session is
// from the pods' reports, and a session two pods have stays with the one
// with more participants.
func TestRouterRestartRebuilds(t *testing.T) {
	f := newFleet(t, 3, sessionmgr.Limits{})
	f.report()
	where := map[string]string{}
	for i := range 6 {
		s := fmt.Sprintf("s%d", i)
		where[s] = f.mustAdmit(s, "p0").Pod
	}
	// The same session made on two pods behind the router's back.
	f.direct("pod-a", "dup", "x1")
	f.direct("pod-a", "dup", "x2")
	f.direct("pod-c", "dup", "y1")

	f.startRouter() // a restart: empty store
	f.newReporters()
	f.report()
	for s, pod := range where {
		w, err := f.api.WhereIs(context.Background(), s)
		if err != nil || w.Pod != pod || !w.Reported || w.Participants != 1 {
			t.Fatalf("%s: %+v %v, want on %s", s, w, err, pod)
		}
		if a := f.mustAdmit(s, "p1"); a.Pod != pod {
			t.Fatalf("%s: member on %s, session on %s", s, a.Pod, pod)
		}
	}
	if a := f.mustAdmit("dup", "z"); a.Pod != "pod-a" {
		t.Fatalf("dup: %s, want pod-a (2 participants against 1)", a.Pod)
	}
	st := f.status()
	if st.Splits != 1 || st.Sessions != 7 {
		t.Fatalf("status: %+v", st)
	}
	f.report() // the split is said once
	if st := f.status(); st.Splits != 1 {
		t.Fatalf("split counted again: %d", st.Splits)
	}
}

// TestMovedSessionAfterDrain: when a session's pod drains, the first
// re-admission moves it to another pod (never back), the rest follow; a
// re-admission naming the pod it leaves (a reconnect notice) moves it too.
func TestMovedSessionAfterDrain(t *testing.T) {
	f := newFleet(t, 3, sessionmgr.Limits{})
	f.report()
	first := f.mustAdmit("squad", "p1").Pod
	f.mustAdmit("squad", "p2")
	if _, err := f.pods[first].srv.Manager.StartDrain("test", sessionmgr.DrainRequest{Grace: api.Duration(time.Hour), Deadline: api.Duration(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.report()
	// The clients follow their reconnect notices: the backend admits them
	// again (new participant ids on the new pod).
	a1 := f.mustAdmit("squad", "p1-again")
	a2 := f.mustAdmit("squad", "p2-again")
	if a1.Pod == first || !a1.Moved || a2.Pod != a1.Pod || a2.Moved {
		t.Fatalf("moves: %+v / %+v (from %s)", a1, a2, first)
	}
	if st := f.status(); st.Moves != 1 {
		t.Fatalf("moves: %d", st.Moves)
	}
	// The draining pod still reports the session (its stragglers): the map
	// keeps the new pod.
	f.report()
	if w, _ := f.api.WhereIs(context.Background(), "squad"); w.Pod != a1.Pod {
		t.Fatalf("after the draining pod's report: %+v", w)
	}
	// from_pod: a reconnect notice without a drain moves the session off
	// the pod named, once.
	second := a1.Pod
	b1, err := f.api.AdmitRouted(context.Background(), "squad", api.AdmitRequest{ParticipantID: "p1-3"}, second)
	if err != nil || b1.Pod == second || b1.Pod == first || !b1.Moved {
		t.Fatalf("from_pod move: %+v %v", b1, err)
	}
	b2, err := f.api.AdmitRouted(context.Background(), "squad", api.AdmitRequest{ParticipantID: "p2-3"}, second)
	if err != nil || b2.Pod != b1.Pod || b2.Moved {
		t.Fatalf("from_pod follower: %+v %v", b2, err)
	}
}

// TestUnreachablePodSkipped: a pod that cannot be reached is skipped for a
// new session (invisibly) and answered 502 pod_unreachable for its own
// sessions.
func TestUnreachablePodSkipped(t *testing.T) {
	f := newFleet(t, 1, sessionmgr.Limits{})
	f.report()
	ghost := api.PodReport{Name: "pod-ghost", Instance: "i1", Seq: 1, AdminURL: "http://127.0.0.1:1",
		Limits: api.Limits{MaxSessions: 10, MaxParticipants: 100, MaxSessionParticipants: 10}, Participants: 50,
		Accepting: true, State: api.StateAccepting, Sessions: []api.PodSession{{ID: "haunt", Participants: 50}}}
	reporter, _ := client.NewAPI("http://"+f.server.Addr(), reportToken)
	if err := reporter.Report(context.Background(), ghost); err != nil {
		t.Fatal(err)
	}
	if a := f.mustAdmit("new", "p"); a.Pod != "pod-a" {
		t.Fatalf("placed on %s", a.Pod)
	}
	if st := f.status(); st.Retries != 1 || st.AdmissionsFailed != 0 {
		t.Fatalf("status: %+v", st)
	}
	_, err := f.admit("haunt", "p")
	if ae, ok := errors.AsType[*client.APIError](err); !ok || ae.Status != 502 || ae.Code != api.CodePodUnreachable {
		t.Fatalf("a session on the unreachable pod: %v", err)
	}
	// A wrong report token is refused; a report for another name too.
	bad, _ := client.NewAPI("http://"+f.server.Addr(), "wrong")
	if err := bad.Report(context.Background(), ghost); err == nil {
		t.Fatal("a report with the wrong token was taken")
	}
	if err := f.api.Report(context.Background(), ghost); err == nil {
		t.Fatal("a report with the API token was taken")
	}
}
